"""What a decorated processor runs per call: the step around the user's function.

A `Stage` is one decorated processor's prepared step (its `Processor`, the shape of its
output, its error policy), made once at decoration; `wrap()` / `wrap_batch()` build the
function that runs per call.

Two paths per call, chosen by the record's journey:

* **unsampled** (the usual case, 99% at the default ratio): no `Operation` is made and
  nothing is allocated beyond the output `Record`. The journey's context (if any) is made
  current with `obskit._base.context.set_context`; the step costs two clock reads, one
  bound histogram record, three adds into this thread's `Stats` cell and, for a record
  with an event time, one age record;
* **sampled**: a `Step`, the core `obskit._domain.operation.Operation` for one step, is
  made for the call: its span is started from the processor's recipe as a child of the
  journey, made current through the Operation's one attach path, ended once with the
  outcome (`emit` / `drop` / `error` / `cancelled`, classified by
  `obskit._safety.errors.outcome`), and is the duration's exemplar.

No shared off instance (`obskit._domain.off.shared_off`) is needed, and no off test per
call: a `Step` exists only for a sampled journey, and while nothing can trace (obskit off:
the recipe has no tracer) sources make no journeys, so every call takes the unsampled
path, whose counts still feed `Pipeline.summary()`. A sampled record met while obskit is
off makes a `Step` whose `_open` finds no tracer: no span, its journey made current.

Hot-path rules (measured in benchmarks, see docs/pipeline.md): everything per processor
-- attribute dicts per outcome, bound histograms, the span recipe -- is built at
decoration time.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from time import perf_counter as _perf
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import Link

from obskit._base.context import SPAN_KEY, detach_span, set_context
from obskit._base.log import log_once
from obskit._domain.operation import Operation
from obskit._safety.errors import outcome
from obskit.pipeline import _names as n
from obskit.pipeline._journey import (
    current_journey,
    is_sampled,
    start_batch_span,
    unsampled_context,
)
from obskit.pipeline._record import Record, oldest, record_age
from obskit.pipeline._registry import DROPPED, IN, OUT, SECONDS, Processor

__all__ = ["RERAISE", "Stage", "Step", "batch_links", "wrap", "wrap_batch"]

#: What `Stage.failed` returns when the error policy says to re-raise.
RERAISE: Any = object()

# What a processor's output is (Stage.shape): one value (or None), one that always counts as
# out, a keep/drop decision, an iterable of outputs.
_ONE, _SINK, _PREDICATE, _FAN_OUT = range(4)


class Stage:
    """One decorated processor's prepared step: what every call of it shares."""

    __slots__ = ("dead_letter", "fan_out", "on_error", "predicate", "proc", "shape", "sink")

    def __init__(self, proc: Processor, *, fan_out: bool, sink: bool, on_error: str,
                 dead_letter: Callable[[Any, BaseException], Any] | None,
                 predicate: bool = False) -> None:  # fmt: skip
        self.proc = proc
        self.fan_out = fan_out
        self.sink = sink
        self.predicate = predicate
        self.on_error = on_error
        self.dead_letter = dead_letter
        self.shape = _FAN_OUT if fan_out else _PREDICATE if predicate else _SINK if sink else _ONE

    def done(self, result: Any, elapsed: float, context: Context | None, item: Any,
             span: Any = None) -> Any:  # fmt: skip
        """Count a call that returned `result`; what the caller gets back.

        `item` is the incoming `Record` (outputs are wrapped too, in `context` with its
        event time) or None for a plain value. `span` is a sampled step's span (the
        duration's exemplar); the outcome is returned through `Step`.
        """
        proc = self.proc
        shape = self.shape
        if shape == _FAN_OUT:  # listed first: a generator failing part-way counts as an error
            result = [] if result is None else list(result)
        try:
            cell = proc.stats.local.cell
        except AttributeError:
            cell = proc.stats.new_cell()
        cell[IN] += 1
        cell[SECONDS] += elapsed
        if shape <= _SINK:
            if result is None and shape == _ONE:
                proc.durations.found[n.DROP].record(elapsed, span)
                cell[DROPPED] += 1
                return None
            proc.durations.found[n.EMIT].record(elapsed, span)
            cell[OUT] += 1
            if item is None or result is None:
                return result
            return Record(result, context, item.event_time)
        if shape == _PREDICATE:
            if result:
                proc.durations.found[n.EMIT].record(elapsed, span)
                cell[OUT] += 1
                return True
            proc.durations.found[n.DROP].record(elapsed, span)
            cell[DROPPED] += 1
            return False
        outputs = result
        emitted = len(outputs)
        if emitted:
            proc.durations.found[n.EMIT].record(elapsed, span)
            cell[OUT] += emitted
        else:
            proc.durations.found[n.DROP].record(elapsed, span)
            cell[DROPPED] += 1
        if item is None:
            return outputs
        event_time = item.event_time
        return [Record(output, context, event_time) for output in outputs]

    def failed(self, exc: Exception, value: Any, elapsed: float, span: Any, count: int = 1) -> Any:
        """Count a call that raised and apply the error policy.

        Returns `RERAISE` for the `raise` policy (the caller re-raises with a bare `raise`,
        keeping the traceback), else what the call returns instead of its output.
        """
        kind = outcome(exc)[1] or n.ERROR
        self.proc.count_error(count, elapsed, exc, kind, span)
        if self.on_error == n.RAISE:
            return RERAISE
        if self.on_error == n.DEAD_LETTER and self.dead_letter is not None:
            self.dead_letter(value, exc)
        if self.predicate:
            return False
        return [] if self.fan_out else None


