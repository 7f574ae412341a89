"""The GC hook: times every collection and notes it on the span it interrupted.

`gc.callbacks` run inside the collector, in whichever thread happened to allocate, at any
point of its code -- possibly while that code (the host's, or the OpenTelemetry SDK's)
holds a lock. So the callback here:

- never raises (CPython would report every failure through `sys.unraisablehook`): it
  counts failures in `errors`, and obskit logs them later from a safe place;
- never logs and never records into an SDK instrument (both take locks): pause durations
  go into per-generation `array('d')` buffers, which `drain()` feeds to the histogram at
  metric-collection time;
- never waits for a lock: the span it interrupted may be half-way through a change on
  this very thread (a collection starts at an allocation inside `span.add_event`), and
  waiting would wait for itself forever. A span of obskit's recorder gets its event
  through a non-blocking try of the recorder's lock (re-entrant: from inside a section
  of this thread the event is queued and added as the section ends; held by another
  thread: skipped); an SDK span only when a non-blocking probe shows its locks free.
  A span wrapped by a domain object (`btree.Operation`) is annotated through the span
  it wraps. Skipped events count in `counters["events_skipped"]`; at most one event per
  span and generation, tracked in a weak-keyed map that forgets a span when it is freed.

Measured overhead (benchmarks/bench_runtime.py, CPython 3.11): about 1.1 us per
collection with no span recording (budget: 2 us), 1.5 us inside a recording span.
"""

from __future__ import annotations

import gc
import itertools
import threading
import time
import weakref
from array import array
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.trace.propagation import _SPAN_KEY

from obskit._export import slim as _slim
from obskit._runtime.names import CPYTHON_GC_GENERATION, GC_PAUSE_DURATION, GC_PAUSE_EVENT

__all__ = [
    "GENERATIONS",
    "acquire",
    "discard",
    "drain",
    "installed",
    "pause_counts",
    "pause_seconds",
    "release",
]

#: Generations CPython reports (`gc.get_stats()`), 3 on every supported version.
GENERATIONS = len(gc.get_stats())
#: Pauses buffered per generation between two metric collections (8 bytes each); beyond
#: that they still count in `pause_counts`/`pause_seconds`, not in the histogram.
BUFFER_LIMIT = 10_000

# Running totals since the hook was first installed (plain lists: the callback updates them).
pause_seconds: list[float] = [0.0] * GENERATIONS
pause_counts: list[int] = [0] * GENERATIONS
#: Pauses that did not fit in a full buffer, callback failures, span events not added
#: because the span's lock was held at that moment.
counters = {"dropped": 0, "errors": 0, "events_skipped": 0}

_buffers: list[array[float]] = [array("d") for _ in range(GENERATIONS)]
_annotated: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()

# Per-collection state. Collections never overlap (the collector holds the GIL and
# refuses to re-enter), so module globals are enough and the cheapest to reach.
_started = 0.0
_span: Any = None
_span_start_ns = 0
_recording = False  # enable() is on: buffer pauses for the histogram, annotate spans

_perf_counter = time.perf_counter
_time_ns = time.time_ns


def _context_getter() -> Callable[[], Mapping[str, Any]]:
    # The SDK's default runtime context is a ContextVar; reading it directly skips two
    # Python calls of `context.get_current()` (14 ns instead of 60 ns, CPython 3.11).
    runtime = getattr(context_api, "_RUNTIME_CONTEXT", None)
    var = getattr(runtime, "_current_context", None)
    get = getattr(var, "get", None)
    return get if callable(get) else context_api.get_current


_current_context = _context_getter()


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _started, _span, _span_start_ns
    try:
        if phase == "start":
            if _recording:
                span = _current_context().get(_SPAN_KEY)
                if span is not None and span.is_recording():
                    _span = span
                    _span_start_ns = _time_ns()
            _started = _perf_counter()  # last, so our own work is not counted as pause
            return
        duration = _perf_counter() - _started
        if not _started:
            return  # installed between a start and its stop
        _started = 0.0
        generation = info["generation"]
        pause_seconds[generation] += duration
        pause_counts[generation] += 1
        if not _recording:
            return
        buffer = _buffers[generation]
        if len(buffer) < BUFFER_LIMIT:
            buffer.append(duration)
        else:
            counters["dropped"] += 1
        if _span is not None:
            span, _span = _span, None
            _annotate(span, generation, duration)
    except Exception:
        counters["errors"] += 1


