"""The domain pages in docs/: their generated blocks are current and their examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from obskit import _catalogue

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_generated_blocks_are_current() -> None:
    stale = _catalogue.refresh_pages(str(DOCS), check=True)
    assert stale == [], f"stale generated blocks in {stale}: run ./dev docs and commit"


@pytest.mark.parametrize("page", sorted(_catalogue.DOMAIN_PAGES))
def test_worked_example_runs(page: str) -> None:
    """The first Python block of the page, run as a program, exits 0 and prints telemetry."""
    code = re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)[0]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=DOCS.parent
    )
    assert result.returncode == 0, result.stderr
    assert "trace " in result.stdout or "metrics" in result.stdout, result.stdout
