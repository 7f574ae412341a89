"""The capture records through obskit's own span recorder, the path users' programs run.

`OBSKIT_SLIM_SPANS=false` keeps the SDK's spans, in the capture as after `configure()`;
CI runs the core suites a second time that way (.ci/run), so both paths stay tested.
"""

from __future__ import annotations

import os
import subprocess
import sys

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import Span as SdkSpan

import obskit
from obskit._export import slim as _slim
from obskit._export.slim import SlimSpan
from obskit.testing import Capture


def test_spans_are_the_recorders_unless_the_environment_turns_it_off(obskit_capture) -> None:
    with obskit.span("outer") as outer:
        live = type(outer.span)
    assert issubclass(live, SlimSpan if _slim.ENABLED else SdkSpan)
    assert type(obskit_capture.one("outer")) is ReadableSpan  # as exporters get it


def test_the_switch_decides_in_a_fresh_process_too() -> None:
    code = (
        "import obskit\n"
        "from obskit.testing import Capture\n"
        "with Capture() as capture, obskit.span('x') as handle:\n"
        "    kind = type(handle.span).__name__\n"
        "print(kind, capture.one('x').name)\n"
    )
    for value, expected in (("false", "_Span x"), ("true", "SlimSpan x")):
        env = {**os.environ, "OBSKIT_SLIM_SPANS": value}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.stdout.strip() == expected, (value, done.stdout, done.stderr)


def test_a_recorder_span_left_open_is_reported_by_name() -> None:
    with Capture() as capture:
        with obskit.span("closed"):
            pass
        handle = obskit.span("left.open").__enter__()
        problems = capture.problems()  # detaches the context left behind
    assert problems is not None
    assert "1 span(s) started during the test and never ended:" in problems
    assert "'left.open' (span " in problems
    assert "started on thread MainThread" in problems
    handle.span.end()


def test_a_recorder_span_ended_on_another_thread_is_not_reported() -> None:
    import threading

    with Capture() as capture:
        span = obskit.span("handed.over")
        span.__enter__()
        token_span = trace_api.get_current_span()
        ender = threading.Thread(target=token_span.end)
        ender.start()
        ender.join()
        span.__exit__(None, None, None)
        assert capture.problems() is None
    assert [s.name for s in capture.spans] == ["handed.over"]


def test_deterministic_ids_and_clock_hold_for_recorder_spans() -> None:
    with Capture(deterministic=True) as capture, obskit.span("parent"), obskit.span("child"):
        pass
    parent, child = capture.one("parent"), capture.one("child")
    assert (parent.context.trace_id, parent.context.span_id) == (1, 1)
    assert (child.context.trace_id, child.context.span_id) == (1, 2)
    assert child.parent is not None
    assert child.parent.span_id == 1
    second = 1_000_000_000
    assert (parent.start_time, child.start_time, child.end_time, parent.end_time) == (
        1 * second,
        2 * second,
        3 * second,
        4 * second,
    )


def test_a_child_forked_while_a_capture_is_alive_does_not_hang() -> None:
    # A fresh interpreter: the hang needed concurrent.futures.thread imported (here by
    # configure()'s resource detection) only after the capture built its TracerProvider,
    # whose SDK at-fork handler then ran first and waited on a lock held since the fork.
    code = (
        "import os, sys, time\n"
        "import obskit\n"
        "from obskit.testing import Capture\n"
        "capture = Capture().start()\n"
        "with obskit.span('before.fork'):\n"
        "    pass\n"
        "capture.stop()\n"
        "obskit.configure(service_name='fork', exporters=['memory'], runtime=False)\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    os._exit(0)\n"
        "deadline = time.monotonic() + 30\n"
        "while not os.waitpid(pid, os.WNOHANG)[0]:\n"
        "    if time.monotonic() > deadline:\n"
        "        os.kill(pid, 9)\n"
        "        sys.exit('the forked child hung')\n"
        "    time.sleep(0.05)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", (done.stdout, done.stderr)
