"""The machinery behind `obskit.pipeline`: records, processor steps, sources.

Hot-path rules (measured in benchmarks, see docs/pipeline.md): everything per processor
-- attribute dicts per outcome, the span recipe -- is built at decoration time; a record
whose journey is not sampled carries `context=None`, so a step costs a type check, two
counter adds, one histogram record and two clock reads, never a span.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Link

from obskit import propagation
from obskit._base.log import log_once
from obskit._base.names import ERROR_TYPE
from obskit._domain.operation import Outcomes, hot
from obskit._safety.clean import clean_text, safe_repr
from obskit._trace.handle import SpanRecipe, error_type, is_cancelled, record_exception
from obskit.pipeline import _names as n
from obskit.pipeline._age import age_histogram, record_age
from obskit.pipeline._journey import (
    current_journey,
    is_sampled,
    unsampled_context,
)
from obskit.pipeline._recent import RecentErrors

__all__ = ["RERAISE", "Processor", "Record", "Stats", "Step"]

T = TypeVar("T")
#: What `Step.failed` returns when the error policy says to re-raise.
RERAISE: Any = object()
_perf = time.perf_counter

# Bound hot handles per processor and outcome (obskit._domain.operation): ~0.2 us a record.
_DURATION = hot(n.CATALOGUE, n.M_DURATION)


def label(value: object) -> str:
    """A pipeline or processor name as a bounded string."""
    return clean_text(value, 256) if isinstance(value, str) else safe_repr(value, 256)


class Record(Generic[T]):
    """A value on its way through a pipeline, with its journey's trace context.

    `context` is the journey's trace context: for a record whose journey is not sampled
    (the usual case) a non-recording one with the "not sampled" flag, so the record is
    counted in metrics but costs no span, and spans opened inside its steps are not
    sampled either. None means no journey at all (obskit off, or built by hand).
    Processors accept records and plain values alike and hand back records when given
    records.
    `event_time` (epoch seconds) feeds `pipeline.record.age` at each processor;
    outputs inherit it.

    Examples:
        >>> from obskit.pipeline import Record
        >>> r = Record("GET /", None)
        >>> r.value, r.sampled
        ('GET /', False)
    """

    __slots__ = ("context", "event_time", "value")

    def __init__(
        self, value: T, context: Context | None = None, event_time: float | None = None
    ) -> None:
        self.value = value
        self.context = context
        self.event_time = event_time

    @property
    def sampled(self) -> bool:
        """Whether this record's journey is traced."""
        return is_sampled(self.context)

    def carrier(self) -> dict[str, str]:
        """The journey's context as W3C headers (to send the record to another process).

        An unsampled journey sends its "not sampled" flag, so the next process keeps it
        unsampled.

        Examples:
            >>> Record("x").carrier()
            {}
        """
        return {} if self.context is None else propagation.inject({}, context=self.context)

    @classmethod
    def from_carrier(cls, value: T, carrier: Any) -> Record[T]:
        """A record continuing the journey found in `carrier` (a new unsampled one when none).

        Examples:
            >>> Record.from_carrier("x", {"traceparent": "junk"}).sampled
            False
        """
        context = propagation.extract(carrier)
        valid = trace_api.get_current_span(context).get_span_context().is_valid
        return cls(value, context if valid else unsampled_context())

    def __repr__(self) -> str:
        return f"Record({safe_repr(self.value, 80)}, sampled={self.sampled})"


class Stats:
    """Running totals of one processor, exact under threads (a lock per update).

    The record counters are observable: they read these totals at collection time, so a
    step costs one locked update instead of three SDK `add` calls (about 4 us each).
    """

    __slots__ = ("_lock", "dropped", "errors", "errors_by_type", "records_in", "records_out",
                 "seconds")  # fmt: skip

    def __init__(self) -> None:
        # Re-entrant: a step run by a finalizer or signal handler while this thread is
        # inside an update must not wait for it. Each update is a run of `+=` on ints and
        # floats, which nothing on this thread can interrupt half-way (no call between
        # the read and the write): no count is lost (docs/architecture.md).
        self._lock = threading.RLock()
        self.records_in = self.records_out = self.dropped = self.errors = 0
        self.errors_by_type: dict[str, int] = {}
        self.seconds = 0.0

    def add(self, n_in: int, n_out: int, dropped: int, seconds: float) -> None:
        with self._lock:
            self.records_in += n_in
            self.records_out += n_out
            self.dropped += dropped
            self.seconds += seconds

    def add_errors(self, count: int, kind: str, seconds: float) -> None:
        with self._lock:
            self.records_in += count
            self.errors += count
            if kind in self.errors_by_type:
                self.errors_by_type[kind] += count
            else:
                self.errors_by_type[kind] = count
            self.seconds += seconds

    def as_dict(self) -> dict[str, float]:
        """The totals: in, out, dropped, errors, seconds."""
        with self._lock:
            return {"in": self.records_in, "out": self.records_out, "dropped": self.dropped,
                    "errors": self.errors, "seconds": self.seconds}  # fmt: skip


