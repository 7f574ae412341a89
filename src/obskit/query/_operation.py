"""A query's running operations: the lifecycle, its phases and its operators.

All are `obskit._domain.operation.Operation`s: the span starts from a recipe (sampling
decided first), is current for the `with` / `async with` block, and ends exactly once,
with the outcome from the one classifier (`outcome_of`). Facts (rows, bytes, cost, cache
lookups) accumulate on the object and become span attributes once, at the end; counters
are added as facts arrive, through handles bound once per key (`_registry.by_key`), so a
query allocates little beyond its spans. Nothing here raises into the query: every
telemetry step is guarded, and the query's own exceptions pass through unchanged.

When obskit is off (`obskit._routing.off()`), `obskit.query.lifecycle()` hands out a
closed lifecycle made without `__init__` (the pattern of `obskit._domain.off`, one per
call since it keeps its text: `summary`, `operation` and `collection` are read from it
only when asked for), and its `phase()` / `operator()` hand out shared closed phases and
operators, one per name (`.name` is what was asked for). Every method of a closed
operation does nothing.
"""

from __future__ import annotations

import copy
import math
import re
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from obskit import propagation
from obskit._base.context import SPAN_KEY, current_span_context, get_context
from obskit._base.log import log_once
from obskit._domain.off import shared_off
from obskit._domain.operation import Operation
from obskit._safety import literals as _literals
from obskit._safety.clean import clean_text, clean_value
from obskit._safety.secrets import scrub_pair
from obskit._trace.handle import SpanHandle, SpanRecipe
from obskit.query import _names as names
from obskit.query import _text as _query_text
from obskit.query._registry import MAX_CACHED, by_key, cached, phase_durations

__all__ = [
    "Facts",
    "Operator",
    "Phase",
    "QueryLifecycle",
    "as_count",
    "as_label",
    "as_number",
    "check_phase",
    "inside",
    "named_off",
]

_PHASE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_RESERVED_PHASES = frozenset({"fragment", "phase", "duration", "active", "errors", "operator"})
_OTHER = "_OTHER"
_perf = time.perf_counter

_duration = by_key(names.DURATION)
_operator_duration = by_key(names.OPERATOR_DURATION)
_active = by_key(names.ACTIVE)
_returned_rows = by_key(names.RETURNED_ROWS)
_cache_lookups = by_key(names.CACHE_LOOKUPS)
_errors = by_key(names.ERRORS)
_cost_reduction = by_key(names.COST_REDUCTION_METRIC)
_rows_read = by_key(names.ROWS_READ_METRIC)
_rows_written = by_key(names.ROWS_WRITTEN_METRIC)
_io = by_key(names.IO)

_ROOT = SpanRecipe("query", scope=names.SCOPE)
_phase_recipes: dict[str, SpanRecipe] = {}  # also the names that passed check_phase
_operator_recipes: dict[str, SpanRecipe] = {}


def check_phase(name: object) -> str:
    """Validate a phase (or operator) name: a lower-case identifier, not a reserved word.

    Examples:
        >>> check_phase("parse")
        'parse'
    """
    if type(name) is not str or not _PHASE_NAME.match(name) or name in _RESERVED_PHASES:
        raise ValueError(
            f"query phase names are lower-case identifiers (span 'query.<phase>'), e.g. "
            f"{', '.join(names.STANDARD_PHASES)}; got {name!r}"
            + (" (reserved)" if name in _RESERVED_PHASES else "")
        )
    return name


def _recipe(found: dict[str, SpanRecipe], prefix: str, name: str) -> SpanRecipe:
    """The span recipe of phase or operator `name` (checked), made once per name."""
    recipe = SpanRecipe(prefix + check_phase(name), scope=names.SCOPE)
    if len(found) < MAX_CACHED:
        found[name] = recipe
    return recipe


