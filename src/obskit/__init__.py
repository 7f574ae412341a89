"""obskit: OpenTelemetry spans and metrics for data systems, in one vocabulary.

Put decorators and context managers on hot paths; get spans and metrics that follow one
published catalogue, exported to Jaeger (OTLP) and Prometheus, with trace context that
follows the work across threads, asyncio tasks, processes and RPC messages.

Examples:
    >>> import obskit
    >>> t = obskit.configure(service_name="demo", exporters=["memory"])
    >>> @obskit.traced
    ... def work(n: int) -> int:
    ...     return n * 2
    >>> with obskit.span("batch") as s:
    ...     s.set_attribute("batch.size", 1)
    ...     work(1)
    2
    >>> obskit.shutdown()
    True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import SpanKind

from obskit._config import Settings
from obskit._metrics.hot import (
    BoundCounter,
    BoundHistogram,
    HotCounter,
    HotHistogram,
    hot_counter,
    hot_histogram,
    hot_up_down_counter,
)
from obskit._metrics.proxy import (
    LATENCY_BUCKETS,
    counter,
    gauge,
    histogram,
    meter,
    observable_counter,
    observable_gauge,
    observable_up_down_counter,
    up_down_counter,
)
from obskit._safety.secrets import ScrubbingOptions, ScrubMatch
from obskit._setup.configure import Telemetry, configure, flush, shutdown
from obskit._setup.configure import current as telemetry
from obskit._trace.handle import SpanHandle, current_span, set_attribute, set_attributes, span
from obskit._trace.timed import timed
from obskit._trace.traced import traced

if TYPE_CHECKING:
    from obskit import btree as btree
    from obskit import pipeline as pipeline
    from obskit import propagation as propagation
    from obskit import query as query
    from obskit import raft as raft
    from obskit import runtime as runtime

__version__ = "0.1.0"

__all__ = [
    "LATENCY_BUCKETS",
    "BoundCounter",
    "BoundHistogram",
    "HotCounter",
    "HotHistogram",
    "ScrubMatch",
    "ScrubbingOptions",
    "Settings",
    "SpanHandle",
    "SpanKind",
    "Telemetry",
    "__version__",
    "configure",
    "counter",
    "current_span",
    "flush",
    "gauge",
    "histogram",
    "hot_counter",
    "hot_histogram",
    "hot_up_down_counter",
    "meter",
    "observable_counter",
    "observable_gauge",
    "observable_up_down_counter",
    "set_attribute",
    "set_attributes",
    "shutdown",
    "span",
    "telemetry",
    "timed",
    "traced",
    "up_down_counter",
]

_SUBMODULES = (
    "btree",
    "query",
    "raft",
    "pipeline",
    "propagation",
    "runtime",
    "exporters",
    "testing",
)


def __getattr__(name: str) -> Any:
    # Domain modules load on first use (`obskit.btree`), keeping `import obskit` light.
    if name in _SUBMODULES:
        return importlib.import_module(f"obskit.{name}")
    raise AttributeError(f"module 'obskit' has no attribute {name!r}")
