"""OTLPReceiver against the SDK's own OTLP exporters, over real loopback sockets."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricExporter, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from obskit.testing._receiver import OTLPReceiver

pytestmark = pytest.mark.timeout(60)

TRANSPORTS = ["grpc", "http"]
EVERY_ATTRIBUTE_TYPE: dict[str, Any] = {
    "str": "text",
    "bool": True,
    "int": -42,
    "float": 2.5,
    "strs": ["a", "b"],
    "ints": [1, 2, 3],
    "floats": [0.5, 1.5],
    "bools": [True, False],
    "bytes": b"\x00\xff",
    "map": {"k": "v", "nested": {"depth": 2, "list": [1, "x"]}},
}


@pytest.fixture
def receiver() -> Iterator[OTLPReceiver]:
    with OTLPReceiver() as running:
        yield running


def span_exporter(receiver: OTLPReceiver, transport: str, **options: Any) -> SpanExporter:
    if transport == "grpc":
        return GrpcSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True, **options)
    return HttpSpanExporter(endpoint=f"{receiver.http_endpoint}/v1/traces", **options)


def metric_exporter(receiver: OTLPReceiver, transport: str) -> MetricExporter:
    if transport == "grpc":
        return GrpcMetricExporter(endpoint=receiver.grpc_endpoint, insecure=True)
    return HttpMetricExporter(endpoint=f"{receiver.http_endpoint}/v1/metrics")


def tracer_provider(service: str, *exporters: SpanExporter) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), shutdown_on_exit=False
    )
    for exporter in exporters:
        processor = SimpleSpanProcessor if isinstance(exporter, InMemorySpanExporter) else None
        provider.add_span_processor(
            processor(exporter) if processor else BatchSpanProcessor(exporter)
        )
    return provider


def finished_spans(count: int = 1, **attributes: Any) -> Sequence[ReadableSpan]:
    """Spans ready to hand to an exporter's export() directly."""
    memory = InMemorySpanExporter()
    provider = tracer_provider("node-a", memory)
    tracer = provider.get_tracer("obskit.tests")
    for index in range(count):
        tracer.start_span(f"span-{index}", attributes=attributes).end()
    return memory.get_finished_spans()


