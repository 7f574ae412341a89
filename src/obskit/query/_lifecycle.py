"""Query lifecycle, phases and worker fragments: the context managers behind obskit.query.

All three are classes with `__enter__`/`__exit__` and the async twins (never generator
context managers). Facts (rows, bytes, cost, cache lookups) accumulate on the object and
become span attributes once, at the end; counters are added as facts arrive. Metric
attribute dicts are cached per (system, operation, ...) so a query allocates only its
spans. Nothing here raises into the query: every telemetry step is guarded, and the
query's own exceptions pass through unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from obskit import propagation
from obskit._base.log import log_once
from obskit._safety import literals as _literals
from obskit._safety.clean import clean_text, clean_value
from obskit._safety.secrets import scrub_pair
from obskit._trace.handle import (
    AsyncWith,
    SpanHandle,
    SpanRecipe,
    current_span_context,
    error_type,
    is_cancelled,
)
from obskit.query import _names as names
from obskit.query import _text as _query_text
from obskit.query._block import Block, Facts, as_count, as_label, as_number, cached
from obskit.query._operator import Operator
from obskit.query._shared import (
    _MAX_CACHED,
    _OTHER,
    _ROOT,
    _active,
    _cache_lookups,
    _cost_reduction,
    _duration,
    _errors,
    _phase_duration,
    _phase_recipes,
    _returned_rows,
)
from obskit.query._shared import check_phase as check_phase

__all__ = ["Phase", "QueryLifecycle", "check_phase"]


def _failure(exc: BaseException | None) -> str | None:
    """The `error.type` of a block that raised; None for a cancellation (not an error)."""
    return None if exc is None or is_cancelled(exc) else error_type(exc)


class Phase(Block, AsyncWith["Phase"]):
    """One phase of a query (`query.parse`, `query.plan`, ...): a child span and a duration.

    Made by `QueryLifecycle.phase()`; use it as `with q.phase("plan"):` or `async with`.

    Examples:
        >>> from obskit import query
        >>> with query.lifecycle("SELECT * FROM t") as q, q.phase("plan"):
        ...     pass
    """

    def __init__(self, name: str, parent: QueryLifecycle) -> None:
        self.name = check_phase(name)
        self._parent = parent
        self._reset(_ROOT)

    def __enter__(self) -> Phase:
        recipe = _phase_recipes.get(self.name)
        if recipe is None:
            recipe = SpanRecipe(names.PHASE_PREFIX + self.name, scope=names.SCOPE)
            if len(_phase_recipes) < _MAX_CACHED:
                _phase_recipes[self.name] = recipe
        try:
            self._open(recipe, None, self._parent._context_for_children())
        except Exception:
            log_once("query-phase", "starting phase %r failed", self.name, exc_info=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        try:
            elapsed = self._close(exc, {})
            base = self._parent._base
            error = _failure(exc)
            key = ("phase", self.name, error, *base.values())
            handle = _phase_duration.found.get(key)
            if handle is None:
                handle = _phase_duration.get(key, cached(
                    key, ((names.PHASE, self.name), *base.items(), (names.ERROR_TYPE, error))
                ))  # fmt: skip
            handle.record(elapsed, self._ended)  # its span: the exemplar
        except Exception:
            log_once("query-phase-end", "ending phase %r failed", self.name, exc_info=True)


def _inside(span: trace_api.Span | None) -> context_api.Context | None:
    """The current context when it is inside `span`'s trace (None), else `span`'s own."""
    if span is None:
        return None
    current = current_span_context()  # trace_api.get_current_span(), inlined
    if current.is_valid and current.trace_id == span.get_span_context().trace_id:
        return None  # None = the current context
    return trace_api.set_span_in_context(span)


class QueryLifecycle(Block, Facts, AsyncWith["QueryLifecycle"]):
    """One query: a root span named after its summary, phases, facts and metrics.

    Made by `obskit.query.lifecycle(...)`; see there for the arguments.

    Examples:
        >>> from obskit import query
        >>> with query.lifecycle("SELECT id FROM users WHERE id = 42", system="minidb") as q:
        ...     q.rows(1)
    """

    def __init__(
        self,
        text: object = None,
        *,
        system: str = "other_sql",
        operation: str | None = None,
        collection: str | None = None,
        namespace: str | None = None,
        summary: str | None = None,
        query_id: str | None = None,
        sanitize: bool = True,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Mapping[str, object] | None = None,
        dialect: str = "ansi",
    ) -> None:
        if dialect not in _query_text.DIALECTS:
            raise ValueError(f"dialect must be one of {_query_text.DIALECTS}, got {dialect!r}")
        Facts.__init__(self)
        self._reset(_ROOT)
        self._dialect = dialect
        self._literals = _literals.Literals()
        self._literals_trace = 0
        self._active_counted = False  # query.active +1 recorded: -1 at exit, once
        self._costs: tuple[float | None, float | None] = (None, None)
        self._cache_hits = self._cache_misses = 0
        self._workers: int | None = None
        self._fragments: int | None = None
        self._error: str | None = None
        self._error_description: str | None = None
        self.system = clean_text(system, 64) if type(system) is str else "other_sql"
        self.operation: str | None = None
        self.collection: str | None = None
        self.summary: str | None = None
        self._start_attributes: dict[str, AttributeValue] = {}
        try:
            self._describe(text, operation, collection, namespace, summary, query_id, sanitize)
            if attributes:
                for key, value in attributes.items():
                    clean = clean_value(value)
                    if type(key) is str and clean is not None:
                        self._start_attributes.setdefault(key, scrub_pair(key, clean))
        except Exception:
            log_once("query-describe", "describing the query failed", exc_info=True)
        self._base_key = ("base", self.system, self.operation)
        self._base = cached(
            self._base_key,
            ((names.DB_SYSTEM_NAME, self.system), (names.DB_OPERATION_NAME, self.operation)),
        )
        if kind is not SpanKind.INTERNAL:
            self._recipe = SpanRecipe("query", kind=kind, scope=names.SCOPE)

    def _describe(
        self,
        text: object,
        operation: str | None,
        collection: str | None,
        namespace: str | None,
        summary: str | None,
        query_id: str | None,
        sanitize: bool,
    ) -> None:
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text[: 4 * _query_text.MAX_QUERY_TEXT_CHARS]).decode("utf-8", "replace")
        query_text = None
        if type(text) is str:
            if sanitize:
                query_text, found = _query_text.sanitize_with_literals(text, dialect=self._dialect)
                self._literals = _literals.Literals(found)
            else:
                query_text = _query_text.cap(text)
            query_text = clean_text(query_text)
        elif text is not None:
            log_once("query-text", "query text must be str or bytes, got %s", type(text).__name__)
        shape = _query_text.shape(query_text or "")
        self.operation = as_label(operation) or shape.operation
        self.collection = as_label(collection) or shape.collection
        tables = shape.tables if not collection else (self.collection,)
        self.summary = (
            as_label(summary, _query_text.MAX_SUMMARY_CHARS)
            or _query_text.QueryShape(self.operation, tuple(t for t in tables if t)).summary
        )
        for key, value in (
            (names.DB_SYSTEM_NAME, self.system),
            (names.DB_NAMESPACE, as_label(namespace)),
            (names.DB_OPERATION_NAME, self.operation),
            (names.DB_COLLECTION_NAME, self.collection),
            (names.DB_QUERY_SUMMARY, self.summary),
            (names.DB_QUERY_TEXT, query_text),
            (names.QUERY_ID, as_label(query_id)),
        ):
            if value is None:
                continue
            # A sanitised text holds no literals left to scrub; scanning it would only
            # mangle comparisons such as `s.token = t.token`.
            if not (sanitize and key == names.DB_QUERY_TEXT):
                value = scrub_pair(key, value)
            self._start_attributes[key] = value

    # -- the block ---------------------------------------------------------------------
    def __enter__(self) -> QueryLifecycle:
        try:
            _active.get(self._base_key, self._base).add(1)
            self._active_counted = True
            self._open(self._recipe, self._start_attributes, name=self.summary or self.system)
            if self._span is not None:
                self._literals_trace = _literals.register(self._span, self._literals)
        except Exception:
            log_once("query-start", "starting the query span failed", exc_info=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._finish(exc)
        except Exception:
            log_once("query-finish", "ending the query span failed", exc_info=True)
            if self._span is not None:  # failed before closing: still end and detach it
                try:
                    self._close(exc, {})
                except Exception:
                    log_once("query-close", "closing the query span failed", exc_info=True)
        if self._active_counted:  # whatever failed above, the gauge must come back down
            self._active_counted = False
            try:
                _active.get(self._base_key, self._base).add(-1)
            except Exception:
                log_once("query-active", "query.active could not be decremented", exc_info=True)
        _literals.unregister(self._literals_trace, self._literals)

    def _finish(self, exc: BaseException | None) -> None:
        extra = self._fact_attributes()
        reduction = self._reduction()
        extra.update(self._query_attributes(reduction))
        span = self._span
        if self._error is not None and exc is None and span is not None:
            SpanHandle(span).set_error(self._error_description, self._error)
        elapsed = self._close(exc, extra)
        error = self._error if exc is None else _failure(exc)
        base, base_key = self._base, self._base_key
        key = ("duration", error, self.collection, *base.values())
        handle = _duration.found.get(key)
        if handle is None:
            handle = _duration.get(key, cached(key, (
                *base.items(), (names.DB_COLLECTION_NAME, self.collection),
                (names.ERROR_TYPE, error))))  # fmt: skip
        handle.record(elapsed, self._ended)  # its span: the exemplar
        if error is not None:
            key = ("error", error, *base.values())
            _errors.get(key, cached(key, (*base.items(), (names.ERROR_TYPE, error)))).add(1)
        if self._returned is not None:
            _returned_rows.get(base_key, base).record(self._returned)
        if reduction is not None:
            _cost_reduction.get(base_key, base).record(reduction)

    def _reduction(self) -> float | None:
        estimated, optimized = self._costs
        if estimated is None or optimized is None or estimated <= 0:
            return None
        return 1.0 - optimized / estimated

    def _query_attributes(self, reduction: float | None) -> dict[str, AttributeValue]:
        found: dict[str, AttributeValue] = {}
        estimated, optimized = self._costs
        lookups = self._cache_hits + self._cache_misses
        for key, value in (
            (names.COST_ESTIMATED, estimated),
            (names.COST_OPTIMIZED, optimized),
            (names.COST_REDUCTION, reduction),
            (names.WORKER_COUNT, self._workers),
            (names.FRAGMENT_COUNT, self._fragments),
        ):
            if value is not None:
                found[key] = value
        if lookups:
            found[names.CACHE_HITS] = self._cache_hits
            found[names.CACHE_MISSES] = self._cache_misses
            found[names.CACHE_HIT_RATIO] = self._cache_hits / lookups
        return found

    def _context_for_children(self) -> context_api.Context | None:
        """The current context when it is inside this query's trace, else the root's."""
        return _inside(self._span if self._span is not None else self._stand_in)

    # -- public API ----------------------------------------------------------------------
    @property
    def trace_id(self) -> str:
        """The query's trace id as 32 hex digits (all zeros when tracing is off)."""
        return self.span.trace_id

    def phase(self, name: str) -> Phase:
        """A phase of this query: `with q.phase("plan"):` gives a `query.plan` span.

        Standard phases are parse, plan, optimize, execute, aggregate and queue; any
        lower-case identifier works. Raises ValueError for other names.
        """
        return Phase(name, self)

    def operator(self, name: str, *, operator_id: object = None) -> Operator:
        """An operator run in this process: `with q.operator("hash_join"):`.

        A `query.operator.<name>` span, child of the span current here (the phase that
        runs it, or an enclosing operator) with no carrier to pass; `query.operator.name`
        on it and on `query.operator.duration`. Its time is not added to
        `query.phase.duration` (it is already inside its phase's time). `operator_id` is
        the plan node's id (spans only). Names follow the phase rule (ValueError else).

        Examples:
            >>> from obskit import query
            >>> with query.lifecycle("SELECT a FROM t JOIN u ON t.id = u.id") as q:
            ...     with q.phase("execute"), q.operator("hash_join") as join:
            ...         with q.operator("scan", operator_id="t"):
            ...             pass
            ...         join.rows(10)
        """
        return Operator(check_phase(name), self._base, self._context_for_children, operator_id)

    def cost(self, estimated: object = None, optimized: object = None) -> None:
        """Record the plan cost before and after optimization (and so the reduction).

        Values that are not finite real numbers are skipped (logged once), never raised.
        """
        first, second = self._costs
        if estimated is not None:
            first = as_number(estimated, "estimated")
        if optimized is not None:
            second = as_number(optimized, "optimized")
        self._costs = (first, second)

    def cache(self, hit: bool, name: str = "plan") -> None:
        """Count a cache lookup (`name` = plan, result, block, ...): hit or miss."""
        try:
            hit = bool(hit)
            if hit:
                self._cache_hits += 1
            else:
                self._cache_misses += 1
            label = as_label(name) or _OTHER
            result = "hit" if hit else "miss"
            key = ("cache", self.system, label, result)
            _cache_lookups.get(key, cached(key, (
                (names.DB_SYSTEM_NAME, self.system), (names.CACHE_NAME, label),
                (names.CACHE_RESULT, result)))).add(1)  # fmt: skip
        except Exception:
            log_once("query-cache", "recording a cache lookup failed", exc_info=True)

    def workers(self, count: int) -> None:
        """Record how many workers the query used."""
        self._workers = as_count(count, "workers")

    def fragments(self, count: int) -> None:
        """Record how many fragments the query executed."""
        self._fragments = as_count(count, "fragments")

    def set_error(self, error_type: str, description: str | None = None) -> None:
        """Mark the query failed without an exception (e.g. a timeout handled by the engine).

        `error_type` becomes `error.type` on the span and the metrics (keep it low-cardinality).
        """
        self._error = as_label(error_type) or _OTHER
        self._error_description = description if type(description) is str else None
        span = self._span
        if span is not None:
            SpanHandle(span).set_error(description, self._error)

    def fragment_carrier(self, carrier: Any = None) -> Any:
        """Trace context for a fragment request: inject into `carrier` (a new dict by default).

        The worker passes it to `obskit.query.fragment(...)`; its span joins this query's
        trace under the span current here (e.g. `query.execute`), or under the root.
        """
        context = self._context_for_children()
        return propagation.inject(carrier, context=context)
