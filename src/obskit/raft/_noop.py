"""The shared no-op Raft operations handed out while obskit is off.

With `obskit.configure(enabled=False)` (or `OBSKIT_ENABLED=false`), or before
`configure()` with no OpenTelemetry SDK installed by anyone,
`obskit._trace.prepared._nothing_to_record()` is true: nothing obskit records can reach an
exporter or a metric reader. The factories of `obskit.raft`
then return one of these instead of building an operation: a real instance of the
documented class, made once and already closed, so every public method works and does
nothing (`commit`, `fail`, `end`, `response`, `set_index`, `set_size`; `inject` returns
the carrier untouched, or a new empty dict; `span` is the no-op handle) and `with` /
`async with` are pass-throughs. They hold no per-call state, so one instance is shared
by every thread.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

from obskit.raft._apply import Apply, Snapshot
from obskit.raft._logwrite import LogWrite
from obskit.raft._operation import _Operation
from obskit.raft._ops import ClientCall, Proposal, ServerCall

__all__ = ["NOOP_APPLY", "NOOP_CLIENT", "NOOP_LOG", "NOOP_PROPOSAL", "NOOP_SERVER", "NOOP_SNAPSHOT"]

OpT = TypeVar("OpT", bound=_Operation)


def _closed(cls: type[OpT], **fields: Any) -> OpT:
    """An instance of `cls` that was never started and is already closed."""
    op = object.__new__(cls)
    base: dict[str, Any] = {"_recipe": None, "_span": None, "_ended": None,
                            "_token": None, "_closed": True, "_failure": None, "_start": 0.0}  # fmt: skip
    for key, value in {**base, **fields}.items():
        object.__setattr__(op, key, value)
    return op


def _taken() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()  # never released: commit() and fail() of the no-op proposal return at once
    return lock


NOOP_CLIENT = _closed(ClientCall)
NOOP_SERVER = _closed(ServerCall)
NOOP_PROPOSAL = _closed(Proposal, _done=_taken())
NOOP_APPLY = _closed(Apply, _count=None)
NOOP_SNAPSHOT = _closed(Snapshot, _size=None)
NOOP_LOG = _closed(LogWrite)
