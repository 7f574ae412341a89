"""OTLP protobuf back to SDK objects: what the receiver turns each request into."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

# protobuf ships no type information (types-protobuf is not a dependency).
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

_HAS_IS_REMOTE = trace_pb2.SpanFlags.SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE_MASK
_IS_REMOTE = trace_pb2.SpanFlags.SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK
_TRACE_FLAGS = trace_pb2.SpanFlags.SPAN_FLAGS_TRACE_FLAGS_MASK


@dataclass(frozen=True)
class Exemplar:
    """One exemplar of a received metric point, as OTLP carries it.

    `trace_id`/`span_id` are None when the sender left them out (a value recorded
    outside a sampled span); `filtered_attributes` are the attributes of the measurement
    that the point's own attributes do not hold.
    """

    value: int | float | None
    time_unix_nano: int
    trace_id: int | None
    span_id: int | None
    filtered_attributes: Mapping[str, AnyValue]


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
    exemplars: tuple[Exemplar, ...] = ()


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
    # Bits 0-7 of OTLP's `flags` are the W3C trace flags, taken exactly as sent: the
    # Python SDK's exporters (1.45) and obskit's (which writes the SDK's bytes) leave them
    # 0, so their spans read as not sampled here; Go and Java exporters set them.
    trace_flags = flags & _TRACE_FLAGS
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
    """A `ReadableSpan` rebuilt from OTLP that keeps the sender's dropped counts and flags."""

    _dropped: tuple[int, int, int] = (0, 0, 0)
    _otlp_flags = 0

    @property
    def otlp_flags(self) -> int:
        """The span's OTLP `flags` field as received: W3C trace flags in bits 0-7,
        "parent is remote known" (0x100) and "parent is remote" (0x200)."""
        return self._otlp_flags

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
    received._otlp_flags = span.flags
    return received


def _id(raw: bytes) -> int | None:
    return int.from_bytes(raw, "big") if raw else None


def _exemplars(pb_exemplars: Iterable[metrics_pb2.Exemplar]) -> tuple[Exemplar, ...]:
    exemplars = []
    for exemplar in pb_exemplars:
        value_field = exemplar.WhichOneof("value")
        exemplars.append(
            Exemplar(
                value=getattr(exemplar, value_field) if value_field else None,
                time_unix_nano=exemplar.time_unix_nano,
                trace_id=_id(exemplar.trace_id),
                span_id=_id(exemplar.span_id),
                filtered_attributes=_attributes(exemplar.filtered_attributes),
            )
        )
    return tuple(exemplars)


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
                exemplars=_exemplars(number.exemplars),
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
                exemplars=_exemplars(point.exemplars),
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
                # A summary point has no exemplars field.
                exemplars=_exemplars(getattr(point, "exemplars", ())),
                **common,
            )
