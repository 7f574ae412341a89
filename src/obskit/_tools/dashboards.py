"""Grafana dashboards and Prometheus alert rules for examples/stack/, generated from code.

Each domain keeps its Grafana panels (PromQL over its catalogue's Prometheus names) and
its alert conditions as data next to its catalogue (`PANELS`, `ALERTS`); this module turns
them into one dashboard per domain (with obskit's self-health and runtime rows) and one
Prometheus rule file, so dashboards and rules cannot drift from the names obskit emits.

    python -m obskit._tools.dashboards            # rewrite the files under examples/stack/
    python -m obskit._tools.dashboards --check    # exit 1 if they are stale

Examples:
    >>> alert_rules([("core", SELF_HEALTH_ALERTS)])["groups"][0]["name"]
    'obskit.core'
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from obskit._base import names as _names
from obskit._domain.dashboards import JAEGER_UID, PROMETHEUS_UID, Alert, Panel
from obskit._setup import configure as _setup
from obskit._tools import alerts as _alerts
from obskit._tools import collector_tier as _collector_tier
from obskit._tools import recording as _recording
from obskit._tools import tail_sampling as _tail_sampling
from obskit._tools.grafana import alert_of, grafana_dashboard

__all__ = [
    "DASHBOARD_DOMAINS",
    "JAEGER_UID",
    "PROMETHEUS_UID",
    "Alert",
    "Panel",
    "alert_rules",
    "domain_alerts",
    "domain_panels",
    "grafana_dashboard",
    "main",
    "render_dashboards",
    "render_files",
    "render_rules",
]

#: One dashboard each, in this order: (domain, dashboard title).
DASHBOARD_DOMAINS: Final = (
    ("btree", "obskit / B+tree"),
    ("raft", "obskit / Raft"),
    ("query", "obskit / Query lifecycle"),
    ("pipeline", "obskit / Pipeline processors"),
)
DASHBOARD_DIR: Final = "examples/stack/grafana/dashboards"
RULES_FILE: Final = "examples/stack/prometheus/rules/obskit-alerts.yml"


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
    alerts = [alert_of(a, _DESCRIPTIONS) for a in _domain_constant(domain, "ALERTS")]
    if not alerts and domain == "query" and _domain_constant(domain, "PANELS"):
        alerts = _query_alerts()
    return alerts


def _query_alerts() -> list[Alert]:
    """obskit.query declares panels but no ALERTS: its error-ratio rule is built here."""
    from obskit.query import _names as query

    spec = query.CATALOGUE.instruments_by_name
    errors, queries = spec[query.ERRORS], spec[query.DURATION]
    shared = [key for key in queries.attributes if key in errors.attributes]
    # job first: one alert per program, like the latency and cache alerts.
    by = ", ".join(["job", *(key.replace(".", "_") for key in shared if key != _names.ERROR_TYPE)])
    ratio = (f"sum by ({by}) (rate({errors.prometheus_name}[5m])) / "
             f"sum by ({by}) (rate({queries.prometheus_name}_count[5m]))")  # fmt: skip
    return [
        Alert("QueryErrorRatioHigh", ratio, "> 0.05", "More than 5% of queries fail",
              "{{ $value | humanizePercentage }} of {{ $labels.db_operation_name }} queries on "
              "{{ $labels.db_system_name }} failed over 5 minutes. error_type on "
              f"{errors.prometheus_name} says why; failed query traces in Jaeger carry "
              "error.type and the phase that failed.", "5m"),
    ]  # fmt: skip


def _rows(domain: str, title: str) -> list[tuple[str, Sequence[Panel]]]:
    rows: list[tuple[str, Sequence[Panel]]] = [(title, domain_panels(domain))]
    rows.append(("obskit self-health", SELF_HEALTH_PANELS))
    runtime = domain_panels("runtime")
    if runtime:
        runtime.extend(_alerts.SATURATION_PANELS)
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
    """(domain, alerts) for obskit's own health, every domain (its ALERTS, then the p99
    latency and cache hit ratio alerts of obskit._tools.alerts) and the process's saturation."""
    domains = ["core", *(d for d, _ in DASHBOARD_DOMAINS)]
    groups = [
        (d, [*domain_alerts(d), *_alerts.latency_alerts(d), *_alerts.cache_alerts(d)])
        for d in domains
    ]
    groups.append(("runtime", _alerts.saturation_alerts()))
    groups.append((COLLECTOR_TIER, list(_collector_tier.ALERTS)))
    return [(d, alerts) for d, alerts in groups if alerts]


