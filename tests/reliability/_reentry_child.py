"""Child process for test_reentry.py: telemetry written from inside obskit's locked sections.

    python _reentry_child.py MODE [TARGET ...]

MODE is how the re-entrant telemetry runs: `gc` (a GC callback installed here),
`finalizer` (`__del__` of an object whose last reference is dropped) or `signal`
(a SIGUSR1 handler raised with os.kill and delivered at the next bytecode boundary). A
trace function (`sys.settrace`) is what puts it there: at each line of a TARGET's
function while that target's lock is held by this thread, once per line and step, it
runs the mode's code, which opens, annotates and ends spans and records metrics (into
the same instruments), on the same thread. In `gc` mode obskit's runtime GC hook is on
too, and annotates the interrupted span.

Prints one `RESULT {...}` line: how often each target fired, the spans and events the
memory exporter received, and the hot counters' totals. A hang (today's failure) is
caught by the parent's timeout; progress lines on stderr name the target reached.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

from opentelemetry import trace as trace_api

import obskit
from obskit._base import log as _log
from obskit._export import queue as _queue
from obskit._export import slim as _slim
from obskit._metrics import cells as _cells
from obskit._metrics import hot as _bound
from obskit._metrics import hot as _hot
from obskit._metrics import proxy as _metrics
from obskit.raft import _registry as raft_state
from obskit.runtime import GC_PAUSE_EVENT

MODE = sys.argv[1]
REENTRANT = "reentrant"


def _held(lock: Any) -> bool:
    """Whether `lock` is held now (by this thread: the child runs one thread that records)."""
    owned = getattr(lock, "_is_owned", None)
    return bool(owned()) if owned is not None else bool(lock.locked())


def _self_lock(name: str) -> Callable[[FrameType], Any]:
    return lambda frame: getattr(frame.f_locals.get("self"), name, None)


# target -> (the function whose locked section it is, where its lock is)
TARGETS: dict[str, tuple[Callable[..., Any], Callable[[FrameType], Any]]] = {
    "slim.add_event": (_slim.SlimSpan._add_event, lambda frame: _slim._lock),
    "slim.set_attribute": (_slim.SlimSpan.set_attribute, lambda frame: _slim._lock),
    "queue.enqueue": (_queue.SpanQueue._enqueue, _self_lock("_lock")),
    "hot.bind": (_cells._Bindings.get, _self_lock("_lock")),
    "hot.new_cell": (_bound.BoundCounter._new_cell, _self_lock("_lock")),
    "hot.new_histogram_cell": (_bound.BoundHistogram._new_cell, _self_lock("_lock")),
    "hot.instrument": (_hot._cached, lambda frame: _hot._instruments_lock),
    "metrics.instrument": (_metrics.ProxyMeter._get, _self_lock("_lock")),
    "log_once": (_log.log_once, lambda frame: _log._lock),
    "raft.node": (raft_state.node, lambda frame: raft_state._lock),
}
SLIM_ONLY = {"slim.add_event", "slim.set_attribute"}

fired: dict[str, int] = {}
expected_spans = 0
_armed: list[str] = []  # the target being exercised now
_busy = [False]
_counter_adds = [0]
_index = [0]  # the step running now


def _reentrant_telemetry(target: str) -> None:
    """What the finalizer / signal handler / GC callback does: spans, events, metrics."""
    global expected_spans
    number = fired.get(target, 0)
    current = trace_api.get_current_span()
    current.add_event("reentrant.annotation", {"target": target})  # the interrupted span
    current.set_attribute("reentrant.annotated", True)
    with obskit.span(REENTRANT, attributes={"target": target, "n": number}) as span:
        span.add_event("inside", {"target": target})
        span.set_attribute("reentrant.list", [1, 2, 3])  # the SDK-rules path
    expected_spans += 1
    # The same instruments the interrupted code records into, new attribute sets too.
    obskit.hot_counter("reentry.hot").bind({"target": target}).add()
    obskit.hot_counter("reentry.hot").bind({"target": target, "n": number}).add()
    obskit.hot_histogram("reentry.latency").bind({"target": target, "n": number}).record(0.1)
    obskit.hot_counter(f"reentry.hot.{target}.{number}").bind().add()
    # The handles the interrupted step is making its first record into.
    step = {"target": _armed[0] if _armed else "", "i": _index[0]}
    obskit.hot_counter("reentry.cells").bind(step).add()
    obskit.hot_histogram("reentry.cells").bind(step).record(0.2)
    obskit.counter(f"reentry.sdk.{target}.{number}").add(1)
    obskit.counter("reentry.sdk").add(1, {"target": target})
    _log.log_once(f"reentry:{target}:{number}", "re-entrant telemetry ran in %s", target)
    raft_state.node(f"reentrant-{target}-{number}")
    _counter_adds[0] += 1


class _Finalized:
    def __init__(self, target: str) -> None:
        self.target = target

    def __del__(self) -> None:
        _reentrant_telemetry(self.target)


_signalled: list[str] = []


def _on_signal(signum: int, frame: Any) -> None:
    target = _signalled.pop()
    _reentrant_telemetry(target)


_collecting: list[str] = []


def _on_gc(phase: str, info: dict[str, int]) -> None:
    """The GC callback this test installs: re-entrant telemetry at the end of a collection."""
    if phase == "stop" and _collecting:
        _reentrant_telemetry(_collecting[0])


def _run(target: str) -> None:
    if MODE == "gc":
        _collecting[:] = [target]
        try:
            gc.collect(0)  # obskit's own GC hook (runtime on) and this test's callback run
        finally:
            _collecting.clear()
    elif MODE == "finalizer":
        holder = [_Finalized(target)]
        holder.pop()  # the last reference: __del__ runs here, inside the locked section
    else:
        _signalled.append(target)
        os.kill(os.getpid(), signal.SIGUSR1)
        deadline = time.monotonic() + 5.0
        while _signalled and time.monotonic() < deadline:
            pass  # the handler runs at the next bytecode boundary of this loop
        if _signalled:
            raise RuntimeError("the signal handler never ran")


_codes: dict[Any, str] = {}  # target function's code -> target name
_lines_seen: set[tuple[str, int]] = set()  # (target, line) already fired at in this step


def _global_trace(frame: FrameType, event: str, arg: Any) -> Any:
    target = _codes.get(frame.f_code)
    if target is None or not _armed or _armed[0] != target:
        return None
    return _line_trace


def _line_trace(frame: FrameType, event: str, arg: Any) -> Any:
    """At each line of the target's function while its lock is held: re-enter, once."""
    if event != "line" or _busy[0]:
        return _line_trace
    target = _codes[frame.f_code]
    lock = TARGETS[target][1](frame)
    if lock is None or not _held(lock) or (target, frame.f_lineno) in _lines_seen:
        return _line_trace
    _lines_seen.add((target, frame.f_lineno))
    _busy[0] = True
    try:
        fired[target] = fired.get(target, 0) + 1
        _run(target)
    finally:
        _busy[0] = False
    return _line_trace


