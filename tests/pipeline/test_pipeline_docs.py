"""docs/pipeline.md: its generated catalogue/panels/alerts block is fresh; its example runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from obskit import _catalogue
from obskit import pipeline as domain

DOC = Path(__file__).resolve().parents[2] / "docs" / "pipeline.md"
START, END = "<!-- generated: ", "<!-- end generated -->"


def render_block() -> str:
    """The generated part of the page: catalogue tables, Grafana panels, alerts."""
    text = _catalogue.render_markdown([domain.CATALOGUE])
    lines = [text.split("\n## ", 1)[1].split("\n", 1)[1].strip("\n"), "", "### Grafana panels",
             "", "| Panel | PromQL |", "|---|---|"]  # fmt: skip
    for panel in domain.PANELS:
        exprs = "<br>".join(f"`{e}`" for e in [panel["expr"], *panel.get("extra", [])])
        lines.append(f"| {panel['title']} | " + exprs.replace("|", "\\|") + " |")
    lines += ["", "### Alerts", "", "| Alert | For | Severity | PromQL |", "|---|---|---|---|"]
    for alert in domain.ALERTS:
        lines.append(f"| {alert['alert']} ({alert['summary']}) | {alert['for']} | "
                     f"{alert['severity']} | `{alert['expr']}` |")  # fmt: skip
    return "\n".join(lines) + "\n"


def test_generated_block_is_fresh() -> None:
    text = DOC.read_text()
    block = text.split(START, 1)[1].split("\n", 1)[1].split(END, 1)[0]
    assert block == render_block(), "docs/pipeline.md is stale: paste render_block() output"


def test_worked_example_runs() -> None:
    code = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)[0]
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "metrics" in result.stdout
