"""The running Raft operations: elections, RPCs, proposals, apply, snapshots, log writes.

Every one is an `obskit._domain.operation.Operation` (the one engine: recipe, sampling
decided first, attach, clock, outcome, `with` / `async with` / `end()`), usable as a `with`
block or started when made and ended by hand with `end()` (event-loop nodes: a reply
arrives as a later message, an election spans many ticks; a proposal often commits on
another thread). Names and per-node attribute dicts are prepared once; a call starts at
most one span and records its metrics when it ends, through handles bound once per node
(`_NodeMetrics`). Nothing here raises into the node: span and metric steps are guarded,
and the node's own exceptions pass through untouched. While obskit is off the factories
of `obskit.raft` hand out the shared no-op of each class (`obskit._domain.off`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, overload

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import Link, SpanContext, SpanKind
from opentelemetry.util.types import AttributeValue

from obskit import propagation
from obskit._base.log import log_once
from obskit._base.names import ERROR_TYPE
from obskit._domain.operation import Operation, Outcomes, hot
from obskit._routing import off
from obskit._safety.clean import clean_value
from obskit._safety.errors import CANCELLED, outcome
from obskit._trace.handle import SpanHandle, SpanRecipe
from obskit.raft import _names as n
from obskit.raft import _registry as st

__all__ = ["Apply", "ClientCall", "Election", "LogWrite", "Proposal", "ServerCall", "Snapshot"]

_SCOPE = n.CATALOGUE.scope
_MAX_LINKS = n.MAX_LINKS

# Bound hot instruments (obskit._domain.operation): a record is ~0.2 us, an SDK one 5-10 us.
_ELECTIONS = hot(n.CATALOGUE, n.M_ELECTIONS)
_ELECTION_DURATION = hot(n.CATALOGUE, n.M_ELECTION_DURATION)
_COMMITTED = hot(n.CATALOGUE, n.M_COMMITTED)
_FAILED = hot(n.CATALOGUE, n.M_FAILED)
_APPLIED = hot(n.CATALOGUE, n.M_APPLIED)
_PENDING = hot(n.CATALOGUE, n.M_PENDING)
_COMMIT_DURATION = hot(n.CATALOGUE, n.M_COMMIT_DURATION)
_APPLY_DURATION = hot(n.CATALOGUE, n.M_APPLY_DURATION)
_SNAPSHOT_DURATION = hot(n.CATALOGUE, n.M_SNAPSHOT_DURATION)
_SNAPSHOT_SIZE = hot(n.CATALOGUE, n.M_SNAPSHOT_SIZE)
_LOG_APPEND_DURATION = hot(n.CATALOGUE, n.M_LOG_APPEND_DURATION)
_LOG_SYNC_DURATION = hot(n.CATALOGUE, n.M_LOG_SYNC_DURATION)
_RPC_CLIENT = hot(n.CATALOGUE, n.M_RPC_CLIENT_DURATION)
_RPC_SERVER = hot(n.CATALOGUE, n.M_RPC_SERVER_DURATION)
_MAX_KINDS = 64  # error types / outcomes kept bound per node or per RPC peer and method


class _NodeMetrics:
    """A node's bound handles: resolved once per node, then a record is an add."""

    __slots__ = (
        "applied",
        "apply_duration",
        "commit_duration",
        "committed",
        "election_duration",
        "elections",
        "failed",
        "log_append_duration",
        "log_sync_duration",
        "pending",
        "snapshot_duration",
        "snapshot_size",
    )

    def __init__(self, attrs: Mapping[str, AttributeValue]) -> None:
        self.pending = _PENDING.bind(attrs)
        self.committed = _COMMITTED.bind(attrs)
        self.applied = _APPLIED.bind(attrs)
        # Keyed by error type (None: no error), or by outcome / snapshot operation.
        self.commit_duration = Outcomes(_COMMIT_DURATION, attrs, _MAX_KINDS)
        self.failed = Outcomes(_FAILED, attrs, _MAX_KINDS)
        self.apply_duration = Outcomes(_APPLY_DURATION, attrs, _MAX_KINDS)
        self.elections = Outcomes(_ELECTIONS, attrs, _MAX_KINDS)
        self.election_duration = Outcomes(_ELECTION_DURATION, attrs, _MAX_KINDS)
        self.snapshot_duration = Outcomes(_SNAPSHOT_DURATION, attrs, _MAX_KINDS)
        self.snapshot_size = Outcomes(_SNAPSHOT_SIZE, attrs, _MAX_KINDS)
        self.log_append_duration = Outcomes(_LOG_APPEND_DURATION, attrs, _MAX_KINDS)
        self.log_sync_duration = Outcomes(_LOG_SYNC_DURATION, attrs, _MAX_KINDS)


