"""Each test starts with no pipeline known: record totals are per process, by design."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obskit.pipeline import _registry


@pytest.fixture(autouse=True)
def _fresh_pipelines() -> Iterator[None]:
    _registry.reset()
    yield
    _registry.reset()
