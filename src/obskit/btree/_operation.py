"""The running B+tree operation, what is prepared per (operation, index), and the decorators.

`Operation` is the current span while a decorated get/put/delete/scan runs, which makes
`btree.current_op()` one context lookup and a type check. Because it must *be* a
`trace_api.Span`, it cannot subclass the core engine's `obskit._domain.operation.Operation`
(whose `end(error)`, `span` handle and `with` block mean other things on a span); it
composes the engine's pieces instead:

* sampling is decided first by the span recipe (`SpanRecipe.start_here`), before anything
  is allocated for a span;
* the one attach path (`obskit._base.context.attach_span` / `detach_span`) makes it
  current;
* the off predicate's spans half (`obskit._routing.spans_off()`: with no tracer a B+tree
  operation records nothing) sends a call straight through;
* the one outcome classifier (`obskit._safety.errors.outcome`: ok / error / cancelled and
  `error.type`) labels a failure; a `miss_on` exception (an *expected* one there) is a
  miss, and hit / miss / ok come from the result on top of it;
* the shared no-op outside any operation is `shared_off(Operation)` (obskit._domain.off).

`IndexOperation` holds what is fixed per (decorated operation, index name): the span
recipe with its static attributes and the bound duration handle of each outcome, built
once. A call allocates the `Operation`, the span the recipe decides on and the context
that holds it; page counts, visits and scanned keys are plain int adds on the operation,
added to the bound counters once, when it ends.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import linecache
import sys
from collections.abc import Callable, Generator, Mapping
from contextvars import copy_context
from itertools import repeat
from time import perf_counter
from typing import Any, Final

from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind, Status, StatusCode

from obskit._base.context import (
    SPAN_KEY,
    UnsampledRoot,
    attach_span,
    current_span_context,
    detach_span,
    get_context,
)
from obskit._base.log import log_once
from obskit._domain.off import shared_off
from obskit._domain.operation import Outcomes
from obskit._routing import OFF_NAMESPACE, SPANS_OFF_TEST, spans_off
from obskit._safety.clean import clean_text, clean_value
from obskit._safety.errors import CANCELLED, OK, outcome
from obskit._trace.handle import SpanRecipe
from obskit._trace.sampling import NonRecordingSpan
from obskit._trace.traced import Traced, wrap_async_generator
from obskit.btree import _names as names
from obskit.btree._registry import DURATION, PAGE_READS, PAGE_WRITES

__all__ = [
    "CACHE",
    "DEFAULT_INDEX",
    "DISK",
    "NOOP_OPERATION",
    "OTHER",
    "IndexOperation",
    "Operation",
    "current_op",
    "decorate",
    "found",
    "key_size",
]

#: The span types that never record, told apart without a call (an unsampled root, a
#: child of an unsampled parent).
_UNRECORDED = (UnsampledRoot, NonRecordingSpan)
_MAX_OUTCOMES = 16  # distinct outcome/error labels per (operation, index)
_MAX_INDEXES = 256  # distinct index names per decorated method; more share "_OTHER"
OTHER: Final = "_OTHER"
DEFAULT_INDEX = "default"
CACHE: Final = "cache"
DISK: Final = "disk"

Classifier = Callable[[Any], "bool | str | None"]


def key_size(key: object) -> int | None:
    """Size of a key in bytes: UTF-8 for str, raw for bytes, minimal two's complement for int.

    Composite (tuple) keys add up their parts; other types give None (not recorded).

    Examples:
        >>> key_size("user:42"), key_size(b"\\x00\\x01"), key_size(255), key_size(object())
        (7, 2, 2, None)
    """
    kind = type(key)
    if kind is str:
        text: str = key  # type: ignore[assignment]
        return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if kind is bytes or kind is bytearray:
        return len(key)  # type: ignore[arg-type]
    if kind is int:
        return (key.bit_length() + 8) // 8  # type: ignore[attr-defined,no-any-return]
    if kind is float:
        return 8
    if kind is memoryview:
        return key.nbytes  # type: ignore[attr-defined,no-any-return]
    if kind is tuple:
        total = 0
        for part in key:  # type: ignore[attr-defined]
            size = key_size(part)
            if size is None:
                return None
            total += size
        return total
    return None


def found(result: object) -> bool:
    """`btree.get`'s classifier: a None result is a miss, anything else a hit."""
    return result is not None


