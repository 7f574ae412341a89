"""The `memory` exporter: what a reader sees is complete without a manual flush."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import obskit


@pytest.fixture
def slow_queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A one-hour export delay: without the flush-on-read nothing would be visible yet.
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
    yield
    obskit.shutdown(timeout=2)


def test_memory_spans_are_readable_without_flush(slow_queue: None) -> None:
    telemetry = obskit.configure(service_name="mem", exporters=["memory"])
    assert telemetry.settings.schedule_delay == 3600.0
    with obskit.span("outer"), obskit.span("inner"):
        pass
    (queue,) = telemetry.span_queues
    assert queue.pending == 2  # still queued: the worker waits an hour
    spans = telemetry.info["memory_spans"].get_finished_spans()
    assert sorted(s.name for s in spans) == ["inner", "outer"]
    assert queue.pending == 0


def test_memory_spans_reading_twice_does_not_duplicate(slow_queue: None) -> None:
    telemetry = obskit.configure(service_name="mem", exporters=["memory"])
    with obskit.span("once"):
        pass
    memory = telemetry.info["memory_spans"]
    assert [s.name for s in memory.get_finished_spans()] == ["once"]
    assert [s.name for s in memory.get_finished_spans()] == ["once"]
    memory.clear()
    assert memory.get_finished_spans() == ()
