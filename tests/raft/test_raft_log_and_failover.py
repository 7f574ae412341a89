"""obskit.raft log append/fsync spans, replication lag and failover time."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import StatusCode

from obskit import raft
from obskit.raft import _registry as _tracking

N1 = {"raft.node.id": "n1"}


def test_log_append_and_sync_are_nested_spans_and_histograms(obskit_capture) -> None:
    with raft.propose("n1", term=2) as proposal:
        with (
            raft.log_append("n1", term=2, first_index=7, last_index=9),
            raft.log_sync("n1", last_index=9),
        ):
            pass
        proposal.commit(index=9)
    obskit_capture.assert_tree(
        """
        raft.propose
          raft.log.append
            raft.log.sync
        """
    )
    append = obskit_capture.one("raft.log.append")
    assert append.attributes["raft.batch.entry_count"] == 3
    assert append.attributes["raft.node.id"] == "n1"
    assert obskit_capture.one("raft.log.sync").attributes["raft.batch.last_index"] == 9
    assert obskit_capture.metric("raft.log.append.duration", N1).count == 1
    assert obskit_capture.metric("raft.log.sync.duration", N1).count == 1


def test_failed_fsync_records_error_type_and_passes_the_error_through(obskit_capture) -> None:
    with pytest.raises(OSError), raft.log_sync("n1"):
        raise OSError("disk gone")
    assert obskit_capture.one("raft.log.sync").status.status_code is StatusCode.ERROR
    point = obskit_capture.metric("raft.log.sync.duration", {**N1, "error.type": "OSError"})
    assert point.count == 1


def test_log_append_works_as_async_with(obskit_capture) -> None:
    async def append() -> None:
        async with raft.log_append("n1", first_index=1, last_index=1):
            pass

    asyncio.run(append())
    assert obskit_capture.one("raft.log.append").attributes["raft.batch.entry_count"] == 1


def test_replication_lag_per_follower_from_match_index(obskit_capture) -> None:
    raft.update_state("n1", role="leader", leader_id="n1", last_index=20)
    raft.record_replication("n1", "n2", 20)
    raft.record_replication("n1", "n3", 15)
    lag = {p.attributes["raft.peer.id"]: p.value
           for p in obskit_capture.metrics("raft.replication.lag")}  # fmt: skip
    assert lag == {"n2": 0, "n3": 5}
    raft.record_replication("n1", "n3", 18, last_index=25)
    assert obskit_capture.metric("raft.replication.lag", {**N1, "raft.peer.id": "n3"}).value == 7
    raft.update_state("n1", role="follower", leader_id="n2")  # stepped down: no stale lag
    assert obskit_capture.metrics("raft.replication.lag") == []


def test_replication_lag_from_a_state_callback(obskit_capture) -> None:
    raft.register_state("n4", lambda: {"role": "leader", "last_index": 10,
                                       "match_index": {"n5": 4, "n6": "bad"}})  # fmt: skip
    (point,) = obskit_capture.metrics("raft.replication.lag")
    assert point.attributes == {"raft.node.id": "n4", "raft.peer.id": "n5"}
    assert point.value == 6


def test_bad_match_index_is_ignored_without_raising(obskit_capture, caplog) -> None:
    raft.update_state("n1", role="leader", last_index=3)
    raft.record_replication("n1", "n2", -1)
    raft.record_replication("n1", "n2", True)  # type: ignore[arg-type]
    assert obskit_capture.metrics("raft.replication.lag") == []
    assert "bad index" in caplog.text


def test_peers_per_leader_are_bounded(obskit_capture) -> None:
    raft.update_state("n1", role="leader", last_index=1)
    for peer in range(_tracking.MAX_PEERS + 10):
        raft.record_replication("n1", peer, 1)
    assert len(obskit_capture.metrics("raft.replication.lag")) == _tracking.MAX_PEERS


def test_failover_time_runs_from_last_leader_contact(obskit_capture, monkeypatch) -> None:
    now = [100.0]
    monkeypatch.setattr(_tracking, "_clock", lambda: now[0])
    raft.update_state("n2", role="follower", leader_id="n1")  # first leader: no failover
    now[0] = 101.0
    raft.record_contact("n2", "n1")  # heartbeat from the leader
    now[0] = 101.5
    raft.record_contact("n2", "n3")  # not the leader: not a leader contact
    now[0] = 102.0
    raft.update_state("n2", leader_id=None, role="candidate")
    now[0] = 104.5
    raft.update_state("n2", leader_id="n3", role="follower")
    point = obskit_capture.metric("raft.failover.duration", {"raft.node.id": "n2"})
    assert (point.count, point.sum) == (1, pytest.approx(3.5))


def test_failover_of_the_old_leader_counts_from_stepping_down(obskit_capture, monkeypatch) -> None:
    now = [10.0]
    monkeypatch.setattr(_tracking, "_clock", lambda: now[0])
    raft.update_state("n1", role="leader", leader_id="n1")
    now[0] = 50.0
    raft.update_state("n1", role="follower", leader_id=None)  # led until now
    now[0] = 51.0
    raft.update_state("n1", leader_id="n2")
    point = obskit_capture.metric("raft.failover.duration", N1)
    assert (point.count, point.sum) == (1, pytest.approx(1.0))
