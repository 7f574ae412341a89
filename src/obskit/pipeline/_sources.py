"""Sources: where records enter a pipeline, and where each journey is decided, once.

A source wraps each value in a `Record` with its event time and its journey's context
(`obskit.pipeline._journey.start_journey`); a sampled journey's first span is the
source's own `pipeline.process` span, ended at once with outcome `emit`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from obskit._base.log import log_once
from obskit.pipeline import _names as n
from obskit.pipeline._journey import start_journey
from obskit.pipeline._record import EventTime, Record, event_seconds
from obskit.pipeline._registry import Processor

__all__ = ["end_journey_span", "sample_source"]

T = TypeVar("T")


def end_journey_span(span: Any) -> None:
    """End a source's span of a sampled journey: outcome `emit` (never raises)."""
    try:
        span.set_attribute(n.OUTCOME, n.EMIT)
        span.end()
    except Exception:
        log_once("pipeline-span-end", "ending a pipeline span failed", exc_info=True)


def sample_source(
    proc: Processor, ratio: float | None, values: Iterable[T], event_time: EventTime | None = None
) -> Iterator[Record[T]]:
    """Wrap each value in a `Record`, deciding once here whether its journey is traced.

    `ratio` decides alone; None leaves the decision to the global sampler. The record's
    event time is `event_time(value)` when given (and valid), else now (ingestion).
    """
    draw = random.random
    now = time.time
    recipe = proc.recipe
    for value in values:
        stamp = now() if event_time is None else _event_time(event_time, value)
        # Each journey is its own trace (linked to the span current here, if any); while
        # nothing can trace (no tracer), none: the record carries no context.
        context, span = start_journey(recipe, ratio, 0.0 if ratio is None else draw())
        if span is not None:
            end_journey_span(span)
        proc.count(1, 1, 0, None, n.EMIT)  # a source is not timed: the caller's loop is
        yield Record(value, context, stamp)


def _event_time(extract: EventTime, value: Any) -> float:
    """`extract(value)` as epoch seconds; now when it raises or returns something else."""
    try:
        found = event_seconds(extract(value))
    except Exception:
        log_once("pipeline-event-time-raised", "the event_time extractor raised; record age "
                 "falls back to ingestion time", exc_info=True)  # fmt: skip
        found = None
    return time.time() if found is None else found
