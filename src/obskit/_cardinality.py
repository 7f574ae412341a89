"""The per-metric cardinality limit and the count of measurements that overflowed it.

Each metric keeps at most `limit` attribute sets (series; default 2,000, the SDK's own
default). Measurements with a new attribute set beyond that go to one extra series with
the single attribute `otel.metric.overflow=true`, so memory and scrape size stay bounded
whatever values user code puts in attributes. `configure(cardinality_limit=...)` /
`OBSKIT_CARDINALITY_LIMIT` set the limit for obskit's meter provider (through a view on
every instrument) and for hot instruments; `obskit.metrics.overflowed` counts the
measurements that went to an overflow series, by metric name, so the loss is visible.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics.view import Aggregation, DefaultAggregation, View

__all__ = ["DEFAULT_LIMIT", "OVERFLOW_ATTRIBUTE", "count_overflow", "observe", "view"]

#: Attribute sets per metric before measurements go to the overflow series.
DEFAULT_LIMIT = 2000
#: The attribute of the overflow series (OpenTelemetry's name for it).
OVERFLOW_ATTRIBUTE = "otel.metric.overflow"

_overflowed: dict[str, int] = {}
# Re-entrant: it is taken under a binding table's lock, where a finalizer or signal
# handler may bind (and overflow) too. The update is one `+=` on an int item, which
# nothing on this thread can interrupt (docs/architecture.md, "Locks and re-entry").
_lock = threading.RLock()
_MAX_METRICS = 1024  # metric names come from code; bound the table all the same


def count_overflow(metric_name: str, count: int = 1) -> None:
    """Count `count` measurements of `metric_name` that went to its overflow series."""
    with _lock:
        if metric_name in _overflowed:
            _overflowed[metric_name] += count
        elif len(_overflowed) < _MAX_METRICS:
            _overflowed[metric_name] = count


def observe(metric_name_key: str) -> Callable[[CallbackOptions], list[Observation]]:
    """The callback of the self-metric: one cumulative count per metric that overflowed."""

    def callback(options: CallbackOptions) -> list[Observation]:
        with _lock:
            totals = list(_overflowed.items())
        return [Observation(count, {metric_name_key: name}) for name, count in totals]

    return callback


_DEFAULT = DefaultAggregation()


class _CountingAggregation:
    """Wraps the overflow series' aggregation: counts each measurement, then aggregates."""

    __slots__ = ("_inner", "_name")

    def __init__(self, inner: Any, name: str) -> None:
        self._inner = inner
        self._name = name

    def aggregate(self, measurement: Any, *args: Any, **kwargs: Any) -> None:
        count_overflow(self._name)
        self._inner.aggregate(measurement, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _OverflowCounting(Aggregation):
    """The default aggregation per instrument kind; the overflow series' one is counted.

    Not a DefaultAggregation subclass: for those the SDK uses the reader's aggregation
    instead of the view's, and this one would never be asked.

    The SDK creates the overflow series' aggregation with exactly the attributes
    ``{"otel.metric.overflow": True}``; every later measurement of a new attribute set
    lands in it (research: SDK 1.45 `_ViewInstrumentMatch`).
    """

    def _create_aggregation(
        self, instrument: Any, attributes: Any, *args: Any, **kwargs: Any
    ) -> Any:
        aggregation = _DEFAULT._create_aggregation(instrument, attributes, *args, **kwargs)
        if attributes and len(attributes) == 1 and attributes.get(OVERFLOW_ATTRIBUTE) is True:
            return _CountingAggregation(aggregation, getattr(instrument, "name", "?"))
        return aggregation


def view(limit: int) -> View:
    """A view on every instrument applying `limit` and counting overflowing measurements.

    Examples:
        >>> view(500)._aggregation_cardinality_limit
        500
    """
    return View(
        instrument_name="*", aggregation=_OverflowCounting(), aggregation_cardinality_limit=limit
    )