class IndexOperation:
    """Prepared state of one (decorated operation, index name) pair."""

    __slots__ = ("_durations", "_outcomes", "cache_reads", "changes", "disk_reads", "index",
                 "operation", "recipe", "writes")  # fmt: skip

    def __init__(self, operation: str, index: str, recipe: SpanRecipe | None) -> None:
        self.operation = operation
        self.index = index
        self.recipe = recipe
        base = {names.INDEX: index, names.OPERATION: operation}
        self._outcomes: dict[str, dict[str, Any]] = {
            label: {**base, names.OUTCOME: label} for label in (names.HIT, names.MISS, names.OK)
        }
        self._durations = Outcomes(DURATION, None, limit=2 * _MAX_OUTCOMES + 8)
        # Bound page counters: sparse, so a series appears only once counted.
        self.cache_reads = PAGE_READS.bind({names.INDEX: index, names.PAGE_SOURCE: CACHE})
        self.disk_reads = PAGE_READS.bind({names.INDEX: index, names.PAGE_SOURCE: DISK})
        self.writes = PAGE_WRITES.bind({names.INDEX: index})
        #: (event, level) -> bound split/merge counter (obskit.btree._events).
        self.changes: dict[tuple[str, int], Any] = {}

    def duration(self, label: str, error: str | None = None) -> Any:
        """The bound duration histogram for an outcome (and error type), cached."""
        key = label if error is None else (error,)
        handle = self._durations.found.get(key)
        if handle is None:
            attributes = self.attributes(label, error)
            handle = self._durations.get(
                (attributes[names.OUTCOME], attributes.get(names.ERROR_TYPE)), attributes
            )
            if len(self._durations.found) < self._durations.limit:
                self._durations.found[key] = handle
        return handle

    def attributes(self, label: str, error: str | None = None) -> dict[str, Any]:
        """Metric attributes for an outcome (cached, bounded)."""
        key = label if error is None else error
        attributes = self._outcomes.get(key)
        if attributes is None:
            attributes = {names.INDEX: self.index, names.OPERATION: self.operation}
            if len(self._outcomes) >= _MAX_OUTCOMES + 3:
                label, error = (names.ERROR, OTHER) if error else (OTHER, None)
            attributes[names.OUTCOME] = label
            if error is not None:
                attributes[names.ERROR_TYPE] = error
            if len(self._outcomes) < _MAX_OUTCOMES + 3:
                self._outcomes[key] = attributes
        return attributes


def other_index(operation: str) -> IndexOperation:
    """The shared state for structure changes made outside any operation."""
    return IndexOperation(operation, DEFAULT_INDEX, None)


