"""Per-follower replication lag, observed from what the leader knows (its match indices).

The leader reports each follower's match index (`record_replication`, or `match_index`
in a registered state callback); at collection time `raft.replication.lag` is the
leader's last index minus each match index. Only a node whose role is `leader` (or not
reported) is observed, so a node that stepped down leaves no stale lag behind.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from obskit._log import log_once
from obskit._prepared import _nothing_to_record as _off
from obskit._sanitize import safe_repr
from obskit.raft import _names as n
from obskit.raft import _state as st
from obskit.raft import _tracking

__all__ = ["record_replication"]


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
    if _off():
        return
    try:
        if not _is_index(match_index) or (last_index is not None and not _is_index(last_index)):
            log_once("raft-bad-match", "raft.record_replication: bad index %s / %s",
                     safe_repr(match_index, 64), safe_repr(last_index, 64))  # fmt: skip
            return
        state = st.node(node_id)
        peers = _tracking.matches.setdefault(state.id, {})
        peer = st.node_key(peer_id)
        if peer not in peers and len(peers) >= _tracking.MAX_PEERS:
            log_once("raft-too-many-peers", "raft.record_replication: more than %d peers "
                     "for node %s; new peers ignored", _tracking.MAX_PEERS, state.id)  # fmt: skip
            return
        peers[peer] = match_index
        if last_index is not None:
            state.last_index = last_index
    except Exception:
        log_once("raft-replication", "raft.record_replication failed", exc_info=True)


def _peer_matches(state: st.NodeState, view: Mapping[str, Any]) -> Mapping[Any, Any]:
    given = view.get("match_index")
    if isinstance(given, Mapping):
        return given
    return _tracking.matches.get(state.id, {})


def _observe_lag(options: CallbackOptions) -> list[Observation]:
    found = []
    for state, view in st._views():
        last = view.get("last_index")
        if last is None or view.get("role") not in (None, "leader"):
            continue
        for peer, match in list(_peer_matches(state, view).items()):
            if _is_index(match):
                found.append(Observation(max(0, last - match), state.with_peer(peer)))
    return found


n.CATALOGUE.instrument(n.M_REPLICATION_LAG).add_callback(_observe_lag)
