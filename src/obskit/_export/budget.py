"""Byte budgets for spans: estimate a span's encoded size, check it can be encoded, split batches.

A span queue bounded only in *spans* is not bounded in memory: 5,000 spans with a 100 KB
attribute grew RSS by 0.5-1 GiB, and one 8 MiB span made a gRPC collector with the usual
4 MiB limit reject (and the SDK retry) the whole batch around it
(docs/reliability.md, R8 and R9). So obskit bounds bytes at three levels:

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
    "NotEncodable",
    "span_limits",
    "span_size",
]

from obskit._config import DEFAULT_MAX_BATCH_BYTES, DEFAULT_MAX_QUEUE_BYTES, DEFAULT_MAX_SPAN_BYTES

# Protobuf framing per span (ids, times, kind, status, scope) and per field; generous on
# purpose so that the estimate errs on the large side.
_SPAN_OVERHEAD = 96
_FIELD_OVERHEAD = 12
_NUMBER = 10


class NotEncodable(ValueError):
    """A span holds text that cannot be encoded as UTF-8 (a lone surrogate)."""


def _text_size(text: str) -> int:
    # isascii() is a fast C scan; only non-ASCII text pays for a real UTF-8 encode, which
    # doubles as the encodability check (one pass over the span in on_end, none later).
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise NotEncodable(text[:40]) from None


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
    # _text_size and _value_size inlined for ASCII text and numbers (nearly every
    # attribute): two calls less per attribute, on every span's end.
    size = _FIELD_OVERHEAD * len(attributes)
    for key, value in attributes.items():
        size += len(key) if key.isascii() else _text_size(key)
        kind = type(value)
        if kind is str:
            size += len(value) if value.isascii() else _text_size(value)
        elif kind is int or kind is float or kind is bool:
            size += _NUMBER
        else:
            size += _value_size(value)
    return size


def span_size(span: ReadableSpan) -> int:
    """Estimated OTLP-encoded size of `span` in bytes (its resource not included).

    Raises `NotEncodable` when a string in the span cannot be encoded as UTF-8: the SDK's
    encoder would raise on it and lose the whole export batch, so obskit drops the span
    alone (reason `encode_error`) before it is queued.

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
