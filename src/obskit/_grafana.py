"""Panels and alerts as data, and the Grafana dashboard JSON and PromQL made from them.

obskit._dashboards fills these with each domain's `PANELS` and `ALERTS` and writes the
files under examples/stack/.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

#: Datasource uids the provisioning files declare and every dashboard refers to.
PROMETHEUS_UID: Final = "obskit-prometheus"
JAEGER_UID: Final = "obskit-jaeger"


_SCHEMA_VERSION: Final = 39  # Grafana 11 dashboard JSON
_PANEL_WIDTH, _PANEL_HEIGHT = 12, 8  # two panels side by side on Grafana's 24-column grid
#: A set operator or a second comparison: the expression is not "signal op number".
_COMPOUND = re.compile(r"\b(?:and|or|unless)\b|==|!=|>=|<=|[<>]")
_COMPARISON = re.compile(r"^(?P<signal>.+?)\s*(?P<op>==|!=|>=|<=|>|<)\s*(?P<value>[-+.\w]+)$", re.S)


@dataclass(frozen=True)
class Panel:
    """One Grafana panel: a title and its PromQL queries (the first is the main one).

    Examples:
        >>> Panel("Leader present", ("min(raft_leader_present)",), type="stat").type
        'stat'
    """

    title: str
    exprs: tuple[str, ...]
    unit: str = "none"
    type: str = "timeseries"
    description: str = ""
    #: Grafana legendFormat per query ("" lets Grafana choose).
    legends: tuple[str, ...] = ()

    @classmethod
    def of(cls, data: Panel | Mapping[str, Any]) -> Panel:
        """A Panel from a domain's `PANELS` entry.

        Accepted shapes: a Panel; a dict with `title`, `expr` (and optional `extra`
        queries, `legend`, `unit`, `type`, `description`); or a dict with `targets`, a
        list of `{"expr", "legend"}`.

        Examples:
            >>> Panel.of({"title": "T", "expr": "up", "extra": ["up > 0"]}).exprs
            ('up', 'up > 0')
        """
        if isinstance(data, Panel):
            return data
        if "targets" in data:
            targets = [(str(t["expr"]), str(t.get("legend", ""))) for t in data["targets"]]
        else:
            exprs = [str(data["expr"]), *(str(e) for e in data.get("extra", ()))]
            targets = [
                (e, str(data.get("legend", "")) if i == 0 else "") for i, e in enumerate(exprs)
            ]
        return cls(
            title=str(data["title"]),
            exprs=tuple(expr for expr, _ in targets),
            unit=str(data.get("unit", "none")),
            type=str(data.get("type", "timeseries")),
            description=str(data.get("description", "")),
            legends=tuple(legend for _, legend in targets),
        )


@dataclass(frozen=True)
class Alert:
    """A Prometheus alerting rule: `signal` compared by `condition` (e.g. "> 0").

    The signal alone is what a test runs to prove the rule reads real series; the full
    `expr` is what fires.

    Examples:
        >>> Alert("Dropped", "sum(x)", "> 0", "Spans dropped", "Some spans were lost").expr
        'sum(x) > 0'
    """

    name: str
    signal: str
    condition: str
    summary: str
    description: str
    duration: str = "0m"
    severity: str = "warning"

    @property
    def expr(self) -> str:
        """The rule's PromQL expression."""
        return f"{self.signal} {self.condition}".strip()

    @classmethod
    def of(cls, data: Alert | Mapping[str, Any], describe: Mapping[str, str]) -> Alert:
        """An Alert from a domain's `ALERTS` entry; `describe` fills a missing description.

        Examples:
            >>> Alert.of({"alert": "A", "expr": "x == 0", "summary": "s"}, {"A": "d"}).condition
            '== 0'
        """
        if isinstance(data, Alert):
            return data
        name = str(data.get("alert") or data["name"])
        expr = str(data["expr"]).strip()
        match = _COMPARISON.match(expr)
        if match and not _COMPOUND.search(match["signal"]):
            signal, condition = match["signal"], f"{match['op']} {match['value']}"
        else:  # e.g. "a == 0 and b > 0": no one signal to show, the whole is the rule
            signal, condition = expr, ""
        summary = str(data.get("summary", name))
        return cls(
            name=name,
            signal=signal,
            condition=condition,
            summary=summary,
            description=str(data.get("description") or describe.get(name) or summary),
            duration=str(data.get("for", "0m")),
            severity=str(data.get("severity", "warning")),
        )


_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"' + r"|'(?:[^'\\]|\\.)*'")
_BLOCKS = re.compile(r"\{[^}]*\}|\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*(?![\w:])(?!\s*\()")
_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without",
             "on", "ignoring", "group_left", "group_right"}  # fmt: skip


