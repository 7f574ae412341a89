"""An in-process OTLP receiver (gRPC and HTTP/protobuf) for tests.

The receiver turns what arrives back into SDK objects (`ReadableSpan`) so the
helpers written for the SDK's `InMemorySpanExporter` work on spans that really
crossed a socket, possibly from another process.
"""

from __future__ import annotations

import gzip
import socket
import socketserver
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence, Sized
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlsplit

import grpc

# protobuf ships no type information (types-protobuf is not a dependency).
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, TraceFlags, TraceState
from opentelemetry.trace.status import Status, StatusCode
from opentelemetry.util.types import AnyValue

__all__ = ["DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH", "MetricPoint", "OTLPProtocol", "OTLPReceiver"]

Transport = Literal["grpc", "http"]
Signal = Literal["traces", "metrics"]
OTLPProtocol = Literal["grpc", "http/protobuf"]

DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH = 4 * 1024 * 1024  # gRPC's own default, and the Collector's
_STOP_TIMEOUT = 5.0  # seconds stop() may spend joining threads before giving up on them
_PROTOBUF = "application/x-protobuf"
_HTTP_PATHS: dict[str, Signal] = {"/v1/traces": "traces", "/v1/metrics": "metrics"}
_GRPC_SERVICES: dict[Signal, str] = {
    "traces": trace_service_pb2.DESCRIPTOR.services_by_name["TraceService"].full_name,
    "metrics": metrics_service_pb2.DESCRIPTOR.services_by_name["MetricsService"].full_name,
}
_EMPTY_RESPONSE: dict[Signal, bytes] = {
    "traces": trace_service_pb2.ExportTraceServiceResponse().SerializeToString(),
    "metrics": metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString(),
}
_HAS_IS_REMOTE = trace_pb2.SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = trace_pb2.SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_S = TypeVar("_S", bound="_Lifecycle")