_node_metrics: dict[str, _NodeMetrics] = {}


def _metrics_of(node: st.NodeState) -> _NodeMetrics:
    """The bound handles of a node."""
    found = _node_metrics.get(node.id)
    if found is None:
        if len(_node_metrics) > 4096:  # node ids come from the caller: stay bounded
            _node_metrics.clear()
        found = _node_metrics[node.id] = _NodeMetrics(node.attrs)
    return found


#: Id types resolved once and then found by the caller's own value: `node_key` of a str,
#: an int or None depends on the value only (a bool, equal to 0 or 1, is not one of them).
_AS_GIVEN = frozenset({str, int, type(None)})
_nodes: dict[object, tuple[st.NodeState, _NodeMetrics]] = {}
st.forget_hooks.append(_nodes.clear)  # a forgotten node's state must not be reused


def _node(node_id: object) -> tuple[st.NodeState, _NodeMetrics]:
    """(state, bound handles) of `node_id`: one dict lookup for the ids callers use."""
    if type(node_id) in _AS_GIVEN:
        found = _nodes.get(node_id)
        if found is not None:
            return found
    state = st.node(node_id)
    found = (state, _metrics_of(state))
    if type(node_id) in _AS_GIVEN:
        if len(_nodes) > 4096:
            _nodes.clear()
        _nodes[node_id] = found
    return found


def _error_key(extra: Mapping[str, object], error: str | None) -> dict[str, object]:
    return dict(extra) if error is None else {**extra, ERROR_TYPE: error}


_recipes: dict[tuple[str, SpanKind], SpanRecipe] = {}
_rpc_recipes: dict[tuple[str, SpanKind], SpanRecipe] = {}


def _rpc_recipe(method: str, kind: SpanKind) -> SpanRecipe:
    """The recipe of `raft.Raft/{method}` (cached by method, not by a formatted name)."""
    found = _rpc_recipes.get((method, kind))
    if found is None:
        found = _recipe(f"{n.RPC_SERVICE_NAME}/{method}", kind)
        if len(_rpc_recipes) < 1024:
            _rpc_recipes[(method, kind)] = found
    return found


def _recipe(name: str, kind: SpanKind = SpanKind.INTERNAL) -> SpanRecipe:
    found = _recipes.get((name, kind))
    if found is None:
        found = _recipes[(name, kind)] = SpanRecipe(name, None, kind, scope=_SCOPE)
    return found


_PROPOSE = _recipe(n.SPAN_PROPOSE)


def _with(attrs: Mapping[str, AttributeValue], extra: Mapping[str, object]) -> dict[str, Any]:
    """`attrs` plus the non-None, cleaned values of `extra`."""
    merged: dict[str, Any] = dict(attrs)
    for key, value in extra.items():
        if value is not None:
            clean = clean_value(value)
            if clean is not None:
                merged[key] = clean
    return merged


