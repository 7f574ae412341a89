"""Trace exemplars on duration histograms: SDK-backed (traced, domains) and hot ones, in
the captured points and on the Prometheus endpoint (OpenMetrics only)."""

from __future__ import annotations

import gc
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry import trace as trace_api

import obskit
from obskit._base.context import exemplar_context


def _exemplar_ids(point) -> set[tuple[int | None, int | None]]:
    return {(trace_id, span_id) for _, trace_id, span_id in point.exemplars}


def _ids(span) -> tuple[int, int]:
    return span.context.trace_id, span.context.span_id


def test_hot_histogram_keeps_the_sampled_span_as_exemplar(obskit_capture):
    latency = obskit.hot_histogram("exemplar.hot.duration").bind({"k": "v"})
    latency.record(0.002)  # no span: no exemplar
    with obskit.span("outer"):
        latency.record(0.003)
        latency.record(0.004)  # same bucket: the last one wins
        latency.record(0.2)

    point = obskit_capture.metric("exemplar.hot.duration")
    outer = obskit_capture.one("outer")
    assert point.count == 4
    assert {value for value, _, _ in point.exemplars} == {0.004, 0.2}
    assert _exemplar_ids(point) == {_ids(outer)}


def test_hot_histogram_takes_no_exemplar_from_an_unsampled_span(obskit_capture):
    latency = obskit.hot_histogram("exemplar.unsampled.duration").bind()

    @obskit.traced(sample_ratio=0.0)
    def unsampled() -> None:
        latency.record(0.003)

    unsampled()
    assert obskit_capture.metric("exemplar.unsampled.duration").exemplars == ()
    assert obskit_capture.spans == []


def test_hot_exemplars_of_ended_threads_survive(obskit_capture):
    latency = obskit.hot_histogram("exemplar.thread.duration").bind()

    def work() -> None:
        with obskit.span("in-thread"):
            latency.record(0.003)

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    del thread
    gc.collect()  # the thread's cell retires into the shared one
    point = obskit_capture.metric("exemplar.thread.duration")
    assert _exemplar_ids(point) == {_ids(obskit_capture.one("in-thread"))}


def test_traced_duration_histogram_carries_its_span(obskit_capture):
    @obskit.traced("exemplar.work", metrics="exemplar.work")
    def work() -> int:
        return 1

    work()
    point = obskit_capture.metric("exemplar.work.duration")
    assert _exemplar_ids(point) == {_ids(obskit_capture.one("exemplar.work"))}


def test_exemplar_context_carries_a_detached_sampled_span(obskit_capture):
    histogram = obskit.histogram("exemplar.after.duration", unit="s")
    with obskit.span("operation"):
        span = trace_api.get_current_span()
    # Recorded after the span ended and left the context, as the domains record.
    histogram.record(0.01, {"k": "v"}, exemplar_context(span))
    histogram.record(0.5, {"k": "v"})  # no context, no current span: no exemplar

    point = obskit_capture.metric("exemplar.after.duration")
    assert point.count == 2
    assert [(value, (trace, span_id)) for value, trace, span_id in point.exemplars] == [
        (0.01, _ids(obskit_capture.one("operation")))
    ]
    assert exemplar_context(trace_api.INVALID_SPAN) is None
    assert exemplar_context(None) is None


@pytest.fixture
def prometheus_endpoint() -> Iterator[str]:
    telemetry = obskit.configure(service_name="exemplars", exporters=["prometheus"],
                                 prometheus_port=0)  # fmt: skip
    address = telemetry.prometheus_address
    assert address is not None
    yield f"http://{address[0]}:{address[1]}/metrics"
    obskit.shutdown()


def _scrape(url: str, accept: str) -> str:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.read().decode())


def test_prometheus_endpoint_serves_exemplars_in_openmetrics(prometheus_endpoint: str):
    hot = obskit.hot_histogram("exemplar.endpoint.hot").bind({"k": "v"})
    sdk = obskit.histogram("exemplar.endpoint.sdk", unit="s")
    with obskit.span("scraped") as span:
        hot.record(0.003)
        sdk.record(0.02, {"k": "v"})
    trace_id, span_id = span.trace_id, span.span_id

    body = _scrape(prometheus_endpoint, "application/openmetrics-text; version=1.0.0")
    exemplar = f'# {{span_id="{span_id}",trace_id="{trace_id}"}}'
    for series, bound in (("exemplar_endpoint_hot_seconds_bucket", "0.005"),
                          ("exemplar_endpoint_sdk_seconds_bucket", "0.025")):  # fmt: skip
        lines = [line for line in body.splitlines() if line.startswith(series)]
        with_exemplar = [line for line in lines if exemplar in line]
        assert len(with_exemplar) == 1, lines
        assert f'le="{bound}"' in with_exemplar[0]
    classic = _scrape(prometheus_endpoint, "text/plain; version=0.0.4")
    assert "exemplar_endpoint_hot_seconds_bucket" in classic
    assert trace_id not in classic
