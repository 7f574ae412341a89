"""The Raft operations behind `obskit.raft`: elections, RPCs, proposals, apply, snapshots.

Each operation is a small class usable as `with`, `async with`, or started and ended by
hand (a proposal often commits on another thread than the one that proposed it). Names
and per-node attribute dicts are prepared once; a call starts at most one span and
records its metrics on exit. Nothing here raises into the node: span and metric steps
are guarded, and the node's own exceptions pass through untouched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import AttributeValue

from obskit import propagation
from obskit._names import ERROR_TYPE
from obskit._operation import Outcomes
from obskit._spans import SpanHandle, error_type
from obskit.raft import _names as n
from obskit.raft import _state as st
from obskit.raft._operation import (
    _MAX_LINKS,
    _RPC_CLIENT,
    _RPC_SERVER,
    _error_key,
    _metrics_of,
    _Operation,
    _recipe,
    _rpc_attrs,
    _rpc_recipe,
    _with,
)

__all__ = ["Apply", "ClientCall", "Election", "Proposal", "ServerCall", "Snapshot"]


class Election(_Operation):
    """A leader election, from becoming candidate to winning or losing (`raft.election`).

    Made by `obskit.raft.election()`.

    Examples:
        >>> from obskit import raft
        >>> with raft.election("n1", term=5, votes_needed=2) as e:
        ...     e.lost()
    """

    __slots__ = ("_lock", "_outcome", "_state", "votes_granted", "votes_needed")

    def __init__(self, node_id: object, term: int | None, votes_needed: int | None) -> None:
        self._state = st.node(node_id)
        self._lock = threading.Lock()
        self._outcome: str | None = None
        self.votes_granted = 1  # a candidate votes for itself
        self.votes_needed = votes_needed
        self._begin(_recipe(n.SPAN_ELECTION),
                    _with(self._state.attrs, {n.TERM: term, n.ELECTION_VOTES_NEEDED: votes_needed}))  # fmt: skip

    def vote_granted(self, peer_id: object) -> int:
        """Count a granted vote (thread-safe); returns the votes granted so far."""
        with self._lock:
            self.votes_granted += 1
            votes = self.votes_granted
        self.span.add_event(n.EVENT_VOTE_GRANTED, {n.PEER_ID: st.node_key(peer_id)})
        return votes

    def won(self) -> None:
        """Mark the election won (the default when granted votes reach `votes_needed`)."""
        self._outcome = n.OUTCOME_WON

    def lost(self) -> None:
        """Mark the election lost (a higher term seen, a split vote, a timeout)."""
        self._outcome = n.OUTCOME_LOST

    def _end(self, exc: BaseException | None) -> None:
        outcome = self._outcome
        if outcome is None:
            enough = self.votes_needed is not None and self.votes_granted >= self.votes_needed
            outcome = n.OUTCOME_WON if enough and exc is None else n.OUTCOME_LOST
        self._set(n.ELECTION_OUTCOME, outcome)
        self._set(n.ELECTION_VOTES_GRANTED, self.votes_granted)
        elapsed = self._finish(exc)
        metrics = _metrics_of(self._state)
        extra = {n.ELECTION_OUTCOME: outcome}
        metrics.elections.get(outcome, extra).add()
        metrics.election_duration.get(outcome, extra).record(elapsed)


def _rpc_attributes(node: st.NodeState, peer: str, method: str, system: str) -> dict[str, Any]:
    key = (node.id, peer, method, system)
    found = _rpc_attrs.get(key)
    if found is None:
        if len(_rpc_attrs) > 4096:
            _rpc_attrs.clear()
        found = _rpc_attrs[key] = {**node.with_peer(peer), n.RPC_SYSTEM: system,
                                   n.RPC_SERVICE: n.RPC_SERVICE_NAME, n.RPC_METHOD: method}  # fmt: skip
    return found


_rpc_bound: dict[tuple[str, str, str, str], tuple[Outcomes, Outcomes]] = {}


def _rpc_durations(attrs: dict[str, Any]) -> tuple[Outcomes, Outcomes]:
    """(client, server) duration handles of one node/peer/method/system, by error type."""
    key = (attrs[n.NODE_ID], attrs[n.PEER_ID], attrs[n.RPC_METHOD], attrs[n.RPC_SYSTEM])
    found = _rpc_bound.get(key)
    if found is None:
        found = (Outcomes(_RPC_CLIENT, attrs, 64), Outcomes(_RPC_SERVER, attrs, 64))
        if len(_rpc_bound) <= 4096:
            _rpc_bound[key] = found
    return found


class _Call(_Operation):
    """What client and server RPC sides share: attributes, the response, the duration."""

    __slots__ = ("_attrs", "_node", "_peer")
    _attrs: dict[str, Any]
    _node: st.NodeState
    _peer: str

    def response(
        self,
        *,
        success: bool | None = None,
        vote_granted: bool | None = None,
        term: int | None = None,
        reject_reason: str | None = None,
    ) -> None:
        """Record the protocol outcome (a rejection is an answer, not an error)."""
        self._set(n.RESPONSE_SUCCESS, success)
        self._set(n.VOTE_GRANTED, vote_granted)
        self._set(n.TERM, term)
        self._set(n.REJECT_REASON, reject_reason)

    def _record(self, side: int, exc: BaseException | None) -> None:
        elapsed = self._finish(exc)
        durations = _rpc_durations(self._attrs)[side]
        if exc is None:
            handle = durations.found.get(None) or durations.get(None)
        else:
            kind = error_type(exc)
            handle = durations.get(kind, {ERROR_TYPE: kind})
        handle.record(elapsed)


def _message_attributes(
    term: int | None, prev_index: int | None, prev_term: int | None, commit_index: int | None,
    first_index: int | None, last_index: int | None, entries: int | None,
) -> dict[str, object]:  # fmt: skip
    return {n.TERM: term, n.PREV_LOG_INDEX: prev_index, n.PREV_LOG_TERM: prev_term,
            n.COMMIT_INDEX: commit_index, n.BATCH_FIRST_INDEX: first_index,
            n.BATCH_LAST_INDEX: last_index, n.BATCH_ENTRY_COUNT: entries}  # fmt: skip


class ClientCall(_Call):
    """Sending one RPC to a peer: a CLIENT span whose context goes into the message.

    Made by `obskit.raft.client_call()`.

    Examples:
        >>> from obskit import raft
        >>> with raft.client_call(raft.REQUEST_VOTE, {}, node_id="n1", peer_id="n2") as call:
        ...     call.response(vote_granted=False, term=6)
    """

    __slots__ = ()

    def __init__(self, method: str, message: Any, node_id: object, peer_id: object,
                 system: str, heartbeat: bool, address: str | None, port: int | None,
                 fields: Mapping[str, object]) -> None:  # fmt: skip
        self._node = st.node(node_id)
        self._peer = st.node_key(peer_id)
        self._attrs = _rpc_attributes(self._node, self._peer, method, system)
        base = self._attrs
        self._begin(_rpc_recipe(method, SpanKind.CLIENT),
                    lambda: _with(base, {**fields, n.SERVER_ADDRESS: address, n.SERVER_PORT: port}),
                    traced=not heartbeat)  # fmt: skip
        if self._span is not None and message is not None:
            propagation.inject(message, context=trace_api.set_span_in_context(self._span))

    def __enter__(self) -> ClientCall:
        return self  # the CLIENT span is not made current: the RPC has no local children

    def _end(self, exc: BaseException | None) -> None:
        self._record(0, exc)
        if exc is None:
            st.record_contact(self._node.id, self._peer)


class ServerCall(_Call):
    """Handling one RPC: a SERVER span, child of the sender's span carried in the message.

    Made by `obskit.raft.server_call()` or `@obskit.raft.rpc_handler`.

    Examples:
        >>> from obskit import raft
        >>> with raft.server_call(raft.REQUEST_VOTE, {}, node_id="n2", peer_id="n1") as call:
        ...     call.response(vote_granted=True)
    """

    __slots__ = ()

    def __init__(self, method: str, message: Any, node_id: object, peer_id: object,
                 system: str, heartbeat: bool, fields: Mapping[str, object]) -> None:  # fmt: skip
        self._node = st.node(node_id)
        self._peer = st.node_key(peer_id)
        self._attrs = _rpc_attributes(self._node, self._peer, method, system)
        parent = None if heartbeat else propagation.extract(message)
        base = self._attrs
        self._begin(_rpc_recipe(method, SpanKind.SERVER),
                    lambda: _with(base, fields), context=parent, traced=not heartbeat)  # fmt: skip
        if peer_id is not None:
            st.record_contact(self._node.id, self._peer)

    def _end(self, exc: BaseException | None) -> None:
        self._record(1, exc)


class Proposal(_Operation):
    """A client write from proposal to quorum commit (`raft.propose`).

    Started when created; ends with `commit()` or `fail()` (from any thread), or when a
    `with` block around it exits (committed, or failed with the escaping exception).
    Made by `obskit.raft.propose()`.

    Examples:
        >>> from obskit import raft
        >>> proposal = raft.propose("n1", term=5)
        >>> entry = {"cmd": "set x=1", "trace": proposal.inject({})}
        >>> proposal.commit(index=12)
    """

    __slots__ = ("_done", "_state")

    def __init__(self, node_id: object, term: int | None, index: int | None) -> None:
        self._state = state = st.node(node_id)
        self._done = threading.Lock()
        self._begin(_recipe(n.SPAN_PROPOSE),
                    lambda: _with(state.attrs, {n.TERM: term, n.LOG_INDEX: index}))  # fmt: skip
        _metrics_of(state).pending.add(1)

    def inject(self, carrier: Any = None) -> Any:
        """Write this proposal's trace context into `carrier` (e.g. the log entry)."""
        if self._span is None:
            return {} if carrier is None else carrier
        return propagation.inject(carrier, context=trace_api.set_span_in_context(self._span))

    def set_index(self, index: int) -> None:
        """The log index the entry got (known once the leader appended it)."""
        self._set(n.LOG_INDEX, index)

    def commit(self, index: int | None = None) -> None:
        """The entry reached a quorum: count it committed and end the span."""
        if not self._done.acquire(blocking=False):
            return
        self._set(n.LOG_INDEX, index)
        elapsed = self._finish(None)
        metrics = _metrics_of(self._state)
        metrics.pending.add(-1)
        metrics.committed.add(1)
        durations = metrics.commit_duration
        (durations.found.get(None) or durations.get(None)).record(elapsed)

    def fail(self, reason: str | BaseException = n.FAILED_DEFAULT) -> None:
        """The proposal will not commit (`not_leader`, `timeout`, an exception...)."""
        if not self._done.acquire(blocking=False):
            return
        exc = reason if isinstance(reason, BaseException) else None
        kind = error_type(exc) if exc is not None else st.node_key(reason)
        if exc is None and self._span is not None:
            SpanHandle(self._span).set_error(f"proposal failed: {kind}", kind)
        elapsed = self._finish(exc)
        metrics = _metrics_of(self._state)
        metrics.pending.add(-1)
        metrics.failed.get(kind, {ERROR_TYPE: kind}).add(1)
        metrics.commit_duration.get(kind, {ERROR_TYPE: kind}).record(elapsed)

    def _end(self, exc: BaseException | None) -> None:
        if exc is None:
            self.commit()
        else:
            self.fail(exc)


def _links(carriers: Iterable[Any]) -> list[Link]:
    links: list[Link] = []
    for carrier in carriers:
        link = propagation.link_from(carrier)
        if link is not None:
            links.append(link)
            if len(links) >= _MAX_LINKS:
                break
    return links


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
        kind = None if exc is None else error_type(exc)
        metrics.apply_duration.get(kind, _error_key({}, kind)).record(elapsed)
        if exc is None and self._count:
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
        kind = None if exc is None else error_type(exc)
        metrics.snapshot_duration.get((operation, kind), _error_key(extra, kind)).record(elapsed)
        if self._size is not None and exc is None:
            metrics.snapshot_size.get(operation, extra).record(self._size)
