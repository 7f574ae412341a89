"""Grafana dashboards and Prometheus alert rules for examples/stack/, generated from code.

Each domain keeps its Grafana panels (PromQL over its catalogue's Prometheus names) and
its alert conditions as data next to its catalogue (`PANELS`, `ALERTS`); this module turns
them into one dashboard per domain (with obskit's self-health and runtime rows) and one
Prometheus rule file, so dashboards and rules cannot drift from the names obskit emits.

    python -m obskit._dashboards            # rewrite the files under examples/stack/
    python -m obskit._dashboards --check    # exit 1 if they are stale

Examples:
    >>> panel = Panel("Queued spans", ("sum(obskit_spans_queued)",))
    >>> grafana_dashboard("demo", "Demo", [("Health", [panel])])["panels"][1]["targets"][0]["expr"]
    'sum(obskit_spans_queued)'
"""

from __future__ import annotations

import importlib
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from obskit import _names, _setup

__all__ = [
    "DASHBOARD_DOMAINS",
    "JAEGER_UID",
    "PROMETHEUS_UID",
    "Alert",
    "Panel",
    "alert_rules",
    "as_promql",
    "domain_alerts",
    "domain_panels",
    "grafana_dashboard",
    "main",
    "metric_names",
    "render_files",
]

#: Datasource uids the provisioning files declare and every dashboard refers to.
PROMETHEUS_UID: Final = "obskit-prometheus"
JAEGER_UID: Final = "obskit-jaeger"
#: One dashboard each, in this order: (domain, dashboard title).
DASHBOARD_DOMAINS: Final = (
    ("btree", "obskit / B+tree"),
    ("raft", "obskit / Raft"),
    ("query", "obskit / Query lifecycle"),
    ("pipeline", "obskit / Pipeline processors"),
)
DASHBOARD_DIR: Final = "examples/stack/grafana/dashboards"
RULES_FILE: Final = "examples/stack/prometheus/rules/obskit-alerts.yml"
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


# Descriptions for domain alerts that ship only a summary: what it means, what to check.
_DESCRIPTIONS: Final = {
    "RaftNoLeader": "Node {{ $labels.raft_node_id }} has known no leader for a minute: the "
    "cluster cannot commit writes. Check that a majority of nodes is up and can reach each "
    "other (raft_peer_last_contact_seconds), and look for raft.election spans in Jaeger.",
    "RaftFrequentLeaderChanges": "{{ $value }} leader changes in 15 minutes: elections keep "
    "interrupting writes. Usual causes are an election timeout too close to the heartbeat "
    "interval, a flaky network, or a leader stalled by slow disk or GC pauses.",
    "RaftProposalFailures": "Proposals are failing ({{ $value }} per second): clients see "
    "errors. error.type on raft_proposals_failed_total says why (not_leader, timeout, ...).",
    "PipelineErrorRatioHigh": "Processor {{ $labels.pipeline_processor }} of pipeline "
    "{{ $labels.pipeline_name }} fails {{ $value | humanizePercentage }} of its records. "
    "error_type on pipeline_records_errors_total says which errors; the sampled record "
    "journeys in Jaeger show where they happen.",
    "PipelineStalled": "Records wait in the queue of {{ $labels.pipeline_processor }} "
    "({{ $labels.pipeline_name }}) but it took none for 5 minutes: it is stuck (a blocked "
    "sink, a deadlock) or its worker died.",
    "PipelineQueueNearlyFull": "A queue of {{ $labels.pipeline_processor }} is "
    "{{ $value | humanizePercentage }} full: the processor cannot keep up, so upstream "
    "will block or drop. Find the slow stage on the Processing time panel.",
    "RaftPeerUnreachable": "Node {{ $labels.raft_node_id }} has had no successful exchange "
    "with {{ $labels.raft_peer_id }} for {{ $value }} s.",
}


def _core_name(name: str) -> str:
    return str(_setup.CATALOGUE.instruments_by_name[name].prometheus_name)


_EXPORTED, _DROPPED, _QUEUED = (
    _core_name(n) for n in (_names.SPANS_EXPORTED, _names.SPANS_DROPPED, _names.SPANS_QUEUED)
)
_REASON = _names.DROP_REASON

#: obskit's own health, a row on every dashboard.
SELF_HEALTH_PANELS: Final = (
    Panel("Spans exported per second", (f"sum by (job) (rate({_EXPORTED}[1m]))",), "ops",
          description="Spans obskit's exporters delivered to the backend."),
    Panel("Spans dropped per second, by reason",
          (f"sum by (job, {_REASON}) (rate({_DROPPED}[5m]))",), "ops",
          description="queue_full: the backend is slow or down; export_failed: it refused "
          "them; shutdown: the exit budget ran out; too_large: over the size limit."),
    Panel("Spans waiting to be exported", (f"sum by (job) ({_QUEUED})",), "short"),
    Panel("Share of spans dropped (5m)",
          (f"sum(increase({_DROPPED}[5m])) / clamp_min(sum(increase({_EXPORTED}[5m])) "
           f"+ sum(increase({_DROPPED}[5m])), 1)",), "percentunit", "stat"),
)  # fmt: skip

SELF_HEALTH_ALERTS: Final = (
    Alert("ObskitSpansDropped", f"sum by (job, {_REASON}) (increase({_DROPPED}[5m]))", "> 0",
          "obskit dropped spans ({{ $labels.reason }})",
          "{{ $labels.job }} gave up {{ $value }} spans in 5 minutes with reason "
          "{{ $labels.reason }}: traces in Jaeger are incomplete. queue_full means the "
          "backend is slow or down (or the queue is too small for the load), export_failed "
          "that exports failed, shutdown that the exit budget ran out.",
          "5m"),
)  # fmt: skip


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


