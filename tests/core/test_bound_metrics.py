"""Hot-path instruments: bound handles, exact totals under threads, export through OTel."""

from __future__ import annotations

import threading

import prometheus_client
import pytest
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider

from obskit import _routing as _providers
from obskit._metrics import hot as _hot

THREADS = 8
PER_THREAD = 20_000


def _hammer(work: object) -> None:
    start = threading.Barrier(THREADS)

    def run() -> None:
        start.wait()
        for _ in range(PER_THREAD):
            work()  # type: ignore[operator]

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)


def test_bound_counter_is_exported_with_its_attributes(obskit_capture) -> None:
    ops = _hot.hot_counter("hottest.ops", unit="{operation}")
    gets = ops.bind({"kv.operation": "get"})
    assert ops.bind({"kv.operation": "get"}) is gets  # one handle per attribute set
    for _ in range(5):
        gets.add()
    ops.add(2, {"kv.operation": "put"})
    assert obskit_capture.metric("hottest.ops", {"kv.operation": "get"}).value == 5
    assert obskit_capture.metric("hottest.ops", {"kv.operation": "put"}).value == 2


def test_bound_counter_loses_no_increment_under_threads(obskit_capture) -> None:
    bound = _hot.hot_counter("hottest.threads").bind({"k": "v"})
    _hammer(bound.add)
    assert bound.value == THREADS * PER_THREAD
    assert obskit_capture.metric("hottest.threads", k="v").value == THREADS * PER_THREAD


def test_monotonic_counter_ignores_negative_amounts_up_down_does_not(obskit_capture) -> None:
    counter = _hot.hot_counter("hottest.mono").bind()
    counter.add(3)
    counter.add(-1)
    active = _hot.hot_up_down_counter("hottest.active").bind()
    active.add(3)
    active.add(-1)
    assert obskit_capture.metric("hottest.mono").value == 3
    assert obskit_capture.metric("hottest.active").value == 2


def test_bad_amount_is_logged_not_raised(obskit_capture, caplog) -> None:
    bound = _hot.hot_counter("hottest.bad").bind()
    bound.add("three")  # type: ignore[arg-type]
    bound.add(1)
    assert obskit_capture.metric("hottest.bad").value == 1


def test_bound_histogram_matches_otel_bucket_semantics(obskit_capture) -> None:
    sizes = _hot.hot_histogram("hottest.sizes", unit="By", buckets=[10, 100])
    bound = sizes.bind({"kv.index": "pk"})
    for value in (1, 10, 11, 100, 101, 5000):
        bound.record(value)
    point = obskit_capture.metric("hottest.sizes", {"kv.index": "pk"})
    # OTel explicit buckets: (-inf, 10], (10, 100], (100, +inf)
    assert list(point.buckets.values()) == [2, 2, 2]
    assert (point.count, point.sum, point.min, point.max) == (6, 5223, 1, 5000)


def test_bound_histogram_is_exact_under_threads(obskit_capture) -> None:
    bound = _hot.hot_histogram("hottest.latency").bind()
    _hammer(lambda: bound.record(0.002))
    point = obskit_capture.metric("hottest.latency")
    assert point.count == THREADS * PER_THREAD
    assert point.sum == pytest.approx(0.002 * THREADS * PER_THREAD)
    assert point.buckets[0.0025] == THREADS * PER_THREAD


def test_each_capture_starts_from_zero(obskit_capture) -> None:
    bound = _hot.hot_counter("hottest.fresh").bind()
    histogram = _hot.hot_histogram("hottest.fresh.duration").bind()
    bound.add(7)
    histogram.record(1.0)
    obskit_capture.clear()  # a fresh meter provider: series restart
    bound.add(1)
    histogram.record(0.5)
    assert obskit_capture.metric("hottest.fresh").value == 1
    point = obskit_capture.metric("hottest.fresh.duration")
    assert (point.count, point.sum, point.max) == (1, 0.5, 0.5)


def test_buckets_must_increase() -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        _hot.hot_histogram("hottest.unsorted", buckets=[1.0, 0.5])


def test_prometheus_exposition_shows_counter_and_histogram() -> None:
    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
    try:
        with _providers.swapped(None, provider):
            _hot.hot_counter("hottest.prom.ops", unit="{operation}").bind({"op": "get"}).add(4)
            _hot.hot_histogram("hottest.prom.duration").bind({"op": "get"}).record(0.003)
            text = prometheus_client.generate_latest(prometheus_client.REGISTRY).decode()
    finally:
        provider.shutdown()  # also unregisters the reader's collector
    samples = [line for line in text.splitlines() if line.startswith("hottest_prom")]
    assert any(
        line.startswith('hottest_prom_ops_total{op="get",') and line.endswith(" 4.0")
        for line in samples
    ), samples
    assert any(
        line.startswith('hottest_prom_duration_seconds_bucket{le="0.005",op="get",')
        and line.endswith(" 1.0")
        for line in samples
    ), samples
    assert any(
        line.startswith('hottest_prom_duration_seconds_bucket{le="0.0025",op="get",')
        and line.endswith(" 0.0")
        for line in samples
    ), samples


def test_threads_that_end_do_not_grow_a_handle() -> None:
    import threading

    import obskit

    counter = obskit.hot_counter("retire.test.ops").bind({"k": "v"})
    latency = obskit.hot_histogram("retire.test.duration").bind({"k": "v"})

    def work() -> None:
        counter.add(2)
        latency.record(0.001)

    for _ in range(200):
        thread = threading.Thread(target=work)
        thread.start()
        thread.join()
    assert counter.value == 400
    assert latency.count == 200
    assert len(counter._cells) <= 3  # the retired totals, maybe one thread still dying
    assert len(latency._cells) <= 3
    counter.add(float("nan"))
    latency.record(float("nan"))
    assert counter.value == 400
    assert latency.snapshot()[1] == pytest.approx(0.2)
