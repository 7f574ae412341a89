"""The domain pages in docs/: their generated blocks are current and their examples run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from obskit._tools import alert_docs as _alert_docs
from obskit._tools import catalogue as _catalogue

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_generated_blocks_are_current() -> None:
    stale = _catalogue.refresh_pages(str(DOCS), check=True)
    stale += _alert_docs.refresh_pages(str(DOCS), check=True)
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


def test_every_alert_is_documented_on_its_page_and_in_the_index() -> None:
    """Each rule of the rule file: a row on its domain's page, under an Alerts heading, and
    a line in backends.md's index linking there."""
    from obskit._tools import dashboards as _dashboards

    index = (DOCS / "backends.md").read_text()
    for domain, alerts in _dashboards.all_alerts():
        name = _alert_docs.ALERT_PAGES[domain]
        page = (DOCS / name).read_text()
        assert re.search(r"^#+ Alerts$", page, re.M), f"{name} has no Alerts heading"
        for alert in alerts:
            assert f"| `{alert.name}`: " in page, f"{alert.name} is not on {name}"
            assert f"[`{alert.name}`]({name}#alerts)" in index, f"{alert.name} not in backends.md"
