"""Names obskit.runtime emits: metric names, attribute keys and the span event.

Where the OpenTelemetry semantic conventions (v1.44: process and CPython runtime metrics)
define a name, it is used as is. They define no GC *pause* metric for CPython, so the pause
histogram and span event are obskit's own, under `obskit.runtime.` rather than inside the
semconv-owned `cpython.` namespace (custom names must not squat on a convention's
namespace: a later `cpython.gc.duration` could then mean something else).
"""

from __future__ import annotations

from typing import Final

# Semantic conventions: metrics (opentelemetry.semconv._incubating.metrics.process_metrics
# and cpython_metrics; spelled out here because incubating modules may move).
PROCESS_CPU_TIME: Final = "process.cpu.time"
PROCESS_MEMORY_USAGE: Final = "process.memory.usage"
PROCESS_MEMORY_VIRTUAL: Final = "process.memory.virtual"
PROCESS_FILE_DESCRIPTOR_COUNT: Final = "process.unix.file_descriptor.count"
PROCESS_THREAD_COUNT: Final = "process.thread.count"
CPYTHON_GC_COLLECTIONS: Final = "cpython.gc.collections"
CPYTHON_GC_COLLECTED_OBJECTS: Final = "cpython.gc.collected_objects"
CPYTHON_GC_UNCOLLECTABLE_OBJECTS: Final = "cpython.gc.uncollectable_objects"

# Semantic conventions: attributes.
CPU_MODE: Final = "cpu.mode"
CPU_MODE_USER: Final = "user"
CPU_MODE_SYSTEM: Final = "system"
CPYTHON_GC_GENERATION: Final = "cpython.gc.generation"

# Semantic conventions: resource attributes (what the SDK's ProcessResourceDetector sets).
PROCESS_RUNTIME_NAME: Final = "process.runtime.name"
PROCESS_RUNTIME_VERSION: Final = "process.runtime.version"
PROCESS_RUNTIME_DESCRIPTION: Final = "process.runtime.description"

# obskit's own: the pause histogram, the span event and its duration attribute.
GC_PAUSE_DURATION: Final = "obskit.runtime.gc.pause.duration"
GC_PAUSE_EVENT: Final = "obskit.runtime.gc.pause"
# What the GC hook could not record, by reason (the hook itself never logs or waits).
GC_PAUSES_LOST: Final = "obskit.runtime.gc.pauses.lost"
GC_LOSS_REASON: Final = "reason"
#: Reasons, by the hook's counter: a pause missing from the histogram (its buffer was full
#: between two collections), missed entirely (the hook failed), or recorded but not marked
#: on the span (another thread was changing the span: the hook never waits for it).
GC_LOSS_REASONS: Final = {"dropped": "buffer_full", "errors": "hook_error",
                          "events_skipped": "span_busy"}  # fmt: skip

# obskit's own: what the process may use (cgroup limits, else the host's size), for
# saturation alerts. Semconv names limits only for Kubernetes containers (k8s.container.*).
CPU_LIMIT: Final = "obskit.runtime.cpu.limit"
MEMORY_LIMIT: Final = "obskit.runtime.memory.limit"
LIMIT_SOURCE: Final = "obskit.runtime.limit.source"
