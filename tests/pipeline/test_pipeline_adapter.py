"""Running obskit processors inside a DAG library: `carry()`, predicates, fan-out policy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from _minidag import Stream
from opentelemetry import trace

import obskit
from obskit import pipeline

PROCESS = "pipeline.process"
LINES = ["ERROR disk full", "INFO started", "garbage", "ERROR net down"]


def _log_dag(logs: pipeline.Pipeline, user_spans: bool = False):
    """source > parse (flat-map: [] drops) > is_error (library filter) > upper (undecorated) > sink."""
    seen: list[type] = []
    written: list[str] = []

    @logs.processor("parse", fan_out=True)
    def parse(line):
        level, text = line.split(" ", 1)  # "garbage" raises: counted, skipped (policy)
        return [{"level": level, "text": text}]

    @logs.processor("is_error", predicate=True)
    def is_error(entry):
        seen.append(type(entry))
        return entry["level"] == "ERROR"

    def upper(entry):  # not decorated: must not end the journey
        if user_spans:
            with obskit.span("user.upper"):
                pass
        return entry["text"].upper()

    @logs.processor("sink", sink=True)
    def sink(text):
        written.append(text)

    source = Stream()
    source.flat_map(parse).filter(is_error).map(upper).sink(sink)
    return source, seen, written


def _counts(logs: pipeline.Pipeline) -> dict[str, tuple[float, ...]]:
    return {name: (t["in"], t["out"], t["dropped"], t["errors"])
            for name, t in logs.summary().items()}  # fmt: skip


def test_carry_runs_processors_on_plain_values_in_one_journey(obskit_capture) -> None:
    logs = pipeline.Pipeline("dag", sample_ratio=1.0, on_error="skip")
    source, seen, written = _log_dag(logs)
    for record in logs.records(LINES):
        with pipeline.carry(record):
            source.emit(record.value)
    assert written == ["DISK FULL", "NET DOWN"]
    assert seen == [dict, dict, dict]  # the library's filter saw plain values
    assert _counts(logs) == {"source": (4, 4, 0, 0), "parse": (4, 3, 0, 1),
                             "is_error": (3, 2, 1, 0), "sink": (2, 2, 0, 0)}  # fmt: skip
    # One trace per record; every step is a child of the record's journey (its source
    # span), including the sink after the undecorated node.
    assert len(obskit_capture.trace_ids()) == 4
    sinks = obskit_capture.find(PROCESS, {"pipeline.processor": "sink"})
    assert len(sinks) == 2
    for span in [*sinks, *obskit_capture.find(PROCESS, {"pipeline.processor": "is_error"})]:
        parent = obskit_capture.parent(span)
        assert parent.attributes["pipeline.processor"] == "source"
    dropped = obskit_capture.one(PROCESS, {"pipeline.processor": "is_error",
                                           "pipeline.record.outcome": "drop"})  # fmt: skip
    assert dropped.attributes["pipeline.name"] == "dag"
    failed = obskit_capture.one(PROCESS, {"pipeline.record.outcome": "error"})
    assert failed.attributes["error.type"] == "ValueError"


def test_carry_unsampled_journey_makes_no_spans_even_in_undecorated_nodes(obskit_capture) -> None:
    logs = pipeline.Pipeline("dag_quiet", sample_ratio=0.0, on_error="skip")
    source, _, written = _log_dag(logs, user_spans=True)
    for record in logs.records(LINES * 10):
        with pipeline.carry(record):
            source.emit(record.value)
    assert len(written) == 20
    assert obskit_capture.spans == []  # no root trace from user.upper
    assert _counts(logs)["is_error"] == (30, 20, 10, 0)
    assert not trace.get_current_span().get_span_context().is_valid  # carry restored it


def test_carry_user_span_in_undecorated_node_joins_sampled_journey(obskit_capture) -> None:
    logs = pipeline.Pipeline("dag_user", sample_ratio=1.0, on_error="skip")
    source, _, _ = _log_dag(logs, user_spans=True)
    (record,) = logs.records(["ERROR x"])
    with logs.carry(record):
        source.emit(record.value)
    user = obskit_capture.one("user.upper")
    assert obskit_capture.parent(user).attributes["pipeline.processor"] == "source"


def test_predicate_counts_and_returns_bools(obskit_capture) -> None:
    nums = pipeline.Pipeline("preds", on_error="skip")

    @nums.processor("positive", predicate=True)
    def positive(value):
        return value > 0

    assert [positive(v) for v in (1, -1, 2, "x")] == [True, False, True, False]
    assert _counts(nums)["positive"] == (4, 2, 1, 1)
    (record,) = nums.records([3])
    assert positive(record) is True  # a bool for records too: it is a library's filter
    with pytest.raises(ValueError, match="predicate"):
        nums.processor("bad", predicate=True, fan_out=True)


def _fan_out(policy: str) -> tuple[pipeline.Pipeline, list[int]]:
    """source > [validate (fails on every 4th record), count]: two sibling branches."""
    pipe = pipeline.Pipeline(f"fan_{policy}", sample_ratio=0.0, on_error=policy)
    counted: list[int] = []

    @pipe.processor("validate", predicate=True)
    def validate(value):
        if value % 4 == 0:
            raise ValueError(value)
        return True

    @pipe.processor("count", sink=True)
    def count(value):
        counted.append(value)

    source = Stream()
    source.filter(validate)  # the first branch
    source.sink(count)  # its sibling
    for record in pipe.records(range(100)):
        with pipeline.carry(record):
            try:
                source.emit(record.value)
            except ValueError:
                pass  # what a driver loop does to keep going
    return pipe, counted


def test_fan_out_with_raise_policy_loses_sibling_records(obskit_capture) -> None:
    pipe, counted = _fan_out("raise")
    assert len(counted) == 75  # the exception left emit(): the sibling never saw 25
    assert _counts(pipe)["validate"] == (100, 75, 0, 25)


@pytest.mark.parametrize("policy", ["skip", "dead_letter"])
def test_fan_out_with_skip_policy_keeps_counts_exact(obskit_capture, policy: str) -> None:
    pipe, counted = _fan_out(policy)
    assert len(counted) == 100  # the sibling branch sees every record
    assert _counts(pipe)["validate"] == (100, 75, 0, 25)
    assert _counts(pipe)["count"] == (100, 100, 0, 0)
    errors = obskit_capture.metric("pipeline.records.errors", {"pipeline.processor": "validate"})
    assert errors.value == 25


# --- a real stream library: reactivex (test-only dependency) -----------------------------
def test_reactivex_dag_with_carry(obskit_capture) -> None:
    rx_ops = pytest.importorskip("reactivex.operators", reason="reactivex is in the dev extra")
    from reactivex.subject import Subject

    logs = pipeline.Pipeline("rx", sample_ratio=1.0, on_error="skip")

    @logs.processor("parse", fan_out=True)
    def parse(line):
        level, text = line.split(" ", 1)
        return [{"level": level, "text": text}]

    @logs.processor("is_error", predicate=True)
    def is_error(entry):
        assert isinstance(entry, dict)  # a plain value, not a Record
        return entry["level"] == "ERROR"

    written: list[str] = []
    counted: list[str] = []

    @logs.processor("sink", sink=True)
    def sink(text):
        written.append(text)

    lines = Subject()
    lines.pipe(rx_ops.flat_map(parse), rx_ops.filter(is_error),
               rx_ops.map(lambda entry: entry["text"].upper())).subscribe(sink)  # fmt: skip
    lines.subscribe(counted.append)  # a sibling branch
    for record in logs.records(LINES * 25):
        with pipeline.carry(record):
            lines.on_next(record.value)
    assert len(written) == 50
    assert len(counted) == 100
    assert _counts(logs) == {"source": (100, 100, 0, 0), "parse": (100, 75, 0, 25),
                             "is_error": (75, 50, 25, 0), "sink": (50, 50, 0, 0)}  # fmt: skip
    assert len(obskit_capture.trace_ids()) == 100
    for span in obskit_capture.find(PROCESS, {"pipeline.processor": "sink"}):
        assert obskit_capture.parent(span).attributes["pipeline.processor"] == "source"


def test_reactivex_raise_policy_ends_the_branch(obskit_capture) -> None:
    rx_ops = pytest.importorskip("reactivex.operators", reason="reactivex is in the dev extra")
    from reactivex.subject import Subject

    pipe = pipeline.Pipeline("rx_raise", sample_ratio=0.0)  # on_error="raise" (default)

    @pipe.processor("parse")
    def parse(line):
        return line.split(" ", 1)[1]

    parsed: list[str] = []
    errors: list[BaseException] = []
    lines = Subject()
    lines.pipe(rx_ops.map(parse)).subscribe(parsed.append, errors.append)
    for record in pipe.records(LINES * 25):
        with pipeline.carry(record):
            lines.on_next(record.value)
    # reactivex turns the exception into on_error and ends the branch for good.
    assert len(errors) == 1
    assert parsed == ["disk full", "started"]
    assert _counts(pipe)["parse"] == (3, 2, 0, 1)


# --- the docs' worked example runs ---------------------------------------------------------
def test_docs_adapter_example_runs() -> None:
    pytest.importorskip("reactivex", reason="reactivex is in the dev extra")
    import subprocess
    import sys

    doc = (Path(__file__).resolve().parents[2] / "docs" / "pipeline.md").read_text()
    section = doc.split("## Instrumenting an existing library", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, flags=re.S | re.M)
    assert blocks, "the section has a runnable example"
    for code in blocks:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                timeout=60)  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "balanced" in result.stdout, result.stdout


# --- asyncio mode: tasks created inside carry() inherit the journey ---------------------
@pytest.mark.parametrize("ratio", [0.0, 1.0])
def test_carry_reaches_async_processors_and_tasks(obskit_capture, ratio: float) -> None:
    import asyncio

    pipe = pipeline.Pipeline(f"async_{ratio}", sample_ratio=ratio)

    @pipe.processor("enrich")
    async def enrich(value):
        await asyncio.sleep(0)
        with obskit.span("user.lookup"):
            await asyncio.sleep(0)
        return value * 2

    async def node(value):  # an undecorated library node that spawns a task
        return await asyncio.create_task(enrich(value))

    async def main() -> list[int]:
        out = []
        for record in pipe.records(range(5)):
            with pipeline.carry(record):
                out.append(await node(record.value))
        return out

    assert asyncio.run(main()) == [0, 2, 4, 6, 8]
    assert pipe.summary()["enrich"]["out"] == 5
    if ratio == 0.0:
        assert obskit_capture.spans == []
    else:
        assert len(obskit_capture.trace_ids()) == 5
        for user in obskit_capture.find("user.lookup"):
            assert obskit_capture.parent(user).attributes["pipeline.processor"] == "enrich"
