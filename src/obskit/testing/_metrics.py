"""One metric point type for both the in-process capture and the OTLP collector."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.metrics.export import (
    ExponentialHistogram,
    Gauge,
    Histogram,
    MetricsData,
    Sum,
)

__all__ = ["CapturedMetric", "describe_points", "points_from_sdk"]

SERVICE_NAME = "service.name"


@dataclass(frozen=True)
class CapturedMetric:
    """One data point of one metric: a counter's total, a gauge's value, a histogram.

    Values are cumulative since the capture started (or since `clear()`).

    Examples:
        >>> point = CapturedMetric("db.rows", "sum", "{row}", {"db.table": "t"}, value=3)
        >>> point.value
        3
        >>> h = CapturedMetric("q.duration", "histogram", "s", {}, count=2, sum=0.5,
        ...                    bounds=(0.1, 1.0), bucket_counts=(0, 2, 0))
        >>> h.buckets
        {0.1: 0, 1.0: 2, inf: 0}
    """

    name: str
    #: "sum" (counters and up-down counters), "gauge", "histogram" or "exponential_histogram".
    kind: str
    unit: str
    attributes: Mapping[str, Any]
    #: The sum or gauge value (None for histograms).
    value: int | float | None = None
    #: Histogram: how many values were recorded, and their sum, min and max.
    count: int | None = None
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    #: Histogram bucket upper bounds (explicit) and the count in each bucket (one more).
    bounds: tuple[float, ...] = ()
    bucket_counts: tuple[int, ...] = ()
    #: Exemplars as (value, trace_id, span_id): records made in sampled spans (histograms
    #: in a capture; any point received over OTLP that carries them).
    exemplars: tuple[tuple[float, int | None, int | None], ...] = ()
    is_monotonic: bool | None = None
    scope: str = ""
    resource: Mapping[str, Any] = field(default_factory=dict)

    @property
    def buckets(self) -> dict[float, int]:
        """Histogram counts keyed by each bucket's upper bound (`inf` for the last)."""
        bounds = (*self.bounds, math.inf)
        return dict(zip(bounds, self.bucket_counts, strict=False))

    @property
    def service(self) -> str | None:
        """`service.name` of the process that recorded this point."""
        value = self.resource.get(SERVICE_NAME)
        return None if value is None else str(value)


def points_from_sdk(data: MetricsData | None) -> list[CapturedMetric]:
    """Flatten what an SDK `MetricReader` collected into points."""
    points: list[CapturedMetric] = []
    if data is None:
        return points
    for resource_metrics in data.resource_metrics:
        resource = dict(resource_metrics.resource.attributes)
        for scope_metrics in resource_metrics.scope_metrics:
            scope = scope_metrics.scope.name
            for metric in scope_metrics.metrics:
                common: dict[str, Any] = {
                    "name": metric.name,
                    "unit": metric.unit or "",
                    "scope": scope,
                    "resource": resource,
                }
                points.extend(_sdk_points(metric.data, common))
    return points


def _sdk_points(data: Any, common: dict[str, Any]) -> Iterable[CapturedMetric]:
    if isinstance(data, (Sum, Gauge)):
        kind = "sum" if isinstance(data, Sum) else "gauge"
        monotonic = data.is_monotonic if isinstance(data, Sum) else None
        for number in data.data_points:
            yield CapturedMetric(
                kind=kind,
                attributes=dict(number.attributes or {}),
                value=number.value,
                is_monotonic=monotonic,
                **common,
            )
    elif isinstance(data, Histogram):
        for point in data.data_points:
            yield CapturedMetric(
                kind="histogram",
                attributes=dict(point.attributes or {}),
                count=point.count,
                sum=point.sum,
                min=point.min,
                max=point.max,
                bounds=tuple(point.explicit_bounds),
                bucket_counts=tuple(point.bucket_counts),
                exemplars=tuple((e.value, e.trace_id, e.span_id) for e in point.exemplars or ()),
                **common,
            )
    elif isinstance(data, ExponentialHistogram):
        for exp_point in data.data_points:
            yield CapturedMetric(
                kind="exponential_histogram",
                attributes=dict(exp_point.attributes or {}),
                count=exp_point.count,
                sum=exp_point.sum,
                min=exp_point.min,
                max=exp_point.max,
                **common,
            )


def points_from_received(received: Iterable[Any]) -> list[CapturedMetric]:
    """Points from an `OTLPReceiver`: the latest one per metric, process and attributes.

    Exports are cumulative, so each export repeats every series; the newest wins.
    """
    latest: dict[tuple[Any, ...], tuple[int, CapturedMetric]] = {}
    for point in received:
        key = (
            point.name,
            point.scope,
            _frozen(point.resource),
            _frozen(point.attributes),
        )
        captured = CapturedMetric(
            name=point.name,
            kind=point.kind,
            unit=point.unit,
            attributes=dict(point.attributes),
            value=point.value,
            count=point.count,
            sum=point.sum,
            bounds=tuple(point.explicit_bounds),
            bucket_counts=tuple(point.bucket_counts),
            is_monotonic=point.is_monotonic,
            exemplars=tuple(
                (e.value, e.trace_id, e.span_id) for e in point.exemplars if e.value is not None
            ),
            scope=point.scope,
            resource=dict(point.resource),
        )
        previous = latest.get(key)
        if previous is None or point.time_unix_nano >= previous[0]:
            latest[key] = (point.time_unix_nano, captured)
    return [captured for _, captured in latest.values()]


def _frozen(mapping: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((key, repr(value)) for key, value in mapping.items()))


def describe_points(points: Iterable[CapturedMetric], *, services: bool = False) -> str:
    """One line per point, `name {attributes}` (value), for error messages."""
    lines = []
    for point in sorted(points, key=lambda p: (p.name, _frozen(p.attributes))):
        shown = point.value if point.count is None else f"count={point.count} sum={point.sum}"
        where = f" [{point.service}]" if services else ""
        lines.append(f"  {point.name}{where} {dict(point.attributes)}: {shown}")
    return "\n".join(lines) if lines else "  (no metrics were recorded)"
