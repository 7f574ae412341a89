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

from obskit._log import log_once
from obskit.pipeline import _names as n

__all__ = ["EventTime", "event_seconds", "oldest", "record_age"]

#: Extracts a value's event time: seconds since the epoch (float) or an aware datetime.
EventTime = Callable[[Any], Any]

_AGE = n.CATALOGUE.instrument(n.M_RECORD_AGE)
_now = time.time


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


def record_age(attrs: dict[str, Any], event_time: float) -> None:
    """Record one record's age at the processor whose attributes are `attrs`."""
    age = _now() - event_time
    _AGE.record(age if age > 0.0 else 0.0, attrs)  # a clock ahead of ours is not negative age


def oldest(attrs: dict[str, Any], records: Iterable[Any]) -> float | None:
    """Record the age of each record of a batch; the oldest event time among them."""
    found: float | None = None
    for item in records:
        event_time = getattr(item, "event_time", None)
        if event_time is not None:
            record_age(attrs, event_time)
            if found is None or event_time < found:
                found = event_time
    return found
