"""Every OTEL_* variable in docs/configuration.md's table behaves as the row says.

Each case sets its variables, calls `obskit.configure()` and reads the effective setting
off the real objects: the exporters obskit built, the sampler, the resource, the socket
the Prometheus endpoint listens on, the metric reader. The table is parsed from the docs
page, so a row without a case (or a case without a row) fails.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.metrics.export import AggregationTemporality
from opentelemetry.sdk.trace import sampling

import obskit
from obskit import propagation
from obskit._base import log as _log
from obskit.testing import OTLPReceiver

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
TABLE_HEADING = "## OpenTelemetry variables"


def documented_variables() -> list[str]:
    """The OTEL_* names in the first column of the conformance table."""
    text = DOCS.read_text()
    section = text.split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    names: list[str] = []
    for line in section.splitlines():
        if line.startswith("| `OTEL_"):
            first_column = line.split("|")[1]
            names.extend(re.findall(r"`(OTEL_[A-Z0-9_]+)`", first_column))
    return names


@pytest.fixture(scope="module")
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


@pytest.fixture(autouse=True)
def clean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in list(os.environ):
        if var.startswith(("OTEL_", "OBSKIT_")):
            monkeypatch.delenv(var)
    _log.reset()
    yield
    obskit.shutdown(timeout=2)


# -- reading the real objects ----------------------------------------------------------


def configure(service_name: str | None = None, **kwargs: Any) -> obskit.Telemetry:
    kwargs.setdefault("shutdown_timeout", 1.0)
    return obskit.configure(service_name, **kwargs)


def otlp(receiver: OTLPReceiver, **kwargs: Any) -> obskit.Telemetry:
    """configure() with the otlp exporter; endpoints come from the variables set."""
    return configure(exporters=["otlp"], **kwargs)


def span_exporter(telemetry: obskit.Telemetry) -> Any:
    (queue,) = telemetry.span_queues
    return queue._exporter


def metric_reader(telemetry: obskit.Telemetry) -> Any:
    provider: Any = telemetry.meter_provider
    (reader,) = provider._metric_readers
    return reader


def metric_exporter(telemetry: obskit.Telemetry) -> Any:
    return metric_reader(telemetry)._exporter._inner  # inside obskit's fork-safe wrapper


def exporters(telemetry: obskit.Telemetry) -> dict[str, Any]:
    return {"traces": span_exporter(telemetry), "metrics": metric_exporter(telemetry)}


def http_value(exporter: Any, what: str) -> Any:
    """A setting of an SDK OTLP/HTTP exporter, as it will be used on the wire."""
    client = exporter._client
    return {
        "endpoint": exporter._endpoint,
        "timeout": client._timeout,
        "compression": exporter._compression.value,
        "headers": client._headers,
        "verify": client._transport._session.verify,
        "cert": client._transport._session.cert,
    }[what]


def transport(exporter: Any) -> str:
    """ "grpc" or "http": the SDK OTLP exporter class `exporter` is (or derives from)."""
    modules = " ".join(kind.__module__ for kind in type(exporter).__mro__)
    return "grpc" if ".proto.grpc." in modules else "http"


def resource(telemetry: obskit.Telemetry) -> dict[str, Any]:
    assert telemetry.tracer_provider is not None
    return dict(telemetry.tracer_provider.resource.attributes)


def listening_address(port: int) -> str:
    """The IP address this process listens on at `port` (read from the kernel)."""
    found = {
        conn.laddr.ip
        for conn in psutil.Process().net_connections(kind="tcp")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    }
    (address,) = found
    return str(address)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


UNSAMPLED_PARENT = {"traceparent": f"00-{'1' * 32}-{'2' * 16}-00"}


def sampled(parent: dict[str, str] | None = None) -> bool:
    """Whether a span started now (under `parent`'s trace context, if given) is sampled."""
    if parent is None:
        with obskit.span("probe") as handle:
            return bool(handle.span.get_span_context().trace_flags.sampled)
    with propagation.continue_trace(parent), obskit.span("probe") as handle:
        return bool(handle.span.get_span_context().trace_flags.sampled)


# -- the cases: one per row of the table -------------------------------------------------

Case = Callable[[pytest.MonkeyPatch, OTLPReceiver], None]
CASES: dict[str, Case] = {}


def case(*names: str) -> Callable[[Case], Case]:
    def register(function: Case) -> Case:
        for name in names:
            CASES[name] = function
        return function

    return register


@case("OTEL_SDK_DISABLED")
def sdk_disabled(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_SDK_DISABLED", "true")
    telemetry = configure(exporters=["memory"])
    assert telemetry.settings.enabled is False
    with obskit.span("off") as span:
        assert not span.is_recording
    env.setenv("OTEL_SDK_DISABLED", "false")
    assert configure(exporters=["memory"]).settings.enabled is True


@case("OTEL_SERVICE_NAME")
def service_name(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_SERVICE_NAME", "from-service-name")
    env.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attributes")
    assert resource(configure(exporters=["memory"]))["service.name"] == "from-service-name"
    # An explicit argument, and OBSKIT_SERVICE_NAME, win over both (documented precedence).
    env.setenv("OBSKIT_SERVICE_NAME", "from-obskit")
    assert resource(configure(exporters=["memory"]))["service.name"] == "from-obskit"
    assert resource(configure("explicit", exporters=["memory"]))["service.name"] == "explicit"


@case("OTEL_RESOURCE_ATTRIBUTES")
def resource_attributes(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_RESOURCE_ATTRIBUTES", "service.name=x,deployment.environment.name=eu%20west")
    attributes = resource(configure(exporters=["memory"]))
    assert attributes["service.name"] == "x"
    assert attributes["deployment.environment.name"] == "eu west"
    # resource= wins over the variable, key by key; its service.name counts as explicit.
    attributes = resource(
        configure(exporters=["memory"], resource={"service.name": "y", "team": "db"})
    )
    assert (attributes["service.name"], attributes["team"]) == ("y", "db")
    assert attributes["deployment.environment.name"] == "eu west"


@case("OTEL_LOG_LEVEL")
def log_level(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    logger = logging.getLogger("obskit")
    before = logger.level
    env.setenv("OTEL_LOG_LEVEL", "debug")
    configure(exporters=["memory"])
    assert logger.level == before  # not read


@case("OTEL_PROPAGATORS")
def propagators(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    # The API builds its global propagator from the variable at import: a fresh process.
    program = (
        "import obskit\n"
        "from obskit import propagation\n"
        "obskit.configure(exporters=['memory'])\n"
        "with obskit.span('s'):\n"
        "    print(sorted(propagation.inject()))\n"
    )
    seen = {}
    for value in ("tracecontext", "baggage"):
        child_env = {**os.environ, "OTEL_PROPAGATORS": value}
        done = subprocess.run(
            [sys.executable, "-c", program], env=child_env, capture_output=True, text=True,
            timeout=60, check=True,
        )  # fmt: skip
        seen[value] = done.stdout.strip()
    assert seen == {"tracecontext": "['traceparent']", "baggage": "[]"}


@case("OTEL_TRACES_SAMPLER")
def traces_sampler(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    expected = {
        "always_on": (True, True),  # (a new root sampled, a child of an unsampled parent)
        "always_off": (False, False),
        "traceidratio": (True, True),  # ratio 1.0 when OTEL_TRACES_SAMPLER_ARG is unset
        "parentbased_always_on": (True, False),
        "parentbased_always_off": (False, False),
        "parentbased_traceidratio": (True, False),
    }
    for name, (root, child_of_unsampled) in expected.items():
        env.setenv("OTEL_TRACES_SAMPLER", name)
        telemetry = configure(exporters=["memory"])
        assert telemetry.settings.sampler == name
        assert (sampled(), sampled(UNSAMPLED_PARENT)) == (root, child_of_unsampled), name
        assert telemetry.tracer_provider is not None
        kind = type(telemetry.tracer_provider.sampler)
        assert (kind is sampling.ParentBased) == name.startswith("parentbased_"), name
    env.delenv("OTEL_TRACES_SAMPLER")
    telemetry = configure(exporters=["memory"])  # the default: parentbased_always_on
    assert (sampled(), sampled(UNSAMPLED_PARENT)) == (True, False)


@case("OTEL_TRACES_SAMPLER_ARG")
def traces_sampler_arg(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_TRACES_SAMPLER", "traceidratio")
    env.setenv("OTEL_TRACES_SAMPLER_ARG", "0.25")
    telemetry = configure(exporters=["memory"])
    assert telemetry.tracer_provider is not None
    chosen = telemetry.tracer_provider.sampler
    assert isinstance(chosen, sampling.TraceIdRatioBased)
    assert chosen.rate == 0.25
    # An explicit sample_ratio wins, parent-based.
    explicit = configure(exporters=["memory"], sample_ratio=0.5).settings
    assert (explicit.sampler, explicit.sample_ratio) == ("parentbased_traceidratio", 0.5)


@case("OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER")
def exporter_selection(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_TRACES_EXPORTER", "memory,console")
    env.setenv("OTEL_METRICS_EXPORTER", "none")
    chosen = configure().settings.exporters
    assert chosen == {"traces": ("memory", "console"), "metrics": ()}
    # An unknown name from the environment is warned about and left out, never raised.
    env.setenv("OTEL_TRACES_EXPORTER", "zipkin,memory")
    env.setenv("OTEL_METRICS_EXPORTER", "prometheus")
    chosen = configure(prometheus_port=0).settings.exporters
    assert chosen == {"traces": ("memory",), "metrics": ("prometheus",)}
    # Unset: console, or otlp when an OTLP endpoint variable is set (documented deviation).
    env.delenv("OTEL_TRACES_EXPORTER")
    env.delenv("OTEL_METRICS_EXPORTER")
    assert configure().settings.exporters["traces"] == ("console",)
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    assert configure().settings.exporters == {"traces": ("otlp",), "metrics": ("otlp",)}


@case("OTEL_LOGS_EXPORTER")
def logs_exporter(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    before = configure().settings
    env.setenv("OTEL_LOGS_EXPORTER", "otlp")
    assert configure().settings == before  # not read


@case("OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE")
def batch_span_processor(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    (queue,) = configure(exporters=["memory"]).span_queues
    assert (queue.schedule_delay, queue.max_queue_size, queue.max_batch_size) == (1.0, 2048, 512)
    env.setenv("OTEL_BSP_SCHEDULE_DELAY", "250")  # milliseconds
    env.setenv("OTEL_BSP_MAX_QUEUE_SIZE", "100")
    env.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "10")
    (queue,) = configure(exporters=["memory"]).span_queues
    assert (queue.schedule_delay, queue.max_queue_size, queue.max_batch_size) == (0.25, 100, 10)


@case("OTEL_BSP_EXPORT_TIMEOUT")
def bsp_export_timeout(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    before = http_value(span_exporter(otlp(receiver)), "timeout")
    env.setenv("OTEL_BSP_EXPORT_TIMEOUT", "60000")
    assert http_value(span_exporter(otlp(receiver)), "timeout") == before == 3.0  # not read


def memory_span(**attributes: Any) -> Any:
    with obskit.span("limited", attributes=attributes) as span:
        for index in range(3):
            span.add_event(f"e{index}", {"a": 1, "b": 2, "c": 3})
    telemetry = obskit.telemetry()
    assert telemetry is not None
    (finished,) = telemetry.info["memory_spans"].get_finished_spans()
    return finished


@case("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")
def value_length(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    configure(exporters=["memory"])
    assert len(memory_span(text="x" * 5000).attributes["text"]) == 4096  # obskit's default
    env.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "20")
    configure(exporters=["memory"])
    assert memory_span(text="x" * 50).attributes["text"] == "x" * 20
    env.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "5")  # the span's own wins
    configure(exporters=["memory"])
    assert memory_span(text="x" * 50).attributes["text"] == "x" * 5


@case("OTEL_ATTRIBUTE_COUNT_LIMIT", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT")
def attribute_count(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    for slim in ("true", "false"):  # obskit's span recorder, then SDK spans
        env.setenv("OBSKIT_SLIM_SPANS", slim)
        env.setenv("OTEL_ATTRIBUTE_COUNT_LIMIT", "3")
        env.delenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", raising=False)
        configure(exporters=["memory"])
        assert len(memory_span(a=1, b=2, c=3, d=4, e=5).attributes) == 3, slim
        env.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
        configure(exporters=["memory"])
        assert len(memory_span(a=1, b=2, c=3, d=4, e=5).attributes) == 2, slim


@case("OTEL_SPAN_EVENT_COUNT_LIMIT", "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT")
def event_limits(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_SPAN_EVENT_COUNT_LIMIT", "2")
    env.setenv("OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT", "1")
    configure(exporters=["memory"])
    events = memory_span().events
    assert len(events) == 2
    assert all(len(event.attributes) == 1 for event in events)


@case("OTEL_SPAN_LINK_COUNT_LIMIT", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT")
def link_limits(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_SPAN_LINK_COUNT_LIMIT", "1")
    env.setenv("OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "1")
    telemetry = configure(exporters=["memory"])
    assert telemetry.tracer_provider is not None
    context = trace_api.SpanContext(1, 2, is_remote=True)
    links = [trace_api.Link(context, {"a": 1, "b": 2}), trace_api.Link(context, {"c": 3})]
    tracer = telemetry.tracer_provider.get_tracer("test")
    tracer.start_span("linked", links=links).end()
    (finished,) = telemetry.info["memory_spans"].get_finished_spans()
    (link,) = finished.links
    assert len(link.attributes) == 1


@case("OTEL_METRIC_EXPORT_INTERVAL", "OTEL_METRIC_EXPORT_TIMEOUT")
def metric_export(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    reader = metric_reader(otlp(receiver))
    assert (reader._export_interval_millis, reader._export_timeout_millis) == (10_000, 3_000)
    env.setenv("OTEL_METRIC_EXPORT_INTERVAL", "60000")
    env.setenv("OTEL_METRIC_EXPORT_TIMEOUT", "1500")
    reader = metric_reader(otlp(receiver))
    assert (reader._export_interval_millis, reader._export_timeout_millis) == (60_000, 1_500)


@case("OTEL_METRICS_EXEMPLAR_FILTER")
def exemplar_filter(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_METRICS_EXEMPLAR_FILTER", "always_off")
    provider: Any = configure(exporters=["memory"]).meter_provider
    assert type(provider._sdk_config.exemplar_filter).__name__ == "AlwaysOffExemplarFilter"


@case("OTEL_EXPORTER_OTLP_ENDPOINT")
def generic_endpoint(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint + "/")
    for signal, exporter in exporters(otlp(receiver)).items():
        assert http_value(exporter, "endpoint") == f"{receiver.http_endpoint}/v1/{signal}"
    env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://{receiver.grpc_endpoint}")
    for exporter in exporters(otlp(receiver)).values():
        assert exporter._endpoint == receiver.grpc_endpoint  # the SDK drops the scheme
        assert exporter._insecure is True


@case("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT")
def signal_endpoints(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    base = receiver.http_endpoint
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")  # overridden per signal
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{base}/custom/spans")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{base}/custom/metrics")
    found = {s: http_value(e, "endpoint") for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": f"{base}/custom/spans", "metrics": f"{base}/custom/metrics"}
    # OBSKIT_OTLP_ENDPOINT (a base URL) wins over all of them.
    env.setenv("OBSKIT_OTLP_ENDPOINT", base)
    found = {s: http_value(e, "endpoint") for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": f"{base}/v1/traces", "metrics": f"{base}/v1/metrics"}


@case(
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
)
def protocols(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"http://{receiver.grpc_endpoint}")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"{receiver.http_endpoint}/v1/metrics")
    env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
    found = {s: transport(e) for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": "grpc", "metrics": "http"}
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{receiver.http_endpoint}/v1/traces")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", f"http://{receiver.grpc_endpoint}")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc")
    found = {s: transport(e) for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": "http", "metrics": "grpc"}
    # Unset: http/protobuf for both, as specified.
    for var in ("PROTOCOL", "TRACES_PROTOCOL", "METRICS_PROTOCOL", "METRICS_ENDPOINT"):
        env.delenv(f"OTEL_EXPORTER_OTLP_{var}")
    assert {s.protocol for s in otlp(receiver).settings.otlp.values()} == {"http/protobuf"}


@case(
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
)
def headers(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    env.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=generic")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=metrics%20team")
    found = {s: http_value(e, "headers")["x-tenant"] for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": "generic", "metrics": "metrics team"}
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=traces")
    found = {s: http_value(e, "headers")["x-tenant"] for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": "traces", "metrics": "metrics team"}


@case(
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
)
def timeouts(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    found = {s: http_value(e, "timeout") for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": 3.0, "metrics": 3.0}  # obskit's default (documented)
    env.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "10000")  # milliseconds: 10 s, not 10,000 s
    found = {s: http_value(e, "timeout") for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": 10.0, "metrics": 10.0}
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "500")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "2500")
    telemetry = otlp(receiver)
    found = {s: http_value(e, "timeout") for s, e in exporters(telemetry).items()}
    assert found == {"traces": 0.5, "metrics": 2.5}
    assert metric_reader(telemetry)._export_timeout_millis == 2_500
    # OBSKIT_OTLP_TIMEOUT (seconds) and otlp_timeout= win.
    env.setenv("OBSKIT_OTLP_TIMEOUT", "4")
    assert http_value(span_exporter(otlp(receiver)), "timeout") == 4.0
    assert http_value(span_exporter(otlp(receiver, otlp_timeout=1.5)), "timeout") == 1.5


@case(
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
)
def compression(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    env.setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "none")
    found = {s: http_value(e, "compression") for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": "gzip", "metrics": "none"}
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "deflate")
    env.setenv("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "brotli")  # warned about: none
    found = {s: http_value(e, "compression") for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": "deflate", "metrics": "none"}


@case(
    "OTEL_EXPORTER_OTLP_INSECURE",
    "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
    "OTEL_EXPORTER_OTLP_METRICS_INSECURE",
)
def insecure(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.grpc_endpoint)  # no scheme
    found = {s: e._insecure for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": False, "metrics": False}  # TLS by default
    env.setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "false")
    found = {s: e._insecure for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": False, "metrics": True}
    env.setenv("OTEL_EXPORTER_OTLP_INSECURE", "false")
    env.setenv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "true")
    found = {s: e._insecure for s, e in exporters(otlp(receiver)).items()}
    assert found == {"traces": True, "metrics": False}


@case(
    "OTEL_EXPORTER_OTLP_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
    "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
)
def tls_files(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    for what in ("CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"):
        env.setenv(f"OTEL_EXPORTER_OTLP_{what}", f"/generic/{what.lower()}")
        env.setenv(f"OTEL_EXPORTER_OTLP_METRICS_{what}", f"/metrics/{what.lower()}")
    found = {
        s: (http_value(e, "verify"), http_value(e, "cert"))
        for s, e in exporters(otlp(receiver)).items()
    }
    assert found == {
        "traces": (
            "/generic/certificate",
            ("/generic/client_certificate", "/generic/client_key"),
        ),
        "metrics": ("/metrics/certificate", ("/metrics/client_certificate", "/metrics/client_key")),
    }
    for what in ("CERTIFICATE", "CLIENT_KEY", "CLIENT_CERTIFICATE"):
        env.setenv(f"OTEL_EXPORTER_OTLP_TRACES_{what}", f"/traces/{what.lower()}")
    traces = span_exporter(otlp(receiver))
    assert http_value(traces, "verify") == "/traces/certificate"
    assert http_value(traces, "cert") == ("/traces/client_certificate", "/traces/client_key")


@case("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE")
def temporality(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    delta, cumulative = AggregationTemporality.DELTA, AggregationTemporality.CUMULATIVE
    expected = {
        None: (cumulative, cumulative, cumulative),  # (counter, up-down counter, histogram)
        "delta": (delta, cumulative, delta),
        "lowmemory": (delta, cumulative, delta),
        "cumulative": (cumulative, cumulative, cumulative),
    }
    for value, kinds in expected.items():
        if value is not None:
            env.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", value)
        reader = metric_reader(otlp(receiver))
        chosen = {
            k.__name__.lstrip("_"): t for k, t in reader._instrument_class_temporality.items()
        }
        assert (chosen["Counter"], chosen["UpDownCounter"], chosen["Histogram"]) == kinds, value


@case("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION")
def histogram_aggregation(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.http_endpoint)
    env.setenv("OTEL_METRIC_EXPORT_INTERVAL", "3600000")  # only the flush below exports
    for value, kind in (
        (None, "histogram"),
        ("base2_exponential_bucket_histogram", "exponential_histogram"),
        ("explicit_bucket_histogram", "histogram"),
    ):
        if value is not None:
            env.setenv("OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION", value)
        otlp(receiver, cardinality_limit=5)
        receiver.clear()
        name = f"conformance.latency.{kind}.{value}".lower()  # names are case-insensitive
        latency = obskit.histogram(name, "s", "test")
        for shard in range(8):  # beyond the cardinality limit: the overflow series counts
            latency.record(0.5, {"shard": shard})
        assert obskit.flush(timeout=10)
        found = [
            metric
            for request in receiver.metric_requests
            for resource_metrics in request.resource_metrics
            for scope in resource_metrics.scope_metrics
            for metric in scope.metrics
            if metric.name == name
        ]
        assert found, (
            value,
            [
                m.name
                for r in receiver.metric_requests
                for rm in r.resource_metrics
                for sm in rm.scope_metrics
                for m in sm.metrics
            ],
        )
        assert {metric.WhichOneof("data") for metric in found} == {kind}, value
        points = getattr(found[-1], kind).data_points
        assert len(points) == 6  # 5 attribute sets + the otel.metric.overflow one


@case("OTEL_EXPORTER_PROMETHEUS_HOST", "OTEL_EXPORTER_PROMETHEUS_PORT")
def prometheus_endpoint(env: pytest.MonkeyPatch, receiver: OTLPReceiver) -> None:
    port = free_port()
    env.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", str(port))
    telemetry = configure(exporters=["prometheus"])
    assert telemetry.prometheus_address == ("localhost", port)
    assert listening_address(port) == "127.0.0.1"  # loopback by default, as specified
    obskit.shutdown(timeout=2)
    env.setenv("OTEL_EXPORTER_PROMETHEUS_HOST", "0.0.0.0")
    env.setenv("OTEL_EXPORTER_PROMETHEUS_PORT", "0")
    address = configure(exporters=["prometheus"]).prometheus_address
    assert address is not None
    assert listening_address(address[1]) == "0.0.0.0"


# -- the tests ---------------------------------------------------------------------------


def test_every_variable_in_the_table_has_a_case() -> None:
    documented = documented_variables()
    assert len(documented) == len(set(documented)), "a variable is listed twice"
    assert sorted(documented) == sorted(CASES)


ROWS = sorted(set(CASES.values()), key=lambda case: case.__name__)


@pytest.mark.parametrize("row", ROWS, ids=[row.__name__ for row in ROWS])
def test_variables_behave_as_documented(
    row: Case, monkeypatch: pytest.MonkeyPatch, receiver: OTLPReceiver
) -> None:
    row(monkeypatch, receiver)
