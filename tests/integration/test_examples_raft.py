"""examples/raft.py end to end: three node processes, one trace per write across all three
services in Jaeger, and the Raft catalogue's metrics in Prometheus."""

from __future__ import annotations

from typing import Any

import pytest
from _backends import Jaeger, Prometheus, Span, Trace, span_parent_id, span_service, span_tags
from _examples import ExampleRun, check_catalogue_metrics

from obskit import raft
from obskit.raft import _names as names

NODES = ("raft-node-1", "raft-node-2", "raft-node-3")
WRITES = "40"  # RAFT_EXAMPLE_WRITES: small, the shape is what matters
#: Instruments any run exercises: an election, a failover, writes through two leaders.
EXERCISED = {
    "raft.term", "raft.node.role", "raft.leader.present", "raft.node.is_leader",
    "raft.log.commit_index", "raft.log.applied_index", "raft.leader.changes", "raft.elections",
    "raft.proposals.committed", "raft.proposals.applied", "raft.commit.duration",
    "rpc.client.call.duration", "rpc.server.call.duration",
    "raft.log.append.duration", "raft.log.sync.duration", "raft.replication.lag",
    "raft.failover.duration",
}  # fmt: skip


@pytest.fixture(scope="module")
def raft_run(
    jaeger: Jaeger, prometheus: Prometheus, tmp_path_factory: pytest.TempPathFactory
) -> ExampleRun:
    workdir = tmp_path_factory.mktemp("raft")
    with ExampleRun("raft.py", jaeger, prometheus, workdir,
                    env={"RAFT_EXAMPLE_WRITES": WRITES}) as run:  # fmt: skip
        assert run.wait_exit() == 0, run.output
    return run


def _kind(span: Span) -> str:
    return str(span_tags(span).get("span.kind", "internal"))


def _run_traces(run: ExampleRun, jaeger: Jaeger, predicate: Any) -> list[Trace]:
    """The run's traces from all three services, each once."""
    found: dict[str, Trace] = {}

    def every_service(_: list[Trace]) -> bool:
        for service in NODES:
            for trace in run.traces(jaeger, service, lambda t: True, timeout=0):
                found[trace["traceID"]] = trace
        return predicate(list(found.values()))

    run.traces(jaeger, NODES[0], every_service)
    return list(found.values())


def _services(trace: Trace) -> set[str]:
    return {span_service(trace, span) for span in trace["spans"]}


def _assert_servers_are_children_of_clients(trace: Trace) -> int:
    spans = {span["spanID"]: span for span in trace["spans"]}
    servers = [span for span in trace["spans"] if _kind(span) == "server"]
    for server in servers:
        client = spans.get(span_parent_id(server) or "")
        assert client is not None, f"{server['operationName']}: parent not in the trace"
        assert _kind(client) == "client", client["operationName"]
        assert client["operationName"] == server["operationName"]
        assert span_service(trace, client) != span_service(trace, server)
        assert span_tags(client)[names.PEER_ID] == span_tags(server)[names.NODE_ID]
    return len(servers)


def test_a_write_is_one_trace_across_three_services(raft_run: ExampleRun, jaeger: Jaeger) -> None:
    def has_write(traces: list[Trace]) -> bool:
        return any(_services(t) == set(NODES) and any(
            s["operationName"] == names.SPAN_PROPOSE for s in t["spans"]) for t in traces)  # fmt: skip

    traces = _run_traces(raft_run, jaeger, has_write)
    writes = [t for t in traces if _services(t) == set(NODES)
              and any(s["operationName"] == names.SPAN_PROPOSE for s in t["spans"])]  # fmt: skip
    trace = writes[0]
    (propose,) = [s for s in trace["spans"] if s["operationName"] == names.SPAN_PROPOSE]
    assert span_parent_id(propose) is None, "raft.propose is the root of a write"
    append = f"{names.RPC_SERVICE_NAME}/{names.APPEND_ENTRIES}"
    assert {s["operationName"] for s in trace["spans"]} >= {names.SPAN_PROPOSE, append}
    assert _assert_servers_are_children_of_clients(trace) >= 1
    for other in traces:  # every trace of the run keeps the client/server shape
        _assert_servers_are_children_of_clients(other)


