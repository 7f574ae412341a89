"""examples/pipeline.py end to end: sampled record journeys and batch links in Jaeger, the
pipeline catalogue's record counts in Prometheus (balanced per processor)."""

from __future__ import annotations

import re

import pytest
from _backends import Jaeger, Prometheus, Span, Trace, span_parent_id, span_tags
from _examples import ExampleRun, check_catalogue_metrics

from obskit import pipeline
from obskit.pipeline import _names as names

SERVICE = "log-pipeline"  # pipeline.py's service name
LINES = 5000
FILTERS = {"error_filter", "warn_filter", "info_filter"}
EXERCISED = {names.M_IN, names.M_OUT, names.M_DROPPED, names.M_ERRORS, names.M_DURATION,
             names.M_QUEUE_SIZE, names.M_QUEUE_CAPACITY, names.M_RECORD_AGE}  # fmt: skip


@pytest.fixture(scope="module")
def pipeline_run(
    jaeger: Jaeger, prometheus: Prometheus, tmp_path_factory: pytest.TempPathFactory
) -> ExampleRun:
    workdir = tmp_path_factory.mktemp("pipeline")
    env = {"PIPELINE_EXAMPLE_LINES": str(LINES), "PIPELINE_SAMPLE_RATIO": "0.01"}
    with ExampleRun("pipeline.py", jaeger, prometheus, workdir, env=env) as run:
        assert run.wait_exit() == 0, run.output
    return run


def _processor(span: Span) -> str:
    return str(span_tags(span).get(names.PROCESSOR))


def _journeys(traces: list[Trace]) -> list[Trace]:
    """Traces of one sampled record: reader at the root, the counters step reached."""
    return [t for t in traces if {_processor(s) for s in t["spans"]} >= {"reader", "parse",
                                                                           "counters"}]  # fmt: skip


def test_sampled_records_are_traced_through_the_dag(
    pipeline_run: ExampleRun, jaeger: Jaeger
) -> None:
    traces = pipeline_run.traces(jaeger, SERVICE, lambda found: len(_journeys(found)) >= 5)
    for trace in _journeys(traces):
        spans = {s["spanID"]: s for s in trace["spans"]}
        assert all(s["operationName"] == names.SPAN_PROCESS for s in trace["spans"])
        by_step = {_processor(s): s for s in trace["spans"]}
        assert span_parent_id(by_step["reader"]) is None
        assert span_parent_id(by_step["parse"]) == by_step["reader"]["spanID"]
        assert set(by_step) >= FILTERS, "parse fans out to every filter"
        for step in FILTERS:
            assert span_parent_id(by_step[step]) == by_step["parse"]["spanID"]
        counters_parent = spans[span_parent_id(by_step["counters"]) or ""]
        assert _processor(counters_parent) in FILTERS

    journey_spans = {s["spanID"] for t in _journeys(traces) for s in t["spans"]}
    batches = [s for t in traces for s in t["spans"] if _processor(s) == "sink"
               and span_tags(s).get(names.BATCH_COUNT)]  # fmt: skip
    assert batches, "the sink's batch spans"
    links = [
        r for s in batches for r in s.get("references") or [] if r["refType"] == "FOLLOWS_FROM"
    ]
    assert links, "a batch links to the records it holds"
    assert {r["spanID"] for r in links} & journey_spans, "links point at sampled journeys"


def test_pipeline_metrics_in_prometheus_balance(
    pipeline_run: ExampleRun, prometheus: Prometheus
) -> None:
    exercised = check_catalogue_metrics(prometheus, pipeline_run.job, pipeline.CATALOGUE)
    assert exercised >= EXERCISED, sorted(EXERCISED - exercised)

    def per_processor(metric: str) -> dict[str, float]:
        found = prometheus.query(f'sum by (pipeline_processor) (last_over_time('
                                 f'{metric}{{job="{pipeline_run.job}"}}[10m]))')  # fmt: skip
        return {s["metric"]["pipeline_processor"]: float(s["value"][1]) for s in found}

    records_in, out = (
        per_processor("pipeline_records_in_total"),
        per_processor("pipeline_records_out_total"),
    )
    dropped = per_processor("pipeline_records_dropped_total")
    errors = per_processor("pipeline_records_errors_total")
    assert records_in["reader"] == LINES
    dead_letters = int(re.search(r"dead letters: (\d+)", pipeline_run.output)[1])  # type: ignore[index]
    assert errors.get("parse", 0) == dead_letters > 0
    for processor, count in records_in.items():
        balance = out.get(processor, 0) + dropped.get(processor, 0) + errors.get(processor, 0)
        assert count == balance, f"{processor}: in {count} != out + dropped + errors {balance}"


def test_record_age_per_processor_and_recent_errors(
    pipeline_run: ExampleRun, prometheus: Prometheus
) -> None:
    job = f'job="{pipeline_run.job}"'
    ages = prometheus.query(f"sum by (pipeline_processor) (last_over_time("
                            f"pipeline_record_age_seconds_count{{{job}}}[10m]))")  # fmt: skip
    counted = {s["metric"]["pipeline_processor"]: float(s["value"][1]) for s in ages}
    assert counted["parse"] == LINES  # every record read is aged at parse
    assert set(counted) >= {"parse", "counters", "sink", *FILTERS}
    # The example prints the last parse error kept in memory, sanitised (no line content).
    kept = re.search(r"recent parse errors: (\d+) kept, last: ValueError: unknown level \?\n",
                     pipeline_run.output)  # fmt: skip
    assert kept is not None, pipeline_run.output
    assert 0 < int(kept[1]) <= 20
