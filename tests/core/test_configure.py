"""configure(), settings resolution, exporters, flush and shutdown."""

from __future__ import annotations

import logging
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import obskit
from obskit import _config
from obskit._base import log as _log
from obskit.exporters import ExporterParts

ENV_VARS = [
    "OBSKIT_SERVICE_NAME", "OTEL_SERVICE_NAME", "OBSKIT_EXPORTERS", "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER", "OBSKIT_SAMPLE_RATIO", "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG", "OBSKIT_ENABLED", "OTEL_SDK_DISABLED", "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL", "OBSKIT_OTLP_PROTOCOL", "OTEL_RESOURCE_ATTRIBUTES",
    "OBSKIT_PROMETHEUS_PORT", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
]  # fmt: skip


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    _log.reset()
    yield
    obskit.shutdown(timeout=2)


def memory_spans() -> InMemorySpanExporter:
    telemetry = obskit.telemetry()
    assert telemetry is not None
    spans = telemetry.info["memory_spans"]
    assert isinstance(spans, InMemorySpanExporter)
    return spans


def test_issue_example_prints_a_span_tree(capsys: pytest.CaptureFixture[str]) -> None:
    import asyncio

    obskit.configure(service_name="demo", exporters=["console"])

    @obskit.traced
    def work(n: int) -> int:
        return n * 2

    @obskit.traced("fetch", attributes={"db.system.name": "demo"}, record_args=["key"])
    async def fetch(key: str) -> str:
        return key

    with obskit.span("batch") as s:
        s.set_attribute("batch.size", 2)
        work(1)
        asyncio.run(fetch("k"))
    assert obskit.shutdown()
    out = capsys.readouterr().out
    lines = [line.split("  ")[0] for line in out.splitlines()]
    assert lines[:4] == [
        lines[0],
        "batch",
        "├─ test_issue_example_prints_a_span_tree.work",
        "└─ fetch",
    ]
    assert "service=demo" in out
    assert "code.arg.key=k" in out
    assert "obskit.spans.exported  3" in out


def test_explicit_arguments_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSKIT_SERVICE_NAME", "from-obskit-env")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-otel-env")
    monkeypatch.setenv("OBSKIT_EXPORTERS", "console")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    assert _config.resolve().service_name == "from-obskit-env"
    assert _config.resolve().sample_ratio == 0.25
    assert _config.resolve().exporters["traces"] == ("console",)
    settings = _config.resolve(service_name="explicit", exporters=["memory"], sample_ratio=0.5)
    assert settings.service_name == "explicit"
    assert settings.exporters == {"traces": ("memory",), "metrics": ("memory",)}
    assert settings.sample_ratio == 0.5
    monkeypatch.delenv("OBSKIT_SERVICE_NAME")
    assert _config.resolve().service_name == "from-otel-env"


def test_per_signal_exporter_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSKIT_EXPORTERS", "otlp,prometheus")
    monkeypatch.setenv("OTEL_METRICS_EXPORTER", "prometheus")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    exporters = _config.resolve().exporters
    assert exporters == {"traces": ("otlp",), "metrics": ("prometheus",)}
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    assert _config.resolve().exporters["traces"] == ()


def test_otlp_endpoint_variable_makes_otlp_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _config.resolve().exporters["traces"] == ("console",)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    assert _config.resolve().exporters["traces"] == ("otlp",)


def test_bad_environment_values_warn_once_and_use_defaults(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("OBSKIT_SAMPLE_RATIO", "lots")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "carrier-pigeon")
    monkeypatch.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "128")
    caplog.set_level(logging.WARNING, logger="obskit")
    settings = _config.resolve()
    _config.resolve()
    assert settings.sample_ratio == 1.0
    assert settings.otlp_protocol == "http/protobuf"
    assert settings.max_export_batch_size == 128  # reduced to fit the queue
    messages = [r.getMessage() for r in caplog.records]
    assert sum("OBSKIT_SAMPLE_RATIO" in m for m in messages) == 1
    assert sum("carrier-pigeon" in m for m in messages) == 1
    assert sum("OTEL_BSP_MAX_QUEUE_SIZE=128" in m for m in messages) == 1


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="sample_ratio"):
        obskit.configure(sample_ratio=2)
    with pytest.raises(ValueError, match="otlp_protocol"):
        obskit.configure(otlp_protocol="udp")