class Processor:
    """One named processor of a pipeline: its attribute dicts, span recipe and totals."""

    def __init__(self, pipeline: str, name: str, *, scope: str) -> None:
        self.pipeline = label(pipeline)
        self.name = label(name)
        self.attrs: dict[str, Any] = {n.PIPELINE: self.pipeline, n.PROCESSOR: self.name}
        self.by_outcome = {o: {**self.attrs, n.OUTCOME: o} for o in n.OUTCOMES}
        self.durations = Outcomes(_DURATION, None, limit=len(n.OUTCOMES) + 257)
        for outcome, attributes in self.by_outcome.items():
            self.durations.get(outcome, attributes)  # histograms are sparse: bind up front
        self.recipe = SpanRecipe(n.SPAN_PROCESS, self.attrs, scope=scope)
        self.stats = Stats()
        self._errors: dict[str, dict[str, Any]] = {}
        self.recent = RecentErrors(self.name)
        self.age = age_histogram(self.attrs)
        _processors.add(self)

    def error_attrs(self, kind: str) -> dict[str, Any]:
        """Histogram attributes for a failed step with `error.type` = `kind`."""
        found = self._errors.get(kind)
        if found is None:
            if len(self._errors) > 256:  # exception classes are bounded; be safe anyway
                self._errors.clear()
            found = self._errors[kind] = {**self.by_outcome[n.ERROR], ERROR_TYPE: kind}
        return found

    def count(
        self,
        n_in: int,
        n_out: int,
        dropped: int,
        seconds: float | None,
        outcome: str,
        span: Any = None,
    ) -> None:
        """Record a finished step that did not raise (`seconds` None: not timed).

        `span`, the step's span when it was traced, becomes the duration's exemplar.
        """
        if seconds is not None:
            self.durations.found[outcome].record(seconds, span)
        self.stats.add(n_in, n_out, dropped, seconds or 0.0)

    def count_error(self, n_in: int, seconds: float, exc: BaseException, span: Any = None) -> None:
        """Record a step that raised: every input counts as an error."""
        kind = error_type(exc)
        self.durations.get((n.ERROR, kind), self.error_attrs(kind)).record(seconds, span)
        self.stats.add_errors(n_in, kind, seconds)
        self.recent.remember(kind, exc)

    def start_span(self, parent: Context | None, links: list[Link] | None = None) -> Any:
        """A recording span for a sampled step, or None."""
        tracer = self.recipe.tracer()
        if tracer is None:
            return None
        try:
            span = self.recipe.start(tracer, None, parent, links=links)
        except Exception:
            log_once("pipeline-span", "starting a pipeline span failed", exc_info=True)
            return None
        if not span.is_recording():
            span.end()
            return None
        return span


_processors: weakref.WeakSet[Processor] = weakref.WeakSet()


def _observe_totals(field: str) -> Callable[[CallbackOptions], list[Observation]]:
    def observe(options: CallbackOptions) -> list[Observation]:
        # Two live processors may share names (a pipeline defined twice): sum them.
        totals: dict[tuple[str, str], list[Any]] = {}
        for proc in list(_processors):
            with proc.stats._lock:
                value = getattr(proc.stats, field)
            slot = totals.setdefault((proc.pipeline, proc.name), [0, proc.attrs])
            slot[0] += value
        return [Observation(total, attrs) for total, attrs in totals.values()]

    return observe


def _observe_errors(options: CallbackOptions) -> list[Observation]:
    totals: dict[tuple[str, str, str], list[Any]] = {}
    for proc in list(_processors):
        with proc.stats._lock:
            by_type = list(proc.stats.errors_by_type.items())
        for kind, count in by_type:
            slot = totals.setdefault((proc.pipeline, proc.name, kind),
                                     [0, {**proc.attrs, ERROR_TYPE: kind}])  # fmt: skip
            slot[0] += count
    return [Observation(total, attrs) for total, attrs in totals.values()]


n.CATALOGUE.instrument(n.M_IN).add_callback(_observe_totals("records_in"))
n.CATALOGUE.instrument(n.M_OUT).add_callback(_observe_totals("records_out"))
n.CATALOGUE.instrument(n.M_DROPPED).add_callback(_observe_totals("dropped"))
n.CATALOGUE.instrument(n.M_ERRORS).add_callback(_observe_errors)


