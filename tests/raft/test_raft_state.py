"""obskit.raft gauges, state callbacks, bad input and multiprocessing nodes."""

from __future__ import annotations

import logging
import multiprocessing
import os

import pytest
from opentelemetry.trace import SpanKind

import obskit
from obskit import raft

APPEND = f"raft.Raft/{raft.APPEND_ENTRIES}"
N1 = {"raft.node.id": "n1"}


def test_update_state_feeds_gauges(obskit_capture) -> None:
    raft.update_state("n1", term=3, role="leader", leader_id="n1", commit_index=10,
                      applied_index=9, last_index=12, log_length=12)  # fmt: skip
    assert obskit_capture.metric("raft.term", N1).value == 3
    assert obskit_capture.metric("raft.log.commit_index", N1).value == 10
    assert obskit_capture.metric("raft.log.applied_index", N1).value == 9
    assert obskit_capture.metric("raft.log.last_index", N1).value == 12
    assert obskit_capture.metric("raft.log.entry.count", N1).value == 12
    assert obskit_capture.metric("raft.leader.present", N1).value == 1
    assert obskit_capture.metric("raft.node.is_leader", N1).value == 1
    roles = {p.attributes["raft.role"]: p.value for p in obskit_capture.metrics("raft.node.role")}
    assert roles == {"follower": 0, "candidate": 0, "leader": 1, "learner": 0}
    raft.update_state("n1", role="follower", leader_id=None, term=4)
    assert obskit_capture.metric("raft.node.is_leader", N1).value == 0
    assert obskit_capture.metric("raft.leader.present", N1).value == 0
    assert obskit_capture.metric("raft.term", N1).value == 4
    assert obskit_capture.metric("raft.log.commit_index", N1).value == 10  # kept


def test_leader_changes_counted_and_evented(obskit_capture) -> None:
    with obskit.span("tick"):
        raft.update_state("n2", role="follower", leader_id="n1", term=1)
        raft.update_state("n2", leader_id="n1")  # same leader: not a change
        raft.update_state("n2", leader_id=None)  # leader lost: not a change either
        raft.update_state("n2", role="candidate", term=2)
        raft.update_state("n2", role="follower", leader_id="n3", term=2)
    assert obskit_capture.metric("raft.leader.changes", {"raft.node.id": "n2"}).value == 2
    events = [e.name for e in obskit_capture.one("tick").events]
    assert events.count("raft.leader.changed") == 2
    assert events.count("raft.role.changed") == 3


def test_registered_callback_is_read_at_collection(obskit_capture) -> None:
    state = {"term": 5, "role": "follower", "leader_id": "n1", "commit_index": 40}
    unregister = raft.register_state("n4", lambda: state)
    assert obskit_capture.metric("raft.term", {"raft.node.id": "n4"}).value == 5
    assert obskit_capture.metric("raft.leader.present", {"raft.node.id": "n4"}).value == 1
    unregister()
    assert obskit_capture.metrics("raft.log.commit_index") == []  # no stale series


def test_raising_callback_is_logged_once_and_skipped(obskit_capture, caplog) -> None:
    def broken() -> dict:
        raise RuntimeError("state store closed")

    raft.register_state("bad", broken)
    raft.update_state("good", term=2)
    with caplog.at_level(logging.WARNING, logger="obskit"):
        terms = {p.attributes["raft.node.id"]: p.value for p in obskit_capture.metrics("raft.term")}
        obskit_capture.metrics("raft.term")
    assert terms == {"good": 2}
    assert sum("callback of node bad raised" in r.getMessage() for r in caplog.records) == 1


def test_bad_values_are_ignored_not_raised(obskit_capture, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="obskit"):
        raft.update_state(("odd", "id"), term="seven", commit_index=True, role=3)  # type: ignore[arg-type]
        raft.register_state("cb", lambda: {"term": "x", "applied_index": 4})
    node = {"raft.node.id": "('odd', 'id')"}
    assert obskit_capture.metrics("raft.term") == []
    assert obskit_capture.metric("raft.node.role", {**node, "raft.role": "follower"}).value == 0
    assert obskit_capture.metric("raft.log.applied_index", {"raft.node.id": "cb"}).value == 4


def test_malformed_or_missing_carrier_starts_a_new_trace(obskit_capture) -> None:
    broken = {"traceparent": "00-zzzz-not-hex-01", "tracestate": 5}
    with obskit.span("unrelated"):
        pass
    for carrier in (broken, None, object(), b"\xff\x00junk"):
        with raft.server_call(raft.APPEND_ENTRIES, carrier, node_id="n2", peer_id=object()):
            pass
    servers = obskit_capture.find(APPEND)
    assert len(servers) == 4
    assert all(s.parent is None for s in servers)
    assert len({s.context.trace_id for s in servers}) == 4
    assert servers[0].attributes["raft.peer.id"].startswith("<")


def test_off_path_is_silent() -> None:
    # No capture and no configure(): nothing is recorded and nothing raises.
    with raft.propose("n1") as proposal:
        message: dict = {}
        with raft.client_call(raft.APPEND_ENTRIES, message, node_id="n1", peer_id="n2"):
            pass
        proposal.commit()
    assert message == {}
    assert proposal.span.is_recording is False


def _follower_process(carrier: dict) -> None:
    obskit.configure(service_name="raft-follower")
    with raft.server_call(raft.APPEND_ENTRIES, carrier, node_id="n2", peer_id="n1"):
        pass
    obskit.shutdown(timeout=10)


def test_follower_in_another_process_joins_the_trace(obskit_capture, obskit_collector) -> None:
    message: dict = {}
    with raft.client_call(raft.APPEND_ENTRIES, message, node_id="n1", peer_id="n2"):
        saved = dict(os.environ)
        os.environ.update(obskit_collector.env)
        try:
            child = multiprocessing.get_context("spawn").Process(
                target=_follower_process, args=(message,)
            )
            child.start()
        finally:
            os.environ.clear()
            os.environ.update(saved)
        child.join(timeout=60)
        if child.is_alive():
            child.kill()
            child.join(timeout=10)
            pytest.fail("the follower process did not finish")
    assert child.exitcode == 0
    (server,) = obskit_collector.wait_for(APPEND, count=1, timeout=30)
    client = obskit_capture.one(APPEND)
    assert server.kind is SpanKind.SERVER
    assert server.parent.span_id == client.context.span_id
    assert server.context.trace_id == client.context.trace_id
