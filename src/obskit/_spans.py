"""Span handles, the `span()` context manager and the per-call-site span recipe.

Hot-path rule: everything that can be decided once (name, cleaned static attributes,
kind, the tracer for the current provider) lives in a `SpanRecipe` built when a decorator
is applied or a domain module loads; a call only reads it. Context managers are classes,
never `@contextmanager` generators (those cost microseconds per use).
"""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Callable, Mapping
from contextvars import Token
from types import TracebackType
from typing import Any, Generic, TypeVar

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.util.types import AttributeValue

from obskit import _providers
from obskit._log import log_once
from obskit._names import ERROR_TYPE, EXCEPTION_EVENT
from obskit._sanitize import (
    MAX_ATTRIBUTES,
    clean_attributes,
    clean_name,
    clean_value,
    exception_attributes,
    exception_message,
)

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
    "set_attribute",
    "set_attributes",
    "span",
]

_state = _providers.state
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
_VERSION = "0.1.0"

# --- the current context, read and set without the OTel API's layers -------------------
# OTel's get_current_span()/attach()/detach() go through three Python frames each to reach
# one ContextVar; reading it directly saves ~0.5 us per traced call (benchmarks/, target 2
# and 3). Any other runtime context (OTEL_PYTHON_CONTEXT) keeps the API path.
_runtime = context_api._RUNTIME_CONTEXT
_get_context: Callable[[], Context]
_set_context: Callable[[Context], Token[Context]]
_reset_context: Callable[[Token[Context]], None]
if type(_runtime) is ContextVarsRuntimeContext:
    _get_context = _runtime._current_context.get
    _set_context = _runtime._current_context.set
    _reset_context = _runtime._current_context.reset
else:  # pragma: no cover - only with a custom OTEL_PYTHON_CONTEXT
    _get_context = context_api.get_current
    _set_context = context_api.attach
    _reset_context = _runtime.detach
_INVALID_CONTEXT = trace_api.INVALID_SPAN_CONTEXT
SPAN_KEY = _SPAN_KEY  # the context key of the current span, for inlined hot paths


def current_span_context() -> trace_api.SpanContext:
    """The span context of the current span (INVALID_SPAN_CONTEXT when there is none).

    Examples:
        >>> current_span_context().is_valid
        False
    """
    current: trace_api.Span | None = _get_context().get(_SPAN_KEY)  # type: ignore[assignment]
    return _INVALID_CONTEXT if current is None else current.get_span_context()


def attach_span(span: trace_api.Span) -> Token[Context]:
    """Make `span` current (like `context.attach(set_span_in_context(span))`).

    Examples:
        >>> token = attach_span(trace_api.INVALID_SPAN)
        >>> detach_span(token)
    """
    return _set_context(Context({**_get_context(), _SPAN_KEY: span}))


def detach_span(token: Token[Context]) -> None:
    """Undo `attach_span`; never raises (a token from another context is logged once)."""
    try:
        _reset_context(token)
    except Exception:
        log_once("detach", "restoring the previous context failed", exc_info=True)


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
            self.span.add_event(clean_name(name), clean_attributes(attributes))
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
            description = f"{type(exc).__qualname__}: {exception_message(exc)}"
            span.set_status(Status(StatusCode.ERROR, clean_name(description)))
    except Exception:
        log_once("record-exception", "recording an exception failed", exc_info=True)


# --- sampling without the SDK --------------------------------------------------------
# obskit's own provider samples with ParentBased(TraceIdRatioBased(r)). For it, the
# "not sampled" decisions are made here without entering the SDK, which costs ~5 us even
# when it ends up creating nothing: a child of an unsampled parent gets no span at all
# (the parent stays current, so propagation carries sampled=0) and an unsampled root gets
# a NonRecordingSpan with flags 0. Same decisions the SDK would make: the root's trace id
# comes from the provider's id generator and is checked against the same bound.
_TRACE_ID_MASK = sampling.TraceIdRatioBased.TRACE_ID_LIMIT
_UNKNOWN_SAMPLER = -1  # not obskit's sampler shape: every decision goes through the SDK
_NO_STATE = trace_api.DEFAULT_TRACE_STATE
getrandbits = random.getrandbits
NonRecordingSpan = trace_api.NonRecordingSpan
SpanContext = trace_api.SpanContext


