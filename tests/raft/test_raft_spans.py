"""obskit.raft spans: RPC propagation, proposals, elections, apply, snapshots."""

from __future__ import annotations

import asyncio
import threading

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from obskit import raft

APPEND = f"raft.Raft/{raft.APPEND_ENTRIES}"
VOTE = f"raft.Raft/{raft.REQUEST_VOTE}"


def _replicate(message: dict, node: str = "n1", peer: str = "n2") -> None:
    with raft.client_call(raft.APPEND_ENTRIES, message, node_id=node, peer_id=peer, term=2,
                          prev_index=4, entries=1) as call:  # fmt: skip
        with raft.server_call(raft.APPEND_ENTRIES, message, node_id=peer, peer_id=node) as srv:
            srv.response(success=True)
        call.response(success=True)


def test_follower_span_is_child_of_leader_span(obskit_capture) -> None:
    with raft.propose("n1", term=2) as proposal:
        for peer in ("n2", "n3"):
            _replicate({"entries": ["x"]}, peer=peer)
        proposal.commit(index=5)
    obskit_capture.assert_tree(
        f"""
        raft.propose
          {APPEND}
            {APPEND}
          {APPEND}
            {APPEND}
        """
    )
    client = obskit_capture.find(APPEND, {"raft.peer.id": "n2"})
    (client_span,) = [s for s in client if s.kind is SpanKind.CLIENT]
    (server_span,) = obskit_capture.children(client_span)
    assert server_span.kind is SpanKind.SERVER
    assert server_span.context.trace_id == client_span.context.trace_id
    assert client_span.attributes["rpc.system"] == "raft"
    assert client_span.attributes["rpc.service"] == "raft.Raft"
    assert client_span.attributes["rpc.method"] == "AppendEntries"
    assert client_span.attributes["raft.log.prev_index"] == 4
    assert server_span.attributes["raft.response.success"] is True
    assert obskit_capture.one("raft.propose").attributes["raft.log.index"] == 5


def test_proposal_metrics_commit_and_fail(obskit_capture) -> None:
    with raft.propose("n1"):
        pass
    raft.propose("n1").fail("not_leader")
    with pytest.raises(TimeoutError), raft.propose("n1"):
        raise TimeoutError("no quorum")
    assert obskit_capture.metric("raft.proposals.committed", {"raft.node.id": "n1"}).value == 1
    failed = obskit_capture.metric("raft.proposals.failed", {"error.type": "not_leader"})
    assert failed.value == 1
    assert obskit_capture.metric("raft.proposals.failed", {"error.type": "TimeoutError"}).value == 1
    assert obskit_capture.metric("raft.proposal.pending", {"raft.node.id": "n1"}).value == 0
    durations = obskit_capture.metrics("raft.commit.duration")
    assert sum(p.count for p in durations) == 3
    spans = obskit_capture.find("raft.propose")
    assert [s.status.status_code for s in spans].count(StatusCode.ERROR) == 2


def test_proposal_committed_from_another_thread(obskit_capture) -> None:
    proposal = raft.propose("n1", term=4)
    pending = obskit_capture.metric("raft.proposal.pending", {"raft.node.id": "n1"})
    assert pending.value == 1
    worker = threading.Thread(target=proposal.commit, args=(9,))
    worker.start()
    worker.join(timeout=10)
    proposal.commit(10)  # a second end is ignored
    assert obskit_capture.one("raft.propose").attributes["raft.log.index"] == 9
    assert obskit_capture.metric("raft.proposals.committed", {"raft.node.id": "n1"}).value == 1


def test_election_won_and_lost(obskit_capture) -> None:
    with raft.election("n1", term=3, votes_needed=2) as won:
        with raft.client_call(raft.REQUEST_VOTE, {}, node_id="n1", peer_id="n2") as call:
            call.response(vote_granted=True)
        won.vote_granted("n2")
    with raft.election("n3", term=3, votes_needed=2):
        pass
    obskit_capture.assert_tree(
        f"""
        raft.election
          {VOTE}
        raft.election
        """
    )
    first = obskit_capture.one("raft.election", {"raft.node.id": "n1"})
    assert first.attributes["raft.election.outcome"] == "won"
    assert first.attributes["raft.election.votes_granted"] == 2
    assert first.events[0].name == "raft.vote.granted"
    lost = {"raft.node.id": "n3", "raft.election.outcome": "lost"}
    assert obskit_capture.metric("raft.elections", lost).value == 1
    assert obskit_capture.metric("raft.election.duration", lost).count == 1


def test_heartbeats_record_metrics_but_no_span(obskit_capture) -> None:
    message: dict = {}
    client = raft.client_call(
        raft.APPEND_ENTRIES, message, node_id="n1", peer_id="n2", heartbeat=True
    )
    with client:
        server = raft.server_call(
            raft.APPEND_ENTRIES, message, node_id="n2", peer_id="n1", heartbeat=True
        )
        with server:
            pass
    assert obskit_capture.spans == []
    assert "traceparent" not in message
    rtt = obskit_capture.metric("rpc.client.call.duration", {"raft.peer.id": "n2"})
    assert rtt.count == 1
    assert rtt.attributes["rpc.method"] == "AppendEntries"
    contact = obskit_capture.metric("raft.peer.last_contact", {"raft.node.id": "n1"})
    assert contact.attributes["raft.peer.id"] == "n2"
    assert contact.value >= 0


