"""Every runtime test starts and ends with obskit.runtime off and the GC hook removed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obskit import runtime
from obskit._runtime import gc as _runtime_gc


@pytest.fixture(autouse=True)
def _runtime_off() -> Iterator[None]:
    runtime.disable()
    assert not _runtime_gc.installed(), "a GC hook user from another test is still active"
    yield
    runtime.disable()
    assert not _runtime_gc.installed(), "the test left obskit's GC hook in gc.callbacks"


@pytest.fixture
def runtime_on() -> Iterator[None]:
    """obskit.runtime enabled for the test (after obskit_capture, if both are used)."""
    runtime.enable()
    yield
    runtime.disable()
