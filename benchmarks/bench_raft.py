"""Whole-workload row of issue 12: the Raft example's leader CPU per committed write.

Run alone:  python benchmarks/bench_raft.py [--quick]

`./dev bench` runs the example through benchmarks/bench_workloads.py instead, with
`leader_cpu_per_write` from here, in four columns: no obskit at all (a stand-in package
of pass-throughs), disabled, 1% traced and every span. Run alone, this module compares
the two configurations below.

Runs examples/raft.py (3 node processes over TCP, each write journalled and fsynced,
replicated to both followers) with the failover skipped (`RAFT_EXAMPLE_FAILOVER=0`) and
each node reporting its CPU time (`RAFT_EXAMPLE_REPORT=1`): the leader's process CPU time
(every thread: handlers, replication pool, ticker, obskit's export thread) from the arrival
of its first write to the commit of its last, divided by the writes it committed.

Two configurations, alternated run after run so drift on a shared machine hits both; the
figure kept is the median of the runs:

* obskit as the example configures it: every Raft step instrumented, traces sampled at
  1% (`OBSKIT_SAMPLE_RATIO=0.01`, as the example sets for the console), exporters
  `memory` (a real span queue and metric reader, nothing printed);
* obskit disabled (`OBSKIT_ENABLED=false`), the closest to an undecorated node without
  keeping a second copy of it. Disabled, the Raft calls are pass-throughs; what each
  still costs is the "obskit disabled" column of the domain rows (bench_domains.py).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

try:
    from benchmarks._bench_harness import Step, run_steps
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from _bench_harness import Step, run_steps  # type: ignore[no-redef]

__all__ = ["CONFIGS", "RATIO", "assemble", "render", "run", "steps", "target"]

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "raft.py"
#: Issue 12's budget: leader CPU per committed write, obskit on / obskit off.
RATIO = 1.5
#: Configuration name -> the environment it adds to the example's.
CONFIGS = {
    "obskit, 1% traced, memory exporters": {
        "OBSKIT_EXPORTERS": "memory",
        "OBSKIT_SAMPLE_RATIO": "0.01",
    },
    "obskit disabled (OBSKIT_ENABLED=false)": {"OBSKIT_ENABLED": "false"},
}
_USER_CHOICES = ("OBSKIT_", "OTEL_")


def leader_cpu_per_write(extra: dict[str, str], writes: int) -> float:
    """One run of the example: the leader's CPU seconds per committed write."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_USER_CHOICES)}
    env.update(extra, RAFT_EXAMPLE_WRITES=str(writes), RAFT_EXAMPLE_FAILOVER="0",
               RAFT_EXAMPLE_REPORT="1")  # fmt: skip
    done = subprocess.run([sys.executable, str(EXAMPLE)], env=env, cwd=ROOT, text=True,
                          capture_output=True, timeout=120, check=False)  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith('{"raft_example_')]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"examples/raft.py failed: {(done.stdout + done.stderr)[-2000:]}")
    report = json.loads(lines[-1])["raft_example_report"]
    leader = report["nodes"][report["first_leader"]]
    if leader["leader_writes"] != writes:
        raise RuntimeError(f"the leader committed {leader['leader_writes']} of {writes} writes")
    return float(leader["write_cpu_seconds"]) / writes


def _plan(quick: bool) -> tuple[int, int]:
    """(writes per run, runs per configuration)."""
    return (200, 3) if quick else (500, 5)


def steps(quick: bool = False) -> list[Step]:
    """One example run per step, the configurations alternating round after round."""
    writes, repeat = _plan(quick)
    names = list(CONFIGS)
    order = []
    for round_ in range(repeat):
        shift = round_ % len(names)
        order += [(round_, name) for name in names[shift:] + names[:shift]]
    return [
        Step(
            f"{name}#{round_}",
            lambda name=name: leader_cpu_per_write(CONFIGS[name], writes),
            f"Raft example, {name}, run {round_ + 1}/{repeat}",
        )
        for round_, name in order
    ]


def assemble(done: dict[str, Any], quick: bool = False) -> dict[str, Any]:
    """Median leader CPU seconds per write of each configuration, and every run's figure."""
    writes, repeat = _plan(quick)
    samples = {name: [done[f"{name}#{i}"] for i in range(repeat)] for name in CONFIGS}
    return {
        "writes": writes,
        "median": {name: statistics.median(values) for name, values in samples.items()},
        "samples": samples,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Median leader CPU seconds per write of each configuration, and every run's figure."""
    return assemble(run_steps(steps(quick)), quick)


def target(results: dict[str, Any]) -> tuple[str, str, str, bool]:
    """(target, budget, measured, passed) for the Raft whole-workload row."""
    ours, off = (results["median"][name] for name in CONFIGS)
    ratio = ours / off
    return (
        "whole workload: Raft example, leader CPU per committed write, obskit / disabled",
        f"<= {RATIO}x",
        f"{ratio:.2f}x ({ours * 1e6:,.0f} us / {off * 1e6:,.0f} us)",
        ratio <= RATIO,
    )


def render(results: dict[str, Any]) -> list[str]:
    """The table for docs/performance.md's results block."""
    ours, off = (results["median"][name] for name in CONFIGS)
    lines = [
        "",
        f"### Raft example (benchmarks/bench_raft.py): leader CPU per committed write, "
        f"{results['writes']} writes per run",
        "",
        "| configuration | median | runs |",
        "|---|---:|---|",
    ]
    for name, seconds in results["median"].items():
        runs = ", ".join(f"{s * 1e6:,.0f}" for s in results["samples"][name])
        lines.append(f"| {name} | {seconds * 1e6:,.0f} us | {runs} us |")
    lines += [
        "",
        "Leader process CPU (all threads) from its first write to its last commit, per write;"
        f" obskit adds {(ours - off) * 1e6:,.0f} us per write. The baseline still makes the"
        ' Raft calls, obskit disabled (their cost: the domain table\'s "obskit disabled"'
        " column).",
    ]
    return lines


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    figures = run(parser.parse_args().quick)
    print("\n".join(render(figures)))
    measured = target(figures)
    print(f"{'PASS' if measured[3] else 'FAIL'}  {measured[0]}: {measured[2]} "
          f"(budget {measured[1]})")  # fmt: skip
