"""The chart of a benchmark run: per operation, the bare call, the raw OpenTelemetry SDK
and obskit side by side.

Run:  python benchmarks/chart.py RESULTS.json [OUT.svg]   (a file from run.py --json)
      (benchmarks/run.py draws it at the end of every run)

Three panels, each a group of bars per operation on a log axis (the figures span four
orders of magnitude, from a bare call's tens of nanoseconds to a query lifecycle's
hundreds of microseconds): the decorators and metric instruments, the domain operations
unsampled, and sampled. Every bar is a figure from the results block of the same run; a
figure the run did not produce is marked "missing", never drawn from another case.
Needs matplotlib (`pip install 'obskit[plot]'`); without it `draw` says so and draws
nothing.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["BARS", "draw", "panels"]

#: The bars of every group, in order, and their colours.
BARS = ("bare call", "raw OpenTelemetry SDK", "obskit")
COLOURS = ("#9e9e9e", "#e3882f", "#2f6fb0")
#: A figure's place in the results: a path of keys, or None where the bar has no meaning.
Where = tuple[str, ...] | None
Group = tuple[str, tuple[Where, Where, Where]]


def _calls(table: str, raw: str, ours: str) -> tuple[Where, Where, Where]:
    return ("calls", table, "bare"), ("calls", table, raw), ("calls", table, ours)


def panels(results: dict[str, Any]) -> list[tuple[str, list[Group]]]:
    """(title, groups) per panel; each group names where its three figures are."""
    raw = "raw OTel SDK @start_as_current_span"
    calls: list[Group] = [
        ("@traced, obskit off\n(raw: OTel API, no SDK)",
         _calls("disabled", "OTel API without SDK @start_as_current_span",
                "obskit @traced, not configured")),
        ("@traced,\nsampled out", _calls("sampled_out", raw, "obskit @traced")),
        ("@traced,\nsampled in", _calls("sampled_in", raw, "obskit @traced")),
        ("with obskit.span,\nsampled in", _calls("sampled_in", raw, "with obskit.span")),
        ("@timed\n(metrics only)",
         (("metrics", "metrics_decorator", "bare"),
          ("metrics", "metrics_decorator",
           "raw OTel SDK: perf_counter + Histogram.record + Counter.add"),
          ("metrics", "metrics_decorator", "obskit @timed (duration histogram + call counter)"))),
        ("counter add,\n2 attributes",
         (None, ("metrics", "counters", "OTel SDK Counter.add(1, attrs)"),
          ("metrics", "counters", "obskit hot_counter().bind(attrs).add(1)"))),
        ("histogram record,\n2 attributes",
         (None, ("metrics", "histograms", "OTel SDK Histogram.record(v, attrs)"),
          ("metrics", "histograms", "obskit hot_histogram().bind(attrs).record(v)"))),
    ]  # fmt: skip
    rows = list((results.get("domains") or {}).get("rows", {}))
    domains = {
        sampled: [
            (textwrap.fill(row, 14),
             (("domains", "rows", row, "bare"), ("domains", "rows", row, f"raw SDK {sampled}"),
              ("domains", "rows", row, f"obskit {sampled}")))
            for row in rows
        ]
        for sampled in ("unsampled", "sampled")
    }  # fmt: skip
    return [
        ("Decorated call and metric record, time per call", calls),
        ("Domain operations, trace not sampled (obskit's sampler says no)", domains["unsampled"]),
        (
            "Domain operations, trace sampled (spans exported through a no-op exporter)",
            domains["sampled"],
        ),
    ]


def _lookup(results: dict[str, Any], path: Where) -> float | None:
    node: Any = results
    for key in path or ():
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node) if path else None


def _label(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds * 1e9:.0f} ns"


def draw(results: dict[str, Any], path: Path) -> str | None:
    """Draw the chart of `results` into `path` (.svg or .png); None, or why it was not."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import FuncFormatter, LogLocator
    except ImportError:
        return "matplotlib is not installed (pip install 'obskit[plot]')"
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "obskit-bench",
                         "font.size": 8})  # fmt: skip
    layout = [(title, groups) for title, groups in panels(results) if groups]
    figure, axes = plt.subplots(len(layout), 1, figsize=(11, 4.2 * len(layout)), squeeze=False)
    width = 0.27
    for ax, (title, groups) in zip(axes[:, 0], layout, strict=True):
        for g, (_, paths) in enumerate(groups):
            for b, figure_path in enumerate(paths):
                x = g + (b - 1) * width
                value = _lookup(results, figure_path)
                if value is None:
                    if figure_path is not None:  # asked for and not produced
                        ax.text(x, 1e-8, "missing", rotation=90, ha="center", va="bottom",
                                fontsize=7, color="#b00020")  # fmt: skip
                    continue
                ax.bar(x, value, width, color=COLOURS[b], label=BARS[b] if g == 0 else None)
                ax.text(x, value * 1.15, _label(value), rotation=90, ha="center", va="bottom",
                        fontsize=6.5)  # fmt: skip
        ax.set_yscale("log")
        ax.set_ylim(1e-8, 3e-2)
        ax.yaxis.set_major_locator(LogLocator(base=10))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _label(v)))
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels([name for name, _ in groups])
        ax.set_title(title, loc="left", fontsize=9)
        ax.grid(axis="y", which="major", alpha=0.3)
        ax.set_axisbelow(True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper right", ncol=3, frameon=False)
    info = results.get("machine", {})
    figure.suptitle(
        f"obskit benchmarks{' (quick run)' if results.get('quick') else ''}: "
        f"{info.get('date', '')}, {info.get('nproc', '?')} x {info.get('cpu', '?')}, "
        f"Python {info.get('python', '?')}, OpenTelemetry SDK {info.get('opentelemetry-sdk', '?')}",
        x=0.01, ha="left", fontsize=9,
    )  # fmt: skip
    figure.tight_layout(rect=(0, 0, 1, 0.97))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Date": None} if path.suffix == ".svg" else None)
    plt.close(figure)
    return None


def main(argv: Sequence[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    results = json.loads(Path(argv[0]).read_text())
    out = Path(argv[1]) if len(argv) > 1 else Path("docs/images/bench.svg")
    problem = draw(results, out)
    print(problem or f"wrote {out}", file=sys.stderr if problem else sys.stdout)
    return 1 if problem else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
