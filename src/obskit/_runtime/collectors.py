"""The runtime collectors behind `obskit.runtime`: the catalogue, the observable gauges of
the process and CPython, the GC pause hook's wiring, and `enable()` / `disable()`.

A core module (as prometheus_client keeps its GC and process collectors in the core):
obskit._setup starts and stops it directly; `obskit.runtime` re-exports it.

Examples:
    >>> from obskit._runtime.collectors import is_enabled
    >>> isinstance(is_enabled(), bool)
    True
"""

from __future__ import annotations

import gc
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from obskit._base.log import log_once
from obskit._domain.catalogue import Attribute, Catalogue, EventSpec, Instrument
from obskit._runtime import gc as _runtime_gc
from obskit._runtime import limits as _limits
from obskit._runtime import process as _runtime_process
from obskit._runtime.dashboards import PANELS
from obskit._runtime.names import (
    CPU_LIMIT,
    CPU_MODE,
    CPU_MODE_SYSTEM,
    CPU_MODE_USER,
    CPYTHON_GC_COLLECTED_OBJECTS,
    CPYTHON_GC_COLLECTIONS,
    CPYTHON_GC_GENERATION,
    CPYTHON_GC_UNCOLLECTABLE_OBJECTS,
    GC_LOSS_REASON,
    GC_LOSS_REASONS,
    GC_PAUSE_DURATION,
    GC_PAUSE_EVENT,
    GC_PAUSES_LOST,
    LIMIT_SOURCE,
    MEMORY_LIMIT,
    PROCESS_CPU_TIME,
    PROCESS_FILE_DESCRIPTOR_COUNT,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_RUNTIME_DESCRIPTION,
    PROCESS_RUNTIME_NAME,
    PROCESS_RUNTIME_VERSION,
    PROCESS_THREAD_COUNT,
)
from obskit._runtime.sample import Series, Snapshot, sample, snapshot

__all__ = [
    "CATALOGUE",
    "GC_PAUSE_BUCKETS",
    "GC_PAUSE_DURATION",
    "GC_PAUSE_EVENT",
    "PANELS",
    "Series",
    "Snapshot",
    "disable",
    "enable",
    "is_enabled",
    "resource_attributes",
    "sample",
    "snapshot",
]