class _Lifecycle:
    """start()/stop() plus the context-manager protocol, shared by every test server."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Refusal:
    """How a server refuses one request, on whichever transport it came in."""

    http_status: int = 500
    grpc_status: Any = grpc.StatusCode.INTERNAL  # grpc ships no type information
    message: str = "refused by test server"
    retry_after: float | None = None  # seconds; sent as Retry-After or a RetryInfo trailer


class TrackedTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A threading TCP server on 127.0.0.1 whose close() also ends live connections.

    `socketserver` alone either joins connection threads without a bound or leaves them
    serving keep-alive clients after shutdown, so a "stopped" backend would still answer.
    """

    daemon_threads = True
    block_on_close = False  # close() joins with a bound instead
    allow_reuse_address = True  # so a test can restart a server on the port it just freed

    def __init__(self, port: int, handler: type[socketserver.BaseRequestHandler]) -> None:
        self._live: dict[socket.socket, threading.Thread] = {}
        self._live_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", port), handler)

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def serve_in_background(self, name: str) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{self._thread.name if self._thread else 'server'}-conn",
            daemon=True,
        )
        with self._live_lock:
            self._live[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._live_lock:
            self._live.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A peer that hangs up, or close() cutting a connection, is normal here.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close(self, timeout: float = _STOP_TIMEOUT) -> None:
        """Stop accepting, cut every live connection and join the threads within `timeout`."""
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self.shutdown()
            self._thread.join(max(deadline - time.monotonic(), 0))
        self.server_close()
        with self._live_lock:
            live = list(self._live.items())
        for sock, _ in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked in recv()
            except OSError:
                pass
        for _, thread in live:
            thread.join(max(deadline - time.monotonic(), 0))


@dataclass(frozen=True)
class MetricPoint:
    """One data point of a received metric, flattened out of the OTLP request.

    `kind` is the OTLP data type: "sum" (counters, with `is_monotonic`), "gauge",
    "histogram", "exponential_histogram" or "summary". Number points fill `value`;
    the others fill `count`/`sum` (and, for histograms, the buckets).
    """

    name: str
    kind: str
    unit: str
    attributes: Mapping[str, AnyValue]
    resource: Mapping[str, AnyValue]
    scope: str
    time_unix_nano: int
    value: int | float | None = None
    count: int | None = None
    sum: float | None = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    is_monotonic: bool | None = None


class OTLPReceiver(_Lifecycle):
    """Receive OTLP traces and metrics over gRPC and HTTP/protobuf on 127.0.0.1.

    Both transports listen on free ports (or the ports given). Spans come back as
    `ReadableSpan` objects with their resource and scope, metrics as the raw requests
    plus a flattened `metric_points()` view.

    Example::

        with OTLPReceiver() as receiver:
            exporter = OTLPSpanExporter(endpoint=receiver.grpc_endpoint, insecure=True)
            ...  # export spans through a BatchSpanProcessor, then force_flush()
            (span,) = receiver.wait_for_spans(1, timeout=10)
            assert span.resource.attributes["service.name"] == "node-a"

    A child process reaches it through `env`:
    `subprocess.run(cmd, env={**os.environ, **receiver.env})`.
    """

    def __init__(
        self,
        *,
        protocol: OTLPProtocol = "http/protobuf",
        grpc_port: int = 0,
        http_port: int = 0,
        max_receive_message_length: int = DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
    ) -> None:
        if protocol not in ("grpc", "http/protobuf"):
            raise ValueError(f"protocol must be 'grpc' or 'http/protobuf', not {protocol!r}")
        self.protocol: OTLPProtocol = protocol
        self._ports = {"grpc": grpc_port, "http": http_port}
        self._max_receive = max_receive_message_length
        self._changed = threading.Condition()
        self._spans: list[ReadableSpan] = []
        self._metric_requests: list[metrics_service_pb2.ExportMetricsServiceRequest] = []
        self._request_sizes: dict[Transport, list[int]] = {"grpc": [], "http": []}
        self._stopping = threading.Event()
        self._grpc_server: Any = None
        self._grpc_pool: futures.ThreadPoolExecutor | None = None
        self._http_server: TrackedTCPServer | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        """Bind both transports and start serving; a no-op when already started."""
        if self._http_server is not None:
            return
        self._stopping.clear()
        self._grpc_pool = futures.ThreadPoolExecutor(8, thread_name_prefix="otlp-receiver-grpc")
        server = grpc.server(
            self._grpc_pool,
            # so_reuseport=0: binding a port that is in use must fail, not share it silently.
            options=[
                ("grpc.max_receive_message_length", self._max_receive),
                ("grpc.so_reuseport", 0),
            ],
        )
        server.add_generic_rpc_handlers([self._grpc_handler(signal) for signal in _GRPC_SERVICES])
        self._grpc_server = server
        address = f"127.0.0.1:{self._ports['grpc']}"
        try:
            port = server.add_insecure_port(address)  # 0, or RuntimeError, when it cannot bind
        except RuntimeError:
            port = 0
        if not port:
            self._stop_grpc()
            raise OSError(f"cannot bind the OTLP gRPC receiver to {address}")
        server.start()
        self._ports["grpc"] = port
        try:
            http_server = _OTLPHTTPServer(self._ports["http"], self)
        except OSError:
            self._stop_grpc()
            raise
        http_server.serve_in_background("otlp-receiver-http")
        self._http_server, self._ports["http"] = http_server, http_server.port

    def stop(self) -> None:
        """Stop both transports, cutting open connections; keeps what was received."""
        self._stopping.set()  # releases handlers that are delaying their answer
        if self._http_server is not None:
            self._http_server.close()
            self._http_server = None
        self._stop_grpc()

    def _stop_grpc(self) -> None:
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None).wait(_STOP_TIMEOUT)
            self._grpc_server = None
        if self._grpc_pool is not None:
            # grpc leaves its pool to us; idle workers exit on this, busy ones were cancelled.
            self._grpc_pool.shutdown(wait=False, cancel_futures=True)
            self._grpc_pool = None

    # -- addresses -----------------------------------------------------------------

    @property
    def grpc_port(self) -> int:
        self._require_started()
        return self._ports["grpc"]

    @property
    def http_port(self) -> int:
        self._require_started()
        return self._ports["http"]

    @property
    def grpc_endpoint(self) -> str:
        """`host:port`, as `OTLPSpanExporter(endpoint=..., insecure=True)` (gRPC) takes it."""
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """Base URL; the HTTP exporters' `endpoint=` argument needs `/v1/traces` appended."""
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def env(self) -> dict[str, str]:
        """OTEL_EXPORTER_OTLP_* variables pointing a child process here over `protocol`.

        The HTTP exporters append `/v1/<signal>` to OTEL_EXPORTER_OTLP_ENDPOINT but take
        the per-signal variables verbatim; the gRPC exporters use either as `host:port`.
        Per-signal variables are always set so inherited ones cannot redirect the child.
        """
        env = {
            "OTEL_EXPORTER_OTLP_PROTOCOL": self.protocol,
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": self.protocol,
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": self.protocol,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }
        if self.protocol == "grpc":
            base = f"http://{self.grpc_endpoint}"
            signal_endpoints = {"TRACES": base, "METRICS": base}
        else:
            base = self.http_endpoint
            signal_endpoints = {"TRACES": f"{base}/v1/traces", "METRICS": f"{base}/v1/metrics"}
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = base
        for signal, url in signal_endpoints.items():
            env[f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT"] = url
        return env

    def _require_started(self) -> None:
        if self._http_server is None:
            raise RuntimeError(
                "the receiver is not running; call start() or use it in a with block"
            )

    # -- what was received ---------------------------------------------------------

    @property
    def spans(self) -> list[ReadableSpan]:
        """Every span received so far, in arrival order (a copy)."""
        with self._changed:
            return list(self._spans)

    @property
    def metric_requests(self) -> list[metrics_service_pb2.ExportMetricsServiceRequest]:
        """The raw metrics export requests, in arrival order (a copy of the list)."""
        with self._changed:
            return list(self._metric_requests)

    @property
    def requests(self) -> dict[str, int]:
        """Export requests per transport ("grpc", "http"), refused ones included.

        Not counted: gRPC messages over `max_receive_message_length` (gRPC refuses them
        before the receiver sees them) and HTTP requests answered 404/415 or with an
        undecodable body.
        """
        with self._changed:
            return {transport: len(sizes) for transport, sizes in self._request_sizes.items()}

    @property
    def request_sizes(self) -> dict[str, list[int]]:
        """Serialized (uncompressed) protobuf size of every request, per transport."""
        with self._changed:
            return {transport: list(sizes) for transport, sizes in self._request_sizes.items()}

    def metric_points(self, name: str | None = None) -> list[MetricPoint]:
        """Received metric points, flattened, optionally only those of metric `name`."""
        points = (point for request in self.metric_requests for point in _flatten_metrics(request))
        return [point for point in points if name is None or point.name == name]

    def clear(self) -> None:
        """Forget every span, metric request and request count."""
        with self._changed:
            self._spans.clear()
            self._metric_requests.clear()
            for sizes in self._request_sizes.values():
                sizes.clear()

    def wait_for_spans(
        self,
        expected: int | Callable[[list[ReadableSpan]], bool],
        timeout: float = 10.0,
    ) -> list[ReadableSpan]:
        """Block until `expected` spans (or `expected(spans)` is true); return all spans.

        Raises `TimeoutError` naming what did arrive when `timeout` seconds pass first.

        Example::

            receiver.wait_for_spans(lambda spans: any(s.name == "commit" for s in spans))
        """
        ready = _at_least(expected) if isinstance(expected, int) else expected
        with self._changed:
            if self._changed.wait_for(lambda: ready(self._spans), timeout):
                return list(self._spans)
            names = sorted({span.name for span in self._spans})
            raise TimeoutError(
                f"waited {timeout} s for spans ({expected!r}); received {len(self._spans)}: {names}"
            )

    def wait_for_metric_points(self, name: str, timeout: float = 10.0) -> list[MetricPoint]:
        """Block until a point of metric `name` arrived; return all points of that metric."""
        with self._changed:
            self._changed.wait_for(lambda: bool(self.metric_points(name)), timeout)
        points = self.metric_points(name)
        if not points:
            seen = sorted({point.name for point in self.metric_points()})
            raise TimeoutError(f"waited {timeout} s for metric {name!r}; received {seen}")
        return points

    # -- request handling ----------------------------------------------------------

    def _refusal(self, transport: Transport) -> Refusal | None:
        """Hook for fault-injecting subclasses: refuse (or delay) this request."""
        return None

    def _receive(self, transport: Transport, signal: Signal, body: bytes) -> Refusal | None:
        """Count, store and acknowledge one request; return why it was refused, if it was."""
        with self._changed:
            self._request_sizes[transport].append(len(body))
        refusal = self._refusal(transport)
        if refusal is not None:
            return refusal
        try:
            if signal == "traces":
                trace_request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                spans = list(_spans_from_request(trace_request))
                with self._changed:
                    self._spans.extend(spans)
                    self._changed.notify_all()
            else:
                metric_request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
                with self._changed:
                    self._metric_requests.append(metric_request)
                    self._changed.notify_all()
        except (DecodeError, ValueError) as error:
            return Refusal(400, grpc.StatusCode.INVALID_ARGUMENT, f"bad OTLP {signal}: {error}")
        return None

    def _grpc_handler(self, signal: Signal) -> Any:
        def export(body: bytes, context: Any) -> bytes:
            refusal = self._receive("grpc", signal, body)
            if refusal is not None:
                if refusal.retry_after is not None:
                    context.set_trailing_metadata(
                        [("google.rpc.retryinfo-bin", _retry_info(refusal.retry_after))]
                    )
                context.abort(refusal.grpc_status, refusal.message)
            return _EMPTY_RESPONSE[signal]

        # No (de)serializers: the handler sees raw bytes, so sizes are exact and both
        # transports share one decoding path.
        handler = grpc.unary_unary_rpc_method_handler(export)
        return grpc.method_handlers_generic_handler(_GRPC_SERVICES[signal], {"Export": handler})


def _at_least(count: int) -> Callable[[Sized], bool]:
    return lambda items: len(items) >= count


def _retry_info(seconds: float) -> bytes:
    """Encode google.rpc.RetryInfo{retry_delay: Duration} by hand.

    The message is one length-delimited field (tag 0x0a) holding a Duration; encoding it
    here avoids importing googleapis-common-protos, which ships no type information.
    """
    from google.protobuf.duration_pb2 import Duration  # type: ignore[import-untyped]

    whole = int(seconds)
    delay = bytes(Duration(seconds=whole, nanos=int((seconds - whole) * 1e9)).SerializeToString())
    return b"\x0a" + bytes([len(delay)]) + delay  # a Duration is always < 128 bytes


class _OTLPHTTPServer(TrackedTCPServer):
    def __init__(self, port: int, receiver: OTLPReceiver) -> None:
        self.receiver = receiver
        super().__init__(port, _OTLPHTTPHandler)


class _OTLPHTTPHandler(BaseHTTPRequestHandler):
    """POST /v1/traces and /v1/metrics with protobuf bodies, gzip or deflate allowed."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the exporters' requests sessions expect
    server: _OTLPHTTPServer

    def do_POST(self) -> None:
        receiver = self.server.receiver
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        signal = _HTTP_PATHS.get(urlsplit(self.path).path)
        if signal is None:
            self._reply(404, b"", "text/plain")
            return
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != _PROTOBUF:
            self._reply(415, b"only application/x-protobuf is supported", "text/plain")
            return
        try:
            body = _decompress(body, (self.headers.get("Content-Encoding") or "").lower())
        except (OSError, EOFError, zlib.error, ValueError) as error:
            self._reply(400, f"cannot decode the body: {error}".encode(), "text/plain")
            return
        refusal = receiver._receive("http", signal, body)
        if refusal is None:
            self._reply(200, _EMPTY_RESPONSE[signal], _PROTOBUF)
            return
        headers = {}
        if refusal.retry_after is not None:
            headers["Retry-After"] = f"{refusal.retry_after:g}"
        self._reply(refusal.http_status, b"", _PROTOBUF, headers)

    def _reply(
        self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] = {}
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request on stderr would drown test output


def _decompress(body: bytes, encoding: str) -> bytes:
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise ValueError(f"unsupported Content-Encoding {encoding!r}; accepted: gzip, deflate")


# -- OTLP protobuf -> SDK objects ---------------------------------------------------


def _value(value: common_pb2.AnyValue) -> AnyValue:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(_value(item) for item in value.array_value.values)
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return cast(AnyValue, getattr(value, kind))


def _attributes(pairs: Iterable[common_pb2.KeyValue]) -> dict[str, AnyValue]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _context(
    trace_id: bytes, span_id: bytes, flags: int, trace_state: str, is_remote: bool = False
) -> SpanContext:
    # The Python SDK (1.45) leaves the W3C trace-flags byte of `flags` at 0 although its
    # processors only export sampled spans; read 0 as "sampled" so `trace_flags.sampled`
    # says what it said in the sender. (Other flag bits, such as "random", are lost.)
    trace_flags = flags & 0xFF or TraceFlags.SAMPLED
    return SpanContext(
        trace_id=int.from_bytes(trace_id, "big"),
        span_id=int.from_bytes(span_id, "big"),
        is_remote=is_remote,
        trace_flags=TraceFlags(trace_flags),
        trace_state=TraceState.from_header([trace_state]) if trace_state else None,
    )


def _is_remote(flags: int) -> bool:
    return bool(flags & _HAS_IS_REMOTE and flags & _IS_REMOTE)


class _ReceivedSpan(ReadableSpan):
    """A `ReadableSpan` rebuilt from OTLP that keeps the sender's dropped counts."""

    _dropped: tuple[int, int, int] = (0, 0, 0)

    @property
    def dropped_attributes(self) -> int:
        return self._dropped[0]

    @property
    def dropped_events(self) -> int:
        return self._dropped[1]

    @property
    def dropped_links(self) -> int:
        return self._dropped[2]


def _spans_from_request(
    request: trace_service_pb2.ExportTraceServiceRequest,
) -> Iterable[ReadableSpan]:
    for resource_spans in request.resource_spans:
        resource = Resource(
            _attributes(resource_spans.resource.attributes), resource_spans.schema_url or None
        )
        for scope_spans in resource_spans.scope_spans:
            pb_scope = scope_spans.scope
            scope = InstrumentationScope(
                pb_scope.name,
                pb_scope.version or None,
                scope_spans.schema_url or None,
                _attributes(pb_scope.attributes) or None,
            )
            for span in scope_spans.spans:
                yield _span(span, resource, scope)


def _span(span: trace_pb2.Span, resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    context = _context(span.trace_id, span.span_id, span.flags, span.trace_state)
    parent = None
    if span.parent_span_id:
        parent = _context(
            span.trace_id, span.parent_span_id, span.flags, "", _is_remote(span.flags)
        )
    status = StatusCode(span.status.code)
    received = _ReceivedSpan(
        name=span.name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=_attributes(span.attributes),
        events=tuple(
            Event(event.name, _attributes(event.attributes), event.time_unix_nano)
            for event in span.events
        ),
        links=tuple(
            Link(
                _context(
                    link.trace_id,
                    link.span_id,
                    link.flags,
                    link.trace_state,
                    _is_remote(link.flags),
                ),
                _attributes(link.attributes),
            )
            for link in span.links
        ),
        # OTLP numbers kinds from 1 (0 is "unspecified"), the SDK from 0.
        kind=SpanKind(max(span.kind - 1, 0)),
        # The SDK only keeps a description on ERROR (and warns otherwise).
        status=Status(
            status, (span.status.message or None) if status is StatusCode.ERROR else None
        ),
        start_time=span.start_time_unix_nano,
        end_time=span.end_time_unix_nano,
        instrumentation_scope=scope,
    )
    received._dropped = (
        span.dropped_attributes_count,
        span.dropped_events_count,
        span.dropped_links_count,
    )
    return received


def _flatten_metrics(
    request: metrics_service_pb2.ExportMetricsServiceRequest,
) -> Iterable[MetricPoint]:
    for resource_metrics in request.resource_metrics:
        resource = _attributes(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                common = {
                    "name": metric.name,
                    "unit": metric.unit,
                    "resource": resource,
                    "scope": scope_metrics.scope.name,
                }
                yield from _metric_points(metric, common)


def _metric_points(metric: metrics_pb2.Metric, common: dict[str, Any]) -> Iterable[MetricPoint]:
    kind = metric.WhichOneof("data")
    if kind in ("sum", "gauge"):
        data = metric.sum if kind == "sum" else metric.gauge
        monotonic = metric.sum.is_monotonic if kind == "sum" else None
        for number in data.data_points:
            value_field = number.WhichOneof("value")
            yield MetricPoint(
                kind=kind,
                attributes=_attributes(number.attributes),
                time_unix_nano=number.time_unix_nano,
                value=getattr(number, value_field) if value_field else None,
                is_monotonic=monotonic,
                **common,
            )
    elif kind == "histogram":
        for point in metric.histogram.data_points:
            yield MetricPoint(
                kind=kind,
                attributes=_attributes(point.attributes),
                time_unix_nano=point.time_unix_nano,
                count=point.count,
                sum=point.sum if point.HasField("sum") else None,
                bucket_counts=tuple(point.bucket_counts),
                explicit_bounds=tuple(point.explicit_bounds),
                **common,
            )
    elif kind in ("exponential_histogram", "summary"):
        points: Sequence[Any] = getattr(metric, kind).data_points
        for point in points:
            yield MetricPoint(
                kind=kind,
                attributes=_attributes(point.attributes),
                time_unix_nano=point.time_unix_nano,
                count=point.count,
                sum=point.sum,
                **common,
            )
