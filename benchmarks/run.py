"""Run obskit's benchmark suite and write the results into docs/performance.md.

Run:  python benchmarks/run.py [--quick] [--output docs/performance.md]
      (or ./dev bench, or nox -s bench)

Every target of issues 9 and 12 is a ratio or a budget measured in this same run on this
same machine; the page gets the machine, versions, date, each table, and PASS/FAIL per
target.
The full run takes about two to three minutes on a 2-core machine; --quick about 30 s. The
Raft example's row (bench_raft.py: the 3-process example run 10 times, --quick 6) adds
about 40 s, --quick about 20 s.
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
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_calls  # noqa: E402
import bench_domains  # noqa: E402
import bench_export  # noqa: E402
import bench_metrics  # noqa: E402
import bench_raft  # noqa: E402

BEGIN = "<!-- bench:begin -->"
END = "<!-- bench:end -->"


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
    }


def runtime_figures() -> dict[str, Any] | None:
    """benchmarks/bench_runtime.py (obskit.runtime's GC hook), when it is there."""
    script = HERE / "bench_runtime.py"
    if not script.exists():
        return None
    done = subprocess.run(
        [sys.executable, str(script), "--json", "--repeat", "7", "--number", "10000"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        return {"error": done.stderr.strip()[-500:]}
    parsed: dict[str, Any] = json.loads(done.stdout)
    return parsed


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


def evaluate(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, budget, measured, passed) for each target of issue 9."""
    calls, metrics, export = results["calls"], results["metrics"], results["export"]
    rows: list[tuple[str, str, str, bool]] = []

    off = calls["disabled"]
    worst = max(
        (seconds - off["bare"], name) for name, seconds in off.items() if name.startswith("obskit")
    )
    rows.append(
        (
            "1. disabled: added per decorated call",
            "<= 100 ns",
            f"{_ns(worst[0])} (worst: {worst[1].removeprefix('obskit @traced, ')}; "
            f"functools.wraps {_ns(off['functools.wraps pass-through'] - off['bare'])})",
            worst[0] <= 100e-9,
        )
    )
    out = calls["sampled_out"]
    root = out["obskit @traced"] - out["bare"]
    child = out["obskit @traced, child of unsampled parent"] - out["bare"]
    raw = out["raw OTel SDK @start_as_current_span"] - out["bare"]
    rows.append(
        (
            "2. sampled out: added per call (root / child of unsampled parent)",
            "<= 1.5 us",
            f"{_ns(root)} / {_ns(child)} (raw SDK {_ns(raw)})",
            max(root, child) <= 1.5e-6,
        )
    )
    sampled = calls["sampled_in"]
    ratio = (sampled["obskit @traced"] - sampled["bare"]) / (
        sampled["raw OTel SDK @start_as_current_span"] - sampled["bare"]
    )
    rows.append(
        (
            "3. sampled in: obskit / raw SDK (same SpanQueue, no-op exporter)",
            "<= 0.9x",
            f"{ratio:.2f}x",
            ratio <= 0.9,
        )
    )
    counter = metrics["counters"]["obskit hot_counter().bind(attrs).add(1)"]
    histogram = metrics["histograms"]["obskit hot_histogram().bind(attrs).record(v)"]
    sdk_counter = metrics["counters"]["OTel SDK Counter.add(1, attrs)"]
    rows.append(
        (
            "4. domain metrics: per recorded operation with attributes (counter / histogram)",
            "<= 0.5 us",
            f"{_ns(counter)} / {_ns(histogram)} ({sdk_counter / counter:.0f}x cheaper than "
            "the SDK counter)",
            max(counter, histogram) <= 0.5e-6,
        )
    )
    deco = metrics["metrics_decorator"]
    timed = deco["obskit @timed (duration histogram + call counter)"] - deco["bare"]
    rows.append(
        ("5. metrics-only decorator (@obskit.timed): added per call", "<= 1 us", _ns(timed),
         timed <= 1e-6)
    )  # fmt: skip
    rate = export["export"]["spans_per_second"]
    dropped = int(export["export"]["dropped"])
    rows.append(
        (
            "6. export: spans/s through SpanQueue + OTLP/HTTP exporter to a local receiver",
            ">= 60,000/s, no drops",
            f"{rate:,.0f}/s, {dropped} dropped (SDK exporter: "
            f"{export['export_sdk_exporter']['spans_per_second']:,.0f}/s; encoders alone: "
            f"obskit {export['obskit_encode_spans_per_second']:,.0f}/s, "
            f"SDK {export['encode_spans_per_second']:,.0f}/s)",
            rate >= 60_000 and dropped == 0,
        )
    )
    memory = export["retained_bytes_per_span"]
    sdk = memory["OTel SDK BatchSpanProcessor"]
    # obskit's default is its own span recorder; SDK spans are OBSKIT_SLIM_SPANS=false.
    ours = memory.get("obskit SpanQueue, obskit's recorder", memory["obskit SpanQueue"])
    rows.append(
        (
            "7. memory: bytes retained per queued span (obskit / SDK BSP)",
            "<= SDK",
            f"{ours:,.0f} B / {sdk:,.0f} B (SDK spans in obskit's queue: "
            f"{memory['obskit SpanQueue']:,.0f} B)",
            ours <= sdk,
        )
    )
    domains = results.get("domains")
    if domains:
        rows.extend(evaluate_domains(domains))
    if results.get("raft"):
        rows.append(bench_raft.target(results["raft"]))
    rows.extend(evaluate_recorder(results))
    return rows


def evaluate_recorder(results: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """Issue 12's span-recorder targets: obskit's own recorder (the default) measured in
    this run, next to SDK spans (`OBSKIT_SLIM_SPANS=false`)."""
    sampled = results["calls"]["sampled_in"]
    raw = sampled["raw OTel SDK @start_as_current_span"] - sampled["bare"]
    default = (sampled.get("obskit @traced, SDK spans", sampled["obskit @traced"])
               - sampled["bare"]) / raw  # fmt: skip
    own = (sampled.get("obskit @traced, obskit's recorder", sampled["obskit @traced"])
           - sampled["bare"]) / raw  # fmt: skip
    span_own = (sampled.get("with obskit.span, obskit's recorder", sampled["obskit @traced"])
                - sampled["bare"]) / raw  # fmt: skip
    memory = results["export"]["retained_bytes_per_span"]
    sdk_bytes = memory["OTel SDK BatchSpanProcessor"]
    bytes_default = memory["obskit SpanQueue"] / sdk_bytes
    bytes_own = memory.get("obskit SpanQueue, obskit's recorder", memory["obskit SpanQueue"])
    bytes_own /= sdk_bytes
    export = results["export"]
    rate = export.get("export_own_recorder", export["export"])["spans_per_second"]
    rate_default = export["export"]["spans_per_second"]
    rows = [
        ("span recorder (default): sampled-in @traced / obskit.span vs raw SDK (issue 12)",
         "<= 0.25x", f"{own:.2f}x / {span_own:.2f}x (SDK spans: {default:.2f}x)",
         max(own, span_own) <= 0.25),
        ("span recorder (default): bytes retained per queued span / SDK BSP (issue 12)",
         "<= 0.5x", f"{bytes_own:.2f}x (SDK spans: {bytes_default:.2f}x)",
         bytes_own <= 0.5),
        ("span recorder (default): export to a local OTLP receiver (issue 12)",
         ">= 100,000 spans/s", f"{rate:,.0f}/s (SDK spans: {rate_default:,.0f}/s)",
         rate >= 100_000),
    ]  # fmt: skip
    domains = results.get("domains") or {}
    lifecycle = next(
        (f for n, f in domains.get("rows", {}).items() if n.startswith("query lifecycle")), None
    )
    if lifecycle is not None and "obskit sampled, obskit's recorder" in lifecycle:
        ratio = _added(lifecycle, "obskit sampled, obskit's recorder") / max(
            1e-12, _added(lifecycle, "raw SDK sampled")
        )
        rows.append(
            ("span recorder (default): query lifecycle, 4 phases + 5 fragments / raw SDK",
             f"<= {LIFECYCLE_RATIO}x", f"{ratio:.2f}x", ratio <= LIFECYCLE_RATIO)
        )  # fmt: skip
    return rows


#: Issue 12's budgets: unsampled domain operation (added over bare), the sampled query
#: lifecycle against the same shape in raw SDK spans, the whole B+tree workload.
UNSAMPLED_BUDGET = 1.0e-6
LIFECYCLE_RATIO = 0.25
WORKLOAD_RATIO = 1.3


def _added(figures: dict[str, float], case: str) -> float:
    return max(0.0, figures[case] - figures["bare"])


def evaluate_domains(domains: dict[str, Any]) -> list[tuple[str, str, str, bool]]:
    """(target, budget, measured, passed) for each domain row of issue 12."""
    rows: list[tuple[str, str, str, bool]] = []
    for name, figures in domains["rows"].items():
        if name.startswith("query lifecycle"):
            continue
        ours, sdk = _added(figures, "obskit unsampled"), _added(figures, "raw SDK unsampled")
        rows.append(
            (
                f"domain, unsampled: {name} (added per operation)",
                "<= 1.0 us",
                f"{_ns(ours)} (raw SDK {_ns(sdk)})",
                ours <= UNSAMPLED_BUDGET,
            )
        )
    lifecycle = next(
        (f for n, f in domains["rows"].items() if n.startswith("query lifecycle")), None
    )
    if lifecycle is not None:
        ratio = _added(lifecycle, "obskit sampled") / max(
            1e-12, _added(lifecycle, "raw SDK sampled")
        )
        rows.append(
            (
                "domain, sampled: query lifecycle, 4 phases + 5 fragments, obskit / raw SDK",
                f"<= {LIFECYCLE_RATIO}x",
                f"{ratio:.2f}x ({_ns(_added(lifecycle, 'obskit sampled'))} / "
                f"{_ns(_added(lifecycle, 'raw SDK sampled'))})",
                ratio <= LIFECYCLE_RATIO,
            )
        )
    workload = domains.get("workload")
    if workload:
        bare, traced = workload.values()
        rows.append(
            (
                "whole workload: examples' B+tree, every operation decorated, 1% traced / bare",
                f"<= {WORKLOAD_RATIO}x",
                f"{traced / bare:.2f}x ({traced * 1e3:,.0f} ms / {bare * 1e3:,.0f} ms)",
                traced / bare <= WORKLOAD_RATIO,
            )
        )
    return rows


def render_domains(domains: dict[str, Any]) -> list[str]:
    """The per-row table of bench_domains: added per operation over the bare call."""
    cases = ("obskit unsampled", "raw SDK unsampled", "obskit sampled", "raw SDK sampled")
    lines = [
        "",
        "### Domain operations (benchmarks/bench_domains.py): added per operation over bare",
        "",
        "| operation | bare | " + " | ".join(cases) + " | sampled: obskit / SDK |",
        "|---|---:|" + "---:|" * len(cases) + "---:|",
    ]
    for name, figures in domains["rows"].items():
        added = [_ns(_added(figures, case)) for case in cases]
        ratio = _added(figures, "obskit sampled") / max(1e-12, _added(figures, "raw SDK sampled"))
        lines.append(
            f"| {name} | {_ns(figures['bare'])} | " + " | ".join(added) + f" | {ratio:.2f}x |"
        )
    workload = domains.get("workload") or {}
    if workload:
        lines += ["", "| whole workload | seconds per run |", "|---|---:|"]
        lines += [f"| {name} | {seconds:.3f} s |" for name, seconds in workload.items()]
    return lines


def render(results: dict[str, Any]) -> str:
    """The generated part of docs/performance.md."""
    info = results["machine"]
    lines = [
        BEGIN,
        "<!-- Generated by benchmarks/run.py: edit the script, not this block. -->",
        "",
        f"Measured {info['date']} on {info['nproc']} x {info['cpu']}, Python "
        f"{info['python']}, OpenTelemetry SDK {info['opentelemetry-sdk']}, prometheus_client "
        f"{info['prometheus_client']}, obskit {info['obskit']}"
        f"{' (quick run)' if results['quick'] else ''}; suite took {results['seconds']:.0f} s.",
        "",
        "### Targets",
        "",
        "| target | budget | measured | |",
        "|---|---|---|---|",
    ]
    for target, budget, measured, passed in evaluate(results):
        lines.append(f"| {target} | {budget} | {measured} | {'PASS' if passed else 'FAIL'} |")
    titles = {
        "disabled": "Decorated call, obskit off (`def f(x): return x + 1`)",
        "sampled_out": "Decorated call, sampled out (ParentBased(TraceIdRatioBased(0)))",
        "sampled_in": "Decorated call, sampled in (SpanQueue + no-op exporter, both sides)",
        "scrubbing": "Scrubbing: a sampled-in call capturing two string arguments, on and off",
    }
    for key, title in titles.items():
        lines += ["", f"### {title}", "", *_table(results["calls"][key])]
    metric_titles = {
        "counters": "Counter, one operation with two attributes",
        "histograms": "Histogram, one value with two attributes",
    }
    for key, title in metric_titles.items():
        lines += ["", f"### {title}", "", *_table(results["metrics"][key], None)]
    lines += [
        "",
        "### Metrics-only decorator (duration histogram + call counter, no span)",
        "",
        *_table(results["metrics"]["metrics_decorator"]),
    ]
    export = results["export"]
    lines += [
        "",
        "### Export and memory",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| SDK OTLP protobuf encoder alone, 512-span batches | "
        f"{export['encode_spans_per_second']:,.0f} spans/s |",
        f"| SpanQueue -> OTLP/HTTP exporter -> receiver process | "
        f"{export['export']['spans_per_second']:,.0f} spans/s "
        f"({int(export['export']['delivered']):,} delivered, "
        f"{int(export['export']['dropped'])} dropped) |",
        f"| obskit OTLP encoder alone, 512-span batches | "
        f"{export['obskit_encode_spans_per_second']:,.0f} spans/s |",
        f"| SpanQueue -> SDK OTLP/HTTP exporter (SDK encoder) -> receiver process | "
        f"{export['export_sdk_exporter']['spans_per_second']:,.0f} spans/s "
        f"({int(export['export_sdk_exporter']['delivered']):,} delivered, "
        f"{int(export['export_sdk_exporter']['dropped'])} dropped) |",
    ]
    own = export.get("export_own_recorder")
    if own:
        lines.append(
            f"| SpanQueue -> OTLP/HTTP exporter -> receiver process, obskit's recorder's spans | "
            f"{own['spans_per_second']:,.0f} spans/s ({int(own['delivered']):,} delivered, "
            f"{int(own['dropped'])} dropped) |"
        )
    for name, size in export["retained_bytes_per_span"].items():
        lines.append(f"| bytes retained per queued span, {name} | {size:,.0f} B |")
    if results.get("domains"):
        lines += render_domains(results["domains"])
    if results.get("raft"):
        lines += bench_raft.render(results["raft"])
    runtime = results.get("runtime")
    if runtime:
        lines += ["", "### obskit.runtime GC hook (benchmarks/bench_runtime.py)", ""]
        if "error" in runtime:
            lines.append(f"bench_runtime.py failed: `{runtime['error']}`")
        else:
            lines += [
                "| measure | value |",
                "|---|---:|",
                f"| added per young collection, no span | "
                f"{runtime['overhead_no_span_us']:.3f} us (budget {runtime['budget_us']} us: "
                f"{'PASS' if runtime['within_budget'] else 'FAIL'}) |",
                f"| added per young collection, in a recording span | "
                f"{runtime['overhead_span_us']:.3f} us |",
            ]
    lines += ["", END]
    return "\n".join(lines)


def write(page: Path, block: str) -> None:
    """Replace the generated block of `page` (or append it)."""
    text = page.read_text() if page.exists() else "# Performance\n\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text}\n{block}\n"
    page.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (~30 s)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "performance.md")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    args = parser.parse_args(argv)
    os.environ.pop("OTEL_SDK_DISABLED", None)

    started = time.monotonic()
    results: dict[str, Any] = {"machine": machine(), "quick": args.quick}
    for name, bench in (
        ("calls", bench_calls),
        ("metrics", bench_metrics),
        ("export", bench_export),
        ("domains", bench_domains),
        ("raft", bench_raft),
    ):
        print(f"running {name} ...", flush=True)
        results[name] = bench.run(args.quick)
    print("running runtime ...", flush=True)
    results["runtime"] = runtime_figures()
    results["seconds"] = time.monotonic() - started

    block = render(results)
    write(args.output, block)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    for target, budget, measured, passed in evaluate(results):
        print(f"{'PASS' if passed else 'FAIL'}  {target}: {measured} (budget {budget})")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