def end_span(span: Any, outcome: str, extra: Mapping[str, Any] | None = None,
             exc: BaseException | None = None) -> None:  # fmt: skip
    """Set the outcome on a step's span and end it (never raises)."""
    try:
        span.set_attribute(n.OUTCOME, outcome)
        if extra:
            span.set_attributes(extra)
        if exc is not None:
            record_exception(span, exc)
        span.end()
    except Exception:
        log_once("pipeline-span-end", "ending a pipeline span failed", exc_info=True)


def end_interrupted(span: Any, exc: BaseException) -> None:
    """End a step's span left by a BaseException: `cancelled` (not an error) or `error`."""
    if is_cancelled(exc):
        end_span(span, n.CANCELLED, None, exc)
    else:
        end_span(span, n.ERROR)


class Step:
    """What a processor call does around the user's function (shared by sync and async)."""

    __slots__ = ("dead_letter", "fan_out", "on_error", "predicate", "proc", "sink")

    def __init__(self, proc: Processor, *, fan_out: bool, sink: bool, on_error: str,
                 dead_letter: Callable[[Any, BaseException], Any] | None,
                 predicate: bool = False) -> None:  # fmt: skip
        self.proc = proc
        self.fan_out = fan_out
        self.sink = sink
        self.predicate = predicate
        self.on_error = on_error
        self.dead_letter = dead_letter

    def done(self, result: Any, started: float, span: Any, context: Context | None,
             wrap: Any) -> Any:  # fmt: skip
        """Count the outcome of a call that returned `result`; what the caller gets back."""
        elapsed = _perf() - started
        proc = self.proc
        if self.fan_out:
            try:
                outputs = [] if result is None else list(result)
            except Exception as exc:  # a generator of outputs failing part-way
                out = self.failed(exc, None, started, span)
                if out is RERAISE:
                    raise
                return out
            emitted = len(outputs)
            outcome = n.EMIT if emitted else n.DROP
            proc.count(1, emitted, 0 if emitted else 1, elapsed, outcome, span)
        elif self.predicate:
            result = bool(result)
            outcome = n.EMIT if result else n.DROP
            proc.count(1, int(result), int(not result), elapsed, outcome, span)
        elif result is None and not self.sink:
            outcome = n.DROP
            proc.count(1, 0, 1, elapsed, outcome, span)
        else:
            outcome = n.EMIT
            proc.count(1, 1, 0, elapsed, outcome, span)
        if span is not None:
            end_span(span, outcome, {n.OUTPUT_COUNT: emitted} if self.fan_out else None)
            context = trace_api.set_span_in_context(span, context)
        if not wrap or self.predicate:
            return outputs if self.fan_out else result
        event_time = wrap.event_time  # `wrap` is the input Record (see `begin`)
        if self.fan_out:
            return [Record(output, context, event_time) for output in outputs]
        return None if result is None else Record(result, context, event_time)

    def failed(self, exc: Exception, value: Any, started: float, span: Any, count: int = 1) -> Any:
        """Count a call that raised and apply the error policy.

        Returns `RERAISE` for the `raise` policy (the caller re-raises with a bare `raise`,
        keeping the traceback), else what the call returns instead of its output.
        """
        self.proc.count_error(count, _perf() - started, exc, span)
        if span is not None:
            end_span(span, n.ERROR, None, exc)
        if self.on_error == n.RAISE:
            return RERAISE
        if self.on_error == n.DEAD_LETTER and self.dead_letter is not None:
            self.dead_letter(value, exc)
        if self.predicate:
            return False
        return [] if self.fan_out else None

    def begin(self, item: Any) -> tuple[Any, Context | None, Any, Any]:
        """(value, context, wrap, span) for an incoming record or plain value.

        `context` is what the call makes current when `span` is None (an unsampled
        journey); a plain value inside `carry()` joins the carried journey, already current.
        `wrap` is the incoming `Record` (truthy: outputs are wrapped too, with its event
        time) or False for a plain value. A record's age is recorded here, on arrival.
        """
        if type(item) is Record:
            context = item.context
            if item.event_time is not None:
                record_age(self.proc.age, item.event_time)
            if context is None or not is_sampled(context):
                return item.value, context, item, None
            return item.value, context, item, self.proc.start_span(context)
        journey = current_journey()
        if journey is None or not is_sampled(journey):
            return item, None, False, None
        return item, journey, False, self.proc.start_span(journey)


def reset() -> None:
    """Stop reporting every processor made so far (test isolation)."""
    _processors.clear()
