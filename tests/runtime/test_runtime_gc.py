"""The GC hook: pause events on the interrupted span, the pause histogram, and safety."""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter
from collections.abc import Iterator

import pytest
from opentelemetry import trace as trace_api

import obskit
from obskit._base import log as _log
from obskit._export.slim import SlimSpan
from obskit._runtime import gc as _runtime_gc
from obskit.runtime import GC_PAUSE_DURATION, GC_PAUSE_EVENT

GENERATION = "cpython.gc.generation"


@pytest.fixture(autouse=True)
def _only_explicit_collections() -> Iterator[None]:
    # An automatic collection landing inside a test's span would add an event the test
    # did not ask for; with automatic collection off, only gc.collect() runs.
    was_enabled = gc.isenabled()
    gc.disable()
    yield
    if was_enabled:
        gc.enable()


def _pause_events(span: object) -> list[tuple[int, float]]:
    return [
        (event.attributes[GENERATION], event.attributes[GC_PAUSE_DURATION])
        for event in span.events  # type: ignore[attr-defined]
        if event.name == GC_PAUSE_EVENT
    ]


def test_collection_inside_a_span_gives_an_event_and_a_histogram_point(obskit_capture, runtime_on):
    with obskit.span("btree.get"):
        gc.collect(2)

    (generation, duration), *others = _pause_events(obskit_capture.one("btree.get"))
    assert (generation, others) == (2, [])
    assert duration > 0
    point = obskit_capture.metric(GC_PAUSE_DURATION, {GENERATION: 2})
    assert point.unit == "s"
    assert point.count >= 1
    assert point.min <= duration <= point.max  # the event carries the recorded value


def test_event_is_stamped_at_the_collection_start_inside_the_span(obskit_capture, runtime_on):
    with obskit.span("scan"):
        gc.collect(0)

    span = obskit_capture.one("scan")
    (event,) = [e for e in span.events if e.name == GC_PAUSE_EVENT]
    assert span.start_time <= event.timestamp <= span.end_time


def test_at_most_one_event_per_span_and_generation(obskit_capture, runtime_on):
    with obskit.span("batch"):
        for _ in range(5):
            gc.collect(0)
        for _ in range(3):
            gc.collect(2)

    per_generation = Counter(g for g, _ in _pause_events(obskit_capture.one("batch")))
    assert per_generation[0] == 1
    assert per_generation[2] == 1
    assert all(count == 1 for count in per_generation.values())
    # ...while the histogram saw every one of them.
    assert obskit_capture.metric(GC_PAUSE_DURATION, {GENERATION: 0}).count == 5
    assert obskit_capture.metric(GC_PAUSE_DURATION, {GENERATION: 2}).count == 3


def test_each_span_gets_its_own_event(obskit_capture, runtime_on):
    with obskit.span("outer"):
        gc.collect(0)
        with obskit.span("inner"):
            gc.collect(0)

    assert [g for g, _ in _pause_events(obskit_capture.one("outer"))] == [0]
    assert [g for g, _ in _pause_events(obskit_capture.one("inner"))] == [0]


def test_no_event_without_a_recording_span(obskit_capture, runtime_on):
    annotated_before = len(_runtime_gc._annotated)
    gc.collect(0)  # no span at all
    non_recording = trace_api.NonRecordingSpan(
        trace_api.SpanContext(1, 2, is_remote=False, trace_flags=trace_api.TraceFlags(0))
    )
    with trace_api.use_span(non_recording):
        gc.collect(0)
    with obskit.span("after"):
        pass

    assert _pause_events(obskit_capture.one("after")) == []
    assert len(_runtime_gc._annotated) == annotated_before
    assert _runtime_gc._span is None
    assert obskit_capture.metric(GC_PAUSE_DURATION, {GENERATION: 0}).count >= 2


def test_nothing_is_recorded_while_runtime_is_off(obskit_capture):
    with obskit.span("quiet"):
        gc.collect(0)

    assert _pause_events(obskit_capture.one("quiet")) == []
    assert obskit_capture.metrics(GC_PAUSE_DURATION) == []


