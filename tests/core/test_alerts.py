"""The latency, saturation and cache alerts: thresholds from one table, names from the
catalogues, and all of them in the generated rule file (tests/integration/test_dashboards.py
runs that file in a real Prometheus)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from obskit._tools import alerts as _alerts
from obskit._tools import dashboards as _dashboards
from obskit._tools.promql import metric_names

LATENCY = {
    "btree": ("BTreeOperationLatencyHigh", "btree_operation_p99_seconds",
              "btree_operation_duration_seconds_bucket"),
    "raft": ("RaftCommitLatencyHigh", "raft_commit_p99_seconds",
             "raft_commit_duration_seconds_bucket"),
    "query": ("QueryLatencyHigh", "query_p99_seconds", "query_duration_seconds_bucket"),
    "pipeline": ("PipelineStepLatencyHigh", "pipeline_step_p99_seconds",
                 "pipeline_processing_duration_seconds_bucket"),
}  # fmt: skip


def _rules() -> dict[str, dict[str, Any]]:
    text = _dashboards.render_rules()[_dashboards.RULES_FILE]
    groups = yaml.safe_load(text)["groups"]
    return {rule["alert"]: rule | {"group": group["name"]} for group in groups
            for rule in group["rules"]}  # fmt: skip


@pytest.mark.parametrize("domain", sorted(LATENCY))
def test_each_domain_has_a_p99_alert_with_its_threshold(domain: str) -> None:
    name, key, bucket = LATENCY[domain]
    rule = _rules()[name]

    assert rule["group"] == f"obskit.{domain}"
    assert rule["expr"].startswith("histogram_quantile(0.99, ")
    assert rule["expr"].endswith(f"> {_alerts.THRESHOLDS[key]:g}")
    assert metric_names(rule["expr"]) == {bucket}
    assert rule["for"] == "10m"


def test_a_threshold_changed_in_the_table_changes_the_rule(monkeypatch) -> None:
    monkeypatch.setitem(_alerts.THRESHOLDS, "raft_commit_p99_seconds", 0.25)
    assert _rules()["RaftCommitLatencyHigh"]["expr"].endswith("> 0.25")


def test_saturation_alerts_divide_use_by_the_exported_limits() -> None:
    rules = _rules()
    cpu, memory = rules["ProcessCpuSaturated"], rules["ProcessMemoryNearLimit"]

    assert cpu["group"] == memory["group"] == "obskit.runtime"
    assert metric_names(cpu["expr"]) == {"process_cpu_time_seconds_total",
                                         "obskit_runtime_cpu_limit"}  # fmt: skip
    assert metric_names(memory["expr"]) == {"process_memory_usage_bytes",
                                            "obskit_runtime_memory_limit_bytes"}  # fmt: skip
    assert cpu["expr"].endswith("> 0.9")
    assert memory["expr"].endswith("> 0.9")


def test_cache_hit_ratio_alerts_fire_below_half() -> None:
    rules = _rules()
    for name, hit in (("BTreeCacheHitRatioLow", 'btree_page_source="cache"'),
                      ("QueryCacheHitRatioLow", 'query_cache_result="hit"')):  # fmt: skip
        assert hit in rules[name]["expr"]
        assert rules[name]["expr"].endswith("< 0.5")


def test_saturation_panels_join_the_runtime_row() -> None:
    rows = dict(_dashboards._rows("raft", "Raft"))
    titles = [panel.title for panel in rows["Process runtime (obskit.runtime)"]]
    assert titles[-2:] == ["CPU used / CPUs available", "Memory used / memory limit"]


def test_descriptions_read_as_sentences() -> None:
    """The latency alerts' advice is a sentence of its own, not glued to a "Check"."""
    rules = _rules()
    for name, _, _ in LATENCY.values():
        advice = rules[name]["annotations"]["description"].split("THRESHOLDS). ", 1)[1]
        assert advice[0].isupper(), (name, advice)
    glued = re.compile(r"\bCheck (?:compare|look|check)\b|\bCheck [\w.]+ (?:says|shows)\b")
    for name, rule in rules.items():
        assert not glued.search(rule["annotations"]["description"]), name


def test_cache_alerts_count_a_missing_hit_series_as_no_hits() -> None:
    """Until the first hit there is no hit series: the ratio falls back to reads * 0."""
    for name in ("BTreeCacheHitRatioLow", "QueryCacheHitRatioLow"):
        signal = _rules()[name]["expr"].rsplit(" < ", 1)[0]
        hits, reads = signal.split(" or ", 1)
        assert hits.startswith("(sum by (job, ")
        assert reads.split(" * 0) / ")[0] == reads.split(" * 0) / ")[1], name
