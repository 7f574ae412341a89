"""Where records enter a pipeline (sources: the journey decided once) and meet (batches).

Split from obskit.pipeline._core.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from opentelemetry import trace as trace_api
from opentelemetry.trace import Link

from obskit._base.log import log_once
from obskit.pipeline import _names as n
from obskit.pipeline._age import EventTime, event_seconds
from obskit.pipeline._core import Processor, Record, end_span
from obskit.pipeline._journey import (
    current_journey,
    is_sampled,
    start_batch_span,
    start_journey,
)

__all__ = ["batch_links", "batch_span", "sample_source"]

T = TypeVar("T")


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
            if item.context is not None and len(links) < n.MAX_LINKS:
                parent = trace_api.get_current_span(item.context).get_span_context()
                if parent.is_valid and parent.trace_flags.sampled:
                    links.append(Link(parent))
        else:
            values.append(item)
    if not wrap:
        journey = current_journey()
        if journey is not None and is_sampled(journey):
            links.append(Link(trace_api.get_current_span(journey).get_span_context()))
    return values, links, wrap


def batch_span(proc: Processor, links: list[Link]) -> Any:
    """The recording span of a batch holding a sampled record, or None."""
    return start_batch_span(proc.recipe, links) if links else None


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
        # Each journey is its own trace (linked to the span current here, if any).
        context, span = start_journey(recipe, ratio, 0.0 if ratio is None else draw())
        if span is not None:
            end_span(span, n.EMIT)
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
