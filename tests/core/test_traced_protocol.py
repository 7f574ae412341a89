"""@traced generators, async generators and coroutines behave exactly like the originals.

Every protocol method (send/throw/close, asend/athrow/aclose) is compared, call by call,
with the undecorated function on every path a call can take: obskit off, a call under an
unsampled parent (no span of its own), a call sampled out by its own ratio (a
non-recording span) and a sampled call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import obskit
from obskit.testing import Capture

PATHS = ["off", "unsampled_parent", "sampled_out", "sampled"]


def echo_generator(log: list[object]) -> Iterator[object]:
    received: object = "start"
    try:
        while True:
            try:
                received = yield received
            except KeyError as exc:
                received = f"caught {exc.args[0]}"
            if received == "stop":
                return "returned"
    finally:
        log.append("finally")


async def echo_async_generator(log: list[object]) -> AsyncIterator[object]:
    received: object = "start"
    try:
        while True:
            try:
                received = yield received
            except KeyError as exc:
                received = f"caught {exc.args[0]}"
            await asyncio.sleep(0)
    finally:
        log.append("finally")


def _step(log: list[object], call: Callable[[], object]) -> None:
    try:
        log.append(("value", call()))
    except StopIteration as stop:
        log.append(("StopIteration", stop.value))
    except Exception as exc:
        log.append((type(exc).__name__, str(exc)))


def drive_generator(function: Callable[[list[object]], Iterator[object]]) -> list[object]:
    """send, throw (handled and not), close and return values, as a transcript."""
    log: list[object] = []
    gen: Any = function(log)
    _step(log, lambda: next(gen))
    _step(log, lambda: gen.send("hello"))
    _step(log, lambda: gen.throw(KeyError("k")))
    _step(log, lambda: gen.send("stop"))
    second: Any = function(log)
    _step(log, lambda: next(second))
    _step(log, lambda: second.throw(ValueError("escapes")))
    _step(log, lambda: next(second))
    third: Any = function(log)
    _step(log, lambda: next(third))
    _step(log, lambda: third.close())
    _step(log, lambda: third.send("after close"))
    return log


async def _astep(log: list[object], call: Callable[[], Any]) -> None:
    try:
        log.append(("value", await call()))
    except StopAsyncIteration:
        log.append(("StopAsyncIteration", None))
    except Exception as exc:
        log.append((type(exc).__name__, str(exc)))


async def drive_async_generator(function: Callable[[list[object]], Any]) -> list[object]:
    """asend, athrow (handled and not), aclose, as a transcript."""
    log: list[object] = []
    agen = function(log)
    await _astep(log, lambda: agen.asend(None))
    await _astep(log, lambda: agen.asend("hello"))
    await _astep(log, lambda: agen.athrow(KeyError("k")))
    await _astep(log, lambda: agen.asend("again"))
    await _astep(log, lambda: agen.aclose())
    await _astep(log, lambda: agen.asend("after close"))
    second = function(log)
    await _astep(log, lambda: second.__anext__())
    await _astep(log, lambda: second.athrow(ValueError("escapes")))
    await _astep(log, lambda: second.__anext__())
    return log


@contextlib.contextmanager
def on_path(path: str, capture: Capture | None) -> Iterator[float | None]:
    """Run the block on one path; yields the decorator's sample_ratio for it."""
    if path == "off":
        assert capture is None
        yield None
    elif path == "unsampled_parent":
        parent = NonRecordingSpan(
            SpanContext(trace_id=7, span_id=7, is_remote=False, trace_flags=TraceFlags(0))
        )
        with trace.use_span(parent):
            yield None
    elif path == "sampled_out":
        yield 0.0
    else:
        yield None


@pytest.fixture
def path_capture(request: pytest.FixtureRequest) -> Iterator[Capture | None]:
    if request.param == "off":
        yield None
        return
    capture = Capture()
    capture.start()
    try:
        yield capture
    finally:
        capture.stop()


@pytest.mark.parametrize("path_capture", PATHS, indirect=True)
def test_generator_protocol_matches_the_undecorated_function(
    path_capture: Capture | None, request: pytest.FixtureRequest
) -> None:
    path = request.node.callspec.params["path_capture"]
    with on_path(path, path_capture) as ratio:
        traced = obskit.traced("echo", sample_ratio=ratio)(echo_generator)
        assert drive_generator(traced) == drive_generator(echo_generator)
    if path_capture is not None:
        spans = path_capture.find("echo")
        assert len(spans) == (3 if path == "sampled" else 0)


@pytest.mark.parametrize("path_capture", PATHS, indirect=True)
def test_async_generator_protocol_matches_the_undecorated_function(
    path_capture: Capture | None, request: pytest.FixtureRequest
) -> None:
    path = request.node.callspec.params["path_capture"]
    with on_path(path, path_capture) as ratio:
        traced = obskit.traced("echo", sample_ratio=ratio)(echo_async_generator)
        expected = asyncio.run(drive_async_generator(echo_async_generator))
        assert expected[:2] == [("value", "start"), ("value", "hello")]  # the script ran
        assert asyncio.run(drive_async_generator(traced)) == expected
    if path_capture is not None:
        spans = path_capture.find("echo")
        assert len(spans) == (2 if path == "sampled" else 0)


def _generator(a: int, *, b: int = 2) -> Iterator[int]:
    yield a + b


async def _async_generator(a: int, *, b: int = 2) -> AsyncIterator[int]:
    yield a + b


async def _coroutine(a: int, *, b: int = 2) -> int:
    return a + b


@pytest.mark.parametrize("path_capture", PATHS, indirect=True)
def test_bad_arguments_raise_at_the_call(path_capture: Capture | None) -> None:
    for function in (_generator, _async_generator, _coroutine):
        traced: Any = obskit.traced("bad")(function)
        with pytest.raises(TypeError):
            traced(1, 2)  # not at the first next() or await: here
        with pytest.raises(TypeError):
            traced(1, c=3)
        assert inspect.signature(traced) == inspect.signature(function)
    assert inspect.isgeneratorfunction(obskit.traced(_generator))
    assert inspect.isasyncgenfunction(obskit.traced(_async_generator))
    assert inspect.iscoroutinefunction(obskit.traced(_coroutine))
    assert list(obskit.traced(_generator)(1, b=3)) == [4]
    assert asyncio.run(obskit.traced(_coroutine)(1)) == 3
    if path_capture is not None:
        assert path_capture.find("bad") == []


def test_wrapper_without_an_exact_signature_still_forwards() -> None:
    # A partial has no code of its own to copy a signature from: the (*args, **kwargs)
    # form of the same wrapper is used, and forwards the same way.
    log_first: list[object] = []
    capture = Capture()
    capture.start()
    try:
        traced = obskit.traced("echo")(functools.partial(echo_generator))
        assert inspect.isgeneratorfunction(traced)
        assert drive_generator(traced) == drive_generator(echo_generator)
        agen = obskit.traced("echo")(functools.partial(echo_async_generator, log_first))
        assert inspect.isasyncgenfunction(agen)
        assert asyncio.run(drive_async_generator(lambda log: agen())) != []
    finally:
        capture.stop()
    assert len(capture.find("echo")) == 5
