"""obskit.query on a real pure-Python SQL engine: sqlglot's executor (a test dependency).

sqlglot plans a query into steps (scan, join, aggregate, sort) and runs them one after
the other in this process. Wrapping those steps with `q.operator` is what a user
maintaining such an engine would do; `shape()` is checked against sqlglot's own parser.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import pytest

from obskit import query

sqlglot = pytest.importorskip("sqlglot")
from sqlglot import executor as sqlglot_executor  # noqa: E402
from sqlglot import exp  # noqa: E402
from sqlglot.executor import python as sqlglot_python  # noqa: E402

TABLES = {
    "orders": [{"id": i, "customer": i % 3, "total": i * 10} for i in range(30)],
    "customers": [{"id": c, "name": f"c{c}"} for c in range(3)],
}
CTE_JOIN = (
    "WITH big AS (SELECT customer, total FROM orders WHERE total > 100) "
    "SELECT c.name, SUM(b.total) AS s FROM big AS b JOIN customers AS c "
    "ON b.customer = c.id GROUP BY c.name ORDER BY c.name"
)
_query: ContextVar[query.QueryLifecycle] = ContextVar("query")


def _step(name: str) -> Any:
    parent = getattr(sqlglot_python.PythonExecutor, name)

    def run(self: Any, step: Any, context: Any) -> Any:
        with _query.get().operator(name, operator_id=step.name) as op:
            result = parent(self, step, context)
            op.rows(len(result.tables[step.name].rows))
            return result

    return run


class TracedExecutor(sqlglot_python.PythonExecutor):  # type: ignore[misc]
    scan = _step("scan")
    join = _step("join")
    aggregate = _step("aggregate")
    sort = _step("sort")


@pytest.fixture
def traced_sqlglot(monkeypatch: pytest.MonkeyPatch) -> None:
    # sqlglot.executor.execute() makes its PythonExecutor by this module-level name.
    monkeypatch.setattr(sqlglot_executor, "PythonExecutor", TracedExecutor)


def run(text: str) -> list[Any]:
    with query.lifecycle(text, system="sqlglot") as q:
        token = _query.set(q)
        try:
            with q.phase("execute"):
                result = sqlglot_executor.execute(text, tables=TABLES)
        finally:
            _query.reset(token)
        q.rows(len(result.rows))
    return list(result.rows)


def test_sqlglot_steps_become_operator_spans(obskit_capture, traced_sqlglot) -> None:
    assert run(CTE_JOIN) == [("c0", 1170), ("c1", 1230), ("c2", 1400)]
    root = obskit_capture.one("SELECT orders customers")  # named by the main statement
    (execute,) = obskit_capture.children(root)
    operators = obskit_capture.children(execute)
    names = [s.name.removeprefix("query.operator.") for s in operators]
    assert sorted(set(names)) == ["aggregate", "join", "scan", "sort"]
    assert names.count("scan") == 4
    assert names.count("join") == 3
    by_id = {(s.name, s.attributes["query.operator.id"]): s for s in operators}
    assert by_id[("query.operator.scan", "orders")].attributes["query.operator.rows"] == 30
    assert by_id[("query.operator.aggregate", "b")].attributes["query.operator.rows"] == 3
    # The steps' time is in query.operator.duration; the phase is counted once.
    phases = obskit_capture.metrics("query.phase.duration")
    assert [(p.attributes["query.phase"], p.count) for p in phases] == [("execute", 1)]
    counts = {
        p.attributes["query.operator.name"]: p.count
        for p in obskit_capture.metrics("query.operator.duration")
    }
    assert counts == {"scan": 4, "join": 3, "aggregate": 1, "sort": 1}
    step_time = sum(p.sum for p in obskit_capture.metrics("query.operator.duration"))
    assert step_time <= phases[0].sum


@pytest.mark.parametrize(
    "text",
    [
        CTE_JOIN,
        "WITH a AS (SELECT id FROM x), b AS (SELECT id FROM y) SELECT * FROM a JOIN b ON a.id = b.id",
        "WITH recent AS (SELECT * FROM orders) INSERT INTO archive SELECT * FROM recent",
        "SELECT o.id FROM orders AS o JOIN customers AS c ON o.customer = c.id",
        "DELETE FROM orders WHERE id = 1",
    ],
)
def test_shape_agrees_with_sqlglot(text: str) -> None:
    parsed = sqlglot.parse_one(text)
    ctes = {cte.alias for cte in parsed.find_all(exp.CTE)}
    tables = {t.name for t in parsed.find_all(exp.Table)} - ctes
    found = query.shape(query.sanitize(text))
    assert found.operation == parsed.key.upper()
    assert set(found.tables) == tables
