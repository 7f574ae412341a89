"""The fleet tier end to end (docs/fleet.md): the examples' processes export to two
load-balancing collectors, which route every span by its trace id (static resolver) to one
of two tail-sampling gateways running the policy `obskit tail-sampling` writes; the
gateways send what they keep to Jaeger.

Each load balancer also copies everything it receives to a second Jaeger, the ground
truth: every trace the examples made, whole. A test classifies each true trace the way
the policy should (error, slow operation, Raft election or failover, or healthy) and
compares it with what the sampled Jaeger holds. The probabilistic policy hashes the trace
id (FNV-1a with a salt), so which healthy traces it keeps is known exactly, and their
number is checked against a binomial bound as well.

The collector is built by .ci/build-collector.sh (skipped locally without it; under
CI=true a missing collector fails the run).
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from _backends import (
    GATEWAY_ATTRIBUTE,
    Gateway,
    Jaeger,
    LoadBalancer,
    Prometheus,
    Trace,
    poll,
    span_service,
    span_tags,
)
from _examples import ExampleRun

from obskit._tools import alerts as _alerts
from obskit._tools import collector_tier as _collector_tier
from obskit._tools import promql as _promql
from obskit._tools import tail_sampling as _tail_sampling
from obskit.query import _names as query_names
from obskit.raft import _names as raft_names

RATIO = 0.25  # of the healthy traces; N ~ 300 of them: sd ~ 7.5, the bound +-38 (Z = 5)
#: Every query of examples/query.py takes more than a millisecond (it crosses processes),
#: so with this threshold all of them are "slow": the slow-operation policy is exercised.
QUERY_THRESHOLD = 0.001
DECISION_WAIT = "5s"  # short for a test (docs/fleet.md: sizing); spans arrive within ~1 s
#: |kept - N p| <= Z sd: a false failure has probability < 1e-6 (normal approximation).
Z = 5.0
RAFT_NODES = ("raft-node-1", "raft-node-2", "raft-node-3")
COORDINATOR, WORKER = "minidb-coordinator", "minidb-worker"
SETTLE_TIMEOUT = 60.0


# --- the tier ---------------------------------------------------------------------------


@dataclass
class Tier:
    """Two tail-sampling gateways behind two load balancers, a sampled and a true Jaeger."""

    kept: Jaeger
    truth: Jaeger
    gateways: list[Gateway]
    balancers: list[LoadBalancer]
    prometheus: Prometheus
    job: str
    killed: list[Gateway] = field(default_factory=list)

    @property
    def endpoints(self) -> str:
        """OBSKIT_EXAMPLE_OTLP_ENDPOINTS: the example's processes take the balancers in turn."""
        return ",".join(balancer.otlp_http_endpoint for balancer in self.balancers)

    def live_gateways(self) -> list[Gateway]:
        return [g for g in self.gateways if g not in self.killed]

    def settle(self) -> None:
        """Wait until every span the balancers accepted has been copied to the truth, sent
        to a gateway or counted as failed, and every live gateway decided every trace."""

        def balanced() -> list[tuple[float, float, float, float]]:
            return [(
                b.total("otelcol_receiver_accepted_spans_total"),
                b.total("otelcol_exporter_sent_spans_total", exporter="otlp/copy"),
                b.total("otelcol_exporter_sent_spans_total", exporter="loadbalancing"),
                b.total("otelcol_exporter_send_failed_spans_total", exporter="loadbalancing"),
            ) for b in self.balancers]  # fmt: skip

        poll(balanced, lambda counts: all(
            accepted == copied == sent + failed for accepted, copied, sent, failed in counts),
            timeout=SETTLE_TIMEOUT, what="load balancers forwarded everything")  # fmt: skip

        def undecided() -> list[float]:
            return [
                g.total("otelcol_processor_tail_sampling_new_trace_id_received_total")
                - g.total("otelcol_processor_tail_sampling_global_count_traces_sampled_total")
                for g in self.live_gateways()
            ]

        poll(undecided, lambda left: all(n <= 0 for n in left), timeout=SETTLE_TIMEOUT,
             what="gateways decided every trace")  # fmt: skip


