"""An asyncio cancellation is its own outcome, never an error (docs/reliability.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

import obskit
from obskit import btree, query


async def _cancel(make: Callable[[asyncio.Event], Awaitable[Any]]) -> None:
    """Start `make(started)` as a task, cancel it once it is waiting; expect CancelledError."""
    started = asyncio.Event()
    task = asyncio.get_running_loop().create_task(make(started))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def _assert_cancelled(span: Any) -> None:
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes
    assert [e.name for e in span.events] == ["cancelled"]
    assert span.events[0].attributes["exception.type"] == "asyncio.exceptions.CancelledError"


def test_traced_coroutine_cancelled_is_not_an_error(obskit_capture) -> None:
    @obskit.traced("wait", metrics="cancelling.traced")
    async def wait(started: asyncio.Event) -> None:
        started.set()
        await asyncio.Event().wait()

    asyncio.run(_cancel(wait))
    _assert_cancelled(obskit_capture.one("wait"))
    calls = obskit_capture.metric("cancelling.traced.calls")
    assert calls.attributes["outcome"] == "cancelled"
    assert "error.type" not in calls.attributes
    assert calls.value == 1
    assert obskit_capture.metric("cancelling.traced.active").value == 0


def test_span_block_and_timed_cancelled(obskit_capture) -> None:
    @obskit.timed("cancelling.timed")
    async def timed_wait(started: asyncio.Event) -> None:
        started.set()
        await asyncio.Event().wait()

    async def block(started: asyncio.Event) -> None:
        async with obskit.span("block"):
            await timed_wait(started)

    asyncio.run(_cancel(block))
    _assert_cancelled(obskit_capture.one("block"))
    calls = {
        p.attributes["outcome"]: p.value for p in obskit_capture.metrics("cancelling.timed.calls")
    }
    assert calls.get("cancelled") == 1
    assert calls.get("error", 0) == 0


def test_btree_operation_cancelled_has_outcome_cancelled(obskit_capture) -> None:
    @btree.get(index="pk", key=None)
    async def lookup(started: asyncio.Event) -> None:
        started.set()
        await asyncio.Event().wait()

    asyncio.run(_cancel(lookup))
    span = obskit_capture.one("btree.get")
    assert span.attributes[btree.OUTCOME] == "cancelled"
    _assert_cancelled(span)
    (point,) = obskit_capture.metrics(btree.OPERATION_DURATION)
    assert point.attributes[btree.OUTCOME] == "cancelled"
    assert "error.type" not in point.attributes


def test_query_cancelled_is_not_counted_in_query_errors(obskit_capture) -> None:
    async def run(started: asyncio.Event) -> None:
        async with query.lifecycle("SELECT 1 FROM t", system="minidb") as q:  # noqa: SIM117
            async with q.phase("execute"):
                started.set()
                await asyncio.Event().wait()

    asyncio.run(_cancel(run))
    _assert_cancelled(obskit_capture.one("SELECT t"))
    _assert_cancelled(obskit_capture.one("query.execute"))
    assert obskit_capture.metrics(query.ERRORS) == []
    (duration,) = obskit_capture.metrics(query.DURATION)
    assert "error.type" not in duration.attributes


def test_pipeline_step_cancelled(obskit_capture) -> None:
    from obskit import pipeline

    stream = pipeline.Pipeline("cancel_stream", sample_ratio=1.0)

    @stream.processor("hang")
    async def hang(event: asyncio.Event) -> None:
        event.set()
        await asyncio.Event().wait()

    async def run(started: asyncio.Event) -> None:
        (record,) = stream.records([started])
        await hang(record)

    try:
        asyncio.run(_cancel(run))
    finally:
        pipeline._pipelines.pop("cancel_stream", None)
    span = obskit_capture.one("pipeline.process", {"pipeline.processor": "hang"})
    assert span.attributes["pipeline.record.outcome"] == "cancelled"
    _assert_cancelled(span)


def test_raft_rpc_and_proposal_cancelled_are_not_failures(obskit_capture) -> None:
    from obskit import raft
    from obskit.raft import _names as raft_names

    async def run(started: asyncio.Event) -> None:
        proposal = raft.propose("n1", term=1)
        try:
            with raft.client_call("AppendEntries", {}, node_id="n1", peer_id="n2"):
                started.set()
                await asyncio.Event().wait()
        except BaseException as exc:
            proposal.fail(exc)
            raise

    asyncio.run(_cancel(run))
    _assert_cancelled(obskit_capture.one("raft.Raft/AppendEntries"))
    _assert_cancelled(obskit_capture.one("raft.propose"))
    (rpc,) = obskit_capture.metrics(raft_names.M_RPC_CLIENT_DURATION)
    assert "error.type" not in rpc.attributes
    assert obskit_capture.metrics(raft_names.M_FAILED) == []
    (pending,) = obskit_capture.metrics(raft_names.M_PENDING)
    assert pending.value == 0


def test_query_operator_cancelled_is_not_an_error(obskit_capture) -> None:
    async def run(started: asyncio.Event) -> None:
        async with query.lifecycle("SELECT 1 FROM t", system="minidb") as q:
            with q.operator("scan"):
                started.set()
                await asyncio.Event().wait()

    asyncio.run(_cancel(run))
    _assert_cancelled(obskit_capture.one("query.operator.scan"))
    (duration,) = obskit_capture.metrics(query.OPERATOR_DURATION)
    assert "error.type" not in duration.attributes


def test_query_active_comes_back_down_when_ending_the_query_fails(
    obskit_capture, monkeypatch
) -> None:
    from obskit.query import _operation

    def broken(self: object) -> None:
        raise RuntimeError("a fault inside obskit")

    monkeypatch.setattr(_operation.QueryLifecycle, "_reduction", broken)
    with query.lifecycle("SELECT 1 FROM t", system="faulty"):
        pass  # the fault stays inside obskit: nothing escapes into the block's caller
    assert obskit_capture.metric(query.ACTIVE, {"db.system.name": "faulty"}).value == 0
