"""The Grafana panels and Prometheus recording rules fed by the query metrics.

Data, like the catalogue they read (obskit.query._names): the dashboards and rule
files are generated from them by `python -m obskit._tools.dashboards`.
"""

from __future__ import annotations

from typing import Final

from obskit.query._names import (
    WORKER_CRITICAL_ERROR_RATIO,
    WORKER_CRITICAL_P99_SECONDS,
    WORKER_DEGRADED_ERROR_RATIO,
    WORKER_DEGRADED_P99_SECONDS,
    WORKER_HEALTH,
)

__all__ = ["PANELS", "RECORDING_RULES"]


#: Grafana panels fed by these metrics (title, PromQL, unit), for the dashboards.
PANELS: Final = (
    {
        "title": "Query latency p99 by operation",
        "expr": "histogram_quantile(0.99, sum by (le, db_operation_name) "
        "(rate(query_duration_seconds_bucket[5m])))",
        "unit": "s",
    },
    {
        "title": "Queries per second",
        "expr": "sum by (db_system_name, db_operation_name) (rate(query_duration_seconds_count[1m]))",
        "unit": "reqps",
    },
    {
        "title": "Error ratio",
        "expr": "sum(rate(query_errors_total[5m])) / sum(rate(query_duration_seconds_count[5m]))",
        "unit": "percentunit",
    },
    {"title": "Active queries", "expr": "sum by (db_system_name) (query_active)", "unit": "short"},
    {
        "title": "Time per phase (p95)",
        "expr": "histogram_quantile(0.95, sum by (le, query_phase) "
        "(rate(query_phase_duration_seconds_bucket[5m])))",
        "unit": "s",
    },
    {
        "title": "Time per operator (p95)",
        "expr": "histogram_quantile(0.95, sum by (le, query_operator_name) "
        "(rate(query_operator_duration_seconds_bucket[5m])))",
        "unit": "s",
    },
    {
        "title": "Rows read per second",
        "expr": "sum by (db_operation_name) (rate(query_rows_read_total[1m]))",
        "unit": "rowsps",
    },
    {
        "title": "Bytes per second by direction",
        "expr": "sum by (query_io_direction) (rate(query_io_bytes_total[1m]))",
        "unit": "Bps",
    },
    {
        "title": "Cache hit ratio",
        # `or ... * 0`: a cache that never hit has no hit series yet, and shows 0%, not nothing.
        "expr": '(sum by (query_cache_name) (rate(query_cache_lookups_total{query_cache_result="hit"}[5m]))'
        " or sum by (query_cache_name) (rate(query_cache_lookups_total[5m])) * 0)"
        " / sum by (query_cache_name) (rate(query_cache_lookups_total[5m]))",
        "unit": "percentunit",
    },
    {
        "title": "Optimizer cost reduction (median)",
        "expr": "histogram_quantile(0.5, sum by (le) (rate(query_cost_reduction_bucket[15m])))",
        "unit": "percentunit",
    },
    {
        "title": "Fragment latency p99",
        "expr": "histogram_quantile(0.99, sum by (le) (rate(query_fragment_duration_seconds_bucket[5m])))",
        "unit": "s",
    },
    {
        "title": "Worker health (0 healthy, 1 degraded, 2 critical)",
        "expr": f"max by (job, query_worker_id) ({WORKER_HEALTH})",
        "unit": "short",
    },
    {
        "title": "Fragment latency p99 by worker",
        "expr": "histogram_quantile(0.99, sum by (le, query_worker_id) "
        "(rate(query_worker_fragment_duration_seconds_bucket[5m])))",
        "unit": "s",
    },
    {
        "title": "Rows read per second by worker",
        "expr": "sum by (query_worker_id) (rate(query_worker_rows_read_total[1m]))",
        "unit": "rowsps",
    },
    {
        "title": "Returned rows per query (p90)",
        "expr": "histogram_quantile(0.9, sum by (le, db_operation_name) "
        "(rate(query_response_returned_rows_bucket[5m])))",
        "unit": "short",
    },
)

_WORKER_COUNT = "query_worker_fragment_duration_seconds_count"
#: One series per worker per job: two engines (jobs) may both number their workers w1, w2.
_BY_WORKER = "job, query_worker_id"
_WORKER_ERROR_RATIO = (
    f'(sum by ({_BY_WORKER}) (rate({_WORKER_COUNT}{{error_type!=""}}[5m]))'
    f" or sum by ({_BY_WORKER}) (rate({_WORKER_COUNT}[5m])) * 0)"
    f" / sum by ({_BY_WORKER}) (rate({_WORKER_COUNT}[5m]))"
)
_WORKER_P99 = (
    f"histogram_quantile(0.99, sum by (le, {_BY_WORKER}) "
    "(rate(query_worker_fragment_duration_seconds_bucket[5m])))"
)

#: Prometheus recording rules (`record`, `expr`), rendered into the stack's rule files.
#: The health state is the worse of two levels: by error ratio and by p99 latency.
RECORDING_RULES: Final = (
    {"record": "query:worker_error_ratio:rate5m", "expr": _WORKER_ERROR_RATIO},
    {"record": "query:worker_fragment_p99:rate5m", "expr": _WORKER_P99},
    {
        "record": WORKER_HEALTH,
        "expr": (
            f"(query:worker_error_ratio:rate5m > bool {WORKER_DEGRADED_ERROR_RATIO})"
            f" + (query:worker_error_ratio:rate5m > bool {WORKER_CRITICAL_ERROR_RATIO})"
            f" >= (query:worker_fragment_p99:rate5m > bool {WORKER_DEGRADED_P99_SECONDS})"
            f" + (query:worker_fragment_p99:rate5m > bool {WORKER_CRITICAL_P99_SECONDS})"
            f" or (query:worker_fragment_p99:rate5m > bool {WORKER_DEGRADED_P99_SECONDS})"
            f" + (query:worker_fragment_p99:rate5m > bool {WORKER_CRITICAL_P99_SECONDS})"
        ),
    },
)