# --- elections ------------------------------------------------------------------------------
class Election(Operation):
    """A leader election, from becoming candidate to winning or losing (`raft.election`).

    Made by `obskit.raft.election()`: a `with` block, or started when made and ended with
    `end()` (an event loop counts the votes as they arrive, over many ticks).

    Examples:
        >>> from obskit import raft
        >>> with raft.election("n1", term=5, votes_needed=2) as e:
        ...     e.lost()
        >>> e = raft.election("n1", term=6, votes_needed=2)
        >>> request = {"term": 6, "trace": e.inject()}
        >>> e.vote_refused("n2")
        >>> e.vote_granted("n3")
        2
        >>> e.end()
    """

    __slots__ = ("_lock", "_outcome", "_state", "votes_denied", "votes_granted",
                 "votes_needed", "votes_unanswered")  # fmt: skip

    def __init__(self, node_id: object, term: int | None, votes_needed: int | None) -> None:
        self._state = st.node(node_id)
        self._lock = threading.RLock()  # re-entrant: a vote counted by a signal handler
        self._outcome: str | None = None
        self.votes_granted = 1  # a candidate votes for itself
        self.votes_denied = 0
        self.votes_unanswered = 0
        self.votes_needed = votes_needed
        self._open(_recipe(n.SPAN_ELECTION),
                   _with(self._state.attrs, {n.TERM: term, n.ELECTION_VOTES_NEEDED: votes_needed}))  # fmt: skip

    def vote_granted(self, peer_id: object) -> int:
        """Count a granted vote (thread-safe); returns the votes granted so far."""
        with self._lock:
            self.votes_granted += 1
            votes = self.votes_granted
        self.span.add_event(n.EVENT_VOTE_GRANTED, {n.PEER_ID: st.node_key(peer_id)})
        return votes

    def vote_refused(
        self, peer_id: object, *, answered: bool = True, term: int | None = None
    ) -> None:
        """Count a vote not granted: denied (`answered=True`) or never answered.

        Neither counts as a peer contact (`raft.peer.last_contact` follows RPCs, and a
        RequestVote ended with `end("timeout")` records none). `term` is the higher term
        a denial carried, if any.
        """
        result = n.VOTE_DENIED if answered else n.VOTE_UNANSWERED
        with self._lock:
            if answered:
                self.votes_denied += 1
            else:
                self.votes_unanswered += 1
        event: dict[str, object] = {n.PEER_ID: st.node_key(peer_id), n.VOTE_RESULT: result}
        if term is not None:
            event[n.TERM] = term
        self.span.add_event(n.EVENT_VOTE_REFUSED, event)

    def won(self) -> None:
        """Mark the election won (the default when granted votes reach `votes_needed`)."""
        self._outcome = n.OUTCOME_WON

    def lost(self) -> None:
        """Mark the election lost (a higher term seen, a split vote, a timeout)."""
        self._outcome = n.OUTCOME_LOST

    def _end(self, exc: BaseException | None) -> None:
        result = self._outcome
        if result is None:
            enough = self.votes_needed is not None and self.votes_granted >= self.votes_needed
            ok = exc is None and self._failure is None
            result = n.OUTCOME_WON if enough and ok else n.OUTCOME_LOST
        self._set(n.ELECTION_OUTCOME, result)
        self._set(n.ELECTION_VOTES_GRANTED, self.votes_granted)
        if self.votes_denied:
            self._set(n.ELECTION_VOTES_DENIED, self.votes_denied)
        if self.votes_unanswered:
            self._set(n.ELECTION_VOTES_UNANSWERED, self.votes_unanswered)
        elapsed = self._finish(exc)
        if off():  # obskit is off: the votes were counted for the caller, nothing recorded
            return
        metrics = _metrics_of(self._state)
        extra = {n.ELECTION_OUTCOME: result}
        metrics.elections.get(result, extra).add()
        metrics.election_duration.get(result, extra).record(elapsed, self._ended)


# --- RPCs -----------------------------------------------------------------------------------
class _Route:
    """One node, peer, method and RPC system: what its calls need, resolved once."""

    __slots__ = ("attrs", "client", "client_recipe", "node", "peer", "server", "server_recipe")

    def __init__(self, method: str, node_id: object, peer_id: object, system: str) -> None:
        self.node = node = _node(node_id)[0]
        self.peer = peer = st.node_key(peer_id)
        self.attrs: dict[str, Any] = {**node.with_peer(peer), n.RPC_SYSTEM: system,
                                      n.RPC_SERVICE: n.RPC_SERVICE_NAME, n.RPC_METHOD: method}  # fmt: skip
        self.client_recipe = _rpc_recipe(method, SpanKind.CLIENT)
        self.server_recipe = _rpc_recipe(method, SpanKind.SERVER)
        # Durations by error type (None: no error).
        self.client, self.server = _rpc_durations(self.attrs)


