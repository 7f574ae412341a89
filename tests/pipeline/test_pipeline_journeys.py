"""Journeys: user spans inside steps, the one sampling rule, batch spans and their counts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace

import obskit
from obskit import pipeline
from obskit.pipeline import Record

PROCESS = "pipeline.process"


def _nested_step(pipe: pipeline.Pipeline, tracer: trace.Tracer, seen: list[object]):
    @pipe.processor("parse")
    def parse(line):
        seen.append(trace.get_current_span().get_span_context())
        with obskit.span("user.obskit"):
            pass
        with tracer.start_as_current_span("user.raw"):
            pass
        return line.upper()

    return parse


# --- part 6: user spans inside an unsampled step are unsampled too ----------------------
def test_user_spans_inside_unsampled_steps_make_no_root_traces(obskit_capture) -> None:
    quiet = pipeline.Pipeline("quiet", sample_ratio=0.0)
    seen: list[object] = []
    parse = _nested_step(quiet, obskit_capture.tracer_provider.get_tracer("user"), seen)

    @quiet.processor("again")
    def again(text):
        seen.append(trace.get_current_span().get_span_context())
        return text

    outputs = [again(parse(r)) for r in quiet.records(["a", "b", "c"])]
    assert [r.value for r in outputs] == ["A", "B", "C"]
    assert obskit_capture.spans == []  # before the fix: one root trace per user span
    assert all(ctx.is_valid and not ctx.trace_flags.sampled for ctx in seen)
    # Each record keeps one trace id through its steps; records differ.
    parse_ids = [ctx.trace_id for ctx in seen[0::2]]
    again_ids = [ctx.trace_id for ctx in seen[1::2]]
    assert parse_ids == again_ids
    assert len(set(parse_ids)) == 3
    assert not any(r.sampled for r in outputs)
    assert outputs[0].carrier()["traceparent"].endswith("-00")  # the next process agrees
    assert trace.get_current_span().get_span_context().is_valid is False  # nothing leaked


def test_user_spans_inside_sampled_step_are_children(obskit_capture) -> None:
    loud = pipeline.Pipeline("loud", sample_ratio=1.0)
    parse = _nested_step(loud, obskit_capture.tracer_provider.get_tracer("user"), [])
    (out,) = [parse(r) for r in loud.records(["a"])]
    assert out.sampled
    obskit_capture.assert_tree(
        """
        pipeline.process
          pipeline.process
            user.obskit
            user.raw
        """
    )
    step = obskit_capture.one(PROCESS, {"pipeline.processor": "parse"})
    for name in ("user.obskit", "user.raw"):
        assert obskit_capture.parent(obskit_capture.one(name)) is step


def test_user_spans_inside_unsampled_batch_and_from_carrier(obskit_capture) -> None:
    quiet = pipeline.Pipeline("quiet_batch", sample_ratio=0.0)

    @quiet.processor("write", batch=True)
    def write(values):
        with obskit.span("user.write"):
            return values

    outputs = write(list(quiet.records(range(5))))
    assert len(outputs) == 5
    assert not any(r.sampled for r in outputs)
    assert all(r.context is not None for r in outputs)  # the journeys go on, unsampled
    rebuilt = Record.from_carrier("x", {})
    assert rebuilt.context is not None
    assert not rebuilt.sampled

    @quiet.processor("use")
    def use(value):
        with obskit.span("user.use"):
            return value

    use(rebuilt)
    assert obskit_capture.spans == []


# --- part 7: the pipeline's own ratio decides its journeys ------------------------------
@pytest.fixture
def configured() -> Iterator[None]:
    yield
    obskit.shutdown(timeout=2)


def _journeys(global_ratio: float, pipeline_ratio: float | None) -> list[str]:
    telemetry = obskit.configure(
        service_name="ratio", exporters=["memory"], sample_ratio=global_ratio
    )
    pipe = pipeline.Pipeline(f"r{global_ratio}-{pipeline_ratio}", sample_ratio=pipeline_ratio)

    @pipe.processor("step")
    def step(value):
        return value

    @pipe.processor("write", batch=True, sink=True)
    def write(values):
        return None

    write([step(r) for r in pipe.records(range(20))])
    spans = telemetry.info["memory_spans"].get_finished_spans()
    return [str(s.attributes["pipeline.processor"]) for s in spans]


def test_pipeline_ratio_wins_over_a_zero_global_ratio(configured) -> None:
    names = _journeys(0.0, 1.0)
    assert names.count("source") == 20  # before: 0 (the two ratios multiplied)
    assert names.count("step") == 20
    assert names.count("write") == 1  # the batch holds sampled records: it has its span


def test_pipeline_ratio_zero_wins_over_a_full_global_ratio(configured) -> None:
    assert _journeys(1.0, 0.0) == []


def test_pipeline_without_ratio_follows_the_global_sampler(configured) -> None:
    assert _journeys(0.0, None) == []
    obskit.shutdown(timeout=2)
    names = _journeys(1.0, None)
    assert names.count("source") == 20
    assert names.count("step") == 20


def test_pipeline_ratio_none_is_accepted_and_shown() -> None:
    assert pipeline.Pipeline("follows", sample_ratio=None).sample_ratio is None
    assert pipeline.Pipeline("default").sample_ratio == pipeline.DEFAULT_SAMPLE_RATIO
    with pytest.raises(ValueError, match="sample_ratio"):
        pipeline.Pipeline("bad", sample_ratio=1.5)


# --- part 9: batch spans only for batches holding a sampled record; counts stay true ----
def test_batch_of_200_has_128_links_and_the_true_count(obskit_capture) -> None:
    bulk = pipeline.Pipeline("bulk200", sample_ratio=1.0)

    @bulk.processor("write", batch=True, sink=True)
    def write(values):
        return None

    write(list(bulk.records(range(200))))
    span = obskit_capture.one(PROCESS, {"pipeline.processor": "write"})
    assert len(span.links) == 128  # links beyond 128 are dropped
    assert span.attributes["pipeline.batch.record_count"] == 200  # the true size
    assert bulk.summary()["write"]["in"] == 200
    assert (
        obskit_capture.metric("pipeline.records.in", {"pipeline.processor": "write"}).value == 200
    )
    hist = obskit_capture.metric("pipeline.processing.duration", {"pipeline.processor": "write"})
    assert hist.count == 1  # one batch


def test_batch_without_sampled_record_has_no_span_but_counts(obskit_capture) -> None:
    bulk = pipeline.Pipeline("bulk_quiet", sample_ratio=0.0)

    @bulk.processor("write", batch=True, sink=True)
    def write(values):
        return None

    write(list(bulk.records(range(200))))
    (sampled,) = pipeline.Pipeline("one", sample_ratio=1.0).records([5])
    write([*bulk.records(range(199)), sampled])
    batch_spans = obskit_capture.find(PROCESS, {"pipeline.processor": "write"})
    assert len(batch_spans) == 1  # only the second batch holds a sampled record
    (span,) = batch_spans
    assert len(span.links) == 1
    assert span.attributes["pipeline.batch.record_count"] == 200
    assert (
        obskit_capture.metric("pipeline.records.in", {"pipeline.processor": "write"}).value == 400
    )
