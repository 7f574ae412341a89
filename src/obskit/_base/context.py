"""The current context, read and set without the OpenTelemetry API's layers.

The hot paths of obskit.span, @traced and the domains read and set the current span
through these.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import Token

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
