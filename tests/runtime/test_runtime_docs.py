"""docs/runtime.md runs as written and lists exactly what obskit.runtime emits."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from obskit.runtime import CATALOGUE, PANELS

DOC = (Path(__file__).parents[2] / "docs" / "runtime.md").read_text()
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC, flags=re.S | re.M)


def test_the_page_starts_with_an_example():
    assert len(BLOCKS) >= 2
    assert DOC.index("```python") < DOC.index("## Metrics")


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_example_runs(index):
    result = subprocess.run(
        [sys.executable, "-c", BLOCKS[index]], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "False" not in result.stdout.split(), result.stdout


@pytest.mark.parametrize("instrument", CATALOGUE.instruments, ids=lambda i: i.name)
def test_metric_table_lists_every_instrument(instrument):
    row = f"| `{instrument.name}` |"
    assert row in DOC
    line = next(line for line in DOC.splitlines() if line.startswith(row))
    assert f"`{instrument.unit}`" in line
    assert f"`{instrument.prometheus_name}`" in line


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p["title"])
def test_grafana_row_shows_each_panel_query(panel):
    assert f"| {panel['title']} |" in DOC
    for target in panel["targets"]:
        assert f"`{target['expr']}`" in DOC
