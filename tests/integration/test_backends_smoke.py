"""The backends themselves work: raw OpenTelemetry SDK in, query APIs out.

These tests use no obskit code on purpose: they prove the test harness (the processes,
their configs, the readers) before obskit's own integration tests rely on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from _backends import (
    Jaeger,
    Prometheus,
    Trace,
    find_span,
    span_parent_id,
    span_service,
    span_tags,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from prometheus_client import CollectorRegistry, start_http_server


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _exporter(protocol: str, jaeger: Jaeger) -> SpanExporter:
    if protocol == "grpc":
        return GrpcSpanExporter(endpoint=jaeger.otlp_grpc_endpoint, insecure=True)
    return HttpSpanExporter(endpoint=f"{jaeger.otlp_http_endpoint}/v1/traces")


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_spans_reach_jaeger_with_parent_and_service(jaeger: Jaeger, protocol: str) -> None:
    service = _unique("smoke-traces")
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(_exporter(protocol, jaeger)))
    tracer = provider.get_tracer("obskit.smoke")
    with (
        tracer.start_as_current_span("smoke.parent") as parent,
        tracer.start_as_current_span("smoke.child", attributes={"smoke.key": "value"}),
    ):
        pass
    try:
        assert provider.force_flush(timeout_millis=10_000), "spans not exported within 10s"
    finally:
        provider.shutdown()

    def whole_trace(traces: list[Trace]) -> bool:
        return len(traces) == 1 and len(traces[0]["spans"]) == 2

    (trace,) = jaeger.wait_for_traces(service, whole_trace)
    parent_context = parent.get_span_context()
    assert int(trace["traceID"], 16) == parent_context.trace_id
    root, child = find_span(trace, "smoke.parent"), find_span(trace, "smoke.child")
    assert span_parent_id(root) is None
    assert int(root["spanID"], 16) == parent_context.span_id
    assert span_parent_id(child) == root["spanID"]
    assert span_tags(child)["smoke.key"] == "value"
    assert {span_service(trace, root), span_service(trace, child)} == {service}
    assert service in jaeger.services()
    assert jaeger.trace(parent_context.trace_id) is not None


@pytest.fixture
def metrics_endpoint() -> Iterator[tuple[MeterProvider, int]]:
    """A MeterProvider whose metrics are served on 127.0.0.1:PORT/metrics."""
    registry = CollectorRegistry()  # not the global one: tests stay apart
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    server, thread = start_http_server(port=0, addr="127.0.0.1", registry=registry)
    try:
        yield provider, server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
        provider.shutdown()


def test_counter_is_scraped_by_prometheus(
    prometheus: Prometheus, metrics_endpoint: tuple[MeterProvider, int]
) -> None:
    provider, port = metrics_endpoint
    job = _unique("smoke-metrics")
    counter = provider.get_meter("obskit.smoke").create_counter("smoke.requests")
    counter.add(3, {"route": "/x"})
    prometheus.add_target(job, f"127.0.0.1:{port}")
    try:
        (sample,) = prometheus.wait_for(f'smoke_requests_total{{job="{job}"}}')
    finally:
        prometheus.remove_target(job, f"127.0.0.1:{port}")
    assert sample["metric"]["route"] == "/x"
    assert sample["metric"]["instance"] == f"127.0.0.1:{port}"
    assert float(sample["value"][1]) == 3.0
