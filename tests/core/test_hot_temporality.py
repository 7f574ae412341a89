"""Hot histograms honour each metric reader's preferred temporality."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader

import obskit
from obskit import _routing as _providers
from obskit.testing import Capture


def _points(reader: InMemoryMetricReader, name: str) -> tuple[Any, list[Any]]:
    data = reader.get_metrics_data()
    for resource_metrics in data.resource_metrics if data else []:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    return metric.data.aggregation_temporality, list(metric.data.data_points)
    return None, []


def test_a_delta_reader_gets_the_change_since_its_last_collection(
    obskit_capture: Capture,
) -> None:
    delta = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
    cumulative = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[delta, cumulative])
    try:
        with _providers.swapped(obskit_capture.tracer_provider, provider):
            latency = obskit.hot_histogram("temporality.duration", buckets=[1.0, 10.0])
            bound = latency.bind({"k": "v"})
            bound.record(0.5)
            bound.record(5.0)
            temporality, (first,) = _points(delta, "temporality.duration")
            bound.record(20.0)
            _, (second,) = _points(delta, "temporality.duration")
            _, nothing_new = _points(delta, "temporality.duration")
            kind, (total,) = _points(cumulative, "temporality.duration")
    finally:
        provider.shutdown()
    assert temporality == AggregationTemporality.DELTA
    assert (first.count, first.sum, list(first.bucket_counts)) == (2, 5.5, [1, 1, 0])
    assert (second.count, second.sum, list(second.bucket_counts)) == (1, 20.0, [0, 0, 1])
    assert second.start_time_unix_nano == first.time_unix_nano
    assert second.min >= 10.0  # bounded by the interval's buckets
    assert second.max == 20.0
    assert nothing_new == []
    # Another reader of the same provider keeps its own (cumulative) view.
    assert kind == AggregationTemporality.CUMULATIVE
    assert (total.count, total.sum) == (3, 25.5)


def test_a_provider_coming_back_reports_only_what_was_recorded_under_it() -> None:
    from opentelemetry.sdk.metrics import Histogram, MeterProvider
    from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    from obskit import _routing as _providers

    def counts(reader: InMemoryMetricReader) -> list[int]:
        data = reader.get_metrics_data()
        return [
            point.count
            for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == "aba.duration"
            for point in metric.data.data_points
        ]

    delta = InMemoryMetricReader(preferred_temporality={Histogram: AggregationTemporality.DELTA})
    first = MeterProvider(metric_readers=[delta])
    other = MeterProvider(metric_readers=[InMemoryMetricReader()])
    tracer_provider = TracerProvider()
    handle = obskit.hot_histogram("aba.duration", buckets=[1.0]).bind({"k": "v"})
    with _providers.swapped(tracer_provider, first):
        for _ in range(3):
            handle.record(0.5)
        assert counts(delta) == [3]
    with _providers.swapped(tracer_provider, other):
        handle.record(0.5)
    with _providers.swapped(tracer_provider, first):
        for _ in range(5):
            handle.record(0.5)
        assert counts(delta) == [5]
