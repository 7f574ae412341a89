"""What the repository's text points at is in the repository.

Source comments, docs, the README and the CHANGELOG name files so a reader can go and
look; a name that points outside the repository (a notes folder on one machine, a sibling
checkout) or at a file that is gone is a dead end for everyone else.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Where a reader meets file names: the package, the docs, benchmarks and examples.
SCANNED = (
    sorted(ROOT.glob("src/**/*.py"))
    + sorted(ROOT.glob("docs/**/*.md"))
    + sorted(ROOT.glob("benchmarks/*.py"))
    + sorted(ROOT.glob("examples/**/*.py"))
    + [ROOT / "CHANGELOG.md", ROOT / "README.md"]
)
#: Places that exist only outside the repository.
OUTSIDE = re.compile(
    r"(?<![\w.])(?:research/|docs/research\b|\.\./shared\b|/work/|shared/research)"
)
#: A path that starts at the repository's root (`docs/x.md`, `src/obskit/_base/log.py:12`).
TOP = ("src", "docs", "tests", "benchmarks", "examples", ".ci")
REPO_PATH = re.compile(r"(?<![\w./~-])((?:" + "|".join(map(re.escape, TOP)) + r")/[\w./*-]*\w\*?)")
#: A top-level document named without a path (`DESIGN.md`).
TOP_DOC = re.compile(r"(?<![\w/.-])([A-Z][A-Z_]+\.md)\b")


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def test_nothing_points_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{_text(path).count(chr(10), 0, match.start()) + 1}: "
        f"{match.group(0)}"
        for path in SCANNED
        for match in OUTSIDE.finditer(_text(path))
    ]
    assert found == [], "references to places outside the repository:\n" + "\n".join(found)


def _exists(reference: str) -> bool:
    reference = reference.rstrip(".")
    return any(ROOT.glob(reference)) or (ROOT / reference).exists()


def test_named_repository_files_exist() -> None:
    dead = []
    for path in SCANNED:
        text = _text(path)
        for match in REPO_PATH.finditer(text):
            if not _exists(match.group(1)):
                dead.append(f"{path.relative_to(ROOT)}: {match.group(1)}")
        for match in TOP_DOC.finditer(text):
            if not (ROOT / match.group(1)).exists():
                dead.append(f"{path.relative_to(ROOT)}: {match.group(1)}")
    assert dead == [], "named files that are not in the repository:\n" + "\n".join(dead)


def test_the_checks_catch_what_they_are_for() -> None:
    assert OUTSIDE.search("see research/reliability.md section 2")
    assert OUTSIDE.search("from ../shared/notes")
    assert not OUTSIDE.search("docs/reliability.md, R8")
    assert [
        m.group(1) for m in REPO_PATH.finditer("in docs/gone.md and src/obskit/_base/log.py.")
    ] == [
        "docs/gone.md",
        "src/obskit/_base/log.py",
    ]
    assert not _exists("docs/gone.md")
    assert _exists("src/obskit/_base/log.py")
    assert _exists("tests/integration/test_examples_*.py")
