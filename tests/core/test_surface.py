"""What users see does not move when obskit's insides do: span trees and `/metrics`.

tests/core/_surface.py runs every domain through its public API in a fresh process and
prints the span trees and the Prometheus exposition, with whatever depends on time
masked; tests/core/surface.txt is that output. A change to it is a change users see:
regenerate it (`python tests/core/_surface.py > tests/core/surface.txt`) only on purpose,
and say so in CHANGELOG.md.
"""

from __future__ import annotations

import difflib
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("slim", ["true", "false"], ids=["recorder", "sdk-spans"])
def test_span_trees_and_exposition_are_unchanged(slim: str) -> None:
    env = {**os.environ, "OBSKIT_SLIM_SPANS": slim}
    for name in [
        n for n in env if n.startswith("OTEL_") or n in ("OBSKIT_ENABLED", "OBSKIT_SAMPLE_RATIO")
    ]:
        del env[name]
    done = subprocess.run(
        [sys.executable, str(HERE / "_surface.py")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = (HERE / "surface.txt").read_text()
    diff = "".join(
        difflib.unified_diff(
            expected.splitlines(True), done.stdout.splitlines(True), "surface.txt", "now"
        )
    )
    assert diff == "", diff
