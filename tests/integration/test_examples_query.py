"""examples/query.py end to end: each query one trace in Jaeger, shaped
query > phase > fragment with the fragments from the worker processes, and the query
catalogue's metrics in Prometheus."""

from __future__ import annotations

import pytest
from _backends import Jaeger, Prometheus, Span, Trace, span_parent_id, span_service, span_tags
from _examples import ExampleRun, check_catalogue_metrics

from obskit import query
from obskit.query import _names as names

COORDINATOR, WORKER = "minidb-coordinator", "minidb-worker"  # query.py's service names
WORKERS = 3
QUERIES, FAILING = 5, 1  # query.py runs five queries; one names a table that does not exist
EXERCISED = {
    names.DURATION, names.PHASE_DURATION, names.ACTIVE, names.ERRORS, names.FRAGMENT_DURATION,
    names.CACHE_LOOKUPS, names.COST_REDUCTION_METRIC, names.RETURNED_ROWS,
    names.WORKER_FRAGMENT_DURATION, names.WORKER_ROWS_READ,
}  # fmt: skip
EXECUTE = f"{names.PHASE_PREFIX}execute"


@pytest.fixture(scope="module")
def query_run(
    jaeger: Jaeger, prometheus: Prometheus, tmp_path_factory: pytest.TempPathFactory
) -> ExampleRun:
    workdir = tmp_path_factory.mktemp("query")
    with ExampleRun("query.py", jaeger, prometheus, workdir, "--workers", str(WORKERS)) as run:
        assert run.wait_exit() == 0, run.output
    return run


def _root(trace: Trace) -> Span:
    (root,) = [span for span in trace["spans"] if span_parent_id(span) is None]
    return root


def _process_tags(trace: Trace, span: Span) -> dict[str, object]:
    tags = trace["processes"][span["processID"]].get("tags") or []
    return {tag["key"]: tag["value"] for tag in tags}


def test_processes_are_one_coordinator_and_the_workers(query_run: ExampleRun) -> None:
    services = sorted(p["service"] for p in query_run.processes())
    assert services == [COORDINATOR, *[WORKER] * WORKERS]
    assert len({p["pid"] for p in query_run.processes()}) == WORKERS + 1


def test_each_query_is_query_phase_fragment_across_processes(
    query_run: ExampleRun, jaeger: Jaeger
) -> None:
    def complete(traces: list[Trace]) -> bool:
        with_fragments = [t for t in traces if sum(
            s["operationName"] == names.FRAGMENT_SPAN for s in t["spans"]) == WORKERS]  # fmt: skip
        return len(traces) == QUERIES and len(with_fragments) == QUERIES - FAILING

    traces = query_run.traces(jaeger, COORDINATOR, complete)
    failed = [t for t in traces if span_tags(_root(t)).get("error") is True]
    assert len(failed) == FAILING
    assert span_tags(_root(failed[0])).get("error.type")
    for trace in (t for t in traces if t not in failed):
        root = _root(trace)
        assert span_service(trace, root) == COORDINATOR
        spans = {span["spanID"]: span for span in trace["spans"]}
        phases = [s for s in trace["spans"] if span_parent_id(s) == root["spanID"]]
        assert {s["operationName"] for s in phases} >= {EXECUTE, f"{names.PHASE_PREFIX}aggregate"}
        assert all(s["operationName"].startswith(names.PHASE_PREFIX) for s in phases)
        fragments = [s for s in trace["spans"] if s["operationName"] == names.FRAGMENT_SPAN]
        for fragment in fragments:
            parent = spans[span_parent_id(fragment) or ""]
            assert parent["operationName"] == EXECUTE, "query > phase > fragment"
            assert span_parent_id(parent) == root["spanID"]
            assert span_service(trace, fragment) == WORKER
        workers = {_process_tags(trace, f).get("worker.index") for f in fragments}
        assert workers == set(range(WORKERS)), "one fragment from each worker process"


def test_query_metrics_in_prometheus_under_catalogue_names(
    query_run: ExampleRun, prometheus: Prometheus
) -> None:
    exercised = check_catalogue_metrics(prometheus, query_run.job, query.CATALOGUE)
    assert exercised >= EXERCISED, sorted(EXERCISED - exercised)
    job = f'job="{query_run.job}"'
    errors = prometheus.query(f"sum(last_over_time(query_errors_total{{{job}}}[10m]))")
    assert float(errors[0]["value"][1]) == FAILING
    count = prometheus.query(f"sum(last_over_time(query_duration_seconds_count{{{job}}}[10m]))")
    assert float(count[0]["value"][1]) == QUERIES
    fragments = prometheus.query(
        f"sum by (instance) (last_over_time(query_fragment_duration_seconds_count{{{job}}}[10m]))"
    )
    assert len(fragments) == WORKERS, "fragment metrics come from every worker process"
    per_worker = prometheus.query(f"sum by (query_worker_id) (last_over_time("
                                  f"query_worker_fragment_duration_seconds_count{{{job}}}[10m]))")  # fmt: skip
    counts = {s["metric"]["query_worker_id"]: float(s["value"][1]) for s in per_worker}
    assert len(counts) == WORKERS, counts  # one series per worker id
    assert sum(counts.values()) == float(
        prometheus.query(
            f"sum(last_over_time(query_fragment_duration_seconds_count{{{job}}}[10m]))"
        )[0]["value"][1]
    )
    rows = prometheus.query(f"sum by (query_worker_id) (last_over_time("
                            f"query_worker_rows_read_total{{{job}}}[10m]))")  # fmt: skip
    assert {s["metric"]["query_worker_id"] for s in rows} == set(counts)
