"""The current context, read and set without the OpenTelemetry API's layers.

The hot paths of obskit.span, @traced and the domains read and set the current span
through these.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextvars import Token
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.trace.propagation import _SPAN_KEY

from obskit._base.log import log_once

# --- the current context, read and set without the OTel API's layers -------------------
# OTel's get_current_span()/attach()/detach() go through three Python frames each to reach
# one ContextVar; reading it directly saves ~0.5 us per traced call (benchmarks/, target 2
# and 3). Any other runtime context (OTEL_PYTHON_CONTEXT) keeps the API path.
_runtime = context_api._RUNTIME_CONTEXT
get_context: Callable[[], Context]
set_context: Callable[[Context], Token[Context]]
reset_context: Callable[[Token[Context]], None]
if type(_runtime) is ContextVarsRuntimeContext:
    get_context = _runtime._current_context.get
    set_context = _runtime._current_context.set
    reset_context = _runtime._current_context.reset
else:  # pragma: no cover - only with a custom OTEL_PYTHON_CONTEXT
    get_context = context_api.get_current
    set_context = context_api.attach
    reset_context = _runtime.detach
_INVALID_CONTEXT = trace_api.INVALID_SPAN_CONTEXT
SPAN_KEY = _SPAN_KEY  # the context key of the current span, for inlined hot paths


# --- unsampled roots whose ids are drawn on demand ---------------------------------------
_getrandbits = random.getrandbits
_NO_STATE = trace_api.DEFAULT_TRACE_STATE
SpanContext = trace_api.SpanContext
_HIGH_BITS = 64  # TraceIdRatioBased reads the low 64 bits of the trace id


class UnsampledRoot(trace_api.NonRecordingSpan):
    """An unsampled root span whose ids are drawn only when something asks for them.

    The sampling decision needs only the trace id's low 64 bits (TraceIdRatioBased
    compares them with its bound), so that is all an unsampled root draws; the rest of the
    trace id and the span id are drawn the first time `get_span_context()` is called
    (`inject`, log correlation, a link to it). Nobody asks on most unsampled operations,
    and then they cost one `getrandbits(64)` instead of two draws and a `SpanContext`.
    Same ids, same distribution, same "not sampled" flag downstream as an eager
    `NonRecordingSpan`; children see that it is unsampled from its type, without asking.

    Made as `UnsampledRoot(low | random_flag << 64)`: until asked, `_context` holds that
    int (the inherited constructor stores it; no Python-level `__init__` of its own).
    """

    __slots__ = ()

    def get_span_context(self) -> trace_api.SpanContext:
        context: Any = self._context  # type: ignore[has-type]
        if type(context) is int:
            trace_id = (_getrandbits(_HIGH_BITS) << 64 | (context & _LOW_MASK)) or 1
            # Order: trace, span, remote, flags, state, valid (SpanContext is a tuple).
            drawn = tuple.__new__(
                SpanContext,
                (trace_id, _getrandbits(64) or 1, False, _ROOT_FLAGS[context >> 64], _NO_STATE,
                 True),
            )  # fmt: skip
            # Two threads may ask at once (a root bound into a pool): setdefault is atomic,
            # so both get the ids drawn first and the trace keeps one id.
            context = self.__dict__.setdefault("_drawn", drawn)
            self._context = context
        return context  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"UnsampledRoot({self.get_span_context()!r})"


_LOW_MASK = (1 << 64) - 1
#: Bit 64 of an `UnsampledRoot`'s pending int: the root's flags (random trace id or not).
_ROOT_FLAGS = (
    trace_api.TraceFlags(trace_api.TraceFlags.DEFAULT),
    trace_api.TraceFlags(trace_api.TraceFlags.RANDOM_TRACE_ID),
)


def current_span_context() -> trace_api.SpanContext:
    """The span context of the current span (INVALID_SPAN_CONTEXT when there is none).

    Examples:
        >>> current_span_context().is_valid
        False
    """
    current: trace_api.Span | None = get_context().get(_SPAN_KEY)  # type: ignore[assignment]
    return _INVALID_CONTEXT if current is None else current.get_span_context()


def exemplar_context(span: trace_api.Span | None) -> Context | None:
    """A context holding `span` if it is sampled, else None (the current context then).

    Pass it to `histogram.record(value, attributes, context)` when the value is recorded
    after the span was detached: the SDK takes a histogram exemplar (trace and span id)
    only from a sampled span in the context it is given. Costs an allocation for sampled
    spans only.

    Examples:
        >>> exemplar_context(trace_api.INVALID_SPAN) is None
        True
    """
    if span is None or not span.get_span_context().trace_flags & 1:
        return None
    return Context({_SPAN_KEY: span})


def attach_span(span: trace_api.Span) -> Token[Context]:
    """Make `span` current (like `context.attach(set_span_in_context(span))`).

    Examples:
        >>> token = attach_span(trace_api.INVALID_SPAN)
        >>> detach_span(token)
    """
    return set_context(Context({**get_context(), _SPAN_KEY: span}))


def detach_span(token: Token[Context]) -> None:
    """Undo `attach_span`; never raises (a token from another context is logged once)."""
    try:
        reset_context(token)
    except Exception:
        log_once("detach", "restoring the previous context failed", exc_info=True)
