"""`obskit.raft` without telemetry: the calls examples/_raftnode makes, as pass-throughs."""

from __future__ import annotations

from typing import Any

REQUEST_VOTE = "RequestVote"
APPEND_ENTRIES = "AppendEntries"


class _Step:
    """Every Raft operation object: a context manager whose methods do nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.votes_granted = 1  # a candidate votes for itself, as in obskit.raft

    def __enter__(self) -> _Step:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def response(self, **kwargs: Any) -> None:
        pass

    def vote_granted(self, peer_id: object) -> int:
        self.votes_granted += 1
        return self.votes_granted

    def won(self) -> None:
        pass

    def lost(self) -> None:
        pass

    def inject(self, carrier: Any = None) -> Any:
        return {} if carrier is None else carrier

    def set_index(self, index: int) -> None:
        pass

    def fail(self, reason: str) -> None:
        pass


election = client_call = server_call = propose = apply = log_append = log_sync = _Step


def register_state(*args: Any, **kwargs: Any) -> None:
    pass


def update_state(*args: Any, **kwargs: Any) -> None:
    pass