class Operation(trace_api.Span):
    """The running B+tree operation: its span, plus counters the tree fills in cheaply.

    Get it with `obskit.btree.current_op()` anywhere inside a decorated operation (it is
    the current span). All methods are cheap and never raise; outside an operation you
    get a shared no-op instance.

    Examples:
        >>> from obskit import btree
        >>> class Tree:
        ...     @btree.get(index="users_pk")
        ...     def get(self, key: str) -> str | None:
        ...         op = btree.current_op()
        ...         op.visit(3)  # root, internal node, leaf
        ...         return None
        >>> Tree().get("k") is None
        True
    """

    __slots__ = ("_key", "_outcome", "_recording", "_state", "cache_reads", "disk_reads",
                 "page_writes", "returned", "span", "started", "visited")  # fmt: skip

    def __init__(self, span: trace_api.Span, state: IndexOperation, key: object = None) -> None:
        #: The underlying OpenTelemetry span.
        self.span = span
        self._state = state
        self._key = key
        self._outcome: str | None = None
        # Read once: an unsampled span never starts recording, and every page call and
        # the end ask (a NonRecordingSpan is told by its type, without a call).
        self._recording = type(span) not in _UNRECORDED and span.is_recording()
        #: Pages/nodes visited so far (`visit()`).
        self.visited = 0
        #: Keys a scan yielded so far (counted when the scan ends).
        self.returned = 0
        # Page reads/writes counted here and added to the bound counters once, when the
        # operation ends: an int increment is ~30 ns, a bound add ~0.2 us.
        self.cache_reads = self.disk_reads = self.page_writes = 0
        self.started = perf_counter()

    def _open_off(self) -> None:
        """The state of the shared no-op (obskit._domain.off): no span, records nothing."""
        self.__init__(trace_api.INVALID_SPAN, other_index("none"))  # type: ignore[misc]
        self._recording = False

    @property
    def index(self) -> str:
        """The index name this operation runs on."""
        return self._state.index

    @property
    def operation(self) -> str:
        """The operation name (get, put, delete, scan, ...)."""
        return self._state.operation

    def visit(self, pages: int = 1) -> None:
        """Count `pages` nodes/pages touched (recorded as `btree.pages.visited`)."""
        if type(pages) is int:
            self.visited += pages

    def key(self, key: object) -> None:
        """Set the operation's key (its size is recorded, the key only with record_key)."""
        self._key = key

    def hit(self) -> None:
        """Mark a lookup as a hit (overrides the result classifier)."""
        self._outcome = names.HIT

    def miss(self) -> None:
        """Mark a lookup as a miss (overrides the result classifier)."""
        self._outcome = names.MISS

    def set_outcome(self, outcome: str) -> None:
        """Set a custom outcome label (keep the set of values small: it labels metrics)."""
        if type(outcome) is str:
            self._outcome = clean_text(outcome, 64)

    # Span interface: everything goes to the wrapped span.
    def get_span_context(self) -> trace_api.SpanContext:
        return self.span.get_span_context()

    def is_recording(self) -> bool:
        return self.span.is_recording()

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.span.set_attributes(attributes)

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> None:
        self.span.add_event(name, attributes, timestamp)

    def add_link(self, context: trace_api.SpanContext, attributes: Any = None) -> None:
        self.span.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self.span.update_name(name)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self.span.set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Any = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.span.record_exception(exception, attributes, timestamp, escaped)

    def end(self, end_time: int | None = None) -> None:
        self.span.end(end_time)

    def __repr__(self) -> str:
        return f"<btree.Operation {self.operation} index={self.index!r}>"


NOOP_OPERATION: Final = shared_off(Operation)  # type: ignore[type-var]


def current_op() -> Operation:
    """The B+tree operation whose span is current, or a shared no-op one.

    Examples:
        >>> from obskit import btree
        >>> btree.current_op().visit(3)  # outside an operation: a no-op
    """
    current = get_context().get(SPAN_KEY)  # trace_api.get_current_span(), inlined
    return current if type(current) is Operation else NOOP_OPERATION  # type: ignore[return-value]


