"""The shipped dashboards and alert rules work on real data: every panel query and every
alert expression runs against a real Prometheus that scraped all four domain examples.

The examples finish within a few scrapes, so many rates are 0 and ratios 0/0 (NaN): a
panel passes when its query returns series over the run (its metric names, labels and
functions fit what obskit emits), not when its values are interesting. Alerts are checked
the same way (every rule evaluates without error, every series it reads exists), and
whether each one fired during the run is compared with what the test expects.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _backends import Jaeger, Prometheus, poll
from _examples import REPO, ExampleRun

from obskit._tools import dashboards as _dashboards
from obskit._tools import promql as _promql
from obskit._tools import recording as _recording

#: The collector tier's dashboard and alerts read the collectors' own metrics, not the
#: examples': tests/integration/test_fleet.py checks them on a real tier.
COLLECTOR_TIER = f"obskit-{_dashboards.COLLECTOR_TIER}"
DASHBOARDS = sorted(path for path in (REPO / _dashboards.DASHBOARD_DIR).glob("*.json")
                    if path.stem != COLLECTOR_TIER)  # fmt: skip
RULES = REPO / _dashboards.RULES_FILE
RECORDING = REPO / _recording.RECORDING_FILE
#: (script, args, extra environment): small runs of the four domain examples.
EXAMPLE_RUNS = (
    ("btree.py", ("--keys", "2000", "--ops", "4000"), {}),
    ("raft.py", (), {"RAFT_EXAMPLE_WRITES": "40"}),
    ("query.py", ("--workers", "2"), {}),
    ("pipeline.py", (), {"PIPELINE_EXAMPLE_LINES": "5000", "PIPELINE_SAMPLE_RATIO": "0.01"}),
)
#: Panel queries (dashboard uid, panel title, query index) that may return nothing while
#: the examples run, and why. A counter exists only once something was counted.
QUIET_PANELS: dict[tuple[str, str, int], str] = {
    ("obskit-btree", "Errors per second", 0): "no operation of btree.py's workload fails",
    ("obskit-raft", "Proposals committed / failed", 1): "no proposal fails in raft.py",
}
#: Alerts reading series that may not exist in a healthy run, and why.
QUIET_ALERTS: dict[str, str] = {
    "RaftProposalFailures": "no proposal fails in raft.py, so the failure counter never appears",
}
#: Alerts that fire (Prometheus' own ALERTS series, `for:` respected) in a normal run.
FIRING_ALERTS: dict[str, str] = {}
#: Alerts whose expression may hold for a moment (shorter than the rule's `for:`), and why.
MAY_BE_PENDING: dict[str, str] = {
    "RaftNoLeader": "raft.py stops its leader; until the survivors elect the next one "
    "(well under the rule's 1m) they know no leader",
    "RaftSplitLeaderView": "during that re-election one survivor may already follow the "
    "new leader while the other still names the old one (well under the rule's 1m)",
}


@pytest.fixture(scope="module")
def ruled_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A Prometheus of this module's own, evaluating the shipped alert rules every second."""
    binary = Prometheus.find_binary()
    if binary is None:
        pytest.skip("no prometheus binary: run `bash .ci/install-backends.sh`")
    workdir = tmp_path_factory.mktemp("ruled-prometheus")
    with Prometheus(workdir, binary=binary, rule_files=[RULES, RECORDING]) as backend:
        yield backend


@pytest.fixture(scope="module")
def runs(
    jaeger: Jaeger, ruled_prometheus: Prometheus, tmp_path_factory: pytest.TempPathFactory
) -> list[ExampleRun]:
    """All four domain examples, run at once with runtime metrics on, scraped to the end."""
    workdir = tmp_path_factory.mktemp("dashboards")
    missing = [script for script, _, _ in EXAMPLE_RUNS if not (REPO / "examples" / script).exists()]
    assert not missing, f"examples not written yet: {missing}"
    runs = [
        ExampleRun(script, jaeger, ruled_prometheus, workdir, *args,
                   env={"OBSKIT_RUNTIME": "true", **env})
        for script, args, env in EXAMPLE_RUNS
    ]  # fmt: skip
    # raft.py picks its nodes' ports free and then releases them: it runs alone, so the
    # others' port-0 Prometheus endpoints cannot take one of those ports in between.
    for batch in ([r for r in runs if r.script.name == "raft.py"],
                  [r for r in runs if r.script.name != "raft.py"]):  # fmt: skip
        for run in batch:
            run.__enter__()
        try:
            for run in batch:
                assert run.wait_exit() == 0, run.output
        finally:
            for run in batch:
                run.stop(check=False)
    started = runs
    return started