def test_log_append_and_fsync_spans_sit_in_the_write_trace(
    raft_run: ExampleRun, jaeger: Jaeger
) -> None:
    def with_sync(traces: list[Trace]) -> list[Trace]:
        return [t for t in traces if _services(t) == set(NODES) and any(
            s["operationName"] == names.SPAN_LOG_SYNC for s in t["spans"])]  # fmt: skip

    trace = with_sync(_run_traces(raft_run, jaeger, with_sync))[0]
    spans = {span["spanID"]: span for span in trace["spans"]}
    appends = [s for s in trace["spans"] if s["operationName"] == names.SPAN_LOG_APPEND]
    assert {span_service(trace, s) for s in appends} == set(NODES), "leader and followers"
    for sync in (s for s in trace["spans"] if s["operationName"] == names.SPAN_LOG_SYNC):
        parent = spans[span_parent_id(sync) or ""]
        assert parent["operationName"] == names.SPAN_LOG_APPEND
    for append in appends:
        parent = spans[span_parent_id(append) or ""]["operationName"]
        assert parent in (names.SPAN_PROPOSE, f"{names.RPC_SERVICE_NAME}/{names.APPEND_ENTRIES}")


def test_elections_are_traced_with_request_votes(raft_run: ExampleRun, jaeger: Jaeger) -> None:
    vote = f"{names.RPC_SERVICE_NAME}/{names.REQUEST_VOTE}"

    def elections(traces: list[Trace]) -> list[Trace]:
        return [t for t in traces if any(
            s["operationName"] == names.SPAN_ELECTION and span_tags(s).get(names.ELECTION_OUTCOME)
            == names.OUTCOME_WON for s in t["spans"])]  # fmt: skip

    traces = _run_traces(raft_run, jaeger, lambda found: len(elections(found)) >= 2)
    won = elections(traces)
    assert len(won) >= 2, "the first election and the one after the leader stopped"
    for trace in won:
        assert any(s["operationName"] == vote and _kind(s) == "server" for s in trace["spans"])
        assert _assert_servers_are_children_of_clients(trace) >= 1


def test_raft_metrics_in_prometheus_under_catalogue_names(
    raft_run: ExampleRun, prometheus: Prometheus
) -> None:
    exercised = check_catalogue_metrics(prometheus, raft_run.job, raft.CATALOGUE)
    assert exercised >= EXERCISED, sorted(EXERCISED - exercised)
    job = f'job="{raft_run.job}"'
    changes = prometheus.query(f"sum(last_over_time(raft_leader_changes_total{{{job}}}[10m]))")
    assert float(changes[0]["value"][1]) >= 2  # nodes saw the first leader and the next one
    committed = prometheus.query(
        f"sum(last_over_time(raft_proposals_committed_total{{{job}}}[10m]))"
    )
    assert float(committed[0]["value"][1]) == int(WRITES) + 50  # WRITES_AFTER_FAILOVER
    nodes = prometheus.query(f"count by (raft_node_id) (last_over_time(raft_term{{{job}}}[10m]))")
    assert {s["metric"]["raft_node_id"] for s in nodes} == {"1", "2", "3"}
    failovers = prometheus.query(
        f"sum(last_over_time(raft_failover_duration_seconds_count{{{job}}}[10m]))"
    )
    assert float(failovers[0]["value"][1]) >= 2  # both survivors saw the leader go
    lag = prometheus.query(f"count(last_over_time(raft_replication_lag{{{job}}}[10m]))")
    assert float(lag[0]["value"][1]) >= 2  # per follower, from each leader
