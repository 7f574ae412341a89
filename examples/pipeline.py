"""A log-processing DAG over 100,000 generated lines, measured with obskit.pipeline.

Run it from the repository root::

    python examples/pipeline.py

The DAG::

    reader > parse > +-> error_filter -+
                     +-> warn_filter  -+-> counters > sink (batches of 500)
                     +-> info_filter  -+

`parse` runs in the main thread and hands records to the filters' worker thread through
a bounded queue (watched: `pipeline.queue.size`). Malformed lines make `parse` raise;
the pipeline's `dead_letter` policy keeps them aside and counts them as errors. Every
processor's records in/out/dropped/errors, processing time and record age (time since
the reader read the line) are measured, and the last parse errors are kept in memory
(`logs.recent_errors()`, messages sanitised); a few lines
(`PIPELINE_SAMPLE_RATIO`, default 0.0001) are traced from the reader to the sink, and
one such journey is printed at the end. With OTLP variables set, the journeys go to
Jaeger and the counts to your metrics backend.
"""

from __future__ import annotations

import os
import queue
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from opentelemetry import trace

import obskit
from obskit import pipeline
from obskit.pipeline import Record

LINES = int(os.environ.get("PIPELINE_EXAMPLE_LINES", "100000"))
SAMPLE_RATIO = float(os.environ.get("PIPELINE_SAMPLE_RATIO", "0.0001"))
BATCH = 500
LEVELS = ("ERROR", "WARN", "INFO")
_DONE = object()

dead_letters: list[tuple[str, str]] = []
logs = pipeline.Pipeline(
    "logs",
    sample_ratio=SAMPLE_RATIO,
    on_error="dead_letter",
    dead_letter=lambda line, exc: dead_letters.append((line, type(exc).__name__)),
)


def generate(path: Path, lines: int, seed: int = 7) -> None:
    """A log with mostly INFO, some WARN, a few ERROR and about 0.1% garbage."""
    rng = random.Random(seed)
    with path.open("w") as out:
        for i in range(lines):
            roll = rng.random()
            if roll < 0.001:
                out.write(f"#### corrupted record {i}\n")
                continue
            level = "ERROR" if roll < 0.05 else "WARN" if roll < 0.2 else "INFO"
            out.write(f"2025-01-01T00:00:{i % 60:02d} {level} service=api{i % 7} msg=event-{i}\n")


@logs.source("reader")
def read(path: Path) -> Any:
    with path.open() as lines:
        yield from lines


@logs.processor("parse")
def parse(line: str) -> dict[str, str]:
    timestamp, level, rest = line.rstrip("\n").split(" ", 2)
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    return {"ts": timestamp, "level": level, "rest": rest}


def level_filter(level: str) -> Any:
    @logs.processor(f"{level.lower()}_filter")
    def keep(entry: dict[str, str]) -> dict[str, str] | None:
        return entry if entry["level"] == level else None  # None drops the record

    keep.__name__ = f"{level.lower()}_filter"
    return keep


filters = [level_filter(level) for level in LEVELS]


@logs.processor("counters")
class LevelCounters:
    """Counts lines per level and service (a class processor: `process()` is wrapped)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def process(self, entry: dict[str, str]) -> dict[str, str]:
        self.counts[(entry["level"], entry["rest"].split(" ", 1)[0])] += 1
        return entry


sunk: list[str] = []
journeys: list[str] = []  # one line per sampled record that reached the sink


@logs.processor("sink", batch=True, sink=True)
def sink(entries: list[dict[str, str]]) -> None:
    sunk.extend(entry["level"] for entry in entries)


def worker(inbox: queue.Queue[Any], counters: LevelCounters) -> None:
    """The filters, counters and the batching sink, fed through a bounded queue."""
    batch: list[Record[dict[str, str]]] = []
    while (record := inbox.get()) is not _DONE:
        steps = []
        for keep in filters:  # fan out: every filter sees every record
            kept = keep(record)
            steps.append(f"{keep.__name__}:{'emit' if kept is not None else 'drop'}")
            if kept is not None:
                batch.append(counters.process(kept))
        if record.sampled:  # a sampled journey: remember its path
            span = trace.get_current_span(record.context).get_span_context()
            journeys.append(f"trace {span.trace_id:032x}: reader > parse > "
                            f"[{', '.join(steps)}] > counters > sink (batch link)\n"
                            f"  line: {' '.join(record.value.values())}")  # fmt: skip
        if len(batch) >= BATCH:
            sink(batch)
            batch = []
    if batch:
        sink(batch)


def print_summary(seconds: float) -> None:
    print(f"\n{LINES:,} lines in {seconds:.2f} s ({LINES / seconds:,.0f} lines/s)\n")
    print(f"{'processor':<14}{'in':>9}{'out':>9}{'dropped':>9}{'errors':>8}{'us/rec':>8}  balance")
    for name, s in logs.summary().items():
        per = s["seconds"] / s["in"] * 1e6 if s["in"] and name != "reader" else 0.0
        ok = s["in"] == s["out"] + s["dropped"] + s["errors"]
        print(f"{name:<14}{s['in']:>9,.0f}{s['out']:>9,.0f}{s['dropped']:>9,.0f}"
              f"{s['errors']:>8,.0f}{per:>8.1f}  {'in = out + dropped + errors' if ok else 'UNBALANCED'}")  # fmt: skip
    print(
        f"\ndead letters: {len(dead_letters)} (first: {dead_letters[0] if dead_letters else '-'})"
    )
    recent = logs.recent_errors("parse")  # kept for every record, sampled or not
    if recent:
        print(f"recent parse errors: {len(recent)} kept, last: {recent[-1]['error.type']}: "
              f"{recent[-1]['message']}")  # fmt: skip
    print(f"sampled journeys (ratio {SAMPLE_RATIO}) that reached the sink: {len(journeys)}")
    if journeys:
        print(f"one journey, {journeys[0]}")


def main() -> int:
    obskit.configure(service_name="log-pipeline")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "app.log"
        generate(path, LINES)
        inbox: queue.Queue[Any] = queue.Queue(maxsize=1000)
        logs.watch_queue(inbox, processor="filters")
        counters = LevelCounters()
        consumer = threading.Thread(target=worker, args=(inbox, counters), name="filters")
        started = time.perf_counter()
        consumer.start()
        try:
            for record in read(path):
                parsed = parse(record)
                if parsed is not None:
                    inbox.put(parsed, timeout=30)
        finally:
            inbox.put(_DONE, timeout=30)
            consumer.join(timeout=60)
        elapsed = time.perf_counter() - started
    print_summary(elapsed)
    top = ", ".join(f"{lvl} {svc}: {n}" for (lvl, svc), n in counters.counts.most_common(3))
    print(f"top level/service counts: {top}")
    sys.stdout.flush()
    obskit.shutdown()
    return 0 if len(sunk) + len(dead_letters) == LINES else 1


if __name__ == "__main__":
    sys.exit(main())
