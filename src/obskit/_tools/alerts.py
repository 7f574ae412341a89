"""Latency, saturation and cache alerts for every domain, with their thresholds in one place.

The domains declare their own failure alerts (`ALERTS`); the alerts below share one shape
across domains (a p99 over a threshold, a use over a limit, a hit ratio under a floor), so
they are built here from the catalogues' Prometheus names. Change a threshold in
`THRESHOLDS` and run `python -m obskit._tools.dashboards` to rewrite the rule file.

Examples:
    >>> [alert.name for alert in latency_alerts("raft")]
    ['RaftCommitLatencyHigh']
    >>> latency_alerts("raft")[0].condition
    '> 0.5'
"""

from __future__ import annotations

from typing import Final, NamedTuple

from obskit._domain.catalogue import Catalogue
from obskit._domain.dashboards import Alert, Panel
from obskit._runtime import names as runtime
from obskit._runtime.dashboards import SELECTOR
from obskit.btree import _names as btree
from obskit.pipeline import _names as pipeline
from obskit.query import _names as query
from obskit.raft import _names as raft
from obskit.runtime import CATALOGUE as RUNTIME

__all__ = ["SATURATION_PANELS", "THRESHOLDS", "cache_alerts", "latency_alerts", "saturation_alerts"]

#: Every threshold of the alerts built here. Latencies are p99 seconds over 5 minutes.
THRESHOLDS: Final = {
    "query_p99_seconds": 1.0,
    "btree_operation_p99_seconds": 0.05,
    "raft_commit_p99_seconds": 0.5,
    "pipeline_step_p99_seconds": 1.0,
    "cpu_saturation": 0.9,  # share of the CPUs the process may use
    "memory_saturation": 0.9,  # share of the memory limit
    "cache_hit_ratio_min": 0.5,
}


class _Latency(NamedTuple):
    alert: str
    threshold: str  # key of THRESHOLDS
    metric: str  # the histogram's Prometheus name
    by: str  # labels of one alert series
    what: str  # for the summary: "<what> p99 above ..."
    look: str  # what to check: the description's last sentence(s), written out whole


def _prometheus(catalogue: Catalogue, name: str) -> str:
    return str(catalogue.instruments_by_name[name].prometheus_name)


_LATENCY: Final = {
    "query": _Latency(
        "QueryLatencyHigh", "query_p99_seconds",
        _prometheus(query.CATALOGUE, query.DURATION), "db_system_name, db_operation_name",
        "Query", "The Time per phase panel (query_phase_duration_seconds) shows which "
        "phase (parse, plan, execute) grew; the slow query traces in Jaeger show the plan "
        "and the fragments."),
    "btree": _Latency(
        "BTreeOperationLatencyHigh", "btree_operation_p99_seconds",
        _prometheus(btree.CATALOGUE, btree.OPERATION_DURATION), "btree_index, btree_operation_name",
        "B+tree operation", "Compare btree_page_reads_total by btree_page_source (a falling "
        "cache share means disk reads) and the splits per second; the slow traces in Jaeger "
        "carry the page reads."),
    "raft": _Latency(
        "RaftCommitLatencyHigh", "raft_commit_p99_seconds",
        _prometheus(raft.CATALOGUE, raft.M_COMMIT_DURATION), "raft_node_id",
        "Raft commit", "Look for a slow follower (rpc_client_call_duration_seconds by "
        "raft_peer_id), slow disk syncs, or GC pauses on the leader; the raft.propose traces "
        "in Jaeger show where the time went."),
    "pipeline": _Latency(
        "PipelineStepLatencyHigh", "pipeline_step_p99_seconds",
        _prometheus(pipeline.CATALOGUE, pipeline.M_DURATION), "pipeline_name, pipeline_processor",
        "Pipeline step", "Check the processor's downstream (a slow sink), its input sizes, "
        "and the sampled record journeys in Jaeger."),
}  # fmt: skip


def latency_alerts(domain: str) -> list[Alert]:
    """The p99 latency alert of `domain` (btree, raft, query, pipeline); [] for others.

    Examples:
        >>> latency_alerts("btree")[0].signal.startswith("histogram_quantile(0.99")
        True
    """
    spec = _LATENCY.get(domain)
    if spec is None:
        return []
    threshold = THRESHOLDS[spec.threshold]
    signal = (f"histogram_quantile(0.99, sum by (job, {spec.by}, le) "
              f"(rate({spec.metric}_bucket[5m])))")  # fmt: skip
    return [
        Alert(spec.alert, signal, f"> {threshold:g}",
              f"{spec.what} p99 above {threshold:g} s",
              f"The 99th percentile of {spec.metric} was {{{{ $value | humanizeDuration }}}} "
              f"over 5 minutes (threshold {threshold:g} s, set in obskit._tools.alerts.THRESHOLDS). "
              + spec.look, "10m"),
    ]  # fmt: skip


