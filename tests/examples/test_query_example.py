"""examples/query.py: one trace per query across the coordinator and its worker processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
QUERIES_OK = 4  # examples/query.py runs 5 queries; the last one fails on purpose
WORKERS = 3


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBSKIT_"))}
    env.update(extra)
    return env


def run_example(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "examples/query.py"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_query_example_prints_one_trace_per_query_across_processes() -> None:
    out = run_example(clean_env()).stdout
    coordinator = set(re.findall(r"^trace ([0-9a-f]{32})  service=minidb-coordinator$", out, re.M))
    workers = re.findall(r"^trace ([0-9a-f]{32})  service=minidb-worker$", out, re.M)
    assert len(coordinator) == QUERIES_OK + 1
    assert len(workers) == QUERIES_OK * WORKERS
    assert set(workers) <= coordinator  # every fragment printed under its query's trace id
    assert "-> error: no table 'payments'" in out
    assert "query.duration{" in out
    assert "query.fragment.duration{" in out


def test_query_example_exports_over_otlp(obskit_collector) -> None:
    run_example(clean_env(**obskit_collector.env))
    fragments = obskit_collector.wait_for("query.fragment", count=QUERIES_OK * WORKERS, timeout=30)
    executes = obskit_collector.wait_for("query.execute", count=QUERIES_OK, timeout=30)
    by_id = {span.context.span_id: span for span in executes}
    for fragment in fragments:
        parent = by_id[fragment.parent.span_id]  # the coordinator's execute phase
        assert fragment.context.trace_id == parent.context.trace_id
        assert fragment.resource.attributes["service.name"] == "minidb-worker"
        assert parent.resource.attributes["service.name"] == "minidb-coordinator"
    assert len({f.context.trace_id for f in fragments}) == QUERIES_OK
    failed = obskit_collector.one("SELECT payments")
    assert failed.attributes["error.type"] == "_minidb.sql.QueryError"
    # The workers flushed their metrics at shutdown, before the example exited. Each one
    # scanned its third of users (3,000 rows) three times and of orders (12,000) once.
    points = obskit_collector.metrics("query.rows.read")
    assert [p.service for p in points] == ["minidb-worker"] * WORKERS
    assert sum(p.value for p in points) == 3 * 3000 + 12000