def _locks_free(span: Any) -> bool:
    """True when neither the SDK span's lock nor its event list's lock is held now."""
    events = getattr(span, "_events", None)
    for lock in (getattr(span, "_lock", None), getattr(events, "_lock", None)):
        acquire = getattr(lock, "acquire", None)
        if acquire is None:
            continue
        if not acquire(False):
            return False
        lock.release()  # type: ignore[union-attr]
    return True


def _unwrapped(span: Any) -> Any:
    """The span a domain wrapper forwards to (`btree.Operation.span`), else `span`."""
    for _ in range(3):
        inner = getattr(span, "span", None)
        if not isinstance(inner, trace_api.Span) or inner is span:
            return span
        span = inner
    return span


def _annotate(span: Any, generation: int, duration: float) -> None:
    bit = 1 << generation
    span = _unwrapped(span)
    try:
        seen = _annotated.get(span, 0)
    except TypeError:
        return  # a span type without weak references: no way to bound its events
    if seen & bit:
        return
    if not span.is_recording():
        counters["events_skipped"] += 1
        return
    attributes = {CPYTHON_GC_GENERATION: generation, GC_PAUSE_DURATION: duration}
    if type(span) is _slim.SlimSpan:
        lock = _slim._lock
        if not lock.acquire(False):  # another thread is inside a section: never wait here
            counters["events_skipped"] += 1
            return
        try:
            _annotated[span] = seen | bit
            span.add_event(GC_PAUSE_EVENT, attributes, timestamp=_span_start_ns)
        finally:
            lock.release()
            if _slim._pending:  # queued by a signal handler meanwhile, if this level was last
                _slim._apply_pending()
        return
    if not _locks_free(span):
        counters["events_skipped"] += 1
        return
    _annotated[span] = seen | bit
    span.add_event(GC_PAUSE_EVENT, attributes, timestamp=_span_start_ns)


def discard() -> None:
    """Forget buffered pauses (nobody collected them: they belong to no provider)."""
    for generation in range(GENERATIONS):
        _buffers[generation] = array("d")


def drain(record: Callable[[float, int], None]) -> None:
    """Hand every buffered pause to `record(seconds, generation)`; call outside the GC.

    Each buffer is swapped for an empty one before it is read, so a collection that
    happens meanwhile lands in the new buffer and nothing is read twice.
    """
    for generation in range(GENERATIONS):
        buffer = _buffers[generation]
        if not buffer:
            continue
        _buffers[generation] = array("d")
        for duration in buffer:
            record(duration, generation)


# --- who uses the hook: enable() records pauses, a sampler only needs the totals -----

_users: dict[int, bool] = {}
_ids = itertools.count(1)
_lock = threading.RLock()  # never taken by the callback itself; re-entrant for finalizers


def acquire(*, record: bool) -> int:
    """Install the hook (if not yet) for one user; returns the handle for `release`.

    `record=True` also buffers each pause for the histogram and annotates spans.
    """
    global _recording
    with _lock:
        handle = next(_ids)
        _users[handle] = record
        _recording = any(_users.values())
        if _on_gc not in gc.callbacks:
            gc.callbacks.append(_on_gc)
        return handle


def release(handle: int) -> None:
    """Drop one user; the hook leaves `gc.callbacks` with the last one. Idempotent."""
    global _recording, _span
    with _lock:
        _users.pop(handle, None)
        _recording = any(_users.values())
        if not _recording:
            _span = None  # a start whose stop never came must not pin a span
        if not _users and _on_gc in gc.callbacks:
            gc.callbacks.remove(_on_gc)


def installed() -> bool:
    """Whether the hook is in `gc.callbacks` now."""
    return _on_gc in gc.callbacks
