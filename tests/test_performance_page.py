"""docs/performance.md and the CHANGELOG cite only figures a reader can reproduce.

Every measured figure (a time, a rate, a ratio, a size) in the hand-written prose of
docs/performance.md must appear in the results block that `./dev bench` generates on the
same page, or sit in a paragraph (or the table right after it) that names the command
producing it. Prose written from an older run drifts from the block; this keeps it
from doing so silently. The CHANGELOG's entries point at the page instead of repeating
figures, which would go stale the same way.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "performance.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
#: A measured figure: a number with a unit of time, rate, ratio or size.
FIGURE = re.compile(
    r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(ns|us|µs|ms|s|x|spans/s|/s|B|KB|MB|%)(?![\w/])"
)
#: A command on the page that produces the figures of its paragraph.
COMMAND = re.compile(r"`(?:\./dev bench|(?:\.venv/bin/)?python3? (benchmarks/\w+\.py))[^`]*`")


def _split(text: str) -> tuple[str, str]:
    """(hand-written prose, generated block) of the page."""
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[:start] + text[end:], text[start:end]


def _paragraphs(prose: str) -> list[str]:
    return [p for p in re.split(r"\n\s*\n", prose) if p.strip()]


def _normal(figure: str) -> str:
    return figure.replace(" ", "").replace("µs", "us")


def stray_figures(prose: str, block: str) -> list[str]:
    """Figures of `prose` neither in `block` nor next to a command that produces them."""
    known = {_normal(m.group(0)) for m in FIGURE.finditer(block)}
    stray = []
    paragraphs = _paragraphs(prose)
    for i, paragraph in enumerate(paragraphs):
        nearby = paragraph + (paragraphs[i - 1] if i and paragraph.lstrip().startswith("|") else "")
        commands = [m for m in COMMAND.finditer(nearby)]
        if commands and all(m.group(1) is None or (ROOT / m.group(1)).exists() for m in commands):
            continue
        stray += [
            m.group(0) for m in FIGURE.finditer(paragraph) if _normal(m.group(0)) not in known
        ]
    return stray


def test_every_prose_figure_is_in_the_block_or_next_to_its_command() -> None:
    prose, block = _split(PAGE.read_text(encoding="utf-8"))
    stray = stray_figures(prose, block)
    assert stray == [], (
        "figures in docs/performance.md's prose that the results block does not hold and no "
        f"command on the page produces: {stray}"
    )


def test_the_check_tells_block_figures_from_stray_ones() -> None:
    block = "| btree get | 45 ns | 6.74 us | 0.29x |"
    assert stray_figures("A get adds 6.74 us, 0.29x of the SDK.", block) == []
    assert stray_figures("A get adds about 2.6 us.", block) == ["2.6 us"]
    assert stray_figures("Encodes 300k spans/s, 12% of it.", block) == ["12%"]
    with_command = "Measured with `python benchmarks/bench_domains.py --quick`: 2.6 us."
    assert stray_figures(with_command, block) == []
    table = "Measured with `python benchmarks/bench_raft.py`:\n\n| a | 808 us |"
    assert stray_figures(table, block) == []
    gone = "Measured with `python benchmarks/gone.py`: 2.6 us."
    assert stray_figures(gone, block) == ["2.6 us"]


def _unreleased_changelog() -> str:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    start = text.index("## Unreleased")
    following = text.find("\n## ", start + 1)
    return text[start : following if following > 0 else len(text)]


#: In the CHANGELOG, what a benchmark measures: a time per call, a rate, a size.
COST = re.compile(r"(?<![\w.])(\d[\d,]*(?:\.\d+)?)\s?(ns|us|µs|spans/s|B|KB)(?![\w/])")
#: An entry about cost, where ratios and percentages are benchmark figures too (elsewhere
#: they are bucket growth, thresholds, hit ratios).
ABOUT_COST = re.compile(r"raw SDK|benchmark|\bbench\b|performance\.md|faster|cheaper|slower")


def changelog_cost_figures(changelog: str) -> list[str]:
    """The benchmark figures of the CHANGELOG's entries (one bullet at a time)."""
    figures = []
    for entry in re.split(r"\n(?=- )", changelog):
        figures += [m.group(0) for m in COST.finditer(entry)]
        if ABOUT_COST.search(entry):
            figures += [m.group(0) for m in FIGURE.finditer(entry) if m.group(2) in ("x", "%")]
    return figures


def test_changelog_figures_come_from_the_results_block() -> None:
    """A benchmark figure in an Unreleased entry is one the results block holds."""
    _, block = _split(PAGE.read_text(encoding="utf-8"))
    known = {_normal(m.group(0)) for m in FIGURE.finditer(block)}
    stray = [f for f in changelog_cost_figures(_unreleased_changelog()) if _normal(f) not in known]
    assert stray == [], f"CHANGELOG figures not in docs/performance.md's results block: {stray}"


def test_changelog_check_tells_cost_from_other_figures() -> None:
    entries = (
        "- Buckets without a gap over 2.5x, up to 10 s.\n"
        "- A get costs ~2-3 us instead of ~14-19 us, 0.83x the raw SDK.\n"
    )
    assert changelog_cost_figures(entries) == ["3 us", "19 us", "0.83x"]
