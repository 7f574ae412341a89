"""A record: a value on its way through a pipeline, its journey's context and its event time.

A record's event time is what the source was given (`event_time=` extractor, or
`Record(..., event_time=...)`), else its ingestion time at the source. Outputs inherit
their input's event time (a batch's outputs the oldest input's), so each processor along
the way reports how far behind the input it runs (`pipeline.record.age`), like Kafka
Streams' record-e2e-latency.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from opentelemetry import trace as trace_api
from opentelemetry.context import Context

from obskit import propagation
from obskit._base.context import SPAN_KEY
from obskit._base.log import log_once
from obskit._metrics.hot import BoundHistogram, hot_histogram
from obskit._safety.clean import safe_repr
from obskit.pipeline import _names as n
from obskit.pipeline._journey import is_sampled, unsampled_context

__all__ = ["EventTime", "Record", "age_histogram", "event_seconds", "oldest", "record_age"]

T = TypeVar("T")


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


#: Extracts a value's event time: seconds since the epoch (float) or an aware datetime.
EventTime = Callable[[Any], Any]

# A hot histogram, bound once per processor: an SDK histogram `record` cost 6-10 us per
# step here (it doubled the cost of an unsampled step), a bound hot `record` about 0.3 us.
_SPEC = n.CATALOGUE.instruments_by_name[n.M_RECORD_AGE]
_AGE = hot_histogram(_SPEC.name, _SPEC.unit, _SPEC.description, buckets=_SPEC.buckets,
                     scope=n.CATALOGUE.scope)  # fmt: skip
_now = time.time


def age_histogram(attrs: dict[str, Any]) -> BoundHistogram:
    """The record-age histogram bound to one processor's attributes."""
    return _AGE.bind(attrs)


def event_seconds(value: object) -> float | None:
    """An event time as epoch seconds (floats, ints and aware datetimes), else None.

    Examples:
        >>> event_seconds(1.5), event_seconds("soon")
        (1.5, None)
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.timestamp()
    log_once("pipeline-event-time", "an event time must be epoch seconds or an aware "
             "datetime; got %s (record age falls back to ingestion time)", type(value).__name__)  # fmt: skip
    return None


def record_age(bound: BoundHistogram, event_time: float, span: Any = None) -> None:
    """Record one record's age into a processor's bound histogram.

    `span` is the exemplar (a sampled journey's span); None, the usual case, reads no
    context at all.
    """
    age = _now() - event_time
    bound.record(age if age > 0.0 else 0.0, span)  # a clock ahead of ours is not negative age


def oldest(bound: BoundHistogram, records: Iterable[Any]) -> float | None:
    """Record the age of each record of a batch; the oldest event time among them."""
    found: float | None = None
    for item in records:
        event_time = getattr(item, "event_time", None)
        if event_time is not None:
            context = getattr(item, "context", None)
            record_age(bound, event_time, None if context is None else context.get(SPAN_KEY))
            if found is None or event_time < found:
                found = event_time
    return found
