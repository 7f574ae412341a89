"""Whole workloads on real libraries, instrumented the way a user would (issue 22).

Run alone:  python benchmarks/bench_workloads.py [--quick] [--only NAME ...] [--rows]

Each workload runs in four configurations, interleaved run after run (each round in a
rotated order) so drift on a shared machine hits all four alike; the figure kept is the
median of the runs:

* **bare**: the same work with no obskit at all (the undecorated calls; for the Raft
  example a stand-in `obskit` package of plain pass-throughs, benchmarks/_uninstrumented);
* **disabled**: the decorated code with obskit off (`configure(enabled=False)`,
  `OBSKIT_ENABLED=false` for the Raft nodes);
* **1% traced**: obskit on, 1% of traces sampled (`sample_ratio=0.01`; the pipeline's own
  ratio for the streamz DAG), the `memory` exporters (a real span queue and metric reader);
* **every span**: the same with every trace sampled (ratio 1.0).

The workloads:

* **BTrees `OOBTree`** (the C tree) and **`OOBTreePy`** (its pure-Python twin): a store
  class of four methods around the library's tree, decorated with `obskit.btree.get/put/
  delete/scan` (a user cannot decorate the C type's methods themselves); 5,000 puts, then
  40,000 operations (55% get, 25% put, 15% delete, 5% scans of about 20 keys). Seconds per
  operation, from the first put to the end of `obskit.flush()` (spans still queued are
  exported inside the timed run).
* **streamz log DAG**: 20,000 log lines through a real `streamz.Stream` graph of 7 steps
  per line (parse > valid > normalize > enrich, then two branches: a per-level counter
  and latency > a latency sink), each step an `obskit.pipeline` processor, the lines fed
  from `Pipeline.records()` inside `pipeline.carry()` (docs/pipeline.md's adapter
  pattern). Seconds per line; the target is on throughput (bare time / obskit time).
* **Raft example**: examples/raft.py, 3 node processes over TCP (benchmarks/bench_raft.py
  runs it): the leader's process CPU time per committed write, every thread included.

Each row also gives the cost added per operation over bare and, next to it, what the
per-operation rows of benchmarks/bench_domains.py add up to for the operations the
workload performs ("sum of rows": the unsampled rows for 1% traced, the sampled rows for
every span), so a gap between the rows and a real workload shows.
"""

from __future__ import annotations

import argparse
import collections
import gc
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import obskit
from obskit import btree, pipeline

try:
    from benchmarks import bench_raft
    from benchmarks._bench_harness import Step, run_steps
except ImportError:  # run as a script: benchmarks/ is on sys.path
    import bench_raft  # type: ignore[no-redef]
    from _bench_harness import Step, run_steps  # type: ignore[no-redef]

__all__ = [
    "COLUMNS",
    "MIXES",
    "OOBTREE",
    "OOBTREE_PY",
    "RAFT",
    "STREAMZ",
    "TARGETS",
    "WORKLOADS",
    "assemble",
    "budget",
    "render",
    "run",
    "steps",
    "sum_of_rows",
    "targets",
    "verdict",
]

HERE = Path(__file__).resolve().parent
BARE, DISABLED, ONE_PERCENT, EVERY_SPAN = COLUMNS = (
    "bare",
    "disabled",
    "1% traced",
    "every span",
)
OOBTREE = "BTrees OOBTree (C)"
OOBTREE_PY = "BTrees OOBTreePy (pure Python)"
STREAMZ = "streamz log DAG"
RAFT = "Raft example, leader CPU per write"
WORKLOADS = (OOBTREE, OOBTREE_PY, STREAMZ, RAFT)
#: What one unit of each workload is.
UNITS = {OOBTREE: "operation", OOBTREE_PY: "operation", STREAMZ: "line", RAFT: "write"}
#: Per unit of each workload: the bench_domains rows of the obskit operations it performs
#: and how many of each (the B+tree mixes are counted from the plan itself, see _plan).
MIXES: dict[str, dict[str, float]] = {
    STREAMZ: {"pipeline step": 7},
    # Per committed write on the leader: its proposal and one AppendEntries to each of the
    # two followers (heartbeats, log_append/log_sync and apply have no row).
    RAFT: {"raft propose -> commit": 1, "raft client RPC": 2},
}
#: Issue 22's budgets, 1% traced against bare: at most this ratio of the bare time (the
#: streamz DAG: at least this share of bare throughput).
TARGETS = {OOBTREE: 3.0, OOBTREE_PY: 1.3, STREAMZ: 0.9, RAFT: 1.3}
_RATIOS = {ONE_PERCENT: 0.01, EVERY_SPAN: 1.0}


