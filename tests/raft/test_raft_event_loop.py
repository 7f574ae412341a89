"""obskit.raft on an event-loop node: batched AppendEntries, explicit lifecycles, state.

`_Loop` is a small stand-in for an event-loop Raft library: messages go through one
queue, a reply is a separate message handled on a later turn, and nothing is current
when a handler runs, as in the libraries this API was fitted to.
"""

from __future__ import annotations

import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import obskit
from obskit import raft

APPEND = f"raft.Raft/{raft.APPEND_ENTRIES}"
VOTE = f"raft.Raft/{raft.REQUEST_VOTE}"


class _Loop:
    """One queue of (handler, message) turns, run until empty."""

    def __init__(self) -> None:
        self.queue: deque[tuple[Callable[[dict[str, Any]], None], dict[str, Any]]] = deque()

    def send(self, handler: Callable[[dict[str, Any]], None], message: dict[str, Any]) -> None:
        self.queue.append((handler, message))

    def run(self) -> None:
        while self.queue:
            handler, message = self.queue.popleft()
            handler(message)


class _Leader:
    """A leader that batches the writes of one tick into one AppendEntries per peer."""

    def __init__(self, loop: _Loop, peers: list[str]) -> None:
        self.loop, self.peers = loop, peers
        self.pending: list[dict[str, Any]] = []
        self.proposals: dict[int, raft.Proposal] = {}
        self.calls: dict[tuple[str, int], raft.ClientCall] = {}
        self.acks: dict[int, int] = {}

    def write(self, command: str) -> None:
        proposal = raft.propose("n1", term=2)
        index = len(self.proposals) + 1
        proposal.set_index(index)
        self.proposals[index] = proposal
        self.pending.append({"index": index, "cmd": command, "trace": proposal.inject({})})

    def tick(self) -> None:
        entries, self.pending = self.pending, []
        last = entries[-1]["index"]
        for peer in self.peers:
            message = {"term": 2, "leader": "n1", "entries": entries}
            call = raft.client_call(
                raft.APPEND_ENTRIES, message, node_id="n1", peer_id=peer, term=2,
                entries=len(entries), links=[entry["trace"] for entry in entries],
            )  # fmt: skip
            self.calls[(peer, last)] = call
            self.loop.send(_Follower(peer, self).on_append, message)

    def on_reply(self, message: dict[str, Any]) -> None:
        call = self.calls.pop((message["peer"], message["last"]))
        call.response(success=True)
        call.end()  # the reply is a later message: the CLIENT span ends here
        self.acks[message["last"]] = self.acks.get(message["last"], 0) + 1
        if self.acks[message["last"]] == 1:  # a majority of 3 with the leader's own copy
            for proposal in list(self.proposals.values()):
                proposal.commit()


class _Follower:
    def __init__(self, node_id: str, leader: _Leader) -> None:
        self.id, self.leader = node_id, leader

    def on_append(self, message: dict[str, Any]) -> None:
        entries = message["entries"]
        with raft.server_call(
            raft.APPEND_ENTRIES, message, node_id=self.id, peer_id="n1",
            entries=len(entries), links=[entry["trace"] for entry in entries],
        ) as handled:  # fmt: skip
            handled.response(success=True)
        reply = {"peer": self.id, "last": entries[-1]["index"]}
        self.leader.loop.send(self.leader.on_reply, reply)


def _linked_trace_ids(span: Any) -> set[int]:
    return {link.context.trace_id for link in span.links}


def test_every_proposal_of_a_batch_reaches_the_rpc_spans(obskit_capture) -> None:
    loop = _Loop()
    leader = _Leader(loop, ["n2", "n3"])
    for i in range(20):
        leader.write(f"set x={i}")
    leader.tick()
    loop.run()

    proposals = obskit_capture.find("raft.propose")
    assert len(proposals) == 20
    proposal_traces = {span.context.trace_id for span in proposals}
    assert len(proposal_traces) == 20
    for kind in (SpanKind.CLIENT, SpanKind.SERVER):
        rpcs = [s for s in obskit_capture.find(APPEND) if s.kind is kind]
        assert len(rpcs) == 2
        for span in rpcs:
            assert _linked_trace_ids(span) == proposal_traces
            assert span.attributes["raft.batch.entry_count"] == 20
    # The follower's span is still the child of the leader's CLIENT span.
    for server in (s for s in obskit_capture.find(APPEND) if s.kind is SpanKind.SERVER):
        parent = obskit_capture.parent(server)
        assert parent is not None
        assert parent.kind is SpanKind.CLIENT
    assert obskit_capture.metric("raft.proposals.committed", {"raft.node.id": "n1"}).value == 20


