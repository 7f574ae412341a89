"""Span handles and the `span()` context manager (the span recipe they use: obskit._trace.recipe).

Hot-path rule: everything that can be decided once (name, cleaned static attributes,
kind, the tracer for the current provider) lives in a `SpanRecipe` built when a decorator
is applied or a domain module loads; a call only reads it. Context managers are classes,
never `@contextmanager` generators (those cost microseconds per use).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Generic, TypeVar

from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind, Status, StatusCode

from obskit._base.context import SPAN_KEY, attach_span, current_span_context, detach_span
from obskit._base.context import get_context as get_context
from obskit._base.context import reset_context as reset_context
from obskit._base.context import set_context as set_context
from obskit._base.log import log_once
from obskit._base.names import ERROR_TYPE
from obskit._safety import literals as _literals
from obskit._safety.clean import MAX_ATTRIBUTES, clean_attributes, clean_name, clean_value
from obskit._safety.errors import error_type
from obskit._safety.errors import is_cancelled as is_cancelled
from obskit._safety.errors import record_exception as record_exception
from obskit._safety.secrets import scrub_pair, scrub_text
from obskit._trace.recipe import SpanRecipe, _recipe_for
from obskit._trace.recipe import check_ratio as check_ratio

__all__ = [
    "NOOP_HANDLE",
    "SPAN_KEY",
    "AsyncWith",
    "SpanHandle",
    "SpanRecipe",
    "attach_span",
    "current_span",
    "current_span_context",
    "detach_span",
    "error_type",
    "is_cancelled",
    "set_attribute",
    "set_attributes",
    "span",
]


T_co = TypeVar("T_co", covariant=True)


class AsyncWith(Generic[T_co]):
    """`async with` for a context manager whose `with` does no I/O: same enter and exit.

    Examples:
        >>> class Block(AsyncWith[int]):
        ...     def __enter__(self) -> int:
        ...         return 1
        ...     def __exit__(self, *exc_info: object) -> None:
        ...         pass
        >>> import asyncio
        >>> async def use() -> int:
        ...     async with Block() as value:
        ...         return value
        >>> asyncio.run(use())
        1
    """

    __slots__ = ()

    def __enter__(self) -> T_co:
        raise NotImplementedError

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> T_co:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


class SpanHandle:
    """What `with obskit.span(...) as s` gives you: a span that never raises at you.

    Every value goes through obskit's sanitiser, so cyclic lists, huge strings or objects
    with a raising `__str__` are recorded safely instead of raising.

    Examples:
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

        Examples:
            >>> with span("flush") as s:
            ...     s.set_attribute("flush.bytes", 4096)
        """
        if not self.span.is_recording():
            return
        clean = clean_value(value)
        if clean is None or type(key) is not str:
            return
        clean = scrub_pair(key, clean)
        if self._full(key):
            return
        try:
            self.span.set_attribute(key, clean)
        except Exception:
            log_once("set-attribute", "setting attribute %r failed", key, exc_info=True)

    def set_attributes(self, attributes: Mapping[str, object]) -> None:
        """Set several attributes at once (cleaned like `set_attribute`).

        Examples:
            >>> with span("flush") as s:
            ...     s.set_attributes({"flush.bytes": 4096, "flush.files": 2})
        """
        if not self.span.is_recording():
            return
        held = getattr(self.span, "attributes", None)
        room = MAX_ATTRIBUTES - len(held) if held is not None else MAX_ATTRIBUTES
        cleaned = clean_attributes(attributes)
        if held is not None and len(cleaned) > room:
            # Keep the FIRST attributes: the SDK would evict the oldest (research §1.6).
            fresh = [k for k in cleaned if k not in held][: max(0, room)]
            cleaned = {k: v for k, v in cleaned.items() if k in held or k in fresh}
        try:
            self.span.set_attributes(cleaned)
        except Exception:
            log_once("set-attribute", "setting attributes failed", exc_info=True)

    def _full(self, key: str) -> bool:
        """Whether the span's attribute limit is reached (a new key would evict an old one)."""
        held = getattr(self.span, "attributes", None)
        return held is not None and len(held) >= MAX_ATTRIBUTES and key not in held

    def add_event(self, name: str, attributes: Mapping[str, object] | None = None) -> None:
        """Add a timestamped event to the span.

        Examples:
            >>> with span("btree.put") as s:
            ...     s.add_event("btree.node.split", {"btree.node.level": 1})
        """
        if not self.span.is_recording():
            return
        try:
            cleaned = _literals.redact_attributes(self.span, clean_attributes(attributes))
            self.span.add_event(clean_name(name), cleaned)
        except Exception:
            log_once("add-event", "adding event %r failed", name, exc_info=True)

    def record_exception(self, exc: BaseException, *, error: bool = True) -> None:
        """Record `exc` as an `exception` event; with `error`, also mark the span failed.

        Examples:
            >>> with span("replicate") as s:
            ...     s.record_exception(TimeoutError("peer 2"), error=False)
        """
        record_exception(self.span, exc, error=error)

    def set_error(self, description: str | None = None, error_type_value: str = "_OTHER") -> None:
        """Mark the span as failed without an exception (status ERROR and `error.type`).

        Examples:
            >>> with span("vote") as s:
            ...     s.set_error("quorum lost", "quorum_lost")
        """
        if not self.span.is_recording():
            return
        try:
            if type(description) is str:
                description = _literals.redact_text(self.span, scrub_text(description))
            self.span.set_attribute(ERROR_TYPE, error_type_value)
            self.span.set_status(Status(StatusCode.ERROR, description))
        except Exception:
            log_once("set-status", "setting the span status failed", exc_info=True)

    def __repr__(self) -> str:
        return f"<SpanHandle trace={self.trace_id} span={self.span_id}>"