_routes: dict[tuple[str, object, object, str], _Route] = {}
st.forget_hooks.append(_routes.clear)


def _route(method: str, node_id: object, peer_id: object, system: str) -> _Route:
    """The route of an RPC: one dict lookup for the ids callers use (see `_AS_GIVEN`)."""
    given = type(node_id) in _AS_GIVEN and type(peer_id) in _AS_GIVEN
    if given:
        found = _routes.get((method, node_id, peer_id, system))
        if found is not None:
            return found
    found = _Route(method, node_id, peer_id, system)
    if given and type(method) is str and type(system) is str:
        if len(_routes) > 4096:
            _routes.clear()
        _routes[(method, node_id, peer_id, system)] = found
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


#: An RPC's message attributes, in the order `_client` / `_server` get their values.
_MESSAGE_KEYS = (n.TERM, n.PREV_LOG_INDEX, n.PREV_LOG_TERM, n.COMMIT_INDEX,
                 n.BATCH_FIRST_INDEX, n.BATCH_LAST_INDEX, n.BATCH_ENTRY_COUNT,
                 n.SERVER_ADDRESS, n.SERVER_PORT)  # fmt: skip


def _fields_of(route: _Route, fields: Mapping[str, object]) -> Callable[[], dict[str, Any]]:
    return lambda: _with(route.attrs, fields)


class _Call(Operation):
    """What client and server RPC sides share: the route, the response, the duration."""

    __slots__ = ("_fields", "_route")
    _route: _Route
    _fields: tuple[Any, ...]  # values of _MESSAGE_KEYS, read only if the span records

    def _attributes(self) -> dict[str, Any]:
        return _with(self._route.attrs, dict(zip(_MESSAGE_KEYS, self._fields, strict=False)))

    def response(
        self,
        *,
        success: bool | None = None,
        vote_granted: bool | None = None,
        term: int | None = None,
        reject_reason: str | None = None,
    ) -> None:
        """Record the protocol outcome (a rejection is an answer, not an error)."""
        span = self._span
        if span is None or not span.is_recording():
            return  # nothing records it: no attribute is cleaned or set
        self._set(n.RESPONSE_SUCCESS, success)
        self._set(n.VOTE_GRANTED, vote_granted)
        self._set(n.TERM, term)
        self._set(n.REJECT_REASON, reject_reason)

    def _record(self, durations: Outcomes, exc: BaseException | None) -> None:
        elapsed = self._finish(exc)
        kind = None if exc is None and self._failure is None else self.outcome_of(exc)[1]
        if kind is None:
            handle = durations.found.get(None) or durations.get(None)
        else:
            handle = durations.get(kind, {ERROR_TYPE: kind})
        handle.record(elapsed, self._ended)


class ClientCall(_Call):
    """Sending one RPC to a peer: a CLIENT span whose context goes into the message.

    Made by `obskit.raft.client_call()`: a `with` block around send-and-wait, or started
    when made and ended with `end()` when the reply arrives (`end("timeout")` when it
    never does: no peer contact is recorded then).

    Examples:
        >>> from obskit import raft
        >>> with raft.client_call(raft.REQUEST_VOTE, {}, node_id="n1", peer_id="n2") as call:
        ...     call.response(vote_granted=False, term=6)
        >>> call = raft.client_call(raft.REQUEST_VOTE, {}, node_id="n1", peer_id="n3")
        >>> call.end("timeout")
    """

    __slots__ = ()

    def __init__(self, method: str, message: Any, node_id: object, peer_id: object,
                 system: str, heartbeat: bool, address: str | None, port: int | None,
                 fields: Mapping[str, object], parent: Any = None,
                 links: Iterable[Any] = ()) -> None:  # fmt: skip
        route = _route(method, node_id, peer_id, system)
        more = {**fields, n.SERVER_ADDRESS: address, n.SERVER_PORT: port}
        self._fields = ()
        self._start(route, message, heartbeat, _fields_of(route, more), parent, links)

    def _start(self, route: _Route, message: Any, heartbeat: bool,
               attributes: Callable[[], Mapping[str, Any]], parent: Any,
               links: Iterable[Any] | None) -> None:  # fmt: skip
        self._route = route
        recipe = route.client_recipe
        if heartbeat or recipe.tracer() is None:
            self._open(recipe, traced=False)
            return
        lazy = _lazy_links(links)
        context = None if parent is None else _parent_context(parent)
        self._open(recipe, attributes, context=context, links=lazy)
        span = self._span
        if span is not None:
            if lazy is not None:
                _count_dropped(span, lazy)
            if message is not None:
                self.inject(message)  # Operation.inject: the W3C header straight from the span

    def __enter__(self) -> ClientCall:
        return self  # the CLIENT span is not made current: the RPC has no local children

    def _end(self, exc: BaseException | None) -> None:
        route = self._route
        self._record(route.client, exc)
        if exc is None and self._failure is None and not off():
            st.contact(route.node, route.peer)


