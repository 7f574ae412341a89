"""Helpers for the compose-stack checks: paths, and tools that may be missing.

These tests need no Docker engine: they run Debian's `docker-compose` (1.29) and
`promtool` (2.42) on the files, and start the Jaeger binary built by
`.ci/build-jaeger.sh`. A missing tool skips its test with how to get it, except under
CI=true, where it fails.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from _stack import require_tool


@pytest.fixture(scope="session")
def docker_compose() -> str:
    """Debian's docker-compose (1.29), which parses compose files without an engine."""
    return require_tool("docker-compose", shutil.which("docker-compose"))


@pytest.fixture(scope="session")
def promtool() -> str:
    """promtool from Debian's prometheus package."""
    return require_tool("promtool", shutil.which("promtool"))


@pytest.fixture(scope="session")
def jaeger_binary() -> str:
    """The Jaeger v2 binary .ci/build-jaeger.sh builds (or $OBSKIT_JAEGER_BIN)."""
    override = os.environ.get("OBSKIT_JAEGER_BIN")
    cache = Path(os.environ.get("OBSKIT_CACHE") or "~/.cache/obskit").expanduser()
    path = Path(override).expanduser() if override else cache / "bin" / "jaeger"
    found = path if path.is_file() and os.access(path, os.X_OK) else None
    return require_tool("jaeger", found)
