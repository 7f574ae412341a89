"""The OTLP exporters' parts: endpoints and compression checked up front, obskit's fast span
exporters (its own encoder on the SDK's HTTP and gRPC transports) and a fork-safe metric
exporter. A bad setting logs one warning and leaves that part out.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.metrics.export import (
    MetricExporter,
    MetricExportResult,
    MetricReader,
    MetricsData,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from obskit._base.log import log_once
from obskit._config import Settings
from obskit._export.encoder import serialize_spans

__all__ = ["grpc_insecure", "otlp_endpoint"]


def otlp_endpoint(settings: Settings, signal: str) -> str | None:
    """The OTLP endpoint the exporter of `signal` is given, or None for its default."""
    return settings.otlp_for(signal).endpoint


def _valid_endpoint(endpoint: str, protocol: str) -> bool:
    text = endpoint if "://" in endpoint else f"http://{endpoint}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return protocol == "http/protobuf" or port is not None or "://" in endpoint


def grpc_insecure(endpoint: str, signal: str) -> bool:
    """Whether the OTLP/gRPC exporter for `signal` sends plaintext, as the OTLP exporter
    specification says: `http://` means plaintext and `https://` TLS; an endpoint with no
    scheme uses TLS unless `OTEL_EXPORTER_OTLP_{SIGNAL}_INSECURE` (else
    `OTEL_EXPORTER_OTLP_INSECURE`) is true. A configured certificate is used with TLS.

    Examples:
        >>> grpc_insecure("http://127.0.0.1:4317", "traces"), grpc_insecure("collector:4317", "traces")
        (True, False)
    """
    scheme = endpoint.split("://", 1)[0].lower() if "://" in endpoint else None
    if scheme is not None:
        return scheme == "http"
    for var in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"):
        value = os.environ.get(var)
        if value is not None and value.strip():
            return value.strip().lower() == "true"
    return False


def _otlp_signal_endpoint(settings: Settings, signal: str) -> tuple[bool, str | None]:
    """(usable, endpoint to pass) for one signal; warns once when unusable."""
    chosen = settings.otlp_for(signal)
    endpoint = chosen.endpoint
    if endpoint is None:
        return True, None
    if not _valid_endpoint(endpoint, chosen.protocol):
        log_once(
            f"otlp-endpoint:{endpoint.removesuffix(f'/v1/{signal}')}",  # one per base URL
            "OTLP endpoint %r is not a URL like http://127.0.0.1:4318 (or 127.0.0.1:4317 "
            "for gRPC); %s will not be exported",
            endpoint,
            signal,
        )
        return False, None
    return True, endpoint


def _compression(settings: Settings, signal: str) -> object:
    """The SDK compression value for the signal's validated setting (passed explicitly,
    so the SDK does not read the variables again)."""
    chosen = settings.otlp_for(signal)
    if chosen.protocol == "grpc":
        from grpc import Compression as GrpcCompression

        return (
            GrpcCompression.Gzip if chosen.compression == "gzip" else GrpcCompression.NoCompression
        )
    from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression

    return HttpCompression(chosen.compression)


def _build(what: str, make: Callable[..., object], **kwargs: object) -> object | None:
    """Construct an SDK exporter; log once and leave it out if that fails."""
    try:
        return make(**kwargs)
    except Exception as exc:
        log_once(
            f"build:{what}",
            "building the %s failed (%s: %s); it is left out",
            what,
            type(exc).__name__,
            exc,
        )
        return None


class _ForkSafeMetricExporter(MetricExporter):
    """Delegates to an OTLP metric exporter, building a new one after `os.fork()`.

    The SDK's PeriodicExportingMetricReader restarts its own thread in a forked child
    but keeps exporting through the parent's exporter, whose gRPC channel (or HTTP
    connection pool) is shared with the parent: gRPC children hang on locks the parent's
    threads held at fork time (docs/reliability.md, R10). The inherited exporter is
    kept referenced and never closed, since closing it takes the same locks.
    """

    def __init__(self, make: Callable[[], MetricExporter]) -> None:
        self._make = make
        self._inner = make()
        self._pid = os.getpid()
        self._inherited: list[MetricExporter] = []
        super().__init__(
            preferred_temporality=self._inner._preferred_temporality,
            preferred_aggregation=self._inner._preferred_aggregation,
        )

    def _current(self) -> MetricExporter:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._inherited.append(self._inner)
            self._inner = self._make()
        return self._inner

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        return self._current().export(metrics_data, timeout_millis=timeout_millis, **kwargs)

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return self._current().force_flush(timeout_millis=timeout_millis)

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._current().shutdown(timeout_millis=timeout_millis, **kwargs)


# --- OTLP span exporters with obskit's encoder ----------------------------------------
# The SDK's protobuf encoder costs ~21 us per span and capped export near 31k spans/s;
# obskit's (`_encoder`, ~7 us, byte-identical output) lifts the whole path above
# 60k/s (docs/performance.md, target 6). Only the body changes: retries, timeouts,
# compression, size limits and the SDK's own metrics stay the SDK's.


@functools.cache
def _fast_http_span_exporter() -> type[SpanExporter]:
    """The SDK's OTLP/HTTP span exporter, posting a body made by obskit's encoder."""
    from opentelemetry.exporter.otlp.proto.http import trace_exporter as sdk_http

    sdk_exporter: type[SpanExporter] = sdk_http.OTLPSpanExporter
    too_large = getattr(sdk_http, "_is_request_too_large", None)
    too_large_error = getattr(sdk_http, "RequestPayloadTooLargeError", None)
    status_attribute = getattr(sdk_http, "HTTP_RESPONSE_STATUS_CODE", None)

    class FastHttpSpanExporter(sdk_exporter):  # type: ignore[valid-type,misc]
        # Mirrors OTLPSpanExporter.export (SDK 1.45) with the body from serialize_spans.
        # An SDK whose exporter lacks any of the parts used here keeps its own export.
        _obskit_fast = all(
            part is not None for part in (too_large, too_large_error, status_attribute)
        )

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            if (
                self._shutdown
                or not self._obskit_fast
                or not all(hasattr(self, a) for a in ("_metrics", "_client", "_max_request_size"))
            ):
                result: SpanExportResult = super().export(spans)
                return result
            with self._metrics.export_operation(len(spans)) as outcome:
                try:
                    body = serialize_spans(spans)
                except Exception as error:
                    log_once("otlp-encode", "encoding a span batch failed: %s", error)
                    outcome.error = error
                    return SpanExportResult.FAILURE
                if too_large(body, self._max_request_size):  # type: ignore[misc]
                    log_once(
                        "otlp-too-large",
                        "dropping a span batch: %d bytes, over max_request_size %d",
                        len(body),
                        self._max_request_size,
                    )
                    outcome.error = too_large_error(  # type: ignore[misc]
                        f"Serialized span request size {len(body)} bytes exceeds "
                        f"max_request_size {self._max_request_size} bytes."
                    )
                    return SpanExportResult.FAILURE
                sent = self._client.export(body)
                if not sent.success:
                    outcome.error = sent.error
                    outcome.error_attrs = (
                        {status_attribute: sent.status_code}
                        if sent.status_code is not None
                        else None
                    )
                    return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS

    return FastHttpSpanExporter


@functools.cache
def _fast_grpc_span_exporter() -> type[SpanExporter]:
    """The SDK's OTLP/gRPC span exporter, sending bytes made by obskit's encoder.

    The SDK hands `_translate_data(spans)` (a protobuf message) to a stub whose
    serializer is `SerializeToString`; here `_translate_data` returns the bytes already
    and the stub's serializer passes them through. Retries, reconnects (which rebuild
    the stub through `_initialize_channel_and_stub`) and deadlines stay the SDK's.
    """
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcSpanExporter,
    )
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    method = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

    def passthrough(body: bytes) -> bytes:
        return body

    class BytesTraceServiceStub:
        def __init__(self, channel: Any) -> None:
            self.Export = channel.unary_unary(
                method,
                request_serializer=passthrough,
                response_deserializer=ExportTraceServiceResponse.FromString,
            )

    class FastGrpcSpanExporter(GrpcSpanExporter):  # type: ignore[misc]
        _obskit_fast = True  # encodes with serialize_spans (reads obskit's slim spans too)

        def _initialize_channel_and_stub(self) -> None:
            super()._initialize_channel_and_stub()  # type: ignore[no-untyped-call]
            self._client = BytesTraceServiceStub(self._channel)  # type: ignore[assignment]

        def _translate_data(self, data: Sequence[ReadableSpan]) -> bytes:  # type: ignore[override]
            return serialize_spans(data)

    return FastGrpcSpanExporter


def _otlp_span_exporter(settings: Settings) -> Callable[[], SpanExporter] | None:
    usable, endpoint = _otlp_signal_endpoint(settings, "traces")
    if not usable:
        return None
    kwargs: dict[str, object] = {
        "timeout": settings.otlp_for("traces").timeout,
        "compression": _compression(settings, "traces"),
    }
    if endpoint:
        kwargs["endpoint"] = endpoint
    make: Callable[..., object]
    if settings.otlp_for("traces").protocol == "grpc":
        if endpoint:  # decided here: the SDK forced no-scheme endpoints one way or another
            kwargs["insecure"] = grpc_insecure(endpoint, "traces")
        make = _fast_grpc_span_exporter()
    else:
        make = _fast_http_span_exporter()
    first = _build("OTLP span exporter", make, **kwargs)
    if first is None:
        return None
    built: list[object] = [first]

    def factory() -> SpanExporter:
        # The first call returns the exporter built above; later calls (in a forked
        # child) build a new one so no connection or lock is shared with the parent.
        if built:
            return built.pop()  # type: ignore[return-value]
        return _build("OTLP span exporter", make, **kwargs)  # type: ignore[return-value]

    return factory


def _otlp_metric_reader(settings: Settings) -> MetricReader | None:
    usable, endpoint = _otlp_signal_endpoint(settings, "metrics")
    if not usable:
        return None
    chosen = settings.otlp_for("metrics")
    kwargs: dict[str, object] = {
        "timeout": chosen.timeout,
        "compression": _compression(settings, "metrics"),
    }
    if chosen.protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GrpcMetricExporter,
        )

        make: Callable[..., object] = GrpcMetricExporter
        if endpoint:
            kwargs["insecure"] = grpc_insecure(endpoint, "metrics")
    else:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
            OTLPMetricExporter as HttpMetricExporter,
        )

        make = HttpMetricExporter
    if endpoint:
        kwargs["endpoint"] = endpoint

    def build() -> MetricExporter:
        exporter = _build("OTLP metric exporter", make, **kwargs)
        if exporter is None:
            raise RuntimeError("the OTLP metric exporter could not be built")
        return exporter  # type: ignore[return-value]

    try:
        exporter = _ForkSafeMetricExporter(build)
    except RuntimeError:
        return None
    export_timeout = settings.metrics_export_timeout
    return PeriodicExportingMetricReader(
        exporter,
        export_interval_millis=settings.metrics_interval * 1000,
        export_timeout_millis=(chosen.timeout if export_timeout is None else export_timeout) * 1000,
    )