def _start(stack: contextlib.ExitStack, backend: Any) -> Any:
    stack.callback(backend.stop)
    return backend.start()


@contextlib.contextmanager
def fleet_tier(
    otelcol: Path, jaeger: Path, prometheus: Prometheus, workdir: Path, *,
    retry_seconds: float = 3.0,
) -> Iterator[Tier]:  # fmt: skip
    """Start the tier on loopback (free ports), its collectors scraped by `prometheus`;
    `otelcol` and `jaeger` are the binaries."""
    policy = workdir / "tail-sampling.yaml"
    argv = ["--ratio", str(RATIO), "--decision-wait", DECISION_WAIT,
            "--threshold", f"query_p99_seconds={QUERY_THRESHOLD}", "--output", str(policy)]  # fmt: skip
    assert _tail_sampling.main(argv) == 0
    job = f"fleet-{uuid.uuid4().hex[:8]}"
    for name in ("kept", "truth"):
        (workdir / name).mkdir()
    with contextlib.ExitStack() as stack:
        kept = _start(stack, Jaeger(workdir / "kept", binary=jaeger))
        truth = _start(stack, Jaeger(workdir / "truth", binary=jaeger))
        gateways = [
            _start(stack, Gateway(f"gateway-{i}", policy, kept, workdir, binary=otelcol))
            for i in (1, 2)
        ]
        balancers = [
            _start(stack, LoadBalancer(f"balancer-{i}", gateways, workdir, binary=otelcol,
                                       copy_to=truth, retry_seconds=retry_seconds))
            for i in (1, 2)
        ]  # fmt: skip
        for collector in (*gateways, *balancers):
            prometheus.add_target(job, collector.metrics_address)
            stack.callback(prometheus.remove_target, job, collector.metrics_address)
        yield Tier(kept, truth, gateways, balancers, prometheus, job)


# --- what the policy should keep --------------------------------------------------------


def _trace_id(trace: Trace) -> bytes:
    return int(trace["traceID"], 16).to_bytes(16, "big")  # Jaeger drops leading zeros


def probabilistic_keeps(trace: Trace, ratio: float = RATIO) -> bool:
    """The tail_sampling probabilistic policy's decision: FNV-1a 64 of salt + trace id
    at most ratio * (2^64 - 1)."""
    digest = _fnv1a64(_tail_sampling.HASH_SALT.encode() + _trace_id(trace))
    return digest <= int((2**64 - 1) * Fraction(ratio))


def _fnv1a64(data: bytes) -> int:
    digest = 0xCBF29CE484222325
    for byte in data:
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return digest


def must_keep(trace: Trace) -> set[str]:
    """Why the policy must keep `trace` (empty: it is healthy), read from its spans."""
    reasons = set()
    thresholds = {**_alerts.THRESHOLDS, "query_p99_seconds": QUERY_THRESHOLD}
    for span in trace["spans"]:
        tags, name = span_tags(span), span["operationName"]
        seconds = span["duration"] / 1e6
        if tags.get("otel.status_code") == "ERROR" or tags.get("error") is True:
            reasons.add("error")
        if name in (raft_names.SPAN_ELECTION, raft_names.SPAN_STATE_CHANGE):
            reasons.add("election")
        if name == raft_names.SPAN_PROPOSE and seconds > thresholds["raft_commit_p99_seconds"]:
            reasons.add("slow")
        if query_names.DB_QUERY_SUMMARY in tags and seconds > thresholds["query_p99_seconds"]:
            reasons.add("slow")
    return reasons


def _span_ids(trace: Trace) -> set[int]:
    return {int(span["spanID"], 16) for span in trace["spans"]}


def _services(trace: Trace) -> set[str]:
    return {span_service(trace, span) for span in trace["spans"]}


