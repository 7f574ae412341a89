"""Record age (`pipeline.record.age`): how old a record is when a processor takes it.

A record's event time is what the source was given (`event_time=` extractor, or
`Record(..., event_time=...)`), else its ingestion time at the source. Outputs inherit
their input's event time (a batch's outputs the oldest input's), so each processor along
the way reports how far behind the input it runs, like Kafka Streams' record-e2e-latency.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterable
from typing import Any

from obskit._base.log import log_once
from obskit._metrics.hot import BoundHistogram, hot_histogram
from obskit.pipeline import _names as n

__all__ = ["EventTime", "age_histogram", "event_seconds", "oldest", "record_age"]

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


def record_age(bound: BoundHistogram, event_time: float) -> None:
    """Record one record's age into a processor's bound histogram."""
    age = _now() - event_time
    bound.record(age if age > 0.0 else 0.0)  # a clock ahead of ours is not negative age


def oldest(bound: BoundHistogram, records: Iterable[Any]) -> float | None:
    """Record the age of each record of a batch; the oldest event time among them."""
    found: float | None = None
    for item in records:
        event_time = getattr(item, "event_time", None)
        if event_time is not None:
            record_age(bound, event_time)
            if found is None or event_time < found:
                found = event_time
    return found