def _step(target: str, index: int) -> None:
    """The ordinary code that reaches `target`'s locked section, with the vehicle armed."""
    global expected_spans
    _armed[:] = [target]
    _index[0] = index
    _lines_seen.clear()
    sys.settrace(_global_trace)
    try:
        with obskit.span("outer", attributes={"target": target, "i": index}) as outer:
            if target == "slim.add_event":
                outer.add_event("first")  # the first event allocates the span's list
            elif target == "slim.set_attribute":
                outer.set_attribute("values", [index, 2, 3])  # to the SDK's container
            elif target == "hot.bind":
                obskit.hot_counter("reentry.hot").bind({"target": target, "i": index}).add()
            elif target == "hot.new_cell":
                obskit.hot_counter("reentry.cells").bind({"target": target, "i": index}).add()
            elif target == "hot.new_histogram_cell":
                step = {"target": target, "i": index}
                obskit.hot_histogram("reentry.cells").bind(step).record(0.2)
            elif target == "hot.instrument":
                obskit.hot_counter(f"reentry.made.{index}").bind().add()
            elif target == "metrics.instrument":
                obskit.counter(f"reentry.made.sdk.{index}").add(1)
            elif target == "log_once":
                _log.log_once(f"outer:{index}", "outer %s", index)
            elif target == "raft.node":
                raft_state.node(f"outer-{index}")
    finally:
        sys.settrace(None)
        _armed.clear()
    expected_spans += 1


def main() -> None:
    names = sys.argv[2:] or list(TARGETS)
    telemetry = obskit.configure(service_name="reentry", exporters=["memory"], runtime=MODE == "gc")
    memory = telemetry.info["memory_spans"]
    slim = _slim.ENABLED
    if MODE == "signal":
        signal.signal(signal.SIGUSR1, _on_signal)
    for target, (function, _) in TARGETS.items():
        _codes[function.__code__] = target
    gc.callbacks.append(_on_gc)
    try:
        for target in names:
            if target in SLIM_ONLY and not slim:
                continue
            print(f"target {target}", file=sys.stderr, flush=True)
            for index in range(3):
                _step(target, index)
    finally:
        gc.callbacks.remove(_on_gc)
    print("flushing", file=sys.stderr, flush=True)
    obskit.flush(timeout=10)
    spans = memory.get_finished_spans()
    outer = [s for s in spans if s.name == "outer"]
    result = {
        "slim": slim,
        "fired": fired,
        "expected_spans": expected_spans,
        "spans": len(spans),
        "reentrant": sum(1 for s in spans if s.name == REENTRANT),
        "reentrant_complete": sum(
            1
            for s in spans
            if s.name == REENTRANT
            and [e.name for e in s.events] == ["inside"]
            and s.attributes.get("reentrant.list") == (1, 2, 3)
        ),
        "annotated": sum(1 for s in outer if s.attributes.get("reentrant.annotated")),
        "annotations": sum(1 for s in outer for e in s.events if e.name == "reentrant.annotation"),
        "gc_annotated": sum(
            1
            for s in outer
            if s.attributes.get("reentrant.annotated")
            and any(e.name == GC_PAUSE_EVENT for e in s.events)
        ),
        "counter_adds": _counter_adds[0],
        "hot_total": sum(
            b.value for b in _hot._instruments[("counter", "obskit", "reentry.hot")]._bindings.all()
        )
        if ("counter", "obskit", "reentry.hot") in _hot._instruments
        else 0,
        "cells_total": sum(
            b.value
            for b in _hot._instruments[("counter", "obskit", "reentry.cells")]._bindings.all()
        ),
        "cells_count": sum(
            b.count
            for b in _hot._instruments[("histogram", "obskit", "reentry.cells")]._bindings.all()
        ),
        "threads": threading.active_count(),
    }
    obskit.shutdown(timeout=5)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