# --- BTrees --------------------------------------------------------------------------------
class Store:
    """What a user writes around a library's tree: four methods, the tree inside."""

    def __init__(self, tree: Any) -> None:
        self.tree = tree

    def get(self, key: str) -> Any:
        return self.tree.get(key)

    def put(self, key: str, value: Any) -> None:
        self.tree[key] = value

    def delete(self, key: str) -> bool:
        return self.tree.pop(key, None) is not None

    def scan(self, start: str, end: str) -> Iterator[tuple[str, Any]]:
        yield from self.tree.items(start, end)


class TracedStore(Store):
    """The same store with obskit.btree's decorators, as docs/btree.md shows."""

    get = btree.get(index="kv_pk")(Store.get)
    put = btree.put(index="kv_pk")(Store.put)
    delete = btree.delete(index="kv_pk", outcome=bool)(Store.delete)
    scan = btree.scan(index="kv_pk", key="start")(Store.scan)


GET, PUT, DELETE, SCAN = range(4)
_ROW = {GET: "btree get", PUT: "btree put", DELETE: "btree delete", SCAN: "btree scan (20 keys)"}


def _plan(quick: bool) -> list[tuple[int, str, str]]:
    """(operation, key, scan end): the loads, then the mixed operations, fixed by a seed."""
    keys, ops = (1_000, 8_000) if quick else (5_000, 40_000)
    rng = random.Random(22)
    plan = [(PUT, f"user:{i * 2:06d}", "") for i in range(keys)]
    for _ in range(ops):
        roll, low = rng.random(), rng.randrange(keys * 2)
        kind = GET if roll < 0.55 else PUT if roll < 0.80 else DELETE if roll < 0.95 else SCAN
        plan.append((kind, f"user:{low:06d}", f"user:{low + 40:06d}"))  # a scan: ~20 keys
    return plan


def btree_mix(quick: bool) -> dict[str, float]:
    """Per operation of the B+tree plan: the share of each bench_domains row."""
    plan = _plan(quick)
    counts = collections.Counter(_ROW[kind] for kind, _, _ in plan)
    return {row: count / len(plan) for row, count in counts.items()}


def _run_store(store: Store, plan: list[tuple[int, str, str]]) -> int:
    get, put, delete, scan = store.get, store.put, store.delete, store.scan
    seen = 0
    for kind, key, end in plan:
        if kind == GET:
            get(key)
        elif kind == PUT:
            put(key, 1)
        elif kind == DELETE:
            delete(key)
        else:
            for _ in scan(key, end):
                seen += 1
    return seen


def btree_workload(tree_type: str, quick: bool) -> Callable[[str], Callable[[], int]]:
    """config -> the timed run (made fresh, tree included, before each run)."""
    from BTrees import OOBTree as module

    make = getattr(module, tree_type)
    plan = _plan(quick)

    def prepare(config: str) -> Callable[[], int]:
        store = (Store if config == BARE else TracedStore)(make())
        return lambda: _run_store(store, plan)

    return prepare


# --- streamz -------------------------------------------------------------------------------
LEVELS = ("INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG")


def log_lines(count: int) -> list[str]:
    """`count` synthetic access-log lines, fixed by a seed."""
    rng = random.Random(22)
    return [
        f"2026-12-06T10:{i // 60 % 60:02d}:{i % 60:02d} {rng.choice(LEVELS)} "
        f"svc=api{rng.randrange(8)} path=/v1/items/{rng.randrange(1000)} "
        f"latency_ms={rng.randrange(1, 500)}"
        for i in range(count)
    ]


def _steps() -> tuple[dict[str, Callable[[Any], Any]], dict[str, Any]]:
    """The DAG's 7 step functions and the state its sinks fill."""
    state: dict[str, Any] = {"levels": collections.Counter(), "latency": [0, 0]}

    def parse(line: str) -> dict[str, str]:
        stamp, level, rest = line.split(" ", 2)
        entry = dict(field.split("=", 1) for field in rest.split(" "))
        entry["time"], entry["level"] = stamp, level
        return entry

    def valid(entry: dict[str, str]) -> bool:
        return "svc" in entry and "latency_ms" in entry

    def normalize(entry: dict[str, Any]) -> dict[str, Any]:
        entry["level"] = entry["level"].lower()
        return entry

    def enrich(entry: dict[str, Any]) -> dict[str, Any]:
        entry["slow"] = int(entry["latency_ms"]) > 250
        return entry

    def count_level(entry: dict[str, Any]) -> None:
        state["levels"][entry["level"]] += 1

    def latency(entry: dict[str, Any]) -> int:
        return int(entry["latency_ms"])

    def record_latency(ms: int) -> None:
        state["latency"][0] += 1
        state["latency"][1] += ms

    functions = {"parse": parse, "valid": valid, "normalize": normalize, "enrich": enrich,
                 "count_level": count_level, "latency": latency,
                 "record_latency": record_latency}  # fmt: skip
    return functions, state


