"""R8: memory is bounded in bytes, and truncation does not flood the logs."""

from __future__ import annotations

import pytest
from _harness import record_figure, run_scenario

pytestmark = pytest.mark.reliability

MIB = 1024 * 1024


def test_large_attributes_keep_memory_and_logs_bounded(protocol: str, down_endpoint: str) -> None:
    # 5,000 spans with a 100 KB attribute each, half through a plain OTel tracer (which
    # obskit's sanitiser does not see: the SDK span limits obskit sets cap those).
    result = run_scenario(
        "membound", {"endpoint": down_endpoint, "protocol": protocol, "n": 5000}
    ).result
    record_figure(
        f"R8 {protocol}",
        f"RSS +{result['rss_growth'] / MIB:.1f} MiB; {result['truncation_logs']} truncation "
        f"log lines, {result['logs']} in total",
    )
    assert result["rss_growth"] <= 64 * MIB
    assert result["truncation_logs"] <= 10, result["log_lines"]
    assert result["logs"] <= 20, result["log_lines"]
