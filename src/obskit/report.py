"""obskit.report: compare two benchmark runs recorded by `obskit.runtime.sample(path=...)`.

`python -m obskit.report BASELINE.json CANDIDATE.json --max-regression 10%` prints one
table row per figure both runs have (wall and CPU seconds, peak RSS, GC collections and
pause time, and the count, mean, p50 and p99 of every obskit histogram in them) and exits
with 1 when a checked figure grew by more than the allowed share, 2 on a bad file or
argument, 0 otherwise. Higher is worse for every checked figure; counts are shown, not
checked (doing more work is not a regression).

Examples:
    >>> from obskit import report
    >>> a = {"format": "obskit.run/1", "summary": {"cpu_seconds": 2.0}, "histograms": {}}
    >>> b = {"format": "obskit.run/1", "summary": {"cpu_seconds": 2.5}, "histograms": {}}
    >>> row = report.compare(a, b)[0]
    >>> row.name, row.change
    ('cpu_seconds', 0.25)
    >>> report.regressions([row], 0.10)[0].name
    'cpu_seconds'
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Row", "compare", "load", "main", "parse_share", "quantile", "regressions"]

_FORMAT = "obskit.run/1"  # obskit.runtime._runfile.FORMAT, the version this reader knows

# (summary key, checked): the process figures a run file's summary holds.
_SUMMARY: tuple[tuple[str, bool], ...] = (
    ("wall_seconds", True),
    ("cpu_seconds", True),
    ("cpu_user_seconds", True),
    ("cpu_system_seconds", True),
    ("max_rss_bytes", True),
    ("max_threads", False),
    ("gc_collections", False),
    ("gc_pause_seconds", True),
)


@dataclass(frozen=True)
class Row:
    """One compared figure: its values in run A and B and B's relative change.

    `change` is (B - A) / A: 0.25 means B is 25% higher; `inf` when A is 0 and B is not.

    Examples:
        >>> from obskit.report import Row
        >>> Row("cpu_seconds", 1.0, 1.5, 0.5, True).change
        0.5
    """

    name: str
    a: float
    b: float
    change: float
    checked: bool


def load(path: str) -> dict[str, Any]:
    """Read a run file, refusing anything that is not one.

    Examples:
        >>> import json, os, tempfile
        >>> from obskit.report import load
        >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
        >>> with open(path, "w") as handle:
        ...     json.dump({"format": "obskit.run/1", "summary": {}}, handle)
        >>> load(path)["format"]
        'obskit.run/1'
    """
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document)
        raise ValueError(
            f"{path} is not an obskit run file (format {found!r}, "
            f"expected {_FORMAT!r}): write one with runtime.sample(path=...)"
        )
    return document


def quantile(q: float, bounds: Sequence[float], counts: Sequence[int]) -> float | None:
    """Estimate the q-quantile of a bucketed histogram as Prometheus' histogram_quantile
    does: linear within the bucket, the highest finite bound for the overflow bucket.

    Examples:
        >>> from obskit.report import quantile
        >>> quantile(0.5, [1.0, 2.0], [0, 10, 0])
        1.5
        >>> quantile(0.99, [1.0], [0, 0]) is None
        True
    """
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if seen + count >= rank and count > 0:
            if index >= len(bounds):
                return float(bounds[-1]) if bounds else None
            lower = 0.0 if index == 0 else float(bounds[index - 1])
            upper = float(bounds[index])
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(bounds[-1]) if bounds else None


def _number(value: Any) -> float | None:
    if isinstance(value, list):
        value = sum(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _figures(document: Mapping[str, Any]) -> dict[str, tuple[float, bool]]:
    figures: dict[str, tuple[float, bool]] = {}
    summary = document.get("summary") or {}
    for key, checked in _SUMMARY:
        value = _number(summary.get(key))
        if value is not None:
            figures[key] = (value, checked)
    for series, histogram in sorted((document.get("histograms") or {}).items()):
        count = int(histogram.get("count", 0))
        figures[f"{series} count"] = (float(count), False)
        if count == 0:
            continue
        figures[f"{series} mean"] = (float(histogram["sum"]) / count, True)
        for label, q in (("p50", 0.5), ("p99", 0.99)):
            value = quantile(q, histogram.get("bounds", []), histogram.get("counts", []))
            if value is not None:
                figures[f"{series} {label}"] = (value, True)
    return figures


def _change(a: float, b: float) -> float:
    if a == 0:
        return 0.0 if b == 0 else math.inf
    return (b - a) / abs(a)


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Row]:
    """The figures both run documents have, in a stable order.

    Examples:
        >>> from obskit.report import compare
        >>> run = {"summary": {"wall_seconds": 4.0, "gc_collections": [3, 1, 0]}}
        >>> [(row.name, row.change) for row in compare(run, run)]
        [('wall_seconds', 0.0), ('gc_collections', 0.0)]
    """
    first, second = _figures(a), _figures(b)
    rows = []
    for name, (value_a, checked) in first.items():
        if name in second:
            value_b = second[name][0]
            rows.append(Row(name, value_a, value_b, _change(value_a, value_b), checked))
    return rows


def regressions(
    rows: Sequence[Row], max_regression: float, patterns: Sequence[str] = ()
) -> list[Row]:
    """Checked rows that grew by more than `max_regression` (0.10 is 10%), limited to the
    names matching one of `patterns` (shell-style) when some are given.

    Examples:
        >>> from obskit.report import Row, regressions
        >>> rows = [Row("cpu_seconds", 1.0, 1.05, 0.05, True),
        ...         Row("wall_seconds", 1.0, 1.5, 0.5, True)]
        >>> [row.name for row in regressions(rows, 0.10, ["cpu_*"])]
        []
    """
    return [
        row
        for row in rows
        if row.checked
        and row.change > max_regression
        and (not patterns or any(fnmatch.fnmatchcase(row.name, p) for p in patterns))
    ]


def parse_share(text: str) -> float:
    """`10%` or `0.1` as the share 0.1.

    Examples:
        >>> from obskit.report import parse_share
        >>> parse_share("10%"), parse_share("0.25")
        (0.1, 0.25)
    """
    cleaned = text.strip()
    try:
        value = float(cleaned[:-1]) / 100 if cleaned.endswith("%") else float(cleaned)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a share like 10% or 0.1, not {text!r}"
        ) from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"a regression limit must be >= 0, not {text!r}")
    return value


def _format(value: float) -> str:
    if value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _table(rows: Sequence[Row], failed: Sequence[Row]) -> str:
    bad = {row.name for row in failed}
    lines = [("figure", "A", "B", "change", "")]
    for row in rows:
        change = "+inf" if math.isinf(row.change) else f"{row.change:+.1%}"
        lines.append(
            (
                row.name,
                _format(row.a),
                _format(row.b),
                change,
                "REGRESSION" if row.name in bad else "",
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(4)]
    return "\n".join(
        "  ".join(
            [
                line[0].ljust(widths[0]),
                *(cell.rjust(width) for cell, width in zip(line[1:4], widths[1:], strict=True)),
                line[4],
            ]
        ).rstrip()
        for line in lines
    )


def main(argv: Sequence[str] | None = None) -> int:
    """The `python -m obskit.report` command; returns its exit code.

    Examples:
        >>> from obskit.report import main
        >>> main(["missing-a.json", "missing-b.json"])
        2
    """
    parser = argparse.ArgumentParser(
        prog="python -m obskit.report",
        description="Compare two obskit run files (runtime.sample(path=...)): A is the "
        "baseline, B the candidate.",
    )
    parser.add_argument("a", metavar="A", help="baseline run file")
    parser.add_argument("b", metavar="B", help="candidate run file")
    parser.add_argument(
        "--max-regression",
        type=parse_share,
        default=None,
        metavar="SHARE",
        help="exit 1 when a checked figure of B exceeds A's by more than this (10%% or 0.1)",
    )
    parser.add_argument(
        "--check",
        action="append",
        default=[],
        metavar="GLOB",
        help="only check figures matching this pattern (repeatable), e.g. 'cpu_*' or '*p99'",
    )
    arguments = parser.parse_args(argv)
    try:
        rows = compare(load(arguments.a), load(arguments.b))
    except (OSError, ValueError) as exc:
        print(f"obskit.report: {exc}", file=sys.stderr)
        return 2
    except (KeyError, TypeError, AttributeError) as exc:  # well-formed JSON, wrong shape
        print(f"obskit.report: not an obskit run file ({type(exc).__name__}: {exc})",
              file=sys.stderr)  # fmt: skip
        return 2
    limit = arguments.max_regression
    failed = [] if limit is None else regressions(rows, limit, arguments.check)
    print(_table(rows, failed))
    if failed:
        print(f"\n{len(failed)} figure(s) regressed by more than {limit:.1%}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised through python -m in the tests
    sys.exit(main())
