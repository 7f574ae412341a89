"""Carry trace context (W3C `traceparent`, `tracestate`, `baggage`) through any carrier.

Carriers can be a dict (RPC metadata, message headers), bytes (a binary message header),
or any object with attributes (a message class). Extraction never raises: a missing or
malformed carrier gives an empty context, so the receiving side starts a new trace.

Within one process, asyncio tasks inherit context by themselves; threads do not, so use
`bind()` when handing work to a thread pool. Across processes, `inject()` into whatever
crosses the boundary and `continue_trace()` on the other side.

Examples:
    >>> import obskit
    >>> from obskit import propagation
    >>> with obskit.span("append_entries.send"):
    ...     message = {"entries": [], "headers": propagation.inject()}
    >>> with propagation.continue_trace(message["headers"]):
    ...     with obskit.span("append_entries.handle"):
    ...         pass
"""

from __future__ import annotations

import contextvars
import functools
import re
from collections.abc import Callable, Mapping, MutableMapping
from types import TracebackType
from typing import Any, TypeVar

from opentelemetry import propagate
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import Link

from obskit._base.log import log_once
from obskit._safety.clean import clean_attributes
from obskit._trace.handle import SPAN_KEY, AsyncWith, detach_span, set_context
from obskit._trace.w3c import default_trace_context, w3c_fields

__all__ = [
    "FIELDS",
    "bind",
    "continue_trace",
    "extract",
    "from_bytes",
    "inject",
    "link_from",
    "to_bytes",
]

#: The carrier keys the default W3C propagators use.
FIELDS = ("traceparent", "tracestate", "baggage")
_MAX_FIELD_CHARS = 8192
T = TypeVar("T")


def _fields(context: Context | None) -> dict[str, str]:
    found: dict[str, str] | None = None
    try:
        if default_trace_context() is not None:
            found = w3c_fields(context)
        if found is None:
            found = {}
            propagate.inject(found, context=context)
    except Exception:
        log_once("inject", "injecting trace context failed", exc_info=True)
    return found or {}


def inject(carrier: Any = None, *, context: Context | None = None) -> Any:
    """Write the current (or given) trace context into `carrier` and return it.

    `carrier` may be None (a new dict is returned), a mutable mapping, or an object whose
    attributes `traceparent`/`tracestate`/`baggage` are set. Never raises.

    Examples:
        >>> headers = inject({})
        >>> isinstance(headers, dict)
        True
    """
    fields = _fields(context)
    if carrier is None:
        return fields
    try:
        if type(carrier) is dict or isinstance(carrier, MutableMapping):
            carrier.update(fields)
        else:
            for key, value in fields.items():
                setattr(carrier, key, value)
    except Exception:
        log_once("inject-carrier", "could not write trace context into %s", type(carrier).__name__)
    return carrier


def to_bytes(context: Context | None = None) -> bytes:
    """The current (or given) trace context as a compact binary header.

    Examples:
        >>> from_bytes(to_bytes()) is not None
        True
    """
    return "\n".join(f"{k}:{v}" for k, v in _fields(context).items()).encode("ascii", "replace")


def from_bytes(data: bytes | bytearray | memoryview | None) -> Context:
    """The context in a header made by `to_bytes` (empty when missing or malformed).

    Examples:
        >>> from_bytes(b"garbage") == Context()
        True
    """
    if not data:
        return Context()
    try:
        text = bytes(data[: _MAX_FIELD_CHARS * 3]).decode("ascii", "replace")
    except Exception:
        return Context()
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    return extract(fields)


# The common carrier, one obskit itself injected: a dict holding only a version-00
# `traceparent` (no tracestate, no baggage). Parsed here to the SpanContext the W3C
# propagator would build (~1 us instead of ~4); anything else takes the general path.
_TRACEPARENT_00 = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
_ZERO_TRACE, _ZERO_SPAN = "0" * 32, "0" * 16
_NO_STATE = trace_api.DEFAULT_TRACE_STATE


def _plain_traceparent(carrier: Any) -> trace_api.SpanContext | None:
    """The remote SpanContext of a `{"traceparent": "00-..."}` carrier, else None (the
    general path decides: other shapes, invalid ids, non-default propagators)."""
    if type(carrier) is not dict or len(carrier) != 1:
        return None
    value = carrier.get("traceparent")
    if type(value) is not str or len(value) != 55:
        return None
    match = _TRACEPARENT_00.fullmatch(value)
    if match is None or default_trace_context() is None:
        return None
    trace_id, span_id, flags = match.groups()
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN:
        return None
    # What SpanContext(...) builds, without its checks (the ids are valid by the match).
    # Order: trace, span, remote, flags, state, valid (SpanContext is a tuple).
    return tuple.__new__(  # type: ignore[return-value]
        trace_api.SpanContext,
        (int(trace_id, 16), int(span_id, 16), True, trace_api.TraceFlags(int(flags, 16)),
         _NO_STATE, True),
    )  # fmt: skip