def run_traces(jaeger: Jaeger, run: ExampleRun, services: tuple[str, ...]) -> dict[str, Trace]:
    """The run's traces with spans from any of `services`, by trace id."""
    found: dict[str, Trace] = {}
    for service in services:
        for trace in run.traces(jaeger, service, lambda _: True, timeout=0):
            found[trace["traceID"]] = trace
    return found


@dataclass
class Comparison:
    truth: dict[str, Trace]
    kept: dict[str, Trace]

    def expected(self) -> set[str]:
        return {tid for tid, t in self.truth.items() if must_keep(t) or probabilistic_keeps(t)}

    def problems(self) -> list[str]:
        """Every way the sampled Jaeger differs from what the policy should have kept."""
        found = []
        for trace_id in sorted(self.expected()):
            true, kept = self.truth[trace_id], self.kept.get(trace_id)
            if kept is None:
                found.append(f"{trace_id} {sorted(must_keep(true)) or 'healthy'}: missing")
            elif _span_ids(kept) != _span_ids(true):
                found.append(f"{trace_id}: {len(_span_ids(kept))} of {len(true['spans'])} spans")
        extra = set(self.kept) - self.expected()
        found.extend(f"{trace_id}: kept, but no policy keeps it" for trace_id in sorted(extra))
        return found


def compare(tier: Tier, run: ExampleRun, services: tuple[str, ...]) -> Comparison:
    """The run's true traces against the sampled ones, once the sampled Jaeger holds every
    trace the policy keeps (or the deadline passed: the comparison then says what is off)."""
    tier.settle()
    truth = run_traces(tier.truth, run, services)
    assert truth, f"no traces of {services} reached the truth Jaeger"

    def current() -> Comparison:
        return Comparison(truth, run_traces(tier.kept, run, services))

    with contextlib.suppress(AssertionError):
        return poll(current, lambda c: not c.problems(), timeout=30,
                    what="sampled Jaeger holds what the policy keeps")  # fmt: skip
    return current()


def _gateways_of(trace: Trace) -> set[str]:
    return {str(span_tags(span).get(GATEWAY_ATTRIBUTE)) for span in trace["spans"]}


# --- the tests --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tier(
    otelcol: Path, jaeger: Jaeger, prometheus: Prometheus,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tier]:  # fmt: skip
    """The tier, with Jaegers of its own (the session's `jaeger` says one can be run)."""
    workdir = tmp_path_factory.mktemp("fleet")
    with fleet_tier(otelcol, jaeger.binary, prometheus, workdir) as started:
        yield started