def metric_names(promql: str) -> set[str]:
    """The metric names a PromQL expression selects (a lexer's view, no full parser).

    Examples:
        >>> sorted(metric_names('sum by (a) (rate(x_total{b="c"}[5m])) / on(a) y'))
        ['x_total', 'y']
    """
    text = _STRINGS.sub('""', promql)
    text = _GROUPING.sub(" ", _BLOCKS.sub(" ", text))
    return {name for name in _IDENTIFIER.findall(text) if name not in _KEYWORDS}


# `$job`: panels may filter on it ({job=~"$job"}); "All" matches every scrape job.
_JOB_VARIABLE: Final = {
    "name": "job", "label": "Job", "type": "query", "datasource": {"type": "prometheus",
    "uid": PROMETHEUS_UID}, "query": {"query": "label_values(target_info, job)",
    "refId": "job"}, "definition": "label_values(target_info, job)", "refresh": 2,
    "multi": True, "includeAll": True, "allValue": ".*",
    "current": {"selected": True, "text": ["All"], "value": ["$__all"]}, "sort": 1,
}  # fmt: skip


def as_promql(expr: str, job: str = ".*", rate_interval: str = "1m") -> str:
    """A panel query with Grafana's variables replaced, ready for Prometheus' query API.

    Examples:
        >>> as_promql('rate(x{job=~"$job"}[$__rate_interval])')
        'rate(x{job=~".*"}[1m])'
    """
    expr = expr.replace("$__rate_interval", rate_interval).replace(
        "${__rate_interval}", rate_interval
    )
    return expr.replace("${job}", job).replace("$job", job)


def _datasource(uid: str = PROMETHEUS_UID) -> dict[str, str]:
    return {"type": "prometheus", "uid": uid}


def _panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    options: dict[str, Any] = {"tooltip": {"mode": "multi", "sort": "desc"},
                               "legend": {"displayMode": "list", "placement": "bottom",
                                          "showLegend": True}}  # fmt: skip
    if panel.type == "stat":
        options = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                   "colorMode": "value", "graphMode": "area", "textMode": "auto"}  # fmt: skip
    return {
        "id": panel_id,
        "type": panel.type,
        "title": panel.title,
        "description": panel.description,
        "datasource": _datasource(),
        "gridPos": {"h": _PANEL_HEIGHT, "w": _PANEL_WIDTH, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": options,
        "targets": [
            {
                "refId": chr(ord("A") + i),
                "datasource": _datasource(),
                "expr": expr,
                "legendFormat": (panel.legends[i : i + 1] or ("",))[0] or "__auto",
                "range": True,
                "instant": False,
                # A latency quantile shows its buckets' exemplars: each links to its trace.
                "exemplar": "histogram_quantile(" in expr and panel.type == "timeseries",
            }
            for i, expr in enumerate(panel.exprs)
        ],
    }


def grafana_dashboard(
    domain: str, title: str, rows: Sequence[tuple[str, Sequence[Panel]]]
) -> dict[str, Any]:
    """A Grafana dashboard (JSON model) with one row per (row title, panels) entry.

    Examples:
        >>> board = grafana_dashboard("demo", "Demo", [("Row", [Panel("P", ("up",))])])
        >>> [p["type"] for p in board["panels"]], board["uid"]
        (['row', 'timeseries'], 'obskit-demo')
    """
    panels: list[dict[str, Any]] = []
    y = 0
    for row_title, row_panels in rows:
        panels.append({"id": len(panels) + 1, "type": "row", "title": row_title,
                       "collapsed": False, "panels": [],
                       "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}})  # fmt: skip
        y += 1
        for index, panel in enumerate(row_panels):
            x = (index % 2) * _PANEL_WIDTH
            panels.append(_panel_json(panel, len(panels) + 1, x, y))
            if x:
                y += _PANEL_HEIGHT
        if len(row_panels) % 2:
            y += _PANEL_HEIGHT
    return {
        "uid": f"obskit-{domain}",
        "title": title,
        "tags": ["obskit", domain],
        "description": f"Generated by `python -m obskit._dashboards` from obskit.{domain}.PANELS",
        "editable": True,
        "schemaVersion": _SCHEMA_VERSION,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-30m", "to": "now"},
        "timezone": "browser",
        "annotations": {"list": []},
        "templating": {"list": [_JOB_VARIABLE]},
        "links": [
            {
                "title": "Traces in Jaeger",
                "type": "link",
                "targetBlank": True,
                "url": "http://localhost:16686/search",
            },
        ],
        "panels": panels,
    }
