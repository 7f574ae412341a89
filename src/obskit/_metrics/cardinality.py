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

from obskit._base.log import log_once

__all__ = [
    "DEFAULT_LIMIT",
    "OVERFLOW_ATTRIBUTE",
    "count_overflow",
    "count_overflows",
    "observe",
    "view",
]

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
    """A reader's aggregation for one instrument kind; the overflow series' one is counted.

    It wraps the reader's own choice (e.g. the base-2 exponential histogram an OTLP
    exporter asks for with OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION), so
    counting overflows never replaces it. The SDK creates the overflow series'
    aggregation with exactly the attributes ``{"otel.metric.overflow": True}``; every
    later measurement of a new attribute set lands in it (SDK 1.45 `_ViewInstrumentMatch`).
    """

    def __init__(self, inner: Aggregation) -> None:
        self.inner = inner

    def _create_aggregation(
        self, instrument: Any, attributes: Any, *args: Any, **kwargs: Any
    ) -> Any:
        aggregation = self.inner._create_aggregation(instrument, attributes, *args, **kwargs)
        if attributes and len(attributes) == 1 and attributes.get(OVERFLOW_ATTRIBUTE) is True:
            return _CountingAggregation(aggregation, getattr(instrument, "name", "?"))
        return aggregation


def count_overflows(reader: Any) -> None:
    """Count the overflow series' measurements under `reader`'s preferred aggregations.

    Call before the reader joins a MeterProvider (which reads the preferences then). A
    reader of an SDK without the mapping is left as it is (overflows go uncounted).

    Examples:
        >>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        >>> reader = InMemoryMetricReader()
        >>> count_overflows(reader)
        >>> {type(a).__name__ for a in reader._instrument_class_aggregation.values()}
        {'_OverflowCounting'}
    """
    preferred = getattr(reader, "_instrument_class_aggregation", None)
    if not isinstance(preferred, dict):
        log_once("overflow-reader", "cannot count overflows of metric reader %r", reader)
        return
    for kind, aggregation in preferred.items():
        if not isinstance(aggregation, _OverflowCounting):
            preferred[kind] = _OverflowCounting(aggregation)


def view(limit: int) -> View:
    """A view on every instrument applying `limit`; the aggregation is each reader's.

    Examples:
        >>> view(500)._aggregation_cardinality_limit
        500
    """
    return View(
        instrument_name="*", aggregation=DefaultAggregation(), aggregation_cardinality_limit=limit
    )
