"""obskit.btree's Grafana panels, as data: what `./dev dashboards` renders for the domain.

Examples:
    >>> from obskit.btree._dashboards import PANELS
    >>> PANELS[0]["title"]
    'Operation latency p99 by index'
"""

from __future__ import annotations

from typing import Final

__all__ = ["PANELS"]

#: Grafana panels fed by these metrics (title, PromQL, unit), for the dashboards.
PANELS: Final = (
    {
        "title": "Operation latency p99 by index",
        "expr": "histogram_quantile(0.99, sum by (le, btree_index, btree_operation_name) "
        "(rate(btree_operation_duration_seconds_bucket[1m])))",
        "unit": "s",
    },
    {
        "title": "Operations per second",
        "expr": "sum by (btree_index, btree_operation_name) "
        "(rate(btree_operation_duration_seconds_count[1m]))",
        "unit": "ops",
    },
    {
        "title": "Lookup hit ratio",
        "expr": 'sum by (btree_index) (rate(btree_operation_duration_seconds_count{btree_outcome="hit"}[5m]))'
        ' / sum by (btree_index) (rate(btree_operation_duration_seconds_count{btree_outcome=~"hit|miss"}[5m]))',
        "unit": "percentunit",
    },
    {
        "title": "Errors per second",
        "expr": "sum by (btree_index, error_type) "
        '(rate(btree_operation_duration_seconds_count{btree_outcome="error"}[1m]))',
        "unit": "ops",
    },
    {
        "title": "Splits per second",
        "expr": "sum by (btree_index, btree_node_type) (rate(btree_node_splits_total[1m]))",
        "unit": "ops",
    },
    {
        "title": "Merges per second",
        "expr": "sum by (btree_index, btree_node_type) (rate(btree_node_merges_total[1m]))",
        "unit": "ops",
    },
    {
        "title": "Splits and merges per second by level",
        "expr": "sum by (btree_node_level) (rate(btree_node_splits_total[1m]))",
        "extra": ["sum by (btree_node_level) (rate(btree_node_merges_total[1m]))"],
        "unit": "ops",
    },
    {
        "title": "Page cache hit ratio",
        # `or ... * 0`: an index that never hit the cache has no cache series yet: 0%, not nothing.
        "expr": '(sum by (btree_index) (rate(btree_page_reads_total{btree_page_source="cache"}[5m]))'
        " or sum by (btree_index) (rate(btree_page_reads_total[5m])) * 0)"
        " / sum by (btree_index) (rate(btree_page_reads_total[5m]))",
        "unit": "percentunit",
    },
    {"title": "Tree depth", "expr": "max by (btree_index) (btree_depth)", "unit": "short"},
    {"title": "Nodes", "expr": "sum by (btree_index) (btree_node_count)", "unit": "short"},
    {"title": "Keys", "expr": "sum by (btree_index) (btree_key_count)", "unit": "short"},
)