def _root_bound(provider: object) -> int:
    """The TraceIdRatioBased bound of a ParentBased root sampler, or _UNKNOWN_SAMPLER."""
    sampler = getattr(provider, "sampler", None)
    if type(sampler) is not sampling.ParentBased:
        return _UNKNOWN_SAMPLER
    follows_parent = (
        getattr(sampler, "_local_parent_not_sampled", None) is sampling.ALWAYS_OFF
        and getattr(sampler, "_remote_parent_not_sampled", None) is sampling.ALWAYS_OFF
        and getattr(sampler, "_local_parent_sampled", None) is sampling.ALWAYS_ON
        and getattr(sampler, "_remote_parent_sampled", None) is sampling.ALWAYS_ON
    )
    root = getattr(sampler, "_root", None)
    if not follows_parent:
        return _UNKNOWN_SAMPLER
    if type(root) is sampling.TraceIdRatioBased:
        return root.bound
    if root is sampling.ALWAYS_ON:
        return _TRACE_ID_MASK + 1
    if root is sampling.ALWAYS_OFF:
        return 0
    return _UNKNOWN_SAMPLER


class _Preset(threading.local):
    # >0: the root trace id start() drew and checked; -1: a child start() already knows
    # is sampled (sampled parent, empty trace state); 0: nothing decided, ask the sampler.
    trace_id = 0


_preset = _Preset()


class _Sampled:
    """What the SDK reads of a SamplingResult, without its MappingProxy copy (~0.3 us)."""

    __slots__ = ("attributes",)
    decision = sampling.Decision.RECORD_AND_SAMPLE
    trace_state = None  # root, or a parent with an empty trace state: nothing to carry

    def __init__(self, attributes: Any) -> None:
        self.attributes = attributes  # the SDK copies them into the span's own mapping