def render_rules() -> dict[str, str]:
    """The generated rule files (alerts, recording rules) by path relative to the
    repository; needs YAML and the PromQL parser, not the Grafana SDK.

    Examples:
        >>> sorted(render_rules())[0]
        'examples/stack/prometheus/rules/obskit-alerts.yml'
    """
    import yaml

    header = "# Generated by `python -m obskit._tools.dashboards` from the domains' ALERTS. Do not edit.\n"
    body = yaml.safe_dump(alert_rules(all_alerts()), sort_keys=False, width=10**6)
    return {RULES_FILE: header + body, **_recording.render(d for d, _ in DASHBOARD_DOMAINS)}


def render_dashboards() -> dict[str, str]:
    """The generated dashboards by path relative to the repository (the Grafana SDK).

    A domain whose module is not importable (or declares no PANELS) gets no dashboard.
    """
    files = {}
    for domain, title in DASHBOARD_DOMAINS:
        if domain_panels(domain):
            board = grafana_dashboard(domain, title, _rows(domain, title.split(" / ")[-1]))
            files[f"{DASHBOARD_DIR}/obskit-{domain}.json"] = json.dumps(board, indent=2) + "\n"
    board = _collector_tier_dashboard()
    files[f"{DASHBOARD_DIR}/obskit-{COLLECTOR_TIER}.json"] = json.dumps(board, indent=2) + "\n"
    return files


def render_files() -> dict[str, str]:
    """Every generated file under examples/stack/, by path relative to the repository."""
    policy = _tail_sampling.render(_tail_sampling.tail_sampling_config())
    return {**render_dashboards(), **render_rules(), TAIL_SAMPLING_FILE: policy}


# --- the fleet's collector tier (docs/fleet.md): its dashboard and tail-sampling policy ---
COLLECTOR_TIER: Final = "collector-tier"
TAIL_SAMPLING_FILE: Final = "examples/stack/collector/tail-sampling.yaml"


def _collector_tier_dashboard() -> dict[str, Any]:
    """The collector tier's dashboard (panels and alerts in obskit._tools.collector_tier)."""
    title = _collector_tier.DASHBOARD_TITLE
    rows = [(title.split(" / ")[-1], _collector_tier.PANELS)]
    board = grafana_dashboard(COLLECTOR_TIER, title, rows)
    board["description"] = (
        "Generated by `python -m obskit._tools.dashboards` from obskit._tools.collector_tier"
    )
    return board


#: The modules of the `tools` extra the generator imports: YAML for the rule files, the
#: Grafana SDK for the dashboards, the PromQL parser for the alerts' expressions.
_TOOLS: Final = ("yaml", "grafana_foundation_sdk", "promql_parser")


def _missing_tools() -> str:
    """Why the generator cannot run here ("" when it can): the `tools` extra is missing."""
    import importlib.util

    missing = [name for name in _TOOLS if importlib.util.find_spec(name) is None]
    if missing:
        return (f"regenerating the files needs the tools extra ({', '.join(missing)} missing: "
                "pip install 'obskit[tools]', on Python 3.11 or later); the installed "
                "package already holds them: see `obskit rules` and `obskit dashboards`")  # fmt: skip
    return ""


def main(argv: Sequence[str] | None = None) -> int:
    """Write the generated files (under `--root`, default "."); `--check` only compares."""
    missing = _missing_tools()
    if missing:
        print(f"python -m obskit._tools.dashboards: {missing}", file=sys.stderr)
        return 2
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
    verb = "stale (run `python -m obskit._tools.dashboards`)" if check else "written"
    for relative in stale:
        print(f"{relative}: {verb}")
    return 1 if check and stale else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
