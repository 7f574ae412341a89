"""The one running operation every domain builds on, and the metrics it records through.

An `Operation` is what a B+tree get, a Raft RPC, a query phase or a pipeline step is while
it runs. The recipe decides sampling before any span work; the span (if any) is made
current for the `with` / `async with` block or by `_attach()`; elapsed time is measured
from `_open()`; `end()` (or leaving the block) ends it exactly once, with the outcome
decided by `obskit._safety.errors.outcome` (ok / error / cancelled and `error.type`), and
a domain's `_end()` records its bound duration with the span as exemplar. When nothing
can record, a domain hands out its shared no-op instead (`obskit._domain.off`).

A domain operation records a duration and a count or two with an attribute set that is
one of a few per decorated function / registered object / outcome. Through the SDK
instrument path each record costs 5-10 us (attribute hashing, a Measurement object,
exemplar filtering, a lock: docs/performance.md has the profile); through a handle bound
once (`obskit._metrics.hot`) it is a bisect and a few adds into this thread's cells,
~0.2-0.3 us. So the domains:

* create their catalogue's counters, up-down counters and histograms with `hot()` instead
  of `Catalogue.instrument()` -- same name, unit, description, buckets and scope; exported
  as the same Prometheus series, and *sparse* like the SDK's own instruments;
* keep one `Outcomes` per prepared object (an index operation, a node, a processor, a
  phase name), mapping a small key (an outcome, an error type) to its bound handle, so a
  record is a dict lookup and an add; the attribute dict is built once per key.

Examples:
    >>> from obskit.btree import _names as names
    >>> duration = hot(names.CATALOGUE, names.OPERATION_DURATION)
    >>> by_outcome = Outcomes(duration, {names.INDEX: "pk", names.OPERATION: "get"})
    >>> by_outcome.get(names.HIT, {names.OUTCOME: names.HIT}).record(0.0002)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Hashable, Mapping
from types import TracebackType
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context

from obskit import propagation
from obskit._base.context import SPAN_KEY, UnsampledRoot, attach_span, detach_span, set_context
from obskit._base.log import log_once
from obskit._domain.catalogue import Catalogue
from obskit._metrics import hot as _hot
from obskit._metrics import proxy as _metrics
from obskit._safety.errors import outcome
from obskit._trace.handle import NOOP_HANDLE, AsyncWith, SpanHandle, SpanRecipe
from obskit._trace.w3c import inject_span

__all__ = ["Operation", "Outcomes", "hot"]

_HOT_KINDS = ("counter", "up_down_counter", "histogram")


def hot(catalogue: Catalogue, name: str) -> Any:
    """The hot-path instrument for catalogue entry `name` (a counter, up-down counter or
    histogram): same name, unit, description, buckets and scope as `catalogue.instrument`.

    Use one or the other for a given name, never both (a name has one instrument kind).

    Examples:
        >>> from obskit.raft import _names as n
        >>> hot(n.CATALOGUE, n.M_COMMITTED).bind({n.NODE_ID: "n1"}).add()
    """
    spec = catalogue.instruments_by_name.get(name)
    if spec is None or spec.kind not in _HOT_KINDS:
        raise KeyError(
            f"{name!r} is not a counter or histogram of the {catalogue.domain} catalogue"
        )
    scope = catalogue.scope
    key = (spec.kind, scope, name)
    if spec.kind == "histogram":
        buckets = spec.buckets
        if buckets is None:
            buckets = _metrics.LATENCY_BUCKETS  # the catalogue's only unbucketed unit is "s"
        return _hot._cached(key, lambda: _histogram(name, spec.unit, spec.description, scope,
                                                    tuple(buckets)))  # fmt: skip
    monotonic = spec.kind == "counter"
    return _hot._cached(
        key,
        lambda: _hot.HotCounter(name, spec.unit, spec.description, scope, monotonic, sparse=True),
    )


def _histogram(
    name: str, unit: str, description: str, scope: str, buckets: tuple[float, ...]
) -> _hot.HotHistogram:
    histogram = _hot.HotHistogram(name, unit, description, scope, buckets)
    # The bounds exactly as declared, as the SDK keeps them: Prometheus shows an int bound
    # 5 as le="5" and a float 5.0 as le="5.0", two different series.
    histogram.bounds = buckets
    return histogram


class Outcomes:
    """Bound handles of one hot instrument for one base attribute set, by a small key.

    `get(key, extra)` binds ``{**base, **extra}`` the first time `key` is seen and returns
    the same handle after that. At most `limit` keys are kept: past it a key is bound on
    each use (the instrument's own binding table is bounded too), so callers keep their
    labels low-cardinality as before. The fast path is `found.get(key)`.

    Examples:
        >>> from obskit.pipeline import _names as n
        >>> by_outcome = Outcomes(hot(n.CATALOGUE, n.M_DURATION), {n.PIPELINE: "logs"})
        >>> by_outcome.get("emit", {n.OUTCOME: "emit"}) is by_outcome.found["emit"]
        True
    """

    __slots__ = ("_lock", "base", "found", "instrument", "limit")

    def __init__(
        self, instrument: Any, base: Mapping[str, object] | None = None, limit: int = 64
    ) -> None:
        self.instrument = instrument
        self.base = dict(base or {})
        self.limit = limit
        #: key -> bound handle; read it directly on hot paths (`found.get(key)`).
        self.found: dict[Hashable, Any] = {}
        self._lock = threading.RLock()  # re-entrant: see docs/architecture.md

    def get(self, key: Hashable, extra: Mapping[str, object] | None = None) -> Any:
        """The bound handle for `key`, binding ``base`` plus `extra` on first use."""
        handle = self.found.get(key)
        if handle is not None:
            return handle
        handle = self.instrument.bind({**self.base, **extra} if extra else self.base)
        with self._lock:
            if len(self.found) < self.limit:
                self.found[key] = handle
        return handle


_perf = time.perf_counter


class Operation(AsyncWith[Any]):
    """A running domain operation: its span, the context it makes current, its clock.

    Subclasses (`raft.Proposal`, `query.QueryLifecycle`, a B+tree `Operation`, a pipeline
    step) add their facts and metrics; this class holds what they all share and ends the
    operation exactly once:

    * `_open(recipe, attributes, ...)` starts the clock and, when the recipe's sampling
      decision (made first, before any span work) says so, the span; `attributes` may be
      a callable, called only for a span that records;
    * `_attach()` / `_detach()` make the span current (the one fast attach path);
    * `end(error)` or leaving the `with` / `async with` block closes it: `_end(exc)` runs
      once, and the default ends the span (status and exception by the recipe) and
      returns; subclasses record their metrics there with `outcome_of(exc)` (the one
      classifier) and `elapsed()`;
    * `exemplar()` is the span a duration record should carry, when it records.

    Never raises into the caller: span failures are logged once.

    Examples:
        >>> from obskit._trace.handle import SpanRecipe
        >>> op = Operation()
        >>> op._open(SpanRecipe("demo.step", None))
        >>> with op:
        ...     pass
        >>> op.closed, op.outcome_of(None)
        (True, ('ok', None))
    """

    __slots__ = ("_closed", "_ended", "_failure", "_recipe", "_span", "_started", "_token")

    _recipe: SpanRecipe | None
    _span: trace_api.Span | None
    _ended: trace_api.Span | None
    _token: object
    _closed: bool
    _failure: str | None
    _started: float

    def _open(
        self,
        recipe: SpanRecipe | None,
        attributes: Any = None,
        *,
        context: Context | None = None,
        links: Any = None,
        name: str | None = None,
        traced: bool = True,
    ) -> None:
        """Start the clock, and the span when `traced` and the recipe samples it in."""
        self._recipe = recipe
        self._span = None
        self._ended = None  # once ended: its durations' exemplar, its trace id
        self._token = None
        self._closed = False
        self._failure = None
        self._started = _perf()
        if not traced or recipe is None:
            return
        tracer = recipe.tracer()
        if tracer is None:
            return
        try:
            self._span = recipe.start(tracer, attributes, context, links=links, name=name)
        except Exception:
            log_once("operation-start", "starting %s failed", recipe.name, exc_info=True)

    def _open_off(self) -> None:
        """The state of the shared no-op (obskit._domain.off): already closed, no span."""
        self._recipe = None
        self._span = self._ended = None
        self._token = None
        self._closed = True
        self._failure = None
        self._started = 0.0

    @property
    def closed(self) -> bool:
        """Whether the operation has ended (the shared no-op always has)."""
        return self._closed

    @property
    def span(self) -> SpanHandle:
        """A handle on this operation's span (a no-op handle when not traced)."""
        span = self._span or self._ended
        return NOOP_HANDLE if span is None else SpanHandle(span)

    def elapsed(self) -> float:
        """Seconds since the operation started."""
        return _perf() - self._started

    def exemplar(self) -> trace_api.Span | None:
        """The span a duration record carries as its exemplar: a sampled one, running or
        ended (a duration is recorded as the operation ends, after its span did), else None.
        """
        span = self._span or self._ended
        if span is None or type(span) is UnsampledRoot:
            return None  # an unsampled root says so by its type: its ids stay undrawn
        return span if span.get_span_context()[3] & 1 else None  # trace_flags.sampled

    def outcome_of(self, exc: BaseException | None) -> tuple[str, str | None]:
        """(outcome, `error.type`) of this operation ended by `exc` (or by `end(label)`)."""
        return outcome(exc, self._failure)

    def _attach(self, context: Context | None = None) -> None:
        """Make the span current: in the current context, or in `context` when given."""
        span = self._span
        if span is None or self._token is not None:
            return
        if context is None:
            self._token = attach_span(span)
        else:
            self._token = set_context(Context({**context, SPAN_KEY: span}))

    def _detach(self) -> None:
        token, self._token = self._token, None
        if token is not None:
            detach_span(token)  # type: ignore[arg-type]

    def _finish(
        self, exc: BaseException | None, attributes: Mapping[str, Any] | None = None
    ) -> float:
        """End the span (setting `attributes` first, if it records); elapsed seconds."""
        elapsed = _perf() - self._started
        span, self._span = self._span, None
        if span is not None:
            self._ended = span
            try:
                if attributes and span.is_recording():
                    span.set_attributes(attributes)
                self._recipe.finish(span, exc)  # type: ignore[union-attr]
            except Exception:
                name = self._recipe.name if self._recipe is not None else "?"
                log_once("operation-end", "ending %s failed", name, exc_info=True)
        return elapsed

    def _set(self, key: str, value: object) -> None:
        """Set one attribute on the running span, if it records (cleaned, never raises)."""
        span = self._span
        if span is not None and value is not None and span.is_recording():
            SpanHandle(span).set_attribute(key, value)

    def end(self, error: str | BaseException | None = None) -> None:
        """End the operation by hand: what leaving its `with` block does (idempotent).

        For event-loop code, where a reply or the last vote arrives as a later message.
        `error` marks it failed: a short label (`"timeout"`, `"unreachable"`) becomes
        `error.type` on the span and the metrics, an exception is recorded as such.
        """
        if self._closed:
            return
        if error is None or isinstance(error, BaseException):
            self._close(error)
            return
        kind = str(error)[:128] or "error"
        self._failure = kind
        span = self._span
        if span is not None:
            name = self._recipe.name if self._recipe is not None else "operation"
            SpanHandle(span).set_error(f"{name} failed: {kind}", kind)
        self._close(None)

    def _close(self, exc: BaseException | None) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._end(exc)
            except Exception:
                log_once("operation-close", "closing an operation failed", exc_info=True)

    def _end(self, exc: BaseException | None) -> None:
        """What ending records; subclasses add their metrics (call `_finish` for the span)."""
        self._finish(exc)

    def inject(self, carrier: Any = None) -> Any:
        """Write this operation's trace context into `carrier` (a new dict by default)."""
        span = self._span or self._ended
        if span is None:
            return {} if carrier is None else carrier
        written = {} if carrier is None else carrier
        if inject_span(written, span):  # a plain dict, the default propagators, no baggage
            return written
        return propagation.inject(carrier, context=trace_api.set_span_in_context(span))

    def __enter__(self) -> Any:
        self._attach()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._detach()
        self._close(exc)