def test_rpc_failure_is_recorded(obskit_capture) -> None:
    with (
        pytest.raises(ConnectionRefusedError),
        raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n3"),
    ):
        raise ConnectionRefusedError("n3 down")
    span = obskit_capture.one(APPEND)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ConnectionRefusedError"
    point = obskit_capture.metric(
        "rpc.client.call.duration", {"error.type": "ConnectionRefusedError"}
    )
    assert point.count == 1


def test_apply_links_to_each_proposal(obskit_capture) -> None:
    carriers = []
    for _ in range(3):
        proposal = raft.propose("n1")
        carriers.append(proposal.inject({}))
        proposal.commit()
    with raft.apply("n2", first_index=1, last_index=3, carriers=[*carriers, {}, None]):
        pass
    applied = obskit_capture.one("raft.apply")
    proposals = {s.context.span_id for s in obskit_capture.find("raft.propose")}
    assert {link.context.span_id for link in applied.links} == proposals
    assert applied.attributes["raft.batch.entry_count"] == 3
    assert obskit_capture.metric("raft.proposals.applied", {"raft.node.id": "n2"}).value == 3


def test_apply_caps_links_at_128(obskit_capture) -> None:
    proposal = raft.propose("n1")
    carrier = proposal.inject({})
    proposal.commit()
    with raft.apply("n2", entries=500, carriers=[carrier] * 500):
        pass
    assert len(obskit_capture.one("raft.apply").links) == 128


def test_snapshots(obskit_capture) -> None:
    with raft.create_snapshot("n1", index=100, term=3) as snap:
        snap.set_size(4096)
    with raft.install_snapshot("n2", peer_id="n1", index=100, size=4096):
        pass
    assert obskit_capture.one("raft.snapshot.create").attributes["raft.snapshot.size"] == 4096
    assert obskit_capture.one("raft.snapshot.install").attributes["raft.peer.id"] == "n1"
    create = obskit_capture.metric("raft.snapshot.size", {"raft.snapshot.operation": "create"})
    assert create.sum == 4096
    assert obskit_capture.metric("raft.snapshot.duration", {"raft.node.id": "n2"}).count == 1


def test_asyncio_nodes_keep_their_own_traces(obskit_capture) -> None:
    async def follower(message: dict) -> None:
        async with raft.server_call(raft.APPEND_ENTRIES, message, node_id="n2", peer_id="n1"):
            await asyncio.sleep(0)

    async def leader(write: int) -> None:
        async with raft.propose("n1") as proposal:
            message: dict = {"write": write}
            async with raft.client_call(raft.APPEND_ENTRIES, message, node_id="n1",
                                        peer_id="n2"):  # fmt: skip
                await asyncio.create_task(follower(message))
            proposal.set_index(write)

    async def main() -> None:
        await asyncio.gather(*(leader(i) for i in range(5)))

    asyncio.run(main())
    assert len(obskit_capture.trace_ids()) == 5
    for root in obskit_capture.find("raft.propose"):
        (client,) = obskit_capture.children(root)
        (server,) = obskit_capture.children(client)
        assert server.kind is SpanKind.SERVER


def test_rpc_handler_decorator_sync_and_async(obskit_capture) -> None:
    class Node:
        id = 7  # a non-string node id is recorded as a string

        @raft.rpc_handler(raft.APPEND_ENTRIES, node_id=lambda self: self.id,
                          peer_id=lambda m: m.get("leader"))  # fmt: skip
        def on_append(self, message: dict) -> bool:
            return True

        @raft.rpc_handler(raft.REQUEST_VOTE, node_id="n7", message="request")
        async def on_vote(self, request: dict) -> bool:
            return False

    message: dict = {"leader": "n1"}
    with raft.client_call(raft.APPEND_ENTRIES, message, node_id="n1", peer_id=7):
        assert Node().on_append(message) is True
    assert asyncio.run(Node().on_vote(request={})) is False
    server = obskit_capture.one(APPEND, {"raft.node.id": "7"})
    assert server.kind is SpanKind.SERVER
    assert server.attributes["raft.peer.id"] == "n1"
    assert obskit_capture.parent(server).kind is SpanKind.CLIENT
    assert obskit_capture.one(VOTE).parent is None


def test_commit_inside_the_block_keeps_the_context(obskit_capture, caplog) -> None:
    with raft.propose("n1") as proposal:
        proposal.commit(1)
        with raft.apply("n1", first_index=1, last_index=1):
            pass
    obskit_capture.assert_tree(
        """
        raft.propose
          raft.apply
        """
    )
    assert not [r for r in caplog.records if r.name == "obskit"]
