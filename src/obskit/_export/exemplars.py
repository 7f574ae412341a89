"""Histogram exemplars on the Prometheus endpoint.

The OpenTelemetry Prometheus exporter drops the exemplars the SDK (and obskit's hot
histograms) attach to histogram points. This bridge keeps them: when the reader receives
a collection it indexes each histogram point's exemplars by series and bucket, and a
collector wrapped around the exporter's puts them on the `_bucket` samples it yields.
prometheus_client writes them only in the OpenMetrics format, which it serves when the
scraper asks for it (`Accept: application/openmetrics-text`, as Prometheus does); the
classic text format has no exemplars.

An exemplar's labels are `trace_id` and `span_id` (lower-case hex, as Grafana and the
OpenMetrics examples spell them), its timestamp the time of the recording.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from opentelemetry.sdk.metrics.export import HistogramDataPoint, MetricsData

from obskit._base.log import log_once

__all__ = ["SPAN_ID_LABEL", "TRACE_ID_LABEL", "ExemplarCollector", "ExemplarIndex"]

TRACE_ID_LABEL = "trace_id"
SPAN_ID_LABEL = "span_id"

_SeriesKey = tuple[str, frozenset[tuple[str, str]]]


class ExemplarIndex:
    """The newest collection's exemplars: (family name, labels) -> per-bucket exemplar."""

    def __init__(self, collector: Any) -> None:
        from opentelemetry.exporter.prometheus._mapping import (
            map_unit,
            sanitize_attribute,
        )

        self._collector = collector  # the exporter's: it knows how it names and labels
        self._map_unit: Callable[[str], str] = map_unit
        self._sanitize: Callable[[str], str] = sanitize_attribute
        self._lock = threading.Lock()
        self._series: dict[_SeriesKey, list[Any]] = {}

    def _family_name(self, name: str, unit: str) -> str:
        # What the exporter names the family: its metric name, then prometheus_client
        # appends the unit unless the name already ends with it.
        family = str(self._collector._resolve_metric_name(name))
        suffix = self._map_unit(unit or "")
        if suffix and not family.endswith(f"_{suffix}"):
            family = f"{family}_{suffix}"
        return family

    def update(self, data: MetricsData) -> None:
        """Index the exemplars of every histogram point in `data` (replacing the last)."""
        from prometheus_client.samples import Exemplar

        series: dict[_SeriesKey, list[Any]] = {}
        reader = self._collector
        for resource_metrics in data.resource_metrics:
            resource = reader._build_resource_attrs(resource_metrics.resource)
            for scope_metrics in resource_metrics.scope_metrics:
                scope = reader._build_scope_attrs(scope_metrics.scope)
                for metric in scope_metrics.metrics:
                    points = getattr(metric.data, "data_points", ())
                    family: str | None = None
                    for point in points:
                        if not isinstance(point, HistogramDataPoint) or not point.exemplars:
                            continue
                        if family is None:
                            family = self._family_name(metric.name, metric.unit or "")
                        attributes = {**resource, **scope, **(point.attributes or {})}
                        labels = frozenset(
                            (self._sanitize(key), text)
                            for key, value in attributes.items()
                            if (text := reader._check_value(value))  # "" is backfill
                        )
                        buckets: list[Any] = [None] * (len(point.explicit_bounds) + 1)
                        for exemplar in point.exemplars:
                            if exemplar.trace_id is None or exemplar.span_id is None:
                                continue
                            index = _bucket(point.explicit_bounds, exemplar.value)
                            buckets[index] = Exemplar(
                                {TRACE_ID_LABEL: f"{exemplar.trace_id:032x}",
                                 SPAN_ID_LABEL: f"{exemplar.span_id:016x}"},
                                exemplar.value,
                                exemplar.time_unix_nano / 1e9,
                            )  # fmt: skip
                        series[(family, labels)] = buckets
        with self._lock:
            self._series = series

    def lookup(self, family: str, labels: frozenset[tuple[str, str]]) -> list[Any] | None:
        with self._lock:
            return self._series.get((family, labels))


def _bucket(bounds: Iterable[float], value: float) -> int:
    for index, bound in enumerate(bounds):
        if value <= bound:
            return index
    return sum(1 for _ in bounds)


class ExemplarCollector:
    """Wraps the exporter's collector: its histogram families gain the indexed exemplars."""

    def __init__(self, inner: Any, index: ExemplarIndex) -> None:
        self._inner = inner
        self._index = index

    def describe(self) -> list[Any]:
        return []  # unknown until collected: the registry then calls collect to describe

    def collect(self) -> Iterator[Any]:
        for family in self._inner.collect():
            if family.type == "histogram":
                try:
                    _attach(family, self._index)
                except Exception:
                    log_once("prometheus-exemplars", "adding exemplars failed", exc_info=True)
            yield family


def _attach(family: Any, index: ExemplarIndex) -> None:
    bucket_name = f"{family.name}_bucket"
    positions: dict[frozenset[tuple[str, str]], int] = {}
    samples = []
    for sample in family.samples:
        if sample.name == bucket_name:
            labels = frozenset(
                (key, value) for key, value in sample.labels.items() if key != "le" and value
            )
            position = positions.get(labels, 0)
            positions[labels] = position + 1
            exemplars = index.lookup(family.name, labels)
            if exemplars is not None and position < len(exemplars) and exemplars[position]:
                sample = sample._replace(exemplar=exemplars[position])
        samples.append(sample)
    family.samples = samples