class Step(Operation):
    """One sampled step: the core Operation, its span a child of the record's journey.

    Made only for a sampled journey (the unsampled path makes no Operation at all, so an
    unsampled record allocates nothing here). `journey` is the record's context: the span
    starts as its child and is made current in it (`Operation._attach(journey)`); a span
    the sampler drops is ended at once and the journey is made current instead.
    `outcome` (and a fan-out's `outputs`, its output count) is set on the span as it ends.
    """

    __slots__ = ("_journey_token", "journey", "outcome", "outputs", "stage")

    def __init__(self, stage: Stage, journey: Context | None, links: Any = None,
                 batch: bool = False) -> None:  # fmt: skip
        self.stage = stage
        self.journey = journey
        self.outcome: str | None = None
        self.outputs: int | None = None
        self._journey_token: Any = None
        recipe = stage.proc.recipe
        if batch:  # a batch's span is a root decided by its sampled records, linked to them
            self._open(recipe, traced=False)
            self._span = start_batch_span(recipe, links) if links else None
        else:
            self._open(recipe, None, context=journey, links=links)
        span = self._span
        if span is not None and not span.is_recording():
            span.end()  # a NonRecordingSpan: ending it does nothing, but keep the contract
            self._span = None

    def enter(self) -> None:
        """Make the span current in the journey (or the journey itself, without a span)."""
        if self._span is not None:
            self._attach(self.journey)
        elif self.journey is not None:
            self._journey_token = set_context(self.journey)

    def leave(self) -> None:
        """Undo `enter` (the span's context, or the journey's)."""
        if self._token is not None:
            self._detach()
        token = self._journey_token
        if token is not None:
            self._journey_token = None
            detach_span(token)

    def returned(self, result: Any, elapsed: float, item: Any) -> Any:
        """Count and end a call that returned `result`; what the caller gets back."""
        stage = self.stage
        span = self._span
        journey = self.journey
        # The outputs' context: the journey, with this step's span in it.
        if span is not None:
            journey = Context({**journey, SPAN_KEY: span} if journey else {SPAN_KEY: span})
        try:
            out = stage.done(result, elapsed, journey, item, span)
        except Exception as exc:  # a fan-out's generator of outputs failing part-way
            failed = self.raised(exc, None, elapsed)
            if failed is RERAISE:
                raise
            return failed
        shape = stage.shape
        if shape == _FAN_OUT:
            emitted = len(out)
            self.outcome = n.EMIT if emitted else n.DROP
            self.outputs = emitted
        elif shape == _PREDICATE:
            self.outcome = n.EMIT if out else n.DROP
        else:
            self.outcome = n.DROP if result is None and shape == _ONE else n.EMIT
        self._closed = True  # `_close(None)` without its extra call: `_end` never raises
        self._end(None)
        return out

    def raised(self, exc: Exception, value: Any, elapsed: float, count: int = 1) -> Any:
        """Count and end a call that raised; the error policy's answer (or `RERAISE`)."""
        self.outcome = n.ERROR
        try:
            return self.stage.failed(exc, value, elapsed, self._span, count)
        finally:
            self._close(exc)

    def interrupted(self, exc: BaseException) -> None:
        """End a step left by a BaseException: `cancelled` (not an error) or `error`."""
        if outcome(exc)[0] == n.CANCELLED:
            self.outcome = n.CANCELLED
            self._close(exc)  # a `cancelled` event, status left unset
        else:
            self.outcome = n.ERROR
            self._close(None)

    def _end(self, exc: BaseException | None) -> None:
        # The outcome is set with `set_attribute`, not through `_finish(exc, attributes)`:
        # the span always records here, and obskit's span recorder takes one
        # `set_attribute` ~0.3 us faster than `is_recording()` + `set_attributes()` of one.
        span = self._span
        if span is not None and self.outcome is not None:
            try:
                span.set_attribute(n.OUTCOME, self.outcome)
                if self.outputs is not None:
                    span.set_attribute(n.OUTPUT_COUNT, self.outputs)
            except Exception:
                log_once("pipeline-span-end", "ending a pipeline span failed", exc_info=True)
        self._finish(exc)