#: Pause histogram buckets: 10 us (a young collection) to 10 s (a full one of a huge heap).
GC_PAUSE_BUCKETS: tuple[float, ...] = (
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip

CATALOGUE = Catalogue(
    domain="runtime",
    title="Runtime: GC, CPU and memory of the process",
    attributes=[
        Attribute(CPU_MODE, "string", "CPU mode the time was spent in: user or system",
                  CPU_MODE_USER, "semconv"),
        Attribute(CPYTHON_GC_GENERATION, "int", "Generation collected: 0, 1 or 2 (full)", 2,
                  "semconv"),
        Attribute(GC_PAUSE_DURATION, "double", "Seconds the collection paused the process",
                  0.0123),
        Attribute(GC_LOSS_REASON, "string", "What the GC hook could not record: buffer_full "
                  "(a pause missing from the histogram), hook_error (a pause missed), "
                  "span_busy (a pause not marked on its span)", "span_busy"),
        Attribute(LIMIT_SOURCE, "string", "Where a limit comes from: cgroup (the process's "
                  "cgroup or container) or host (physical memory, CPUs it may run on)",
                  "cgroup"),
    ],
    events=[
        EventSpec(GC_PAUSE_EVENT, "A garbage collection paused the span (at most one per "
                  "span and generation); timestamped at the collection's start",
                  [CPYTHON_GC_GENERATION, GC_PAUSE_DURATION]),
    ],
    instruments=[
        Instrument(PROCESS_CPU_TIME, "observable_counter", "s",
                   "CPU seconds used by the process, by mode", [CPU_MODE]),
        Instrument(PROCESS_MEMORY_USAGE, "observable_up_down_counter", "By",
                   "Resident set size (physical memory in use)"),
        Instrument(PROCESS_MEMORY_VIRTUAL, "observable_up_down_counter", "By",
                   "Virtual memory size"),
        Instrument(PROCESS_FILE_DESCRIPTOR_COUNT, "observable_up_down_counter",
                   "{file_descriptor}", "Open file descriptors"),
        Instrument(PROCESS_THREAD_COUNT, "observable_up_down_counter", "{thread}",
                   "Threads of the process (OS threads where the platform tells)"),
        Instrument(CPYTHON_GC_COLLECTIONS, "observable_counter", "{collection}",
                   "Collections of a generation since interpreter start", [CPYTHON_GC_GENERATION]),
        Instrument(CPYTHON_GC_COLLECTED_OBJECTS, "observable_counter", "{object}",
                   "Objects a generation's collections freed since interpreter start",
                   [CPYTHON_GC_GENERATION]),
        Instrument(CPYTHON_GC_UNCOLLECTABLE_OBJECTS, "observable_counter", "{object}",
                   "Objects found uncollectable since interpreter start",
                   [CPYTHON_GC_GENERATION]),
        Instrument(CPU_LIMIT, "observable_gauge", "{cpu}",
                   "CPUs the process may use: its cgroup's CPU quota (cpu.max), else the "
                   "CPUs it may run on", [LIMIT_SOURCE]),
        Instrument(MEMORY_LIMIT, "observable_gauge", "By",
                   "Memory the process may use: its cgroup's limit (memory.max, v1 "
                   "memory.limit_in_bytes), else the host's physical memory", [LIMIT_SOURCE]),
        Instrument(GC_PAUSE_DURATION, "histogram", "s",
                   "Pause of each garbage collection, timed with gc.callbacks",
                   [CPYTHON_GC_GENERATION], GC_PAUSE_BUCKETS),
        Instrument(GC_PAUSES_LOST, "observable_counter", "{pause}",
                   "Pauses the GC hook could not record in full, by reason (it never waits "
                   "for a lock or logs inside a collection)", [GC_LOSS_REASON]),
    ],
)  # fmt: skip

_GENERATION_ATTRIBUTES = tuple(
    {CPYTHON_GC_GENERATION: generation} for generation in range(_runtime_gc.GENERATIONS)
)
_USER = {CPU_MODE: CPU_MODE_USER}
_SYSTEM = {CPU_MODE: CPU_MODE_SYSTEM}
_pause_histogram = CATALOGUE.instrument(GC_PAUSE_DURATION)


# --- observable callbacks: all the reading happens at collection time ---------------


def _observe_cpu(options: CallbackOptions) -> list[Observation]:
    times = os.times()
    return [Observation(times.user, _USER), Observation(times.system, _SYSTEM)]


def _process_value(field: str) -> Callable[[CallbackOptions], list[Observation]]:
    def observe(options: CallbackOptions) -> list[Observation]:
        value = getattr(_runtime_process.read(), field)
        return [] if value is None else [Observation(value)]

    return observe


def _observe_limit(
    read: Callable[[], _limits.Limit | None],
) -> Callable[[CallbackOptions], list[Observation]]:
    def observe(options: CallbackOptions) -> list[Observation]:
        limit = read()
        return [] if limit is None else [Observation(limit.value, {LIMIT_SOURCE: limit.source})]

    return observe


def _record_pause(duration: float, generation: int) -> None:
    _pause_histogram.record(duration, _GENERATION_ATTRIBUTES[generation])


_reported = {"errors": 0, "dropped": 0}
_REPORTS = {
    "errors": "the GC hook failed %d time(s); those pauses were missed",
    "dropped": "%d GC pause(s) overflowed the buffer between two metric collections and "
    "are missing from the pause histogram (collect metrics more often)",
}


def _flush_gc_hook() -> None:
    """Feed the buffered pauses to the histogram; report the hook's trouble from here,
    since the hook itself must not log."""
    _runtime_gc.drain(_record_pause)
    for key, message in _REPORTS.items():
        count = _runtime_gc.counters[key]
        if count > _reported[key]:
            _reported[key] = count
            log_once(f"runtime-gc-{key}", message, count)


def _gc_stat(key: str) -> Callable[[CallbackOptions], list[Observation]]:
    def observe(options: CallbackOptions) -> list[Observation]:
        # The pause histogram is synchronous: record the buffered pauses now. Every GC
        # callback drains, so a View dropping one of these metrics cannot stall it.
        _flush_gc_hook()
        return [
            Observation(stats[key], _GENERATION_ATTRIBUTES[generation])
            for generation, stats in enumerate(gc.get_stats())
        ]

    return observe


def _observe_losses(options: CallbackOptions) -> list[Observation]:
    counters = _runtime_gc.counters
    return [
        Observation(counters[key], {GC_LOSS_REASON: reason})
        for key, reason in GC_LOSS_REASONS.items()
    ]


_CALLBACKS: tuple[tuple[str, Callable[[CallbackOptions], list[Observation]]], ...] = (
    (PROCESS_CPU_TIME, _observe_cpu),
    (PROCESS_MEMORY_USAGE, _process_value("rss")),
    (PROCESS_MEMORY_VIRTUAL, _process_value("vms")),
    (PROCESS_FILE_DESCRIPTOR_COUNT, _process_value("fds")),
    (PROCESS_THREAD_COUNT, _process_value("threads")),
    (CPU_LIMIT, _observe_limit(_limits.cpu_limit)),
    (MEMORY_LIMIT, _observe_limit(_limits.memory_limit)),
    (CPYTHON_GC_COLLECTIONS, _gc_stat("collections")),
    (CPYTHON_GC_COLLECTED_OBJECTS, _gc_stat("collected")),
    (CPYTHON_GC_UNCOLLECTABLE_OBJECTS, _gc_stat("uncollectable")),
    (GC_PAUSES_LOST, _observe_losses),
)

_lock = threading.RLock()  # re-entrant: enable()/disable() from a handler run inside
_hook: int | None = None


def enable() -> None:
    """Start recording runtime metrics and GC pause events; calling it again does nothing.

    `obskit.configure(runtime=True)` calls it, and `obskit.shutdown()` calls `disable()`.
    Without `configure()`, the metrics go to the host application's own OpenTelemetry
    meter provider, if it set one.

    Examples:
        >>> from obskit import runtime
        >>> runtime.enable(); runtime.enable()
        >>> runtime.is_enabled()
        True
        >>> runtime.disable()
    """
    global _hook
    with _lock:
        if _hook is not None:
            return
        _runtime_gc.discard()  # pauses a sampler timed earlier belong to no collection
        for name, callback in _CALLBACKS:
            CATALOGUE.instrument(name).add_callback(callback)
        _hook = _runtime_gc.acquire(record=True)


def disable() -> None:
    """Stop recording: remove the GC hook (unless a `sample()` block still runs) and the
    metric callbacks. Idempotent.

    Examples:
        >>> import gc
        >>> from obskit import runtime
        >>> runtime.enable(); runtime.disable(); runtime.disable()
        >>> runtime.is_enabled()
        False
    """
    global _hook
    with _lock:
        if _hook is None:
            return
        for name, callback in _CALLBACKS:
            CATALOGUE.instrument(name).remove_callback(callback)
        _runtime_gc.release(_hook)
        _hook = None
        _runtime_gc.discard()


def is_enabled() -> bool:
    """Whether `enable()` is in effect.

    Examples:
        >>> from obskit import runtime
        >>> runtime.is_enabled()
        False
    """
    return _hook is not None


def resource_attributes() -> Mapping[str, Any]:
    """The `process.runtime.*` resource attributes of this interpreter (semconv names).

    Examples:
        >>> from obskit import runtime
        >>> runtime.resource_attributes()["process.runtime.name"]
        'cpython'
    """
    info = sys.version_info
    final = info.releaselevel == "final" and not info.serial
    version = ".".join(str(part) for part in (info[:3] if final else info))
    return {
        PROCESS_RUNTIME_NAME: sys.implementation.name,
        PROCESS_RUNTIME_VERSION: version,
        PROCESS_RUNTIME_DESCRIPTION: sys.version,
    }
