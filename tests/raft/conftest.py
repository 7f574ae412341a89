"""Each test starts with no Raft node known (node state is per process, by design)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obskit.raft import _registry as _raft_state


@pytest.fixture(autouse=True)
def _fresh_nodes() -> Iterator[None]:
    _raft_state.reset()
    yield
    _raft_state.reset()