def _sampled_call(stage: Stage, fn: Callable[..., Any], args: tuple[Any, ...], value: Any,
                  journey: Context | None, item: Any) -> Any:  # fmt: skip
    step = Step(stage, journey)
    step.enter()
    started = step._started  # the Operation's clock
    try:
        result = fn(value) if len(args) == 1 else fn(*args[:-1], value)
    except Exception as exc:
        try:  # the error policy (a dead-letter handler) runs with the step's span current
            out = step.raised(exc, value, _perf() - started)
        finally:
            step.leave()
        if out is RERAISE:
            raise
        return out
    except BaseException as exc:
        step.interrupted(exc)
        step.leave()
        raise
    elapsed = _perf() - started
    step.leave()
    return step.returned(result, elapsed, item)


async def _sampled_call_async(stage: Stage, fn: Callable[..., Any], args: tuple[Any, ...],
                              value: Any, journey: Context | None, item: Any) -> Any:  # fmt: skip
    step = Step(stage, journey)
    step.enter()
    started = step._started  # the Operation's clock
    try:
        result = await fn(*args[:-1], value)
    except Exception as exc:
        try:  # the error policy (a dead-letter handler) runs with the step's span current
            out = step.raised(exc, value, _perf() - started)
        finally:
            step.leave()
        if out is RERAISE:
            raise
        return out
    except BaseException as exc:
        step.interrupted(exc)
        step.leave()
        raise
    elapsed = _perf() - started
    step.leave()
    return step.returned(result, elapsed, item)


def wrap(fn: Callable[..., Any], stage: Stage, batch: bool) -> Callable[..., Any]:
    """The function a decorated processor runs per call (the record is the last argument)."""
    if batch:
        return wrap_batch(fn, stage)
    proc = stage.proc
    age = proc.age
    done = stage.done
    failed = stage.failed
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any) -> Any:
            item = args[-1]
            token = None
            if type(item) is Record:
                context = item.context
                value = item.value
                if context is not None and is_sampled(context):
                    if item.event_time is not None:
                        record_age(age, item.event_time, context.get(SPAN_KEY))
                    return await _sampled_call_async(stage, fn, args, value, context, item)
                if item.event_time is not None:
                    record_age(age, item.event_time)
                if context is not None:
                    token = set_context(context)
            else:
                journey = current_journey()
                if journey is not None:
                    return await _sampled_call_async(stage, fn, args, item, journey, None)
                value, context, item = item, None, None
            started = _perf()
            try:
                result = await fn(*args[:-1], value)
            except Exception as exc:
                out = failed(exc, value, _perf() - started, None)
                if out is RERAISE:
                    raise
                return out
            finally:
                if token is not None:
                    detach_span(token)
            return _unsampled_done(done, failed, result, _perf() - started, context, item)

        return run_async

    shape = stage.shape
    local = proc.stats.local
    new_cell = proc.stats.new_cell
    record_emit = proc.durations.found[n.EMIT].record
    record_drop = proc.durations.found[n.DROP].record

    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        item = args[-1]
        token = None
        if type(item) is Record:
            context = item.context
            value = item.value
            if context is not None and is_sampled(context):
                if item.event_time is not None:
                    record_age(age, item.event_time, context.get(SPAN_KEY))
                return _sampled_call(stage, fn, args, value, context, item)
            if item.event_time is not None:
                record_age(age, item.event_time)
            if context is not None:
                token = set_context(context)
        else:
            journey = current_journey()
            if journey is not None:  # a sampled journey carried beside the plain value
                return _sampled_call(stage, fn, args, item, journey, None)
            value, context, item = item, None, None
        started = _perf()
        try:
            result = fn(value) if len(args) == 1 else fn(*args[:-1], value)
        except Exception as exc:
            out = failed(exc, value, _perf() - started, None)
            if out is RERAISE:
                raise
            return out
        finally:
            if token is not None:
                detach_span(token)
        elapsed = _perf() - started
        if shape == _FAN_OUT:
            return _unsampled_done(done, failed, result, elapsed, context, item)
        # One output, a sink or a predicate: counted here, without a further call (this is
        # `Stage.done` inlined for the unsampled path).
        try:
            cell = local.cell
        except AttributeError:
            cell = new_cell()
        cell[IN] += 1
        cell[SECONDS] += elapsed
        if (result is None and shape == _ONE) or (shape == _PREDICATE and not result):
            record_drop(elapsed, None)
            cell[DROPPED] += 1
            return False if shape == _PREDICATE else None
        record_emit(elapsed, None)
        cell[OUT] += 1
        if shape == _PREDICATE:
            return True
        if item is None or result is None:
            return result
        return Record(result, context, item.event_time)

    return run