def _dag(step: dict[str, Callable[[Any], Any]]) -> Any:
    """The streamz graph over `step`: returns its source."""
    import streamz

    source = streamz.Stream()
    entries = (
        source.map(step["parse"]).filter(step["valid"]).map(step["normalize"]).map(step["enrich"])
    )
    entries.sink(step["count_level"])
    entries.map(step["latency"]).sink(step["record_latency"])
    return source


def streamz_workload(quick: bool) -> Callable[[str], Callable[[], int]]:
    lines = log_lines(4_000 if quick else 20_000)

    def prepare(config: str) -> Callable[[], int]:
        functions, state = _steps()
        if config == BARE:
            source = _dag(functions)

            def bare() -> int:
                emit = source.emit
                for line in lines:
                    emit(line)
                return int(state["latency"][0])

            return bare
        logs = pipeline.Pipeline("bench_logs", sample_ratio=_RATIOS.get(config, 0.01),
                                 on_error="skip")  # fmt: skip
        kinds = {"valid": {"predicate": True}, "count_level": {"sink": True},
                 "record_latency": {"sink": True}}  # fmt: skip
        decorated = {name: logs.processor(name, **kinds.get(name, {}))(fn)
                     for name, fn in functions.items()}  # fmt: skip
        source = _dag(decorated)

        def traced() -> int:
            emit, carry = source.emit, pipeline.carry
            for record in logs.records(lines):
                with carry(record):
                    emit(record.value)
            return int(state["latency"][0])

        return traced

    return prepare


# --- running the in-process workloads -------------------------------------------------------
def _configure(config: str) -> None:
    if config == BARE:
        return
    if config == DISABLED:
        obskit.configure(service_name="bench-workloads", enabled=False)
        return
    obskit.configure(service_name="bench-workloads", exporters=["memory"],
                     sample_ratio=_RATIOS[config], runtime=False)  # fmt: skip


