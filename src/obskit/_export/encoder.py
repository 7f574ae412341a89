"""A direct OTLP trace encoder: SDK spans to `ExportTraceServiceRequest` bytes.

The SDK's encoder builds a protobuf message object per span, attribute and value and then
serialises the tree: about 21 us per span (47k spans/s on one core), which capped obskit's
whole export path near 31k spans/s (docs/performance.md, target 6). This module writes
the protobuf wire format itself (varints, length-delimited fields, fixed64 times), with
the encoded bytes of resources, scopes, attribute keys and short string attributes cached.

It produces exactly what `encode_spans(spans).SerializeToString()` produces: the same
grouping (by resource, then scope, in order of first appearance, equal objects merged as
the SDK's dicts merge them), the same fields in the same (field-number) order, the same
defaults left out. tests/core/test_otlp_encode.py parses both with the official
`opentelemetry-proto` types and compares them, and the bytes, over many kinds of spans.

Anything unusual (a value type the SDK would skip with an error log, an int beyond
int64) raises `Unsupported`; callers then encode that batch with the SDK's encoder.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from obskit._base.log import log_once
from obskit._export.slim import SlimSpan
from obskit._export.wire import _FIXED64, Unsupported, _attributes, _field, _varint

__all__ = ["Unsupported", "encode_request", "serialize_spans"]


_TIMES = struct.Struct("<BQBQ").pack  # span fields 7 and 8 (start/end, fixed64) in one go


def _span_times(start: int | None, end: int | None) -> bytes:
    """Span fields 7 and 8 (start and end, fixed64); an unset time is left out."""
    if start and end:
        return _TIMES(0x39, start, 0x41, end)
    return (b"\x39" + _FIXED64(start) if start else b"") + (b"\x41" + _FIXED64(end) if end else b"")


# --- Span ----------------------------------------------------------------------------
# Span: trace_id 1, span_id 2, trace_state 3, parent_span_id 4, name 5, kind 6,
# start 7, end 8, attributes 9, dropped_attributes 10, events 11, dropped_events 12,
# links 13, dropped_links 14, status 15, flags 16 (fixed32).

# SDK SpanKind values are 0-4 (INTERNAL first); OTLP's enum starts at 1 (0 unspecified).
_KINDS = tuple(b"\x30" + bytes([n + 1]) for n in range(5))
# SpanFlags: CONTEXT_HAS_IS_REMOTE (0x100), plus CONTEXT_IS_REMOTE (0x200) for a remote
# parent (or linked context); field 16 / link field 6, fixed32 little-endian.
_SPAN_FLAGS_LOCAL = b"\x85\x01" + (0x100).to_bytes(4, "little")
_SPAN_FLAGS_REMOTE = b"\x85\x01" + (0x300).to_bytes(4, "little")
_LINK_FLAGS_LOCAL = b"\x35" + (0x100).to_bytes(4, "little")
_LINK_FLAGS_REMOTE = b"\x35" + (0x300).to_bytes(4, "little")
_STATUSES: dict[tuple[int, str | None], bytes] = {}


def _status(code: int, description: str | None) -> bytes:
    # Status: message 2, code 3; cached for the few (code, description) pairs that repeat.
    key = (code, description)
    encoded = _STATUSES.get(key)
    if encoded is None:
        body = (_field(b"\x12", description.encode()) if description else b"") + (
            b"\x18" + _varint(code) if code else b""
        )
        encoded = _field(b"\x7a", body)
        if len(_STATUSES) < 64:
            _STATUSES[key] = encoded
    return encoded


def _trace_state(trace_state: Any) -> bytes:
    if trace_state is None:
        return b""
    text = ",".join([f"{key}={value}" for key, value in trace_state.items()])
    return _field(b"\x1a", text.encode()) if text else b""


def _dropped(container: Any) -> int:
    """The SDK's `dropped_*` count of a BoundedAttributes/BoundedList (0 for others), also
    when nothing was kept (a limit of 0, or every link of a span dropped)."""
    return getattr(container, "dropped", 0) if container is not None else 0


def _encode_sdk_span(span: ReadableSpan) -> bytes:
    """`_encode_span` for the SDK's own span classes, reading their fields directly.

    The public properties copy (`events`, `links` build tuples under a lock, `attributes`
    wraps a proxy) and `SpanKind.value` is a descriptor call: ~1.5 us of the ~6.5 us a
    typical span took through them. The result is the same bytes (tested both ways).
    """
    trace_id, span_id, _, _, trace_state = span._context[:5]  # type: ignore[index]
    parts = [b"\x0a\x10", trace_id.to_bytes(16, "big"), b"\x12\x08", span_id.to_bytes(8, "big")]
    if trace_state:
        parts.append(_trace_state(trace_state))
    parent = span._parent
    if parent is not None:
        parts.append(b"\x22\x08" + parent[1].to_bytes(8, "big"))
    name = span._name
    if name:
        parts.append(_field(b"\x2a", name.encode()))
    parts.append(_KINDS[span._kind._value_])
    parts.append(_span_times(span._start_time, span._end_time))
    attributes = span._attributes
    if attributes:
        parts += _attributes(b"\x4a", attributes)
    if dropped := _dropped(attributes):
        parts.append(b"\x50" + _varint(dropped))
    events = span._events
    if events:
        parts += _events(events)
    if dropped := _dropped(events):
        parts.append(b"\x60" + _varint(dropped))
    links = span._links
    if links:
        parts += _links(links)
    if dropped := _dropped(links):
        parts.append(b"\x70" + _varint(dropped))
    status = span._status
    if status is not None:
        parts.append(_status(status._status_code._value_, status._description))
    parts.append(_SPAN_FLAGS_REMOTE if parent is not None and parent[2] else _SPAN_FLAGS_LOCAL)
    return _field(b"\x12", b"".join(parts))  # ScopeSpans.spans (field 2)


def _events(events: Sequence[Any]) -> list[bytes]:
    out = []
    for event in tuple(events):
        body = [b"\x09" + _FIXED64(event.timestamp)] if event.timestamp else []
        if event.name:
            body.append(_field(b"\x12", event.name.encode()))
        body += _attributes(b"\x1a", event.attributes)
        if event.dropped_attributes:
            body.append(b"\x20" + _varint(event.dropped_attributes))
        out.append(_field(b"\x5a", b"".join(body)))
    return out


def _links(links: Sequence[Any]) -> list[bytes]:
    out = []
    for link in tuple(links):
        linked = link.context
        body = [
            b"\x0a\x10",
            linked.trace_id.to_bytes(16, "big"),
            b"\x12\x08",
            linked.span_id.to_bytes(8, "big"),
        ]
        body += _attributes(b"\x22", link.attributes)
        if link.dropped_attributes:
            body.append(b"\x28" + _varint(link.dropped_attributes))
        body.append(_LINK_FLAGS_REMOTE if linked.is_remote else _LINK_FLAGS_LOCAL)
        out.append(_field(b"\x6a", b"".join(body)))
    return out


# The direct path is taken only for classes whose properties are the SDK's own (both
# ReadableSpan.get_span_context and Span's return `self._context`).
_PROPERTIES = (
    "parent",
    "name",
    "kind",
    "start_time",
    "end_time",
    "attributes",
    "events",
    "links",
    "status",
    "dropped_attributes",
    "dropped_events",
    "dropped_links",
)
_CONTEXT_GETTERS = (ReadableSpan.get_span_context, SdkSpan.get_span_context)
_DIRECT = frozenset(
    cls
    for cls in (ReadableSpan, SdkSpan, *SdkSpan.__subclasses__())
    if all(getattr(cls, p, None) is getattr(ReadableSpan, p) for p in _PROPERTIES)
    and getattr(cls, "get_span_context", None) in _CONTEXT_GETTERS
)
# obskit's own recorder keeps the SDK span's fields under the same names (_export/_slim).
_DIRECT = _DIRECT | {SlimSpan}


def _encode_span(span: ReadableSpan) -> bytes:
    if type(span) in _DIRECT:
        return _encode_sdk_span(span)
    context = span.get_span_context()
    assert context is not None
    parts = [
        b"\x0a\x10",
        context.trace_id.to_bytes(16, "big"),
        b"\x12\x08",
        context.span_id.to_bytes(8, "big"),
    ]
    if context.trace_state:
        parts.append(_trace_state(context.trace_state))
    parent = span.parent
    if parent is not None:
        parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
    name = span.name
    if name:
        parts.append(_field(b"\x2a", name.encode()))
    parts.append(_KINDS[span.kind.value])
    parts.append(_span_times(span.start_time, span.end_time))
    parts += _attributes(b"\x4a", span.attributes)
    if dropped := span.dropped_attributes:
        parts.append(b"\x50" + _varint(dropped))
    parts += _events(span.events)
    if dropped := span.dropped_events:
        parts.append(b"\x60" + _varint(dropped))
    parts += _links(span.links)
    if dropped := span.dropped_links:
        parts.append(b"\x70" + _varint(dropped))
    status = span.status
    if status is not None:
        parts.append(_status(status.status_code.value, status.description))
    parts.append(
        _SPAN_FLAGS_REMOTE if parent is not None and parent.is_remote else _SPAN_FLAGS_LOCAL
    )
    return _field(b"\x12", b"".join(parts))  # ScopeSpans.spans (field 2)


# --- Resource and scope, cached by identity -------------------------------------------
# Cached entries keep their object alive so that its id is never reused for another.

_RESOURCES: dict[int, tuple[Resource, bytes]] = {}
_SCOPES: dict[int, tuple[InstrumentationScope, bytes]] = {}
_OBJECT_CACHE_LIMIT = 64


def _resource_fields(resource: Resource) -> bytes:
    """ResourceSpans field 1 (resource) as bytes; schema_url is added by the caller."""
    cached = _RESOURCES.get(id(resource))
    if cached is not None and cached[0] is resource:
        return cached[1]
    encoded = _field(b"\x0a", b"".join(_attributes(b"\x0a", resource.attributes)))
    if len(_RESOURCES) >= _OBJECT_CACHE_LIMIT:
        _RESOURCES.clear()
    _RESOURCES[id(resource)] = (resource, encoded)
    return encoded


def _scope_fields(scope: InstrumentationScope | None) -> bytes:
    """ScopeSpans field 1 (scope) as bytes."""
    if scope is None:
        return b"\x0a\x00"
    cached = _SCOPES.get(id(scope))
    if cached is not None and cached[0] is scope:
        return cached[1]
    body = []
    if scope.name:
        body.append(_field(b"\x0a", scope.name.encode()))
    if scope.version:
        body.append(_field(b"\x12", scope.version.encode()))
    body += _attributes(b"\x1a", scope.attributes)
    encoded = _field(b"\x0a", b"".join(body))
    if len(_SCOPES) >= _OBJECT_CACHE_LIMIT:
        _SCOPES.clear()
    _SCOPES[id(scope)] = (scope, encoded)
    return encoded


def _schema_url(url: str | None) -> bytes:
    return _field(b"\x1a", url.encode()) if url else b""


def _group_index(known: list[Any], ids: dict[int, int], obj: Any) -> int:
    """The index of `obj`'s group: by identity first, else by equality as the SDK's dict."""
    index = ids.get(id(obj))
    if index is None:
        for i, other in enumerate(known):
            if other == obj:
                index = i
                break
        else:
            index = len(known)
            known.append(obj)
        ids[id(obj)] = index
    return index


def encode_request(spans: Sequence[ReadableSpan]) -> bytes:
    """The serialised OTLP `ExportTraceServiceRequest` for `spans`.

    Byte for byte what `encode_spans(spans).SerializeToString()` from
    `opentelemetry-exporter-otlp-proto-common` returns, several times faster. Raises
    `Unsupported` for values the SDK's encoder would skip with an error log (use the
    SDK's encoder for that batch), and `UnicodeEncodeError` for lone surrogates (which
    the SDK's encoder rejects too).

    Examples:
        >>> from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> span = TracerProvider().get_tracer("t").start_span("op", attributes={"n": 1})
        >>> span.end()
        >>> encode_request([span]) == encode_spans([span]).SerializeToString()
        True
    """
    resources: list[Resource] = []
    resource_ids: dict[int, int] = {}
    # per resource: its scopes (in order), their id -> index map, and each scope's spans
    groups: list[tuple[list[InstrumentationScope | None], dict[int, int], list[list[bytes]]]]
    groups = []
    last_resource: object = None
    last_scope: object = None
    last_spans: list[bytes] = []
    for span in spans:
        resource = span.resource
        scope = span.instrumentation_scope or None
        # Batches are nearly always one resource and a few scopes: runs of the same pair
        # skip the lookups.
        if resource is not last_resource or scope is not last_scope:
            index = _group_index(resources, resource_ids, resource)
            if index == len(groups):
                groups.append(([], {}, []))
            scopes, scope_ids, span_lists = groups[index]
            if scope is None:
                scope_index = _group_index(scopes, scope_ids, None)
            else:
                scope_index = _group_index(scopes, scope_ids, scope)
            if scope_index == len(span_lists):
                span_lists.append([])
            last_resource, last_scope, last_spans = resource, scope, span_lists[scope_index]
        last_spans.append(_encode_span(span))
    out = []
    for resource, (scopes, _, span_lists) in zip(resources, groups, strict=True):
        scope_spans = [
            _field(
                b"\x12",
                _scope_fields(scope)
                + b"".join(encoded)
                + _schema_url(scope.schema_url if scope is not None else None),
            )
            for scope, encoded in zip(scopes, span_lists, strict=True)
        ]
        body = _resource_fields(resource) + b"".join(scope_spans) + _schema_url(resource.schema_url)
        out.append(_field(b"\x0a", body))
    return b"".join(out)


def serialize_spans(spans: Sequence[ReadableSpan]) -> bytes:
    """`encode_request(spans)`, or the SDK encoder's bytes if that raises.

    A batch is never lost to a bug or a gap in this encoder: whatever it cannot encode
    goes through `encode_spans(spans).SerializePartialToString()` (what the SDK's
    exporters send), logged once. If the SDK's encoder raises too, that propagates.

    Examples:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> span = TracerProvider().get_tracer("t").start_span("op", attributes={"big": 2**70})
        >>> span.end()
        >>> len(serialize_spans([span])) > 0  # int beyond int64: the SDK's encoder ran
        True
    """
    try:
        return encode_request(spans)
    except Exception as exc:
        log_once(
            "otlp-encode-fallback",
            "obskit's OTLP encoder could not encode a batch (%s: %s); using the SDK's "
            "encoder for such batches",
            type(exc).__name__,
            exc,
        )
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    data: bytes = encode_spans(spans).SerializePartialToString()
    return data