def as_count(value: object, what: str) -> int | None:
    """A non-negative count from `value`, or None (logged once) when it is not one."""
    if type(value) is int and value >= 0:
        return value
    if type(value) is float and math.isfinite(value) and value >= 0:
        return int(value)
    if value is not None:
        log_once(f"query-count:{what}", "query %s must be a non-negative number; got %s", what,
                 type(value).__name__)  # fmt: skip
    return None


def as_number(value: object, what: str) -> float | None:
    """A finite float from a real number (int, float, Decimal, numpy), else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, (int, float)) or hasattr(value, "__float__"):
            number = float(value)  # type: ignore[arg-type]
            if math.isfinite(number):
                return number
    except Exception:
        pass
    log_once(f"query-number:{what}", "query cost %s is not a finite number; it is skipped", what)
    return None


def as_label(value: object, limit: int = 128) -> str | None:
    """A clean short string label, or None for None/empty/non-strings."""
    if type(value) is not str or not value:
        return None
    return clean_text(value, limit)


def inside(span: trace_api.Span | None) -> context_api.Context | None:
    """The current context when it is inside `span`'s trace (None), else `span`'s own."""
    if span is None:
        return None
    current = current_span_context()  # trace_api.get_current_span(), inlined
    if current.is_valid and current.trace_id == span.get_span_context().trace_id:
        return None  # None = the current context
    return trace_api.set_span_in_context(span)


Op = TypeVar("Op", bound=Operation)
_named_off: dict[tuple[type, str, object], Any] = {}


def named_off(
    cls: type[Op], value: object, field: str = "name", check: Callable[[Any], Any] = check_phase
) -> Op:
    """A shared closed `cls` (a copy of `obskit._domain.off.shared_off(cls)`) whose `field`
    is `check(value)`, so an off phase still has the name it was asked for: one per
    (class, field, str value), at most 256 kept; `check` runs when one is made (a phase
    name that is not one raises ValueError, as when on)."""
    key = (cls, field, value) if type(value) is str else None
    found = _named_off.get(key)  # type: ignore[arg-type]
    if found is None:
        checked = check(value)
        found = copy.copy(shared_off(cls))
        setattr(found, field, checked)
        if key is not None and len(_named_off) < 256:
            _named_off[key] = found
    return found  # type: ignore[no-any-return]


class _Block(Operation):
    """A query operation whose span is current for its block (the query's own classes)."""

    __slots__ = ()

    def _start(
        self,
        recipe: SpanRecipe,
        attributes: Mapping[str, AttributeValue] | None,
        context: context_api.Context | None = None,
        name: str | None = None,
    ) -> None:
        """Open the operation and make its span current (in `context` when given).

        In the current context under a parent the SDK would not sample (obskit's
        ParentBased samplers), no span is made: the parent stays current and stands in
        for it (its trace id, its "not sampled" flag for what children inject).
        """
        if context is None:
            tracer = recipe.tracer()
            if tracer is not None and recipe.parent_unsampled():
                self._open(recipe, traced=False)
                self._ended = get_context().get(SPAN_KEY)  # type: ignore[assignment]
                return
        self._open(recipe, attributes, context=context, name=name)
        self._attach(context)

    def set_attribute(self, key: str, value: object) -> None:
        """Set an attribute on the operation's span (cleaned; never raises)."""
        self.span.set_attribute(key, value)


class Facts(_Block):
    """A query operation that counts rows and bytes: a query, a fragment.

    Rows and bytes accumulate (span attributes at the end) and their counters are added
    as they arrive, under `_base` (db.system.name, db.operation.name), keyed by
    `_base_key`. Public attributes (`system`, `summary`, ...) live in the instance dict
    of the documented classes: a slot here would show up as one of their members.
    """

    __slots__ = ("_base", "_base_key", "_bytes_read", "_bytes_written", "_read", "_returned",
                 "_written")  # fmt: skip

    _returned: int | None

    def _facts(self, base_key: tuple[Any, ...], base: dict[str, Any]) -> None:
        self._base_key = base_key
        self._base = base
        self._returned = None
        self._read = self._written = self._bytes_read = self._bytes_written = 0
        self._closed = False  # methods work before the block is entered
        self._span = self._ended = None

    def _open_off(self) -> None:
        super()._open_off()
        self._facts(("base",), {})
        self._closed = True

    def rows(
        self, returned: int | None = None, *, read: int | None = None, written: int | None = None
    ) -> None:
        """Add rows: `returned` to the client, `read` (processed) and `written`.

        Calls accumulate. Numbers that are not non-negative counts are skipped.
        """
        if self._closed:
            return
        try:
            count = as_count(returned, "rows returned")
            if count is not None:
                self._returned = (self._returned or 0) + count
            count = as_count(read, "rows read")
            if count:
                self._read += count
                _rows_read.get(self._base_key, self._base).add(count)
            count = as_count(written, "rows written")
            if count:
                self._written += count
                _rows_written.get(self._base_key, self._base).add(count)
        except Exception:
            log_once("query-rows", "recording rows failed", exc_info=True)

    def bytes(self, read: int | None = None, *, written: int | None = None) -> None:
        """Add bytes read (received) and written (sent); calls accumulate."""
        if self._closed:
            return
        try:
            count = as_count(read, "bytes read")
            if count:
                self._bytes_read += count
                self._io("read").add(count)
            count = as_count(written, "bytes written")
            if count:
                self._bytes_written += count
                self._io("write").add(count)
        except Exception:
            log_once("query-bytes", "recording bytes failed", exc_info=True)

    def _io(self, direction: str) -> Any:
        base = self._base
        key = ("io", direction, *base.values())
        return _io.found.get(key) or _io.get(
            key, cached(key, (*base.items(), (names.IO_DIRECTION, direction)))
        )

    def _fact_attributes(self) -> dict[str, AttributeValue]:
        found: dict[str, AttributeValue] = {}
        if self._returned is not None:
            found[names.DB_RESPONSE_RETURNED_ROWS] = self._returned
        for key, value in (
            (names.ROWS_READ, self._read),
            (names.ROWS_WRITTEN, self._written),
            (names.BYTES_READ, self._bytes_read),
            (names.BYTES_WRITTEN, self._bytes_written),
        ):
            if value:
                found[key] = value
        return found


class _Step(_Block):
    """A phase or an operator: its slots (here, not among the documented classes' members)."""

    __slots__ = ("_base", "_id", "_parent", "_rows", "name")

    name: str
    _base: Mapping[str, Any]
    _parent: Any
    _rows: int | None
    _id: Any

    def _open_off(self) -> None:
        super()._open_off()
        self.name = ""
        self._base = {}
        self._parent = None
        self._rows = None
        self._id = None


class Phase(_Step):
    """One phase of a query (`query.parse`, `query.plan`, ...): a child span and a duration.

    Made by `QueryLifecycle.phase()`; use it as `with q.phase("plan"):` or `async with`.

    Examples:
        >>> from obskit import query
        >>> with query.lifecycle("SELECT * FROM t") as q, q.phase("plan"):
        ...     pass
    """

    __slots__ = ()

    def __init__(self, name: str, parent: QueryLifecycle) -> None:
        if name not in _phase_recipes:
            _recipe(_phase_recipes, names.PHASE_PREFIX, name)  # checks the name
        self.name = name
        self._parent = parent
        self._closed = False

    def __enter__(self) -> Phase:
        if self._closed:
            return self
        parent = self._parent
        try:
            quiet = parent._quiet
            if quiet is not None and get_context().get(SPAN_KEY) is quiet:
                # An unsampled query, its span (or stand-in) current: the phase would be an
                # unsampled child, so only its clock runs: `_open(None, traced=False)`
                # inlined, the quiet span standing in (its trace id, for `span`). With
                # the one-frame exit below, an unsampled phase costs ~1.0 us, not ~2.9.
                self._recipe = self._span = self._token = self._failure = None
                self._ended = parent._quiet
                self._started = _perf()
                return self
            recipe = _phase_recipes.get(self.name)
            if recipe is None:
                recipe = _recipe(_phase_recipes, names.PHASE_PREFIX, self.name)
            self._start(recipe, None, parent._context_for_children())
        except Exception:
            log_once("query-phase", "starting phase %r failed", self.name, exc_info=True)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any
    ) -> None:
        if self._closed:  # off, or ended by hand (no span: nothing attached)
            if self._token is not None:
                self._detach()
            return
        if exc is None and self._span is None:
            # No span (so nothing attached), no exception: what `_close` -> `_end` ->
            # `_finish` do, in one frame. An unsampled phase costs ~1.0 us, not ~1.4.
            self._closed = True
            try:
                elapsed = _perf() - self._started
                durations = self._parent._phase_durations
                name = self.name
                (durations.found.get(name) or durations.get(name, {names.PHASE: name})).record(
                    elapsed, None
                )
            except Exception:
                log_once("operation-close", "closing an operation failed", exc_info=True)
            return
        self._detach()
        self._close(exc)

    def _end(self, exc: BaseException | None) -> None:
        own = self._span  # the exemplar: its own span only (a stand-in is not sampled)
        elapsed = self._finish(exc)
        name = self.name
        durations = self._parent._phase_durations
        if exc is None and self._failure is None:
            handle = durations.found.get(name) or durations.get(name, {names.PHASE: name})
        else:  # an exception, or a label given to end()
            error = self.outcome_of(exc)[1]
            handle = durations.get((name, error), {names.PHASE: name, names.ERROR_TYPE: error})
        handle.record(elapsed, own)


