"""With obskit off, every Raft call is a pass-through: no spans, no metric points."""

from __future__ import annotations

import asyncio

import obskit
from obskit import raft
from obskit.testing import Capture


def _node_round(message: dict[str, object]) -> dict[str, object]:
    """One write through every Raft operation and state call; returns what user code sees."""
    seen: dict[str, object] = {}
    raft.update_state("n1", term=2, role="leader", leader_id="n1", last_index=1)
    with raft.election("n1", term=2, votes_needed=2) as e:
        seen["votes"] = e.vote_granted("n2")
        e.vote_refused("n3", answered=False)
    proposal = raft.propose("n1", term=2)
    seen["proposal_carrier"] = proposal.inject()
    given: dict[str, str] = {}
    seen["same_carrier"] = proposal.inject(given) is given
    with raft.log_append("n1", term=2, first_index=1, last_index=1) as append:
        seen["append_span"] = append.span.is_recording
        with raft.log_sync("n1", last_index=1):
            pass
    with raft.client_call(raft.APPEND_ENTRIES, message, node_id="n1", peer_id="n2",
                          links=[proposal]) as call:  # fmt: skip
        with raft.server_call(raft.APPEND_ENTRIES, message, node_id="n2", peer_id="n1") as s:
            s.response(success=True)
        call.response(success=True, term=2)
    raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n3").end("timeout")
    proposal.set_index(1)
    proposal.commit(index=1)
    proposal.fail("late")  # after commit: ignored, as when on
    raft.propose("n1").fail("not_leader")
    raft.propose("n1").end()
    raft.record_replication("n1", "n2", 1, last_index=1)
    raft.record_contact("n1", "n2")
    with raft.apply("n2", first_index=1, last_index=1, carriers=[seen["proposal_carrier"]]):
        pass
    with raft.create_snapshot("n1", index=1) as snap:
        snap.set_size(10)
    with raft.install_snapshot("n2", peer_id="n1", index=1):
        pass

    async def run() -> None:
        async with (
            raft.log_append("n1", first_index=2, last_index=2),
            raft.server_call(raft.REQUEST_VOTE, {}, node_id="n2") as s,
        ):
            s.response(vote_granted=False)

    asyncio.run(run())

    @raft.rpc_handler(raft.APPEND_ENTRIES, node_id="n2")
    def handle(message: dict[str, object]) -> str:
        return "handled"

    seen["handler"] = handle(message)
    return seen


def test_disabled_raft_records_nothing_and_every_method_still_works(
    obskit_capture: Capture,
) -> None:
    obskit.configure(enabled=False)  # wins over the capture's routing
    message: dict[str, object] = {"term": 2}
    seen = _node_round(message)
    obskit.shutdown(timeout=2)
    assert obskit_capture.spans == []
    # (the capture also reports other metrics of the process: look at this domain's; the
    # state gauges are observed from the node's state, which is kept while off)
    from obskit.raft import _names

    observed = {i.name for i in _names.CATALOGUE.instruments if i.kind.startswith("observable")}
    recorded = {m.name for m in obskit_capture.metrics() if m.name.startswith(("raft.", "rpc."))}
    assert recorded <= observed, recorded - observed
    assert message == {"term": 2}  # no trace context written into the message
    assert seen == {"votes": 2, "proposal_carrier": {}, "same_carrier": True,
                    "append_span": False, "handler": "handled"}  # fmt: skip

    # The same round with obskit on again: the capture does see it (the checks above
    # could fail), and the operations handed out while off did not break anything.
    on = _node_round(message)
    assert on["votes"] == 2
    assert on["handler"] == "handled"
    assert on["same_carrier"]
    assert "traceparent" in message
    names = {s.name for s in obskit_capture.spans}
    assert {"raft.propose", "raft.log.append", "raft.apply"} <= names
    assert obskit_capture.metrics("raft.commit.duration")


def test_disabled_operations_are_shared_instances_of_the_documented_classes() -> None:
    obskit.configure(enabled=False)
    try:
        first = raft.client_call(raft.APPEND_ENTRIES, {}, node_id="n1", peer_id="n2")
        assert first is raft.client_call(raft.REQUEST_VOTE, {}, node_id="n9", peer_id="n8")
        assert isinstance(first, raft.ClientCall)
        assert isinstance(raft.server_call(raft.APPEND_ENTRIES, {}, node_id="n1"), raft.ServerCall)
        assert isinstance(raft.propose("n1"), raft.Proposal)
        assert isinstance(raft.apply("n1"), raft.Apply)
        assert isinstance(raft.log_sync("n1"), raft.LogWrite)
        assert isinstance(raft.create_snapshot("n1"), raft.Snapshot)
        assert raft.propose("n1").inject() == {}
    finally:
        obskit.shutdown(timeout=2)


def test_state_reported_while_off_is_there_once_obskit_is_on() -> None:
    from obskit.raft import _registry as _state

    obskit.configure(enabled=False)
    try:
        raft.update_state("off-n1", term=3, role="leader", leader_id="off-n1", commit_index=10)
    finally:
        obskit.shutdown(timeout=2)
    view = _state.node("off-n1").view()
    assert (view["term"], view["role"], view["commit_index"]) == (3, "leader", 10)
    assert _state.node("off-n1").leader_id == "off-n1"