def plain(value: Any) -> Any:
    """Attribute values with mappings as dicts and sequences as tuples, for comparison."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return tuple(plain(item) for item in value)
    return value


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_spans_arrive_as_the_sdk_made_them(receiver: OTLPReceiver, transport: str) -> None:
    memory = InMemorySpanExporter()
    provider = tracer_provider("node-a", memory, span_exporter(receiver, transport))
    tracer = provider.get_tracer("obskit.tests", "1.2.3")
    with tracer.start_as_current_span("linked") as linked:
        pass
    with tracer.start_as_current_span(
        "parent", kind=SpanKind.SERVER, attributes=EVERY_ATTRIBUTE_TYPE
    ) as parent:
        parent.add_event("split", {"page": 7, "keys": [1, 2]})
        link = Link(linked.get_span_context(), {"why": "batch"})
        with tracer.start_as_current_span("child", links=[link]) as child:
            child.set_status(Status(StatusCode.ERROR, "boom"))
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    remote_parent = trace.set_span_in_context(NonRecordingSpan(remote))
    tracer.start_span("remote-child", context=remote_parent, kind=SpanKind.CONSUMER).end()
    provider.force_flush()

    received = {span.name: span for span in receiver.wait_for_spans(4)}
    provider.shutdown()

    sent_spans = memory.get_finished_spans()
    assert sorted(received) == sorted(span.name for span in sent_spans)
    for sent in sent_spans:
        got = received[sent.name]
        assert isinstance(got, ReadableSpan)
        assert (got.context.trace_id, got.context.span_id) == (
            sent.context.trace_id,
            sent.context.span_id,
        )
        # The flags field as sent, exactly: the Python SDK's exporters (1.45) write no
        # W3C trace flags (bits 0-7), only whether the parent is remote (bits 8-9).
        assert got.context.trace_flags == 0
        remote = sent.parent is not None and sent.parent.is_remote
        assert got.otlp_flags == (0x300 if remote else 0x100)  # type: ignore[attr-defined]
        assert (got.parent is None) == (sent.parent is None)
        if sent.parent is not None and got.parent is not None:
            assert got.parent.span_id == sent.parent.span_id
            assert got.parent.is_remote == sent.parent.is_remote
        assert got.kind == sent.kind
        assert (got.start_time, got.end_time) == (sent.start_time, sent.end_time)
        assert plain(got.attributes) == plain(sent.attributes)
        assert [(e.name, e.timestamp, plain(e.attributes)) for e in got.events] == [
            (e.name, e.timestamp, plain(e.attributes)) for e in sent.events
        ]
        assert [(lk.context.span_id, plain(lk.attributes)) for lk in got.links] == [
            (lk.context.span_id, plain(lk.attributes)) for lk in sent.links
        ]
        assert (got.status.status_code, got.status.description) == (
            sent.status.status_code,
            sent.status.description,
        )
        assert dict(got.resource.attributes) == dict(sent.resource.attributes)
        assert got.instrumentation_scope is not None
        assert got.instrumentation_scope.name == "obskit.tests"
        assert got.instrumentation_scope.version == "1.2.3"

    assert received["child"].parent is not None
    assert received["child"].parent.span_id == received["parent"].context.span_id
    assert received["remote-child"].parent is not None
    assert received["remote-child"].parent.is_remote
    assert plain(received["parent"].attributes)["map"] == {
        "k": "v",
        "nested": {"depth": 2, "list": (1, "x")},
    }


def test_resource_tells_services_apart(receiver: OTLPReceiver) -> None:
    providers = [
        tracer_provider(service, span_exporter(receiver, transport))
        for service, transport in (("node-a", "grpc"), ("node-b", "http"))
    ]
    for provider in providers:
        provider.get_tracer("obskit.tests").start_span("append_entries").end()
        provider.force_flush()

    spans = receiver.wait_for_spans(2)
    for provider in providers:
        provider.shutdown()

    assert sorted(str(span.resource.attributes["service.name"]) for span in spans) == [
        "node-a",
        "node-b",
    ]
    assert receiver.requests == {"grpc": 1, "http": 1}


def test_http_gzip_from_the_exporter(receiver: OTLPReceiver) -> None:
    exporter = span_exporter(receiver, "http", compression=Compression.Gzip)

    assert exporter.export(finished_spans(3, payload="x" * 1000)) is SpanExportResult.SUCCESS

    assert [span.name for span in receiver.spans] == ["span-0", "span-1", "span-2"]
    # Sizes are of the decompressed protobuf, as the exporter's max_request_size counts.
    assert receiver.request_sizes["http"][0] > 3000


def test_http_answers_protobuf_and_decodes_gzip(receiver: OTLPReceiver) -> None:
    body = gzip.compress(encode_spans(finished_spans()).SerializeToString())
    request = urllib.request.Request(
        f"{receiver.http_endpoint}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
    )

    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/x-protobuf"

    assert [span.name for span in receiver.spans] == ["span-0"]


@pytest.mark.parametrize(
    ("path", "content_type", "body", "status"),
    [
        ("/v1/logs", "application/x-protobuf", b"", 404),
        ("/v1/traces", "application/json", b"{}", 415),
        ("/v1/traces", "application/x-protobuf", b"\xff\xff not protobuf", 400),
    ],
)
def test_http_refuses_what_it_cannot_read(
    receiver: OTLPReceiver, path: str, content_type: str, body: bytes, status: int
) -> None:
    request = urllib.request.Request(
        receiver.http_endpoint + path, data=body, headers={"Content-Type": content_type}
    )

    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    error.value.close()  # the error holds the response and its socket

    assert error.value.code == status
    assert receiver.spans == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_counter_and_histogram_points_arrive(receiver: OTLPReceiver, transport: str) -> None:
    # An hour-long interval: only force_flush() exports, so the test decides when.
    reader = PeriodicExportingMetricReader(
        metric_exporter(receiver, transport), export_interval_millis=3_600_000
    )
    provider = MeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": "node-a"}),
        shutdown_on_exit=False,
    )
    meter = provider.get_meter("obskit.tests")
    splits = meter.create_counter("btree.splits", unit="{split}")
    splits.add(3, {"index": "pk"})
    splits.add(2, {"index": "pk"})
    duration = meter.create_histogram(
        "btree.op.duration", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1.0]
    )
    for seconds in (0.05, 0.5, 2.0):
        duration.record(seconds, {"op": "get"})
    try:
        provider.force_flush()
        (counter_point,) = receiver.wait_for_metric_points("btree.splits")
        (histogram_point,) = receiver.metric_points("btree.op.duration")
    finally:
        provider.shutdown()

    assert (counter_point.kind, counter_point.is_monotonic, counter_point.value) == ("sum", True, 5)
    assert counter_point.unit == "{split}"
    assert counter_point.attributes == {"index": "pk"}
    assert counter_point.resource["service.name"] == "node-a"
    assert counter_point.scope == "obskit.tests"
    assert histogram_point.kind == "histogram"
    assert histogram_point.count == 3
    assert histogram_point.sum == pytest.approx(2.55)
    assert histogram_point.bucket_counts == (1, 1, 1)
    assert histogram_point.explicit_bounds == (0.1, 1.0)
    assert histogram_point.attributes == {"op": "get"}
    assert receiver.metric_requests[0].resource_metrics[0].scope_metrics[0].metrics


def test_grpc_default_limit_refuses_an_8_mib_request() -> None:
    big = finished_spans(blob="x" * (8 * 1024 * 1024))
    with OTLPReceiver() as receiver:
        exporter = span_exporter(receiver, "grpc", timeout=2)

        # RESOURCE_EXHAUSTED is retryable for the 1.45 exporter: it retries until the
        # 2 s deadline, then gives the batch up.
        assert exporter.export(big) is SpanExportResult.FAILURE
        assert receiver.requests["grpc"] == 0  # gRPC refused it before our handler
        assert exporter.export(finished_spans()) is SpanExportResult.SUCCESS
        exporter.shutdown()


def test_grpc_limit_is_configurable() -> None:
    big = finished_spans(blob="x" * (8 * 1024 * 1024))
    with OTLPReceiver(max_receive_message_length=16 * 1024 * 1024) as receiver:
        exporter = span_exporter(receiver, "grpc", timeout=10)

        assert exporter.export(big) is SpanExportResult.SUCCESS
        exporter.shutdown()

    (span,) = receiver.spans
    assert len(plain(span.attributes)["blob"]) == 8 * 1024 * 1024
    assert receiver.request_sizes["grpc"][0] > 8 * 1024 * 1024


CHILD = textwrap.dedent(
    """
    import sys
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    if sys.argv[1] == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    resource = Resource.create({"service.name": "child"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    tracer_provider.get_tracer("child").start_span("from-child").end()
    tracer_provider.shutdown()
    reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=3_600_000)
    meter_provider = MeterProvider(metric_readers=[reader], resource=resource)
    meter_provider.get_meter("child").create_counter("child.events").add(1)
    meter_provider.shutdown()
    """
)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
@pytest.mark.parametrize("per_signal", [True, False], ids=["per-signal", "base-only"])
def test_env_points_a_child_process_here(protocol: Any, per_signal: bool) -> None:
    with OTLPReceiver(protocol=protocol) as receiver:
        env = {key: value for key, value in os.environ.items() if not key.startswith("OTEL_")}
        env.update(receiver.env)
        if not per_signal:  # OTEL_EXPORTER_OTLP_ENDPOINT alone must be enough too
            env = {k: v for k, v in env.items() if "_TRACES_" not in k and "_METRICS_" not in k}
        env["OTEL_EXPORTER_OTLP_TIMEOUT"] = "5"
        child = subprocess.run(
            [sys.executable, "-c", CHILD, protocol.split("/")[0]],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert child.returncode == 0, child.stderr

        (span,) = receiver.wait_for_spans(1)
        receiver.wait_for_metric_points("child.events")

    assert span.resource.attributes["service.name"] == "child"
    transport = "grpc" if protocol == "grpc" else "http"
    assert receiver.requests[transport] == 2
    assert sum(receiver.requests.values()) == 2
    assert child.stderr == ""


def test_env_urls_follow_the_sdk_rules() -> None:
    with OTLPReceiver(protocol="http/protobuf") as http, OTLPReceiver(protocol="grpc") as grpc:
        assert http.env["OTEL_EXPORTER_OTLP_ENDPOINT"] == http.http_endpoint
        assert http.env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == f"{http.http_endpoint}/v1/traces"
        assert http.env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
        assert grpc.env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] == f"http://{grpc.grpc_endpoint}"
        assert grpc.env["OTEL_EXPORTER_OTLP_INSECURE"] == "true"


def test_wait_for_spans_accepts_a_predicate_and_times_out(receiver: OTLPReceiver) -> None:
    exporter = span_exporter(receiver, "http")
    assert exporter.export(finished_spans(2)) is SpanExportResult.SUCCESS

    spans = receiver.wait_for_spans(lambda spans: any(s.name == "span-1" for s in spans))
    assert len(spans) == 2
    with pytest.raises(TimeoutError, match=r"received 2: \['span-0', 'span-1'\]"):
        receiver.wait_for_spans(3, timeout=0.05)
    with pytest.raises(TimeoutError, match="metric 'nope'"):
        receiver.wait_for_metric_points("nope", timeout=0.05)


def test_spans_is_a_copy_and_clear_forgets_everything(receiver: OTLPReceiver) -> None:
    assert span_exporter(receiver, "grpc").export(finished_spans()) is SpanExportResult.SUCCESS

    receiver.spans.clear()
    assert len(receiver.spans) == 1
    receiver.clear()
    assert receiver.spans == []
    assert receiver.requests == {"grpc": 0, "http": 0}


def test_concurrent_exports_all_arrive(receiver: OTLPReceiver) -> None:
    def export_many(transport: str) -> None:
        exporter = span_exporter(receiver, transport)
        for _ in range(20):
            assert exporter.export(finished_spans()) is SpanExportResult.SUCCESS
        exporter.shutdown()

    threads = [
        threading.Thread(target=export_many, args=(transport,)) for transport in TRANSPORTS * 2
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(receiver.wait_for_spans(80)) == 80
    assert receiver.requests == {"grpc": 40, "http": 40}


def test_stop_cuts_keep_alive_connections_and_ends_threads() -> None:
    before = set(threading.enumerate())
    receiver = OTLPReceiver()
    receiver.start()
    exporter = span_exporter(receiver, "http", timeout=2)
    assert exporter.export(finished_spans()) is SpanExportResult.SUCCESS  # pools a connection

    receiver.stop()
    receiver.stop()  # idempotent

    # A lingering handler thread would still serve the pooled keep-alive connection.
    assert exporter.export(finished_spans()) is SpanExportResult.FAILURE
    assert receiver.requests["http"] == 1
    exporter.shutdown()
    ours = [
        thread
        for thread in threading.enumerate()
        if thread not in before and thread.name.startswith("otlp-receiver")
    ]
    for thread in ours:
        thread.join(5)
    assert [thread.name for thread in ours if thread.is_alive()] == []


def test_restart_binds_the_same_ports() -> None:
    with OTLPReceiver() as receiver:
        ports = (receiver.grpc_port, receiver.http_port)
        receiver.stop()
        with pytest.raises(RuntimeError, match="not running"):
            _ = receiver.grpc_endpoint
        receiver.start()

        assert (receiver.grpc_port, receiver.http_port) == ports
        assert span_exporter(receiver, "grpc").export(finished_spans()) is SpanExportResult.SUCCESS


def test_rejects_an_unknown_protocol() -> None:
    with pytest.raises(ValueError, match="'grpc' or 'http/protobuf', not 'thrift'"):
        OTLPReceiver(protocol="thrift")  # type: ignore[arg-type]


def _post(receiver: OTLPReceiver, path: str, message: Any) -> None:
    request = urllib.request.Request(
        f"{receiver.http_endpoint}{path}",
        data=message.SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("flags", "sampled", "random", "remote"),
    [
        (0x100, False, False, False),  # what the Python SDK sends: no trace flags
        (0x101, True, False, False),  # sampled, as Go and Java exporters send it
        (0x103, True, True, False),  # sampled, random trace id (W3C level 2)
        (0x302, False, True, True),  # not sampled, remote parent
    ],
)
def test_span_flags_are_decoded_exactly(
    receiver: OTLPReceiver, flags: int, sampled: bool, random: bool, remote: bool
) -> None:
    request = encode_spans(finished_spans())
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                span.parent_span_id = (0xABC).to_bytes(8, "big")
                span.flags = flags
    _post(receiver, "/v1/traces", request)

    (got,) = receiver.spans
    assert got.context.trace_flags.sampled is sampled  # a wrong sampled flag shows
    assert bool(got.context.trace_flags & TraceFlags.RANDOM_TRACE_ID) is random
    assert got.otlp_flags == flags  # type: ignore[attr-defined]
    assert got.parent is not None
    assert got.parent.is_remote is remote


def test_metric_exemplars_are_decoded_exactly(receiver: OTLPReceiver) -> None:
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
    from opentelemetry.proto.common.v1 import common_pb2
    from opentelemetry.proto.metrics.v1 import metrics_pb2

    def exemplar(value: float | int, trace_id: int, span_id: int) -> Any:
        made = metrics_pb2.Exemplar(
            time_unix_nano=1_700_000_000_000_000_007,
            trace_id=trace_id.to_bytes(16, "big") if trace_id else b"",
            span_id=span_id.to_bytes(8, "big") if span_id else b"",
            filtered_attributes=[
                common_pb2.KeyValue(key="db.user", value=common_pb2.AnyValue(string_value="u"))
            ],
        )
        if isinstance(value, int):
            made.as_int = value
        else:
            made.as_double = value
        return made

    histogram = metrics_pb2.Metric(
        name="op.duration",
        unit="s",
        histogram=metrics_pb2.Histogram(
            data_points=[
                metrics_pb2.HistogramDataPoint(
                    count=2, sum=0.75, exemplars=[exemplar(0.5, 0xAB, 0xCD), exemplar(0.25, 0, 0)]
                )
            ]
        ),
    )
    counter = metrics_pb2.Metric(
        name="op.count",
        sum=metrics_pb2.Sum(
            is_monotonic=True,
            data_points=[metrics_pb2.NumberDataPoint(as_int=3, exemplars=[exemplar(3, 1, 2)])],
        ),
    )
    request = metrics_service_pb2.ExportMetricsServiceRequest(
        resource_metrics=[
            metrics_pb2.ResourceMetrics(
                scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[histogram, counter])]
            )
        ]
    )
    _post(receiver, "/v1/metrics", request)

    (point,) = receiver.metric_points("op.duration")
    first, second = point.exemplars
    assert (first.value, first.trace_id, first.span_id) == (0.5, 0xAB, 0xCD)
    assert first.time_unix_nano == 1_700_000_000_000_000_007
    assert first.filtered_attributes == {"db.user": "u"}
    assert (second.value, second.trace_id, second.span_id) == (0.25, None, None)
    (count,) = receiver.metric_points("op.count")
    assert [(e.value, e.trace_id, e.span_id) for e in count.exemplars] == [(3, 1, 2)]


def test_exemplars_from_the_sdk_exporter_name_the_span(receiver: OTLPReceiver) -> None:
    reader = PeriodicExportingMetricReader(
        metric_exporter(receiver, "http"), export_interval_millis=3_600_000
    )
    meters = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    traces = TracerProvider(shutdown_on_exit=False)
    duration = meters.get_meter("obskit.tests").create_histogram("op.duration", unit="s")
    with traces.get_tracer("obskit.tests").start_as_current_span("op") as span:
        duration.record(0.5, {"op": "get"})
    try:
        meters.force_flush()
        (point,) = receiver.wait_for_metric_points("op.duration")
    finally:
        meters.shutdown()
        traces.shutdown()

    (exemplar,) = point.exemplars
    context = span.get_span_context()
    assert (exemplar.trace_id, exemplar.span_id) == (context.trace_id, context.span_id)
    assert exemplar.value == 0.5
    assert exemplar.time_unix_nano > 0