_CPU = _prometheus(RUNTIME, runtime.PROCESS_CPU_TIME)
_RSS = _prometheus(RUNTIME, runtime.PROCESS_MEMORY_USAGE)
_CPU_LIMIT = _prometheus(RUNTIME, runtime.CPU_LIMIT)
_MEMORY_LIMIT = _prometheus(RUNTIME, runtime.MEMORY_LIMIT)


def _cpu_share(selector: str = "", window: str = "5m") -> str:
    return (f"sum by (job, instance) (rate({_CPU}{selector}[{window}])) / "
            f"sum by (job, instance) ({_CPU_LIMIT}{selector})")  # fmt: skip


def _memory_share(selector: str = "") -> str:
    return (f"sum by (job, instance) ({_RSS}{selector}) / "
            f"sum by (job, instance) ({_MEMORY_LIMIT}{selector})")  # fmt: skip


_CPU_SHARE, _MEMORY_SHARE = _cpu_share(), _memory_share()

#: Panels of the saturation alerts' signals, for the runtime row.
SATURATION_PANELS: Final = (
    Panel("CPU used / CPUs available", (_cpu_share(SELECTOR, "$__rate_interval"),),
          "percentunit",
          description="CPU seconds per second over the CPUs the process may use (its cgroup "
          "quota, else the CPUs it may run on). Near 100%: CPU-bound or throttled."),
    Panel("Memory used / memory limit", (_memory_share(SELECTOR),), "percentunit",
          description="Resident memory over the process's memory limit (its cgroup's, else "
          "the host's RAM). Near 100%: the OOM killer is close."),
)  # fmt: skip


def saturation_alerts() -> list[Alert]:
    """CPU and memory near what the process may use (needs `obskit.runtime` enabled).

    Examples:
        >>> [alert.name for alert in saturation_alerts()]
        ['ProcessCpuSaturated', 'ProcessMemoryNearLimit']
    """
    cpu, memory = THRESHOLDS["cpu_saturation"], THRESHOLDS["memory_saturation"]
    return [
        Alert("ProcessCpuSaturated", _CPU_SHARE, f"> {cpu:g}",
              f"A process uses over {cpu:.0%} of the CPUs it may use",
              "{{ $labels.instance }} used {{ $value | humanizePercentage }} of its CPUs "
              f"({_CPU_LIMIT}: its cgroup quota, else the CPUs it may run on) for 10 "
              "minutes: latencies grow as work queues for CPU. Profile it, or give it more "
              "CPUs.", "10m"),
        Alert("ProcessMemoryNearLimit", _MEMORY_SHARE, f"> {memory:g}",
              f"A process uses over {memory:.0%} of its memory limit",
              "{{ $labels.instance }} holds {{ $value | humanizePercentage }} of its memory "
              f"limit ({_MEMORY_LIMIT}: its cgroup's, else the host's RAM): the OOM killer "
              "is close. Look for growth in the Memory panel and GC pauses.", "5m"),
    ]  # fmt: skip


_PAGE_READS = _prometheus(btree.CATALOGUE, btree.PAGE_READS)
_LOOKUPS = _prometheus(query.CATALOGUE, query.CACHE_LOOKUPS)
_PAGE_SOURCE = btree.PAGE_SOURCE.replace(".", "_")
_CACHE_RESULT = query.CACHE_RESULT.replace(".", "_")
_CACHE: Final = {
    "btree": ("BTreeCacheHitRatioLow", "btree_index", _PAGE_READS,
              f'{_PAGE_SOURCE}="cache"', "B+tree page cache", "page reads"),
    "query": ("QueryCacheHitRatioLow", "db_system_name, query_cache_name", _LOOKUPS,
              f'{_CACHE_RESULT}="hit"', "Query cache", "lookups"),
}  # fmt: skip


def cache_alerts(domain: str) -> list[Alert]:
    """A cache hit ratio below `THRESHOLDS["cache_hit_ratio_min"]` (btree, query).

    Examples:
        >>> cache_alerts("query")[0].condition
        '< 0.5'
    """
    if domain not in _CACHE:
        return []
    name, by, metric, hit, what, unit = _CACHE[domain]
    floor = THRESHOLDS["cache_hit_ratio_min"]
    reads = f"sum by (job, {by}) (rate({metric}[10m]))"
    # The hit series appears with the first hit: until then a cache that never hits has no
    # numerator, so the ratio is computed against the reads times 0 (0% rather than nothing).
    signal = f"(sum by (job, {by}) (rate({metric}{{{hit}}}[10m])) or {reads} * 0) / {reads}"
    return [
        Alert(name, signal, f"< {floor:g}", f"{what} hit ratio below {floor:.0%}",
              f"Only {{{{ $value | humanizePercentage }}}} of {unit} ({metric}) hit the cache "
              "over 10 minutes: the working set outgrew the cache or the access pattern "
              "changed. Expect higher latency; size the cache or look at the new workload.",
              "15m"),
    ]  # fmt: skip
