"""Per-node Raft state read at collection time: what the observable gauges report.

Each node registered with `obskit.raft` has a `NodeState` (term, role, indices, contact
age, state callbacks); beside it, what failover time and replication lag need: the last
contact with each node's leader, and the match index the leader knows for each follower.
`raft.replication.lag` is the leader's last index minus each match index, observed only
for a node whose role is `leader` (or not reported), so a node that stepped down leaves
no stale lag behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.util.types import AttributeValue

from obskit._base.log import log_once
from obskit._routing import off
from obskit._safety.clean import clean_text, safe_repr
from obskit._trace.handle import SpanRecipe
from obskit.raft import _names as n

__all__ = [
    "NodeState",
    "StateCallback",
    "contact",
    "forget_hooks",
    "leader_changed",
    "leader_contact",
    "matches",
    "node",
    "node_key",
    "record_replication",
    "register_state",
    "reset",
    "update_state",
]

#: Peers remembered per leader; a misbehaving caller must not grow us forever.
MAX_PEERS = 256

_clock = time.monotonic
_FAILOVER = n.CATALOGUE.instrument(n.M_FAILOVER_DURATION)
_last_leader_contact: dict[str, float] = {}
#: node key -> {peer key: match index}, as reported by `record_replication`.
matches: dict[str, dict[str, int]] = {}


def leader_contact(node: str) -> None:
    """`node` heard from (or about) its current leader now."""
    _last_leader_contact[node] = _clock()


def leader_changed(node: str, attrs: Mapping[str, AttributeValue]) -> None:
    """`node` knows a new leader now: record the time since the old one was last heard."""
    now = _clock()
    last = _last_leader_contact.get(node)
    if last is not None:
        _FAILOVER.record(now - last, attrs)
    _last_leader_contact[node] = now


def _forget_tracking(node: str) -> None:
    """Drop what is kept for `node`."""
    _last_leader_contact.pop(node, None)
    matches.pop(node, None)


def _reset_tracking() -> None:
    """Forget every node (test isolation)."""
    _last_leader_contact.clear()
    matches.clear()


#: A state callback: returns a mapping with any of the `update_state` keywords.
StateCallback = Callable[[], Mapping[str, Any]]
_UNSET: Any = object()
_INT_FIELDS = ("term", "commit_index", "applied_index", "last_index", "log_length")
# A callback is called at most once per collection: all gauges read one cached answer.
_CALLBACK_TTL = 0.05


def node_key(node_id: object) -> str:
    """A node or peer id as a safe, bounded string (ints and other objects accepted).

    Examples:
        >>> node_key(3), node_key("n1"), node_key(None)
        ('3', 'n1', 'None')
    """
    if type(node_id) is str:
        return clean_text(node_id, 256)
    if isinstance(node_id, int) and not isinstance(node_id, bool):
        return str(int(node_id))
    return safe_repr(node_id, 256)


class NodeState:
    """What one node last reported, plus its precomputed attribute dicts."""

    __slots__ = (
        "applied_index",
        "attrs",
        "callback",
        "callback_at",
        "callback_state",
        "commit_index",
        "contacts",
        "id",
        "last_index",
        "leader_id",
        "log_length",
        "peer_attrs",
        "role",
        "term",
    )

    def __init__(self, node_id: str) -> None:
        self.id = node_id
        self.attrs: dict[str, AttributeValue] = {n.NODE_ID: node_id}
        self.peer_attrs: dict[str, dict[str, AttributeValue]] = {}
        self.term: int | None = None
        self.role: str | None = None
        self.leader_id: str | None = None
        self.commit_index: int | None = None
        self.applied_index: int | None = None
        self.last_index: int | None = None
        self.log_length: int | None = None
        self.contacts: dict[str, float] = {}
        self.callback: StateCallback | None = None
        self.callback_at = -1.0
        self.callback_state: Mapping[str, Any] | None = None

    def with_peer(self, peer_id: object) -> dict[str, AttributeValue]:
        """The node's attributes plus `raft.peer.id` (cached per peer)."""
        peer = node_key(peer_id)
        found = self.peer_attrs.get(peer)
        if found is None:
            if len(self.peer_attrs) > 1024:  # a misbehaving caller must not grow us forever
                self.peer_attrs.clear()
            found = self.peer_attrs[peer] = {**self.attrs, n.PEER_ID: peer}
        return found

    def view(self) -> Mapping[str, Any] | None:
        """The state to observe: the callback's answer (cached briefly) or the stored one."""
        callback = self.callback
        if callback is None:
            return {field: getattr(self, field) for field in (*_INT_FIELDS, "role", "leader_id")}
        now = time.monotonic()
        if now - self.callback_at > _CALLBACK_TTL:
            self.callback_at = now
            try:
                self.callback_state = _checked(dict(callback()))
            except Exception:
                log_once(f"raft-callback:{self.id}", "the Raft state callback of node %s "
                         "raised; its gauges are skipped", self.id, exc_info=True)  # fmt: skip
                self.callback_state = None
        return self.callback_state


