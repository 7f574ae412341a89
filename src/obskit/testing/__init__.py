"""Test what your code emits: spans, span trees and metric points, in one process or many.

Installing obskit registers a pytest plugin with two fixtures:

- `obskit_capture` yields a `Capture`: everything obskit (and any module-level OTel
  tracer or instrument) emits during the test, in memory.
- `obskit_collector` yields a `Collector`: an OTLP receiver on 127.0.0.1 whose `env`
  points child processes at it, with the same query helpers.

Example::

    def test_query_shape(obskit_capture):
        engine.run("SELECT * FROM t")
        obskit_capture.assert_tree('''
            SELECT t
              query.parse
              query.execute
        ''')
        assert obskit_capture.metric("query.duration").count == 1

The receiver and the fault servers (`OTLPReceiver`, `FaultyOTLPReceiver`, `Blackhole`,
`closed_port`) need grpc and load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from obskit.testing._capture import Capture
from obskit.testing._collector import Collector
from obskit.testing._deterministic import DeterministicIdGenerator, FakeClock, frozen_span_clock
from obskit.testing._metrics import CapturedMetric
from obskit.testing._query import SpanQueries, service_of

if TYPE_CHECKING:
    from obskit.testing._faults import Blackhole, FaultyOTLPReceiver, closed_port
    from obskit.testing._receiver import OTLPReceiver

__all__ = [
    "Blackhole",
    "Capture",
    "CapturedMetric",
    "Collector",
    "DeterministicIdGenerator",
    "FakeClock",
    "FaultyOTLPReceiver",
    "OTLPReceiver",
    "SpanQueries",
    "closed_port",
    "frozen_span_clock",
    "service_of",
]

# Name -> private module, imported on first access: they import grpc, and pytest loads
# this package in every test run.
_LAZY = {
    "OTLPReceiver": "obskit.testing._receiver",
    "Blackhole": "obskit.testing._faults",
    "FaultyOTLPReceiver": "obskit.testing._faults",
    "closed_port": "obskit.testing._faults",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'obskit.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