#: The parent of a SERVER span whose message carries no trace context: a new trace.
_NO_PARENT = context_api.Context()


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
                 system: str, heartbeat: bool, fields: Mapping[str, object],
                 links: Iterable[Any] = ()) -> None:  # fmt: skip
        route = _route(method, node_id, peer_id, system)
        self._fields = ()
        self._start(route, message, heartbeat, _fields_of(route, fields), links,
                    peer_id is not None)  # fmt: skip

    def _start(self, route: _Route, message: Any, heartbeat: bool,
               attributes: Callable[[], Mapping[str, Any]], links: Iterable[Any] | None,
               contact: bool) -> None:  # fmt: skip
        self._route = route
        recipe = route.server_recipe
        if heartbeat or recipe.tracer() is None:
            self._open(recipe, traced=False)
        else:
            if message is None or (type(message) is dict and not message):
                parent = _NO_PARENT  # nothing to parse
            else:
                parent = propagation.extract(message)
            lazy = _lazy_links(links)
            self._open(recipe, attributes, context=parent, links=lazy)
            if lazy is not None:
                _count_dropped(self._span, lazy)
        if contact and not off():
            st.contact(route.node, route.peer)

    def _end(self, exc: BaseException | None) -> None:
        self._record(self._route.server, exc)


def _client(method: str, message: Any, node_id: object, peer_id: object, system: str,
            heartbeat: bool, parent: Any, links: Iterable[Any] | None,
            attributes: tuple[Any, ...]) -> ClientCall:  # fmt: skip
    """`obskit.raft.client_call`: `attributes` are `_message_attributes`' values."""
    call = ClientCall.__new__(ClientCall)
    call._fields = attributes
    call._start(_route(method, node_id, peer_id, system), message, heartbeat,
                call._attributes, parent, links)  # fmt: skip
    return call


def _server(method: str, message: Any, node_id: object, peer_id: object, system: str,
            heartbeat: bool, links: Iterable[Any] | None,
            attributes: tuple[Any, ...]) -> ServerCall:  # fmt: skip
    """`obskit.raft.server_call`: `attributes` are `_message_attributes`' values."""
    call = ServerCall.__new__(ServerCall)
    call._fields = attributes
    call._start(_route(method, node_id, peer_id, system), message, heartbeat,
                call._attributes, links, peer_id is not None)  # fmt: skip
    return call


# --- proposals ------------------------------------------------------------------------------
#: Held while a proposal claims its end: `commit()` and `fail()` may race on two threads,
#: and exactly one of them ends it (one lock for all: held for a flag test and set).
_ENDING = threading.Lock()


