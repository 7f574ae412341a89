"""obskit's own span recorder (obskit._export.slim): where it applies, and where it must not.

The recorder is on by default (`OBSKIT_SLIM_SPANS=false` turns it off); these tests make
sure it is on around `obskit.configure()` and check that what reaches exporters and the span counts is
what the SDK path gives. Byte equivalence with SDK spans: tests/core/test_otlp_encode.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import obskit
from obskit._export import slim as _slim
from obskit._export.slim import SlimSpan


@pytest.fixture
def slim_on() -> Iterator[None]:
    switch, _slim.ENABLED = _slim.ENABLED, True
    try:
        yield
    finally:
        _slim.ENABLED = switch
        obskit.shutdown(timeout=2)


def _recorded_type(name: str) -> type:
    with obskit.span(name) as handle:
        return type(handle.span)


def test_the_recorder_is_on_by_default_and_the_environment_turns_it_off() -> None:
    # CI runs the core suite a second time with OBSKIT_SLIM_SPANS=false (.ci/run).
    assert _slim.ENABLED is (os.environ.get("OBSKIT_SLIM_SPANS", "true") != "false")
    code = (
        "import obskit\n"
        "from obskit._export import slim as _slim\n"
        "from obskit._export.slim import SlimSpan\n"
        "obskit.configure(service_name='slim', exporters=['memory'], runtime=False)\n"
        "with obskit.span('x') as handle:\n"
        "    kind = type(handle.span)\n"
        "obskit.shutdown(timeout=2)\n"
        "print(_slim.ENABLED, kind is SlimSpan)\n"
    )
    for value, expected in (("false", "False False"), ("true", "True True")):
        env = {**os.environ, "OBSKIT_SLIM_SPANS": value}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.stdout.strip() == expected, (value, done.stdout, done.stderr)


def test_obskit_spans_are_slim_and_exporters_get_readable_spans(slim_on: None) -> None:
    telemetry = obskit.configure(service_name="slim", exporters=["memory"], runtime=False)

    @obskit.traced("work")
    def work(x: int) -> int:
        obskit.set_attribute("work.x", x)
        return x + 1

    with obskit.span("outer", attributes={"outer.n": 1}) as outer:
        assert type(outer.span) is SlimSpan
        assert work(1) == 2
        outer.add_event("outer.event", {"e": "v"})
        with pytest.raises(KeyError), obskit.span("failing"):
            raise KeyError("k")
    spans = {s.name: s for s in telemetry.info["memory_spans"].get_finished_spans()}
    assert set(spans) == {"outer", "work", "failing"}
    assert all(type(s) is ReadableSpan for s in spans.values())  # built for this exporter
    outer_id = spans["outer"].context.span_id
    assert spans["work"].parent is not None
    assert spans["work"].parent.span_id == outer_id
    assert dict(spans["work"].attributes)["work.x"] == 1
    assert dict(spans["outer"].attributes) == {"outer.n": 1}
    assert [e.name for e in spans["outer"].events] == ["outer.event"]
    assert spans["failing"].status.status_code is trace_api.StatusCode.ERROR
    assert dict(spans["failing"].attributes)["error.type"] == "KeyError"
    assert telemetry.span_counts()["ended"] == 3


def test_plain_otel_tracers_keep_sdk_spans_and_are_counted(slim_on: None) -> None:
    telemetry = obskit.configure(service_name="slim", exporters=["memory"], runtime=False)
    tracer = trace_api.get_tracer("plain.library")
    with obskit.span("obskit.parent"), tracer.start_as_current_span("plain.child") as plain:
        assert type(plain) is not SlimSpan
        assert _recorded_type("obskit.grandchild") is SlimSpan
    spans = {s.name: s for s in telemetry.info["memory_spans"].get_finished_spans()}
    assert set(spans) == {"obskit.parent", "plain.child", "obskit.grandchild"}
    assert spans["obskit.grandchild"].parent.span_id == spans["plain.child"].context.span_id  # type: ignore[union-attr]
    assert spans["plain.child"].parent.span_id == spans["obskit.parent"].context.span_id  # type: ignore[union-attr]
    assert telemetry.span_counts()["ended"] == 3


def test_a_processor_added_later_gets_sdk_spans_again(slim_on: None) -> None:
    telemetry = obskit.configure(service_name="slim", exporters=["memory"], runtime=False)
    assert _recorded_type("before") is SlimSpan
    extra = InMemorySpanExporter()
    telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(extra))  # type: ignore[union-attr]
    assert _recorded_type("after") is not SlimSpan
    assert [s.name for s in extra.get_finished_spans()] == ["after"]
    names = sorted(s.name for s in telemetry.info["memory_spans"].get_finished_spans())
    assert names == ["after", "before"]


def test_the_testing_capture_records_through_the_recorder(
    slim_on: None, obskit_capture: Any
) -> None:
    # What users' programs run after configure(): tests/testing/test_capture_recorder.py.
    assert _recorded_type("captured") is SlimSpan
    assert type(obskit_capture.one("captured")) is ReadableSpan


def test_unsampled_spans_are_not_recorded(slim_on: None) -> None:
    telemetry = obskit.configure(
        service_name="slim", exporters=["memory"], runtime=False, sample_ratio=0.0
    )
    assert _recorded_type("dropped") is not SlimSpan
    assert telemetry.info["memory_spans"].get_finished_spans() == ()
    assert telemetry.span_counts()["ended"] == 0


def test_drops_are_counted_for_slim_spans(slim_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OBSKIT_MAX_SPAN_BYTES", "2000")
    telemetry = obskit.configure(service_name="slim", exporters=["memory"], runtime=False)
    with obskit.span("huge", attributes={"blob": "x" * 3000}) as huge:
        assert type(huge.span) is SlimSpan
    with obskit.span("bad") as bad:
        bad.span.set_attribute("text", "\ud800")  # past obskit's sanitiser, as a plain tracer
    for i in range(3):
        with obskit.span(f"s{i}"):
            pass
    assert obskit.flush(timeout=10)
    counts = telemetry.span_counts()
    assert counts["ended"] == 5
    assert counts["too_large"] == 1
    assert counts["encode_error"] == 1
    assert counts["exported"] == 3
    names = sorted(s.name for s in telemetry.info["memory_spans"].get_finished_spans())
    assert names == ["s0", "s1", "s2"]


def test_threads_setting_attributes_keep_the_limit_and_the_dropped_count(slim_on: None) -> None:
    import threading

    telemetry = obskit.configure(service_name="slim", exporters=["memory"], runtime=False)
    threads, per_thread = 8, 100
    start = threading.Barrier(threads)
    with obskit.span("shared") as handle:
        shared = handle.span
        assert type(shared) is SlimSpan

        def write(n: int) -> None:
            start.wait(timeout=30)
            for i in range(per_thread):
                shared.set_attribute(f"t{n}.k{i}", i)

        workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert not any(worker.is_alive() for worker in workers)
    (span,) = telemetry.info["memory_spans"].get_finished_spans()
    assert len(span.attributes) == 128  # the SDK's default count limit
    assert span.dropped_attributes == threads * per_thread - 128


def test_a_span_open_when_a_processor_is_added_reaches_it(slim_on: None) -> None:
    telemetry = obskit.configure(service_name="slim", exporters=["memory"], runtime=False)
    extra = InMemorySpanExporter()
    with obskit.span("open") as handle:
        assert type(handle.span) is SlimSpan
        telemetry.tracer_provider.add_span_processor(SimpleSpanProcessor(extra))  # type: ignore[union-attr]
    assert [s.name for s in extra.get_finished_spans()] == ["open"]
    assert [s.name for s in telemetry.info["memory_spans"].get_finished_spans()] == ["open"]


def test_slim_spans_take_gc_pause_events_and_weak_references(slim_on: None) -> None:
    import gc
    import weakref

    from obskit import runtime

    telemetry = obskit.configure(service_name="slim", exporters=["memory"], runtime=False)
    runtime.enable()
    try:
        with obskit.span("collecting") as handle:
            assert type(handle.span) is SlimSpan
            assert weakref.ref(handle.span)() is handle.span
            gc.collect(0)
    finally:
        runtime.disable()
    (span,) = telemetry.info["memory_spans"].get_finished_spans()
    assert "obskit.runtime.gc.pause" in [event.name for event in span.events]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_fork_while_the_slim_lock_is_held_leaves_the_child_working(slim_on: None) -> None:
    obskit.configure(service_name="slim", exporters=["memory"], runtime=False)
    _slim._lock.acquire()  # as another thread setting an attribute when fork() happens
    try:
        pid = os.fork()
        if pid == 0:  # the child: a span must start and end without waiting on the lock
            try:
                with obskit.span("child") as handle:
                    handle.set_attribute("k", "v")
                os._exit(0)
            finally:
                os._exit(1)
    finally:
        _slim._lock.release()
    deadline = time.monotonic() + 60
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the child hung on the slim recorder's lock")
        threading.Event().wait(0.05)
    assert os.waitstatus_to_exitcode(status) == 0
