"""examples/btree.py end to end: its range report as a trace in Jaeger, the B+tree
catalogue's metrics in Prometheus matching what the example printed."""

from __future__ import annotations

import re

import pytest
from _backends import Jaeger, Prometheus, Trace, span_parent_id, span_tags
from _examples import ExampleRun, check_catalogue_metrics

from obskit import btree
from obskit.btree import _names as names

SERVICE, INDEX = "btree-example", "users_pk"  # what btree.py configures and names
EXERCISED = {names.OPERATION_DURATION, names.NODE_SPLITS, names.NODE_MERGES, names.PAGE_READS,
             names.PAGE_WRITES, names.DEPTH, names.NODE_COUNT, names.KEY_COUNT}  # fmt: skip
SUMMARY = re.compile(
    r"keys=(?P<keys>\d+) depth=(?P<depth>\d+) nodes=(?P<nodes>\d+); "
    r"ran (?P<get>\d+) gets, (?P<put>\d+) puts, (?P<delete>\d+) deletes"
)


@pytest.fixture(scope="module")
def btree_run(
    jaeger: Jaeger, prometheus: Prometheus, tmp_path_factory: pytest.TempPathFactory
) -> ExampleRun:
    workdir = tmp_path_factory.mktemp("btree")
    args = ("--keys", "2000", "--ops", "4000")
    with ExampleRun("btree.py", jaeger, prometheus, workdir, *args) as run:
        assert run.wait_exit() == 0, run.output
    return run


def _summary(run: ExampleRun) -> dict[str, int]:
    found = SUMMARY.search(run.output)
    assert found, run.output
    return {key: int(value) for key, value in found.groupdict().items()}


def test_range_report_trace(btree_run: ExampleRun, jaeger: Jaeger) -> None:
    def report(traces: list[Trace]) -> list[Trace]:
        return [t for t in traces if any(s["operationName"] == "range.report" for s in t["spans"])]

    (trace,) = report(btree_run.traces(jaeger, SERVICE, lambda found: len(report(found)) == 1))
    (root,) = [s for s in trace["spans"] if span_parent_id(s) is None]
    scans = [s for s in trace["spans"] if s["operationName"] == f"{names.SPAN_PREFIX}scan"]
    assert len(scans) == 3
    for scan in scans:
        assert span_parent_id(scan) == root["spanID"]
        tags = span_tags(scan)
        assert tags[names.INDEX] == INDEX
        assert tags[names.SCAN_RETURNED_KEYS] > 0
        assert tags[names.PAGES_VISITED] > 0


def test_btree_metrics_in_prometheus_match_the_tree(
    btree_run: ExampleRun, prometheus: Prometheus
) -> None:
    exercised = check_catalogue_metrics(prometheus, btree_run.job, btree.CATALOGUE)
    assert exercised >= EXERCISED, sorted(EXERCISED - exercised)
    summary = _summary(btree_run)
    selector = f'job="{btree_run.job}", btree_index="{INDEX}"'

    def last(metric: str, by: str = "") -> dict[str, float]:
        found = prometheus.query(
            f"sum by ({by}) (last_over_time({metric}{{{selector}}}[10m]))"
        )  # fmt: skip
        return {s["metric"].get(by, ""): float(s["value"][1]) for s in found}

    assert last("btree_key_count") == {"": summary["keys"]}
    assert last("btree_depth") == {"": summary["depth"]}
    assert last("btree_node_count") == {"": summary["nodes"]}
    operations = last("btree_operation_duration_seconds_count", "btree_operation_name")
    for operation in ("get", "put", "delete"):  # every operation is counted, sampled or not
        assert operations.get(operation, 0) >= summary[operation], operations
    assert last("btree_node_splits_total"), "splits are counted per index"
    # Per level: the tree grew from one leaf, so every level below the root split at least
    # once (the root of a depth-d tree came from a split at level d - 2).
    levels = last("btree_node_splits_total", "btree_node_level")
    assert set(levels) == {str(level) for level in range(summary["depth"] - 1)}, levels
    assert levels["0"] == max(levels.values()), "leaves split most"
    merges = last("btree_node_merges_total", "btree_node_level")
    assert merges, "deletes merge nodes"
    assert set(merges) <= set(levels), merges
    assert last("btree_page_reads_total", "btree_page_source").keys() == {"cache", "disk"}
