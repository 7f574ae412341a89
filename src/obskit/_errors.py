"""How a failure is written on a span: its `error.type`, exception event and status."""

from __future__ import annotations

from opentelemetry import trace as trace_api
from opentelemetry.trace import Status, StatusCode

from obskit import _literals
from obskit._log import log_once
from obskit._names import ERROR_TYPE, EXCEPTION_EVENT, EXCEPTION_MESSAGE, EXCEPTION_STACKTRACE
from obskit._sanitize import clean_name, exception_attributes
from obskit._scrub import scrub_text


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
        attributes = exception_attributes(exc)
        for key in (EXCEPTION_MESSAGE, EXCEPTION_STACKTRACE):  # scrubbed, then query literals
            attributes[key] = _literals.redact_text(span, scrub_text(str(attributes[key]), key))
        message = str(attributes[EXCEPTION_MESSAGE])
        span.add_event(EXCEPTION_EVENT, attributes)
        if error:
            span.set_attribute(ERROR_TYPE, error_type(exc))
            description = f"{type(exc).__qualname__}: {message}"
            span.set_status(Status(StatusCode.ERROR, clean_name(description)))
    except Exception:
        log_once("record-exception", "recording an exception failed", exc_info=True)