def test_links_are_capped_like_apply(obskit_capture) -> None:
    proposals = [raft.propose("n1") for _ in range(raft.MAX_LINKS + 30)]
    carriers = [p.inject({}) for p in proposals]
    with raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n2", links=carriers):
        pass
    for p in proposals:
        p.commit()
    (client,) = obskit_capture.find(APPEND)
    assert len(client.links) == raft.MAX_LINKS
    # Live proposals, SpanContexts and junk are accepted too; junk is skipped.
    live = raft.propose("n1")
    with raft.server_call(raft.APPEND_ENTRIES, {}, node_id="n2",
                          links=[live, {"traceparent": "junk"}, None, 42]):  # fmt: skip
        pass
    live.commit()
    (server,) = [s for s in obskit_capture.find(APPEND) if s.kind is SpanKind.SERVER]
    assert [link.context.span_id for link in server.links] == [
        obskit_capture.find("raft.propose")[-1].context.span_id
    ]


def test_explicit_election_parents_its_request_votes(obskit_capture) -> None:
    loop = _Loop()
    # Tick 1: n2 times out and becomes a candidate; no span is current in a handler.
    election = raft.election("n2", term=3, votes_needed=2)
    calls = {}
    for peer in ("n1", "n3"):
        request = {"term": 3, "candidate": "n2"}
        calls[peer] = raft.client_call(raft.REQUEST_VOTE, request, node_id="n2",
                                       peer_id=peer, term=3, parent=election)  # fmt: skip
        if peer == "n3":  # n1 is down: its request is never delivered

            def on_request(message: dict[str, Any]) -> None:
                with raft.server_call(raft.REQUEST_VOTE, message, node_id="n3",
                                      peer_id="n2") as handled:  # fmt: skip
                    handled.response(vote_granted=True)
                loop.send(on_vote, {"peer": "n3", "granted": True})

            loop.send(on_request, request)

    def on_vote(message: dict[str, Any]) -> None:
        call = calls.pop(message["peer"])
        call.response(vote_granted=message["granted"])
        call.end()
        election.vote_granted(message["peer"])

    loop.run()
    # Election timeout: n1 never answered.
    calls.pop("n1").end("timeout")
    election.vote_refused("n1", answered=False)
    election.end()
    election.end()  # idempotent

    obskit_capture.assert_tree(
        f"""
        raft.election
          {VOTE}
          {VOTE}
            {VOTE}
        """
    )
    span = obskit_capture.one("raft.election")
    assert span.attributes["raft.election.outcome"] == "won"
    assert span.attributes["raft.election.votes_granted"] == 2
    assert span.attributes["raft.election.votes_unanswered"] == 1
    refused = [e for e in span.events if e.name == "raft.vote.refused"]
    assert refused[0].attributes["raft.vote.result"] == "unanswered"
    (timed_out,) = obskit_capture.find(VOTE, {"raft.peer.id": "n1"})
    assert timed_out.status.status_code is StatusCode.ERROR
    assert timed_out.attributes["error.type"] == "timeout"
    failed = obskit_capture.metric("rpc.client.call.duration", {"raft.peer.id": "n1"})
    assert failed.attributes["error.type"] == "timeout"
    assert failed.count == 1
    elections = obskit_capture.metric("raft.elections", {"raft.node.id": "n2"})
    assert elections.value == 1
    assert elections.attributes["raft.election.outcome"] == "won"
    # Only the peer that answered counts as contacted.
    contacts = obskit_capture.metrics("raft.peer.last_contact")
    peers = {p.attributes["raft.peer.id"] for p in contacts if p.attributes["raft.node.id"] == "n2"}
    assert peers == {"n3"}


def test_denied_votes_lose_the_election_and_a_carrier_parents_too(obskit_capture) -> None:
    election = raft.election("n2", term=4, votes_needed=2)
    carrier = election.inject()
    for peer in ("n1", "n3"):
        call = raft.client_call(raft.REQUEST_VOTE, {}, node_id="n2", peer_id=peer,
                                parent=carrier)  # fmt: skip
        call.response(vote_granted=False, term=5)
        call.end()  # a denial is an answer: the peer is alive
        election.vote_refused(peer, term=5)
    election.end()
    span = obskit_capture.one("raft.election")
    assert span.attributes["raft.election.outcome"] == "lost"
    assert span.attributes["raft.election.votes_denied"] == 2
    assert "raft.election.votes_unanswered" not in span.attributes
    assert all(obskit_capture.parent(s) == span for s in obskit_capture.find(VOTE))
    lost = obskit_capture.metric("raft.elections", {"raft.election.outcome": "lost"})
    assert lost.value == 1


