"""obskit.pipeline: counting rules, journeys, batches, error policies, queues."""

from __future__ import annotations

import asyncio
import collections
import gc
import queue
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from opentelemetry.trace import StatusCode

import obskit
from obskit import pipeline
from obskit.pipeline import Record

PROCESS = "pipeline.process"


def _balance(capture, name: str, processor: str) -> dict[str, float]:
    ids = {"pipeline.name": name, "pipeline.processor": processor}

    def total(metric: str) -> float:
        return sum(p.value for p in capture.metrics(metric) if
                   all(p.attributes.get(k) == v for k, v in ids.items()))  # fmt: skip

    return {k: total(f"pipeline.records.{k}") for k in ("in", "out", "dropped", "errors")}


def _dag(logs: pipeline.Pipeline):
    @logs.source("reader")
    def read(lines):
        yield from lines

    @logs.processor("parse")
    def parse(line):
        level, _, text = line.partition(" ")
        return {"level": level, "text": text}

    @logs.processor("error_filter")
    def error_filter(entry):
        return entry if entry["level"] == "ERROR" else None

    sunk = []

    @logs.processor("sink", sink=True)
    def sink(entry):
        sunk.append(entry)

    def run(lines):
        for record in read(lines):
            kept = error_filter(parse(record))
            if kept is not None:
                sink(kept)
        return sunk

    return run


def test_sampled_record_journey_is_one_trace(obskit_capture) -> None:
    run = _dag(pipeline.Pipeline("journey", sample_ratio=1.0))
    assert run(["ERROR disk full", "INFO fine"]) == [{"level": "ERROR", "text": "disk full"}]
    obskit_capture.assert_tree(
        """
        pipeline.process
          pipeline.process
            pipeline.process
              pipeline.process
        pipeline.process
          pipeline.process
            pipeline.process
        """
    )
    assert len(obskit_capture.trace_ids()) == 2
    chain = obskit_capture.tree(attributes=["pipeline.processor", "pipeline.record.outcome"])
    assert "pipeline.processor=sink" in chain
    dropped = obskit_capture.one(PROCESS, {"pipeline.processor": "error_filter",
                                           "pipeline.record.outcome": "drop"})  # fmt: skip
    assert obskit_capture.parent(dropped).attributes["pipeline.processor"] == "parse"
    assert dropped.attributes["pipeline.name"] == "journey"


def test_unsampled_records_make_no_spans_but_are_counted(obskit_capture) -> None:
    run = _dag(pipeline.Pipeline("quiet", sample_ratio=0.0))
    run([f"{'ERROR' if i % 3 == 0 else 'INFO'} line {i}" for i in range(30)])
    assert obskit_capture.spans == []
    assert _balance(obskit_capture, "quiet", "reader") == {"in": 30, "out": 30, "dropped": 0,
                                                           "errors": 0}  # fmt: skip
    assert _balance(obskit_capture, "quiet", "error_filter") == {"in": 30, "out": 10,
                                                                 "dropped": 20, "errors": 0}  # fmt: skip
    assert _balance(obskit_capture, "quiet", "sink")["out"] == 10
    duration = obskit_capture.metric("pipeline.processing.duration", {
        "pipeline.processor": "error_filter", "pipeline.record.outcome": "drop"})  # fmt: skip
    assert duration.count == 20


def test_sample_ratio_is_decided_at_the_source(obskit_capture) -> None:
    run = _dag(pipeline.Pipeline("sampled", sample_ratio=0.5))
    run(["ERROR x"] * 400)
    journeys = obskit_capture.find(PROCESS, {"pipeline.processor": "reader"})
    assert 100 < len(journeys) < 300  # binomial(400, 0.5): outside this is ~1e-20
    # A journey is kept or dropped whole: every sampled record has all four steps.
    assert len(obskit_capture.spans) == 4 * len(journeys)


def test_balance_rule_with_errors_skipped(obskit_capture) -> None:
    nums = pipeline.Pipeline("nums", on_error="skip")

    @nums.processor("to_int")
    def to_int(text):
        return int(text)

    @nums.processor("positive")
    def positive(value):
        return value if value > 0 else None

    for text in ["1", "x", "-2", "3", "", "4"]:
        value = to_int(text)
        if value is not None:
            positive(value)
    counts = _balance(obskit_capture, "nums", "to_int")
    assert counts == {"in": 6, "out": 4, "dropped": 0, "errors": 2}
    for name in ("to_int", "positive"):
        c = _balance(obskit_capture, "nums", name)
        assert c["in"] == c["out"] + c["dropped"] + c["errors"]
    errors = obskit_capture.metric("pipeline.records.errors", {"error.type": "ValueError"})
    assert errors.value == 2
    assert nums.summary()["to_int"]["errors"] == 2