NOOP_HANDLE = SpanHandle(trace_api.INVALID_SPAN)


class span(AsyncWith[SpanHandle]):
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

    Examples:
        >>> import obskit
        >>> with obskit.span("batch", attributes={"batch.size": 2}) as s:
        ...     s.set_attribute("batch.flushed", True)
    """

    __slots__ = ("_attributes", "_links", "_recipe", "_reentered", "_span", "_token")

    def __init__(
        self,
        name: str,
        attributes: Mapping[str, object] | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        *,
        links: Any = None,
        scope: str = "obskit",
    ) -> None:
        self._recipe = _recipe_for(name, kind, scope)
        self._attributes = attributes
        self._links = links
        self._span: trace_api.Span | None = None
        self._token: object = None
        self._reentered = 0

    def __enter__(self) -> SpanHandle:
        if self._span is not None:
            # One span() object per block; entered again while open (nested, or from
            # another thread) it gives a no-op handle rather than losing the open span.
            self._reentered += 1
            log_once("span-reentered", "obskit.span(%r) entered while open; make a new "
                     "span() per block", self._recipe.name)  # fmt: skip
            return NOOP_HANDLE
        tracer = self._recipe.tracer()
        if tracer is None:
            return NOOP_HANDLE
        try:
            attributes = clean_attributes(self._attributes) if self._attributes else None
            current = self._recipe.start(tracer, attributes, links=self._links)
            self._token = attach_span(current)
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
        if self._reentered:
            self._reentered -= 1
            return
        self._span = None
        detach_span(self._token)  # type: ignore[arg-type]
        try:
            self._recipe.finish(current, exc)
        except Exception:
            log_once("span-end", "ending span %r failed", self._recipe.name, exc_info=True)


def current_span() -> SpanHandle:
    """A handle on the span that is current here (a no-op handle when there is none).

    Examples:
        >>> import obskit
        >>> obskit.current_span().set_attribute("db.response.returned_rows", 10)
    """
    current = trace_api.get_current_span()
    return NOOP_HANDLE if current is trace_api.INVALID_SPAN else SpanHandle(current)


def set_attribute(key: str, value: object) -> None:
    """Set one attribute on the current span, from anywhere; a no-op without one.

    Examples:
        >>> import obskit
        >>> obskit.set_attribute("btree.outcome", "hit")
    """
    current_span().set_attribute(key, value)


def set_attributes(attributes: Mapping[str, object] | None = None, **more: object) -> None:
    """Set attributes on the current span, from anywhere; a no-op without one.

    Examples:
        >>> import obskit
        >>> obskit.set_attributes({"db.namespace": "main"}, rows=10)
    """
    handle = current_span()
    if attributes:
        handle.set_attributes(attributes)
    if more:
        handle.set_attributes(more)
