"""An in-process OTLP receiver (gRPC and HTTP/protobuf) for tests.

The receiver turns what arrives back into SDK objects (`ReadableSpan`) so the
helpers written for the SDK's `InMemorySpanExporter` work on spans that really
crossed a socket, possibly from another process.
"""

from __future__ import annotations

import gzip
import threading
import zlib
from collections.abc import Callable, Mapping, Sized
from concurrent import futures
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal
from urllib.parse import urlsplit

import grpc

# protobuf ships no type information (types-protobuf is not a dependency).
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.trace import ReadableSpan

from obskit.testing._decode import Exemplar, MetricPoint, _flatten_metrics, _spans_from_request
from obskit.testing._servers import _STOP_TIMEOUT
from obskit.testing._servers import Refusal as Refusal
from obskit.testing._servers import TrackedTCPServer as TrackedTCPServer
from obskit.testing._servers import _Lifecycle as _Lifecycle

__all__ = [
    "DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH",
    "Exemplar",
    "MetricPoint",
    "OTLPProtocol",
    "OTLPReceiver",
]

Transport = Literal["grpc", "http"]
Signal = Literal["traces", "metrics"]
OTLPProtocol = Literal["grpc", "http/protobuf"]

DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH = 4 * 1024 * 1024  # gRPC's own default, and the Collector's
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
