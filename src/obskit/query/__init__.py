"""Spans and metrics for query engines, single-node or distributed.

A query is one `lifecycle` block: a root span named after the query's summary
(``SELECT users``) with the OpenTelemetry `db.*` attributes, child spans per phase
(`query.parse`, `query.plan`, ...), facts (rows, bytes, optimizer cost, cache lookups,
workers, fragments) and metrics. Workers join the query's trace with `fragment`, given
the carrier the coordinator made with `QueryLifecycle.fragment_carrier()` (or `inject`).

Examples:
    >>> from obskit import query
    >>> with query.lifecycle("SELECT name FROM users WHERE id = 42", system="minidb") as q:
    ...     with q.phase("parse"):
    ...         pass
    ...     with q.phase("execute"):
    ...         q.rows(1, read=1000)
    ...     q.cost(estimated=1000.0, optimized=40.0)
    >>> q.summary
    'SELECT users'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.context import Context
from opentelemetry.trace import SpanKind

from obskit import propagation as _propagation
from obskit._routing import off
from obskit.query._dashboards import PANELS, RECORDING_RULES
from obskit.query._fragment import Fragment
from obskit.query._names import (
    ACTIVE,
    BYTES_READ,
    BYTES_WRITTEN,
    CACHE_HIT_RATIO,
    CACHE_HITS,
    CACHE_LOOKUPS,
    CACHE_MISSES,
    CACHE_NAME,
    CACHE_RESULT,
    CATALOGUE,
    COST_ESTIMATED,
    COST_OPTIMIZED,
    COST_REDUCTION,
    DB_RESPONSE_RETURNED_ROWS,
    DURATION,
    ERRORS,
    FRAGMENT_COUNT,
    FRAGMENT_DURATION,
    FRAGMENT_ID,
    FRAGMENT_SPAN,
    IO,
    IO_DIRECTION,
    OPERATOR,
    OPERATOR_DURATION,
    OPERATOR_ID,
    OPERATOR_PREFIX,
    OPERATOR_ROWS,
    PHASE,
    PHASE_DURATION,
    PHASE_PREFIX,
    QUERY_ID,
    RETURNED_ROWS,
    ROWS_READ,
    ROWS_WRITTEN,
    STANDARD_PHASES,
    WORKER_COUNT,
    WORKER_ID,
    WORKER_LIMIT,
)
from obskit.query._operation import Operator, Phase, QueryLifecycle
from obskit.query._registry import declare_workers
from obskit.query._text import DIALECTS, MAX_QUERY_TEXT_CHARS, MAX_SUMMARY_CHARS, sanitize, shape

__all__ = [
    "ACTIVE",
    "BYTES_READ",
    "BYTES_WRITTEN",
    "CACHE_HITS",
    "CACHE_HIT_RATIO",
    "CACHE_LOOKUPS",
    "CACHE_MISSES",
    "CACHE_NAME",
    "CACHE_RESULT",
    "CATALOGUE",
    "COST_ESTIMATED",
    "COST_OPTIMIZED",
    "COST_REDUCTION",
    "DB_RESPONSE_RETURNED_ROWS",
    "DIALECTS",
    "DURATION",
    "ERRORS",
    "FRAGMENT_COUNT",
    "FRAGMENT_DURATION",
    "FRAGMENT_ID",
    "FRAGMENT_SPAN",
    "IO",
    "IO_DIRECTION",
    "MAX_QUERY_TEXT_CHARS",
    "MAX_SUMMARY_CHARS",
    "OPERATOR",
    "OPERATOR_DURATION",
    "OPERATOR_ID",
    "OPERATOR_PREFIX",
    "OPERATOR_ROWS",
    "PANELS",
    "PHASE",
    "PHASE_DURATION",
    "PHASE_PREFIX",
    "QUERY_ID",
    "RECORDING_RULES",
    "RETURNED_ROWS",
    "ROWS_READ",
    "ROWS_WRITTEN",
    "STANDARD_PHASES",
    "WORKER_COUNT",
    "WORKER_ID",
    "WORKER_LIMIT",
    "Fragment",
    "Operator",
    "Phase",
    "QueryLifecycle",
    "declare_workers",
    "extract",
    "fragment",
    "inject",
    "lifecycle",
    "sanitize",
    "shape",
]


def lifecycle(
    text: str | bytes | None = None,
    *,
    system: str = "other_sql",
    operation: str | None = None,
    collection: str | None = None,
    namespace: str | None = None,
    summary: str | None = None,
    query_id: str | None = None,
    sanitize: bool = True,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, object] | None = None,
    dialect: str = "ansi",
) -> QueryLifecycle:
    """Trace and measure one query: `with query.lifecycle(text, system=...) as q:`.

    The root span is named after `db.query.summary` (operation and tables, e.g.
    ``SELECT users``; else the system name) and carries `db.system.name`,
    `db.operation.name`, `db.collection.name` (single-table queries), `db.query.summary`
    and `db.query.text` -- with string and number literals replaced by ``?`` unless
    `sanitize=False`, cut at `MAX_QUERY_TEXT_CHARS` (2048) characters either way.
    Works with `with` and `async with`; an escaping exception sets `error.type` and
    propagates unchanged. `query.duration`, `query.active` and `query.errors` follow.

    While the block runs, the literals removed from the text are also removed (as ``?``)
    from exception messages, stack traces, status descriptions and event attributes
    recorded on any span of the query's trace in this process (phases, fragments, your
    own spans), so an engine error quoting the SQL does not leak them.

    Args:
        text: the query text (str or UTF-8 bytes); operation and tables are read from it.
        system: `db.system.name`: your engine's name in lower case.
        operation: override `db.operation.name` (default: the statement's first keyword).
        collection: override `db.collection.name` (default: the only table named).
        namespace: `db.namespace` (database/schema).
        summary: override `db.query.summary` and the span name.
        query_id: your engine's query id (`query.id`, spans only).
        sanitize: replace literals in `db.query.text` (on by default; turn off only for
            parameterized texts without secrets).
        kind: SpanKind.SERVER when the engine serves queries over the network.
        attributes: extra attributes for the root span.
        dialect: what double quotes are: ``"ansi"`` (default) identifiers (but replaced
            in a value position, as in `pw = "x"`), ``"mysql"`` strings (then also `#`
            comments and backslash escapes).

    Examples:
        >>> from obskit import query
        >>> async def run():
        ...     async with query.lifecycle("SELECT count(*) FROM orders", system="minidb") as q:
        ...         async with q.phase("execute"):
        ...             q.rows(1, read=500)
    """
    if dialect in DIALECTS and off():
        # obskit is off: a closed lifecycle that only keeps its arguments
        return QueryLifecycle._off(text, system, operation, collection, summary, sanitize, dialect)
    return QueryLifecycle(
        text,
        system=system,
        operation=operation,
        collection=collection,
        namespace=namespace,
        summary=summary,
        query_id=query_id,
        sanitize=sanitize,
        kind=kind,
        attributes=attributes,
        dialect=dialect,
    )


def fragment(
    carrier: Any,
    *,
    worker_id: object = None,
    fragment_id: object = None,
    system: str = "other_sql",
    operation: str | None = None,
    text: str | bytes | None = None,
    dialect: str = "ansi",
) -> Fragment:
    """Run a query fragment on a worker inside the coordinator's trace.

    `carrier` is what the coordinator's `q.fragment_carrier()` (or `query.inject()`)
    produced: a dict, bytes header or object with attributes; a missing or malformed one
    starts a new trace. The `query.fragment` span (kind SERVER) carries
    `query.worker.id`, `query.fragment.id` and the rows/bytes you record on it.

    Pass the fragment's query `text` (it is not recorded) so that its literals are
    removed from exception text recorded in the fragment, as the coordinator does for
    the query; without it, every single-quoted and dollar-quoted string in such text is
    removed instead, since the worker cannot know which literals the query held.

    Examples:
        >>> from obskit import query
        >>> with query.lifecycle("SELECT * FROM t", system="minidb") as q:
        ...     request = {"sql": "SELECT * FROM t", "trace": q.fragment_carrier()}
        >>> # on the worker:
        >>> with query.fragment(request["trace"], worker_id="w1", fragment_id=0,
        ...                     system="minidb", text=request["sql"]) as f:
        ...     f.rows(read=100)
        ...     f.bytes(written=2048)
    """
    if dialect in DIALECTS and off():
        return Fragment._off(system)
    return Fragment(
        carrier,
        worker_id=worker_id,
        fragment_id=fragment_id,
        system=system,
        operation=operation,
        text=text,
        dialect=dialect,
    )


def inject(carrier: Any = None, *, context: Context | None = None) -> Any:
    """Put the current trace context into a fragment request (`obskit.propagation.inject`).

    Examples:
        >>> from obskit import query
        >>> request = {"sql": "SELECT 1"}
        >>> _ = query.inject(request)
    """
    return _propagation.inject(carrier, context=context)


def extract(carrier: Any) -> Context:
    """The trace context in a fragment request (`obskit.propagation.extract`).

    Examples:
        >>> from obskit import query
        >>> query.extract({}) == query.extract(None)
        True
    """
    return _propagation.extract(carrier)
