"""The protobuf wire format as the OTLP encoder writes it: varints, fields, attribute values.

Attribute keys and short string key-value pairs are cached encoded (bounded caches).
Anything the SDK's encoder would treat differently raises `Unsupported`.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes


class Unsupported(ValueError):
    """A span holds something this encoder leaves to the SDK's encoder."""


_FIXED64 = struct.Struct("<Q").pack
_DOUBLE = struct.Struct("<d").pack


_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_UINT64 = 1 << 64


def _varint_slow(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# Every length below 16 KiB is a tuple lookup instead of a loop (lengths are the most
# frequent varints: one per string, attribute, value and span).
_SMALL = 1 << 14
_VARINTS = tuple(_varint_slow(n) for n in range(_SMALL))


def _varint(value: int) -> bytes:
    return _VARINTS[value] if value < _SMALL else _varint_slow(value)


def _field(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited field: tag, length, payload."""
    size = len(payload)
    return tag + (_VARINTS[size] if size < _SMALL else _varint_slow(size)) + payload


# --- AnyValue ------------------------------------------------------------------------
# AnyValue: string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7. They form a
# oneof, so even default values (False, 0, "") are written.

_TRUE = b"\x10\x01"
_FALSE = b"\x10\x00"


def _int_value(value: int) -> bytes:
    if 0 <= value <= _INT64_MAX:
        return b"\x18" + (_VARINTS[value] if value < _SMALL else _varint_slow(value))
    if _INT64_MIN <= value < 0:
        return b"\x18" + _varint_slow(value + _UINT64)  # two's complement, 10 bytes
    raise Unsupported("int beyond int64")  # the SDK logs and skips the attribute


def _any_value(value: Any) -> bytes:
    kind = type(value)
    if kind is str:
        return _field(b"\x0a", value.encode())
    if kind is int:
        return _int_value(value)
    if kind is float:
        return b"\x21" + _DOUBLE(value)
    if kind is bool:
        return _TRUE if value else _FALSE
    if kind is tuple or kind is list:
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(v)) for v in value]))
    return _any_value_other(value)


def _any_value_other(value: Any) -> bytes:
    # The SDK's isinstance order (trace_encoder's _encode_value), for subclasses and the
    # rarer types.
    if value is None:
        return b""
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, str):
        return _field(b"\x0a", str.encode(value))
    if isinstance(value, int):
        return _int_value(int(value))
    if isinstance(value, float):
        return b"\x21" + _DOUBLE(float(value))
    if isinstance(value, bytes):
        return _field(b"\x3a", bytes(value))
    if isinstance(value, Sequence):
        return _field(b"\x2a", b"".join([_field(b"\x0a", _any_value(v)) for v in value]))
    if isinstance(value, Mapping):
        pairs = [_field(b"\x0a", _key_value(str(k), v)) for k, v in value.items()]
        return _field(b"\x32", b"".join(pairs))
    raise Unsupported(f"attribute value of type {type(value).__name__}")


# --- KeyValue and attribute lists ----------------------------------------------------

_KEYS: dict[str, bytes] = {}  # key -> its encoded KeyValue field 1
_PAIRS: dict[tuple[str, str], bytes] = {}  # (key, short str value) -> KeyValue message
_CACHE_LIMIT = 4096
_CACHED_VALUE_CHARS = 64


def _key(key: str) -> bytes:
    encoded = _KEYS.get(key)
    if encoded is None:
        if type(key) is not str:
            raise Unsupported("attribute key is not a str")
        if len(_KEYS) >= _CACHE_LIMIT:
            _KEYS.clear()
        encoded = _KEYS[key] = _field(b"\x0a", key.encode())
    return encoded


def _key_value(key: str, value: Any) -> bytes:
    return _key(key) + _field(b"\x12", _any_value(value))


def _attributes(tag: bytes, attributes: Mapping[str, Any] | None) -> list[bytes]:
    """The fields of a repeated KeyValue attribute list, each under `tag`."""
    if type(attributes) is BoundedAttributes:
        # The SDK's container iterates under its lock through Python-level methods; its
        # plain dict (same order) is ~1 us cheaper per span for a few attributes.
        attributes = attributes._dict
    if not attributes:
        return []
    out = []
    pairs = _PAIRS
    for key, value in attributes.items():
        if type(value) is str and len(value) <= _CACHED_VALUE_CHARS:
            # Short strings repeat across spans (db.system.name, an index name): the whole
            # KeyValue is a dict hit. Saves ~0.5 us per such attribute.
            pair = pairs.get((key, value))
            if pair is None:
                if len(pairs) >= _CACHE_LIMIT:
                    pairs.clear()
                pair = pairs[(key, value)] = _key_value(key, value)
        else:
            pair = _key_value(key, value)
        out.append(_field(tag, pair))
    return out
