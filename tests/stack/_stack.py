"""Paths of the compose stack and the tools that check it without a Docker engine."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "examples" / "stack"
INSTALL_HINT = "run `bash .ci/install-backends.sh` (see docs/backends.md)"


def require_tool(name: str, found: str | Path | None) -> str:
    """The tool's path; skips (fails under CI=true) when it is missing."""
    if found is None:
        message = f"{name} not found: {INSTALL_HINT}"
        if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
            pytest.fail(f"{message} (CI=true: never skipped)", pytrace=False)
        pytest.skip(message)
    return str(found)
