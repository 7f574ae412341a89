"""Spans and metrics for Raft (and other leader-based replication) implementations.

Wrap the steps of your node and get one trace per client write across every node:
`propose()` opens `raft.propose` on the leader, `client_call()` opens the CLIENT span of
an AppendEntries and writes its trace context into the message, `server_call()` on the
follower opens the SERVER span as its child. Elections, apply and snapshots get spans
too; `update_state()` (or `register_state()`) feeds the term, role, leader and log index
gauges. `log_append()`/`log_sync()` time the log writes, `record_replication()` feeds
the per-follower lag, and leader changes measure the failover time. Names: `CATALOGUE` (rendered in docs/catalogue.md), dashboards: `PANELS`,
alerts: `ALERTS`.

Examples:
    >>> from obskit import raft
    >>> raft.update_state("n1", term=2, role="leader", leader_id="n1")
    >>> with raft.propose("n1", term=2) as proposal:
    ...     entry = {"op": "set x 1", "trace": proposal.inject({})}
    ...     message = {"term": 2, "entries": [entry]}
    ...     with raft.client_call(raft.APPEND_ENTRIES, message, node_id="n1", peer_id="n2") as call:
    ...         with raft.server_call(raft.APPEND_ENTRIES, message, node_id="n2", peer_id="n1") as handled:
    ...             handled.response(success=True)
    ...         call.response(success=True)
    ...     proposal.commit(index=1)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from obskit._domain.off import shared_off
from obskit._routing import off
from obskit.raft._dashboards import ALERTS, PANELS
from obskit.raft._names import (
    APPEND_ENTRIES,
    CATALOGUE,
    DEFAULT_RPC_SYSTEM,
    INSTALL_SNAPSHOT,
    MAX_LINKS,
    REQUEST_VOTE,
    ROLES,
    SNAPSHOT_CREATE,
    SNAPSHOT_INSTALL,
)
from obskit.raft._operation import (
    Apply,
    ClientCall,
    Election,
    LogWrite,
    Proposal,
    ServerCall,
    Snapshot,
    _Carriers,
    _client,
    _log_write,
    _server,
)
from obskit.raft._registry import (
    StateCallback,
    forget,
    record_contact,
    record_replication,
    register_state,
    update_state,
)

__all__ = [
    "ALERTS",
    "APPEND_ENTRIES",
    "CATALOGUE",
    "INSTALL_SNAPSHOT",
    "MAX_LINKS",
    "PANELS",
    "REQUEST_VOTE",
    "ROLES",
    "Apply",
    "ClientCall",
    "Election",
    "LogWrite",
    "Proposal",
    "ServerCall",
    "Snapshot",
    "StateCallback",
    "apply",
    "client_call",
    "create_snapshot",
    "election",
    "forget",
    "install_snapshot",
    "log_append",
    "log_sync",
    "propose",
    "record_contact",
    "record_replication",
    "register_state",
    "rpc_handler",
    "server_call",
    "update_state",
]

P = ParamSpec("P")
_NO_FIELDS = (None,) * 7  # an RPC's message attributes, none given (`rpc_handler`)
R = TypeVar("R")


def election(
    node_id: object, term: int | None = None, *, votes_needed: int | None = None
) -> Election:
    """A `raft.election` span from becoming candidate to winning or losing.

    Count votes with `vote_granted(peer)` and `vote_refused(peer, answered=...)`; the
    outcome is `won` when the votes reach `votes_needed` (or after `won()`), else `lost`.
    Counts `raft.elections` by outcome and records `raft.election.duration`. RequestVote
    calls made inside the `with` block are its children; an event loop that starts the
    election on one tick and counts votes on later ones keeps the object, passes
    `parent=election` (or `election.inject()`'s carrier) to `client_call`, and calls
    `end()` once decided.

    Examples:
        >>> from obskit import raft
        >>> with raft.election("n1", term=3, votes_needed=2) as e:
        ...     e.vote_granted("n2")
        2
        >>> e = raft.election("n1", term=4, votes_needed=2)   # explicit start ...
        >>> call = raft.client_call(raft.REQUEST_VOTE, {"term": 4}, node_id="n1",
        ...                         peer_id="n2", parent=e)
        >>> call.end("timeout")                                 # no answer: no contact
        >>> e.vote_refused("n2", answered=False)
        >>> e.end()                                             # ... and end: lost
    """
    return Election(node_id, term, votes_needed)


def client_call(
    method: str,
    message: Any,
    *,
    node_id: object,
    peer_id: object,
    term: int | None = None,
    prev_index: int | None = None,
    prev_term: int | None = None,
    commit_index: int | None = None,
    first_index: int | None = None,
    last_index: int | None = None,
    entries: int | None = None,
    address: str | None = None,
    port: int | None = None,
    heartbeat: bool = False,
    system: str = DEFAULT_RPC_SYSTEM,
    parent: Any = None,
    links: Iterable[Any] = (),
) -> ClientCall:
    """The sending side of an RPC (`raft.Raft/{method}`, kind CLIENT).

    The span's context is written into `message` (a dict gets `traceparent` keys, an
    object gets attributes), so the peer's `server_call` continues the trace. The round
    trip goes to `rpc.client.call.duration` per peer and method; a clean exit also
    updates `raft.peer.last_contact`. `heartbeat=True` records metrics but no span (empty
    AppendEntries would otherwise flood traces).

    A batch: `links` are the trace carriers of the proposals the message carries (what
    each entry stored from `Proposal.inject()`), or live `Proposal` objects; the span
    links to each, the first 128 kept (as `raft.apply` does). They are read only when the
    span records (an unsampled call parses none). The links not kept are counted as the
    span's dropped links: those past the 128, and `Proposal` objects already committed or
    failed (pass the carrier from `inject()` to link to those). `parent` is the span's
    parent when it is not the current one: a running `Election`, an OpenTelemetry
    `Context` or a carrier. Started when made: use `with`, or call `end()` when the reply
    arrives (`end("timeout")` if it never does).

    Examples:
        >>> from obskit import raft
        >>> msg = {"term": 3}
        >>> with raft.client_call(raft.REQUEST_VOTE, msg, node_id="n1", peer_id="n2") as call:
        ...     call.response(vote_granted=True)
        >>> entries = [{"cmd": "x=1", "trace": {}}, {"cmd": "x=2", "trace": {}}]
        >>> batch = {"term": 3, "entries": entries}
        >>> call = raft.client_call(raft.APPEND_ENTRIES, batch, node_id="n1", peer_id="n2",
        ...                         entries=2, links=[e["trace"] for e in entries])
        >>> call.response(success=True)
        >>> call.end()
    """
    if off():
        return shared_off(ClientCall)  # obskit is off: a shared, closed, do-nothing call
    return _client(method, message, node_id, peer_id, system, heartbeat, parent, links,
                   (term, prev_index, prev_term, commit_index, first_index, last_index, entries,
                    address, port))  # fmt: skip


def server_call(
    method: str,
    message: Any,
    *,
    node_id: object,
    peer_id: object = None,
    term: int | None = None,
    prev_index: int | None = None,
    prev_term: int | None = None,
    commit_index: int | None = None,
    first_index: int | None = None,
    last_index: int | None = None,
    entries: int | None = None,
    heartbeat: bool = False,
    system: str = DEFAULT_RPC_SYSTEM,
    links: Iterable[Any] = (),
) -> ServerCall:
    """The receiving side of an RPC (`raft.Raft/{method}`, kind SERVER), made current.

    Its parent is the context found in `message`; a missing or malformed one starts a new
    trace instead of failing. Handling time goes to `rpc.server.call.duration`. `links`
    are the carriers stored in the entries of a batch (the first 128 kept), so every
    proposal's trace reaches the follower's handling of it; they are read only when the
    span records, and those not kept (past the 128, or ended `Proposal` objects) are
    counted as the span's dropped links. `end()` ends it by hand.

    An event-loop library that sends each write as its own one-entry AppendEntries keeps
    it in its write's trace with both: the entry's carrier as `parent=` on the leader's
    `client_call` (and as `links=`), so the RPC spans are children of `raft.propose`,
    not roots of traces of their own.

    Examples:
        >>> from obskit import raft
        >>> with raft.server_call(raft.APPEND_ENTRIES, {"traceparent": "junk"}, node_id="n2") as call:
        ...     call.response(success=False, reject_reason="log_mismatch")
    """
    if off():
        return shared_off(ServerCall)
    return _server(
        method,
        message,
        node_id,
        peer_id,
        system,
        heartbeat,
        links,
        (term, prev_index, prev_term, commit_index, first_index, last_index, entries),
    )


def propose(node_id: object, *, term: int | None = None, index: int | None = None) -> Proposal:
    """Start a `raft.propose` span: the time a client write waits for a quorum.

    End it with `commit(index)` or `fail(reason)` (from any thread), or use it as a
    `with` block (committed on a clean exit, failed with the exception otherwise). Store
    `inject({})` in the log entry so apply on other nodes can link back to it. Feeds
    `raft.proposal.pending`, `raft.proposals.committed/failed`, `raft.commit.duration`.

    Examples:
        >>> from obskit import raft
        >>> p = raft.propose("n1", term=3)
        >>> p.fail("not_leader")
    """
    if off():
        return shared_off(Proposal)
    return Proposal(node_id, term, index)


def apply(
    node_id: object,
    *,
    first_index: int | None = None,
    last_index: int | None = None,
    entries: int | None = None,
    carriers: Iterable[Any] = (),
) -> Apply:
    """A `raft.apply` span for one batch of committed entries, linked to their proposals.

    `carriers` are the trace contexts stored in the entries (at most 128 links), read
    only when the span records; those past the 128 and `Proposal` objects already ended
    are counted as the span's dropped links.

    Examples:
        >>> from obskit import raft
        >>> with raft.apply("n2", first_index=5, last_index=7, carriers=[{}]):
        ...     pass
    """
    if off():
        return shared_off(Apply)
    return Apply(node_id, first_index, last_index, entries, carriers)


def create_snapshot(
    node_id: object, *, index: int | None = None, term: int | None = None, size: int | None = None
) -> Snapshot:
    """A `raft.snapshot.create` span; `set_size()` when the size is known.

    Examples:
        >>> from obskit import raft
        >>> with raft.create_snapshot("n1", index=100, term=3) as snap:
        ...     snap.set_size(4096)
    """
    if off():
        return shared_off(Snapshot)
    return Snapshot(SNAPSHOT_CREATE, node_id, None, index, term, size)


def install_snapshot(
    node_id: object,
    *,
    peer_id: object = None,
    index: int | None = None,
    term: int | None = None,
    size: int | None = None,
) -> Snapshot:
    """A `raft.snapshot.install` span on a follower installing the leader's snapshot.

    Examples:
        >>> from obskit import raft
        >>> with raft.install_snapshot("n2", peer_id="n1", index=100, size=4096):
        ...     pass
    """
    if off():
        return shared_off(Snapshot)
    return Snapshot(SNAPSHOT_INSTALL, node_id, peer_id, index, term, size)


def log_append(
    node_id: object,
    *,
    term: int | None = None,
    first_index: int | None = None,
    last_index: int | None = None,
    entries: int | None = None,
) -> LogWrite:
    """A `raft.log.append` span around writing entries to the node's log.

    Records `raft.log.append.duration` (with `error.type` when the block raises). Put the
    fsync inside as `log_sync()` to see both in one trace; on the leader call it inside
    `propose()`, on a follower inside the AppendEntries `server_call()`.

    Examples:
        >>> from obskit import raft
        >>> with raft.log_append("n1", term=2, first_index=7, last_index=8):
        ...     pass
    """
    if off():
        return shared_off(LogWrite)
    if entries is None and first_index is not None and last_index is not None:
        entries = last_index - first_index + 1
    return _log_write(False, node_id, term, first_index, last_index, entries)


def log_sync(node_id: object, *, last_index: int | None = None) -> LogWrite:
    """A `raft.log.sync` span around making the log durable (fsync).

    Records `raft.log.sync.duration`, the signal etcd calls wal_fsync_duration.

    Examples:
        >>> import os, tempfile
        >>> from obskit import raft
        >>> with tempfile.TemporaryFile() as log, raft.log_sync("n1", last_index=8):
        ...     os.fsync(log.fileno())
    """
    if off():
        return shared_off(LogWrite)
    return _log_write(True, node_id, None, None, last_index, None)


def rpc_handler(
    method: str,
    *,
    node_id: object,
    peer_id: object = None,
    message: str = "message",
    heartbeat: Callable[[Any], bool] | None = None,
    system: str = DEFAULT_RPC_SYSTEM,
    links: Callable[[Any], Iterable[Any]] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate an RPC handler (function, method or `async def`) with `server_call`.

    `node_id` is a value or a callable given the first argument (`self`); `peer_id` a
    value or a callable given the message; `message` names the parameter holding the
    message; `heartbeat(message)` says when to record metrics only; `links(message)`
    returns the carriers of a batch's proposals to link to (as `server_call(links=...)`:
    called only when the span records, the first 128 kept, the rest counted as dropped).

    Examples:
        >>> from obskit import raft
        >>> class Node:
        ...     id = "n2"
        ...     @raft.rpc_handler(raft.APPEND_ENTRIES, node_id=lambda self: self.id)
        ...     def on_append_entries(self, message):
        ...         return {"success": True}
        >>> Node().on_append_entries({"term": 1})
        {'success': True}
        >>> @raft.rpc_handler(raft.APPEND_ENTRIES, node_id="n3",
        ...                   links=lambda m: [e["trace"] for e in m["entries"]])
        ... def on_batch(message):
        ...     return len(message["entries"])
        >>> on_batch({"term": 1, "entries": [{"trace": {}}]})
        1
    """

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        names = list(inspect.signature(fn).parameters)
        position = names.index(message) if message in names else None

        def open_call(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ServerCall:
            if off():
                return shared_off(ServerCall)
            msg = kwargs.get(message)
            if msg is None and position is not None and position < len(args):
                msg = args[position]
            node = node_id(args[0]) if callable(node_id) and args else node_id
            peer = peer_id(msg) if callable(peer_id) else peer_id
            beat = bool(heartbeat(msg)) if heartbeat is not None else False
            found: Iterable[Any] = () if links is None else _Carriers(links, msg)
            return _server(method, msg, node, peer, system, beat, found, _NO_FIELDS)

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                async with open_call(args, kwargs):
                    return await fn(*args, **kwargs)  # type: ignore[misc]

            return run_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with open_call(args, kwargs):
                return fn(*args, **kwargs)

        return run

    return decorate