class Proposal(Operation):
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

    __slots__ = ("_metrics", "_state")

    def __init__(self, node_id: object, term: int | None, index: int | None) -> None:
        self._state, self._metrics = state, metrics = _node(node_id)
        self._open(_PROPOSE, lambda: _with(state.attrs, {n.TERM: term, n.LOG_INDEX: index}))
        metrics.pending.add(1)

    def _open_off(self) -> None:
        super()._open_off()
        self._state = st.NodeState("")  # (`_metrics` is never read: it is closed)

    def end(self, error: str | BaseException | None = None) -> None:
        """`commit()` without an error, else `fail(error)`."""
        if error is None:
            self.commit()
        else:
            self.fail(error)

    def set_index(self, index: int) -> None:
        """The log index the entry got (known once the leader appended it)."""
        self._set(n.LOG_INDEX, index)

    def commit(self, index: int | None = None) -> None:
        """The entry reached a quorum: count it committed and end the span."""
        if not self._claim():
            return
        if index is not None:
            self._set(n.LOG_INDEX, index)
        elapsed = self._finish(None)
        metrics = self._metrics
        metrics.pending.add(-1)
        metrics.committed.add(1)
        durations = metrics.commit_duration
        (durations.found.get(None) or durations.get(None)).record(elapsed, self._ended)

    def fail(self, reason: str | BaseException = n.FAILED_DEFAULT) -> None:
        """The proposal will not commit (`not_leader`, `timeout`, an exception...)."""
        if not self._claim():
            return
        exc = reason if isinstance(reason, BaseException) else None
        label = None if exc is not None else st.node_key(reason)
        result, kind = outcome(exc, label)
        if result == CANCELLED:  # not a failure: the span says cancelled, nothing counted
            self._finish(exc)
            self._metrics.pending.add(-1)
            return
        if kind is None:  # not reached: a label or an exception is always an error here
            kind = n.FAILED_DEFAULT
        if exc is None and self._span is not None:
            SpanHandle(self._span).set_error(f"proposal failed: {kind}", kind)
        elapsed = self._finish(exc)
        metrics = self._metrics
        metrics.pending.add(-1)
        metrics.failed.get(kind, {ERROR_TYPE: kind}).add(1)
        metrics.commit_duration.get(kind, {ERROR_TYPE: kind}).record(elapsed, self._ended)

    def _claim(self) -> bool:
        """Close the proposal; False when it was closed already (by another thread)."""
        with _ENDING:
            if self._closed:
                return False
            self._closed = True
        return True

    def _close(self, exc: BaseException | None) -> None:  # leaving the with block
        if exc is None:
            self.commit()
        else:
            self.fail(exc)


# --- apply and snapshots --------------------------------------------------------------------
class Apply(Operation):
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
        self._state = _node(node_id)[0]
        if entries is None and first_index is not None and last_index is not None:
            entries = last_index - first_index + 1
        self._count = entries
        links = _lazy_links(carriers)
        state = self._state
        self._open(_recipe(n.SPAN_APPLY), lambda: _with(state.attrs, {
            n.BATCH_FIRST_INDEX: first_index, n.BATCH_LAST_INDEX: last_index,
            n.BATCH_ENTRY_COUNT: entries}), links=links)  # fmt: skip
        _count_dropped(self._span, links)

    def _open_off(self) -> None:
        super()._open_off()
        self._count = None
        self._state = st.NodeState("")

    def _end(self, exc: BaseException | None) -> None:
        elapsed = self._finish(exc)
        metrics = _metrics_of(self._state)
        kind = self.outcome_of(exc)[1]
        metrics.apply_duration.get(kind, _error_key({}, kind)).record(elapsed, self._ended)
        if exc is None and self._failure is None and self._count:
            metrics.applied.add(self._count)


