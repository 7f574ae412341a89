"""How a failure is written on a span: its `error.type`, exception event and status."""

from __future__ import annotations

from opentelemetry import trace as trace_api
from opentelemetry.trace import Status, StatusCode

from obskit._log import log_once
from obskit._names import ERROR_TYPE, EXCEPTION_EVENT
from obskit._sanitize import (
    clean_name,
    exception_attributes,
    exception_message,
)


def error_type(exc: BaseException) -> str:
    """The `error.type` value for an exception: its class's qualified name.

    Examples:
        >>> error_type(KeyError("k"))
        'KeyError'
    """
    kind = type(exc)
    if kind.__module__ in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


def record_exception(span: trace_api.Span, exc: BaseException, *, error: bool = True) -> None:
    """Record an exception on `span` without trusting the exception object."""
    if not span.is_recording():
        return
    try:
        span.add_event(EXCEPTION_EVENT, exception_attributes(exc))
        if error:
            span.set_attribute(ERROR_TYPE, error_type(exc))
            description = f"{type(exc).__qualname__}: {exception_message(exc)}"
            span.set_status(Status(StatusCode.ERROR, clean_name(description)))
    except Exception:
        log_once("record-exception", "recording an exception failed", exc_info=True)
