"""Run obskit's benchmark suite and write the results into docs/performance.md.

Run:  python benchmarks/run.py [--quick] [--output docs/performance.md] [--json FILE]
      python benchmarks/run.py --from-json FILE   (render a saved run again, no timing)
      (or ./dev bench, or nox -s bench)

Every target is a ratio or a budget measured in this same run on this same machine; the
page gets the machine, versions, date, each table, and PASS/FAIL per target. A case a
target needs that is not in the results gives MISSING (and exit status 1), never another
case's figure. One line per step goes to stderr as the step starts (`bench [i/N] ...`).
With matplotlib installed (`pip install 'obskit[plot]'`) the run also draws
docs/images/bench.svg (benchmarks/chart.py), which docs/performance.md shows.

The full run takes five to six minutes on a 2-core machine (the whole workloads of
benchmarks/bench_workloads.py about two and a half of it, the Raft example's twenty runs
most of that); --quick under two minutes.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_calls  # noqa: E402
import bench_domains  # noqa: E402
import bench_export  # noqa: E402
import bench_metrics  # noqa: E402
import bench_workloads  # noqa: E402
import chart  # noqa: E402
from _bench_harness import Progress, Step, run_steps  # noqa: E402
from bench_calls import SDK_SPANS  # noqa: E402

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"
#: The suite, in the order it runs: results key -> module with steps() and assemble().
BENCHES = {
    "calls": bench_calls,
    "metrics": bench_metrics,
    "export": bench_export,
    "domains": bench_domains,
    "workloads": bench_workloads,
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": _cpu_model(),
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "opentelemetry-sdk": _version("opentelemetry-sdk"),
        "prometheus_client": _version("prometheus_client"),
        "obskit": _version("obskit"),
        "load average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def runtime_figures() -> dict[str, Any]:
    """benchmarks/bench_runtime.py (obskit.runtime's GC hook), in a process of its own."""
    done = subprocess.run(
        [sys.executable, str(HERE / "bench_runtime.py"), "--json", "--repeat", "7",
         "--number", "10000"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


# --- reading figures: a missing case is said, never replaced -------------------------------
class Missing(Exception):
    """A figure a target or table needs is not in the results."""


def figure(results: Any, *path: str) -> Any:
    """`results[path[0]][path[1]]...`, or Missing naming the whole path.

    Example:
        >>> figure({"calls": {"bare": 1.0}}, "calls", "bare")
        1.0
        >>> figure({"calls": {}}, "calls", "obskit @traced")
        Traceback (most recent call last):
        ...
        run.Missing: calls / obskit @traced
    """
    node = results
    where = getattr(results, "path", ())
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise Missing(" / ".join((*where, *path)))
        node = node[key]
    # A table remembers where it came from, so a case missing from it is named in full.
    return _Figures(node, (*where, *path)) if isinstance(node, dict) else node


class _Figures(dict):  # type: ignore[type-arg]
    """A dict of figures that knows its path in the results."""

    def __init__(self, figures: dict[str, Any], path: tuple[str, ...]) -> None:
        super().__init__(figures)
        self.path = path


def _ns(seconds: float) -> str:
    return f"{seconds * 1e9:,.0f} ns" if seconds < 1e-6 else f"{seconds * 1e6:,.2f} us"


def _table(figures: dict[str, float], baseline: str | None = "bare") -> list[str]:
    base = figures.get(baseline or "", 0.0)
    header = "| case | per call | added over bare |" if baseline else "| case | per operation |"
    lines = [header, "|---|---:|---:|" if baseline else "|---|---:|"]
    for name, seconds in figures.items():
        if baseline:
            added = "" if name == baseline else _ns(max(0.0, seconds - base))
            lines.append(f"| {name} | {_ns(seconds)} | {added} |")
        else:
            lines.append(f"| {name} | {_ns(seconds)} |")
    return lines


# --- targets ------------------------------------------------------------------------------
#: A target: its name, its budget, and how to measure it: results -> (measured, passed).
Target = tuple[str, str, Callable[[dict[str, Any]], tuple[str, bool]]]
#: The budgets of the domain rows (issue 22): unsampled domain operation (added over
#: bare; a Raft RPC carries its W3C header, a scan yields 20 keys), the sampled query
#: lifecycle against the same shape in raw SDK spans, the examples' whole B+tree workload.
UNSAMPLED_BUDGET = 1.0e-6
UNSAMPLED_BUDGETS = {
    "raft client RPC": 2.0e-6,
    "raft server RPC": 2.0e-6,
    "btree scan (20 keys)": 2.0e-6,
}
LIFECYCLE_RATIO = 0.4
WORKLOAD_RATIO = 1.5
TRACED = "obskit @traced"
RAW = "raw OTel SDK @start_as_current_span"


def _added(figures: dict[str, float], case: str) -> float:
    return max(0.0, figure(figures, case) - figure(figures, "bare"))


def _disabled(results: dict[str, Any]) -> tuple[str, bool]:
    off = figure(results, "calls", "disabled")
    bare = figure(off, "bare")
    worst = max((seconds - bare, name) for name, seconds in off.items()
                if name.startswith("obskit"))  # fmt: skip
    wraps = figure(off, "functools.wraps pass-through") - bare
    measured = (f"{_ns(worst[0])} (worst: {worst[1].removeprefix('obskit @traced, ')}; "
                f"functools.wraps {_ns(wraps)})")  # fmt: skip
    return measured, worst[0] <= 100e-9


def _sampled_out(results: dict[str, Any]) -> tuple[str, bool]:
    out = figure(results, "calls", "sampled_out")
    root, child = _added(out, TRACED), _added(out, "obskit @traced, child of unsampled parent")
    measured = f"{_ns(root)} / {_ns(child)} (raw SDK {_ns(_added(out, RAW))})"
    return measured, max(root, child) <= 1.5e-6


def _sampled_in(results: dict[str, Any]) -> tuple[str, bool]:
    sampled = figure(results, "calls", "sampled_in")
    raw = _added(sampled, RAW)
    traced, span = _added(sampled, TRACED) / raw, _added(sampled, "with obskit.span") / raw
    sdk_spans = _added(sampled, f"{TRACED}, {SDK_SPANS}") / raw
    return (f"{traced:.2f}x / {span:.2f}x (@traced with {SDK_SPANS}: {sdk_spans:.2f}x)",
            max(traced, span) <= 0.25)  # fmt: skip


def _domain_metrics(results: dict[str, Any]) -> tuple[str, bool]:
    counter = figure(results, "metrics", "counters", "obskit hot_counter().bind(attrs).add(1)")
    histogram = figure(results, "metrics", "histograms",
                       "obskit hot_histogram().bind(attrs).record(v)")  # fmt: skip
    sdk = figure(results, "metrics", "counters", "OTel SDK Counter.add(1, attrs)")
    return (f"{_ns(counter)} / {_ns(histogram)} ({sdk / counter:.0f}x cheaper than the SDK "
            "counter)", max(counter, histogram) <= 0.5e-6)  # fmt: skip


def _timed(results: dict[str, Any]) -> tuple[str, bool]:
    deco = figure(results, "metrics", "metrics_decorator")
    timed = _added(deco, "obskit @timed (duration histogram + call counter)")
    return _ns(timed), timed <= 1e-6


def _export(results: dict[str, Any]) -> tuple[str, bool]:
    export = figure(results, "export", "export")
    ours = figure(export, bench_export.EXPORT["obskit"])
    sdk_spans = figure(export, bench_export.EXPORT["obskit_sdk_spans"], "spans_per_second")
    sdk = figure(export, bench_export.EXPORT["sdk_exporter"], "spans_per_second")
    rate, dropped = ours["spans_per_second"], int(ours["dropped"])
    return (f"{rate:,.0f}/s, {dropped} dropped ({SDK_SPANS}: {sdk_spans:,.0f}/s; the SDK's "
            f"own exporter: {sdk:,.0f}/s)", rate >= 100_000 and dropped == 0)  # fmt: skip


def _memory(results: dict[str, Any]) -> tuple[str, bool]:
    memory = figure(results, "export", "retained_bytes_per_span")
    ours = figure(memory, bench_export.BYTES["obskit"])
    sdk_spans = figure(memory, bench_export.BYTES["obskit_sdk_spans"])
    sdk = figure(memory, bench_export.BYTES["sdk"])
    return (f"{ours / sdk:.2f}x ({ours:,.0f} B / {sdk:,.0f} B; {SDK_SPANS}: {sdk_spans:,.0f} B)",
            ours / sdk <= 0.5)  # fmt: skip


def _domain_row(row: str) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    def measure(results: dict[str, Any]) -> tuple[str, bool]:
        figures = figure(results, "domains", "rows", row)
        ours, sdk = _added(figures, "obskit unsampled"), _added(figures, "raw SDK unsampled")
        return f"{_ns(ours)} (raw SDK {_ns(sdk)})", ours <= _unsampled_budget(row)

    return measure


def _unsampled_budget(row: str) -> float:
    return UNSAMPLED_BUDGETS.get(row, UNSAMPLED_BUDGET)


def _lifecycle(results: dict[str, Any]) -> tuple[str, bool]:
    figures = figure(results, "domains", "rows", bench_domains.LIFECYCLE)
    ours, sdk = _added(figures, "obskit sampled"), _added(figures, "raw SDK sampled")
    sdk_spans = _added(figures, f"obskit sampled, {SDK_SPANS}")
    return (f"{ours / sdk:.2f}x ({_ns(ours)} / {_ns(sdk)}; {SDK_SPANS}: {sdk_spans / sdk:.2f}x)",
            ours / sdk <= LIFECYCLE_RATIO)  # fmt: skip


def _workload(results: dict[str, Any]) -> tuple[str, bool]:
    workload = figure(results, "domains", "workload")
    bare = figure(workload, bench_domains.WORKLOAD_BARE)
    traced = figure(workload, bench_domains.WORKLOAD_TRACED)
    ratio = traced / bare
    return f"{ratio:.2f}x ({traced * 1e3:,.0f} ms / {bare * 1e3:,.0f} ms)", ratio <= WORKLOAD_RATIO


def _whole(workload: str) -> Callable[[dict[str, Any]], tuple[str, bool]]:
    """Issue 22's target of `workload`: 1% traced against bare (no obskit at all)."""

    def measure(results: dict[str, Any]) -> tuple[str, bool]:
        median = figure(results, "workloads", "rows", workload, "median")
        bare = figure(median, bench_workloads.BARE)
        traced = figure(median, bench_workloads.ONE_PERCENT)
        return bench_workloads.verdict(
            workload, bare, traced, results["workloads"]["rows"][workload]["unit"]
        )

    return measure


def _runtime(results: dict[str, Any]) -> tuple[str, bool]:
    runtime = figure(results, "runtime")
    if "error" in runtime:
        return f"bench_runtime.py failed: {runtime['error'][-200:]}", False
    return f"{figure(runtime, 'overhead_no_span_us'):.3f} us", bool(runtime["within_budget"])


def targets() -> list[Target]:
    """Every target, each measured on the one configuration it names (the default one
    unless it says otherwise)."""
    rows: list[Target] = [
        ("1. disabled: added per decorated call", "<= 100 ns", _disabled),
        ("2. sampled out: added per call (root / child of unsampled parent)", "<= 1.5 us",
         _sampled_out),
        ("3. sampled in: @traced / obskit.span over the raw SDK (same SpanQueue, no-op "
         "exporter)", "<= 0.25x", _sampled_in),
        ("4. domain metrics: per recorded operation with attributes (counter / histogram)",
         "<= 0.5 us", _domain_metrics),
        ("5. metrics-only decorator (@obskit.timed): added per call", "<= 1 us", _timed),
        ("6. export: spans/s through SpanQueue + OTLP/HTTP exporter to a local receiver",
         ">= 100,000/s, no drops", _export),
        ("7. memory: bytes retained per queued span / SDK BatchSpanProcessor", "<= 0.5x",
         _memory),
    ]  # fmt: skip
    for row in bench_domains.ROWS:
        if row != bench_domains.LIFECYCLE:
            budget = f"<= {_unsampled_budget(row) * 1e6:.1f} us"
            rows.append((f"domain, unsampled: {row} (added per operation)", budget,
                         _domain_row(row)))  # fmt: skip
    rows += [
        ("domain, sampled: query lifecycle, 4 phases + 5 fragments, obskit / raw SDK",
         f"<= {LIFECYCLE_RATIO}x", _lifecycle),
        ("whole workload: examples' B+tree, every operation decorated, 1% traced / bare",
         f"<= {WORKLOAD_RATIO}x", _workload),
        *((f"whole workload: {name}, 1% traced / bare", bench_workloads.budget(name),
           _whole(name)) for name in bench_workloads.WORKLOADS),
        ("obskit.runtime GC hook: added per young collection, no span", "<= 2.0 us", _runtime),
    ]  # fmt: skip
    return rows


def evaluate(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(target, budget, measured, PASS | FAIL | MISSING) for each target."""
    rows = []
    for name, budget, measure in targets():
        try:
            measured, passed = measure(results)
            verdict = "PASS" if passed else "FAIL"
        except Missing as missing:
            measured, verdict = f"missing: {missing}", "MISSING"
        rows.append((name, budget, measured, verdict))
    return rows


# --- the generated block ------------------------------------------------------------------
TITLES = {
    "disabled": "Decorated call, obskit off (`def f(x): return x + 1`)",
    "sampled_out": "Decorated call, sampled out (ParentBased(TraceIdRatioBased(0)))",
    "sampled_in": "Decorated call, sampled in (SpanQueue + no-op exporter, both sides; obskit "
    f"rows use obskit's span recorder, the default, unless they say {SDK_SPANS})",
    "scrubbing": "Scrubbing: a sampled-in call capturing two string arguments, on and off",
}
METRIC_TITLES = {
    "counters": "Counter, one operation with two attributes",
    "histograms": "Histogram, one value with two attributes",
}


def _section(title: str, build: Callable[[], list[str]]) -> list[str]:
    try:
        return ["", f"### {title}", "", *build()]
    except Missing as missing:
        return ["", f"### {title}", "", f"MISSING: {missing}"]


def render_domains(results: dict[str, Any]) -> list[str]:
    """The per-row table of bench_domains: added per operation over the bare call."""
    domains = figure(results, "domains")
    cases = bench_domains.CASES[1:]
    lines = [
        "| operation | bare | " + " | ".join(cases) + " | sampled: obskit / SDK |",
        "|---|---:|" + "---:|" * len(cases) + "---:|",
    ]
    for name, figures in figure(domains, "rows").items():
        added = []
        for case in cases:
            try:
                added.append(_ns(_added(figures, case)))
            except Missing:
                added.append("MISSING")
        try:
            ratio = _added(figures, "obskit sampled") / _added(figures, "raw SDK sampled")
            shown = f"{ratio:.2f}x"
        except Missing:
            shown = "MISSING"
        bare = _ns(figures["bare"]) if "bare" in figures else "MISSING"
        lines.append(f"| {name} | {bare} | " + " | ".join(added) + f" | {shown} |")
    extra = {row: {case: seconds for case, seconds in figures.items()
                   if case not in bench_domains.CASES}
             for row, figures in domains["rows"].items()}  # fmt: skip
    for row, figures in extra.items():
        bare = domains["rows"][row].get("bare", 0.0)
        for case, seconds in figures.items():
            lines += ["", f"{row}, {case}: {_ns(seconds - bare)} added per operation."]
    lines += ["", "| whole workload | seconds per run |", "|---|---:|"]
    lines += [f"| {name} | {seconds:.3f} s |" for name, seconds in domains["workload"].items()]
    return lines


def render_export(results: dict[str, Any]) -> list[str]:
    export = figure(results, "export")
    lines = ["| measure | value |", "|---|---:|"]
    for name, rate in figure(export, "encode").items():
        lines.append(f"| {name} (512-span batches) | {rate:,.0f} spans/s |")
    for name, run in figure(export, "export").items():
        lines.append(f"| {name} | {run['spans_per_second']:,.0f} spans/s "
                     f"({int(run['delivered']):,} delivered, {int(run['dropped'])} dropped) |")  # fmt: skip
    for name, size in figure(export, "retained_bytes_per_span").items():
        lines.append(f"| bytes retained per queued span, {name} | {size:,.0f} B |")
    return lines


def render_runtime(results: dict[str, Any]) -> list[str]:
    runtime = figure(results, "runtime")
    if "error" in runtime:
        return [f"bench_runtime.py failed: `{runtime['error']}`"]
    return [
        "| measure | value |",
        "|---|---:|",
        f"| added per young collection, no span | {runtime['overhead_no_span_us']:.3f} us |",
        f"| added per young collection, in a recording span | "
        f"{runtime['overhead_span_us']:.3f} us |",
    ]


def render(results: dict[str, Any], chart_note: str = "") -> str:
    """The generated part of docs/performance.md."""
    info = results["machine"]
    lines = [
        BEGIN,
        "<!-- Generated by benchmarks/run.py: edit the script, not this block. -->",
        "",
        f"Measured {info['date']} on {info['nproc']} x {info['cpu']} (load average "
        f"{info.get('load average', 'not recorded')} at the start), Python {info['python']}, "
        f"OpenTelemetry SDK {info['opentelemetry-sdk']}, prometheus_client "
        f"{info['prometheus_client']}, obskit {info['obskit']}"
        f"{' (quick run)' if results['quick'] else ''}; suite took {results['seconds']:.0f} s.",
    ]
    if chart_note:
        lines += ["", chart_note]
    lines += ["", "### Targets", "", "| target | budget | measured | |", "|---|---|---|---|"]
    lines += [f"| {t} | {b} | {m} | {v} |" for t, b, m, v in evaluate(results)]
    for key, title in TITLES.items():
        lines += _section(title, lambda key=key: _table(figure(results, "calls", key)))
    for key, title in METRIC_TITLES.items():
        lines += _section(title, lambda key=key: _table(figure(results, "metrics", key), None))
    lines += _section(
        "Metrics-only decorator (duration histogram + call counter, no span)",
        lambda: _table(figure(results, "metrics", "metrics_decorator")),
    )
    lines += _section("Export and memory", lambda: render_export(results))
    lines += _section(
        "Domain operations (benchmarks/bench_domains.py): added per operation over bare",
        lambda: render_domains(results),
    )
    lines += _section(
        "Whole workloads on real libraries (benchmarks/bench_workloads.py)",
        lambda: bench_workloads.render(figure(results, "workloads"), results.get("domains")),
    )
    lines += _section("obskit.runtime GC hook (benchmarks/bench_runtime.py)",
                      lambda: render_runtime(results))  # fmt: skip
    lines += ["", END]
    return "\n".join(lines)


def write(page: Path, block: str) -> None:
    """Replace the generated block of `page` (or append it)."""
    text = page.read_text() if page.exists() else "# Performance\n\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    page.write_text(text)


def measure(quick: bool) -> dict[str, Any]:
    """Run the whole suite, one progress line per step on stderr."""
    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    plans = {name: bench.steps(quick) for name, bench in BENCHES.items()}
    plans["runtime"] = [Step("runtime", runtime_figures, "obskit.runtime GC hook")]
    progress = Progress(sum(len(steps) for steps in plans.values()))
    for name, steps in plans.items():
        done = run_steps(steps, progress, prefix=f"{name}: ")
        results[name] = (
            done["runtime"] if name == "runtime" else BENCHES[name].assemble(done, quick)
        )
    results["seconds"] = time.monotonic() - started
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (about a minute)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--from-json", type=Path, help="render this saved run; time nothing")
    parser.add_argument("--chart", type=Path,
                        help="where to draw the chart (default: images/bench.svg next to "
                        "--output); needs matplotlib")  # fmt: skip
    parser.add_argument("--no-chart", action="store_true", help="draw no chart")
    args = parser.parse_args(argv)
    os.environ.pop("OTEL_SDK_DISABLED", None)

    # --from-json renders a saved run again (the page, the chart) without timing anything.
    results = json.loads(args.from_json.read_text()) if args.from_json else measure(args.quick)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))

    target = args.chart or args.output.parent / "images" / "bench.svg"
    shown = os.path.relpath(target, args.output.parent)
    problem = "--no-chart" if args.no_chart else chart.draw(results, target)
    if problem:
        print(f"chart skipped: {problem}", file=sys.stderr)
        note = f"The chart ({shown}) was not drawn from this run: {problem}."
    else:
        print(f"wrote {target}")
        note = f"The chart at the top of the page ({shown}) is drawn from this run."
    write(args.output, render(results, note))
    missing = 0
    for target_name, budget, measured, verdict in evaluate(results):
        missing += verdict == "MISSING"
        print(f"{verdict:<7}  {target_name}: {measured} (budget {budget})")
    print(f"wrote {args.output}")
    if missing:
        print(f"{missing} target(s) MISSING a case: a benchmark did not produce it",
              file=sys.stderr)  # fmt: skip
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
