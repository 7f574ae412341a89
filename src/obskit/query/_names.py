"""obskit.query's vocabulary: every span, attribute and metric name, declared once.

`db.*` and `error.type` are OpenTelemetry semantic-convention names (the database
conventions, engine side); `query.*` is obskit's own namespace, named after what Trino,
CockroachDB, ClickHouse and pg_stat_statements report (docs/query.md).
"""

from __future__ import annotations

from typing import Final

from opentelemetry.semconv.attributes.db_attributes import (
    DB_COLLECTION_NAME,
    DB_NAMESPACE,
    DB_OPERATION_NAME,
    DB_QUERY_SUMMARY,
    DB_QUERY_TEXT,
    DB_SYSTEM_NAME,
)
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.trace import SpanKind

from obskit._domain.catalogue import Attribute, Catalogue, Instrument, SpanSpec

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
    "COST_REDUCTION_METRIC",
    "DB_COLLECTION_NAME",
    "DB_NAMESPACE",
    "DB_OPERATION_NAME",
    "DB_QUERY_SUMMARY",
    "DB_QUERY_TEXT",
    "DB_RESPONSE_RETURNED_ROWS",
    "DB_SYSTEM_NAME",
    "DURATION",
    "ERRORS",
    "ERROR_TYPE",
    "FRAGMENT_COUNT",
    "FRAGMENT_DURATION",
    "FRAGMENT_ID",
    "FRAGMENT_SPAN",
    "IO",
    "IO_DIRECTION",
    "OPERATOR",
    "OPERATOR_DURATION",
    "OPERATOR_ID",
    "OPERATOR_PREFIX",
    "OPERATOR_ROWS",
    "PHASE",
    "PHASE_DURATION",
    "PHASE_PREFIX",
    "QUERY_BUCKETS",
    "QUERY_ID",
    "RATIO_BUCKETS",
    "RETURNED_ROWS",
    "ROWS_BUCKETS",
    "ROWS_READ",
    "ROWS_READ_METRIC",
    "ROWS_WRITTEN",
    "ROWS_WRITTEN_METRIC",
    "SCOPE",
    "SEMCONV",
    "STANDARD_PHASES",
    "WORKER_COUNT",
    "WORKER_FRAGMENT_DURATION",
    "WORKER_HEALTH",
    "WORKER_ID",
    "WORKER_LIMIT",
    "WORKER_OTHER",
    "WORKER_ROWS_READ",
]

SCOPE: Final = "obskit.query"

# Semantic-convention attributes (db.response.returned_rows is still "development", so
# it is not in the stable semconv module).
DB_RESPONSE_RETURNED_ROWS: Final = "db.response.returned_rows"
SEMCONV = (
    DB_SYSTEM_NAME,
    DB_NAMESPACE,
    DB_OPERATION_NAME,
    DB_COLLECTION_NAME,
    DB_QUERY_SUMMARY,
    DB_QUERY_TEXT,
    DB_RESPONSE_RETURNED_ROWS,
    ERROR_TYPE,
)

# obskit attributes.
QUERY_ID: Final = "query.id"
PHASE: Final = "query.phase"
ROWS_READ: Final = "query.rows.read"
ROWS_WRITTEN: Final = "query.rows.written"
BYTES_READ: Final = "query.bytes.read"
BYTES_WRITTEN: Final = "query.bytes.written"
COST_ESTIMATED: Final = "query.cost.estimated"
COST_OPTIMIZED: Final = "query.cost.optimized"
COST_REDUCTION: Final = "query.cost.reduction"
CACHE_HITS: Final = "query.cache.hits"
CACHE_MISSES: Final = "query.cache.misses"
CACHE_HIT_RATIO: Final = "query.cache.hit_ratio"
CACHE_NAME: Final = "query.cache.name"
CACHE_RESULT: Final = "query.cache.result"
WORKER_COUNT: Final = "query.worker.count"
FRAGMENT_COUNT: Final = "query.fragment.count"
WORKER_ID: Final = "query.worker.id"
FRAGMENT_ID: Final = "query.fragment.id"
IO_DIRECTION: Final = "query.io.direction"
OPERATOR: Final = "query.operator.name"
OPERATOR_ID: Final = "query.operator.id"
OPERATOR_ROWS: Final = "query.operator.rows"