def _range(prometheus: Prometheus, runs: list[ExampleRun], promql: str) -> list[Any]:
    """`promql` over the whole time the examples ran, one point a second."""
    start = min(run.started for run in runs) - 1
    end = max(run.ended for run in runs) + 2
    result: list[Any] = prometheus._api(
        "query_range", query=promql, start=str(start), end=str(end), step="1s"
    )["result"]
    return result


def _panel_queries() -> list[tuple[tuple[str, str, int], str]]:
    queries = []
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        for panel in board["panels"]:
            for index, target in enumerate(panel.get("targets", [])):
                queries.append(((board["uid"], panel["title"], index), target["expr"]))
    return queries


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    tier = f"obskit.{_dashboards.COLLECTOR_TIER}"
    return [rule for group in groups if group["name"] != tier for rule in group["rules"]]


def test_every_panel_query_returns_data(
    runs: list[ExampleRun], ruled_prometheus: Prometheus
) -> None:
    queries = _panel_queries()
    assert len({key[0] for key, _ in queries}) == len(_dashboards.DASHBOARD_DOMAINS)
    empty = []
    for key, expr in queries:
        result = _range(ruled_prometheus, runs, _promql.as_promql(expr))
        if not result and key not in QUIET_PANELS:
            empty.append(f"{key}: {expr}")
        if result and key in QUIET_PANELS:
            empty.append(f"{key} returns data now: drop it from QUIET_PANELS")
    assert not empty, "panels with no data:\n" + "\n".join(empty)


def test_every_series_an_alert_reads_exists(
    runs: list[ExampleRun], ruled_prometheus: Prometheus
) -> None:
    problems = []
    for rule in (r for r in _rules() if r["alert"] not in QUIET_ALERTS):
        for metric in sorted(_promql.metric_names(rule["expr"])):
            if not _range(ruled_prometheus, runs, f"count({metric})"):
                problems.append(f"{rule['alert']}: no series {metric}")
    alerts = {alert.expr: alert for _, group in _dashboards.all_alerts() for alert in group}
    for rule in (r for r in _rules() if r["alert"] not in QUIET_ALERTS):
        alert = alerts[rule["expr"]]
        if alert.condition and not _range(ruled_prometheus, runs, alert.signal):
            problems.append(f"{rule['alert']}: its signal {alert.signal} returns nothing")
    assert not problems, "\n".join(problems)


def test_alerts_fire_only_where_expected(
    runs: list[ExampleRun], ruled_prometheus: Prometheus
) -> None:
    firing = _range(ruled_prometheus, runs, 'ALERTS{alertstate="firing"}')
    assert {s["metric"]["alertname"] for s in firing} == set(FIRING_ALERTS)
    held = {rule["alert"] for rule in _rules() if _range(ruled_prometheus, runs, rule["expr"])}
    unexpected = held - set(FIRING_ALERTS) - set(MAY_BE_PENDING)
    assert not unexpected, f"alert expressions true during a healthy run: {sorted(unexpected)}"


def test_prometheus_evaluates_every_rule_without_error(
    runs: list[ExampleRun], ruled_prometheus: Prometheus
) -> None:
    every = yaml.safe_load(RULES.read_text())["groups"]
    names = {rule["alert"] for group in every for rule in group["rules"]}

    def evaluated() -> list[dict[str, Any]]:
        groups = ruled_prometheus._api("rules", type="alert")["groups"]
        return [rule for group in groups for rule in group["rules"]]

    rules = poll(evaluated, lambda found: {r["name"] for r in found} == names
                 and all(r["health"] != "unknown" for r in found),
                 timeout=30, what="every alert rule evaluated")  # fmt: skip
    broken = [
        f"{r['name']}: {r['health']} {r.get('lastError')}" for r in rules if r["health"] != "ok"
    ]
    assert not broken, "\n".join(broken)
    assert Path(RULES).read_text().count("summary:") == len(names)