def test_end_after_with_counts_once(obskit_capture) -> None:
    with raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n2") as call:
        pass
    call.end("timeout")
    with raft.apply("n1", first_index=1, last_index=3) as applied:
        applied.end()
    assert obskit_capture.metric("rpc.client.call.duration").count == 1
    assert "error.type" not in obskit_capture.metric("rpc.client.call.duration").attributes
    assert obskit_capture.metric("raft.proposals.applied").value == 3
    assert len(obskit_capture.find(APPEND)) == 1


def test_state_changes_with_no_span_current_get_a_span_of_their_own(obskit_capture) -> None:
    raft.update_state("n2", term=3, role="candidate")
    raft.update_state("n2", role="leader", leader_id="n2")
    changes = obskit_capture.find("raft.state.change")
    assert len(changes) == 2
    names = [[e.name for e in span.events] for span in changes]
    assert names == [["raft.role.changed"], ["raft.role.changed", "raft.leader.changed"]]
    assert changes[1].attributes["raft.leader.id"] == "n2"
    assert changes[1].attributes["raft.role"] == "leader"
    leader_event = changes[1].events[1]
    assert leader_event.attributes["raft.term"] == 3
    # Inside a recording span the events go on it, and no extra span is made.
    with obskit.span("tick") as tick:
        raft.update_state("n3", role="follower", leader_id="n2")
    assert len(obskit_capture.find("raft.state.change")) == 2
    assert [e.name for e in obskit_capture.one("tick").events] == [
        "raft.role.changed", "raft.leader.changed",
    ]  # fmt: skip
    assert tick is not None


def test_leader_info_shows_a_split_view(obskit_capture) -> None:
    raft.update_state("n1", role="leader", leader_id="n1")
    raft.update_state("n2", role="follower", leader_id="n1")
    raft.update_state("n3", role="candidate", leader_id=None)
    points = obskit_capture.metrics("raft.leader.info")
    seen = {(p.attributes["raft.node.id"], p.attributes["raft.leader.id"]) for p in points}
    assert seen == {("n1", "n1"), ("n2", "n1")}  # n3 knows no leader: no series
    assert {p.value for p in points} == {1}
    # n3 wins a new term while n1 still believes in itself: two leaders are visible.
    raft.update_state("n3", role="leader", leader_id="n3")
    raft.update_state("n2", leader_id="n3")
    points = obskit_capture.metrics("raft.leader.info")
    seen = {(p.attributes["raft.node.id"], p.attributes["raft.leader.id"]) for p in points}
    assert seen == {("n1", "n1"), ("n2", "n3"), ("n3", "n3")}
    assert {p.attributes["raft.leader.id"] for p in points} == {"n1", "n3"}


def test_successful_rpc_series_have_no_empty_error_type_label() -> None:
    telemetry = obskit.configure(service_name="raft-prom", exporters=["prometheus"],
                                 prometheus_host="127.0.0.1", prometheus_port=0)  # fmt: skip
    try:
        address = telemetry.prometheus_address
        assert address is not None
        with raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n2"):
            pass
        raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n3").end("timeout")
        url = f"http://127.0.0.1:{address[1]}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            body = response.read().decode()
    finally:
        obskit.shutdown(timeout=2)
    lines = [line for line in body.splitlines() if line.startswith("rpc_client_call_duration")]
    ok = [line for line in lines if 'raft_peer_id="n2"' in line]
    failed = [line for line in lines if 'raft_peer_id="n3"' in line]
    assert ok
    assert failed
    assert not any("error_type" in line for line in ok), ok[:2]
    assert all('error_type="timeout"' in line for line in failed)
    assert 'error_type=""' not in body


@pytest.mark.parametrize("error", [None, "timeout"])
def test_explicit_client_call_with_telemetry_off(error: str | None) -> None:
    call = raft.client_call(raft.REQUEST_VOTE, {}, node_id="n1", peer_id="n2")
    call.end(error)
    election = raft.election("n1", votes_needed=2)
    assert election.inject() == {}
    election.vote_refused("n2", answered=False)
    election.end()
