"""How an operation ended: the one outcome classifier, and how a failure is written on a span.

`outcome()` is the only place that decides ok / error / cancelled and the `error.type`
label: `@traced`, `@timed` and every domain operation ask it.
"""

from __future__ import annotations

import sys

from opentelemetry import trace as trace_api
from opentelemetry.trace import Status, StatusCode

from obskit._base.log import log_once
from obskit._base.names import (
    CANCELLED_EVENT,
    ERROR_TYPE,
    EXCEPTION_EVENT,
    EXCEPTION_MESSAGE,
    EXCEPTION_STACKTRACE,
)
from obskit._safety import literals as _literals
from obskit._safety.clean import clean_name, exception_attributes, exception_message
from obskit._safety.secrets import scrub_text


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


def is_cancelled(exc: BaseException | None) -> bool:
    """Whether `exc` is an asyncio cancellation: its own outcome, never an error.

    Examples:
        >>> import asyncio
        >>> is_cancelled(asyncio.CancelledError()), is_cancelled(KeyError("k"))
        (True, False)
    """
    # asyncio is not imported for this: without it loaded no cancellation can exist.
    module = sys.modules.get("asyncio.exceptions")
    return module is not None and isinstance(exc, module.CancelledError)


#: The three ways an operation ends (the `outcome` label of the metrics that have one).
OK = "ok"
ERROR = "error"
CANCELLED = "cancelled"


def outcome(
    exc: BaseException | None, failure: str | None = None, expected: tuple[type, ...] = ()
) -> tuple[str, str | None]:
    """(outcome, `error.type`) of an ended operation: the one classifier.

    No exception and no `failure` label is ok; an exception of an `expected` type is ok
    too (a miss, not a fault); an asyncio cancellation is its own outcome, never an
    error; any other exception is an error typed by its class; a `failure` label given to
    an explicit `end()` ("timeout", "unreachable") is an error of that type.

    Examples:
        >>> import asyncio
        >>> outcome(None), outcome(KeyError("k")), outcome(asyncio.CancelledError())
        (('ok', None), ('error', 'KeyError'), ('cancelled', None))
        >>> outcome(None, "timeout"), outcome(KeyError("k"), expected=(KeyError,))
        (('error', 'timeout'), ('ok', None))
    """
    if exc is None:
        return (OK, None) if failure is None else (ERROR, failure)
    if expected and isinstance(exc, expected):
        return OK, None
    if is_cancelled(exc):
        return CANCELLED, None
    return ERROR, error_type(exc)


def record_exception(span: trace_api.Span, exc: BaseException, *, error: bool = True) -> None:
    """Record an exception on `span` without trusting the exception object.

    An asyncio cancellation is not an error: it adds a `cancelled` event and leaves the
    status UNSET (docs/reliability.md).
    """
    if not span.is_recording():
        return
    if is_cancelled(exc):
        try:
            span.add_event(CANCELLED_EVENT, {"exception.type": error_type(exc)})
        except Exception:
            log_once("record-exception", "recording a cancellation failed", exc_info=True)
        return
    try:
        # Rendered once for the event and the status; scrubbed, then query literals out.
        attributes = exception_attributes(exc, exception_message(exc))
        for key in (EXCEPTION_MESSAGE, EXCEPTION_STACKTRACE):
            attributes[key] = _literals.redact_text(span, scrub_text(str(attributes[key]), key))
        message = str(attributes[EXCEPTION_MESSAGE])
        span.add_event(EXCEPTION_EVENT, attributes)
        if error:
            span.set_attribute(ERROR_TYPE, error_type(exc))
            description = f"{type(exc).__qualname__}: {message}"
            span.set_status(Status(StatusCode.ERROR, clean_name(description)))
    except Exception:
        log_once("record-exception", "recording an exception failed", exc_info=True)
