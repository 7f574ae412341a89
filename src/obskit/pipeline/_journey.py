"""A record's journey context: how it is decided, made current, and carried beside values.

One sampling rule (docs/pipeline.md, "Journeys and sampling"): a pipeline with a ratio
decides its journeys alone -- the global sampler is not asked again for a journey's first
span, so `configure(sample_ratio=0)` + `Pipeline(sample_ratio=1.0)` traces every record;
a pipeline with `sample_ratio=None` leaves each journey to the global sampler.

A record whose journey is not sampled still carries a context: a non-recording span with
its own trace id and the "not sampled" flag. Each step makes it current while the user's
function runs, so spans the user opens inside the step (obskit's or raw OpenTelemetry's)
follow their parent and are not sampled either, instead of each starting a root trace.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.trace import Link

from obskit._base.context import SPAN_KEY, detach_span, set_context
from obskit._base.log import log_once

__all__ = [
    "carry",
    "current_journey",
    "is_sampled",
    "start_batch_span",
    "start_journey",
    "unsampled_context",
]

_EMPTY = Context()
_NOT_SAMPLED = trace_api.TraceFlags(trace_api.TraceFlags.DEFAULT)
_NO_STATE = trace_api.DEFAULT_TRACE_STATE
_getrandbits = random.getrandbits
_SpanContext = trace_api.SpanContext
_NonRecordingSpan = trace_api.NonRecordingSpan
_set_span = trace_api.set_span_in_context
_get_span = trace_api.get_current_span


# Building a Context directly skips the API's copy-and-set: ~0.6 us per record.
_SPAN_KEY = SPAN_KEY


class _UnsampledSpan(trace_api.NonRecordingSpan):
    """The span of an unsampled journey: valid, "not sampled", ids drawn when first asked.

    Most unsampled records never show their ids to anyone (no span is opened inside their
    steps, nothing is injected), so drawing them at the source (two `getrandbits` and a
    SpanContext, ~0.4 us per record) is deferred to the first `get_span_context()`.
    Concurrent first calls agree: the context is stored with `dict.setdefault`.
    """

    def __init__(self) -> None:  # no SpanContext yet: see get_span_context
        pass

    def get_span_context(self) -> trace_api.SpanContext:
        found: Any = self.__dict__.get("_context")
        if found is None:
            # tuple.__new__ skips SpanContext's checks: the ids are valid by construction.
            # Field order: trace id, span id, is_remote, flags, trace state, is_valid.
            ids = (_getrandbits(128) or 1, _getrandbits(64) or 1, False, _NOT_SAMPLED,
                   _NO_STATE, True)  # fmt: skip
            found = self.__dict__.setdefault("_context", tuple.__new__(_SpanContext, ids))
        return found  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"NonRecordingSpan({self.get_span_context()!r})"


def unsampled_context() -> Context:
    """A fresh context whose current span is valid and not sampled (ids drawn lazily)."""
    return Context({_SPAN_KEY: _UnsampledSpan()})


def is_sampled(context: Context | None) -> bool:
    """Whether `context` carries a valid, sampled span context."""
    span: Any = None if context is None else context.get(_SPAN_KEY)
    if span is None or type(span) is _UnsampledSpan:
        return False
    found = span.get_span_context()
    return bool(found[5] and found[3] & 1)  # tuple fields: is_valid, trace_flags


def start_journey(recipe: Any, ratio: float | None, draw: float) -> tuple[Context | None, Any]:
    """(context, span) for a record entering the pipeline.

    `ratio` None: the global sampler decides the journey's first span. Otherwise the
    journey is sampled when `draw < ratio`, whatever the global ratio. The span (None when
    not recording) is still open: the caller sets its outcome and ends it. The context is
    None only when obskit is off (no tracer provider).
    """
    tracer = recipe.tracer()
    if tracer is None:
        return None, None
    if ratio is not None and draw >= ratio:
        return unsampled_context(), None
    ambient = _get_span().get_span_context()
    links = [Link(ambient)] if ambient.is_valid else None
    try:
        if ratio is None:
            span = recipe.start(tracer, None, _EMPTY, links=links)  # each journey: own trace
        else:
            span = recipe.start_decided_root(tracer, _EMPTY, links)
    except Exception:
        log_once("pipeline-journey", "starting a pipeline journey failed", exc_info=True)
        return unsampled_context(), None
    if span.is_recording():
        return _set_span(span, _EMPTY), span
    span.end()  # a NonRecordingSpan: ending it does nothing, but keep the contract
    context = _set_span(span, _EMPTY)
    return (context if span.get_span_context().is_valid else unsampled_context()), None


def start_batch_span(recipe: Any, links: list[Link]) -> Any:
    """The span of a batch holding sampled records: recorded whatever the global ratio."""
    tracer = recipe.tracer()
    if tracer is None:
        return None
    try:
        span = recipe.start_decided_root(tracer, _EMPTY, links)
    except Exception:
        log_once("pipeline-span", "starting a pipeline span failed", exc_info=True)
        return None
    if not span.is_recording():
        span.end()
        return None
    return span


# --- carrying a record's context beside plain values (DAG libraries) ---------------------
# Only a *sampled* journey is kept here: a step asks "is a traced journey carried?" with one
# ContextVar read, and the sampling decision is read once per record (in `carry`), not
# once per step. An unsampled journey is made current all the same (its spans follow it).
_journey: contextvars.ContextVar[Context | None] = contextvars.ContextVar(
    "obskit_pipeline_journey", default=None
)

#: The context of the sampled journey carried on this thread/task, or None.
current_journey: Callable[[], Context | None] = _journey.get


class carry:
    """Make `record`'s journey current for a block in which a library handles its value.

    Inside, decorated processors called with plain values join the record's journey
    (their spans are children of it when it is sampled) and every span opened by any
    code in the block follows the journey's sampling decision. The context is made
    current through obskit's one attach path (`obskit._base.context.set_context`).
    """

    __slots__ = ("_context", "_journey_token", "_token")

    def __init__(self, context: Context | None) -> None:
        self._context = context
        self._token: Any = None
        self._journey_token: Any = None

    def __enter__(self) -> Context | None:
        context = self._context
        if context is not None:
            if is_sampled(context):
                self._journey_token = _journey.set(context)
            self._token = set_context(context)
        return context

    def __exit__(self, *exc: object) -> None:
        token = self._token
        if token is not None:
            self._token = None
            detach_span(token)
            journey_token = self._journey_token
            if journey_token is not None:
                self._journey_token = None
                _journey.reset(journey_token)
