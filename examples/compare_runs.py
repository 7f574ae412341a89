"""Record benchmark runs of two versions of a job, for `obskit report` to compare.

Run it from the repository root::

    python examples/compare_runs.py runs/ [--runs 5] [--calls 60]
    obskit report runs/baseline runs/candidate --max-regression 10% --plot comparison.svg

The baseline job parses and sums a batch of CSV lines; the candidate does the same with
20% more lines per call, a real 20% slowdown. Each run is one `runtime.sample(path=...)`
block: its run file holds the process figures (CPU, wall, RSS, GC) and the histogram of
the job's call durations, which obskit's memory exporter kept. The two versions run
alternately, so a busy moment of the machine falls on both.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import obskit
from obskit import runtime

BUCKETS = [0.0002 * 1.1**step for step in range(70)]  # 0.2 ms to 150 ms
BATCH = [f"{i},{i * 7 % 1000},{i * 13 % 97}.5" for i in range(4_000)]


def job(lines: list[str]) -> float:
    """The work under test: parse CSV lines and add up their fields."""
    total = 0.0
    for line in lines:
        key, count, price = line.split(",")
        total += int(key) % 10 + int(count) * float(price)
    return total


def record(path: Path, lines: list[str], calls: int) -> None:
    """One run: `calls` calls of the job inside a sample block that writes `path`."""
    obskit.configure(service_name="compare-runs", exporters=["memory"], runtime=True)
    try:
        # Buckets 10% apart: the p50 and p99 estimated from them move with the work.
        duration = obskit.histogram("job.duration", description="One call of the job",
                                    buckets=BUCKETS)  # fmt: skip
        with runtime.sample(interval=0.05, path=path):
            for _ in range(calls):
                start = time.perf_counter()
                job(lines)
                duration.record(time.perf_counter() - start)
    finally:
        obskit.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="writes baseline/ and candidate/ in it")
    parser.add_argument("--runs", type=int, default=5, help="runs per version (default 5)")
    parser.add_argument("--calls", type=int, default=60, help="job calls per run")
    arguments = parser.parse_args()
    versions = {"baseline": BATCH, "candidate": BATCH + BATCH[: len(BATCH) // 5]}
    for name in versions:
        (arguments.folder / name).mkdir(parents=True, exist_ok=True)
    for index in range(arguments.runs):
        for name, lines in versions.items():
            record(arguments.folder / name / f"run-{index}.json", lines, arguments.calls)
    print(f"wrote {arguments.runs} runs of each version under {arguments.folder}/")


if __name__ == "__main__":
    main()
