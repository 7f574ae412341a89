"""Every Python block of docs/testing.md is a test module, and it passes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "testing.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_the_page_has_examples() -> None:
    assert len(BLOCKS) >= 6


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_docs_example_passes(pytester: pytest.Pytester, index: int) -> None:
    pytester.makepyfile(**{f"test_doc_{index}": BLOCKS[index]})
    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers", "-q")
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed", 0) >= 1, result.stdout.str()
    assert set(outcomes) <= {"passed", "seconds"}, result.stdout.str()
