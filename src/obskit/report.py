"""obskit.report: compare benchmark runs recorded by `obskit.runtime.sample(path=...)`.

`obskit report BASELINE CANDIDATE --max-regression 10%` (or `python -m obskit.report`)
prints one table row per figure both sides have: wall and CPU seconds, peak RSS, GC
collections and pause time, and the count, mean, p50 and p99 of every obskit histogram in
the runs. Each side is one run file, a directory of run files or a glob, or a list given
with `--baseline FILE... --candidate FILE...`. With several runs per side each row shows
the mean and standard deviation, the 95% confidence interval of the change and the
p-value of Welch's t-test, and a verdict:

- `REGRESSION`: slower beyond noise (significant, and past `--max-regression`);
- `noisy`: past the limit, but not significant: run more times before believing it;
- `faster`: significantly lower, past the limit;
- `no change`: anything else.

One run on a side leaves no spread to test: a change past the limit is then a
regression, with a warning. Higher is worse for every checked figure; counts are shown,
not checked (doing more work is not a regression). The exit code is 1 when a checked
figure regressed past `--max-regression`, 2 on a bad file or argument (one line naming
the file), 0 otherwise.

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
import glob
import json
import math
import os
import statistics
import sys
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from obskit._tools import stats as _stats
from obskit._tools.stats import FASTER, NO_CHANGE, NOISY, REGRESSION

__all__ = [
    "FASTER",
    "NOISY",
    "NO_CHANGE",
    "REGRESSION",
    "Row",
    "RunFileError",
    "compare",
    "compare_runs",
    "load",
    "main",
    "parse_share",
    "quantile",
    "regressions",
]

_FORMAT = "obskit.run/1"  # obskit._runtime.runfile.FORMAT, the version this reader knows
_PROGRAM = "obskit report"

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


class RunFileError(ValueError):
    """A file that is not a readable obskit run file; the message names the file.

    Examples:
        >>> from obskit.report import RunFileError
        >>> str(RunFileError("a.json", "not JSON"))
        'a.json: not JSON'
    """

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class Row:
    """One compared figure: its (mean) value in the baseline A and the candidate B.

    `change` is (B - A) / A: 0.25 means B is 25% higher; `inf` when A is 0 and B is not.
    With several runs per side, `a_values`/`b_values` hold each run's value, `p` the
    two-sided p-value of Welch's t-test and `interval` the 95% confidence interval of
    `change`; with one run on a side they are None.

    Examples:
        >>> from obskit.report import Row
        >>> Row("cpu_seconds", 1.0, 1.5, 0.5, True).change
        0.5
        >>> Row("cpu_seconds", 1.0, 1.5, 0.5, True).verdict(0.10)
        'REGRESSION'
    """

    name: str
    a: float
    b: float
    change: float
    checked: bool
    a_values: tuple[float, ...] = ()
    b_values: tuple[float, ...] = ()
    p: float | None = None
    interval: tuple[float, float] | None = None

    @property
    def a_spread(self) -> float:
        """The standard deviation of A's runs (0 for one run)."""
        return statistics.stdev(self.a_values) if len(self.a_values) > 1 else 0.0

    @property
    def b_spread(self) -> float:
        """The standard deviation of B's runs (0 for one run)."""
        return statistics.stdev(self.b_values) if len(self.b_values) > 1 else 0.0

    def verdict(self, max_regression: float | None, alpha: float = 0.05) -> str:
        """REGRESSION, noisy, faster, no change; "" for a figure that is not checked, or
        for single runs without a limit (neither a test nor a threshold to judge by).

        Examples:
            >>> from obskit.report import Row
            >>> Row("wall_seconds", 1.0, 1.3, 0.3, True, p=0.4).verdict(0.10)
            'noisy'
        """
        if not self.checked:
            return ""
        if self.p is None:  # single runs: the threshold alone
            if max_regression is None:
                return ""
            return REGRESSION if self.change > max_regression else NO_CHANGE
        limit = 0.0 if max_regression is None else max_regression
        if self.change > limit:
            return REGRESSION if self.p < alpha else NOISY
        if self.change < -limit and self.p < alpha:
            return FASTER
        return NO_CHANGE


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a run file can hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 300:  # float() of it would overflow
        raise ValueError(f"the number {text[:20]}... ({len(text)} digits) is out of range")
    return int(text)