class Snapshot(Operation):
    """Creating or installing a snapshot (`raft.snapshot.create` / `.install`).

    Made by `obskit.raft.create_snapshot()` / `install_snapshot()`.

    Examples:
        >>> from obskit import raft
        >>> with raft.create_snapshot("n1", index=40) as snapshot:
        ...     snapshot.set_size(2048)
    """

    __slots__ = ("_node", "_operation", "_size")

    def __init__(self, operation: str, node_id: object, peer_id: object, index: int | None,
                 term: int | None, size: int | None) -> None:  # fmt: skip
        self._node = state = st.node(node_id)
        self._operation = operation
        self._size = size
        name = n.SPAN_SNAPSHOT_CREATE if operation == n.SNAPSHOT_CREATE else n.SPAN_SNAPSHOT_INSTALL
        peer = None if peer_id is None else st.node_key(peer_id)
        self._open(_recipe(name), _with(state.attrs, {n.PEER_ID: peer, n.SNAPSHOT_INDEX: index,
                                                      n.SNAPSHOT_TERM: term,
                                                      n.SNAPSHOT_SIZE: size}))  # fmt: skip

    def _open_off(self) -> None:
        super()._open_off()
        self._node = st.NodeState("")
        self._operation = n.SNAPSHOT_CREATE
        self._size = None

    def set_size(self, size: int) -> None:
        """The snapshot's size in bytes, once known."""
        self._size = size
        self._set(n.SNAPSHOT_SIZE, size)

    def _end(self, exc: BaseException | None) -> None:
        elapsed = self._finish(exc)
        metrics = _metrics_of(self._node)
        operation = self._operation
        extra = {n.SNAPSHOT_OPERATION: operation}
        kind = self.outcome_of(exc)[1]
        metrics.snapshot_duration.get((operation, kind), _error_key(extra, kind)).record(
            elapsed, self._ended
        )
        if self._size is not None and exc is None and self._failure is None:
            metrics.snapshot_size.get(operation, extra).record(self._size)


# --- log writes -----------------------------------------------------------------------------
class LogWrite(Operation):
    """One log append or fsync (`raft.log.append` / `raft.log.sync`).

    The node wraps its append and its fsync; each is a span (the sync nests under the
    append when the node calls it inside) and one point in its duration histogram, so slow
    disks show both in a trace and as `raft_log_sync_duration_seconds` (etcd's wal_fsync).
    Made by `obskit.raft.log_append()` / `log_sync()`; usable as `with` or `async with`.

    Examples:
        >>> from obskit import raft
        >>> with raft.log_append("n1", first_index=4, last_index=5) as append:
        ...     with raft.log_sync("n1", last_index=5):
        ...         pass
    """

    __slots__ = ("_metrics", "_sync")

    def __init__(self, sync: bool, node_id: object, fields: dict[str, Any]) -> None:
        state = _node(node_id)[0]
        self._start(sync, node_id, lambda: _with(state.attrs, fields))

    def _start(self, sync: bool, node_id: object,
               attributes: Callable[[], Mapping[str, Any]]) -> None:  # fmt: skip
        self._metrics = _node(node_id)[1]
        self._sync = sync
        self._open(_LOG_SYNC if sync else _LOG_APPEND, attributes)

    def _open_off(self) -> None:
        super()._open_off()
        self._sync = False

    def __enter__(self) -> LogWrite:
        self._attach()
        return self

    def _end(self, exc: BaseException | None) -> None:
        elapsed = self._finish(exc)
        metrics = self._metrics
        durations = metrics.log_sync_duration if self._sync else metrics.log_append_duration
        if exc is None and self._failure is None:
            handle = durations.found.get(None) or durations.get(None)
        else:
            kind = self.outcome_of(exc)[1]
            handle = durations.get(kind, _error_key({}, kind))
        handle.record(elapsed, self._ended)


_LOG_APPEND = _recipe(n.SPAN_LOG_APPEND)
_LOG_SYNC = _recipe(n.SPAN_LOG_SYNC)


def _log_write(sync: bool, node_id: object, term: int | None, first_index: int | None,
               last_index: int | None, entries: int | None) -> LogWrite:  # fmt: skip
    """`obskit.raft.log_append` / `log_sync`: the span attributes built only if it records."""
    state = _node(node_id)[0]
    write = LogWrite.__new__(LogWrite)
    write._start(sync, node_id, lambda: _with(state.attrs, {
        n.TERM: term, n.BATCH_FIRST_INDEX: first_index, n.BATCH_LAST_INDEX: last_index,
        n.BATCH_ENTRY_COUNT: entries}))  # fmt: skip
    return write