def test_unknown_exporter_names_the_known_ones_and_keeps_running_setup() -> None:
    obskit.configure(service_name="first", exporters=["memory"])
    with pytest.raises(
        ValueError, match=r"unknown exporter 'jaeger-thrift'.*console.*memory.*otlp.*prometheus"
    ):
        obskit.configure(exporters=["jaeger-thrift"])
    telemetry = obskit.telemetry()
    assert telemetry is not None
    assert telemetry.settings.service_name == "first"


def test_reconfigure_replaces_cleanly() -> None:
    module_tracer = trace_api.get_tracer("user.module")  # made before any configure
    first = obskit.configure(service_name="one", exporters=["memory"])
    with obskit.span("a"):
        pass
    with module_tracer.start_as_current_span("module-a"):
        pass
    first_spans = memory_spans()
    second = obskit.configure(service_name="two", exporters=["memory"])
    assert first.tracer_provider is not second.tracer_provider
    with obskit.span("b"):
        pass
    with module_tracer.start_as_current_span("module-b"):
        pass
    assert obskit.flush(timeout=2)
    assert [s.name for s in first_spans.get_finished_spans()] == ["a", "module-a"]
    spans = memory_spans().get_finished_spans()
    assert [s.name for s in spans] == ["b", "module-b"]
    assert spans[0].resource.attributes["service.name"] == "two"


def test_disabled_is_a_passthrough(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = obskit.configure(exporters=["memory"])
    assert telemetry.settings.enabled is False

    @obskit.traced("off")
    def off() -> int:
        return 1

    assert off() == 1
    with obskit.span("off-span") as s:
        assert not s.is_recording
    assert obskit.configure(enabled=True, exporters=["memory"]).settings.enabled
    with obskit.span("on-span") as s:
        assert s.is_recording


def test_resource_and_otel_resource_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,service.name=env"
    )
    obskit.configure(service_name="arg", exporters=["memory"], resource={"host.name": "h1"})
    with obskit.span("r"):
        pass
    obskit.flush(timeout=2)
    attributes = memory_spans().get_finished_spans()[0].resource.attributes
    assert attributes["service.name"] == "arg"
    assert attributes["deployment.environment.name"] == "test"
    assert attributes["host.name"] == "h1"


def test_prometheus_endpoint_is_scraped_over_http() -> None:
    telemetry = obskit.configure(
        service_name="prom",
        exporters=["prometheus"],
        prometheus_host="127.0.0.1",
        prometheus_port=0,
    )
    address = telemetry.prometheus_address
    assert address is not None
    assert address[1] > 0
    obskit.counter("test.scrapes", unit="{scrape}").add(3, {"shard": "s1"})
    obskit.histogram("test.latency").record(0.002)
    with urllib.request.urlopen(f"http://127.0.0.1:{address[1]}/metrics", timeout=5) as response:
        body = response.read().decode()
    assert "test_scrapes_total{" in body
    assert 'shard="s1"' in body
    assert "test_latency_seconds_bucket" in body
    assert "obskit_spans_dropped_total" in body


def test_prometheus_port_in_use_warns_once_and_runs_on(caplog: pytest.LogCaptureFixture) -> None:
    import socket

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        telemetry = obskit.configure(
            exporters=["prometheus", "memory"], prometheus_host="127.0.0.1",
            prometheus_port=busy.getsockname()[1],
        )  # fmt: skip
        assert telemetry.prometheus_address is None
        with obskit.span("still-traced"):
            pass
    finally:
        busy.close()
    assert sum("cannot serve Prometheus" in r.getMessage() for r in caplog.records) == 1


def test_unparsable_endpoint_warns_and_runs_on(caplog: pytest.LogCaptureFixture) -> None:
    obskit.configure(exporters=["otlp"], otlp_endpoint="http://[::not-a-host")
    with obskit.span("fine"):
        pass
    assert obskit.shutdown(timeout=1)
    assert sum("is not a URL" in r.getMessage() for r in caplog.records) == 1  # one problem


def test_unreachable_endpoint_does_not_raise_and_shutdown_is_bounded() -> None:
    import socket
    import time

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    obskit.configure(exporters=["otlp"], otlp_endpoint=f"http://127.0.0.1:{port}", otlp_timeout=0.5)
    for _ in range(10):
        with obskit.span("lost"):
            pass
    started = time.monotonic()
    assert obskit.shutdown(timeout=1.0) is False
    assert time.monotonic() - started < 3.0


