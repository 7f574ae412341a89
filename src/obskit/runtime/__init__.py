"""obskit.runtime: GC pauses, CPU and memory of this process, beside its spans.

"P99 spiked at 14:15" becomes useful as "...because of a 450 ms GC pause". With
`obskit.configure(..., runtime=True)` (or `OBSKIT_RUNTIME=true`, or `enable()` by hand)
obskit records the process and CPython metrics of the OpenTelemetry semantic conventions,
times every garbage collection into a pause histogram, and adds an
`obskit.runtime.gc.pause` event to the span a collection interrupted. `snapshot()` and
`sample()` give the same facts as plain values to a benchmark harness.

Examples:
    >>> import gc, obskit
    >>> from obskit import runtime
    >>> t = obskit.configure(service_name="demo", exporters=["memory"], runtime=True)
    >>> with obskit.span("btree.get"):
    ...     _ = gc.collect(0)  # a pause inside the span becomes one of its events
    >>> runtime.is_enabled()
    True
    >>> obskit.shutdown()
    True
    >>> runtime.is_enabled()
    False
"""

from __future__ import annotations

from obskit._runtime.collectors import (
    CATALOGUE,
    GC_PAUSE_BUCKETS,
    GC_PAUSE_DURATION,
    GC_PAUSE_EVENT,
    PANELS,
    Series,
    Snapshot,
    disable,
    enable,
    is_enabled,
    resource_attributes,
    sample,
    snapshot,
)

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
