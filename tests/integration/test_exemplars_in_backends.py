"""From a latency point to its trace: a real Prometheus (exemplar storage on) scrapes
obskit's endpoint in OpenMetrics and stores the duration histograms' exemplars, and the
trace id of each one is a trace the real Jaeger returns."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from _backends import Jaeger, Prometheus, poll

import obskit


@pytest.fixture
def service(jaeger: Jaeger, prometheus: Prometheus) -> Iterator[str]:
    """obskit exporting spans to Jaeger and serving metrics to Prometheus, for one test."""
    name = f"exemplars-{uuid.uuid4().hex[:8]}"
    telemetry = obskit.configure(
        service_name=name,
        exporters=["otlp", "prometheus"],
        otlp_endpoint=jaeger.otlp_http_endpoint,
        prometheus_host="127.0.0.1",
        prometheus_port=0,
    )
    address = telemetry.prometheus_address
    assert address is not None
    target = f"{address[0]}:{address[1]}"
    prometheus.add_target(name, target)
    try:
        yield name
    finally:
        prometheus.remove_target(name, target)
        obskit.shutdown()


def _exemplar_trace_ids(prometheus: Prometheus, promql: str, start: float) -> set[str]:
    def fetch() -> set[str]:
        found = prometheus.exemplars(promql, start, time.time() + 60)
        return {
            exemplar["labels"]["trace_id"]
            for series in found
            for exemplar in series["exemplars"]
            if "trace_id" in exemplar["labels"]
        }

    return poll(fetch, bool, timeout=60, what=f"exemplars of {promql}")


def test_exemplars_in_prometheus_lead_to_traces_in_jaeger(
    service: str, jaeger: Jaeger, prometheus: Prometheus
) -> None:
    started = time.time() - 5
    hot = obskit.hot_histogram("exemplar.it.hot.duration").bind({"k": "v"})

    @obskit.traced("exemplar.it.work", metrics="exemplar.it.work")
    def work() -> None:
        hot.record(0.003)

    for _ in range(3):
        work()
    assert obskit.flush(timeout=10)

    for metric in ("exemplar_it_work_duration_seconds_bucket",
                   "exemplar_it_hot_duration_seconds_bucket"):  # fmt: skip
        trace_ids = _exemplar_trace_ids(prometheus, f'{metric}{{job="{service}"}}', started)
        for trace_id in trace_ids:
            trace = poll(lambda t=trace_id: jaeger.trace(t), lambda found: found is not None,
                         timeout=30, what=f"trace {trace_id} in Jaeger")  # fmt: skip
            assert trace is not None
            names = {span["operationName"] for span in trace["spans"]}
            assert "exemplar.it.work" in names
