"""One bad metric attribute or description must not break metric export."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

import obskit
from obskit._safety.clean import MAX_VALUE_CHARS

SURROGATE = "bad\ud800value"
HUGE = "x" * (4 * 1024 * 1024)


@pytest.fixture
def _shutdown() -> Iterator[None]:
    yield
    obskit.shutdown(timeout=2)


def _scrape(port: int) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


@pytest.mark.usefixtures("_shutdown")
def test_bad_label_values_do_not_break_the_prometheus_scrape() -> None:
    telemetry = obskit.configure(
        exporters=["prometheus"], prometheus_host="127.0.0.1", prometheus_port=0
    )
    assert telemetry.prometheus_address is not None
    port = telemetry.prometheus_address[1]
    obskit.counter("scrape.good", unit="{event}").add(1, {"kind": "fine"})
    bad = obskit.counter("scrape.bad", unit="{event}", description="Bad \udc00 description")
    bad.add(1, {"kind": SURROGATE})
    bad.add(1, {"kind": HUGE})
    obskit.histogram("scrape.bad.duration").record(0.1, {"kind": SURROGATE})
    from opentelemetry.metrics import Observation

    obskit.observable_gauge("scrape.bad.gauge", [lambda options: [Observation(1, {"k": HUGE})]])
    status, body = _scrape(port)
    assert status == 200
    assert 'scrape_good_total{kind="fine",' in body
    assert "obskit_spans_ended_total{" in body  # obskit's own series still there
    assert 'scrape_bad_total{kind="bad?value",' in body
    assert "# HELP scrape_bad_total Bad ? description" in body
    assert "scrape_bad_duration_seconds_count" in body
    assert "scrape_bad_gauge" in body
    assert len(body) < 5 * MAX_VALUE_CHARS + 20_000  # the 4 MB values were capped


@pytest.mark.usefixtures("_shutdown")
def test_bad_description_and_attributes_do_not_stop_otlp_metric_export(obskit_collector) -> None:
    endpoint = obskit_collector.receiver.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
    obskit.configure(exporters=["otlp"], otlp_endpoint=endpoint, metrics_interval=0.2)
    obskit.counter("otlp.bad", unit="{event}", description="Bad \ud800 description").add(
        1, {"kind": SURROGATE}
    )
    obskit.counter("otlp.good", unit="{event}").add(2, {"kind": "fine"})
    assert obskit.flush(timeout=10)
    good = obskit_collector.wait_for_metric("otlp.good", timeout=20)
    assert good.value == 2
    bad = obskit_collector.wait_for_metric("otlp.bad", timeout=20)
    assert bad.attributes["kind"] == "bad?value"
    huge = obskit.counter("otlp.huge", unit="{event}")
    huge.add(1, {"kind": HUGE})
    assert obskit.flush(timeout=10)
    point = obskit_collector.wait_for_metric("otlp.huge", timeout=20)
    assert len(point.attributes["kind"]) == MAX_VALUE_CHARS
