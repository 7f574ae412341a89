"""The "Instrumenting an existing library" sections of the domain pages run as shown.

Each Python block there is run as a program (as `test_domain_pages` runs a page's first
block): it must exit 0 and print the spans it promises.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"
SECTION = "## Instrumenting an existing library"
# Page -> span names its section's examples must print (console exporter).
PAGES = {
    "raft.md": ("raft.Raft/AppendEntries", "raft.election", "raft.state.change"),
    "query.md": ("query.operator",),
    "btree.md": ("btree.depth{btree.index=kv_pk}  2", "btree.key.count{btree.index=kv_pk}  100"),
}


def _blocks(page: str) -> list[str]:
    text = (DOCS / page).read_text()
    assert SECTION in text, f"{page} has no '{SECTION}' section"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.mark.parametrize("page", sorted(PAGES))
def test_library_section_examples_run(page: str) -> None:
    blocks = _blocks(page)
    assert blocks, f"{page}: no Python example in '{SECTION}'"
    printed = ""
    for code in blocks:
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
            cwd=DOCS.parent,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        printed += result.stdout
    for name in PAGES[page]:
        assert name in printed, f"{page}: {name} not printed:\n{printed[-2000:]}"
