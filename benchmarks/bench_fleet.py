"""What the fleet configuration (docs/fleet.md) costs a process: every Raft write traced
and exported over OTLP to a collector, against the head-sampled default.

Run alone:  python benchmarks/bench_fleet.py [--quick]

Runs examples/raft.py (3 node processes, failover skipped) as benchmarks/bench_raft.py
does, with the nodes exporting over OTLP/HTTP to a minimal OTLP receiver in a separate
process (it reads each request and answers 200, standing in for a load-balancing
collector), and reports the leader's CPU time per committed write, median of the runs:

* head sampling at 1% (`OBSKIT_SAMPLE_RATIO=0.01`), what a single-machine setup uses;
* the fleet configuration: 100% of the Raft traces to the tail tier (`sample_ratio=1.0`),
  which then keeps errors, slow writes, elections and a ratio of the rest.

The difference is the per-write cost of giving the tail tier every trace: recording the
spans and encoding and posting them. Metrics are the same in both (recorded before any
sampling), so they are left out (`OTEL_METRICS_EXPORTER=none`).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from typing import Any

import bench_export
import bench_raft

__all__ = ["CONFIGS", "render", "run"]

#: Configuration name -> the environment it adds to the example's (plus the endpoint).
CONFIGS = {
    "head-sampled 1%, OTLP": {"OBSKIT_SAMPLE_RATIO": "0.01"},
    "fleet: 100% to the tail tier, OTLP": {"OBSKIT_SAMPLE_RATIO": "1.0"},
}


def run(quick: bool = False) -> dict[str, Any]:
    """Median leader CPU seconds per write of each configuration, and every run's figure."""
    writes, repeat = (200, 3) if quick else (500, 5)
    receiver = subprocess.Popen([sys.executable, "-c", bench_export._RECEIVER],
                                stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert receiver.stdout is not None
        endpoint = f"http://127.0.0.1:{receiver.stdout.readline().strip()}"
        otlp = {"OBSKIT_EXPORTERS": "otlp", "OTEL_METRICS_EXPORTER": "none",
                "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_BSP_SCHEDULE_DELAY": "200"}  # fmt: skip
        names = list(CONFIGS)
        samples: dict[str, list[float]] = {name: [] for name in names}
        for round_ in range(repeat):
            shift = round_ % len(names)  # alternate, so drift hits both
            for name in names[shift:] + names[:shift]:
                samples[name].append(
                    bench_raft.leader_cpu_per_write({**otlp, **CONFIGS[name]}, writes)
                )
    finally:
        receiver.terminate()
        receiver.wait(10)
    return {
        "writes": writes,
        "median": {name: statistics.median(values) for name, values in samples.items()},
        "samples": samples,
    }


def render(results: dict[str, Any]) -> list[str]:
    """A markdown table: leader CPU per write for each configuration."""
    head, fleet = results["median"].values()
    lines = [
        f"Raft example, leader CPU per committed write ({results['writes']} writes per run):",
        "",
        "| configuration | median | runs |",
        "|---|---:|---|",
    ]
    for name, seconds in results["median"].items():
        runs = ", ".join(f"{s * 1e6:,.0f}" for s in results["samples"][name])
        lines.append(f"| {name} | {seconds * 1e6:,.0f} us | {runs} us |")
    lines += ["", f"Every write traced and exported costs {(fleet - head) * 1e6:,.0f} us more "
              f"per write ({fleet / head:.2f}x)."]  # fmt: skip
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    print("\n".join(render(run(parser.parse_args().quick))))
