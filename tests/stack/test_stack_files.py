"""examples/stack/ is valid without a Docker engine: every file the compose stack mounts
is checked by the tool that will read it, and the generated files are fresh."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from _stack import REPO, STACK

from obskit._tools import collector_tier as _collector_tier
from obskit._tools import dashboards as _dashboards
from obskit._tools import promql as _promql
from obskit._tools import recording as _recording
from obskit._tools import tail_sampling as _tail_sampling
from obskit._tools.catalogue import all_catalogues

COMPOSE = STACK / "compose.yaml"
PROMETHEUS_CONFIG = STACK / "prometheus" / "prometheus.yml"
RULES = REPO / _dashboards.RULES_FILE
RECORDING = REPO / _recording.RECORDING_FILE
DASHBOARDS = REPO / _dashboards.DASHBOARD_DIR
DATASOURCES = STACK / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
PROVIDERS = STACK / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
#: Ports users expect: Jaeger UI, OTLP gRPC and HTTP, Prometheus, Grafana.
EXPECTED_PORTS = {"jaeger": {16686, 4317, 4318}, "prometheus": {9090}, "grafana": {3000}}
#: The fleet tier (profile "fleet", docs/fleet.md): load balancers' OTLP ports on the host.
FLEET_PORTS = {"otelcol-lb-1": {4417, 4418}, "otelcol-lb-2": {4427, 4428},
               "otelcol-gateway-1": set(), "otelcol-gateway-2": set()}  # fmt: skip
COLLECTOR = STACK / "collector"
#: The situations issue 7 asks alerts for, as (domain, words the alert name must contain).
REQUIRED_ALERTS = [
    ("raft", "noleader"),
    ("raft", "leaderchange"),
    ("raft", "proposalfail"),
    ("query", "error"),
    ("pipeline", "error"),
    ("core", "dropped"),
]
#: Series Prometheus itself makes, which no catalogue declares.
PROMETHEUS_OWN = {"up", "target_info"}


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def compose(docker_compose: str) -> dict[str, Any]:
    """The compose file as docker-compose 1.29 resolves it (absolute bind-mount paths)."""
    result = _run(docker_compose, "-f", str(COMPOSE), "config")
    assert result.returncode == 0, result.stderr
    resolved: dict[str, Any] = yaml.safe_load(result.stdout)
    return resolved


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = (volume.split(":")[:2] if isinstance(volume, str)
                          else (volume["source"], volume["target"]))  # fmt: skip
        mounts[target] = Path(source)
    return mounts


def _dashboards_on_disk() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def test_compose_file_parses_with_docker_compose_1_29(docker_compose: str) -> None:
    result = _run(docker_compose, "-f", str(COMPOSE), "config", "-q")
    assert result.returncode == 0, result.stderr
    assert "version" not in yaml.safe_load(COMPOSE.read_text()), "obsolete in Compose v2"


def test_services_images_and_ports(compose: dict[str, Any]) -> None:
    services = compose["services"]
    always = {name for name, service in services.items() if not service.get("profiles")}
    assert always == set(EXPECTED_PORTS)
    assert set(services) - always == set(FLEET_PORTS)
    for name, ports in {**EXPECTED_PORTS, **FLEET_PORTS}.items():
        published = {int(p["published"]) for p in services[name].get("ports", [])}
        assert published == ports, name
    assert services["jaeger"]["image"] == "jaegertracing/jaeger:2.13.0"
    assert services["prometheus"]["image"].startswith("prom/prometheus:v3.")
    assert "--web.enable-otlp-receiver" in services["prometheus"]["command"]
    assert "--enable-feature=exemplar-storage" in services["prometheus"]["command"]
    assert "host.docker.internal:host-gateway" in services["prometheus"]["extra_hosts"]


def test_every_bind_mount_exists_where_the_service_reads_it(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for service in services.values():
        for target, source in _mounts(service).items():
            assert source.exists(), f"{source} (mounted at {target}) is missing"
    assert _mounts(services["jaeger"])["/etc/jaeger/config.yaml"].samefile(
        STACK / "jaeger" / "config.yaml"
    )
    assert "--config=/etc/jaeger/config.yaml" in services["jaeger"]["command"]
    assert _mounts(services["prometheus"])["/etc/prometheus"].samefile(PROMETHEUS_CONFIG.parent)
    grafana = _mounts(services["grafana"])
    assert grafana["/etc/grafana/provisioning"].samefile(DATASOURCES.parents[1])
    provider = yaml.safe_load(PROVIDERS.read_text())["providers"][0]
    assert grafana[provider["options"]["path"]].samefile(DASHBOARDS)


def test_prometheus_config_and_rules_pass_promtool(promtool: str) -> None:
    config = _run(promtool, "check", "config", str(PROMETHEUS_CONFIG))
    assert config.returncode == 0, config.stdout + config.stderr
    assert "2 rule files found" in config.stdout + config.stderr  # the glob finds ours
    rules = _run(promtool, "check", "rules", str(RULES), str(RECORDING))
    assert rules.returncode == 0, rules.stdout + rules.stderr


def test_generated_files_are_fresh() -> None:
    stale = [path for path, text in _dashboards.render_files().items()
             if not (REPO / path).exists() or (REPO / path).read_text() != text]  # fmt: skip
    assert not stale, f"stale, run `python -m obskit._tools.dashboards`: {stale}"
    generated = {Path(p).stem for p in _dashboards.render_files()}
    assert {p.stem for p in DASHBOARDS.glob("*.json")} <= generated, "orphan dashboard files"


def test_every_alert_has_summary_description_and_severity() -> None:
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"]
             for rule in group["rules"]]  # fmt: skip
    assert rules
    for rule in rules:
        annotations = rule["annotations"]
        assert annotations["summary"].strip(), rule
        assert annotations["description"].strip(), rule
        assert annotations["description"] != annotations["summary"], rule["alert"]
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]


@pytest.mark.parametrize(("domain", "words"), REQUIRED_ALERTS)
def test_required_alert_exists(domain: str, words: str) -> None:
    groups = {g["name"]: g["rules"] for g in yaml.safe_load(RULES.read_text())["groups"]}
    names = [r["alert"].lower() for r in groups.get(f"obskit.{domain}", [])]
    assert any(words in name for name in names), f"no {words!r} alert for {domain}: {names}"


def test_one_dashboard_per_domain_with_self_health_row() -> None:
    boards = _dashboards_on_disk()
    tier = f"obskit-{_dashboards.COLLECTOR_TIER}"
    assert set(boards) == {f"obskit-{domain}" for domain, _ in _dashboards.DASHBOARD_DOMAINS} | {
        tier
    }
    for name, board in boards.items():
        if name == tier:  # the collectors' own metrics, no obskit process
            continue
        rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
        assert "obskit self-health" in rows, name
        exprs = " ".join(t["expr"] for p in board["panels"] for t in p.get("targets", []))
        for metric in ("obskit_spans_exported_total", "obskit_spans_dropped_total",
                       "obskit_spans_queued"):  # fmt: skip
            assert metric in exprs, (name, metric)


def test_prometheus_exemplars_link_to_jaeger() -> None:
    sources = {d["uid"]: d for d in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    links = sources["obskit-prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert links == [{"name": "trace_id", "datasourceUid": "obskit-jaeger"}]
    assert sources["obskit-jaeger"]["type"] == "jaeger"


def test_grafana_datasources_match_what_dashboards_reference() -> None:
    declared = {d["uid"]: d["type"] for d in yaml.safe_load(DATASOURCES.read_text())["datasources"]}
    assert declared == {_dashboards.PROMETHEUS_UID: "prometheus", _dashboards.JAEGER_UID: "jaeger"}

    def references(node: Any) -> list[dict[str, str]]:
        if isinstance(node, dict):
            found = [node["datasource"]] if isinstance(node.get("datasource"), dict) else []
            return found + [r for value in node.values() for r in references(value)]
        if isinstance(node, list):
            return [r for item in node for r in references(item)]
        return []

    for name, board in _dashboards_on_disk().items():
        refs = references(board)
        assert refs, name
        for ref in refs:
            assert declared.get(ref["uid"]) == ref["type"], (name, ref)
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{name}: duplicate panel ids"


def _catalogue_metric_names() -> set[str]:
    # The collector tier's panels read the collectors' own metrics (checked against a
    # running collector by tests/integration/test_fleet.py).
    names = set(PROMETHEUS_OWN) | set(_collector_tier.COLLECTOR_METRICS)
    for catalogue in all_catalogues():
        for instrument in catalogue.instruments:
            base = instrument.prometheus_name
            names.add(base)
            if instrument.kind == "histogram":
                names |= {f"{base}_bucket", f"{base}_sum", f"{base}_count"}
    return names


def test_every_panel_and_alert_reads_catalogue_metrics() -> None:
    known = _catalogue_metric_names()
    queries = [(f"{name}: {p['title']}", _promql.as_promql(t["expr"]))
               for name, board in _dashboards_on_disk().items()
               for p in board["panels"] for t in p.get("targets", [])]  # fmt: skip
    queries += [(f"alert {r['alert']}", r["expr"])
                for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]  # fmt: skip
    recording = [r for g in yaml.safe_load(RECORDING.read_text())["groups"] for r in g["rules"]]
    queries += [(f"recording rule {r['record']}", r["expr"]) for r in recording]
    known |= {r["record"] for r in recording}  # a rule may read an earlier rule's series
    assert queries
    unknown = [(where, sorted(_promql.metric_names(expr) - known)) for where, expr in queries
               if _promql.metric_names(expr) - known]  # fmt: skip
    assert not unknown, f"metrics no catalogue declares: {unknown}"
    assert all(_promql.metric_names(expr) for _, expr in queries), "a query that reads no metric"


def test_latency_quantile_panels_show_exemplars() -> None:
    targets = [
        (panel["type"], target)
        for path in sorted((REPO / _dashboards.DASHBOARD_DIR).glob("*.json"))
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
    ]
    quantiles = [
        t for kind, t in targets if kind == "timeseries" and "histogram_quantile(" in t["expr"]
    ]
    assert quantiles, "no p99 panel in the dashboards"
    assert all(target["exemplar"] is True for target in quantiles)
    assert not any(target["exemplar"] for _, target in targets if target not in quantiles)


def test_fleet_profile_mounts_the_collector_configs(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in FLEET_PORTS:
        assert services[name]["profiles"] == ["fleet"], name
        assert _mounts(services[name])["/etc/otelcol"].samefile(COLLECTOR), name
        assert services[name]["image"] == "otel/opentelemetry-collector-contrib:0.140.1"
    for name in ("otelcol-gateway-1", "otelcol-gateway-2"):
        command = services[name]["command"]
        assert command == ["--config=/etc/otelcol/gateway.yaml",
                           "--config=/etc/otelcol/tail-sampling.yaml"], name  # fmt: skip
        assert services[name]["environment"]["GATEWAY_NAME"] == name.removeprefix("otelcol-")
    balancer = yaml.safe_load((COLLECTOR / "load-balancer.yaml").read_text())
    resolver = balancer["exporters"]["loadbalancing"]["resolver"]["static"]["hostnames"]
    assert resolver == ["otelcol-gateway-1:4317", "otelcol-gateway-2:4317"]
    assert balancer["exporters"]["loadbalancing"]["routing_key"] == "traceID"
    gateway = yaml.safe_load((COLLECTOR / "gateway.yaml").read_text())
    assert "tail_sampling" in gateway["service"]["pipelines"]["traces"]["processors"]
    policy = yaml.safe_load((REPO / _dashboards.TAIL_SAMPLING_FILE).read_text())
    assert policy == {"processors": {"tail_sampling": _tail_sampling.tail_sampling_config()}}