def test_third_party_exporter_by_registration() -> None:
    collected = InMemorySpanExporter()
    obskit.exporters.register(
        "unit-test", lambda settings, signals: ExporterParts(span_exporter=collected)
    )
    obskit.configure(exporters=["unit-test"])
    with obskit.span("third-party"):
        pass
    assert obskit.flush(timeout=2)
    assert [s.name for s in collected.get_finished_spans()] == ["third-party"]


def test_third_party_exporter_by_entry_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "fake_exporter_pkg.py"
    package.write_text(
        "from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter\n"
        "from obskit.exporters import ExporterParts\n"
        "SPANS = InMemorySpanExporter()\n"
        "def factory(settings, signals):\n"
        "    return ExporterParts(span_exporter=SPANS)\n"
    )
    dist = tmp_path / "fake_exporter_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-exporter-pkg\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[obskit.exporters]\nfake = fake_exporter_pkg:factory\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "fake" in obskit.exporters.available()
    obskit.configure(exporters=["fake"])
    with obskit.span("via-entry-point"):
        pass
    obskit.flush(timeout=2)
    spans = sys.modules["fake_exporter_pkg"].SPANS.get_finished_spans()
    assert [s.name for s in spans] == ["via-entry-point"]


def test_span_accounting_is_exposed() -> None:
    telemetry = obskit.configure(exporters=["memory"])
    for _ in range(5):
        with obskit.span("counted"):
            pass
    assert obskit.flush(timeout=2)
    counts = telemetry.span_counts()
    assert counts["ended"] == 5
    assert counts["exported"] == 5
    assert counts["queue_full"] == 0


def test_instruments_made_before_configure_follow_it() -> None:
    early = obskit.counter("test.early", unit="{event}")
    global_meter_counter = metrics_api.get_meter("user.module").create_counter("test.global")
    early.add(1)  # before configure: nowhere to go, no error
    telemetry = obskit.configure(exporters=["memory"])
    early.add(2)
    global_meter_counter.add(5)
    reader = telemetry.info["memory_metrics"]
    points = {
        m.name: m.data.data_points[0].value
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name.startswith("test.")
    }
    assert points == {"test.early": 2, "test.global": 5}


def test_flush_and_shutdown_without_configure() -> None:
    assert obskit.flush(timeout=0.1) is True
    assert obskit.shutdown(timeout=0.1) is True


def test_flush_does_not_duplicate_prometheus_series() -> None:
    telemetry = obskit.configure(
        exporters=["prometheus"], prometheus_host="127.0.0.1", prometheus_port=0
    )
    obskit.counter("test.once").add(1)
    obskit.flush(timeout=1)
    obskit.flush(timeout=1)
    address = telemetry.prometheus_address
    assert address is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{address[1]}/metrics", timeout=5) as response:
        lines = response.read().decode().splitlines()
    assert sum(line.startswith("test_once_total") for line in lines) == 1


def test_observable_instruments_from_the_global_meter_follow_configure() -> None:
    from opentelemetry.metrics import Observation

    from obskit import _routing as _providers

    _providers.install_globals()
    library_meter = metrics_api.get_meter("some.library")
    library_meter.create_observable_gauge(
        "test.library.queue.depth", [lambda options: [Observation(7)]]
    )
    telemetry = obskit.configure(exporters=["memory"])
    reader = telemetry.info["memory_metrics"]
    names = {
        m.name: m.data.data_points[0].value
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert names.get("test.library.queue.depth") == 7


def test_exporters_per_signal_argument() -> None:
    settings = _config.resolve(exporters={"traces": ["otlp"], "metrics": "prometheus"})
    assert settings.exporters == {"traces": ("otlp",), "metrics": ("prometheus",)}
    assert _config.resolve(exporters={"traces": "memory"}).exporters["metrics"] == ()
    with pytest.raises(ValueError, match="unknown signal"):
        _config.resolve(exporters={"logs": ["otlp"]})
    telemetry = obskit.configure(exporters={"traces": ["memory"]})
    assert telemetry.meter_provider is not None
    with obskit.span("per-signal"):
        pass
    obskit.flush(timeout=2)
    assert [s.name for s in memory_spans().get_finished_spans()] == ["per-signal"]
    assert telemetry.info["memory_metrics"] is None  # memory serves traces only here
