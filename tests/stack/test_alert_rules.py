"""Every shipped alert and recording rule, run by Prometheus' own rule engine.

`promtool test rules` evaluates the rule files under examples/stack/prometheus/rules/ over
synthetic series, one case at a time. A firing case names the alert series it expects
(all labels, after the rule's `for:`; before it, none). A silent case expects the alert
never to fire, and not to be pending at the end (a rate needs two samples, so a rule may
be pending in the first minute of a series; its `for` covers that). The cases include
what broke the first rules: a cache that never hits (no hit series at all), two healthy
Raft clusters, and two jobs whose workers, nodes or processors share names; the collector
tier's cases run on a tier of two load balancers and two gateways, with restarts (counter
resets) and a counter that appears only at its first drop.
`test_every_rule_has_a_firing_and_a_silent_case` makes a new rule without cases fail.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from _stack import REPO

from obskit._metrics import proxy as _metrics
from obskit._tools import dashboards as _dashboards
from obskit._tools import recording as _recording
from obskit._tools.catalogue import all_catalogues

RULES = REPO / _dashboards.RULES_FILE
RECORDING = REPO / _recording.RECORDING_FILE
#: Every input series has one sample a minute for this many minutes.
MINUTES = 60
#: Recording rule values are compared after rounding to this step (promtool compares floats
#: exactly, and rates divide by the window).
STEP = 0.0001

Series = tuple[str, str]  # (series selector, promtool values notation)


@dataclass(frozen=True)
class Case:
    """One promtool test: `rule` over `series`, firing `expect` (label sets) or silent.

    For a recording rule, `expect` holds the label sets and `values` the values recorded.
    """

    rule: str
    situation: str
    fires: bool
    series: tuple[Series, ...]
    expect: tuple[dict[str, str], ...] = ()
    values: tuple[float, ...] = ()
    #: When to look, in minutes. Default: a firing case ten minutes after the rule's `for`
    #: has passed; a silent case near the end of the series, having watched all along.
    at: int | None = None

    @property
    def id(self) -> str:
        return f"{self.rule}-{'fires' if self.fires else 'silent'}-{self.situation}"


def counter(name: str, labels: str, per_minute: float, start: float = 0) -> Series:
    """A counter that grows by `per_minute` every minute (flat when 0)."""
    return f"{name}{{{labels}}}", f"{start}+{per_minute}x{MINUTES}"


def gauge(name: str, labels: str, value: float) -> Series:
    return f"{name}{{{labels}}}", f"{value}x{MINUTES}"


def _bounds(metric: str) -> tuple[float, ...]:
    """The bucket bounds obskit exports for the histogram named `metric` in Prometheus."""
    for catalogue in all_catalogues():
        for instrument in catalogue.instruments:
            if instrument.prometheus_name == metric and instrument.kind == "histogram":
                return tuple(instrument.buckets or _metrics.LATENCY_BUCKETS)
    raise KeyError(metric)


def histogram(metric: str, labels: str, per_minute: float, seconds: float) -> list[Series]:
    """`per_minute` observations of `seconds` each, in the buckets obskit exports."""
    found = [counter(f"{metric}_count", labels, per_minute)]
    for bound in (*_bounds(metric), math.inf):
        le = "+Inf" if bound == math.inf else f"{bound:g}"
        found.append(counter(f"{metric}_bucket", f'{labels},le="{le}"',
                             per_minute if seconds <= bound else 0))  # fmt: skip
    return found


def p99(metric: str, seconds: float) -> float:
    """histogram_quantile(0.99) when every observation took `seconds`: within its bucket."""
    bounds = (0.0, *_bounds(metric))
    upper = next(i for i, bound in enumerate(bounds) if seconds <= bound)
    return bounds[upper - 1] + 0.99 * (bounds[upper] - bounds[upper - 1])


def _series(*groups: Series | list[Series]) -> tuple[Series, ...]:
    out: list[Series] = []
    for group in groups:
        out.extend(group if isinstance(group, list) else [group])
    return tuple(out)


# --- the cases -----------------------------------------------------------------------------
A, B = 'job="a"', 'job="b"'
CLUSTER_A, CLUSTER_B = 'job="raft-a"', 'job="raft-b"'
NODES = ("n1", "n2", "n3")
DROPPED = "obskit_spans_dropped_total"
BTREE_OP = "btree_operation_duration_seconds"
PAGE_READS = "btree_page_reads_total"
QUERY = "query_duration_seconds"
LOOKUPS = "query_cache_lookups_total"
WORKER = "query_worker_fragment_duration_seconds"
PIPE = 'pipeline_name="logs",pipeline_processor="parse"'
RSS, MEMORY_LIMIT = "process_memory_usage_bytes", "obskit_runtime_memory_limit_bytes"
CPU, CPU_LIMIT = "process_cpu_time_seconds_total", "obskit_runtime_cpu_limit"


def _cluster(
    job: str, name: str, value: float | str, nodes: tuple[str, ...] = NODES
) -> list[Series]:
    """One series per node of a cluster; `value` is a number or promtool values."""
    text = value if isinstance(value, str) else f"{value}x{MINUTES}"
    return [(f'{name}{{{job},raft_node_id="{node}"}}', text) for node in nodes]


def _leaders(job: str, believed: dict[str, str]) -> list[Series]:
    return [gauge("raft_leader_info", f'{job},raft_node_id="{node}",raft_leader_id="{leader}"', 1)
            for node, leader in believed.items()]  # fmt: skip


def _query_traffic(job: str, ok: float, failed: float) -> list[Series]:
    labels = f'{job},db_system_name="toydb",db_operation_name="SELECT"'
    found = [counter(f"{QUERY}_count", labels, ok)]
    if failed:
        found.append(counter(f"{QUERY}_count", f'{labels},error_type="TimeoutError"', failed))
        found.append(counter("query_errors_total", f'{labels},error_type="TimeoutError"', failed))
    return found


def _pipeline_traffic(job: str, records: float, errors: float) -> list[Series]:
    found = [counter("pipeline_records_in_total", f"{job},{PIPE}", records)]
    if errors:
        found.append(counter("pipeline_records_errors_total", f'{job},{PIPE},error_type="ValueError"',
                             errors))  # fmt: skip
    return found


def _worker(job: str, worker: str, ok: float, failed: float, seconds: float) -> list[Series]:
    labels = f'{job},db_system_name="toydb",query_worker_id="{worker}"'
    found = histogram(WORKER, labels, ok, seconds)
    if failed:
        found += histogram(WORKER, f'{labels},error_type="TimeoutError"', failed, seconds)
    return found


def _cpu(job: str, cpus_used: float, limit: float) -> list[Series]:
    labels = f'{job},instance="host:9464"'
    return [counter(CPU, f'{labels},cpu_mode="user"', cpus_used * 60 * 0.9),
            counter(CPU, f'{labels},cpu_mode="system"', cpus_used * 60 * 0.1),
            gauge(CPU_LIMIT, f'{labels},obskit_runtime_limit_source="cgroup"', limit)]  # fmt: skip


def _memory(job: str, used: float, limit: float) -> list[Series]:
    labels = f'{job},instance="host:9464"'
    return [gauge(RSS, labels, used),
            gauge(MEMORY_LIMIT, f'{labels},obskit_runtime_limit_source="cgroup"', limit)]  # fmt: skip


# The fleet's collector tier (docs/fleet.md): two load balancers and two gateways scraped as
# one job, their series labelled as the collector exports them (its instrumentation scope,
# the exporter or receiver; a full queue's counter appears only at its first drop).
FLEET = 'job="otelcol-fleet"'
LB1, LB2 = "otelcol-lb-1:8888", "otelcol-lb-2:8888"
GW1, GW2 = "otelcol-gateway-1:8888", "otelcol-gateway-2:8888"
ACCEPTED, REFUSED = "otelcol_receiver_accepted_spans_total", "otelcol_receiver_refused_spans_total"
SENT, FAILED = "otelcol_exporter_sent_spans_total", "otelcol_exporter_send_failed_spans_total"
QUEUE_FULL = "otelcol_exporter_enqueue_failed_spans_total"
TOO_EARLY = "otelcol_processor_tail_sampling_sampling_trace_dropped_too_early_total"
_SCOPE = 'otel_scope_name="go.opentelemetry.io/collector/{}/{}helper"'


def _exporter(instance: str, exporter: str) -> str:
    scope = _SCOPE.format("exporter", "exporter")
    return f'{FLEET},instance="{instance}",exporter="{exporter}",{scope}'


def _receiver(instance: str) -> str:
    scope = _SCOPE.format("receiver", "receiver")
    return f'{FLEET},instance="{instance}",receiver="otlp",transport="grpc",{scope}'


def _sampler(instance: str) -> str:
    scope = ("github.com/open-telemetry/opentelemetry-collector-contrib/processor/"
             "tailsamplingprocessor")  # fmt: skip
    return f'{FLEET},instance="{instance}",otel_scope_name="{scope}"'


def _tier(*changes: Series) -> list[Series]:
    """A healthy tier: each load balancer takes 6,000 spans a minute and hands them on, each
    gateway receives 6,000 and sends the tenth it keeps to Jaeger; nothing fails, but for
    some failures at start-up. `changes` replace the series they name, or add to them."""
    series = []
    for balancer in (LB1, LB2):
        series += [counter(ACCEPTED, _receiver(balancer), 6000),
                   gauge(REFUSED, _receiver(balancer), 0),
                   counter(SENT, _exporter(balancer, "loadbalancing"), 6000),
                   gauge(FAILED, _exporter(balancer, "loadbalancing"), 40)]  # fmt: skip
    for gateway in (GW1, GW2):
        series += [counter(ACCEPTED, _receiver(gateway), 6000),
                   gauge(REFUSED, _receiver(gateway), 0),
                   counter(SENT, _exporter(gateway, "otlp/jaeger"), 600),
                   gauge(FAILED, _exporter(gateway, "otlp/jaeger"), 0),
                   gauge(TOO_EARLY, _sampler(gateway), 0)]  # fmt: skip
    return list((dict(series) | dict(changes)).items())


def _restarted(name: str, labels: str, before: float, after: float, minute: int = 30) -> Series:
    """A counter growing by `before` a minute until its collector restarts at `minute`, then
    from 0 by `after` a minute: a reset, which rate() must not read as a drop or a jump."""
    return (f"{name}{{{labels}}}",
            f"0+{before}x{minute - 1} 0+{after}x{MINUTES - minute}")  # fmt: skip


# fmt: off
CASES: tuple[Case, ...] = (
    # core
    Case("ObskitSpansDropped", "queue_full", True,
         _series(counter(DROPPED, f'{A},reason="queue_full"', 5)),
         ({"job": "a", "reason": "queue_full"},)),
    Case("ObskitSpansDropped", "old_drops_only", False,
         _series(gauge(DROPPED, f'{A},reason="queue_full"', 7),
                 gauge(DROPPED, f'{B},reason="export_failed"', 0))),
    # btree
    Case("BTreeOperationLatencyHigh", "slow_gets", True,
         _series(histogram(BTREE_OP, f'{A},btree_index="users_pk",btree_operation_name="get",'
                           'btree_outcome="hit"', 100, 0.2)),
         ({"job": "a", "btree_index": "users_pk", "btree_operation_name": "get"},)),
    Case("BTreeOperationLatencyHigh", "fast_gets_in_two_jobs", False,
         _series(histogram(BTREE_OP, f'{A},btree_index="users_pk",btree_operation_name="get",'
                           'btree_outcome="hit"', 100, 0.00002),
                 histogram(BTREE_OP, f'{B},btree_index="users_pk",btree_operation_name="get",'
                           'btree_outcome="hit"', 100, 0.01))),
    Case("BTreeCacheHitRatioLow", "zero_hits", True,
         _series(counter(PAGE_READS, f'{A},btree_index="users_pk",btree_page_source="disk"', 100)),
         ({"job": "a", "btree_index": "users_pk"},)),
    Case("BTreeCacheHitRatioLow", "thirty_percent_hits", True,
         _series(counter(PAGE_READS, f'{A},btree_index="users_pk",btree_page_source="cache"', 30),
                 counter(PAGE_READS, f'{A},btree_index="users_pk",btree_page_source="disk"', 70)),
         ({"job": "a", "btree_index": "users_pk"},)),
    Case("BTreeCacheHitRatioLow", "ninety_percent_hits_in_two_jobs", False,
         _series(*(counter(PAGE_READS, f'{job},btree_index="users_pk",btree_page_source="{source}"',
                           n) for job in (A, B) for source, n in (("cache", 90), ("disk", 10))))),
    Case("BTreeCacheHitRatioLow", "idle_index", False,
         _series(gauge(PAGE_READS, f'{A},btree_index="users_pk",btree_page_source="cache"', 500),
                 gauge(PAGE_READS, f'{A},btree_index="users_pk",btree_page_source="disk"', 90),
                 gauge(PAGE_READS, f'{B},btree_index="users_pk",btree_page_source="disk"', 90))),
    # raft: two clusters, each its own job, with the same node ids
    Case("RaftNoLeader", "one_node_of_two_clusters", True,
         _series(_cluster(CLUSTER_A, "raft_leader_present", 1),
                 _cluster(CLUSTER_B, "raft_leader_present", 1, ("n2", "n3")),
                 _cluster(CLUSTER_B, "raft_leader_present", 0, ("n1",))),
         ({"job": "raft-b", "raft_node_id": "n1"},)),
    Case("RaftNoLeader", "two_healthy_clusters", False,
         _series(_cluster(CLUSTER_A, "raft_leader_present", 1),
                 _cluster(CLUSTER_B, "raft_leader_present", 1))),
    Case("RaftFrequentLeaderChanges", "a_change_a_minute", True,
         _series(_cluster(CLUSTER_A, "raft_leader_changes_total", f"0+1x{MINUTES}"),
                 _cluster(CLUSTER_B, "raft_leader_changes_total", 1)),
         ({"job": "raft-a"},), at=30),
    Case("RaftFrequentLeaderChanges", "two_healthy_clusters_one_election_each", False,
         _series(_cluster(CLUSTER_A, "raft_leader_changes_total", f"0x19 1x{MINUTES - 20}"),
                 _cluster(CLUSTER_B, "raft_leader_changes_total", f"0x24 1x{MINUTES - 25}"))),
    Case("RaftSplitLeaderView", "a_stale_node", True,
         _series(_leaders(CLUSTER_A, {"n1": "n1", "n2": "n1", "n3": "n3"}),
                 _leaders(CLUSTER_B, {"n1": "n2", "n2": "n2", "n3": "n2"})),
         ({"job": "raft-a"},)),
    Case("RaftSplitLeaderView", "two_healthy_clusters", False,
         _series(_leaders(CLUSTER_A, {"n1": "n1", "n2": "n1", "n3": "n1"}),
                 _leaders(CLUSTER_B, {"n1": "n2", "n2": "n2", "n3": "n2"}))),
    Case("RaftProposalFailures", "timeouts", True,
         _series(counter("raft_proposals_failed_total",
                         f'{CLUSTER_A},raft_node_id="n1",error_type="timeout"', 2),
                 _cluster(CLUSTER_B, "raft_proposals_failed_total", 3)),
         ({"job": "raft-a"},)),
    Case("RaftProposalFailures", "old_failures_only", False,
         _series(gauge("raft_proposals_failed_total",
                       f'{CLUSTER_A},raft_node_id="n1",error_type="timeout"', 3),
                 _cluster(CLUSTER_A, "raft_proposals_committed_total", f"0+100x{MINUTES}"))),
    Case("RaftPeerUnreachable", "one_of_two_clusters", True,
         _series(gauge("raft_peer_last_contact_seconds",
                       f'{CLUSTER_A},raft_node_id="n1",raft_peer_id="n2"', 0.05),
                 ("raft_peer_last_contact_seconds"
                  f'{{{CLUSTER_B},raft_node_id="n1",raft_peer_id="n2"}}', f"30+60x{MINUTES}")),
         ({"job": "raft-b", "raft_node_id": "n1", "raft_peer_id": "n2"},)),
    Case("RaftPeerUnreachable", "two_healthy_clusters", False,
         _series(*(gauge("raft_peer_last_contact_seconds",
                         f'{job},raft_node_id="n1",raft_peer_id="n2"', 0.05)
                   for job in (CLUSTER_A, CLUSTER_B)))),
    Case("RaftSlowFailover", "twenty_second_failovers", True,
         _series(histogram("raft_failover_duration_seconds", f'{CLUSTER_A},raft_node_id="n2"',
                           0.1, 25),
                 histogram("raft_failover_duration_seconds", f'{CLUSTER_B},raft_node_id="n2"',
                           0.1, 0.4)),
         ({"job": "raft-a"},), at=30),
    Case("RaftSlowFailover", "sub_second_failovers", False,
         _series(*(histogram("raft_failover_duration_seconds", f'{job},raft_node_id="n2"', 0.1, 0.4)
                   for job in (CLUSTER_A, CLUSTER_B)))),
    Case("RaftFollowerLagging", "a_follower_far_behind", True,
         _series(gauge("raft_replication_lag", f'{CLUSTER_B},raft_node_id="n1",raft_peer_id="n3"',
                       5000),
                 gauge("raft_replication_lag", f'{CLUSTER_A},raft_node_id="n1",raft_peer_id="n3"',
                       2)),
         ({"job": "raft-b", "raft_node_id": "n1", "raft_peer_id": "n3"},)),
    Case("RaftFollowerLagging", "followers_close_behind", False,
         _series(*(gauge("raft_replication_lag", f'{job},raft_node_id="n1",raft_peer_id="{peer}"', 10)
                   for job in (CLUSTER_A, CLUSTER_B) for peer in ("n2", "n3")))),
    Case("RaftCommitLatencyHigh", "slow_commits", True,
         _series(histogram("raft_commit_duration_seconds", f'{CLUSTER_A},raft_node_id="n1"', 100, 0.8)),
         ({"job": "raft-a", "raft_node_id": "n1"},)),
    Case("RaftCommitLatencyHigh", "fast_commits_in_two_clusters", False,
         _series(*(histogram("raft_commit_duration_seconds", f'{job},raft_node_id="n1"', 100, 0.02)
                   for job in (CLUSTER_A, CLUSTER_B)))),
    # query
    Case("QueryErrorRatioHigh", "one_job_of_two_fails", True,
         _series(_query_traffic(A, 90, 10), _query_traffic(B, 10000, 0)),
         ({"job": "a", "db_system_name": "toydb", "db_operation_name": "SELECT"},)),
    Case("QueryErrorRatioHigh", "one_percent_errors", False,
         _series(_query_traffic(A, 99, 1), _query_traffic(B, 100, 0))),
    Case("QueryLatencyHigh", "two_second_queries", True,
         _series(histogram(QUERY, f'{A},db_system_name="toydb",db_operation_name="SELECT"', 100, 2)),
         ({"job": "a", "db_system_name": "toydb", "db_operation_name": "SELECT"},)),
    Case("QueryLatencyHigh", "fast_queries_in_two_jobs", False,
         _series(*(histogram(QUERY, f'{job},db_system_name="toydb",db_operation_name="SELECT"', 100,
                             0.05) for job in (A, B)))),
    Case("QueryCacheHitRatioLow", "zero_hits", True,
         _series(counter(LOOKUPS, f'{A},db_system_name="toydb",query_cache_name="plan",'
                         'query_cache_result="miss"', 50)),
         ({"job": "a", "db_system_name": "toydb", "query_cache_name": "plan"},)),
    Case("QueryCacheHitRatioLow", "ninety_percent_hits_in_two_jobs", False,
         _series(*(counter(LOOKUPS, f'{job},db_system_name="toydb",query_cache_name="plan",'
                           f'query_cache_result="{result}"', n)
                   for job in (A, B) for result, n in (("hit", 90), ("miss", 10))))),
    Case("QueryCacheHitRatioLow", "idle_cache", False,
         _series(gauge(LOOKUPS, f'{A},db_system_name="toydb",query_cache_name="plan",'
                       'query_cache_result="miss"', 40))),
    # pipeline: two jobs run the same pipeline
    Case("PipelineErrorRatioHigh", "one_job_of_two_fails", True,
         _series(_pipeline_traffic(A, 100, 5), _pipeline_traffic(B, 100000, 0)),
         ({"job": "a", "pipeline_name": "logs", "pipeline_processor": "parse"},)),
    Case("PipelineErrorRatioHigh", "a_tenth_of_a_percent", False,
         _series(_pipeline_traffic(A, 1000, 1), _pipeline_traffic(B, 1000, 0))),
    Case("PipelineStalled", "one_job_of_two_stuck", True,
         _series(gauge("pipeline_records_in_total", f"{A},{PIPE}", 500),
                 gauge("pipeline_queue_size", f"{A},{PIPE}", 20),
                 _pipeline_traffic(B, 100, 0), gauge("pipeline_queue_size", f"{B},{PIPE}", 20)),
         ({"job": "a", "pipeline_name": "logs", "pipeline_processor": "parse"},)),
    Case("PipelineStalled", "worker_died", True,  # its records_in series went with it
         _series(gauge("pipeline_queue_size", f"{A},{PIPE}", 20)),
         ({"job": "a", "pipeline_name": "logs", "pipeline_processor": "parse"},)),
    Case("PipelineStalled", "busy_or_idle", False,
         _series(_pipeline_traffic(A, 100, 0), gauge("pipeline_queue_size", f"{A},{PIPE}", 20),
                 gauge("pipeline_records_in_total", f"{B},{PIPE}", 500),
                 gauge("pipeline_queue_size", f"{B},{PIPE}", 0))),
    Case("PipelineQueueNearlyFull", "ninety_five_percent", True,
         _series(gauge("pipeline_queue_size", f"{A},{PIPE}", 95),
                 gauge("pipeline_queue_capacity", f"{A},{PIPE}", 100)),
         ({"job": "a", "pipeline_name": "logs", "pipeline_processor": "parse"},)),
    Case("PipelineQueueNearlyFull", "half_full_in_two_jobs", False,
         _series(*(gauge(name, f"{job},{PIPE}", value) for job in (A, B)
                   for name, value in (("pipeline_queue_size", 50),
                                       ("pipeline_queue_capacity", 100))))),
    Case("PipelineRecordsOld", "records_a_quarter_hour_late", True,
         _series(histogram("pipeline_record_age_seconds", f"{A},{PIPE}", 100, 1000)),
         ({"job": "a", "pipeline_name": "logs", "pipeline_processor": "parse"},)),
    Case("PipelineRecordsOld", "records_seconds_late", False,
         _series(*(histogram("pipeline_record_age_seconds", f"{job},{PIPE}", 100, 2)
                   for job in (A, B)))),
    Case("PipelineStepLatencyHigh", "three_second_steps", True,
         _series(histogram("pipeline_processing_duration_seconds", f"{A},{PIPE}", 100, 3)),
         ({"job": "a", "pipeline_name": "logs", "pipeline_processor": "parse"},)),
    Case("PipelineStepLatencyHigh", "fast_steps_in_two_jobs", False,
         _series(*(histogram("pipeline_processing_duration_seconds", f"{job},{PIPE}", 100, 0.01)
                   for job in (A, B)))),
    # runtime
    Case("ProcessCpuSaturated", "ninety_five_percent", True, _series(_cpu(A, 1.9, 2)),
         ({"job": "a", "instance": "host:9464"},)),
    Case("ProcessCpuSaturated", "a_quarter_in_two_jobs", False,
         _series(_cpu(A, 0.5, 2), _cpu(B, 0.5, 2))),
    Case("ProcessMemoryNearLimit", "ninety_five_percent", True,
         _series(_memory(A, 0.95e9, 1e9)), ({"job": "a", "instance": "host:9464"},)),
    Case("ProcessMemoryNearLimit", "a_third_in_two_jobs", False,
         _series(_memory(A, 0.3e9, 1e9), _memory(B, 0.3e9, 1e9))),
    # the fleet's collector tier
    Case("CollectorTierDroppingSpans", "a_dead_gateway", True,  # both balancers route to it
         _series(_tier(counter(FAILED, _exporter(LB1, "loadbalancing"), 3000, start=40),
                       counter(FAILED, _exporter(LB2, "loadbalancing"), 3000, start=40))),
         ({"job": "otelcol-fleet", "instance": LB1, "exporter": "loadbalancing"},
          {"job": "otelcol-fleet", "instance": LB2, "exporter": "loadbalancing"})),
    Case("CollectorTierDroppingSpans", "healthy_tier_after_start_up_failures", False,
         _series(_tier())),
    Case("CollectorTierDroppingSpans", "every_collector_restarted", False,
         _series(_tier(*(_restarted(ACCEPTED, _receiver(c), 6000, 6000)
                         for c in (LB1, LB2, GW1, GW2)),
                       *(_restarted(SENT, _exporter(c, "loadbalancing"), 6000, 6000)
                         for c in (LB1, LB2)),
                       *((f"{FAILED}{{{_exporter(c, 'loadbalancing')}}}", f"40x29 0x{MINUTES - 30}")
                         for c in (LB1, LB2))))),
    Case("CollectorTierRefusingSpans", "a_gateway_at_its_memory_limit_across_a_restart", True,
         _series(_tier(_restarted(REFUSED, _receiver(GW1), 1200, 1200))),
         ({"job": "otelcol-fleet", "instance": GW1, "receiver": "otlp"},), at=40),
    Case("CollectorTierRefusingSpans", "healthy_tier", False, _series(_tier())),
    Case("CollectorTierRefusingSpans", "old_refusals_reset_by_a_restart", False,
         _series(_tier((f"{REFUSED}{{{_receiver(GW2)}}}", f"1200x29 0x{MINUTES - 30}")))),
    Case("CollectorTierQueueFull", "first_full_queue_creates_the_series", True,
         _series(_tier((f"{QUEUE_FULL}{{{_exporter(LB2, 'loadbalancing')}}}",
                        f"_x20 512+2048x{MINUTES - 20}"))),
         ({"job": "otelcol-fleet", "instance": LB2, "exporter": "loadbalancing"},), at=35),
    Case("CollectorTierQueueFull", "healthy_tier_with_a_busy_queue", False,
         _series(_tier(gauge("otelcol_exporter_queue_size", _exporter(LB1, "loadbalancing"), 900),
                       gauge("otelcol_exporter_queue_capacity", _exporter(LB1, "loadbalancing"),
                             1000)))),
    Case("TailSamplingDecidedTooEarly", "num_traces_too_small_on_one_gateway", True,
         _series(_tier(counter(TOO_EARLY, _sampler(GW2), 300))),
         ({"job": "otelcol-fleet", "instance": GW2},)),
    Case("TailSamplingDecidedTooEarly", "healthy_tier", False, _series(_tier())),
    Case("TailSamplingDecidedTooEarly", "a_five_minute_burst", False,  # shorter than its for
         _series(_tier((f"{TOO_EARLY}{{{_sampler(GW1)}}}", f"0x19 0+200x5 1000x{MINUTES - 26}")))),
    # the query workers' recording rules: two jobs, each with a worker "w1"
    Case("query:worker_error_ratio:rate5m", "two_jobs_same_worker_id", True,
         _series(_worker(A, "w1", 90, 10, 0.1), _worker(B, "w1", 1000, 0, 0.1)),
         ({"job": "a", "query_worker_id": "w1"}, {"job": "b", "query_worker_id": "w1"}),
         (0.1, 0.0)),
    Case("query:worker_error_ratio:rate5m", "healthy", False,
         _series(_worker(A, "w1", 100, 0, 0.1), _worker(B, "w1", 100, 0, 0.1)),
         ({"job": "a", "query_worker_id": "w1"}, {"job": "b", "query_worker_id": "w1"}),
         (0.0, 0.0)),
    Case("query:worker_fragment_p99:rate5m", "two_jobs_same_worker_id", True,
         _series(_worker(A, "w1", 100, 0, 3.0), _worker(B, "w1", 100, 0, 0.1)),
         ({"job": "a", "query_worker_id": "w1"}, {"job": "b", "query_worker_id": "w1"}),
         (p99(WORKER, 3.0), p99(WORKER, 0.1))),
    Case("query:worker_fragment_p99:rate5m", "healthy", False,
         _series(_worker(A, "w1", 100, 0, 0.1)),
         ({"job": "a", "query_worker_id": "w1"},), (p99(WORKER, 0.1),)),
    Case("query:worker_health:state", "two_jobs_same_worker_id", True,
         _series(_worker(A, "w1", 90, 10, 0.1), _worker(B, "w1", 100, 0, 0.1),
                 _worker(B, "w2", 100, 0, 3.0)),
         ({"job": "a", "query_worker_id": "w1"}, {"job": "b", "query_worker_id": "w1"},
          {"job": "b", "query_worker_id": "w2"}), (2, 0, 1)),
    Case("query:worker_health:state", "healthy", False,
         _series(_worker(A, "w1", 100, 0, 0.1), _worker(B, "w1", 100, 0, 0.1)),
         ({"job": "a", "query_worker_id": "w1"}, {"job": "b", "query_worker_id": "w1"}), (0, 0)),
)
# fmt: on


# --- running them --------------------------------------------------------------------------
def _rules() -> dict[str, dict[str, Any]]:
    """Every rule in the shipped files by name (alert or record)."""
    found = {}
    for path in (RULES, RECORDING):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found[rule.get("alert") or rule["record"]] = rule
    return found


def _minutes(duration: str) -> int:
    units = {"s": 1 / 60, "m": 1, "h": 60}
    return int(float(duration[:-1]) * units[duration[-1]])


def _rounded(value: float) -> float:
    """`value` as PromQL's round(value, STEP) gives it."""
    inverse = 1 / STEP
    return math.floor(value * inverse + 0.5) / inverse


