"""With obskit off, query lifecycles, phases, operators and fragments record nothing."""

from __future__ import annotations

import asyncio

import pytest

import obskit
from obskit import query
from obskit.testing import Capture

_TEXT = "SELECT name FROM users WHERE id = 42"


def _run_query() -> dict[str, object]:
    """One coordinator query and one worker fragment; returns what user code sees."""
    seen: dict[str, object] = {}
    with query.lifecycle(_TEXT, system="minidb") as q:
        seen["summary"], seen["operation"] = q.summary, q.operation
        seen["collection"], seen["system"] = q.collection, q.system
        q.cost(10, 4)
        q.cache(hit=False)
        q.workers(2)
        q.fragments(1)
        with q.phase("plan"):
            pass
        with q.phase("execute") as phase, q.operator("scan", operator_id=1) as scan:
            scan.rows(3)
            phase.set_attribute("x", 1)
            given: dict[str, str] = {}
            seen["same_carrier"] = q.fragment_carrier(given) is given
            carrier = q.fragment_carrier()
        q.rows(1, read=3)
        q.bytes(100, written=5)
        q.set_error("timeout")
        seen["trace_id"] = q.trace_id
    with query.fragment(carrier, worker_id="w1", fragment_id=0, system="minidb") as f:
        f.rows(read=3)
        f.bytes(10)
        with f.operator("filter") as op:
            op.rows(1)
        f.record_exception(ValueError("handled"))
        seen["fragment_system"] = f.system

    async def run() -> None:
        async with query.lifecycle("DELETE FROM t", system="minidb") as q2:
            phase = q2.phase("execute")
            async with phase:
                q2.rows(written=1)

    asyncio.run(run())
    with pytest.raises(ValueError, match="raised"), query.lifecycle(_TEXT):
        raise ValueError("raised")  # the query's own exception passes through
    return seen


def test_disabled_query_records_nothing_and_every_method_still_works(
    obskit_capture: Capture,
) -> None:
    obskit.configure(enabled=False)  # wins over the capture's routing
    seen = _run_query()
    with pytest.raises(ValueError, match="phase"):  # names are still checked
        query.lifecycle(_TEXT).phase("Not A Phase")
    with pytest.raises(ValueError, match="dialect"):
        query.lifecycle(_TEXT, dialect="klingon")
    obskit.shutdown(timeout=2)
    assert obskit_capture.spans == []
    # (the capture also reports other metrics of the process: look at this domain's)
    assert [m.name for m in obskit_capture.metrics() if m.name.startswith(("query.", "db."))] == []
    assert seen == {
        "summary": "SELECT users", "operation": "SELECT", "collection": "users",
        "system": "minidb", "same_carrier": True, "trace_id": "0" * 32,
        "fragment_system": "minidb",
    }  # fmt: skip

    # On again: the same code is seen by the capture (the checks above could fail).
    on = _run_query()
    assert on["summary"] == seen["summary"]
    assert on["trace_id"] != "0" * 32
    names = {s.name for s in obskit_capture.spans}
    assert {"SELECT users", "query.plan", "query.fragment"} <= names
    assert obskit_capture.metrics(query.PHASE_DURATION)


def test_disabled_phases_and_operators_keep_their_names() -> None:
    obskit.configure(enabled=False)
    try:
        with (
            query.lifecycle("SELECT 1 FROM t") as q,
            q.phase("plan") as plan,
            q.operator("scan") as scan,
        ):
            pass
        assert (plan.name, scan.name) == ("plan", "scan")
    finally:
        obskit.shutdown(timeout=2)
