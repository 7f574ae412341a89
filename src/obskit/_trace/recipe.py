"""The per-call-site span recipe: everything about a span that is known before the call.

Hot-path rule: everything that can be decided once (name, cleaned static attributes,
kind, the tracer for the current provider) lives in a `SpanRecipe` built when a decorator
is applied or a domain module loads; a call only reads it.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from obskit import _routing as _providers
from obskit._base.context import SPAN_KEY, current_span_context, get_context
from obskit._base.log import log_once
from obskit._export import slim as _slim_sink
from obskit._safety.clean import clean_attributes, clean_name
from obskit._safety.errors import record_exception
from obskit._trace.sampling import (
    _NO_STATE,
    _TRACE_ID_MASK,
    _UNKNOWN_SAMPLER,
    NonRecordingSpan,
    SpanContext,
    UnsampledRoot,
    _DecidedSampler,
    _preset,
    _PresetTraceIds,
    _root_bound,
    getrandbits,
)

_state = _providers.state
_SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
_VERSION = "0.1.0"


#: Span attributes given to `SpanRecipe.start`: a mapping, or a callable making one.
Attributes = Mapping[str, AttributeValue] | Callable[[], Mapping[str, AttributeValue]] | None


class SpanRecipe:
    """Everything about a span that is known before the call: made once, read per call."""

    __slots__ = (
        "_bound",
        "_ids",
        "_lazy_flag",
        "_provider",
        "_root_flags",
        "_sink",
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
        self.sample_ratio = check_ratio(sample_ratio)
        self.expected = expected
        self._provider: trace_api.TracerProvider | None = None
        self._tracer: trace_api.Tracer | None = None
        self._bound = _UNKNOWN_SAMPLER
        self._ids: Any = None
        self._root_flags = trace_api.TraceFlags(trace_api.TraceFlags.DEFAULT)
        self._lazy_flag = 0  # the root flags as an UnsampledRoot keeps them (bit 64)
        self._sink: _slim_sink.SlimSink | None = None  # obskit's own recorder, when it applies

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
        self._sink = None
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
                self._lazy_flag = 1 << 64 if random_ids else 0
                tracer, self._bound = own, bound
                # The SDK's RandomIdGenerator is random.getrandbits behind two frames.
                self._ids = None if type(ids) is RandomIdGenerator else ids
                self._sink = _slim_sink.sink_for(provider, own)
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
        parent = _parent(None)
        # SpanContext is a tuple: [3] trace_flags, [5] is_valid (properties cost ~40 ns each)
        return bool(parent[5]) and not parent[3] & 1

    def start_here(
        self, tracer: trace_api.Tracer, attributes: Callable[[], Mapping[str, Any]] | None = None
    ) -> trace_api.Span | None:
        """`start()` in the current context; None means "no span needed" (its parent is
        not sampled and stays current). `attributes` is called only for a sampled span."""
        if self._bound < 0:
            return self.start(tracer, attributes() if attributes else None)
        parent = _parent(None)
        ratio = self.sample_ratio
        if parent[5]:  # is_valid (tuple index: see parent_unsampled)
            if not parent[3] & 1:
                return None
            if ratio is not None and random.random() >= ratio:
                return _unsampled_child(None)
            merged = {**self.attributes, **attributes()} if attributes else self.attributes
            if parent[4]:  # a trace state to carry over: the real sampler does that
                return tracer.start_span(self.name, None, self.kind, merged or None)
            sink = self._sink
            if sink is not None and sink.multi._span_processors is sink.processors:  # live()
                ids = self._ids
                return sink.start(
                    self.name, parent, self.kind, merged, None, parent[0],
                    (getrandbits(64) or 1) if ids is None else int(ids.generate_span_id()),
                    _CHILD_FLAGS[parent[3] & _RANDOM],
                )  # fmt: skip
            _preset.trace_id = -1  # sampled parent: ParentBased samples, skip asking it
            try:
                return tracer.start_span(self.name, None, self.kind, merged or None)
            finally:
                _preset.trace_id = 0
        if ratio is not None and random.random() >= ratio:
            return _unsampled_child(None)
        ids = self._ids
        if ids is None:  # inlined _start_root: ~60 ns a call
            low = getrandbits(64)
            if low >= self._bound:  # the ratio sampler reads only these bits: ids on demand
                return UnsampledRoot(low | self._lazy_flag)  # type: ignore[arg-type]
            trace_id = (getrandbits(64) << 64 | low) or 1
        else:
            trace_id = ids.generate_trace_id()
            if trace_id & _TRACE_ID_MASK >= self._bound:
                return NonRecordingSpan(
                    tuple.__new__(  # type: ignore[arg-type]
                        SpanContext,
                        (
                            trace_id,
                            ids.generate_span_id(),
                            False,
                            self._root_flags,
                            _NO_STATE,
                            True,
                        ),
                    )
                )
        merged = {**self.attributes, **attributes()} if attributes else self.attributes
        sink = self._sink
        if sink is not None and sink.multi._span_processors is sink.processors:  # live()
            return sink.start(
                self.name, None, self.kind, merged, None, trace_id,
                (getrandbits(64) or 1) if ids is None else int(ids.generate_span_id()),
                _CHILD_FLAGS[self._root_flags & _RANDOM],
            )  # fmt: skip
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
            parent = _parent(context)
            if not parent[5]:  # is_valid (SpanContext is a tuple; properties cost ~40 ns)
                if ratio is not None and random.random() >= ratio:
                    return _unsampled_child(context)
                return self._start_root(tracer, attributes, context, name, links)
            if not parent[3] & 1:  # trace_flags.sampled
                if parent is _LAZY_PARENT:  # an unsampled root: its child shares its context
                    return (get_context() if context is None else context)[SPAN_KEY]  # type: ignore[return-value]
                return trace_api.NonRecordingSpan(parent)
            if not parent[4]:  # a sampled parent, no trace state: ParentBased samples
                if ratio is not None and random.random() >= ratio:
                    return _unsampled_child(context)
                if callable(attributes):
                    attributes = attributes()
                merged = {**self.attributes, **attributes} if attributes else self.attributes
                sink = self._sink
                if sink is not None and sink.live():
                    return sink.start(
                        name or self.name,
                        parent,
                        self.kind,
                        merged,
                        links,
                        parent[0],
                        self._span_id(),
                        _CHILD_FLAGS[parent[3] & _RANDOM],
                    )
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
        if ids is None:
            low = getrandbits(64)
            if low >= self._bound:  # the ratio sampler reads only these bits: ids on demand
                return UnsampledRoot(low | self._lazy_flag)  # type: ignore[arg-type]
            trace_id = (getrandbits(64) << 64 | low) or 1
        else:
            trace_id = ids.generate_trace_id()
            if trace_id & _TRACE_ID_MASK >= self._bound:
                # tuple.__new__ skips SpanContext's argument checks (~300 -> ~100 ns): the
                # ids are valid by construction. Order: trace, span, remote, flags, state,
                # valid.
                return trace_api.NonRecordingSpan(
                    tuple.__new__(  # type: ignore[arg-type]
                        trace_api.SpanContext,
                        (
                            trace_id,
                            ids.generate_span_id(),
                            False,
                            self._root_flags,
                            _NO_STATE,
                            True,
                        ),
                    )
                )
        if callable(attributes):
            attributes = attributes()
        merged = {**self.attributes, **attributes} if attributes else self.attributes
        sink = self._sink
        if sink is not None and sink.live():
            return sink.start(
                name or self.name, None, self.kind, merged, links, trace_id, self._span_id(),
                _CHILD_FLAGS[self._root_flags & _RANDOM],
            )  # fmt: skip
        _preset.trace_id = trace_id  # the SDK's sampler will agree: same id, same bound
        try:
            return tracer.start_span(name or self.name, context, self.kind, merged or None, links)
        finally:
            _preset.trace_id = 0  # unused if `tracer` was not this recipe's copy

    def start_decided_root(
        self,
        tracer: trace_api.Tracer,
        context: context_api.Context | None = None,
        links: Any = None,
    ) -> trace_api.Span:
        """A root span the caller already decided to sample (e.g. a pipeline's own ratio).

        With obskit's sampler shape (parent-based, ratio at the root) the root ratio is
        not asked again, so the caller's decision is the only one; any other sampler still
        decides as usual (it may drop the span).
        """
        if self._bound < 0:
            return self.start(tracer, None, context, links=links)
        ids = self._ids
        trace_id = (getrandbits(128) or 1) if ids is None else ids.generate_trace_id()
        sink = self._sink
        if sink is not None and sink.live():
            if context is None:
                parent = current_span_context()
            else:
                parent = trace_api.get_current_span(context).get_span_context()
            if not parent.is_valid:
                return sink.start(
                    self.name, None, self.kind, self.attributes, links, trace_id,
                    self._span_id(), _CHILD_FLAGS[self._root_flags & _RANDOM],
                )  # fmt: skip
        _preset.trace_id = trace_id
        try:
            return tracer.start_span(self.name, context, self.kind, self.attributes or None, links)
        finally:
            _preset.trace_id = 0

    def _span_id(self) -> int:
        ids = self._ids
        return (getrandbits(64) or 1) if ids is None else int(ids.generate_span_id())

    def finish(self, span: trace_api.Span, exc: BaseException | None) -> None:
        """End the span, recording `exc` unless it is one of the expected exceptions."""
        if exc is not None and not isinstance(exc, self.expected):
            record_exception(span, exc)
        span.end()


def check_ratio(ratio: float | None) -> float | None:
    if ratio is None:
        return None
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) or not 0.0 <= ratio <= 1.0:
        raise ValueError(f"sample_ratio must be a number from 0.0 to 1.0, got {ratio!r}")
    return None if ratio >= 1.0 else float(ratio)


#: What `_parent` returns for an `UnsampledRoot` parent: valid and not sampled, without
#: drawing the root's ids (a child only needs to know it is not sampled).
_LAZY_PARENT = tuple.__new__(
    SpanContext, (0, 0, False, trace_api.TraceFlags(trace_api.TraceFlags.DEFAULT), _NO_STATE, True)
)
_INVALID = trace_api.INVALID_SPAN_CONTEXT


def _parent(context: context_api.Context | None) -> Any:
    """The parent's span context (in `context`, else the current one), as a tuple to index:
    `_LAZY_PARENT` for an unsampled root, whose ids are not drawn for this."""
    span = (get_context() if context is None else context).get(SPAN_KEY)
    if span is None:
        return _INVALID
    if type(span) is UnsampledRoot:
        return _LAZY_PARENT
    return span.get_span_context()  # type: ignore[attr-defined]


def _unsampled_child(context: context_api.Context | None) -> trace_api.Span:
    """A non-recording span that keeps the trace id and carries "not sampled" downstream;
    with no parent, an `UnsampledRoot` (flags 0) whose ids are drawn only when asked."""
    if context is None:
        parent = current_span_context()
    else:
        parent = trace_api.get_current_span(context).get_span_context()
    if not parent[5]:
        return UnsampledRoot(getrandbits(64))  # type: ignore[arg-type]
    # Built with tuple.__new__ like a root (ids valid by construction: ~1 us saved). Order:
    # trace, span, remote, flags, state, valid (SpanContext is a tuple).
    trace_id, trace_state = parent[0], parent[4]
    return NonRecordingSpan(
        tuple.__new__(  # type: ignore[arg-type]
            SpanContext,
            (trace_id, getrandbits(64) or 1, False, _NOT_SAMPLED, trace_state, True),
        )
    )


_NOT_SAMPLED = trace_api.TraceFlags(trace_api.TraceFlags.DEFAULT)
# A sampled span's flags, by its (root's or parent's) random-trace-id bit, as the SDK sets them.
_RANDOM = trace_api.TraceFlags.RANDOM_TRACE_ID
_CHILD_FLAGS = {
    0: trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED),
    _RANDOM: trace_api.TraceFlags(trace_api.TraceFlags.SAMPLED | _RANDOM),
}


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
