"""examples/demo.py end to end: its traces in Jaeger over both OTLP protocols, its
metrics scraped by Prometheus under their translated names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _backends import Jaeger, Prometheus, Trace, span_parent_id, span_tags
from _examples import ExampleRun

SERVICE = "kv-demo"  # what demo.py passes to obskit.configure
ROOTS = {"load", "read", "replicate"}


def _by_root(traces: list[Trace]) -> dict[str, Trace]:
    roots = {}
    for trace in traces:
        for span in trace["spans"]:
            if span_parent_id(span) is None:
                roots[span["operationName"]] = trace
    return roots


def _names(trace: Trace) -> list[str]:
    return sorted(span["operationName"] for span in trace["spans"])


def _last(prometheus: Prometheus, selector: str) -> list[dict[str, Any]]:
    """The last value of each series (the example has exited: its series are stale)."""
    return prometheus.query(f"last_over_time({selector}[10m])")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_demo_traces_and_metrics_arrive(
    jaeger: Jaeger, prometheus: Prometheus, tmp_path: Path, protocol: str
) -> None:
    with ExampleRun("demo.py", jaeger, prometheus, tmp_path, protocol=protocol) as run:
        assert run.wait_exit() == 0, run.output
    assert "scanned 6 keys, 3 replicas acked" in run.output
    (process,) = run.processes()
    assert process["service"] == SERVICE

    traces = run.traces(jaeger, SERVICE, lambda found: set(_by_root(found)) >= ROOTS)
    roots = _by_root(traces)
    load = roots["load"]
    assert _names(load) == ["kv.flush", *["kv.put"] * 6, "load"]
    flush = next(s for s in load["spans"] if s["operationName"] == "kv.flush")
    parent = next(s for s in load["spans"] if s["spanID"] == span_parent_id(flush))
    assert parent["operationName"] == "kv.put"  # the 4th put flushed the memtable
    assert span_tags(flush)["kv.flush.keys"] == 4
    assert _names(roots["replicate"]).count("kv.replicate.send") == 3
    read = roots["read"]
    missing = [s for s in read["spans"] if span_tags(s).get("code.arg.key") == "user:404"]
    assert len(missing) == 1
    assert span_tags(missing[0]).get("otel.status_code") != "ERROR"  # KeyError was expected

    job = f'job="{run.job}"'
    writes = _last(prometheus, f"kv_writes_total{{{job}}}")
    assert [float(s["value"][1]) for s in writes] == [6.0]
    assert writes[0]["metric"]["kv_store"] == "users"
    puts = _last(
        prometheus, f'kv_operation_duration_seconds_count{{{job}, code_function_name="kv.put"}}'
    )
    assert [(s["metric"]["outcome"], float(s["value"][1])) for s in puts] == [("ok", 6.0)]
    wal = _last(prometheus, f'kv_wal_append_size_bytes_bucket{{{job}, le="+Inf"}}')
    assert [float(s["value"][1]) for s in wal] == [6.0]
    # obskit's own health: every span Jaeger holds was counted as exported, none dropped.
    exported = _last(prometheus, f"obskit_spans_exported_total{{{job}}}")
    assert float(exported[0]["value"][1]) == sum(len(t["spans"]) for t in roots.values())
    dropped = _last(prometheus, f"obskit_spans_dropped_total{{{job}}}")
    assert {s["metric"]["reason"] for s in dropped} >= {"queue_full", "export_failed"}
    assert sum(float(s["value"][1]) for s in dropped) == 0
