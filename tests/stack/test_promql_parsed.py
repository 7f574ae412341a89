"""Every PromQL expression obskit ships is read by a real PromQL parser (promql-parser).

Dashboards' panel queries (Grafana variables replaced), alert rules, their signals, and
recording rules: each must parse, and the parser is what the tests and the generator use
to find the metrics an expression reads. tests/integration/test_dashboards.py then
evaluates the same expressions in a real Prometheus.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from _stack import STACK

from obskit._domain import dashboards as _panels
from obskit._tools import collector_tier as _collector_tier
from obskit._tools import dashboards as _dashboards
from obskit._tools import grafana as _grafana
from obskit._tools import promql as _promql

RULES = sorted((STACK / "prometheus" / "rules").glob("*.yml"))
BOARDS = sorted((STACK / "grafana" / "dashboards").glob("*.json"))


def _shipped_expressions() -> list[tuple[str, str]]:
    found = []
    for path in BOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.append((f"{path.name}: {panel['title']}", _promql.as_promql(target["expr"])))
    for path in RULES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                found.append((f"{path.name}: {rule.get('alert') or rule['record']}", rule["expr"]))
    return found


EXPRESSIONS = _shipped_expressions()


def test_the_shipped_files_hold_expressions():
    assert len(RULES) == 2
    # one dashboard per domain, and the fleet's collector tier's (docs/fleet.md)
    domains = [domain for domain, _ in _dashboards.DASHBOARD_DOMAINS]
    expected = {f"obskit-{name}.json" for name in (*domains, _dashboards.COLLECTOR_TIER)}
    assert {path.name for path in BOARDS} == expected
    assert len(EXPRESSIONS) > 100
    tier = [where for where, _ in EXPRESSIONS if where.startswith("obskit-collector-tier.json")]
    assert len(tier) >= len(_collector_tier.PANELS)  # the tier's panels are parsed too


@pytest.mark.parametrize(("where", "expr"), EXPRESSIONS, ids=[w for w, _ in EXPRESSIONS])
def test_every_shipped_expression_parses(where: str, expr: str):
    tree = _promql.parse(expr)
    assert _promql.metric_names(expr), f"{where} reads no metric"
    assert str(tree)  # the parser can print it back


def test_every_alert_splits_into_a_signal_that_parses():
    alerts = [alert for _, group in _dashboards.all_alerts() for alert in group]
    assert len(alerts) >= 20
    for alert in alerts:
        assert alert.expr == f"{alert.signal} {alert.condition}".strip()
        _promql.parse(alert.signal)
        if alert.condition:
            assert _promql.split_condition(alert.expr) == (alert.signal, alert.condition)


def test_metric_names_reads_the_syntax_not_the_spelling():
    expr = ('sum by (le, job) (rate(a_bucket{path="/x{y}", job=~"$job"}[5m])) '
            '/ on (job) group_left (instance) b_total offset 5m '
            'or label_replace(c, "dst", "$1", "src", "(.*)") '
            'or {__name__="d", by="on"} unless absent(e @ 100)')  # fmt: skip
    assert _promql.metric_names(_promql.as_promql(expr)) == {"a_bucket", "b_total", "c", "d", "e"}


def test_split_condition_finds_the_top_level_comparison():
    cases = {
        "x > 0.5": ("x", "> 0.5"),
        "sum(rate(x[5m])) >= 1e3": ("sum(rate(x[5m]))", ">= 1e3"),
        '(a{l=">"} or b * 0) / c < 0.5': ('(a{l=">"} or b * 0) / c', "< 0.5"),
        "a > 1 and b < 2": ("a > 1 and b < 2", ""),
        "a > bool 1": ("a > bool 1", ""),
        "a > b": ("a > b", ""),
        "(a > 1)": ("(a > 1)", ""),
    }
    for expr, expected in cases.items():
        assert _promql.split_condition(expr) == expected, expr


def test_an_expression_that_is_not_promql_is_named():
    with pytest.raises(ValueError, match=re.escape("not PromQL: 'sum(x'")):
        _promql.parse("sum(x")


def test_a_panel_of_an_unknown_type_is_refused():
    with pytest.raises(ValueError, match="type must be timeseries, stat or table"):
        _grafana.grafana_dashboard("d", "D", [("Row", [_panels.Panel("P", ("up",), type="graph")])])