def _domain_constant(domain: str, constant: str) -> tuple[Any, ...]:
    """`obskit.<domain>.<constant>`; () when the domain module does not exist (yet).

    Any other import error propagates: a broken domain must not silently lose its dashboard.
    """
    module_name = f"obskit.{domain}"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        return ()
    return tuple(getattr(module, constant, ()))


def domain_panels(domain: str) -> list[Panel]:
    """The panels `obskit.<domain>` declares in `PANELS` (empty if it has none).

    Examples:
        >>> all(isinstance(p, Panel) for p in domain_panels("raft"))
        True
    """
    return [Panel.of(p) for p in _domain_constant(domain, "PANELS")]


def domain_alerts(domain: str) -> list[Alert]:
    """The alerts `obskit.<domain>` declares in `ALERTS`; "core" gives obskit's own.

    Examples:
        >>> [a.name for a in domain_alerts("core")]
        ['ObskitSpansDropped']
    """
    if domain == "core":
        return list(SELF_HEALTH_ALERTS)
    alerts = [Alert.of(a, _DESCRIPTIONS) for a in _domain_constant(domain, "ALERTS")]
    if not alerts and domain == "query" and _domain_constant(domain, "PANELS"):
        alerts = _query_alerts()
    return alerts


def _query_alerts() -> list[Alert]:
    """obskit.query declares panels but no ALERTS: its error-ratio rule is built here."""
    from obskit.query import _catalogue as query

    spec = query.CATALOGUE.instruments_by_name
    errors, queries = spec[query.ERRORS], spec[query.DURATION]
    shared = [key for key in queries.attributes if key in errors.attributes]
    by = ", ".join(key.replace(".", "_") for key in shared if key != _names.ERROR_TYPE)
    ratio = (f"sum by ({by}) (rate({errors.prometheus_name}[5m])) / "
             f"sum by ({by}) (rate({queries.prometheus_name}_count[5m]))")  # fmt: skip
    return [
        Alert("QueryErrorRatioHigh", ratio, "> 0.05", "More than 5% of queries fail",
              "{{ $value | humanizePercentage }} of {{ $labels.db_operation_name }} queries on "
              "{{ $labels.db_system_name }} failed over 5 minutes. error_type on "
              f"{errors.prometheus_name} says why; failed query traces in Jaeger carry "
              "error.type and the phase that failed.", "5m"),
    ]  # fmt: skip


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


def _rows(domain: str, title: str) -> list[tuple[str, Sequence[Panel]]]:
    rows: list[tuple[str, Sequence[Panel]]] = [(title, domain_panels(domain))]
    rows.append(("obskit self-health", SELF_HEALTH_PANELS))
    runtime = domain_panels("runtime")
    if runtime:
        rows.append(("Process runtime (obskit.runtime)", runtime))
    return rows


def alert_rules(groups: Iterable[tuple[str, Sequence[Alert]]]) -> dict[str, Any]:
    """A Prometheus rule file (as data): one group per (domain, alerts) entry.

    Examples:
        >>> alert_rules([("core", SELF_HEALTH_ALERTS)])["groups"][0]["rules"][0]["alert"]
        'ObskitSpansDropped'
    """
    out = []
    for domain, alerts in groups:
        rules = []
        for alert in alerts:
            rule: dict[str, Any] = {"alert": alert.name, "expr": alert.expr}
            if alert.duration not in ("", "0", "0s", "0m"):
                rule["for"] = alert.duration
            rule["labels"] = {"severity": alert.severity, "domain": domain}
            rule["annotations"] = {"summary": alert.summary, "description": alert.description}
            rules.append(rule)
        if rules:
            out.append({"name": f"obskit.{domain}", "rules": rules})
    return {"groups": out}


def all_alerts() -> list[tuple[str, list[Alert]]]:
    """(domain, alerts) for obskit's own health and every domain that declares ALERTS."""
    domains = ["core", *(d for d, _ in DASHBOARD_DOMAINS)]
    return [(d, alerts) for d in domains if (alerts := domain_alerts(d))]


def render_files() -> dict[str, str]:
    """Every generated file under examples/stack/, by path relative to the repository.

    A domain whose module is not importable (or declares no PANELS) gets no dashboard.
    """
    import yaml

    files = {}
    for domain, title in DASHBOARD_DOMAINS:
        if domain_panels(domain):
            board = grafana_dashboard(domain, title, _rows(domain, title.split(" / ")[-1]))
            files[f"{DASHBOARD_DIR}/obskit-{domain}.json"] = json.dumps(board, indent=2) + "\n"
    header = (
        "# Generated by `python -m obskit._dashboards` from the domains' ALERTS. Do not edit.\n"
    )
    body = yaml.safe_dump(alert_rules(all_alerts()), sort_keys=False, width=10**6)
    files[RULES_FILE] = header + body
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Write the generated files (under `--root`, default "."); `--check` only compares."""
    args = list(sys.argv[1:] if argv is None else argv)
    check = "--check" in args
    root = Path(args[args.index("--root") + 1]) if "--root" in args else Path()
    stale = []
    for relative, text in render_files().items():
        path = root / relative
        if path.exists() and path.read_text() == text:
            continue
        stale.append(relative)
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    verb = "stale (run `python -m obskit._dashboards`)" if check else "written"
    for relative in stale:
        print(f"{relative}: {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
