"""Byte budgets for spans: estimate a span's encoded size, check it can be encoded, split batches.

A span queue bounded only in *spans* is not bounded in memory: 5,000 spans with a 100 KB
attribute grew RSS by 0.5-1 GiB, and one 8 MiB span made a gRPC collector with the usual
4 MiB limit reject (and the SDK retry) the whole batch around it
(research/reliability.md §2.6-2.7). So obskit bounds bytes at three levels:

* per span (`max_span_bytes`): a bigger span is dropped alone, counted as `too_large`;
* per queue (`max_queue_bytes`): spans beyond it are dropped as `queue_full`;
* per export batch (`max_batch_bytes`, below gRPC's 4 MiB): a batch is closed early.

The estimate is an upper-bound-ish sum of the UTF-8 size of every string plus a fixed
overhead per field; it runs in `on_end`, so it reads only what the span already holds and
costs about a microsecond for a typical span with a handful of attributes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanLimits

__all__ = [
    "DEFAULT_MAX_BATCH_BYTES",
    "DEFAULT_MAX_QUEUE_BYTES",
    "DEFAULT_MAX_SPAN_BYTES",
    "encodable",
    "span_limits",
    "span_size",
]

#: A span estimated above this is dropped (reason `too_large`).
DEFAULT_MAX_SPAN_BYTES = 1024 * 1024
#: Export batches are split to stay below this: gRPC's default receive limit is 4 MiB.
DEFAULT_MAX_BATCH_BYTES = 3 * 1024 * 1024
#: Spans waiting for export hold at most this many (estimated) bytes.
DEFAULT_MAX_QUEUE_BYTES = 32 * 1024 * 1024

# Protobuf framing per span (ids, times, kind, status, scope) and per field; generous on
# purpose so that the estimate errs on the large side.
_SPAN_OVERHEAD = 96
_FIELD_OVERHEAD = 12
_NUMBER = 10


def _text_size(text: str) -> int:
    # isascii() is a fast C scan; only non-ASCII text pays for a real UTF-8 length.
    if text.isascii():
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def _value_size(value: Any) -> int:
    kind = type(value)
    if kind is str:
        return _text_size(value)
    if kind is tuple or kind is list:
        return sum(_value_size(item) + 2 for item in value)
    if kind is bytes:
        return len(value)
    return _NUMBER


def _attributes_size(attributes: Mapping[str, Any] | None) -> int:
    if not attributes:
        return 0
    size = 0
    for key, value in attributes.items():
        size += _FIELD_OVERHEAD + len(key) + _value_size(value)
    return size


def span_size(span: ReadableSpan) -> int:
    """Estimated OTLP-encoded size of `span` in bytes (its resource not included).

    Examples:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> s = TracerProvider().get_tracer("t").start_span("op", attributes={"k": "v" * 100})
        >>> s.end()
        >>> 100 < span_size(s) < 300
        True
    """
    size = _SPAN_OVERHEAD + _text_size(span.name) + _attributes_size(span.attributes)
    for event in span.events:
        size += _FIELD_OVERHEAD + _text_size(event.name) + _attributes_size(event.attributes)
    for link in span.links:
        size += _SPAN_OVERHEAD // 2 + _attributes_size(link.attributes)
    status = span.status.description
    if status:
        size += _text_size(status)
    return size


def _text_ok(text: object) -> bool:
    if type(text) is not str or text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _value_ok(value: Any) -> bool:
    if type(value) is str:
        return _text_ok(value)
    if type(value) is tuple or type(value) is list:
        return all(_value_ok(item) for item in value)
    return True


def _attributes_ok(attributes: Mapping[str, Any] | None) -> bool:
    if not attributes:
        return True
    return all(_text_ok(key) and _value_ok(value) for key, value in attributes.items())


def encodable(span: ReadableSpan) -> bool:
    """Whether every string in `span` can be encoded as UTF-8 (no lone surrogates).

    The SDK's encoder raises on a lone surrogate in a span name and the exporter then
    loses the whole batch; obskit checks each span on the export thread and drops only
    the bad one (reason `encode_error`). Spans made through obskit's API are always
    encodable: its sanitiser replaces lone surrogates.

    Examples:
        >>> from opentelemetry.sdk.trace import TracerProvider
        >>> s = TracerProvider().get_tracer("t").start_span("bad\\ud800")
        >>> s.end()
        >>> encodable(s)
        False
    """
    if not _text_ok(span.name) or not _attributes_ok(span.attributes):
        return False
    if not all(_text_ok(e.name) and _attributes_ok(e.attributes) for e in span.events):
        return False
    return _text_ok(span.status.description) and all(
        _attributes_ok(link.attributes) for link in span.links
    )


def span_limits(max_value_chars: int) -> SpanLimits:
    """SDK span limits capping every attribute value at `max_value_chars` characters.

    obskit's own API already caps values (its sanitiser); this also covers spans made
    through plain OpenTelemetry tracers routed to obskit's provider. The standard
    `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT` / `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT`
    variables still win when set.

    Examples:
        >>> span_limits(4096).max_span_attribute_length
        4096
    """
    env_set = any(
        os.environ.get(var)
        for var in ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")
    )
    return SpanLimits(max_attribute_length=None if env_set else max_value_chars)