def _unsampled_done(done: Callable[..., Any], failed: Callable[..., Any], result: Any,
                    elapsed: float, context: Context | None, item: Any) -> Any:  # fmt: skip
    try:
        return done(result, elapsed, context, item)
    except Exception as exc:  # a fan-out's generator of outputs failing part-way
        out = failed(exc, None, elapsed, None)
        if out is RERAISE:
            raise
        return out


def batch_links(records: Iterable[Any]) -> tuple[list[Any], list[Link], bool]:
    """Values of a batch, links to (at most 128 of) its sampled records, any records.

    A plain-value batch inside `carry()` links to the carried journey when it is sampled.
    """
    values: list[Any] = []
    links: list[Link] = []
    wrap = False
    for item in records:
        if type(item) is Record:
            wrap = True
            values.append(item.value)
            if len(links) < n.MAX_LINKS and is_sampled(item.context):
                links.append(Link(trace_api.get_current_span(item.context).get_span_context()))
        else:
            values.append(item)
    if not wrap:
        journey = current_journey()
        if journey is not None:
            links.append(Link(trace_api.get_current_span(journey).get_span_context()))
    return values, links, wrap


def wrap_batch(fn: Callable[..., Any], stage: Stage) -> Callable[..., Any]:
    """The function a batch processor runs per call: a `Step` when a record is sampled."""
    proc = stage.proc

    @functools.wraps(fn)
    def run_batch(*args: Any) -> Any:
        batch = args[-1]
        if type(batch) is not list and type(batch) is not tuple:
            batch = list(batch)  # a generator of records is read once, for both passes
        values, links, wrap = batch_links(batch)
        event_time = oldest(proc.age, batch) if wrap else None
        step = Step(stage, None, links, batch=True) if links else None
        span = None if step is None else step._span
        if span is None:
            step = None  # no recording span: the batch goes the unsampled way
        context = None
        if step is not None:
            span.set_attribute(n.BATCH_COUNT, len(values))  # type: ignore[union-attr]
            step.enter()
        elif wrap and proc.recipe.tracer() is not None:
            context = unsampled_context()  # no sampled record: the outputs go on unsampled
        token = None if context is None else set_context(context)
        started = _perf()
        try:
            result = fn(*args[:-1], values)
        except Exception as exc:
            if step is None:
                out = stage.failed(exc, values, _perf() - started, None, len(values))
            else:
                try:
                    out = step.raised(exc, values, _perf() - started, len(values))
                finally:
                    step.leave()
            if out is RERAISE:
                raise
            return out
        except BaseException as exc:
            if step is not None:
                step.interrupted(exc)
                step.leave()
            raise
        finally:
            if token is not None:
                detach_span(token)
        elapsed = _perf() - started
        outputs = [] if result is None or stage.sink else list(result)
        taken = len(values)
        emitted = taken if stage.sink else len(outputs)
        dropped = max(taken - emitted, 0)
        proc.count(taken, emitted, dropped, elapsed, n.EMIT if emitted else n.DROP, span)
        if step is not None:
            step.leave()
            step.outcome = n.EMIT if emitted else n.DROP
            step._close(None)
            context = Context({SPAN_KEY: span})
        if stage.sink or not wrap:
            return result if stage.sink else outputs
        return [Record(output, context, event_time) for output in outputs]

    return run_batch
