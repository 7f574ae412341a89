"""The per-metric cardinality limit is configurable and its overflow is counted."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import obskit
from obskit import _config
from obskit._metrics import cells as _cells

OVERFLOW = "otel.metric.overflow"


@pytest.fixture
def _shutdown() -> Iterator[None]:
    yield
    obskit.shutdown(timeout=2)
    _cells.set_cardinality_limit(2000)


def _points(telemetry: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    data = telemetry.info["memory_metrics"].get_metrics_data()
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                found.setdefault(metric.name, []).extend(metric.data.data_points)
    return found


@pytest.mark.usefixtures("_shutdown")
def test_limit_from_configure_and_overflow_counted() -> None:
    telemetry = obskit.configure(exporters=["memory"], cardinality_limit=5)
    requests = obskit.counter("cardinality.requests", unit="{request}")
    for user in range(8):
        requests.add(1, {"user": f"u{user}"})
    requests.add(10, {"user": "u99"})
    requests.add(1, {"user": "u0"})  # a series kept before the limit still counts
    points = _points(telemetry)
    series = {tuple(sorted(p.attributes.items())): p.value for p in points["cardinality.requests"]}
    assert len(series) == 6  # five series and the overflow one
    assert series[(("user", "u0"),)] == 2
    assert series[((OVERFLOW, True),)] == 3 + 10
    (overflowed,) = [
        p
        for p in points["obskit.metrics.overflowed"]
        if p.attributes["metric.name"] == "cardinality.requests"
    ]
    assert overflowed.value == 4  # measurements, not amounts


@pytest.mark.usefixtures("_shutdown")
def test_hot_instruments_follow_the_same_limit() -> None:
    telemetry = obskit.configure(exporters=["memory"], cardinality_limit=3)
    hot = obskit.hot_counter("cardinality.hot", unit="{event}")
    for key in range(5):
        hot.add(1, {"key": key})
    points = _points(telemetry)
    series = {tuple(sorted(p.attributes.items())): p.value for p in points["cardinality.hot"]}
    assert series[((OVERFLOW, True),)] == 2
    assert len(series) == 4
    # obskit's own self-metrics obey the same limit: with 3, their own overflow series
    # (no metric.name) may show up beside the one for this instrument.
    overflowed = {
        p.attributes.get("metric.name"): p.value for p in points["obskit.metrics.overflowed"]
    }
    assert overflowed["cardinality.hot"] == 2


def test_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _config.resolve().cardinality_limit == 2000
    monkeypatch.setenv("OBSKIT_CARDINALITY_LIMIT", "250")
    assert _config.resolve().cardinality_limit == 250
    assert _config.resolve(cardinality_limit=10).cardinality_limit == 10
    monkeypatch.setenv("OBSKIT_CARDINALITY_LIMIT", "lots")
    assert _config.resolve().cardinality_limit == 2000  # a bad variable warns, never raises
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="cardinality_limit"):
            _config.resolve(cardinality_limit=bad)  # type: ignore[arg-type]
