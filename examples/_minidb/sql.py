"""A tiny SQL engine: parse, plan, optimize, and execute fragments over partitioned tables.

Grammar: ``SELECT cols FROM table [WHERE col op literal] [GROUP BY col]`` where cols are
``*``, column names, ``COUNT(*)`` and ``SUM(col)``; op is one of = != < <= > >=.
Tables are generated deterministically, so every worker process builds the same data
and owns the rows whose id modulo the worker count is its index.
"""

from __future__ import annotations

import operator
import random
import re
from dataclasses import dataclass, field
from typing import Any

COLUMNS = {
    "users": ("id", "name", "age", "city"),
    "orders": ("id", "user_id", "amount", "status"),
}
ROWS = {"users": 3000, "orders": 12000}
_CITIES = ("lisbon", "oslo", "lima", "osaka", "accra", "quito")
_STATUSES = ("new", "paid", "shipped", "returned")
_OPS = {"=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}  # fmt: skip
_SELECTIVITY = {"=": 0.1, "!=": 0.9}  # a range predicate keeps about a third
_QUERY = re.compile(
    r"^\s*SELECT\s+(?P<cols>.+?)\s+FROM\s+(?P<table>\w+)"
    r"(?:\s+WHERE\s+(?P<col>\w+)\s*(?P<op>!=|<=|>=|=|<|>)\s*(?P<lit>'[^']*'|-?\d+(?:\.\d+)?))?"
    r"(?:\s+GROUP\s+BY\s+(?P<group>\w+))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_AGGREGATE = re.compile(r"^(COUNT)\(\*\)$|^(SUM)\((\w+)\)$", re.IGNORECASE)


class QueryError(Exception):
    """The query cannot be parsed or planned (error.type: _minidb.sql.QueryError)."""


def table_rows(table: str) -> list[dict[str, Any]]:
    """The full, deterministic contents of `table`."""
    rng = random.Random(table)
    if table == "users":
        return [{"id": i, "name": f"user{i}", "age": rng.randrange(18, 90),
                 "city": rng.choice(_CITIES)} for i in range(ROWS[table])]  # fmt: skip
    return [{"id": i, "user_id": rng.randrange(ROWS["users"]), "amount": rng.randrange(1, 500),
             "status": rng.choice(_STATUSES)} for i in range(ROWS[table])]  # fmt: skip


@dataclass
class Plan:
    """What every worker runs on its partition, and how the coordinator merges."""

    table: str
    columns: list[str]
    aggregates: list[tuple[str, str | None]] = field(default_factory=list)  # (fn, column)
    where: tuple[str, str, Any] | None = None
    group_by: str | None = None
    pushdown: bool = False  # filter on the workers (after optimization) or the coordinator


def parse(text: str) -> dict[str, Any]:
    """The query's parts, or QueryError."""
    match = _QUERY.match(text)
    if match is None:
        raise QueryError(f"cannot parse {text[:60]!r}")
    parts = match.groupdict()
    literal = parts["lit"]
    if literal is not None:
        parts["lit"] = literal.strip("'") if literal.startswith("'") else float(literal)
    return parts


def plan(parts: dict[str, Any]) -> Plan:
    """A logical plan; raises QueryError for unknown tables or columns."""
    table = parts["table"].lower()
    if table not in COLUMNS:
        raise QueryError(f"no table {table!r}")
    known = COLUMNS[table]
    columns: list[str] = []
    aggregates: list[tuple[str, str | None]] = []
    for item in (c.strip() for c in parts["cols"].split(",")):
        agg = _AGGREGATE.match(item)
        if item == "*":
            columns.extend(known)
        elif agg:
            aggregates.append(("count", None) if agg.group(1) else ("sum", agg.group(3)))
        else:
            columns.append(item)
    for column in [*columns, parts["col"], parts["group"], *(c for _, c in aggregates)]:
        if column is not None and column not in known:
            raise QueryError(f"no column {column!r} in {table}")
    where = (parts["col"], parts["op"], parts["lit"]) if parts["col"] else None
    return Plan(table, columns, aggregates, where, parts["group"])


def cost(plan: Plan) -> float:
    """Rows moved to the coordinator times the columns carried (a toy cost model)."""
    rows = ROWS[plan.table]
    if plan.pushdown and plan.where is not None:
        rows = rows * _SELECTIVITY.get(plan.where[1], 0.33)
    if plan.pushdown and plan.group_by is not None:
        rows = min(rows, 50)
    width = len(plan.columns) + len(plan.aggregates) or 1
    return float(rows * width)


def optimize(plan: Plan) -> Plan:
    """Push the filter and the partial aggregation down to the workers.

    (The workers always filter and pre-aggregate; the flag is what the cost model sees.)
    """
    plan.pushdown = True
    return plan


def run_fragment(plan: Plan, rows: list[dict[str, Any]]) -> tuple[list[Any], int]:
    """Run `plan` over one partition: (result rows or partial aggregates, rows scanned)."""
    scanned = len(rows)
    if plan.where is not None:
        column, op, literal = plan.where
        test = _OPS[op]
        rows = [r for r in rows if test(r[column], literal)]
    if plan.group_by is None and not plan.aggregates:
        return [[r[c] for c in plan.columns] for r in rows], scanned
    groups: dict[Any, list[float]] = {}
    for row in rows:
        acc = groups.setdefault(row[plan.group_by] if plan.group_by else None,
                                [0.0] * len(plan.aggregates))  # fmt: skip
        for i, (fn, column) in enumerate(plan.aggregates):
            acc[i] += 1 if fn == "count" else row[column]  # type: ignore[index]
    return [[key, *acc] for key, acc in groups.items()], scanned


def merge(plan: Plan, partials: list[list[Any]]) -> list[Any]:
    """Combine the workers' results (partial sums add up; plain rows concatenate)."""
    if plan.group_by is None and not plan.aggregates:
        return [row for part in partials for row in part]
    groups: dict[Any, list[float]] = {}
    for part in partials:
        for key, *values in part:
            acc = groups.setdefault(key, [0.0] * len(values))
            for i, value in enumerate(values):
                acc[i] += value
    return sorted([[key, *acc] for key, acc in groups.items()], key=lambda r: str(r[0]))
