"""Applying committed entries and taking or installing snapshots (`raft.apply`, `raft.snapshot.*`).

Split from obskit.raft._ops; the shared operation machinery is in obskit.raft._operation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from opentelemetry.util.types import AttributeValue

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
from obskit.raft._ops import _links

__all__ = ["Apply", "Snapshot"]


class Apply(_Operation):
    """Applying committed entries to the state machine (`raft.apply`), linked to proposals.

    Made by `obskit.raft.apply()`.

    Examples:
        >>> from obskit import raft
        >>> with raft.apply("n1", first_index=1, last_index=4):
        ...     pass
    """

    __slots__ = ("_count", "_state")

    def __init__(self, node_id: object, first_index: int | None, last_index: int | None,
                 entries: int | None, carriers: Iterable[Any]) -> None:  # fmt: skip
        self._state = st.node(node_id)
        if entries is None and first_index is not None and last_index is not None:
            entries = last_index - first_index + 1
        self._count = entries
        links = _links(carriers) if _recipe(n.SPAN_APPLY).tracer() is not None else None
        state = self._state
        self._begin(_recipe(n.SPAN_APPLY), lambda: _with(state.attrs, {
            n.BATCH_FIRST_INDEX: first_index, n.BATCH_LAST_INDEX: last_index,
            n.BATCH_ENTRY_COUNT: entries}), links=links)  # fmt: skip

    def _end(self, exc: BaseException | None) -> None:
        elapsed = self._finish(exc)
        metrics = _metrics_of(self._state)
        kind = _failure_of(exc, self._failure)
        metrics.apply_duration.get(kind, _error_key({}, kind)).record(elapsed, self._ended)
        if exc is None and self._failure is None and self._count:
            metrics.applied.add(self._count)


class Snapshot(_Operation):
    """Creating or installing a snapshot (`raft.snapshot.create` / `.install`).

    Made by `obskit.raft.create_snapshot()` / `install_snapshot()`.

    Examples:
        >>> from obskit import raft
        >>> with raft.create_snapshot("n1", index=40) as snapshot:
        ...     snapshot.set_size(2048)
    """

    __slots__ = ("_attrs", "_node", "_size")

    def __init__(self, operation: str, node_id: object, peer_id: object, index: int | None,
                 term: int | None, size: int | None) -> None:  # fmt: skip
        self._node = state = st.node(node_id)
        self._attrs: dict[str, AttributeValue] = {**state.attrs, n.SNAPSHOT_OPERATION: operation}
        self._size = size
        name = n.SPAN_SNAPSHOT_CREATE if operation == n.SNAPSHOT_CREATE else n.SPAN_SNAPSHOT_INSTALL
        peer = None if peer_id is None else st.node_key(peer_id)
        self._begin(_recipe(name), _with(state.attrs, {n.PEER_ID: peer, n.SNAPSHOT_INDEX: index,
                                                       n.SNAPSHOT_TERM: term,
                                                       n.SNAPSHOT_SIZE: size}))  # fmt: skip

    def set_size(self, size: int) -> None:
        """The snapshot's size in bytes, once known."""
        self._size = size
        self._set(n.SNAPSHOT_SIZE, size)

    def _end(self, exc: BaseException | None) -> None:
        elapsed = self._finish(exc)
        metrics = _metrics_of(self._node)
        operation = self._attrs[n.SNAPSHOT_OPERATION]
        extra = {n.SNAPSHOT_OPERATION: operation}
        kind = _failure_of(exc, self._failure)
        metrics.snapshot_duration.get((operation, kind), _error_key(extra, kind)).record(
            elapsed, self._ended
        )
        if self._size is not None and exc is None and self._failure is None:
            metrics.snapshot_size.get(operation, extra).record(self._size)