def test_fan_out_counting_rule(obskit_capture) -> None:
    words = pipeline.Pipeline("words", sample_ratio=1.0)

    @words.processor("split", fan_out=True)
    def split(line):
        return line.split()

    outputs = [split(r) for r in words.records(["a b c", "", "d"])]
    assert [[r.value for r in out] for out in outputs] == [["a", "b", "c"], [], ["d"]]
    c = _balance(obskit_capture, "words", "split")
    # Fan-out rule: in == inputs that emitted + dropped + errors; out counts every output.
    assert c == {"in": 3, "out": 4, "dropped": 1, "errors": 0}
    first = obskit_capture.find(PROCESS, {"pipeline.processor": "split"})[0]
    assert first.attributes["pipeline.output.record_count"] == 3
    assert all(r.context is not None for r in outputs[0])


def test_batch_links_each_sampled_record_capped(obskit_capture) -> None:
    bulk = pipeline.Pipeline("bulk", sample_ratio=1.0)

    @bulk.processor("write", batch=True, sink=True)
    def write(values):
        return len(values)

    records = list(bulk.records(range(200)))
    assert write([*records, 7]) == 201  # plain values may be mixed in
    span = obskit_capture.one(PROCESS, {"pipeline.processor": "write"})
    assert span.attributes["pipeline.batch.record_count"] == 201
    assert len(span.links) == 128
    reader_ids = {
        s.context.span_id for s in obskit_capture.find(PROCESS, {"pipeline.processor": "source"})
    }
    assert {link.context.span_id for link in span.links} <= reader_ids
    assert span.parent is None
    assert _balance(obskit_capture, "bulk", "write") == {"in": 201, "out": 201, "dropped": 0,
                                                          "errors": 0}  # fmt: skip


def test_batch_that_filters_balances(obskit_capture) -> None:
    bulk = pipeline.Pipeline("dedupe", sample_ratio=0.0)

    @bulk.processor("dedupe", batch=True)
    def dedupe(values):
        return sorted(set(values))

    out = dedupe(list(bulk.records([1, 1, 2, 3, 3])))
    assert [r.value for r in out] == [1, 2, 3]
    assert _balance(obskit_capture, "dedupe", "dedupe") == {"in": 5, "out": 3, "dropped": 2,
                                                            "errors": 0}  # fmt: skip


def test_raise_policy_records_error_on_span(obskit_capture) -> None:
    strict = pipeline.Pipeline("strict", sample_ratio=1.0)

    @strict.processor("parse")
    def parse(line):
        raise KeyError(line)

    (record,) = strict.records(["boom"])
    with pytest.raises(KeyError, match="boom"):
        parse(record)
    span = obskit_capture.one(PROCESS, {"pipeline.processor": "parse"})
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "KeyError"
    assert span.attributes["pipeline.record.outcome"] == "error"
    assert _balance(obskit_capture, "strict", "parse")["errors"] == 1


def test_dead_letter_policy_per_processor(obskit_capture) -> None:
    letters: list[tuple[object, str]] = []
    orders = pipeline.Pipeline("orders")

    @orders.processor("price", on_error="dead_letter",
                      dead_letter=lambda v, e: letters.append((v, type(e).__name__)))  # fmt: skip
    def price(order):
        return order["qty"] * order["unit"]

    assert price({"qty": 2, "unit": 3}) == 6
    assert price({"qty": 2}) is None
    assert letters == [({"qty": 2}, "KeyError")]
    assert _balance(obskit_capture, "orders", "price") == {"in": 2, "out": 1, "dropped": 0,
                                                           "errors": 1}  # fmt: skip


def test_bad_policy_names_accepted_values() -> None:
    with pytest.raises(ValueError, match="dead_letter"):
        pipeline.Pipeline("x", on_error="ignore")
    with pytest.raises(ValueError, match="sample_ratio"):
        pipeline.Pipeline("x", sample_ratio=2)


def test_class_processor_and_user_spans_nest(obskit_capture) -> None:
    shop = pipeline.Pipeline("shop", sample_ratio=1.0)

    @shop.processor("enrich")
    class Enrich:
        def __init__(self) -> None:
            self.seen = 0

        def process(self, order):
            self.seen += 1
            with obskit.span("lookup.customer"):
                return {**order, "vip": True}

    enrich = Enrich()
    (record,) = shop.records([{"id": 1}])
    out = enrich.process(record)
    assert out.value == {"id": 1, "vip": True}
    assert enrich.seen == 1
    obskit_capture.assert_tree(
        """
        pipeline.process
          pipeline.process
            lookup.customer
        """
    )


