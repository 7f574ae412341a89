"""docs/query.md: the worked example runs, and the generated catalogue block is current."""

from __future__ import annotations

import re
from pathlib import Path

from obskit import _catalogue, query

DOC = Path(__file__).resolve().parents[2] / "docs" / "query.md"
START = re.compile(r"<!-- generated: [^>]*-->\n")
END = "<!-- end generated -->"


def rendered_block() -> str:
    """The catalogue tables and Grafana panels of query, as embedded in the page."""
    text = _catalogue.render_markdown([query.CATALOGUE])
    body = text[text.index("Instrumentation scope") :].rstrip()
    rows = ["### Grafana panels", "", "| Panel | PromQL | Unit |", "|---|---|---|"]
    for panel in query.PANELS:
        expr = panel["expr"].replace("|", "\\|")
        rows.append(f"| {panel['title']} | `{expr}` | {panel['unit']} |")
    return body + "\n\n" + "\n".join(rows) + "\n"


def test_generated_block_is_current() -> None:
    page = DOC.read_text()
    start = START.search(page)
    assert start is not None
    assert END in page
    embedded = page[start.end() : page.index(END)]
    assert embedded == rendered_block(), (
        "docs/query.md is stale: replace the generated block with rendered_block() "
        "from this test module"
    )


def test_worked_example_runs(obskit_capture) -> None:
    code = DOC.read_text().split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("obskit.configure(", "dict(").replace("obskit.shutdown()", "None")
    exec(compile(code, str(DOC), "exec"), {"__name__": "docs_example"})
    assert obskit_capture.spans, "the example emitted no spans"