@pytest.fixture(scope="module")
def raft_run(tier: Tier, tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    env = {"OBSKIT_EXAMPLE_OTLP_ENDPOINTS": tier.endpoints, "RAFT_EXAMPLE_WRITES": "300"}
    with ExampleRun("raft.py", tier.kept, tier.prometheus, tmp_path_factory.mktemp("raft"),
                    env=env) as run:  # fmt: skip
        assert run.wait_exit() == 0, run.output
    return run


@pytest.fixture(scope="module")
def query_run(tier: Tier, tmp_path_factory: pytest.TempPathFactory) -> ExampleRun:
    env = {"OBSKIT_EXAMPLE_OTLP_ENDPOINTS": tier.endpoints}
    with ExampleRun("query.py", tier.kept, tier.prometheus, tmp_path_factory.mktemp("query"),
                    "--workers", "2", env=env) as run:  # fmt: skip
        assert run.wait_exit() == 0, run.output
    return run


def test_processes_of_one_example_use_both_load_balancers(
    tier: Tier, raft_run: ExampleRun, query_run: ExampleRun
) -> None:
    for run in (raft_run, query_run):
        used = {process["otlp"] for process in run.processes()}
        assert used == {b.otlp_http_endpoint for b in tier.balancers}, run.processes()
    for balancer in tier.balancers:
        assert balancer.total("otelcol_receiver_accepted_spans_total") > 0, balancer.label


def test_raft_errors_elections_and_slow_writes_arrive_whole_healthy_at_the_ratio(
    tier: Tier, raft_run: ExampleRun
) -> None:
    comparison = compare(tier, raft_run, RAFT_NODES)
    assert not comparison.problems(), "\n".join(comparison.problems()[:20])
    elections = [t for t in comparison.truth.values() if "election" in must_keep(t)]
    won = [t for t in elections if any(
        span_tags(s).get(raft_names.ELECTION_OUTCOME) == raft_names.OUTCOME_WON
        for s in t["spans"])]  # fmt: skip
    assert len(won) >= 2, "the first election and the failover after the leader stopped"
    writes = [t for t in comparison.kept.values()
              if any(s["operationName"] == raft_names.SPAN_PROPOSE for s in t["spans"])]  # fmt: skip
    assert any(_services(t) == set(RAFT_NODES) for t in writes), "a write spans 3 processes"

    healthy = [t for t in comparison.truth.values() if not must_keep(t)]
    kept = [t for t in healthy if t["traceID"] in comparison.kept]
    n, p = len(healthy), RATIO
    bound = Z * math.sqrt(n * p * (1 - p))
    assert n >= 200, f"only {n} healthy traces: too few for the ratio to mean anything"
    assert abs(len(kept) - n * p) <= bound, f"kept {len(kept)} of {n}: {n * p:.0f} +- {bound:.0f}"


def test_query_traces_arrive_whole_from_coordinator_and_workers(
    tier: Tier, query_run: ExampleRun
) -> None:
    comparison = compare(tier, query_run, (COORDINATOR, WORKER))
    assert not comparison.problems(), "\n".join(comparison.problems()[:20])
    queries = [t for t in comparison.kept.values()
               if any(query_names.DB_QUERY_SUMMARY in span_tags(s) for s in t["spans"])]  # fmt: skip
    assert len(queries) == 5, "every query is slow (threshold 1 ms) or failed: all kept"
    assert sum(_services(t) == {COORDINATOR, WORKER} for t in queries) >= 4
    assert any("error" in must_keep(t) for t in queries), "the query on a missing table"


def test_no_trace_is_split_across_gateways(
    tier: Tier, raft_run: ExampleRun, query_run: ExampleRun
) -> None:
    traces = {
        **run_traces(tier.kept, raft_run, RAFT_NODES),
        **run_traces(tier.kept, query_run, (COORDINATOR, WORKER)),
    }
    split = {tid: _gateways_of(t) for tid, t in traces.items() if len(_gateways_of(t)) != 1}
    assert not split, split
    used = set().union(*(_gateways_of(t) for t in traces.values()))
    assert used == {g.label for g in tier.gateways}, "trace ids spread over both gateways"


#: Metrics a collector reports only once it happens (a full sending queue).
EVENT_ONLY = {"otelcol_exporter_enqueue_failed_spans_total"}


def _mine(rows: list[Any], job: str) -> list[float]:
    """The values of an instant query's rows that belong to Prometheus job `job`."""
    return [float(row["value"][1]) for row in rows if row["metric"].get("job") == job]


def test_collector_metrics_in_prometheus_and_the_tier_alerts_stay_quiet(
    tier: Tier, raft_run: ExampleRun, query_run: ExampleRun
) -> None:
    tier.settle()
    names = {series.partition("{")[0] for collector in (*tier.gateways, *tier.balancers)
             for series in collector.metrics()}  # fmt: skip
    missing = set(_collector_tier.COLLECTOR_METRICS) - EVENT_ONLY - names
    assert not missing, f"the tier's panels and alerts read metrics no collector has: {missing}"
    job = f'job="{tier.job}"'
    tier.prometheus.wait_for(
        f"count_over_time(otelcol_receiver_accepted_spans_total{{{job}}}[10m])",
        lambda rows: len(rows) == 4 and all(float(r["value"][1]) >= 2 for r in rows),
    )  # every collector scraped twice: rates exist
    for alert in _collector_tier.ALERTS:
        values = _mine(tier.prometheus.query(alert.signal), tier.job)
        assert all(v == 0 for v in values), f"{alert.name} on a healthy tier: {values}"
    empty = []  # every panel query has data (but those reading an event-only counter)
    for panel in _collector_tier.PANELS:
        for expr in panel.exprs:
            query = _promql.as_promql(expr, rate_interval="5m")  # Grafana's variables filled
            if _promql.metric_names(query) & EVENT_ONLY:
                continue
            if not tier.prometheus.query(query):
                empty.append(f"{panel.title}: {expr}")
    assert not empty, "panels with no data:\n" + "\n".join(empty)


def test_a_gateway_killed_mid_run_loses_only_its_share_and_the_loss_is_counted(
    otelcol: Path, jaeger: Jaeger, prometheus: Prometheus,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:  # fmt: skip
    workdir = tmp_path_factory.mktemp("fleet-kill")
    with fleet_tier(otelcol, jaeger.binary, prometheus, workdir, retry_seconds=0.5) as tier:
        survivor, victim = tier.gateways
        env = {"OBSKIT_EXAMPLE_OTLP_ENDPOINTS": tier.endpoints, "RAFT_EXAMPLE_WRITES": "600"}
        with ExampleRun("raft.py", tier.kept, tier.prometheus, workdir, env=env) as run:
            poll(lambda: victim.total("otelcol_receiver_accepted_spans_total"), lambda n: n > 50,
                 timeout=60, what="the victim gateway receives spans")  # fmt: skip
            before = _handed_over(tier, survivor)
            victim.kill()
            tier.killed.append(victim)
            killed_at = time.time()
            assert run.wait_exit() == 0, run.output
        tier.settle()
        after = _handed_over(tier, survivor)
        handed = after["sent"] + after["failed"] - before["sent"] - before["failed"]
        lost = handed - (after["survivor"] - before["survivor"])  # what the dead one was sent
        counted = after["failed"] - before["failed"]
        # The loss is the dead gateway's share (half of the trace ids, give or take), and
        # the balancers count it. They count more: a request with a part for the dead
        # gateway counts as failed whole, though its other part reached the survivor.
        assert 0.2 * handed < lost < 0.8 * handed, (lost, handed)
        assert counted >= lost, (counted, lost)
        assert sum(b.total("otelcol_loadbalancer_backend_outcome_total", success="false")
                   for b in tier.balancers) > 0  # fmt: skip
        # The survivor's traces arrive whole, those begun after the kill too.
        truth = run_traces(tier.truth, run, RAFT_NODES)
        survivors = [t for t in run_traces(tier.kept, run, RAFT_NODES).values()
                     if _gateways_of(t) == {survivor.label}]  # fmt: skip
        late = [t for t in survivors if min(s["startTime"] for s in t["spans"]) / 1e6 > killed_at]
        assert late, "traces begun after the kill still reach Jaeger through the survivor"
        for trace in survivors:
            assert _span_ids(trace) == _span_ids(truth[trace["traceID"]]), trace["traceID"]
        # Prometheus, scraping the balancers, sees the alert's signal rise.
        dropping = _collector_tier.ALERTS[0]
        tier.prometheus.wait_for(dropping.signal,
                                 lambda rows: any(v > 0 for v in _mine(rows, tier.job)))  # fmt: skip


def _handed_over(tier: Tier, survivor: Gateway) -> dict[str, float]:
    """Spans the balancers sent to a gateway or gave up on, and what the survivor got."""
    return {
        "sent": sum(b.total("otelcol_exporter_sent_spans_total", exporter="loadbalancing")
                    for b in tier.balancers),
        "failed": sum(b.total("otelcol_exporter_send_failed_spans_total",
                              exporter="loadbalancing") for b in tier.balancers),
        "survivor": survivor.total("otelcol_receiver_accepted_spans_total"),
    }  # fmt: skip


def test_the_hash_mirror_is_fnv_1a_64() -> None:
    """probabilistic_keeps hashes as Go's hash/fnv New64a does (published test vectors);
    the tests above then check it decision by decision against the gateways."""
    assert _fnv1a64(b"") == 0xCBF29CE484222325
    assert _fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert _fnv1a64(b"foobar") == 0x85944171F73967E8
