"""examples/raft.py run for real: 3 node processes over TCP, traces gathered over OTLP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.trace import SpanKind

from obskit.testing._query import service_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "raft.py"
APPEND = "raft.Raft/AppendEntries"
NODES = {"raft-node-1", "raft-node-2", "raft-node-3"}
_USER_CHOICES = ("OBSKIT_", "OTEL_")

pytestmark = pytest.mark.slow


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, str(EXAMPLE)], env=env, cwd=ROOT, text=True,
                            capture_output=True, timeout=90)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for pid in re.findall(r"started node \d: pid (\d+)", result.stdout):
        with pytest.raises(ProcessLookupError):  # every node process is gone: no orphans
            os.kill(int(pid), 0)
    return result


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_USER_CHOICES)}


def test_console_run_elects_replicates_and_fails_over() -> None:
    result = _run({**_clean_env(), "RAFT_EXAMPLE_WRITES": "100"})
    out = result.stdout
    assert "leader elected: node" in out
    assert "new leader elected: node" in out
    assert "both survivors applied all 150 writes" in out
    assert len(re.findall(r"started node \d: pid \d+", out)) == 3
    assert "raft.proposals.committed{raft.node.id=" in out  # each node's metric summary


def test_one_trace_per_write_spans_all_three_nodes(obskit_collector) -> None:
    _run({**_clean_env(), **obskit_collector.env, "RAFT_EXAMPLE_WRITES": "40"})
    proposals = obskit_collector.wait_for("raft.propose", count=45, timeout=30)
    obskit_collector.wait_for(APPEND, count=80, timeout=30)
    spans = obskit_collector.spans
    by_id = {s.context.span_id: s for s in spans}
    first_leader = service_of(proposals[0])
    whole = 0
    for proposal in proposals:
        trace = [s for s in spans if s.context.trace_id == proposal.context.trace_id]
        servers = [s for s in trace if s.kind is SpanKind.SERVER and s.name == APPEND]
        for server in servers:  # each follower span is the child of the leader's CLIENT span
            client = by_id[server.parent.span_id]
            assert client.kind is SpanKind.CLIENT
            assert client.name == APPEND
            assert service_of(client) == service_of(proposal) != service_of(server)
            assert client.attributes["raft.peer.id"] == server.attributes["raft.node.id"]
            assert by_id[client.parent.span_id] is proposal
        if {service_of(s) for s in trace} == NODES:
            whole += 1
    assert whole >= 40  # every write before the failover crossed all three services
    assert {service_of(p) for p in proposals} - {first_leader}  # a new leader after failover
    won = [p for p in obskit_collector.metrics("raft.elections")
           if p.attributes["raft.election.outcome"] == "won"]  # fmt: skip
    assert sum(p.value for p in won) >= 2


def test_report_option_gives_leader_cpu_and_writes_without_failover() -> None:
    """RAFT_EXAMPLE_REPORT / RAFT_EXAMPLE_FAILOVER, as benchmarks/bench_raft.py runs it."""
    env = {**_clean_env(), "RAFT_EXAMPLE_WRITES": "60", "RAFT_EXAMPLE_FAILOVER": "0",
           "RAFT_EXAMPLE_REPORT": "1", "OBSKIT_EXPORTERS": "memory"}  # fmt: skip
    out = _run(env).stdout
    assert "all three nodes applied all 60 writes" in out
    assert "stopping the leader" not in out
    assert "raft_node_report" not in out  # collected by the example, not relayed
    last = out.strip().splitlines()[-1]
    report = json.loads(last)["raft_example_report"]
    assert report["writes"] == 60
    assert sorted(report["nodes"]) == ["1", "2", "3"]
    leader = report["nodes"][report["first_leader"]]
    assert leader["leader_writes"] == 60
    assert 0 < leader["write_cpu_seconds"] <= leader["cpu_seconds"]
    for node_id, node in report["nodes"].items():
        if node_id != report["first_leader"]:
            assert node["leader_writes"] == 0
            assert node["write_cpu_seconds"] == 0


def test_report_is_off_by_default() -> None:
    out = _run({**_clean_env(), "RAFT_EXAMPLE_WRITES": "20", "OBSKIT_EXPORTERS": "memory"}).stdout
    assert "both survivors applied all 70 writes" in out
    assert "raft_example_report" not in out
    assert "raft_node_report" not in out