def test_async_processor(obskit_capture) -> None:
    stream = pipeline.Pipeline("stream", sample_ratio=1.0)

    @stream.processor("fetch")
    async def fetch(key):
        await asyncio.sleep(0)
        return key.upper()

    async def main() -> list[str]:
        records = list(stream.records(["a", "b"]))
        outs = await asyncio.gather(*(fetch(r) for r in records))
        return [r.value for r in outs]

    assert asyncio.run(main()) == ["A", "B"]
    assert len(obskit_capture.trace_ids()) == 2
    assert _balance(obskit_capture, "stream", "fetch")["out"] == 2


def test_threads_count_exactly(obskit_capture) -> None:
    busy = pipeline.Pipeline("busy", sample_ratio=0.0)

    @busy.processor("odd")
    def odd(n):
        return n if n % 2 else None

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(odd, busy.records(range(4000))))
    assert _balance(obskit_capture, "busy", "odd") == {"in": 4000, "out": 2000,
                                                       "dropped": 2000, "errors": 0}  # fmt: skip
    assert busy.summary()["odd"]["in"] == 4000


def test_counts_of_threads_that_ended_are_kept_and_their_cells_retired(obskit_capture) -> None:
    # Each thread counts into a cell of its own; when the thread ends its cell is folded
    # into the processor's totals, so a thread per request neither loses counts nor grows
    # what every collection sums.
    short = pipeline.Pipeline("short_lived", sample_ratio=0.0)

    @short.processor("keep")
    def keep(n):
        return n

    def work() -> None:
        for record in short.records(range(100)):
            keep(record)

    for _ in range(20):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    gc.collect()
    assert short.summary()["keep"]["in"] == 2000
    assert _balance(obskit_capture, "short_lived", "keep")["out"] == 2000
    stats = short._processors["keep"].stats
    assert len(stats._cells) <= 2  # the retired cell, and at most this thread's


def test_an_unsampled_journey_has_stable_ids_drawn_when_asked(obskit_capture) -> None:
    quiet = pipeline.Pipeline("quiet", sample_ratio=0.0)
    (record,) = quiet.records(["x"])
    first = record.carrier()["traceparent"]
    assert first.endswith("-00")
    assert first == record.carrier()["traceparent"]
    assert not record.sampled


def test_record_carrier_round_trip(obskit_capture) -> None:
    remote = pipeline.Pipeline("remote", sample_ratio=1.0)
    (record,) = remote.records(["x"])
    moved = Record.from_carrier(record.value, record.carrier())
    assert moved.sampled
    assert not Record.from_carrier("y", {"traceparent": "00-bad"}).sampled
    assert not Record.from_carrier("y", None).sampled

    @remote.processor("worker")
    def worker(value):
        return value

    worker(moved)
    reader = obskit_capture.one(PROCESS, {"pipeline.processor": "source"})
    assert (
        obskit_capture.parent(obskit_capture.one(PROCESS, {"pipeline.processor": "worker"}))
        == reader
    )


def test_watch_queue_depth_and_capacity(obskit_capture) -> None:
    q: queue.Queue[int] = queue.Queue(maxsize=10)
    d: collections.deque[int] = collections.deque([1, 2], maxlen=5)
    pipeline.watch_queue(q, pipeline="logs", processor="parse")
    unwatch = pipeline.watch_queue(d, pipeline="logs", processor="sink")
    for i in range(3):
        q.put(i)
    parse = {"pipeline.processor": "parse"}
    assert obskit_capture.metric("pipeline.queue.size", parse).value == 3
    assert obskit_capture.metric("pipeline.queue.capacity", parse).value == 10
    assert obskit_capture.metric("pipeline.queue.size", {"pipeline.processor": "sink"}).value == 2
    unwatch()
    del q
    gc.collect()
    assert obskit_capture.metrics("pipeline.queue.size") == []


def test_off_path_passes_values_through() -> None:
    plain = pipeline.Pipeline("plain", sample_ratio=1.0)

    @plain.processor("double")
    def double(n):
        return n * 2

    assert [double(r).value for r in plain.records([1, 2])] == [2, 4]
    assert double(5) == 10


def test_fan_out_generator_failing_part_way_is_counted_and_ends_its_span(obskit_capture) -> None:
    words = pipeline.Pipeline("gen-words", sample_ratio=1.0, on_error="skip")

    @words.processor("explode", fan_out=True)
    def explode(line):
        yield line
        raise ValueError("bad line")

    (record,) = words.records(["x"])
    explode(record)  # the skip policy swallows the error
    assert _balance(obskit_capture, "gen-words", "explode") == {
        "in": 1, "out": 0, "dropped": 0, "errors": 1,
    }  # fmt: skip
    span = obskit_capture.one(PROCESS, {"pipeline.processor": "explode"})
    assert span.end_time is not None
    assert span.attributes["error.type"] == "ValueError"