_nodes: dict[str, NodeState] = {}
_lock = threading.RLock()  # re-entrant: NodeState() allocates; a finalizer may ask for a node


def node(node_id: object) -> NodeState:
    """The state record of `node_id`, created on first use."""
    key = node_key(node_id)
    found = _nodes.get(key)
    if found is None:
        with _lock:
            found = _nodes.setdefault(key, NodeState(key))
    return found


def _checked(state: dict[str, Any]) -> dict[str, Any]:
    """Drop values of the wrong type (a bool or str where an index belongs)."""
    for field in _INT_FIELDS:
        value = state.get(field)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            log_once(f"raft-bad-{field}", "raft state %s=%s is not an int; ignored", field,
                     safe_repr(value, 64))  # fmt: skip
            state[field] = None
    for field in ("role", "leader_id"):
        if state.get(field) is not None:
            state[field] = node_key(state[field])
    return state


def update_state(
    node_id: object,
    *,
    term: int | None = None,
    role: str | None = None,
    leader_id: object = _UNSET,
    commit_index: int | None = None,
    applied_index: int | None = None,
    last_index: int | None = None,
    log_length: int | None = None,
) -> None:
    """Record what `node_id` knows now; arguments left out keep their last value.

    A new leader id counts a leader change (`raft.leader.changes`) and records a
    `raft.leader.changed` event; a role change records `raft.role.changed`. The events go
    on the current span when one is recording, else on a short `raft.state.change` span
    of their own (state changes usually happen on a timer or a message handler, with no
    span around them). Pass `leader_id=None` when the node knows no leader. Never
    raises: values of the wrong type are logged once and ignored.

    Examples:
        >>> from obskit import raft
        >>> raft.update_state("n1", term=3, role="leader", leader_id="n1", commit_index=10)
    """
    # Off (not configured yet, or disabled): the node's state is still kept, so its
    # gauges are right once obskit is on; no events, spans or counts are recorded.
    is_off = off()
    try:
        state = node(node_id)
        given = _checked({"term": term, "commit_index": commit_index,
                          "applied_index": applied_index, "last_index": last_index,
                          "log_length": log_length, "role": role})  # fmt: skip
        for field, value in given.items():
            if value is not None and field != "role":
                setattr(state, field, value)
        new_role = given["role"]
        events: list[tuple[str, dict[str, Any]]] = []
        if new_role is not None and new_role != state.role:
            previous, state.role = state.role, new_role
            events.append((n.EVENT_ROLE_CHANGED, {
                n.NODE_ID: state.id, n.ROLE: new_role, n.ROLE_PREVIOUS: previous,
                n.TERM: state.term}))  # fmt: skip
        if leader_id is not _UNSET:
            new_leader = None if leader_id is None else node_key(leader_id)
            if is_off:
                state.leader_id = new_leader
            elif new_leader != state.leader_id:
                if state.leader_id == state.id:  # it led until now: that was its last contact
                    leader_contact(state.id)
                state.leader_id = new_leader
                if new_leader is not None:
                    _LEADER_CHANGES.add(1, state.attrs)
                    events.append((n.EVENT_LEADER_CHANGED, {
                        n.NODE_ID: state.id, n.LEADER_ID: new_leader, n.TERM: state.term}))  # fmt: skip
                    leader_changed(state.id, state.attrs)
            elif new_leader is not None:
                leader_contact(state.id)
        if events and not is_off:
            _record_changes(state, events)
    except Exception:
        log_once("raft-update-state", "raft.update_state failed", exc_info=True)