def _selector(name: str, labels: dict[str, str]) -> str:
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def _checks(case: Case, rule: dict[str, Any]) -> list[dict[str, Any]]:
    """promtool `promql_expr_test` entries for the case."""
    hold = _minutes(rule.get("for", "0m"))
    default = hold + 10 if case.fires else MINUTES - 5
    at = case.at if case.at is not None else default
    if "record" in rule:
        samples = [{"labels": _selector("", labels), "value": _rounded(value)}
                   for labels, value in zip(case.expect, case.values, strict=True)]  # fmt: skip
        return [{"expr": f"round({case.rule}, {STEP})", "eval_time": f"{at}m",  # drops the name
                 "exp_samples": samples}]  # fmt: skip
    firing = f'ALERTS{{alertname="{case.rule}",alertstate="firing"}}'
    if not case.fires:  # never firing from the start to `at`, and not even pending at `at`
        return [{"expr": f"count_over_time({firing}[{at}m])", "eval_time": f"{at}m",
                 "exp_samples": []},
                {"expr": f'ALERTS{{alertname="{case.rule}"}}', "eval_time": f"{at}m",
                 "exp_samples": []}]  # fmt: skip
    own = {"alertname": case.rule, "alertstate": "firing", **rule["labels"]}
    checks = [{"expr": firing, "eval_time": f"{at}m",
               "exp_samples": [{"labels": _selector("ALERTS", own | labels), "value": 1}
                               for labels in case.expect]}]  # fmt: skip
    if hold:  # pending, not firing, until `for` has passed
        checks.append({"expr": firing, "eval_time": f"{hold - 1}m", "exp_samples": []})
    return checks


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_rule(case: Case, promtool: str, tmp_path: Path) -> None:
    rules = _rules()
    assert case.rule in rules, f"{case.rule} is not in the shipped rule files"
    spec = {
        "rule_files": [str(RULES), str(RECORDING)],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": s, "values": v} for s, v in case.series],
            "promql_expr_test": _checks(case, rules[case.rule]),
        }],
    }  # fmt: skip
    test_file = tmp_path / "case.yml"
    test_file.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = subprocess.run([promtool, "test", "rules", str(test_file)], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, f"{rules[case.rule]['expr']}\n{result.stdout}{result.stderr}"


def test_every_rule_has_a_firing_and_a_silent_case() -> None:
    names = set(_rules())
    assert len(names) >= 24  # 21 alerts and 3 recording rules when this was written
    missing = sorted(f"{name} ({kind})" for name in names
                     for kind, fires in (("firing", True), ("silent", False))
                     if not any(c.rule == name and c.fires is fires for c in CASES))  # fmt: skip
    assert not missing, f"rules without a case: {missing}"


def test_case_ids_are_unique() -> None:
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