def timed_run(prepare: Callable[[str], Callable[[], int]], config: str) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) of one run of `config`, export included."""
    _configure(config)
    try:
        work = prepare(config)
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        if config != BARE:
            obskit.flush()
        return time.perf_counter() - wall, time.process_time() - cpu
    finally:
        if config != BARE:
            obskit.shutdown()


def interleaved(prepare: Callable[[str], Callable[[], int]], units: int,
                repeat: int) -> dict[str, Any]:  # fmt: skip
    """Every column `repeat` times, rounds rotated: seconds per unit (wall and CPU)."""
    wall: dict[str, list[float]] = {config: [] for config in COLUMNS}
    cpu: dict[str, list[float]] = {config: [] for config in COLUMNS}
    for config in COLUMNS:  # one untimed warm-up each: imports, first binds
        timed_run(prepare, config)
    for round_ in range(repeat):
        shift = round_ % len(COLUMNS)
        for config in COLUMNS[shift:] + COLUMNS[:shift]:
            seconds, cpu_seconds = timed_run(prepare, config)
            wall[config].append(seconds / units)
            cpu[config].append(cpu_seconds / units)
    return {
        "units": units,
        "median": {config: statistics.median(values) for config, values in wall.items()},
        "cpu": {config: statistics.median(values) for config, values in cpu.items()},
        "samples": wall,
    }


# --- the Raft example ----------------------------------------------------------------------
#: Column -> the environment it adds to the example's (bench_raft runs the example).
RAFT_CONFIGS = {
    BARE: {"PYTHONPATH": str(HERE / "_uninstrumented")},
    DISABLED: {"OBSKIT_ENABLED": "false"},
    ONE_PERCENT: {"OBSKIT_EXPORTERS": "memory", "OBSKIT_SAMPLE_RATIO": "0.01"},
    EVERY_SPAN: {"OBSKIT_EXPORTERS": "memory", "OBSKIT_SAMPLE_RATIO": "1.0"},
}


def _raft_plan(quick: bool) -> tuple[int, int]:
    """(writes per run, runs per column)."""
    return (150, 2) if quick else (500, 5)


def _raft_steps(quick: bool) -> list[Step]:
    writes, repeat = _raft_plan(quick)
    order = []
    for round_ in range(repeat):
        shift = round_ % len(COLUMNS)
        order += [(round_, config) for config in COLUMNS[shift:] + COLUMNS[:shift]]
    return [
        Step(
            f"{RAFT}/{config}#{round_}",
            lambda config=config: bench_raft.leader_cpu_per_write(RAFT_CONFIGS[config], writes),
            f"Raft example, {config}, run {round_ + 1}/{repeat}",
        )
        for round_, config in order
    ]


# --- the suite's interface -----------------------------------------------------------------
def measure_in_process(name: str, quick: bool) -> dict[str, Any]:
    """Every column of one in-process workload, in this process (see `in_child`)."""
    repeat = 3 if quick else 5
    if name == STREAMZ:
        return interleaved(streamz_workload(quick), 4_000 if quick else 20_000, repeat)
    tree = "OOBTree" if name == OOBTREE else "OOBTreePy"
    return interleaved(btree_workload(tree, quick), len(_plan(quick)), repeat)


def in_child(name: str, quick: bool) -> dict[str, Any]:
    """`measure_in_process` in a fresh interpreter.

    The suite's own process carries what every benchmark before it left (providers,
    bound instruments, pipelines, the heap the garbage collector walks); a workload row
    measures the workload and obskit as a user's process would have them, alone.
    """
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", name,
         *(["--quick"] if quick else [])],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench_workloads --child {name!r} failed: {done.stderr[-2000:]}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


def steps(quick: bool = False, only: tuple[str, ...] = WORKLOADS) -> list[Step]:
    """One step per in-process workload (its runs interleaved, in a process of its own),
    one per Raft run."""
    made = [Step(name, lambda name=name: in_child(name, quick), f"whole workload: {name}")
            for name in (OOBTREE, OOBTREE_PY, STREAMZ) if name in only]  # fmt: skip
    if RAFT in only:
        made += _raft_steps(quick)
    return made


def assemble(done: dict[str, Any], quick: bool = False) -> dict[str, Any]:
    """{"rows": {workload: {"unit", "units", "median", ...}}, "mixes": {workload: {row: n}}}"""
    rows = {name: {"unit": UNITS[name], **done[name]} for name in WORKLOADS if name in done}
    raft_runs = {config: [done[key] for key in sorted(done)
                          if key.startswith(f"{RAFT}/{config}#")] for config in COLUMNS}  # fmt: skip
    if all(raft_runs.values()):
        rows[RAFT] = {
            "unit": UNITS[RAFT],
            "units": _raft_plan(quick)[0],
            "median": {config: statistics.median(runs) for config, runs in raft_runs.items()},
            "samples": raft_runs,
        }
    mix = btree_mix(quick)
    return {"rows": rows, "mixes": {OOBTREE: mix, OOBTREE_PY: mix, **MIXES}}


def run(quick: bool = False, only: tuple[str, ...] = WORKLOADS) -> dict[str, Any]:
    """Every workload's figures (seconds per unit, median of the interleaved runs)."""
    return assemble(run_steps(steps(quick, only)), quick)


def sum_of_rows(workloads: dict[str, Any], domains: dict[str, Any] | None, workload: str,
                config: str) -> float | None:  # fmt: skip
    """What bench_domains' rows add up to per unit of `workload` in `config` (seconds),
    or None without those rows: unsampled rows for 1% traced, sampled for every span."""
    case = {ONE_PERCENT: "obskit unsampled", EVERY_SPAN: "obskit sampled",
            DISABLED: "obskit disabled"}.get(config)  # fmt: skip
    rows = (domains or {}).get("rows", {})
    mix = workloads.get("mixes", {}).get(workload)
    if case is None or not mix:
        return None
    total = 0.0
    for row, count in mix.items():
        figures = rows.get(row, {})
        if case not in figures or "bare" not in figures:
            return None
        total += count * max(0.0, figures[case] - figures["bare"])
    return total


def ratio(figures: dict[str, Any], config: str) -> float:
    """`config` over bare, per unit (for the streamz DAG the caller inverts it)."""
    return float(figures["median"][config] / figures["median"][BARE])


def budget(workload: str) -> str:
    """Issue 22's budget of `workload`, as the targets table shows it."""
    if workload == STREAMZ:
        return f">= {TARGETS[workload]}x bare throughput"
    return f"<= {TARGETS[workload]}x"


def verdict(workload: str, bare: float, traced: float, unit: str) -> tuple[str, bool]:
    """(measured, passed) of `workload`'s target: 1% traced against bare, per unit."""
    over, added = traced / bare, (traced - bare) * 1e6
    if workload == STREAMZ:
        return (f"{1 / over:.2f}x throughput (+{added:,.2f} us per {unit})",
                1 / over >= TARGETS[workload])  # fmt: skip
    return f"{over:.2f}x (+{added:,.2f} us per {unit})", over <= TARGETS[workload]