# Span names: the root is named after db.query.summary ("SELECT users"); phases are
# "query.<phase>"; a worker's part of a distributed query is "query.fragment".
PHASE_PREFIX: Final = "query."
FRAGMENT_SPAN: Final = "query.fragment"
# An operator inside one process (scan, join, aggregate) is "query.operator.<name>".
OPERATOR_PREFIX: Final = "query.operator."
STANDARD_PHASES: Final = ("parse", "plan", "optimize", "execute", "aggregate", "queue")

# Metric names.
DURATION: Final = "query.duration"
PHASE_DURATION: Final = "query.phase.duration"
ACTIVE: Final = "query.active"
RETURNED_ROWS: Final = "query.response.returned_rows"
ROWS_READ_METRIC: Final = "query.rows.read"
ROWS_WRITTEN_METRIC: Final = "query.rows.written"
IO: Final = "query.io"
CACHE_LOOKUPS: Final = "query.cache.lookups"
ERRORS: Final = "query.errors"
FRAGMENT_DURATION: Final = "query.fragment.duration"
OPERATOR_DURATION: Final = "query.operator.duration"
COST_REDUCTION_METRIC: Final = "query.cost.reduction"
WORKER_FRAGMENT_DURATION: Final = "query.worker.fragment.duration"
WORKER_ROWS_READ: Final = "query.worker.rows.read"

#: Distinct `query.worker.id` values on the per-worker metrics (unless declared with
#: `query.declare_workers`); any further worker is counted under `WORKER_OTHER`.
WORKER_LIMIT: Final = 32
WORKER_OTHER: Final = "other"
#: Worker health, a Prometheus recording rule: 0 healthy, 1 degraded, 2 critical, by the
#: worst of its fragment error ratio and its fragment p99 latency over 5 minutes.
WORKER_HEALTH: Final = "query:worker_health:state"
WORKER_DEGRADED_ERROR_RATIO: Final = 0.01
WORKER_CRITICAL_ERROR_RATIO: Final = 0.05
WORKER_DEGRADED_P99_SECONDS: Final = 1.0
WORKER_CRITICAL_P99_SECONDS: Final = 5.0

#: Query latency: the db semconv advice plus a long tail for analytics.
#: Query, phase, operator and fragment durations: 1 ms to 5 min. The OpenTelemetry HTTP/RPC
#: duration buckets (5 ms to 10 s) with 1 ms below and analytical queries above; no bound
#: more than 2.5x the one before (the database conventions' 1-5-10 steps read a 1.05 s
#: fragment as a p99 of 4 s). 1 s and 5 s are bounds: the worker health thresholds.
QUERY_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 25.0, 60.0, 150.0, 300.0,
)  # fmt: skip
ROWS_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)
RATIO_BUCKETS: Final = (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0)

_ROOT_ATTRS = (*SEMCONV, QUERY_ID, ROWS_READ, ROWS_WRITTEN, BYTES_READ, BYTES_WRITTEN,
               COST_ESTIMATED, COST_OPTIMIZED, COST_REDUCTION, CACHE_HITS, CACHE_MISSES,
               CACHE_HIT_RATIO, WORKER_COUNT, FRAGMENT_COUNT)  # fmt: skip
_BY_QUERY = (DB_SYSTEM_NAME, DB_OPERATION_NAME)