class Operator(_Step):
    """One operator of a plan run in this process: a `query.operator.<name>` span.

    Made by `QueryLifecycle.operator()` or `Fragment.operator()`; use it as `with` or
    `async with`. It is current while it runs, so operators nest (a join over its scans).
    Its time goes to `query.operator.duration`, never to `query.phase.duration`: an
    operator runs inside a phase, so adding both would count the same time twice.

    Examples:
        >>> from obskit import query
        >>> with query.lifecycle("SELECT * FROM t") as q, q.phase("execute"):
        ...     with q.operator("scan", operator_id=1) as scan:
        ...         scan.rows(3)
    """

    __slots__ = ()

    def __init__(
        self,
        name: str,
        base: Mapping[str, Any],
        parent: Callable[[], context_api.Context | None],
        operator_id: object = None,
    ) -> None:
        self.name = name  # checked by the caller (the phase-name rule)
        self._base = base
        self._parent = parent
        self._rows: int | None = None
        self._id = clean_value(operator_id)
        self._closed = False
        self._span = self._ended = None

    def __enter__(self) -> Operator:
        if self._closed:
            return self
        attributes: dict[str, AttributeValue] = {names.OPERATOR: self.name}
        if self._id is not None:
            attributes[names.OPERATOR_ID] = self._id if type(self._id) is str else str(self._id)
        recipe = _operator_recipes.get(self.name)
        if recipe is None:
            recipe = _recipe(_operator_recipes, names.OPERATOR_PREFIX, self.name)
        try:
            self._start(recipe, attributes, self._parent())
        except Exception:
            log_once("query-operator", "starting operator %r failed", self.name, exc_info=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._closed and self._token is None:  # off, or ended by hand
            return
        self._detach()
        self._close(exc)

    def _end(self, exc: BaseException | None) -> None:
        rows = self._rows
        elapsed = self._finish(exc, None if rows is None else {names.OPERATOR_ROWS: rows})
        base = self._base
        # cancelled: not an error; a label given to end() is
        error = None if exc is None and self._failure is None else self.outcome_of(exc)[1]
        key = ("operator", self.name, error, *base.values())
        handle = _operator_duration.found.get(key)
        if handle is None:
            handle = _operator_duration.get(key, cached(
                key, ((names.OPERATOR, self.name), *base.items(), (names.ERROR_TYPE, error))
            ))  # fmt: skip
        handle.record(elapsed, self._ended)  # its span: the exemplar

    def rows(self, produced: int) -> None:
        """Add rows the operator produced (span attribute only: the query's own
        `rows()` counts rows read and returned, so nothing is counted twice)."""
        if self._closed:
            return
        count = as_count(produced, "operator rows")
        if count is not None:
            self._rows = (self._rows or 0) + count


class QueryLifecycle(Facts):
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
        self._recipe = _ROOT
        self._dialect = dialect
        self._literals = _literals.Literals()
        self._literals_trace = 0
        self._active_counted = False  # query.active +1 recorded: -1 at the end, once
        self._costs: tuple[float | None, float | None] = (None, None)
        self._cache_hits = self._cache_misses = 0
        self._workers: int | None = None
        self._fragments: int | None = None
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
        base_key = ("base", self.system, self.operation)
        self._facts(base_key, cached(base_key, (
            (names.DB_SYSTEM_NAME, self.system), (names.DB_OPERATION_NAME, self.operation),
        )))  # fmt: skip
        self._failure = None
        self._error_description: str | None = None
        self._phase_durations = phase_durations(base_key, self._base)
        #: The span current in the block when the query is not sampled (its own, or the
        #: unsampled parent standing in): phases under it make no span.
        self._quiet: trace_api.Span | None = None
        if kind is not SpanKind.INTERNAL:
            self._recipe = SpanRecipe("query", kind=kind, scope=names.SCOPE)

    @classmethod
    def _off(
        cls, text: object, system: object, operation: str | None, collection: str | None,
        summary: str | None, sanitize: bool, dialect: str,
    ) -> QueryLifecycle:  # fmt: skip
        """The closed lifecycle `obskit.query.lifecycle()` returns while obskit is off:
        made without `__init__` (as `shared_off`), holding only its arguments."""
        off = object.__new__(cls)
        off._open_off()
        off.system = clean_text(system, 64) if type(system) is str else "other_sql"
        off._dialect = dialect
        off.__dict__["_described"] = (text, operation, collection, summary, sanitize)
        return off

    if not TYPE_CHECKING:  # (for mypy, a QueryLifecycle has no dynamic attributes)

        def __getattr__(self, name: str) -> Any:
            """A closed lifecycle's `operation`, `collection` and `summary`: read from
            its text on first use, as when on."""
            described = self.__dict__.get("_described")
            if described is None or name not in ("operation", "collection", "summary"):
                raise AttributeError(name)
            text, operation, collection, summary, sanitize = described
            self._start_attributes = {}
            self.operation = self.collection = self.summary = None
            try:
                self._describe(text, operation, collection, None, summary, None, sanitize)
            except Exception:
                log_once("query-describe", "describing the query failed", exc_info=True)
            return self.__dict__[name]

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
        shape = None
        if type(text) is str:
            text_key = (text, self._dialect, sanitize)
            described = _described.get(text_key)
            if described is None:
                described = _description(text, self._dialect, sanitize)
                if len(text) <= _DESCRIBED_MAX_CHARS:
                    if len(_described) >= _DESCRIBED_MAX_ENTRIES:
                        _described.clear()
                    _described[text_key] = described
            query_text, literals, shape = described
            if literals is not None:
                self._literals = literals
        elif text is not None:
            log_once("query-text", "query text must be str or bytes, got %s", type(text).__name__)
        if shape is None:
            shape = _query_text.shape("")
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
        if self._closed:
            return self
        try:
            _active.get(self._base_key, self._base).add(1)
            self._active_counted = True
            recipe = self._recipe
            self._start(recipe, self._start_attributes, name=self.summary or self.system)  # type: ignore[arg-type]
            current = self._span if self._span is not None else self._ended
            if current is not None and recipe.parent_unsampled():  # type: ignore[union-attr]
                self._quiet = current
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
        if self._closed and self._token is None:  # off, or ended by hand
            return
        self._detach()
        self._close(exc)

    def _end(self, exc: BaseException | None) -> None:
        try:
            self._record(exc)
        except Exception:
            log_once("query-finish", "ending the query span failed", exc_info=True)
            self._finish(exc)  # failed before ending it: still end the span
        finally:
            if self._active_counted:  # whatever failed above, the gauge comes back down
                self._active_counted = False
                try:
                    _active.get(self._base_key, self._base).add(-1)
                except Exception:
                    log_once("query-active", "query.active could not be decremented",
                             exc_info=True)  # fmt: skip
            _literals.unregister(self._literals_trace, self._literals)

    def _record(self, exc: BaseException | None) -> None:
        extra = self._fact_attributes()
        reduction = self._reduction()
        extra.update(self._query_attributes(reduction))
        span = self._span
        if self._failure is not None and exc is None and span is not None:
            SpanHandle(span).set_error(self._error_description, self._failure)
        elapsed = self._finish(exc, extra)
        error = self.outcome_of(exc)[1]
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
        if self._closed:  # after the block (or off): the current context, as for any code
            return None
        span = self._span
        return inside(span if span is not None else self._ended)

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
        if self._closed:
            return named_off(Phase, name)
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
        if self._closed:
            return named_off(Operator, name)
        return Operator(check_phase(name), self._base, self._context_for_children, operator_id)

    def cost(self, estimated: object = None, optimized: object = None) -> None:
        """Record the plan cost before and after optimization (and so the reduction).

        Values that are not finite real numbers are skipped (logged once), never raised.
        """
        if self._closed:
            return
        first, second = self._costs
        if estimated is not None:
            first = as_number(estimated, "estimated")
        if optimized is not None:
            second = as_number(optimized, "optimized")
        self._costs = (first, second)

    def cache(self, hit: bool, name: str = "plan") -> None:
        """Count a cache lookup (`name` = plan, result, block, ...): hit or miss."""
        if self._closed:
            return
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
        if not self._closed:
            self._workers = as_count(count, "workers")

    def fragments(self, count: int) -> None:
        """Record how many fragments the query executed."""
        if not self._closed:
            self._fragments = as_count(count, "fragments")

    def set_error(self, error_type: str, description: str | None = None) -> None:
        """Mark the query failed without an exception (e.g. a timeout handled by the engine).

        `error_type` becomes `error.type` on the span and the metrics (keep it low-cardinality).
        """
        if self._closed:
            return
        self._failure = as_label(error_type) or _OTHER
        self._error_description = description if type(description) is str else None
        span = self._span
        if span is not None:
            SpanHandle(span).set_error(description, self._failure)

    def fragment_carrier(self, carrier: Any = None) -> Any:
        """Trace context for a fragment request: inject into `carrier` (a new dict by default).

        The worker passes it to `obskit.query.fragment(...)`; its span joins this query's
        trace under the span current here (e.g. `query.execute`), or under the root.
        """
        if self._closed and self._ended is None:  # off: nothing to carry
            return {} if carrier is None else carrier
        return propagation.inject(carrier, context=self._context_for_children())


#: What a query text comes to (sanitized text, its literals, its shape), by (text,
#: dialect, sanitize): an engine runs the same statements again and again, and
#: sanitizing and shaping one costs several microseconds. Bounded: emptied when full.
#: The `Literals` are shared by the lifecycles of one text (immutable once built).
_described: dict[tuple[str, str, bool], tuple[str, Any, Any]] = {}
_DESCRIBED_MAX_ENTRIES = 512
_DESCRIBED_MAX_CHARS = 4096


def _description(text: str, dialect: str, sanitize: bool) -> tuple[str, Any, Any]:
    literals = None
    if sanitize:
        query_text, found = _query_text.sanitize_with_literals(text, dialect=dialect)
        literals = _literals.Literals(found)
    else:
        query_text = _query_text.cap(text)
    query_text = clean_text(query_text)
    return query_text, literals, _query_text.shape(query_text or "")