# --- links and parents ----------------------------------------------------------------------
class _Links(Sequence[Link]):
    """The links of one span, read from `items` only when a span that records asks.

    Handed to the recipe's start as the span's links: a span that will not record (an
    unsampled parent or root) never looks at them, so no carrier is parsed; the SDK's span
    and obskit's recorder read them (`if links`, then iterate) only for a span they keep.
    `items` are carriers written by `inject()`, operations, SpanContexts or Links; the
    first `MAX_LINKS` valid ones are kept. `dropped` counts the links asked for but not
    kept: those past the cap (not parsed at all) and operations with no live span (a
    proposal already committed or failed, one made while obskit was off); carriers
    without a valid trace context are not links and are not counted.
    """

    __slots__ = ("_items", "_links", "dropped")

    def __init__(self, items: Iterable[Any]) -> None:
        self._items: Iterable[Any] | None = items
        self._links: list[Link] = []
        self.dropped = 0

    def _read(self) -> list[Link]:
        items, self._items = self._items, None
        if items is None:
            return self._links
        links = self._links
        try:
            for item in items:
                if len(links) >= _MAX_LINKS:
                    self.dropped += 1
                    continue
                if isinstance(item, Operation):
                    span = item._span
                    if span is None:  # ended (or never traced): nothing live to link to
                        self.dropped += 1
                        continue
                    link: Link | None = Link(span.get_span_context())
                else:
                    link = _link(item)
                if link is not None:
                    links.append(link)
        except Exception:
            log_once("raft-links", "reading the links of a Raft span failed", exc_info=True)
        return links

    def __len__(self) -> int:
        return len(self._read())

    def __iter__(self) -> Iterator[Link]:
        return iter(self._read())

    @overload
    def __getitem__(self, index: int) -> Link: ...
    @overload
    def __getitem__(self, index: slice) -> list[Link]: ...
    def __getitem__(self, index: int | slice) -> Link | list[Link]:
        return self._read()[index]


class _Carriers:
    """The carriers `links(message)` returns, asked for only when they are read."""

    __slots__ = ("_links", "_message")

    def __init__(self, links: Callable[[Any], Iterable[Any]], message: Any) -> None:
        self._links = links
        self._message = message

    def __iter__(self) -> Iterator[Any]:
        return iter(self._links(self._message))


def _link(item: Any) -> Link | None:
    """A link to what `item` names: a carrier, a SpanContext or a Link."""
    if isinstance(item, SpanContext):
        return Link(item) if item.is_valid else None
    if isinstance(item, Link):
        return item
    return propagation.link_from(item)


def _lazy_links(items: Iterable[Any] | None) -> _Links | None:
    """`items` as lazily read links (None when there are none to read)."""
    if items is None or (type(items) in (list, tuple) and not items):
        return None
    return _Links(items)


def _count_dropped(span: trace_api.Span | None, links: _Links | None) -> None:
    """Add the links `links` did not keep to `span`'s dropped links, when it records.

    The SDK counts the links past its own limit there; obskit's recorder keeps no list
    for a span started without links, so one is made for the count.
    """
    if span is None or links is None or not links.dropped or not span.is_recording():
        return
    try:
        kept = span._links  # type: ignore[attr-defined]
        if kept is None:
            kept = span._links = BoundedList(span._sink.max_links)  # type: ignore[attr-defined]
        kept.dropped += links.dropped
    except Exception:
        log_once("raft-dropped-links", "counting dropped links failed", exc_info=True)


def _parent_context(parent: Any) -> context_api.Context | None:
    """The context an RPC span starts in: None (the current one), or `parent`'s.

    `parent` is an operation (an `Election` still running), an OpenTelemetry `Context`,
    or a carrier written by `inject()`; one without a valid trace context gives None.
    """
    if parent is None:
        return None
    try:
        if isinstance(parent, Operation):
            span = parent._span
            return None if span is None else trace_api.set_span_in_context(span)
        if isinstance(parent, context_api.Context):
            return parent
        found = propagation.extract(parent)
        if trace_api.get_current_span(found).get_span_context().is_valid:
            return found
    except Exception:
        log_once("raft-parent", "reading the parent of a Raft RPC failed", exc_info=True)
    return None
