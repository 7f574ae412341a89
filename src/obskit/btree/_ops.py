"""The machinery behind obskit.btree's operation decorators.

`_OperationTraced` is a `Traced` (obskit._trace.traced) whose span is an `Operation`
(obskit.btree._operation). Generators and async generators reuse @traced's wrappers,
which call its start()/finish() and keep the span current only while the generator body
runs; functions and coroutines have their own short wrappers here (@traced's
plain-function wrapper inlines its start/finish for speed, so it cannot be reused).

Hot path: everything per (operation, index) -- the span recipe with its static
attributes, the metric attribute dict of each outcome -- is built once and cached in an
`IndexOperation`; a call allocates only the SDK span, its `Operation` wrapper and the
context that holds it. The duration is recorded in finish(), which also sees the result
(for the hit/miss outcome).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind

from obskit import _routing as _providers
from obskit._base.log import log_once
from obskit._routing import off
from obskit._safety.clean import clean_text, clean_value
from obskit._trace.handle import (
    SpanRecipe,
    attach_span,
    current_span_context,
    detach_span,
    error_type,
    is_cancelled,
)
from obskit._trace.sampling import NonRecordingSpan
from obskit._trace.traced import Traced, wrap_async_generator, wrap_generator
from obskit.btree import _names as names
from obskit.btree._operation import (
    DEFAULT_INDEX,
    OTHER,
    IndexOperation,
    Operation,
    current_op,
    key_size,
)

__all__ = ["decorate"]

_MAX_INDEXES = 256  # distinct index names per decorated method; more share "_OTHER"

Classifier = Callable[[Any], "bool | str | None"]


class _OperationTraced(Traced):
    """A `Traced` whose span is an `Operation`, timed and labelled per outcome."""

    def __init__(
        self,
        fn: Callable[..., Any],
        operation: str,
        index: str | Callable[[Any], object] | None,
        index_attr: str | None,
        outcome: Classifier | None,
        miss_on: tuple[type[BaseException], ...],
        key: str | None,
        record_key: bool,
        sample_ratio: float | None,
    ) -> None:
        # The base sets what @traced's wrappers read (fn, recipe, metrics=None, ...); the
        # per-index recipes below replace its single recipe.
        super().__init__(
            fn,
            names.SPAN_PREFIX + operation,
            None,
            None,
            False,
            sample_ratio,
            SpanKind.INTERNAL,
            miss_on,
            False,
            names.SCOPE,
        )
        self.operation = operation
        self.span_name = names.SPAN_PREFIX + operation
        self.classify = outcome
        self.miss_on = miss_on
        self.record_key = record_key
        self.sample_ratio = sample_ratio
        self.by_index: dict[str, IndexOperation] = {}
        self.index_fn: Callable[[Any], object] | None = None
        self.index_attr = index_attr
        self.static: IndexOperation | None = None
        if callable(index):
            self.index_fn = index
        elif index_attr is None:
            self.static = self._prepare(DEFAULT_INDEX if index is None else index)
        self.key_position, self.key_name = _key_parameter(fn, key)
        if self.static is not None:
            self.recipe = self.static.recipe  # type: ignore[assignment]

    def _prepare(self, index: object) -> IndexOperation:
        name = index if type(index) is str else str(clean_value(index) or OTHER)
        found = self.by_index.get(name)
        if found is not None:
            return found
        if len(self.by_index) >= _MAX_INDEXES:
            name = OTHER
            found = self.by_index.get(name)
            if found is not None:
                return found
        recipe = SpanRecipe(
            self.span_name,
            {names.INDEX: name, names.OPERATION: self.operation},
            scope=names.SCOPE,
            sample_ratio=self.sample_ratio,
            expected=self.miss_on,
        )
        found = self.by_index[name] = IndexOperation(self.operation, name, recipe)
        return found

    def _state(self, args: tuple[Any, ...]) -> IndexOperation:
        try:
            owner = args[0]
            index = self.index_fn(owner) if self.index_fn else getattr(owner, self.index_attr)  # type: ignore[arg-type]
            found = self.by_index.get(index)  # type: ignore[arg-type]
            return found if found is not None else self._prepare(index)
        except Exception:
            log_once("btree-index", "reading the index name of %s failed", self.span_name)
            return self._prepare(OTHER)

    def start(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> trace_api.Span | None:
        state = self.static or self._state(args)
        recipe: SpanRecipe = state.recipe  # type: ignore[assignment]
        tracer = recipe.tracer()
        if tracer is None:
            return None
        try:
            # start_here: the leaner path (root decision inlined); None means "the parent
            # is unsampled": the SDK's answer would be a non-recording child with its context.
            span = recipe.start_here(tracer) or NonRecordingSpan(current_span_context())
        except Exception:
            log_once("btree-start", "starting span %r failed", self.span_name, exc_info=True)
            return None
        position = self.key_position
        if position >= 0 and len(args) > position:
            return Operation(span, state, args[position])
        if self.key_name is not None:
            return Operation(span, state, kwargs.get(self.key_name))
        return Operation(span, state)

    def metrics_start(self) -> float:
        return 0.0  # the Operation keeps its own start time

    def metrics_end(self, started: float, exc: BaseException | None) -> None:
        pass  # recorded in finish(), which also sees the result

    def finish(self, span: trace_api.Span, exc: BaseException | None, result: Any) -> None:
        op: Operation = span  # type: ignore[assignment]
        try:
            elapsed = time.perf_counter() - op.started
            state = op._state
            if exc is None:
                outcome = op._outcome or self._classify(result)
                duration = state._durations.found.get(outcome) or state.duration(outcome)
            elif isinstance(exc, self.miss_on):
                outcome = names.MISS
                duration = state.duration(outcome)
            elif is_cancelled(exc):
                outcome = names.CANCELLED
                duration = state.duration(outcome)
            else:
                outcome = names.ERROR
                duration = state.duration(outcome, error_type(exc))
            inner = op.span
            recording = inner.is_recording()
            # Bound hot handles: ~0.3 us, an SDK record ~7 us; a traced call's span is
            # the bucket's exemplar.
            duration.record(elapsed, inner if recording else None)
            if op.cache_reads:
                state.cache_reads.add(op.cache_reads)
            if op.disk_reads:
                state.disk_reads.add(op.disk_reads)
            if op.page_writes:
                state.writes.add(op.page_writes)
            if recording:
                self._annotate(op, outcome)
                state.recipe.finish(inner, exc)  # type: ignore[union-attr]
            else:
                inner.end()  # what finish() comes to for a span that records nothing
        except Exception:
            log_once("btree-end", "ending span %r failed", self.span_name, exc_info=True)

    def _classify(self, result: object) -> str:
        classify = self.classify
        if classify is None:
            return names.OK
        try:
            verdict = classify(result)
        except Exception:
            log_once("btree-outcome", "the outcome classifier of %s raised", self.span_name)
            return names.OK
        if verdict is True:
            return names.HIT
        if verdict is False:
            return names.MISS
        return clean_text(verdict, 64) if type(verdict) is str else names.OK

    def _annotate(self, op: Operation, outcome: str) -> None:
        span = op.span
        span.set_attribute(names.OUTCOME, outcome)
        if op.visited:
            span.set_attribute(names.PAGES_VISITED, op.visited)
        if op._key is not None:
            size = key_size(op._key)
            if size is not None:
                span.set_attribute(names.KEY_SIZE, size)
            if self.record_key:
                value = clean_value(op._key)
                if value is not None:
                    span.set_attribute(names.KEY, value)
        if self.operation == "scan" or op.returned:
            span.set_attribute(names.SCAN_RETURNED_KEYS, op.returned)


def _key_parameter(fn: Callable[..., Any], key: str | None) -> tuple[int, str | None]:
    """Where the key argument sits: (position or -1, keyword name or None)."""
    if key is None:
        return -1, None
    try:
        parameters = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return -1, None
    for position, parameter in enumerate(parameters):
        if parameter.name == key:
            if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD):
                return position, None if parameter.kind == parameter.POSITIONAL_ONLY else key
            if parameter.kind == parameter.KEYWORD_ONLY:
                return -1, key
    return -1, None


def _counting_generator(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def scan(*args: Any, **kwargs: Any) -> Any:
        op = current_op()  # the wrapper made the scan's span current around each resume
        inner = fn(*args, **kwargs)
        try:
            for item in inner:
                op.returned += 1
                yield item
        finally:
            inner.close()

    return scan


def _counting_async_generator(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def scan(*args: Any, **kwargs: Any) -> Any:
        op = current_op()
        inner = fn(*args, **kwargs)
        try:
            async for item in inner:
                op.returned += 1
                yield item
        finally:
            await inner.aclose()

    return scan


def _wrap_call(t: _OperationTraced) -> Callable[..., Any]:
    """Wrapper of a plain function or method: the Operation is current during the call."""
    fn = t.fn
    state = _providers.state

    @functools.wraps(fn)
    def btree_operation(*args: Any, **kwargs: Any) -> Any:
        if state.tracer_provider is None and (
            state.disabled
            or trace_api._TRACER_PROVIDER is None
            or trace_api._TRACER_PROVIDER is _providers._TRACER_PROXY
        ):
            return fn(*args, **kwargs)  # obskit is off: as _traced._off(), inlined
        span = t.start(args, kwargs)
        if span is None:
            return fn(*args, **kwargs)
        token = attach_span(span)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            detach_span(token)
            t.finish(span, exc, None)
            raise
        detach_span(token)
        t.finish(span, None, result)
        return result

    return btree_operation


def _wrap_coroutine(t: _OperationTraced) -> Callable[..., Any]:
    """Wrapper of a coroutine function: timed over the whole await."""
    fn = t.fn

    @functools.wraps(fn)
    async def btree_operation(*args: Any, **kwargs: Any) -> Any:
        span = None if off() else t.start(args, kwargs)
        if span is None:
            return await fn(*args, **kwargs)
        token = attach_span(span)  # the task's own context copy: pairs up across awaits
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            detach_span(token)
            t.finish(span, exc, None)
            raise
        detach_span(token)
        t.finish(span, None, result)
        return result

    return btree_operation


def decorate(target: Any, operation: str, options: dict[str, Any]) -> Any:
    """Wrap `target` (function, method, coroutine, generator, classmethod, staticmethod)."""
    if isinstance(target, (classmethod, staticmethod)):
        return type(target)(decorate(target.__func__, operation, options))
    if not callable(target):
        raise TypeError(
            f"btree.{operation} decorates a function or method, got {type(target).__name__} "
            f"{target!r:.80}"
        )
    # Generators reuse @traced's wrappers (they call start()/finish() of the Traced they
    # are given and keep the span current only while the generator body runs).
    fn = target
    wrap: Callable[[Any], Callable[..., Any]]
    if inspect.isasyncgenfunction(target):
        wrap, fn = wrap_async_generator, _counting_async_generator(target)
    elif inspect.isgeneratorfunction(target):
        wrap, fn = wrap_generator, _counting_generator(target)
    elif inspect.iscoroutinefunction(target):
        wrap = _wrap_coroutine
    else:
        wrap = _wrap_call
    traced = _OperationTraced(fn, operation, **options)
    wrapper = wrap(traced)
    wrapper.__obskit_span_name__ = traced.span_name  # type: ignore[attr-defined]
    return wrapper
