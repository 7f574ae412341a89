"""The "Runtime health" Grafana row as data: one entry per panel, PromQL per target.

Dashboards are generated from this (the backends issue builds them), so the queries and
the metric names cannot drift apart: every Prometheus name below is derived from the same
constants and units the catalogue uses. `$job` is the dashboard's job variable and
`$__rate_interval` Grafana's own.
"""

from __future__ import annotations

from typing import TypedDict

from obskit._domain.catalogue import prometheus_name
from obskit._runtime.names import (
    CPYTHON_GC_COLLECTIONS,
    GC_PAUSE_DURATION,
    PROCESS_CPU_TIME,
    PROCESS_FILE_DESCRIPTOR_COUNT,
    PROCESS_MEMORY_USAGE,
    PROCESS_MEMORY_VIRTUAL,
    PROCESS_THREAD_COUNT,
)

__all__ = ["PANELS", "ROW_TITLE", "SELECTOR", "Panel", "Target"]

ROW_TITLE = "Runtime health"
#: Label selector of every query; `job` is the label Prometheus gives each scrape target.
SELECTOR = '{job=~"$job"}'


class Target(TypedDict):
    """One query of a panel and its legend (Grafana `legendFormat`)."""

    expr: str
    legend: str


class Panel(TypedDict):
    """A time-series panel: title, Grafana unit id, what it shows, its queries."""

    title: str
    unit: str
    description: str
    targets: list[Target]


_PAUSE = prometheus_name(GC_PAUSE_DURATION, "s", "histogram")
_COLLECTIONS = prometheus_name(CPYTHON_GC_COLLECTIONS, "{collection}", "observable_counter")
_CPU = prometheus_name(PROCESS_CPU_TIME, "s", "observable_counter")
_RSS = prometheus_name(PROCESS_MEMORY_USAGE, "By", "observable_up_down_counter")
_VMS = prometheus_name(PROCESS_MEMORY_VIRTUAL, "By", "observable_up_down_counter")
_THREADS = prometheus_name(PROCESS_THREAD_COUNT, "{thread}", "observable_up_down_counter")
_FDS = prometheus_name(PROCESS_FILE_DESCRIPTOR_COUNT, "{file_descriptor}", "observable_up_down_counter")  # fmt: skip
_RATE = "[$__rate_interval]"

PANELS: tuple[Panel, ...] = (
    Panel(
        title="GC pause p99 by generation",
        unit="s",
        description="99th percentile of garbage-collection pauses; generation 2 is a full collection",
        targets=[Target(
            expr=f"histogram_quantile(0.99, sum by (le, cpython_gc_generation) "
                 f"(rate({_PAUSE}_bucket{SELECTOR}{_RATE})))",
            legend="gen {{cpython_gc_generation}}",
        )],
    ),
    Panel(
        title="Time paused in GC",
        unit="percentunit",
        description="Fraction of wall-clock time each process spent in garbage collection",
        targets=[Target(
            expr=f"sum by (instance) (rate({_PAUSE}_sum{SELECTOR}{_RATE}))",
            legend="{{instance}}",
        )],
    ),
    Panel(
        title="GC collections per second",
        unit="ops",
        description="Collections per second by generation",
        targets=[Target(
            expr=f"sum by (cpython_gc_generation) (rate({_COLLECTIONS}{SELECTOR}{_RATE}))",
            legend="gen {{cpython_gc_generation}}",
        )],
    ),
    Panel(
        title="CPU used (cores)",
        unit="short",
        description="CPU seconds per second, by process and mode; 1.0 is one core fully busy",
        targets=[Target(
            expr=f"sum by (instance, cpu_mode) (rate({_CPU}{SELECTOR}{_RATE}))",
            legend="{{instance}} {{cpu_mode}}",
        )],
    ),
    Panel(
        title="Memory",
        unit="bytes",
        description="Resident set size and virtual memory size per process",
        targets=[
            Target(expr=f"{_RSS}{SELECTOR}", legend="{{instance}} resident"),
            Target(expr=f"{_VMS}{SELECTOR}", legend="{{instance}} virtual"),
        ],
    ),
    Panel(
        title="Threads and file descriptors",
        unit="short",
        description="OS threads and open file descriptors per process",
        targets=[
            Target(expr=f"{_THREADS}{SELECTOR}", legend="{{instance}} threads"),
            Target(expr=f"{_FDS}{SELECTOR}", legend="{{instance}} fds"),
        ],
    ),
)  # fmt: skip
