"""examples/pipeline.py run for real: counts balance, journeys arrive over OTLP."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pipeline.py"
PROCESSORS = ("reader", "parse", "error_filter", "warn_filter", "info_filter", "counters", "sink")

pytestmark = pytest.mark.slow


def _run(env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, str(EXAMPLE)], env=env, cwd=ROOT, text=True,
                            capture_output=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("OBSKIT_", "OTEL_"))}


def test_default_run_balances_every_processor() -> None:
    out = _run(_clean_env())
    assert "100,000 lines in" in out
    for name in PROCESSORS:
        (row,) = [line for line in out.splitlines() if line.startswith(f"{name} ")]
        assert row.endswith("in = out + dropped + errors"), row
    assert re.search(r"dead letters: [1-9]\d*", out)
    assert "one journey, trace " in out
    assert "pipeline.records.in{pipeline.name=logs,pipeline.processor=parse}  100000" in out


def test_journeys_and_counts_reach_the_collector(obskit_collector) -> None:
    env = {**_clean_env(), **obskit_collector.env, "PIPELINE_EXAMPLE_LINES": "20000",
           "PIPELINE_SAMPLE_RATIO": "0.005"}  # fmt: skip
    _run(env)
    point = obskit_collector.wait_for_metric(
        "pipeline.records.in", {"pipeline.processor": "parse"}, until=lambda p: p.value == 20000
    )
    assert point.attributes["pipeline.name"] == "logs"
    counted = obskit_collector.wait_for("pipeline.process", {"pipeline.processor": "counters"})
    by_id = {s.context.span_id: s for s in obskit_collector.spans}
    path, span = [], counted[0]
    while span is not None:
        path.append(span.attributes["pipeline.processor"])
        span = by_id.get(span.parent.span_id) if span.parent else None
    assert path[0] == "counters"
    assert path[-2:] == ["parse", "reader"]
    assert path[1].endswith("_filter")
    sinks = obskit_collector.find("pipeline.process", {"pipeline.processor": "sink"})
    linked = {link.context.span_id for s in sinks for link in s.links}
    everything_counted = obskit_collector.find(
        "pipeline.process", {"pipeline.processor": "counters"}
    )
    assert {s.context.span_id for s in everything_counted} <= linked  # batches link each record
    assert all(s.attributes["pipeline.batch.record_count"] > 0 for s in sinks)