@pytest.mark.timeout(30)
def test_a_span_whose_lock_is_held_is_never_waited_for(obskit_capture, runtime_on):
    """A collection while this thread holds the span's lock: no deadlock, one event.

    The SDK span's lock is not re-entrant: the hook skips (and counts) the event, and the
    next collection marks it. The recorder's lock is re-entrant: the hook annotates at
    once (a write to a span in the middle of a change is queued: tests/reliability).
    """
    skipped = _runtime_gc.counters["events_skipped"]
    with obskit.span("busy"):
        span = trace_api.get_current_span()
        # As if the collection interrupted this thread inside span.set_attribute().
        with span._lock:  # type: ignore[attr-defined]
            gc.collect(0)
        if isinstance(span, SlimSpan):
            assert _runtime_gc.counters["events_skipped"] == skipped
        else:
            assert _runtime_gc.counters["events_skipped"] == skipped + 1
        gc.collect(0)  # the lock is free now: the generation is marked once in all

    assert [g for g, _ in _pause_events(obskit_capture.one("busy"))] == [0]


def test_the_callback_never_raises_and_failures_are_logged_later(
    obskit_capture, runtime_on, caplog
):
    _log.reset()
    errors = _runtime_gc.counters["errors"]
    _runtime_gc._on_gc("start", {"generation": 0})
    _runtime_gc._on_gc("stop", {})  # no "generation": the hook must swallow the KeyError
    assert _runtime_gc.counters["errors"] == errors + 1

    with caplog.at_level(logging.WARNING, logger="obskit"):
        obskit_capture.metric("cpython.gc.collections", {GENERATION: 0})  # a collection
    assert "GC hook failed" in caplog.text


def test_span_tracking_forgets_spans_once_they_are_freed(obskit_capture, runtime_on):
    tracked_before = len(_runtime_gc._annotated)
    for _ in range(20):
        with obskit.span("short"):
            gc.collect(0)
            assert len(_runtime_gc._annotated) == tracked_before + 1

    # Exporters hold a read-only copy; the live span, and its entry, are gone.
    assert len(_runtime_gc._annotated) == tracked_before
    assert len(obskit_capture.find("short")) == 20


def test_pauses_beyond_the_buffer_are_counted_not_kept(monkeypatch, runtime_on):
    monkeypatch.setattr(_runtime_gc, "BUFFER_LIMIT", 2)
    _runtime_gc.discard()
    dropped = _runtime_gc.counters["dropped"]
    for _ in range(5):
        gc.collect(0)

    assert len(_runtime_gc._buffers[0]) == 2
    assert _runtime_gc.counters["dropped"] >= dropped + 3


def test_a_collection_is_attributed_to_the_span_of_the_thread_that_ran_it(
    obskit_capture, runtime_on
):
    def worker() -> None:
        with obskit.span("worker.task"):
            gc.collect(0)

    with obskit.span("main.task"):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join(30)
    assert not thread.is_alive()

    assert [g for g, _ in _pause_events(obskit_capture.one("worker.task"))] == [0]
    assert _pause_events(obskit_capture.one("main.task")) == []


@pytest.mark.timeout(30)
def test_a_pause_the_hook_could_not_mark_is_counted_where_users_see_it(obskit_capture, runtime_on):
    """Another thread inside the span's locked section: the hook skips, never waits, and
    the skip is in obskit.runtime.gc.pauses.lost{reason=span_busy}."""
    inside, leave = threading.Event(), threading.Event()
    with obskit.span("busy elsewhere"):
        span = trace_api.get_current_span()
        lock = span._lock  # type: ignore[attr-defined]

        def hold() -> None:
            with lock:
                inside.set()
                leave.wait(10)

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert inside.wait(10)
            skipped = _runtime_gc.counters["events_skipped"]
            gc.collect(0)
            assert _runtime_gc.counters["events_skipped"] == skipped + 1
        finally:
            leave.set()
            holder.join(10)

    assert _pause_events(obskit_capture.one("busy elsewhere")) == []
    lost = obskit_capture.metric("obskit.runtime.gc.pauses.lost", {"reason": "span_busy"})
    assert lost.value == _runtime_gc.counters["events_skipped"] >= 1
    assert obskit_capture.metric("obskit.runtime.gc.pauses.lost", {"reason": "hook_error"})