class _PresetTraceIds:
    """An id generator handing out the root trace id obskit already drew and checked."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.random = bool(getattr(inner, "is_trace_id_random", lambda: False)())

    def generate_trace_id(self) -> int:
        trace_id = _preset.trace_id
        return trace_id if trace_id > 0 else int(self.inner.generate_trace_id())

    def generate_span_id(self) -> int:
        return int(self.inner.generate_span_id())

    def is_trace_id_random(self) -> bool:
        return self.random


class _DecidedSampler(sampling.Sampler):
    """The provider's sampler, skipped when start() already made the same decision.

    Saves the ParentBased -> TraceIdRatioBased round trip (~0.8 us of a ~15 us sampled
    span, target 3); any other use of the tracer still asks the real sampler.
    """

    def __init__(self, inner: sampling.Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> sampling.SamplingResult:
        if _preset.trace_id:
            return _Sampled(attributes)  # type: ignore[return-value]
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return self.inner.get_description()


#: Span attributes given to `SpanRecipe.start`: a mapping, or a callable making one.
Attributes = Mapping[str, AttributeValue] | Callable[[], Mapping[str, AttributeValue]] | None


class SpanRecipe:
    """Everything about a span that is known before the call: made once, read per call."""

    __slots__ = (
        "_bound",
        "_ids",
        "_provider",
        "_root_flags",
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
        self._bound = _UNKNOWN_SAMPLER
        self._ids: Any = None
        self._root_flags = trace_api.TraceFlags(trace_api.TraceFlags.DEFAULT)

    def tracer(self) -> trace_api.Tracer | None:
        """The tracer of the current provider, or None when obskit is off."""
        provider = _state.tracer_provider
        if provider is None:
            provider = _providers.current_tracer_provider()
            if provider is None:
                return None
        if provider is not self._provider:
            self._bind(provider)
        return self._tracer

    def _bind(self, provider: trace_api.TracerProvider) -> None:
        tracer = provider.get_tracer(self.scope, _VERSION, _SCHEMA_URL)
        self._bound = _UNKNOWN_SAMPLER
        ids = getattr(tracer, "id_generator", None)
        bound = _root_bound(provider)
        if bound != _UNKNOWN_SAMPLER and ids is not None:
            try:
                # A private copy of the SDK tracer whose id generator can be handed the
                # root trace id drawn (and checked against the bound) in start().
                own = copy.copy(tracer)
                own.id_generator = _PresetTraceIds(ids)  # type: ignore[attr-defined]
                own.sampler = _DecidedSampler(own.sampler)  # type: ignore[attr-defined]
                random_ids = own.id_generator.is_trace_id_random()  # type: ignore[attr-defined]
                self._root_flags = trace_api.TraceFlags(
                    trace_api.TraceFlags.RANDOM_TRACE_ID if random_ids else 0
                )
                tracer, self._bound = own, bound
                # The SDK's RandomIdGenerator is random.getrandbits behind two frames.
                self._ids = None if type(ids) is RandomIdGenerator else ids
            except Exception:
                log_once("tracer-copy", "fast sampling is unavailable", exc_info=True)
        self._tracer = tracer
        self._provider = provider

    def parent_unsampled(self) -> bool:
        """True when the SDK would make an unsampled child here: skip the span entirely.

        Only for obskit-shaped samplers (ParentBased): the current span's context stays
        current, so injected context still carries its "not sampled" flag downstream.
        """
        if self._bound < 0:
            return False
        parent = current_span_context()
        # SpanContext is a tuple: [3] trace_flags, [5] is_valid (properties cost ~40 ns each)
        return bool(parent[5]) and not parent[3] & 1

    def start_here(
        self, tracer: trace_api.Tracer, attributes: Callable[[], Mapping[str, Any]] | None = None
    ) -> trace_api.Span | None:
        """`start()` in the current context; None means "no span needed" (its parent is
        not sampled and stays current). `attributes` is called only for a sampled span."""
        if self._bound < 0:
            return self.start(tracer, attributes() if attributes else None)
        parent = current_span_context()
        ratio = self.sample_ratio
        if parent[5]:  # is_valid (tuple index: see parent_unsampled)
            if not parent[3] & 1:
                return None
            if ratio is not None and random.random() >= ratio:
                return _unsampled_child(None)
            merged = {**self.attributes, **attributes()} if attributes else self.attributes
            if parent[4]:  # a trace state to carry over: the real sampler does that
                return tracer.start_span(self.name, None, self.kind, merged or None)
            _preset.trace_id = -1  # sampled parent: ParentBased samples, skip asking it
            try:
                return tracer.start_span(self.name, None, self.kind, merged or None)
            finally:
                _preset.trace_id = 0
        if ratio is not None and random.random() >= ratio:
            return _unsampled_child(None)
        ids = self._ids
        trace_id = (getrandbits(128) or 1) if ids is None else ids.generate_trace_id()
        if trace_id & _TRACE_ID_MASK >= self._bound:  # inlined _start_root: ~60 ns a call
            span_id = (getrandbits(64) or 1) if ids is None else ids.generate_span_id()
            return NonRecordingSpan(
                tuple.__new__(  # type: ignore[arg-type]
                    SpanContext, (trace_id, span_id, False, self._root_flags, _NO_STATE, True)
                )
            )
        merged = {**self.attributes, **attributes()} if attributes else self.attributes
        _preset.trace_id = trace_id
        try:
            return tracer.start_span(self.name, None, self.kind, merged or None)
        finally:
            _preset.trace_id = 0

    def start(
        self,
        tracer: trace_api.Tracer,
        attributes: Attributes = None,
        context: context_api.Context | None = None,
        name: str | None = None,
        links: Any = None,
    ) -> trace_api.Span:
        """Start the span (not yet current). Per-call attributes must be clean already.

        `attributes` may be a callable returning them: it is called only for a span that
        will record, so an unsampled operation never builds its span attributes.
        """
        ratio = self.sample_ratio
        if self._bound >= 0:
            if context is None:
                parent = current_span_context()
            else:
                parent = trace_api.get_current_span(context).get_span_context()
            if not parent.is_valid:
                if ratio is not None and random.random() >= ratio:
                    return _unsampled_child(context)
                return self._start_root(tracer, attributes, context, name, links)
            if not parent.trace_flags.sampled:
                return trace_api.NonRecordingSpan(parent)
            if not parent[4]:  # a sampled parent, no trace state: ParentBased samples
                if ratio is not None and random.random() >= ratio:
                    return _unsampled_child(context)
                if callable(attributes):
                    attributes = attributes()
                merged = {**self.attributes, **attributes} if attributes else self.attributes
                _preset.trace_id = -1  # skip re-asking the sampler (~0.5 us), as start_here
                try:
                    return tracer.start_span(
                        name or self.name, context, self.kind, merged or None, links
                    )
                finally:
                    _preset.trace_id = 0
        if ratio is not None and random.random() >= ratio:
            return _unsampled_child(context)
        if callable(attributes):
            attributes = attributes()
        merged = {**self.attributes, **attributes} if attributes else self.attributes
        return tracer.start_span(name or self.name, context, self.kind, merged or None, links)

    def _start_root(
        self,
        tracer: trace_api.Tracer,
        attributes: Attributes,
        context: context_api.Context | None,
        name: str | None,
        links: Any,
    ) -> trace_api.Span:
        ids = self._ids
        trace_id = (getrandbits(128) or 1) if ids is None else ids.generate_trace_id()
        if trace_id & _TRACE_ID_MASK >= self._bound:
            span_id = (getrandbits(64) or 1) if ids is None else ids.generate_span_id()
            # tuple.__new__ skips SpanContext's argument checks (~300 -> ~100 ns): the
            # ids are valid by construction. Order: trace, span, remote, flags, state, valid.
            return trace_api.NonRecordingSpan(
                tuple.__new__(  # type: ignore[arg-type]
                    trace_api.SpanContext,
                    (trace_id, span_id, False, self._root_flags, _NO_STATE, True),
                )
            )
        if callable(attributes):
            attributes = attributes()
        merged = {**self.attributes, **attributes} if attributes else self.attributes
        _preset.trace_id = trace_id  # the SDK's sampler will agree: same id, same bound
        try:
            return tracer.start_span(name or self.name, context, self.kind, merged or None, links)
        finally:
            _preset.trace_id = 0  # unused if `tracer` was not this recipe's copy

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
    if context is None:
        parent = current_span_context()
    else:
        parent = trace_api.get_current_span(context).get_span_context()
    # Built with tuple.__new__ like a root (ids valid by construction: ~1 us saved). Order:
    # trace, span, remote, flags, state, valid (SpanContext is a tuple).
    if parent[5]:
        trace_id, trace_state = parent[0], parent[4]
    else:
        trace_id, trace_state = getrandbits(128) or 1, _NO_STATE
    return NonRecordingSpan(
        tuple.__new__(  # type: ignore[arg-type]
            SpanContext,
            (trace_id, getrandbits(64) or 1, False, _NOT_SAMPLED, trace_state, True),
        )
    )


_NOT_SAMPLED = trace_api.TraceFlags(trace_api.TraceFlags.DEFAULT)


_recipes: dict[tuple[str, SpanKind, str], SpanRecipe] = {}
_MAX_RECIPES = 1024  # span names come from code, but bound the cache all the same


def _recipe_for(name: str, kind: SpanKind, scope: str) -> SpanRecipe:
    """A shared recipe per (name, kind, scope): binding a tracer costs ~16 us, not per block."""
    key = (name, kind, scope) if type(name) is str else None
    recipe = _recipes.get(key) if key is not None else None  # type: ignore[arg-type]
    if recipe is None:
        recipe = SpanRecipe(name, None, kind, scope=scope)
        if key is not None and len(_recipes) < _MAX_RECIPES:
            _recipes[key] = recipe
    return recipe


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
