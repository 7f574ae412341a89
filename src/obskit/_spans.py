"""Span handles, the `span()` context manager and the per-call-site span recipe.

Hot-path rule: everything that can be decided once (name, cleaned static attributes,
kind, the tracer for the current provider) lives in a `SpanRecipe` built when a decorator
is applied or a domain module loads; a call only reads it. Context managers are classes,
never `@contextmanager` generators (those cost microseconds per use).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from obskit import _providers
from obskit._log import log_once
from obskit._names import ERROR_TYPE, EXCEPTION_EVENT
from obskit._sanitize import clean_attributes, clean_name, clean_value, exception_attributes

__all__ = [
    "NOOP_HANDLE",
    "SpanHandle",
    "SpanRecipe",
    "current_span",
    "error_type",
    "set_attribute",
    "set_attributes",
    "span",
]

_state = _providers.state
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
_VERSION = "0.1.0"


def error_type(exc: BaseException) -> str:
    """The `error.type` value for an exception: its class's qualified name.

    Example:
        >>> error_type(KeyError("k"))
        'KeyError'
    """
    kind = type(exc)
    if kind.__module__ in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class SpanHandle:
    """What `with obskit.span(...) as s` gives you: a span that never raises at you.

    Every value goes through obskit's sanitiser, so cyclic lists, huge strings or objects
    with a raising `__str__` are recorded safely instead of raising.

    Example:
        >>> import obskit
        >>> with obskit.span("compaction") as s:
        ...     s.set_attribute("compaction.level", 2)
        ...     s.add_event("file.written", {"file.size": 4096})
    """

    __slots__ = ("span",)

    def __init__(self, span: trace_api.Span) -> None:
        #: The underlying OpenTelemetry span (a non-recording one when tracing is off).
        self.span = span

    @property
    def is_recording(self) -> bool:
        """Whether the span records anything (False when off or sampled out)."""
        return self.span.is_recording()

    @property
    def trace_id(self) -> str:
        """The trace id as 32 hex digits (all zeros when there is no trace)."""
        return format(self.span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        """The span id as 16 hex digits."""
        return format(self.span.get_span_context().span_id, "016x")

    def set_attribute(self, key: str, value: object) -> None:
        """Set one attribute; None and unencodable keys are skipped.

        Example:
            >>> with span("flush") as s:
            ...     s.set_attribute("flush.bytes", 4096)
        """
        if not self.span.is_recording():
            return
        clean = clean_value(value)
        if clean is None or type(key) is not str:
            return
        try:
            self.span.set_attribute(key, clean)
        except Exception:
            log_once("set-attribute", "setting attribute %r failed", key, exc_info=True)

    def set_attributes(self, attributes: Mapping[str, object]) -> None:
        """Set several attributes at once (cleaned like `set_attribute`).

        Example:
            >>> with span("flush") as s:
            ...     s.set_attributes({"flush.bytes": 4096, "flush.files": 2})
        """
        if not self.span.is_recording():
            return
        try:
            self.span.set_attributes(clean_attributes(attributes))
        except Exception:
            log_once("set-attribute", "setting attributes failed", exc_info=True)

    def add_event(self, name: str, attributes: Mapping[str, object] | None = None) -> None:
        """Add a timestamped event to the span.

        Example:
            >>> with span("btree.put") as s:
            ...     s.add_event("btree.node.split", {"btree.node.level": 1})
        """
        if not self.span.is_recording():
            return
        try:
            self.span.add_event(clean_name(name), clean_attributes(attributes))
        except Exception:
            log_once("add-event", "adding event %r failed", name, exc_info=True)

    def record_exception(self, exc: BaseException, *, error: bool = True) -> None:
        """Record `exc` as an `exception` event; with `error`, also mark the span failed.

        Example:
            >>> with span("replicate") as s:
            ...     s.record_exception(TimeoutError("peer 2"), error=False)
        """
        record_exception(self.span, exc, error=error)

    def set_error(self, description: str | None = None, error_type_value: str = "_OTHER") -> None:
        """Mark the span as failed without an exception (status ERROR and `error.type`).

        Example:
            >>> with span("vote") as s:
            ...     s.set_error("quorum lost", "quorum_lost")
        """
        if not self.span.is_recording():
            return
        try:
            self.span.set_attribute(ERROR_TYPE, error_type_value)
            self.span.set_status(Status(StatusCode.ERROR, description))
        except Exception:
            log_once("set-status", "setting the span status failed", exc_info=True)

    def __repr__(self) -> str:
        return f"<SpanHandle trace={self.trace_id} span={self.span_id}>"


NOOP_HANDLE = SpanHandle(trace_api.INVALID_SPAN)


def record_exception(span: trace_api.Span, exc: BaseException, *, error: bool = True) -> None:
    """Record an exception on `span` without trusting the exception object."""
    if not span.is_recording():
        return
    try:
        span.add_event(EXCEPTION_EVENT, exception_attributes(exc))
        if error:
            span.set_attribute(ERROR_TYPE, error_type(exc))
            try:
                description = f"{type(exc).__qualname__}: {exc}"
            except Exception:
                description = type(exc).__qualname__
            span.set_status(Status(StatusCode.ERROR, clean_name(description)))
    except Exception:
        log_once("record-exception", "recording an exception failed", exc_info=True)


class SpanRecipe:
    """Everything about a span that is known before the call: made once, read per call."""

    __slots__ = (
        "_provider",
        "_tracer",
        "attributes",
        "expected",
        "kind",
        "name",
        "sample_ratio",
        "scope",
    )

    def __init__(
        self,
        name: str,
        attributes: Mapping[str, object] | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        *,
        scope: str = "obskit",
        sample_ratio: float | None = None,
        expected: tuple[type[BaseException], ...] = (),
    ) -> None:
        self.name = clean_name(name)
        self.attributes: dict[str, AttributeValue] = clean_attributes(attributes)
        self.kind = kind
        self.scope = scope
        self.sample_ratio = _check_ratio(sample_ratio)
        self.expected = expected
        self._provider: trace_api.TracerProvider | None = None
        self._tracer: trace_api.Tracer | None = None

    def tracer(self) -> trace_api.Tracer | None:
        """The tracer of the current provider, or None when obskit is off."""
        provider = _state.tracer_provider
        if provider is None:
            provider = _providers.current_tracer_provider()
            if provider is None:
                return None
        if provider is not self._provider:
            self._tracer = provider.get_tracer(self.scope, _VERSION, _SCHEMA_URL)
            self._provider = provider
        return self._tracer

    def start(
        self,
        tracer: trace_api.Tracer,
        attributes: Mapping[str, AttributeValue] | None = None,
        context: context_api.Context | None = None,
        name: str | None = None,
        links: Any = None,
    ) -> trace_api.Span:
        """Start the span (not yet current). Per-call attributes must be clean already."""
        merged = self.attributes
        if attributes:
            merged = {**merged, **attributes}
        ratio = self.sample_ratio
        if ratio is not None and random.random() >= ratio:
            return _unsampled_child(context)
        return tracer.start_span(name or self.name, context, self.kind, merged or None, links)

    def finish(self, span: trace_api.Span, exc: BaseException | None) -> None:
        """End the span, recording `exc` unless it is one of the expected exceptions."""
        if exc is not None and not isinstance(exc, self.expected):
            record_exception(span, exc)
        span.end()


def _check_ratio(ratio: float | None) -> float | None:
    if ratio is None:
        return None
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"sample_ratio must be a number from 0.0 to 1.0, got {ratio!r}")
    return None if ratio >= 1.0 else float(ratio)


def _unsampled_child(context: context_api.Context | None) -> trace_api.Span:
    """A non-recording span that keeps the trace id and carries "not sampled" downstream."""
    parent = trace_api.get_current_span(context).get_span_context()
    trace_id = parent.trace_id if parent.is_valid else random.getrandbits(128) or 1
    return trace_api.NonRecordingSpan(
        trace_api.SpanContext(
            trace_id=trace_id,
            span_id=random.getrandbits(64) or 1,
            is_remote=False,
            trace_flags=trace_api.TraceFlags(trace_api.TraceFlags.DEFAULT),
            trace_state=parent.trace_state if parent.is_valid else None,
        )
    )


class span:
    """Open a span for a block: `with obskit.span(...)` or `async with obskit.span(...)`.

    The span is current inside the block (nested spans become its children), ends when the
    block exits, and records an escaping exception (status ERROR, `error.type`) before
    letting it propagate unchanged. When obskit is off it costs almost nothing and yields
    a no-op handle.

    Args:
        name: the span name, e.g. ``"compaction"``.
        attributes: attributes set at start (cleaned; None values skipped).
        kind: the OpenTelemetry span kind (INTERNAL by default).
        links: span links (e.g. from `obskit.propagation.link_from`).

    Example:
        >>> import obskit
        >>> with obskit.span("batch", attributes={"batch.size": 2}) as s:
        ...     s.set_attribute("batch.flushed", True)
    """

    __slots__ = ("_attributes", "_links", "_recipe", "_span", "_token")

    def __init__(
        self,
        name: str,
        attributes: Mapping[str, object] | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        *,
        links: Any = None,
        scope: str = "obskit",
    ) -> None:
        self._recipe = SpanRecipe(name, None, kind, scope=scope)
        self._attributes = attributes
        self._links = links
        self._span: trace_api.Span | None = None
        self._token: object = None

    def __enter__(self) -> SpanHandle:
        tracer = self._recipe.tracer()
        if tracer is None:
            return NOOP_HANDLE
        try:
            attributes = clean_attributes(self._attributes) if self._attributes else None
            current = self._recipe.start(tracer, attributes, links=self._links)
            self._token = context_api.attach(trace_api.set_span_in_context(current))
        except Exception:
            log_once("span-start", "starting span %r failed", self._recipe.name, exc_info=True)
            return NOOP_HANDLE
        self._span = current
        return SpanHandle(current)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        current = self._span
        if current is None:
            return
        self._span = None
        context_api.detach(self._token)  # type: ignore[arg-type]
        try:
            self._recipe.finish(current, exc)
        except Exception:
            log_once("span-end", "ending span %r failed", self._recipe.name, exc_info=True)

    async def __aenter__(self) -> SpanHandle:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def current_span() -> SpanHandle:
    """A handle on the span that is current here (a no-op handle when there is none).

    Example:
        >>> import obskit
        >>> obskit.current_span().set_attribute("db.response.returned_rows", 10)
    """
    current = trace_api.get_current_span()
    return NOOP_HANDLE if current is trace_api.INVALID_SPAN else SpanHandle(current)


def set_attribute(key: str, value: object) -> None:
    """Set one attribute on the current span, from anywhere; a no-op without one.

    Example:
        >>> import obskit
        >>> obskit.set_attribute("btree.outcome", "hit")
    """
    current_span().set_attribute(key, value)


def set_attributes(attributes: Mapping[str, object] | None = None, **more: object) -> None:
    """Set attributes on the current span, from anywhere; a no-op without one.

    Example:
        >>> import obskit
        >>> obskit.set_attributes({"db.namespace": "main"}, rows=10)
    """
    handle = current_span()
    if attributes:
        handle.set_attributes(attributes)
    if more:
        handle.set_attributes(more)