CATALOGUE: Final = Catalogue(
    domain="query",
    title="Query engines (obskit.query)",
    scope=SCOPE,
    attributes=[
        Attribute(DB_SYSTEM_NAME, "string", "The engine (lower-case)", "minidb", "semconv"),
        Attribute(DB_NAMESPACE, "string", "Database/schema the query ran in", "main", "semconv"),
        Attribute(
            DB_OPERATION_NAME, "string", "First keyword of the statement", "SELECT", "semconv"
        ),
        Attribute(
            DB_COLLECTION_NAME,
            "string",
            "The table, when the query names exactly one",
            "users",
            "semconv",
        ),
        Attribute(
            DB_QUERY_SUMMARY,
            "string",
            "Operation and tables; also the root span name",
            "SELECT users",
            "semconv",
        ),
        Attribute(
            DB_QUERY_TEXT,
            "string",
            "Query text, literals replaced by ? (2048 chars max)",
            "SELECT * FROM users WHERE id = ?",
            "semconv",
        ),
        Attribute(
            DB_RESPONSE_RETURNED_ROWS,
            "int",
            "Rows returned to the client",
            42,
            "semconv (development)",
        ),
        Attribute(
            ERROR_TYPE,
            "string",
            "Exception class or error code of a failure",
            "TimeoutError",
            "semconv",
        ),
        Attribute(
            QUERY_ID,
            "string",
            "Engine's id of this query (spans only)",
            "q-20260820-42",
            "Trino query_id",
        ),
        Attribute(PHASE, "string", "Phase of a query.phase.duration point", "parse"),
        Attribute(ROWS_READ, "int", "Rows read/processed", 10000, "ClickHouse read_rows"),
        Attribute(ROWS_WRITTEN, "int", "Rows written", 0, "ClickHouse written_rows"),
        Attribute(BYTES_READ, "int", "Bytes read or received", 52428800, "ClickHouse read_bytes"),
        Attribute(BYTES_WRITTEN, "int", "Bytes written or sent", 0, "ClickHouse written_bytes"),
        Attribute(
            COST_ESTIMATED, "double", "Optimizer cost of the plan before optimization", 1234.5
        ),
        Attribute(COST_OPTIMIZED, "double", "Cost of the plan after optimization", 100.0),
        Attribute(COST_REDUCTION, "double", "1 - optimized/estimated (0.9 = 90% cheaper)", 0.92),
        Attribute(CACHE_HITS, "int", "Cache lookups that hit during the query", 3),
        Attribute(CACHE_MISSES, "int", "Cache lookups that missed", 1),
        Attribute(CACHE_HIT_RATIO, "double", "hits / (hits + misses)", 0.75),
        Attribute(
            CACHE_NAME,
            "string",
            "Which cache: plan, result, block, ...",
            "plan",
            "ClickHouse query_cache_usage",
        ),
        Attribute(CACHE_RESULT, "string", "hit or miss", "hit"),
        Attribute(WORKER_COUNT, "int", "Workers the query used", 3, "pg parallel_workers"),
        Attribute(FRAGMENT_COUNT, "int", "Fragments executed", 6, "Trino totalTasks"),
        Attribute(WORKER_ID, "string", "Worker that ran a fragment", "worker-2", "Trino task id"),
        Attribute(FRAGMENT_ID, "string", "Fragment (task/split) id", "1.3", "Trino stage/task"),
        Attribute(IO_DIRECTION, "string", "read or write", "read", "semconv *.io rule"),
        Attribute(
            OPERATOR,
            "string",
            "In-process operator (scan, hash_join, aggregate, ...)",
            "hash_join",
            "Trino operatorType, EXPLAIN ANALYZE nodes",
        ),
        Attribute(OPERATOR_ID, "string", "Plan node id of the operator (spans only)", "3"),
        Attribute(OPERATOR_ROWS, "int", "Rows the operator produced (spans only)", 420),
    ],
    spans=[
        SpanSpec(
            "{db.query.summary}",
            "One query, named after its summary (e.g. SELECT users)",
            attributes=_ROOT_ATTRS,
        ),
        *(
            SpanSpec(f"{PHASE_PREFIX}{phase}", f"The {phase} phase", attributes=(ERROR_TYPE,))
            for phase in STANDARD_PHASES
        ),
        SpanSpec(
            f"{PHASE_PREFIX}{{phase}}", "A custom phase (q.phase(name))", attributes=(ERROR_TYPE,)
        ),
        SpanSpec(
            f"{OPERATOR_PREFIX}{{name}}",
            "An operator run in this process (q.operator(name) / f.operator(name)); "
            "child of the current phase or fragment, its time not in query.phase.duration",
            attributes=(OPERATOR, OPERATOR_ID, OPERATOR_ROWS, ERROR_TYPE),
        ),
        SpanSpec(
            FRAGMENT_SPAN,
            "A worker's part of a distributed query (remote parent)",
            SpanKind.SERVER,
            (
                DB_SYSTEM_NAME,
                WORKER_ID,
                FRAGMENT_ID,
                ROWS_READ,
                ROWS_WRITTEN,
                BYTES_READ,
                BYTES_WRITTEN,
                DB_RESPONSE_RETURNED_ROWS,
                ERROR_TYPE,
            ),
        ),
    ],
    instruments=[
        Instrument(
            DURATION,
            "histogram",
            "s",
            "Query duration",
            (DB_SYSTEM_NAME, DB_OPERATION_NAME, DB_COLLECTION_NAME, ERROR_TYPE),
            QUERY_BUCKETS,
        ),
        Instrument(
            PHASE_DURATION,
            "histogram",
            "s",
            "Duration of each query phase",
            (PHASE, *_BY_QUERY, ERROR_TYPE),
            QUERY_BUCKETS,
        ),
        Instrument(ACTIVE, "up_down_counter", "{query}", "Queries in progress", _BY_QUERY),
        Instrument(
            RETURNED_ROWS, "histogram", "{row}", "Rows returned per query", _BY_QUERY, ROWS_BUCKETS
        ),
        Instrument(ROWS_READ_METRIC, "counter", "{row}", "Rows read/processed", _BY_QUERY),
        Instrument(ROWS_WRITTEN_METRIC, "counter", "{row}", "Rows written", _BY_QUERY),
        Instrument(IO, "counter", "By", "Bytes read and written", (*_BY_QUERY, IO_DIRECTION)),
        Instrument(
            CACHE_LOOKUPS,
            "counter",
            "{lookup}",
            "Cache lookups by cache and result",
            (DB_SYSTEM_NAME, CACHE_NAME, CACHE_RESULT),
        ),
        Instrument(ERRORS, "counter", "{error}", "Failed queries", (*_BY_QUERY, ERROR_TYPE)),
        Instrument(
            FRAGMENT_DURATION,
            "histogram",
            "s",
            "Duration of fragments on workers",
            (DB_SYSTEM_NAME, ERROR_TYPE),
            QUERY_BUCKETS,
        ),
        Instrument(
            OPERATOR_DURATION,
            "histogram",
            "s",
            "Duration of in-process operators; nested in their phase's time, never added to it",
            (OPERATOR, *_BY_QUERY, ERROR_TYPE),
            QUERY_BUCKETS,
        ),
        Instrument(
            WORKER_FRAGMENT_DURATION,
            "histogram",
            "s",
            f"Fragment duration per worker (at most {WORKER_LIMIT} worker ids, then "
            f"{WORKER_OTHER!r})",
            (DB_SYSTEM_NAME, WORKER_ID, ERROR_TYPE),
            QUERY_BUCKETS,
        ),
        Instrument(
            WORKER_ROWS_READ,
            "counter",
            "{row}",
            "Rows the fragments of each worker read (bounded worker ids, as above)",
            (DB_SYSTEM_NAME, WORKER_ID),
        ),
        Instrument(
            COST_REDUCTION_METRIC,
            "histogram",
            "1",
            "Optimizer cost reduction per query",
            _BY_QUERY,
            RATIO_BUCKETS,
        ),
    ],
)
