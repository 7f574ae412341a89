"""Per-node memory behind failover time and replication lag (a leaf: `_state` imports it).

Failover time is measured on each node from its last contact with the leader it followed
to the moment it knows a new leader (itself included). Contacts are what obskit already
sees: `update_state(leader_id=L)` repeating the current leader, `record_contact(node, L)`
and RPCs exchanged with L. The first leader a node ever learns is not a failover.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from opentelemetry.util.types import AttributeValue

from obskit.raft import _names as n

__all__ = ["leader_contact", "matches", "new_leader", "reset"]

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


def new_leader(node: str, attrs: Mapping[str, AttributeValue]) -> None:
    """`node` knows a new leader now: record the time since the old one was last heard."""
    now = _clock()
    last = _last_leader_contact.get(node)
    if last is not None:
        _FAILOVER.record(now - last, attrs)
    _last_leader_contact[node] = now


def forget(node: str) -> None:
    """Drop what is kept for `node`."""
    _last_leader_contact.pop(node, None)
    matches.pop(node, None)


def reset() -> None:
    """Forget every node (test isolation)."""
    _last_leader_contact.clear()
    matches.clear()