# --- the decorators ----------------------------------------------------------------------
class _OperationTraced(Traced):
    """A `Traced` whose span is an `Operation`, timed and labelled per outcome.

    Async generators reuse @traced's wrapper (it calls start()/finish()); functions,
    coroutines and generators have their own short wrappers below.
    """

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
        self.found_is_hit = outcome is found  # btree.get's classifier, inlined in finish()
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
        prepared = self.by_index.get(name)
        if prepared is not None:
            return prepared
        if len(self.by_index) >= _MAX_INDEXES:
            name = OTHER
            prepared = self.by_index.get(name)
            if prepared is not None:
                return prepared
        recipe = SpanRecipe(
            self.span_name,
            {names.INDEX: name, names.OPERATION: self.operation},
            scope=names.SCOPE,
            sample_ratio=self.sample_ratio,
            expected=self.miss_on,
        )
        prepared = self.by_index[name] = IndexOperation(self.operation, name, recipe)
        return prepared

    def _state(self, args: tuple[Any, ...]) -> IndexOperation:
        try:
            owner = args[0]
            index = self.index_fn(owner) if self.index_fn else getattr(owner, self.index_attr)  # type: ignore[arg-type]
            prepared = self.by_index.get(index)  # type: ignore[arg-type]
            return prepared if prepared is not None else self._prepare(index)
        except Exception:
            log_once("btree-index", "reading the index name of %s failed", self.span_name)
            return self._prepare(OTHER)

    def start(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Operation | None:  # type: ignore[override]
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
            elapsed = perf_counter() - op.started
            state = op._state
            error = None
            if exc is None:
                label = op._outcome
                if label is None:
                    if self.found_is_hit:
                        label = names.MISS if result is None else names.HIT
                    else:
                        label = names.OK if self.classify is None else self._classify(result)
            else:
                label, error = outcome(exc, None, self.miss_on)
                if label == OK:  # an expected (miss_on) exception: not found
                    label = names.MISS
                elif label == CANCELLED:
                    label = names.CANCELLED
            duration = state._durations.found.get(label if error is None else (error,))
            if duration is None:
                duration = state.duration(label, error)
            if op.cache_reads:
                state.cache_reads.add(op.cache_reads)
            if op.disk_reads:
                state.disk_reads.add(op.disk_reads)
            if op.page_writes:
                state.writes.add(op.page_writes)
            inner = op.span
            if not op._recording:
                duration.record(elapsed, None)
                if type(inner) not in _UNRECORDED:
                    inner.end()  # what finish() comes to for a span that records nothing
                return
            # A traced call's span is its bucket's exemplar.
            duration.record(elapsed, inner)
            self._annotate(op, label)
            state.recipe.finish(inner, exc)  # type: ignore[union-attr]
        except Exception:
            log_once("btree-end", "ending span %r failed", self.span_name, exc_info=True)

    def _classify(self, result: object) -> str:
        try:
            verdict = self.classify(result)  # type: ignore[misc]
        except Exception:
            log_once("btree-outcome", "the outcome classifier of %s raised", self.span_name)
            return names.OK
        if verdict is True:
            return names.HIT
        if verdict is False:
            return names.MISS
        return clean_text(verdict, 64) if type(verdict) is str else names.OK

    def _annotate(self, op: Operation, label: str) -> None:
        span = op.span
        span.set_attribute(names.OUTCOME, label)
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


def _counting_async_generator(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    async def scan(*args: Any, **kwargs: Any) -> Any:
        op = current_op()  # the wrapper made the scan's span current around each resume
        inner = fn(*args, **kwargs)
        try:
            async for item in inner:
                op.returned += 1
                yield item
        finally:
            await inner.aclose()

    return scan


def _wrap_call(t: _OperationTraced) -> Callable[..., Any]:
    """Wrapper of a plain function or method: the Operation is current during the call.

    Generated from `_CALL_TEMPLATE` with the off predicate's spans half
    (`obskit._routing.SPANS_OFF_TEST`) pasted inline, as @traced's wrappers do: the one
    definition, without a call on every pass-through (~30 ns of a disabled operation).

    `start()` is inlined (its recipe, key position and index lookup read once here, not
    on every call), and so is the end of an unsampled call: each saves ~0.1 us a call.
    """
    fn, state_of, finish = t.fn, t._state, t.finish
    static, by_index, index_attr = t.static, t.by_index, t.index_attr
    position, name = t.key_position, t.key_name
    found_is_hit, classify = t.found_is_hit, t.classify

    source = _CALL_TEMPLATE.format(off=SPANS_OFF_TEST)
    filename = f"<obskit.btree {t.span_name} #{next(_generated)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    made: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), globals(), made)  # this module's globals
    wrapper: Callable[..., Any] = made["make"](
        fn,
        state_of,
        finish,
        static,
        by_index,
        index_attr,
        position,
        name,
        found_is_hit,
        classify,
        t,
    )
    return functools.wraps(fn)(wrapper)


#: `_wrap_call`'s per-call wrapper, made by `make(...)` with the prepared values as its
#: closure; `{off}` is the off test pasted inline.
_CALL_TEMPLATE = """
def make(fn, state_of, finish, static, by_index, index_attr, position, name, found_is_hit,
         classify, t):
    def btree_operation(*args, **kwargs):
        if {off}:
            return fn(*args, **kwargs)
        state = static
        if state is None:
            try:  # index_attr=: the prepared state of that index, when seen before
                state = by_index[getattr(args[0], index_attr)]  # type: ignore[arg-type]
            except Exception:
                state = state_of(args)
        recipe = state.recipe  # type: ignore[assignment]
        tracer = recipe.tracer()
        if tracer is None:
            return fn(*args, **kwargs)
        try:
            span = recipe.start_here(tracer) or NonRecordingSpan(current_span_context())
        except Exception:
            log_once("btree-start", "starting span %r failed", t.span_name, exc_info=True)
            return fn(*args, **kwargs)
        if 0 <= position < len(args):
            op = Operation(span, state, args[position])
        else:
            op = Operation(span, state, None if name is None else kwargs.get(name))
        token = attach_span(op)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            detach_span(token)
            finish(op, exc, None)
            raise
        detach_span(token)
        if op._recording:
            finish(op, None, result)
            return result
        # finish() of an unsampled call, inlined: its outcome, the duration record and the
        # pages it counted
        elapsed = perf_counter() - op.started
        label = op._outcome
        if label is None:
            if found_is_hit:
                label = names.MISS if result is None else names.HIT
            elif classify is bool and type(result) is bool:  # outcome=bool on a bool result
                label = names.HIT if result else names.MISS
            else:
                label = names.OK if classify is None else t._classify(result)
        duration = state._durations.found.get(label)
        if duration is None:  # the first call with this outcome: bound in finish()
            finish(op, None, result)
            return result
        try:
            duration.record(elapsed, None)
            if op.cache_reads:
                state.cache_reads.add(op.cache_reads)
            if op.disk_reads:
                state.disk_reads.add(op.disk_reads)
            if op.page_writes:
                state.writes.add(op.page_writes)
            if type(span) not in _UNRECORDED:
                span.end()
        except Exception:
            log_once("btree-end", "ending span %r failed", t.span_name, exc_info=True)
        return result

    return btree_operation
"""
_generated = itertools.count(1)  # a distinct linecache name per generated wrapper
globals().update(OFF_NAMESPACE)  # what the pasted off test reads (`_obskit_*` names)


def _wrap_coroutine(t: _OperationTraced) -> Callable[..., Any]:
    """Wrapper of a coroutine function: timed over the whole await."""
    fn, start, finish = t.fn, t.start, t.finish

    @functools.wraps(fn)
    async def btree_operation(*args: Any, **kwargs: Any) -> Any:
        op = None if spans_off() else start(args, kwargs)
        if op is None:
            return await fn(*args, **kwargs)
        token = attach_span(op)  # the task's own context copy: pairs up across awaits
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            detach_span(token)
            finish(op, exc, None)
            raise
        detach_span(token)
        finish(op, None, result)
        return result

    return btree_operation


#: How many resumes a scan's `repeat` hands out: more than any scan makes, so what is
#: left tells how many were taken (`__length_hint__`).
_RESUMES = sys.maxsize


def _wrap_generator(t: _OperationTraced) -> Callable[..., Any]:
    """Wrapper of a generator function (a scan): one operation over the whole iteration.

    The body runs in a context of its own (a copy of the caller's at the first `next()`,
    with the operation attached through the one attach path), so the operation is
    current while the body runs and never while the caller's loop does. Each resume is
    `Context.run(body.__next__)`, handed out by an `itertools.repeat` of known length
    whose remainder, when the scan ends, says how many keys it yielded: the per-key cost
    stays in C, with no Python frame of ours per key. An exception thrown in with
    `throw()` reaches the body, and the rest of the iteration runs in a Python loop that
    forwards `send()` too; a value sent before that is a TypeError in the body, and the
    body's return value is not passed on (a scan is read by a loop).
    """
    fn, start = t.fn, t.start

    @functools.wraps(fn)
    def btree_operation(*args: Any, **kwargs: Any) -> Any:
        if spans_off():
            return (yield from fn(*args, **kwargs))
        inner = fn(*args, **kwargs)
        op = start(args, kwargs)
        if op is None:
            return (yield from inner)
        context = copy_context()
        context.run(attach_span, op)
        resumes = repeat(inner.__next__, _RESUMES)
        chain = map(context.run, resumes)
        try:
            yield from chain
        except GeneratorExit:
            # Closed early (break, close(), garbage collection): not an error. Every
            # resume so far yielded a key.
            op.returned = _RESUMES - resumes.__length_hint__()
            _end_scan(t, op, context, inner, None, close=True)
            raise
        except BaseException as exc:
            if inner.gi_frame is None or inner.gi_running:  # the body raised it
                op.returned = _RESUMES - resumes.__length_hint__() - 1
                _end_scan(t, op, context, inner, exc)
                raise
            # Thrown in by the caller while the body is suspended: the body gets it.
            if isinstance(exc, AttributeError) and exc.obj is chain:  # send(value)
                exc = TypeError("a btree scan takes next(), close() and throw(), not send()")
            op.returned = _RESUMES - resumes.__length_hint__()
            return (yield from _forwarding(t, op, context, inner, exc))
        op.returned = _RESUMES - resumes.__length_hint__() - 1  # the last one ended it
        _end_scan(t, op, context, inner, None)
        return None

    return btree_operation


def _end_scan(
    t: _OperationTraced,
    op: Operation,
    context: Any,
    inner: Generator[Any, Any, Any],
    exc: BaseException | None,
    close: bool = False,
) -> None:
    try:
        if close:
            context.run(inner.close)  # its finally blocks see the operation current
    finally:
        t.finish(op, exc, None)


def _forwarding(
    t: _OperationTraced,
    op: Operation,
    context: Any,
    inner: Generator[Any, Any, Any],
    thrown: BaseException,
) -> Generator[Any, Any, Any]:
    """The rest of a scan after a `throw()`: every resume forwards send() and throw()."""
    to_send: Any = None
    to_throw: BaseException | None = thrown
    while True:
        try:
            if to_throw is None:
                item = context.run(inner.send, to_send)
            else:
                item = context.run(inner.throw, to_throw)
        except StopIteration as stop:
            t.finish(op, None, stop.value)
            return stop.value
        except BaseException as exc:
            t.finish(op, exc, None)
            raise
        op.returned += 1
        try:
            to_send, to_throw = (yield item), None
        except GeneratorExit:
            try:
                context.run(inner.close)
            finally:
                t.finish(op, None, None)
            raise
        except BaseException as exc:
            to_send, to_throw = None, exc


def decorate(target: Any, operation: str, options: dict[str, Any]) -> Any:
    """Wrap `target` (function, method, coroutine, generator, classmethod, staticmethod)."""
    if isinstance(target, (classmethod, staticmethod)):
        return type(target)(decorate(target.__func__, operation, options))
    if not callable(target):
        raise TypeError(
            f"btree.{operation} decorates a function or method, got {type(target).__name__} "
            f"{target!r:.80}"
        )
    fn = target
    wrap: Callable[[Any], Callable[..., Any]]
    if inspect.isasyncgenfunction(target):
        # @traced's wrapper calls start()/finish() of the Traced it is given and keeps
        # the span current only while the generator body runs.
        wrap, fn = wrap_async_generator, _counting_async_generator(target)
    elif inspect.isgeneratorfunction(target):
        wrap = _wrap_generator
    elif inspect.iscoroutinefunction(target):
        wrap = _wrap_coroutine
    else:
        wrap = _wrap_call
    traced = _OperationTraced(fn, operation, **options)
    wrapper = wrap(traced)
    wrapper.__obskit_span_name__ = traced.span_name  # type: ignore[attr-defined]
    return wrapper