def _parse(path: str) -> Any:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise RunFileError(path, f"cannot read it: {exc.strerror or exc}") from None
    if not raw.strip():
        raise RunFileError(path, "empty file, expected an obskit run file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RunFileError(path, "not text (binary data?), expected a JSON run file") from None
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float,
                          parse_int=_bounded_int)  # fmt: skip
    except RecursionError:
        raise RunFileError(path, "JSON nested too deeply to be a run file") from None
    except json.JSONDecodeError as exc:
        raise RunFileError(
            path, f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except ValueError as exc:  # from the number hooks above
        raise RunFileError(path, str(exc)) from None


def load(path: str) -> dict[str, Any]:
    """Read a run file, refusing anything that is not one with a `RunFileError` that
    names the file and the problem (missing, not JSON, wrong shape, numbers out of range).

    Examples:
        >>> import json, os, tempfile
        >>> from obskit.report import load
        >>> path = os.path.join(tempfile.mkdtemp(), "run.json")
        >>> with open(path, "w") as handle:
        ...     json.dump({"format": "obskit.run/1", "summary": {}}, handle)
        >>> load(path)["format"]
        'obskit.run/1'
    """
    document = _parse(path)
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        found = document.get("format") if isinstance(document, dict) else type(document).__name__
        raise RunFileError(
            path, f"not an obskit run file (format {found!r}, expected {_FORMAT!r}): "
            "write one with runtime.sample(path=...)",
        )  # fmt: skip
    try:
        _figures(document)  # every figure computes, so comparing it cannot fail
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        raise RunFileError(path, f"not an obskit run file ({exc})") from None
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


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(where: str, value: Any) -> float:
    """A finite figure from a number or a list of numbers (summed), or a ValueError."""
    if isinstance(value, list) and all(_is_number(item) for item in value):
        value = sum(float(item) for item in value)  # inf when it overflows: refused below
    if not _is_number(value):
        raise ValueError(f"{where} is {_shown(value)}, expected a number or a list of numbers")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{where} is out of range")
    return number


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _mapping(where: str, value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{where} is {_shown(value)}, expected an object")
    return value


def _histogram_figures(series: str, histogram: Any) -> dict[str, tuple[float, bool]]:
    where = f"histograms[{series!r}]"
    histogram = _mapping(where, histogram)
    count = _number(f"{where}.count", histogram.get("count", 0))
    if count < 0 or not count.is_integer():
        raise ValueError(f"{where}.count is {count:g}, expected a whole number >= 0")
    figures = {f"{series} count": (count, False)}
    if count == 0:
        return figures
    total = _number(f"{where}.sum", histogram.get("sum"))
    figures[f"{series} mean"] = (total / count, True)
    bounds, counts = histogram.get("bounds", []), histogram.get("counts", [])
    if not (isinstance(bounds, list) and all(_is_number(b) and math.isfinite(b) for b in bounds)):
        raise ValueError(f"{where}.bounds is {_shown(bounds)}, expected a list of numbers")
    if not (isinstance(counts, list) and all(isinstance(c, int) and c >= 0 for c in counts)):
        raise ValueError(f"{where}.counts is {_shown(counts)}, expected whole numbers >= 0")
    if counts and len(counts) != len(bounds) + 1:
        raise ValueError(f"{where} has {len(counts)} counts for {len(bounds)} bounds "
                         "(expected one more count than bounds)")  # fmt: skip
    for label, q in (("p50", 0.5), ("p99", 0.99)):
        value = quantile(q, bounds, counts)
        if value is not None:
            figures[f"{series} {label}"] = (value, True)
    return figures


def _figures(document: Mapping[str, Any]) -> dict[str, tuple[float, bool]]:
    figures: dict[str, tuple[float, bool]] = {}
    summary = _mapping("summary", document.get("summary"))
    for key, checked in _SUMMARY:
        if summary.get(key) is not None:
            figures[key] = (_number(f"summary.{key}", summary[key]), checked)
    for series, histogram in sorted(_mapping("histograms", document.get("histograms")).items()):
        figures.update(_histogram_figures(series, histogram))
    return figures


def _change(a: float, b: float) -> float:
    if a == 0:
        return 0.0 if b == 0 else math.inf
    return (b - a) / abs(a)


def _row(name: str, checked: bool, a: Sequence[float], b: Sequence[float]) -> Row:
    mean_a, mean_b = math.fsum(a) / len(a), math.fsum(b) / len(b)
    test = _stats.welch(a, b)
    p = interval = None
    if test is not None:
        p = test.p
        if mean_a != 0:
            low, high = test.interval(0.95)
            interval = (low / abs(mean_a), high / abs(mean_a))
    return Row(name, mean_a, mean_b, _change(mean_a, mean_b), checked,
               tuple(a), tuple(b), p, interval)  # fmt: skip


def compare_runs(
    baseline: Sequence[Mapping[str, Any]], candidate: Sequence[Mapping[str, Any]]
) -> list[Row]:
    """The figures both sides have, over several runs each, in a stable order.

    A figure counts when at least one run of each side has it; its row holds every
    run's value, the means, and with two or more runs per side Welch's p-value.

    Examples:
        >>> from obskit.report import compare_runs
        >>> runs = lambda *cpu: [{"summary": {"cpu_seconds": c}} for c in cpu]
        >>> row = compare_runs(runs(1.0, 1.1, 0.9), runs(1.5, 1.6, 1.4))[0]
        >>> round(row.change, 2), row.p < 0.01, row.verdict(0.10)
        (0.5, True, 'REGRESSION')
    """
    if not baseline or not candidate:
        raise ValueError("compare_runs needs at least one run on each side")
    values_a: dict[str, list[float]] = {}
    values_b: dict[str, list[float]] = {}
    checked: dict[str, bool] = {}
    for runs, values in ((baseline, values_a), (candidate, values_b)):
        for document in runs:
            for name, (value, is_checked) in _figures(document).items():
                values.setdefault(name, []).append(value)
                checked.setdefault(name, is_checked)
    return [
        _row(name, checked[name], values_a[name], values_b[name])
        for name in values_a
        if name in values_b
    ]


def compare(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Row]:
    """The figures both run documents have, in a stable order (one run per side).

    Examples:
        >>> from obskit.report import compare
        >>> run = {"summary": {"wall_seconds": 4.0, "gc_collections": [3, 1, 0]}}
        >>> [(row.name, row.change) for row in compare(run, run)]
        [('wall_seconds', 0.0), ('gc_collections', 0.0)]
    """
    return compare_runs([a], [b])


def _matches(row: Row, patterns: Sequence[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(row.name, p) for p in patterns)


def regressions(
    rows: Sequence[Row], max_regression: float, patterns: Sequence[str] = (), alpha: float = 0.05
) -> list[Row]:
    """Rows whose verdict is REGRESSION: checked, grown by more than `max_regression`
    (0.10 is 10%) and, with several runs per side, significantly (Welch's p < `alpha`);
    limited to the names matching one of `patterns` (shell-style) when some are given.

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
        if _matches(row, patterns) and row.verdict(max_regression, alpha) == REGRESSION
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
    if not 0 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"a regression limit must be >= 0, not {text!r}")
    return value


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a level between 0 and 1, not {text!r}")
    return value


def _format(value: float) -> str:
    if value.is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _side(values: Sequence[float], mean: float) -> str:
    """The mean, and with several runs "± standard deviation", both to the spread's
    second significant digit (0.425 ± 0.022, 60,940,000 ± 320,000)."""
    if len(values) < 2:
        return _format(mean)
    spread = float(f"{statistics.stdev(values):.2g}")
    if spread <= abs(mean) * 1e-9:  # equal runs (up to float rounding)
        return f"{_format(mean)} ± 0"
    digits = min(12, 1 - math.floor(math.log10(spread)))
    if digits > 0:
        return f"{mean:.{digits}f} ± {spread:.{digits}f}"
    return f"{round(mean, digits):,.0f} ± {round(spread, digits):,.0f}"


def _percent(share: float) -> str:
    return ("+inf" if share > 0 else "-inf") if math.isinf(share) else f"{share:+.1%}"


def _table(rows: Sequence[Row], verdicts: Sequence[str], runs: tuple[int, int]) -> str:
    several = runs[0] > 1 and runs[1] > 1
    header = ["figure", f"A (n={runs[0]})", f"B (n={runs[1]})", "change"]
    if several:
        header += ["95% CI", "p"]
    lines = [[*header, "verdict"]]
    for row, verdict in zip(rows, verdicts, strict=True):
        cells = [row.name, _side(row.a_values, row.a), _side(row.b_values, row.b),
                 _percent(row.change)]  # fmt: skip
        if several:
            low_high = row.interval
            cells.append("-" if low_high is None else
                         f"{_percent(low_high[0])}..{_percent(low_high[1])}")  # fmt: skip
            cells.append("-" if row.p is None else "<0.001" if row.p < 0.001 else f"{row.p:.3f}")
        lines.append([*cells, verdict])
    widths = [max(len(line[column]) for line in lines) for column in range(len(header))]
    return "\n".join(
        "  ".join(
            [
                line[0].ljust(widths[0]),
                *(cell.rjust(width) for cell, width in zip(line[1:-1], widths[1:], strict=True)),
                line[-1],
            ]
        ).rstrip()
        for line in lines
    )


def _expand(spec: str) -> list[str]:
    """A run file, a directory of run files (*.json) or a glob, as a list of paths."""
    if os.path.isdir(spec):
        found = sorted(glob.glob(os.path.join(glob.escape(spec), "*.json")))
        if not found:
            raise RunFileError(spec, "a directory with no *.json run files")
        return found
    if glob.has_magic(spec) and not os.path.exists(spec):
        found = sorted(glob.glob(spec))
        if not found:
            raise RunFileError(spec, "no file matches this pattern")
        return found
    return [spec]


def _load_side(specs: Sequence[str]) -> tuple[list[dict[str, Any]], list[RunFileError]]:
    documents, errors = [], []
    for spec in specs:
        try:
            paths = _expand(spec)
        except RunFileError as exc:
            errors.append(exc)
            continue
        for path in paths:
            try:
                documents.append(load(path))
            except RunFileError as exc:
                errors.append(exc)
    return documents, errors


_EPILOG = """\
examples:
  obskit report base.json new.json
      one run per side: the table of changes, no significance test
  obskit report runs/main/ runs/branch/ --max-regression 10%
      every *.json in each directory; exit 1 when a figure is slower beyond noise
  obskit report --baseline main-*.json --candidate branch-*.json --check 'cpu_*'
      explicit lists (the shell expands the globs); judge only the CPU figures
  obskit report 'runs/main-*.json' 'runs/branch-*.json' --plot comparison.svg
      quoted globs; the comparison drawn as SVG (needs: pip install 'obskit[plot]')

verdicts: REGRESSION (past --max-regression and significant), noisy (past it, not
significant: record more runs), faster, no change. Without --max-regression the verdicts
use 0% and the exit code stays 0. exit codes: 0 fine, 1 regression, 2 bad file or argument.
"""


def _configure(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """Add the report's arguments to `parser`; return the function that runs it."""
    parser.description = textwrap.fill(
        "Compare benchmark runs recorded by obskit.runtime.sample(path=...): the baseline "
        "A against the candidate B, figure by figure, with the mean and spread of several "
        "runs per side, Welch's t-test, and a verdict that tells a slowdown from noise.",
        88,
    )
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("sides", nargs="*", metavar="RUNS",
                        help="BASELINE then CANDIDATE: each a run file, a directory of run "
                        "files or a quoted glob")  # fmt: skip
    parser.add_argument(
        "--baseline",
        "-a",
        nargs="+",
        default=[],
        metavar="RUN",
        help="the baseline's run files (instead of the positional pair)",
    )
    parser.add_argument(
        "--candidate", "-b", nargs="+", default=[], metavar="RUN", help="the candidate's run files"
    )
    parser.add_argument("--max-regression", type=parse_share, default=None, metavar="SHARE",
                        help="exit 1 when a checked figure of B is past A's by more than "
                        "this (10%% or 0.1), beyond noise")  # fmt: skip
    parser.add_argument("--check", action="append", default=[], metavar="GLOB",
                        help="only judge figures matching this pattern (repeatable), e.g. "
                        "'cpu_*' or '*p99'")  # fmt: skip
    parser.add_argument(
        "--alpha",
        type=_alpha,
        default=0.05,
        metavar="LEVEL",
        help="significance level of the t-test (default 0.05)",
    )
    parser.add_argument("--plot", metavar="FILE",
                        help="draw the comparison to FILE (.png or .svg; needs matplotlib: "
                        "pip install 'obskit[plot]')")  # fmt: skip
    return _run


def _sides(
    refuse: Callable[[str], NoReturn], arguments: argparse.Namespace
) -> tuple[list[str], list[str]]:
    listed = arguments.baseline or arguments.candidate
    if listed:
        if arguments.sides or not (arguments.baseline and arguments.candidate):
            refuse("give both --baseline and --candidate, and no positional RUNS")
        return arguments.baseline, arguments.candidate
    if len(arguments.sides) != 2:
        refuse("expected BASELINE and CANDIDATE (or --baseline ... --candidate ...)")
    return [arguments.sides[0]], [arguments.sides[1]]


def _run(arguments: argparse.Namespace) -> int:
    program = getattr(arguments, "program", _PROGRAM)

    def refuse(message: str) -> NoReturn:
        print(f"{program}: error: {message}", file=sys.stderr)
        raise SystemExit(2)

    baseline_specs, candidate_specs = _sides(refuse, arguments)
    baseline, errors_a = _load_side(baseline_specs)
    candidate, errors_b = _load_side(candidate_specs)
    if errors_a or errors_b:
        for error in (*errors_a, *errors_b):
            print(f"{program}: {error}", file=sys.stderr)
        return 2
    if arguments.plot is not None:
        from obskit._tools import plot as _plot

        problem = _plot.unusable(arguments.plot)
        if problem:
            print(f"{program}: {problem}", file=sys.stderr)
            return 2
    rows = compare_runs(baseline, candidate)
    limit, alpha = arguments.max_regression, arguments.alpha
    verdicts = [row.verdict(limit, alpha) if _matches(row, arguments.check) else ""
                for row in rows]  # fmt: skip
    print(_table(rows, verdicts, (len(baseline), len(candidate))))
    if len(baseline) < 2 or len(candidate) < 2:
        print(f"{program}: warning: one run on a side, so no significance can be computed; "
              "record several runs per side (5 or more) to tell a slowdown from noise",
              file=sys.stderr)  # fmt: skip
    noisy = verdicts.count(NOISY)
    if noisy:
        print(f"{program}: {noisy} figure(s) changed past the limit within noise (p >= "
              f"{alpha:g}): record more runs", file=sys.stderr)  # fmt: skip
    if arguments.plot is not None:
        from obskit._tools import plot as _plot

        _plot.draw(rows, verdicts, arguments.plot, limit=limit,
                   runs=(len(baseline), len(candidate)))  # fmt: skip
        print(f"{program}: drew {arguments.plot}", file=sys.stderr)
    failed = verdicts.count(REGRESSION) if limit is not None else 0
    if failed:
        print(f"\n{failed} figure(s) regressed by more than {limit:.1%}"
              + (" beyond noise" if len(baseline) > 1 and len(candidate) > 1 else ""),
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The `python -m obskit.report` command (also `obskit report`); returns its exit code.

    Examples:
        >>> from obskit.report import main
        >>> main(["missing-a.json", "missing-b.json"])
        2
    """
    parser = argparse.ArgumentParser(prog="python -m obskit.report")
    run = _configure(parser)
    arguments = parser.parse_args(argv)
    arguments.program = parser.prog
    try:
        return run(arguments)
    except SystemExit as exit_:
        return int(exit_.code or 0)


if __name__ == "__main__":  # pragma: no cover - exercised through python -m in the tests
    sys.exit(main())
