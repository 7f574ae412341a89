"""In-process operators (spans without a carrier, time counted once) and shape() edge cases.

`_run_plan` is a small stand-in for a pure-Python SQL executor: a plan of operators
(scan, filter, hash join, aggregate) run inside one process, one operator pulling from
the others, with no carrier between them.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from obskit import query

ORDERS = [{"id": i, "customer": i % 3, "total": i * 10} for i in range(30)]
CUSTOMERS = [{"id": c, "name": f"c{c}"} for c in range(3)]


def _scan(q: query.QueryLifecycle, table: list[dict[str, Any]], name: str) -> list[Any]:
    with q.operator("scan", operator_id=name) as op:
        rows = list(table)
        op.rows(len(rows))
        return rows


def _run_plan(q: query.QueryLifecycle) -> list[Any]:
    with q.operator("aggregate") as aggregate:
        with q.operator("hash_join") as join:
            customers = {c["id"]: c["name"] for c in _scan(q, CUSTOMERS, "customers")}
            joined = [(customers[o["customer"]], o["total"]) for o in _scan(q, ORDERS, "orders")]
            join.rows(len(joined))
        totals: dict[str, int] = {}
        for name, total in joined:
            totals[name] = totals.get(name, 0) + total
        aggregate.rows(len(totals))
    return sorted(totals.items())


def test_operators_nest_under_their_phase_without_a_carrier(obskit_capture) -> None:
    text = "SELECT c.name, sum(o.total) FROM orders o JOIN customers c ON o.customer = c.id"
    with query.lifecycle(text, system="minidb") as q:
        with q.phase("execute"):
            result = _run_plan(q)
        q.rows(len(result))
    assert result == [("c0", 1350), ("c1", 1450), ("c2", 1550)]
    obskit_capture.assert_tree(
        """
        SELECT orders customers
          query.execute
            query.operator.aggregate
              query.operator.hash_join
                query.operator.scan
                query.operator.scan
        """
    )
    scans = obskit_capture.find("query.operator.scan")
    assert [s.attributes["query.operator.id"] for s in scans] == ["customers", "orders"]
    assert [s.attributes["query.operator.rows"] for s in scans] == [3, 30]
    assert obskit_capture.one("query.operator.hash_join").attributes["query.operator.rows"] == 30
    # One phase point: the operators' time is not added to query.phase.duration again.
    phases = obskit_capture.metrics("query.phase.duration")
    assert [(p.attributes["query.phase"], p.count) for p in phases] == [("execute", 1)]
    operators = {
        p.attributes["query.operator.name"]: p.count
        for p in obskit_capture.metrics("query.operator.duration")
    }
    assert operators == {"aggregate": 1, "hash_join": 1, "scan": 2}
    scan_point = obskit_capture.metric("query.operator.duration", {"query.operator.name": "scan"})
    assert scan_point.attributes["db.operation.name"] == "SELECT"
    assert scan_point.attributes["db.system.name"] == "minidb"
    # Operator rows are span facts only: nothing reached the query's row counters.
    assert obskit_capture.metrics("query.rows.read") == []


def test_an_operator_on_another_thread_still_joins_the_query(obskit_capture) -> None:
    def scan(q: query.QueryLifecycle) -> None:
        with q.operator("scan"):
            pass

    # No context propagation to the pool's thread: the operator finds the query itself.
    with query.lifecycle("SELECT * FROM t") as q, ThreadPoolExecutor(1) as pool:
        pool.submit(scan, q).result()
    (scan,) = obskit_capture.find("query.operator.scan")
    assert obskit_capture.parent(scan) == obskit_capture.one("SELECT t")


def test_a_failing_operator_records_its_error_and_passes_it_through(obskit_capture) -> None:
    with (
        pytest.raises(KeyError),
        query.lifecycle("SELECT * FROM t") as q,
        q.phase("execute"),
        q.operator("scan"),
    ):
        raise KeyError("missing column")
    scan = obskit_capture.one("query.operator.scan")
    assert scan.status.status_code is StatusCode.ERROR
    point = obskit_capture.metric("query.operator.duration", {"error.type": "KeyError"})
    assert point.count == 1


def test_fragment_operators_and_async(obskit_capture) -> None:
    async def worker(carrier: Any) -> None:
        async with (
            query.fragment(carrier, worker_id="w1", system="minidb") as f,
            f.operator("scan") as scan,
        ):
            scan.rows(7)

    with query.lifecycle("SELECT * FROM t", system="minidb") as q, q.phase("execute"):
        carrier = q.fragment_carrier()
    asyncio.run(worker(carrier))
    scan = obskit_capture.one("query.operator.scan")
    assert obskit_capture.parent(scan) == obskit_capture.one("query.fragment")
    assert scan.attributes["query.operator.rows"] == 7


def test_operator_names_follow_the_phase_rule() -> None:
    q = query.lifecycle("SELECT 1")
    with pytest.raises(ValueError, match="lower-case"):
        q.operator("Hash Join")
    with pytest.raises(ValueError, match="reserved"):
        q.phase("operator")


@pytest.mark.parametrize(
    ("text", "operation", "tables"),
    [
        ("WITH recent AS (SELECT * FROM orders WHERE day > ?) SELECT * FROM recent",
         "SELECT", ("orders",)),
        ("WITH a AS (SELECT id FROM x), b (n) AS MATERIALIZED (SELECT n FROM y) "
         "INSERT INTO z SELECT * FROM a JOIN b ON a.id = b.n", "INSERT", ("x", "y", "z")),
        ("with recursive r(n) as (select ? union all select n + ? from r) select n from r",
         "SELECT", ()),
        ("SELEC * FROM users", "_OTHER", ("users",)),
        ("/* planner hint */ -- note\n  SELECT id FROM users", "SELECT", ("users",)),
        ("WITH cut AS (SELECT", "WITH", ()),
        ("", None, ()),
    ],
)  # fmt: skip
def test_shape_of_ctes_and_unknown_keywords(
    text: str, operation: str | None, tables: tuple[str, ...]
) -> None:
    found = query.shape(text)
    assert (found.operation, found.tables) == (operation, tables)


def test_a_cte_query_is_named_by_its_main_statement(obskit_capture) -> None:
    text = "WITH big AS (SELECT customer FROM orders WHERE total > 100) SELECT * FROM big"
    with query.lifecycle(text, system="minidb"):
        pass
    with query.lifecycle("SELEC 1 FROM t", system="minidb"):
        pass
    root = obskit_capture.one("SELECT orders")
    assert root.attributes["db.operation.name"] == "SELECT"
    assert root.attributes["db.collection.name"] == "orders"
    assert obskit_capture.one("_OTHER t").attributes["db.operation.name"] == "_OTHER"
    point = obskit_capture.metric("query.duration", {"db.operation.name": "_OTHER"})
    assert point.count == 1