def targets(workloads: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, budget, measured, passed) of each workload in `workloads`."""
    made = []
    for name, figures in workloads["rows"].items():
        median = figures["median"]
        measured, passed = verdict(name, median[BARE], median[ONE_PERCENT], figures["unit"])
        made.append((f"whole workload: {name}, 1% traced / bare", budget(name), measured, passed))
    return made


def _us(seconds: float) -> str:
    return f"{seconds * 1e6:,.2f} us"


def render(workloads: dict[str, Any], domains: dict[str, Any] | None = None) -> list[str]:
    """The tables for docs/performance.md's results block (MISSING where a figure is)."""
    lines = [
        "Per unit of work, median of interleaved runs; the ratio is over bare (for the "
        'streamz DAG, throughput: bare time / obskit time). "Sum of rows": what the '
        "per-operation rows above add for the operations one unit performs (unsampled rows "
        "for 1% traced, sampled rows for every span), and how many times that the whole "
        "workload adds.",
        "",
        "| workload | unit | bare | disabled | 1% traced | every span |",
        "|---|---|---:|---:|---:|---:|",
    ]
    gaps = []
    for name, figures in workloads["rows"].items():
        median = figures.get("median", {})
        bare = median.get(BARE)
        cells, added = ["MISSING" if bare is None else _us(bare)], []
        for config in COLUMNS[1:]:
            seconds = median.get(config)
            if seconds is None or bare is None:
                cells.append("MISSING")
                added.append("MISSING")
                continue
            shown = seconds / bare
            if name == STREAMZ:
                cells.append(f"{_us(seconds)} ({1 / shown:.2f}x throughput)")
            else:
                cells.append(f"{_us(seconds)} ({shown:.2f}x)")
            added.append(_us(seconds - bare))
            if config != DISABLED:
                rows = sum_of_rows(workloads, domains, name, config)
                gap = "" if not rows else f" ({(seconds - bare) / rows:.1f}x)"
                added.append("-" if rows is None else _us(rows) + gap)
        lines.append(f"| {name} | {figures.get('unit', '')} | " + " | ".join(cells) + " |")
        gaps.append(f"| {name} | " + " | ".join(added) + " |")
    lines += [
        "",
        "| workload | added per unit, disabled | 1% traced | sum of rows, 1% | every span "
        "| sum of rows, every span |",
        "|---|---:|---:|---:|---:|---:|",
        *gaps,
    ]
    if RAFT in workloads["rows"]:
        lines += [
            "",
            f"The Raft row is the leader's process CPU (every thread) per committed write, "
            f"{workloads['rows'][RAFT].get('units')} writes per run; its bare column runs the "
            "example's nodes with a stand-in `obskit` of plain pass-throughs "
            "(benchmarks/_uninstrumented), so no obskit code runs at all. The B+tree and "
            "streamz rows are wall time from the first operation to the end of "
            "`obskit.flush()`.",
        ]
    return lines


def _domain_rows(quick: bool) -> dict[str, Any]:
    """The bench_domains rows the workloads' sums read (run alone with --rows)."""
    import bench_domains

    providers = bench_domains.Providers()
    needed = sorted({row for mix in (btree_mix(quick), *MIXES.values()) for row in mix})
    number, repeat = (2_000, 5) if quick else (10_000, 11)
    return {"rows": {row: bench_domains.compare(bench_domains.row_cases(row, providers),
                                                 number=number, repeat=repeat)
                     for row in needed}}  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", action="append", choices=WORKLOADS,
                        help="only these workloads (repeatable)")  # fmt: skip
    parser.add_argument("--rows", action="store_true",
                        help="also time the bench_domains rows the sums need")  # fmt: skip
    parser.add_argument("--child", choices=WORKLOADS[:3], help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    os.environ.pop("OTEL_SDK_DISABLED", None)
    sys.path.insert(0, str(HERE))
    if arguments.child:  # in_child(): one workload's figures as one JSON line
        print(json.dumps(measure_in_process(arguments.child, arguments.quick)))
        sys.exit(0)
    figures = run(arguments.quick, tuple(arguments.only or WORKLOADS))
    domains = _domain_rows(arguments.quick) if arguments.rows else None
    print("\n".join(render(figures, domains)))
    for name, wanted, measured, passed in targets(figures):
        print(f"{'PASS' if passed else 'FAIL'}  {name}: {measured} (budget {wanted})")
