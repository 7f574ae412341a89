"""`obskit report --plot FILE`: the run comparison drawn with matplotlib (the `plot` extra).

One line per judged figure: the change of the candidate's mean against the baseline's,
its 95% confidence interval, every run as a dot (the baseline's in grey around 0), and
the `--max-regression` limit as a dashed line, coloured by verdict. matplotlib is only
imported here, and only when a plot is asked for: the core install does not need it.
"""

from __future__ import annotations

import importlib.util
import math
import os
from collections.abc import Sequence
from typing import Any, Final, Protocol

from obskit._tools.stats import FASTER, NO_CHANGE, NOISY, REGRESSION

__all__ = ["FORMATS", "draw", "unusable"]

#: File suffixes --plot accepts, as matplotlib names the formats.
FORMATS: Final = {".png": "png", ".svg": "svg"}

_COLOURS: Final = {REGRESSION: "#c62828", NOISY: "#ef8f00", FASTER: "#2e7d32",
                   NO_CHANGE: "#546e7a"}  # fmt: skip
_RUN_DOT: Final = "#9e9e9e"
_ROW_HEIGHT, _MIN_HEIGHT, _WIDTH = 0.42, 2.6, 9.0  # inches


class Compared(Protocol):
    """What a plot reads of a compared figure (obskit.report.Row has it)."""

    @property
    def name(self) -> str: ...
    @property
    def a(self) -> float: ...
    @property
    def b(self) -> float: ...
    @property
    def change(self) -> float: ...
    @property
    def a_values(self) -> tuple[float, ...]: ...
    @property
    def b_values(self) -> tuple[float, ...]: ...
    @property
    def interval(self) -> tuple[float, float] | None: ...


def unusable(path: str) -> str:
    """Why `path` cannot be drawn ("" when it can): a format or a missing matplotlib.

    Examples:
        >>> print(unusable("comparison.pdf"))
        --plot comparison.pdf: expected a .png or .svg file name
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in FORMATS:
        return f"--plot {path}: expected a .png or .svg file name"
    if importlib.util.find_spec("matplotlib") is None:
        return "--plot needs matplotlib, which is not installed: pip install 'obskit[plot]'"
    return ""


def _relative(values: Sequence[float], base: float) -> list[float]:
    return [100.0 * (value - base) / abs(base) for value in values]


def _span(shown: Sequence[tuple[Compared, str]], limit: float | None) -> float:
    """Half the x range in %: the widest mean change or interval, at most 150% (a tiny
    baseline figure can change by thousands of percent and would flatten the rest)."""
    widest = [abs(100.0 * row.change) for row, _ in shown]
    widest += [abs(100.0 * bound) for row, _ in shown for bound in row.interval or ()]
    widest.append(250.0 * (limit or 0.0))
    return min(150.0, max(5.0, 1.15 * max(widest)))


def _dots(axes: Any, changes: Sequence[float], y: float, span: float, colour: str,
          alpha: float) -> None:  # fmt: skip
    """Each run as a dot; a run past the x range as an arrow head at its edge."""
    for change in changes:
        marker = ">" if change > span else "<" if change < -span else "o"
        axes.scatter([max(-span, min(span, change))], [y], s=10 if marker == "o" else 18,
                     marker=marker, color=colour, alpha=alpha, zorder=2, linewidths=0)  # fmt: skip


def _label(name: str, width: int = 44) -> str:
    """A figure name short enough for the axis: the middle of a long one elided."""
    if len(name) <= width:
        return name
    keep = (width - 1) // 2
    return f"{name[:keep]}…{name[-keep:]}"


def draw(
    rows: Sequence[Compared],
    verdicts: Sequence[str],
    path: str,
    *,
    limit: float | None,
    runs: tuple[int, int],
) -> None:
    """Draw the judged rows (those with a verdict and a baseline mean other than 0)."""
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    shown = [(row, verdict) for row, verdict in zip(rows, verdicts, strict=True)
             if verdict and row.a != 0 and math.isfinite(row.change)]  # fmt: skip
    shown.reverse()  # the table's first row on top
    span = _span(shown, limit)
    figure = Figure(figsize=(_WIDTH, max(_MIN_HEIGHT, 1.4 + _ROW_HEIGHT * len(shown))),
                    layout="constrained")  # fmt: skip
    axes: Any = figure.add_subplot()
    for y, (row, verdict) in enumerate(shown):
        colour = _COLOURS.get(verdict, _COLOURS[NO_CHANGE])
        for values, offset, dot, alpha in ((row.a_values or (row.a,), -0.15, _RUN_DOT, 1.0),
                                           (row.b_values or (row.b,), 0.15, colour, 0.5)):  # fmt: skip
            _dots(axes, _relative(values, row.a), y + offset, span, dot, alpha)
        if row.interval is not None:
            low, high = (max(-span, min(span, 100.0 * share)) for share in row.interval)
            axes.plot([low, high], [y, y], color=colour, linewidth=2.5, zorder=3)
        change = max(-span, min(span, 100.0 * row.change))
        axes.scatter([change], [y], s=42, color=colour, marker="D", zorder=4)
    axes.set_xlim(max(-100.0, -span) - 0.04 * span, span * 1.04)
    axes.axvline(0.0, color="#212121", linewidth=0.8)
    if limit:
        axes.axvline(100.0 * limit, color=_COLOURS[REGRESSION], linestyle="--", linewidth=1)
    axes.set_yticks(range(len(shown)), [_label(row.name) for row, _ in shown], fontsize=8)
    axes.set_ylim(-0.7, len(shown) - 0.3)
    axes.set_xlabel("change of B against A's mean (%)")
    axes.grid(axis="x", color="#e0e0e0", linewidth=0.6)
    axes.set_axisbelow(True)
    used = [verdict for verdict in _COLOURS if any(v == verdict for _, v in shown)]
    handles = [Line2D([], [], color=_COLOURS[v], marker="D", linestyle="", label=v) for v in used]
    handles.append(Line2D([], [], color=_RUN_DOT, marker="o", linestyle="", markersize=4,
                          label="one run (grey: A, coloured: B)"))  # fmt: skip
    if limit:
        handles.append(Line2D([], [], color=_COLOURS[REGRESSION], linestyle="--",
                              label=f"--max-regression {limit:.0%}"))  # fmt: skip
    axes.legend(handles=handles, fontsize=7, loc="lower right")
    several = runs[0] > 1 and runs[1] > 1
    axes.set_title(f"obskit report: B (n={runs[1]}) against A (n={runs[0]})"
                   + ("\nchange of the mean, with its 95% confidence interval" if several
                      else ""), fontsize=10)  # fmt: skip
    kind = FORMATS[os.path.splitext(path)[1].lower()]
    # No date and fixed element ids in an SVG: the same comparison gives the same file.
    with rc_context({"svg.hashsalt": "obskit"}):
        figure.savefig(
            path, format=kind, dpi=110, metadata={"Date": None} if kind == "svg" else None
        )
