"""Timing the node's own log writes: `raft.log.append` and `raft.log.sync` (fsync).

The node wraps its append and its fsync; each is a span (the sync nests under the append
when the node calls it inside) and one point in its duration histogram, so slow disks
show both in a trace and as `raft_log_sync_duration_seconds` (etcd's wal_fsync).
"""

from __future__ import annotations

from typing import Any

from obskit.raft import _names as n
from obskit.raft import _registry as st
from obskit.raft._operation import (
    _error_key,
    _failure_of,
    _metrics_of,
    _Operation,
    _recipe,
    _with,
)

__all__ = ["LogWrite"]


class LogWrite(_Operation):
    """One log append or fsync (`raft.log.append` / `raft.log.sync`).

    Made by `obskit.raft.log_append()` / `log_sync()`; usable as `with` or `async with`.

    Examples:
        >>> from obskit import raft
        >>> with raft.log_append("n1", first_index=4, last_index=5) as append:
        ...     with raft.log_sync("n1", last_index=5):
        ...         pass
    """

    __slots__ = ("_state", "_sync")

    def __init__(self, sync: bool, node_id: object, fields: dict[str, Any]) -> None:
        self._state = state = st.node(node_id)
        self._sync = sync
        name = n.SPAN_LOG_SYNC if sync else n.SPAN_LOG_APPEND
        self._begin(_recipe(name), lambda: _with(state.attrs, fields))

    def __enter__(self) -> LogWrite:
        self._attach()
        return self

    def _end(self, exc: BaseException | None) -> None:
        elapsed = self._finish(exc)
        metrics = _metrics_of(self._state)
        durations = metrics.log_sync_duration if self._sync else metrics.log_append_duration
        kind = _failure_of(exc, self._failure)
        durations.get(kind, _error_key({}, kind)).record(elapsed, self._ended)
