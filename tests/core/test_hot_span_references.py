"""Hot histogram cells remember the last span they saw without keeping it alive."""

from __future__ import annotations

import gc
import weakref

from opentelemetry import trace

import obskit
from obskit.testing import Capture


def test_a_span_passed_to_record_can_be_collected_afterwards(obskit_capture: Capture) -> None:
    latency = obskit.hot_histogram("refs.passed").bind({"case": "passed"})
    span = obskit_capture.tracer_provider.get_tracer("t").start_span("op")
    span.end()
    latency.record(0.002, span)
    trace_id = span.get_span_context().trace_id
    gone = weakref.ref(span)
    del span
    gc.collect()
    assert gone() is None
    point = obskit_capture.metric("refs.passed")
    assert [e[1] for e in point.exemplars] == [trace_id]  # the exemplar outlives the span


def test_the_current_span_can_be_collected_after_records_in_it(obskit_capture: Capture) -> None:
    latency = obskit.hot_histogram("refs.current").bind({"case": "current"})
    span = obskit_capture.tracer_provider.get_tracer("t").start_span("op")
    with trace.use_span(span, end_on_exit=True):
        latency.record(0.002)
        latency.record(0.003)
    gone = weakref.ref(span)
    del span
    gc.collect()
    assert gone() is None
    assert obskit_capture.metric("refs.current").count == 2


def test_records_alternating_between_passed_and_current_spans_keep_their_own_trace(
    obskit_capture: Capture,
) -> None:
    latency = obskit.hot_histogram("refs.mixed", buckets=[1.0, 2.0]).bind()
    tracer = obskit_capture.tracer_provider.get_tracer("t")
    outer, passed = tracer.start_span("outer"), tracer.start_span("passed")
    with trace.use_span(outer, end_on_exit=True):
        latency.record(0.5)  # bucket 0: the current span
        latency.record(1.5, passed)  # bucket 1: the span passed in
        latency.record(2.5)  # bucket 2: the current span again, not the one passed
    passed.end()
    traces = {e[0]: e[1] for e in obskit_capture.metric("refs.mixed").exemplars}
    assert traces[0.5] == traces[2.5] == outer.get_span_context().trace_id
    assert traces[1.5] == passed.get_span_context().trace_id