def _carrier_fields(carrier: Any) -> dict[str, str]:
    if isinstance(carrier, (bytes, bytearray, memoryview)):
        return {}
    if isinstance(carrier, Mapping):
        items = ((str(k).lower(), v) for k, v in carrier.items() if isinstance(k, str))
        return {k: v for k, v in items if k in FIELDS and isinstance(v, str)}
    found = {}
    for key in FIELDS:
        value = getattr(carrier, key, None)
        if isinstance(value, str):
            found[key] = value
    return found


def extract(carrier: Any) -> Context:
    """The trace context in `carrier` (dict, bytes, or object with attributes).

    Returns an empty `Context` when the carrier is missing or malformed, so work
    continued from it starts a new trace. Never raises.

    Examples:
        >>> extract({"traceparent": "not-a-traceparent"}) == Context()
        True
    """
    if carrier is None:
        return Context()
    try:
        plain = _plain_traceparent(carrier)
        if plain is not None:
            return Context({SPAN_KEY: trace_api.NonRecordingSpan(plain)})
        if isinstance(carrier, (bytes, bytearray, memoryview)):
            return from_bytes(carrier)
        fields = {k: v[:_MAX_FIELD_CHARS] for k, v in _carrier_fields(carrier).items()}
        if not fields:
            return Context()
        trace_context = default_trace_context()
        if trace_context is not None and "baggage" not in fields:
            return trace_context.extract(fields, context=Context())  # baggage: nothing to do
        return propagate.extract(fields, context=Context())
    except Exception:
        log_once("extract", "extracting trace context failed; starting a new trace", exc_info=True)
        return Context()


class continue_trace(AsyncWith[Context]):
    """Make the context in `carrier` current for a block (sync or async `with`).

    Spans opened inside become children of the remote span that injected the carrier.
    A missing or malformed carrier starts a new trace instead.

    Examples:
        >>> from opentelemetry import trace
        >>> carrier = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
        >>> with continue_trace(carrier):
        ...     format(trace.get_current_span().get_span_context().trace_id, "032x")
        '0af7651916cd43dd8448eb211c80319c'
    """

    __slots__ = ("_carrier", "_token")

    def __init__(self, carrier: Any) -> None:
        self._carrier = carrier
        self._token: object = None

    def __enter__(self) -> Context:
        extracted = extract(self._carrier)
        self._token = set_context(extracted)  # the one attach path (obskit._base.context)
        return extracted

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        detach_span(self._token)  # type: ignore[arg-type]  # restores; never raises


def link_from(carrier: Any, attributes: Mapping[str, object] | None = None) -> Link | None:
    """A span link to the span that injected `carrier` (None when it holds no valid context).

    Use links where one span handles many inputs (a batch, a window, a join).

    Examples:
        >>> link_from({}) is None
        True
    """
    try:
        span_context = _plain_traceparent(carrier)
    except Exception:
        span_context = None
    if span_context is None:
        span_context = trace_api.get_current_span(extract(carrier)).get_span_context()
        if not span_context.is_valid:
            return None
    return Link(span_context, clean_attributes(attributes) or None)


def bind(fn: Callable[..., T]) -> Callable[..., T]:
    """Wrap `fn` to run in the context current *now* (for thread pools and callbacks).

    Examples:
        >>> from concurrent.futures import ThreadPoolExecutor
        >>> from opentelemetry import trace
        >>> def trace_id() -> int:
        ...     return trace.get_current_span().get_span_context().trace_id
        >>> with continue_trace({"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}):
        ...     with ThreadPoolExecutor() as pool:
        ...         pool.submit(bind(trace_id)).result() == trace_id() != 0
        True
    """
    captured = contextvars.copy_context()

    def run_in_context(*args: Any, **kwargs: Any) -> T:
        return captured.copy().run(fn, *args, **kwargs)

    # What functools.wraps copies, without its getattr loop (~1 us a bind: paid per task
    # handed to a pool, e.g. twice per write by a Raft leader).
    try:
        run_in_context.__module__ = fn.__module__
        run_in_context.__name__ = fn.__name__
        run_in_context.__qualname__ = fn.__qualname__
        run_in_context.__doc__ = fn.__doc__
        run_in_context.__annotations__ = fn.__annotations__
        if hasattr(fn, "__type_params__"):  # Python 3.12+
            run_in_context.__type_params__ = fn.__type_params__  # type: ignore[attr-defined]
        attributes = getattr(fn, "__dict__", None)
        if attributes:
            run_in_context.__dict__.update(attributes)
    except (AttributeError, TypeError):  # a callable object: copy what it has
        functools.update_wrapper(run_in_context, fn)
    run_in_context.__wrapped__ = fn  # type: ignore[attr-defined]
    return run_in_context