_STATE_CHANGE = SpanRecipe(n.SPAN_STATE_CHANGE, scope=n.CATALOGUE.scope)


def _record_changes(state: NodeState, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Add `events` to the recording span here, or to a short span of their own.

    A short span rather than an event on a long-lived per-node span: a span is exported
    only when it ends, so a node-lifetime span shows nothing until the node stops, and
    loses everything when it crashes. Started in the current context, so an unsampled
    trace around the change keeps it unsampled; with no span current it is a root.
    """
    current = trace_api.get_current_span()
    if current.is_recording():
        for name, event in events:
            current.add_event(name, {k: v for k, v in event.items() if v is not None})
        return
    tracer = _STATE_CHANGE.tracer()
    if tracer is None:
        return
    attributes: dict[str, AttributeValue] = {n.NODE_ID: state.id}
    for key, value in ((n.TERM, state.term), (n.ROLE, state.role), (n.LEADER_ID, state.leader_id)):
        if value is not None:
            attributes[key] = value
    span = _STATE_CHANGE.start(tracer, attributes)
    for name, found in events:
        span.add_event(name, {k: v for k, v in found.items() if v is not None})
    _STATE_CHANGE.finish(span, None)


def register_state(node_id: object, callback: StateCallback) -> Callable[[], None]:
    """Have the gauges of `node_id` read `callback()` at collection time.

    The callback returns a mapping with any of `update_state`'s keywords (`term`, `role`,
    `leader_id`, `commit_index`, ...). One that raises is logged once and its gauges are
    skipped for that collection. Returns a function that unregisters it.

    Examples:
        >>> from obskit import raft
        >>> unregister = raft.register_state("n1", lambda: {"term": 3, "role": "follower"})
        >>> unregister()
    """
    state = node(node_id)
    state.callback, state.callback_at = callback, -1.0

    def unregister() -> None:
        if state.callback is callback:
            state.callback = None
            state.callback_state = None

    return unregister


def record_contact(node_id: object, peer_id: object) -> None:
    """Note a successful exchange with `peer_id` now (feeds `raft.peer.last_contact`).

    Examples:
        >>> from obskit import raft
        >>> raft.record_contact("n1", "n2")
    """
    if off():
        return  # obskit is off: nothing to record
    try:
        contact(node(node_id), node_key(peer_id))
    except Exception:
        log_once("raft-contact", "raft.record_contact failed", exc_info=True)


def contact(state: NodeState, peer: str) -> None:
    """`record_contact` for a node state and peer key already resolved (an RPC's)."""
    state.contacts[peer] = time.monotonic()
    if peer == state.leader_id:
        leader_contact(state.id)


#: Called (no arguments) whenever a node is forgotten: caches of node states empty then.
forget_hooks: list[Callable[[], None]] = []


def _forgotten() -> None:
    for hook in forget_hooks:
        hook()


def _views() -> Iterable[tuple[NodeState, Mapping[str, Any]]]:
    for state in list(_nodes.values()):
        view = state.view()
        if view is not None:
            yield state, view


def _int_gauge(field: str) -> Callable[[CallbackOptions], list[Observation]]:
    def observe(options: CallbackOptions) -> list[Observation]:
        return [Observation(v[field], s.attrs) for s, v in _views() if v.get(field) is not None]

    return observe


def _observe_roles(options: CallbackOptions) -> list[Observation]:
    found = []
    for state, view in _views():
        role = view.get("role")
        if role is not None:
            found += [Observation(int(r == role), {**state.attrs, n.ROLE: r}) for r in n.ROLES]
    return found


def _observe_has_leader(options: CallbackOptions) -> list[Observation]:
    return [Observation(int(v.get("leader_id") is not None), s.attrs) for s, v in _views()
            if v.get("role") is not None or v.get("leader_id") is not None]  # fmt: skip


def _observe_is_leader(options: CallbackOptions) -> list[Observation]:
    return [Observation(int(v.get("role") == "leader"), s.attrs) for s, v in _views()
            if v.get("role") is not None]  # fmt: skip


def _observe_leader_info(options: CallbackOptions) -> list[Observation]:
    found = []
    for state, view in _views():
        leader = view.get("leader_id")
        if leader is not None:
            found.append(Observation(1, _leader_attrs(state, leader)))
    return found


def _leader_attrs(state: NodeState, leader: str) -> dict[str, AttributeValue]:
    """The node's attributes plus `raft.leader.id` (cached per leader, like peers)."""
    key = "\0leader:" + leader  # kept apart from peer ids in the same cache
    found = state.peer_attrs.get(key)
    if found is None:
        if len(state.peer_attrs) > 1024:
            state.peer_attrs.clear()
        found = state.peer_attrs[key] = {**state.attrs, n.LEADER_ID: leader}
    return found


def _observe_contacts(options: CallbackOptions) -> list[Observation]:
    now = time.monotonic()
    return [Observation(now - at, state.with_peer(peer))
            for state in list(_nodes.values()) for peer, at in list(state.contacts.items())]  # fmt: skip


_LEADER_CHANGES = n.CATALOGUE.instrument(n.M_LEADER_CHANGES)
for _name, _callback in (
    (n.M_TERM, _int_gauge("term")),
    (n.M_COMMIT_INDEX, _int_gauge("commit_index")),
    (n.M_APPLIED_INDEX, _int_gauge("applied_index")),
    (n.M_LAST_INDEX, _int_gauge("last_index")),
    (n.M_LOG_ENTRIES, _int_gauge("log_length")),
    (n.M_ROLE, _observe_roles),
    (n.M_HAS_LEADER, _observe_has_leader),
    (n.M_IS_LEADER, _observe_is_leader),
    (n.M_LEADER_INFO, _observe_leader_info),
    (n.M_LAST_CONTACT, _observe_contacts),
):
    n.CATALOGUE.instrument(_name).add_callback(_callback)


def forget(node_id: object) -> None:
    """Stop reporting `node_id` (tests, or a node removed from the cluster).

    Examples:
        >>> from obskit import raft
        >>> raft.forget("n9")
    """
    with _lock:
        _nodes.pop(node_key(node_id), None)
        _forget_tracking(node_key(node_id))
        _forgotten()


def reset() -> None:
    """Forget every node (test isolation)."""
    with _lock:
        _nodes.clear()
        _reset_tracking()
        _forgotten()


def _is_index(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def record_replication(
    node_id: object, peer_id: object, match_index: int, *, last_index: int | None = None
) -> None:
    """On the leader: `peer_id` holds the log up to `match_index` (feeds the lag gauge).

    `raft.replication.lag{raft.peer.id}` = the leader's last index (from `last_index`
    here, `update_state` or its state callback) minus `match_index`. A state callback may
    instead return `match_index` as a mapping of peer id to index. Never raises: a
    negative or non-int index is logged once and ignored.

    Examples:
        >>> from obskit import raft
        >>> raft.update_state("n1", role="leader", leader_id="n1", last_index=12)
        >>> raft.record_replication("n1", "n2", 9)
    """
    if off():
        return
    try:
        if not _is_index(match_index) or (last_index is not None and not _is_index(last_index)):
            log_once("raft-bad-match", "raft.record_replication: bad index %s / %s",
                     safe_repr(match_index, 64), safe_repr(last_index, 64))  # fmt: skip
            return
        state = node(node_id)
        peers = matches.setdefault(state.id, {})
        peer = node_key(peer_id)
        if peer not in peers and len(peers) >= MAX_PEERS:
            log_once("raft-too-many-peers", "raft.record_replication: more than %d peers "
                     "for node %s; new peers ignored", MAX_PEERS, state.id)  # fmt: skip
            return
        peers[peer] = match_index
        if last_index is not None:
            state.last_index = last_index
    except Exception:
        log_once("raft-replication", "raft.record_replication failed", exc_info=True)


def _peer_matches(state: NodeState, view: Mapping[str, Any]) -> Mapping[Any, Any]:
    given = view.get("match_index")
    if isinstance(given, Mapping):
        return given
    return matches.get(state.id, {})


def _observe_lag(options: CallbackOptions) -> list[Observation]:
    found = []
    for state, view in _views():
        last = view.get("last_index")
        if last is None or view.get("role") not in (None, "leader"):
            continue
        for peer, match in list(_peer_matches(state, view).items()):
            if _is_index(match):
                found.append(Observation(max(0, last - match), state.with_peer(peer)))
    return found


n.CATALOGUE.instrument(n.M_REPLICATION_LAG).add_callback(_observe_lag)
