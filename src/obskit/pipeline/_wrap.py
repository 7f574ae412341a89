"""What a decorated processor runs per call: the step, its span and the record context.

Split from obskit.pipeline (the public module): `_wrap` for one value at a time,
`_wrap_batch` for batch processors.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from time import perf_counter as _perf
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context

from obskit.pipeline._age import oldest
from obskit.pipeline._core import (
    RERAISE,
    Record,
    Step,
    end_interrupted,
    end_span,
)
from obskit.pipeline._journey import unsampled_context
from obskit.pipeline._names import (
    BATCH_COUNT,
    DROP,
    EMIT,
)
from obskit.pipeline._sources import batch_links, batch_span

__all__ = ["_wrap", "_wrap_batch"]


def _attach(span: Any, context: Context | None) -> Any:
    """Make the step's span current, or the unsampled journey's context; None: nothing."""
    if span is not None:
        return context_api.attach(trace_api.set_span_in_context(span, context))
    return None if context is None else context_api.attach(context)


def _wrap(fn: Callable[..., Any], step: Step, batch: bool) -> Callable[..., Any]:
    if batch:
        return _wrap_batch(fn, step)
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args: Any) -> Any:
            value, context, wrap, span = step.begin(args[-1])
            token = _attach(span, context)
            started = _perf()
            try:
                result = await fn(*args[:-1], value)
            except Exception as exc:
                out = step.failed(exc, value, started, span)
                if out is RERAISE:
                    raise
                return out
            except BaseException as exc:
                if span is not None:
                    end_interrupted(span, exc)
                raise
            finally:
                if token is not None:
                    context_api.detach(token)
            return step.done(result, started, span, context, wrap)

        return run_async

    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        value, context, wrap, span = step.begin(args[-1])
        token = _attach(span, context)
        started = _perf()
        try:
            result = fn(*args[:-1], value)
        except Exception as exc:
            out = step.failed(exc, value, started, span)
            if out is RERAISE:
                raise
            return out
        except BaseException as exc:
            if span is not None:
                end_interrupted(span, exc)
            raise
        finally:
            if token is not None:
                context_api.detach(token)
        return step.done(result, started, span, context, wrap)

    return run


def _wrap_batch(fn: Callable[..., Any], step: Step) -> Callable[..., Any]:
    proc = step.proc

    @functools.wraps(fn)
    def run_batch(*args: Any) -> Any:
        batch = args[-1]
        if type(batch) is not list and type(batch) is not tuple:
            batch = list(batch)  # a generator of records is read once, for both passes
        values, links, wrap = batch_links(batch)
        event_time = oldest(proc.age, batch) if wrap else None
        span = batch_span(proc, links)
        context = None
        if span is not None:
            span.set_attribute(BATCH_COUNT, len(values))
        elif wrap and proc.recipe.tracer() is not None:
            context = unsampled_context()  # no sampled record: the outputs go on unsampled
        token = _attach(span, context)
        started = _perf()
        try:
            result = fn(*args[:-1], values)
        except Exception as exc:
            out = step.failed(exc, values, started, span, len(values))
            if out is RERAISE:
                raise
            return out
        except BaseException as exc:
            if span is not None:
                end_interrupted(span, exc)
            raise
        finally:
            if token is not None:
                context_api.detach(token)
        elapsed = _perf() - started
        outputs = [] if result is None or step.sink else list(result)
        taken = len(values)
        emitted = taken if step.sink else len(outputs)
        dropped = max(taken - emitted, 0)
        proc.count(taken, emitted, dropped, elapsed, EMIT if emitted else DROP, span)
        if span is not None:
            end_span(span, EMIT if emitted else DROP)
            context = trace_api.set_span_in_context(span, Context())
        if step.sink or not wrap:
            return result if step.sink else outputs
        return [Record(output, context, event_time) for output in outputs]

    return run_batch
