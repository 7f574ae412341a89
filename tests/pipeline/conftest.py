"""Each test starts with no pipeline known: record totals are per process, by design."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obskit import pipeline
from obskit.pipeline import _core as _pipeline_core


@pytest.fixture(autouse=True)
def _fresh_pipelines() -> Iterator[None]:
    _pipeline_core.reset()
    pipeline._pipelines.clear()
    yield
    _pipeline_core.reset()
    pipeline._pipelines.clear()
