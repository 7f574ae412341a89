"""@obskit.traced on every kind of callable."""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import obskit


@obskit.traced
def double(n: int) -> int:
    """Double n."""
    return n * 2


class Index:
    name = "users_pk"

    @obskit.traced
    def get(self, key: str) -> str:
        return key

    @obskit.traced
    @classmethod
    def open(cls, path: str) -> str:
        return path

    @classmethod
    @obskit.traced
    def create(cls, path: str) -> str:
        return path

    @obskit.traced
    @staticmethod
    def checksum(data: bytes) -> int:
        return len(data)

    @staticmethod
    @obskit.traced("Index.verify")
    def verify(data: bytes) -> bool:
        return bool(data)


def test_bare_decorator_names_span_after_qualname(obskit_capture) -> None:
    assert double(2) == 4
    assert obskit_capture.tree() == "double\n"


def test_nested_function_name_drops_locals(obskit_capture) -> None:
    @obskit.traced
    def inner() -> None:
        pass

    inner()
    assert obskit_capture.one("test_nested_function_name_drops_locals.inner")


def test_methods_classmethods_staticmethods_above_and_below(obskit_capture) -> None:
    index = Index()
    assert index.get("k") == "k"
    assert Index.open("/a") == "/a"
    assert Index.create("/b") == "/b"
    assert Index.checksum(b"abc") == 3
    assert index.verify(b"x") is True
    names = [s.name for s in obskit_capture.spans]
    assert names == ["Index.get", "Index.open", "Index.create", "Index.checksum", "Index.verify"]


def test_signature_and_kind_are_preserved() -> None:
    async def coro(a: int, *, b: str = "x") -> int:
        return a

    def gen(n: int) -> Iterator[int]:
        yield n

    async def agen(n: int) -> AsyncIterator[int]:
        yield n

    assert str(inspect.signature(double)) == "(n: 'int') -> 'int'"
    assert double.__doc__ == "Double n."
    assert double.__name__ == "double"
    wrapped_coro = obskit.traced(coro)
    assert inspect.iscoroutinefunction(wrapped_coro)
    assert str(inspect.signature(wrapped_coro)) == str(inspect.signature(coro))
    assert inspect.isgeneratorfunction(obskit.traced(gen))
    assert inspect.isasyncgenfunction(obskit.traced(agen))
    assert not inspect.iscoroutinefunction(obskit.traced(gen))


def test_arguments_attributes_and_result(obskit_capture) -> None:
    @obskit.traced("lookup", attributes={"db.system.name": "demo"}, record_args=["key", "limit"],
                   record_result=True)  # fmt: skip
    def lookup(key: str, limit: int = 10, *, verbose: bool = False) -> int:
        return 7

    lookup("k")
    lookup(key="j", limit=3)
    first, second = obskit_capture.find("lookup")
    assert first.attributes == {"db.system.name": "demo", "code.arg.key": "k", "code.result": 7}
    assert second.attributes["code.arg.limit"] == 3
    assert second.attributes["code.arg.key"] == "j"


def test_record_args_never_self_and_names_checked() -> None:
    with pytest.raises(ValueError, match=r"\['self'\].*\['key'\]"):

        class Bad:
            @obskit.traced(record_args=["self"])
            def get(self, key: str) -> None: ...

    with pytest.raises(ValueError, match="missing"):
        obskit.traced(record_args=["missing"])(double)
    with pytest.raises(TypeError, match="list of parameter names"):
        obskit.traced(record_args="n")(double)  # type: ignore[arg-type]


def test_unsafe_argument_values_are_recorded_safely(obskit_capture) -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

        __str__ = __repr__

    loop: list[object] = [1]
    loop.append(loop)

    @obskit.traced(record_args=["a", "b", "c", "d"])
    def take(a: object, b: object, c: object, d: object = None) -> None:
        pass

    take(Hostile(), loop, b"\xff" * 10_000, None)
    span = obskit_capture.one("test_unsafe_argument_values_are_recorded_safely.take")
    assert (
        span.attributes["code.arg.a"]
        == "<test_unsafe_argument_values_are_recorded_safely.<locals>.Hostile>"
    )
    assert span.attributes["code.arg.b"].startswith("[1, [1, ")
    assert len(span.attributes["code.arg.c"]) <= 4096
    assert "code.arg.d" not in span.attributes  # None is skipped


def test_exception_is_recorded_and_reraised_unchanged(obskit_capture) -> None:
    error = ValueError("boom")

    @obskit.traced
    def fail() -> None:
        raise error

    with pytest.raises(ValueError) as info:
        fail()
    assert info.value is error
    assert info.traceback[-1].name == "fail"  # the original frame is still on the traceback
    span = obskit_capture.one("test_exception_is_recorded_and_reraised_unchanged.fail")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "ValueError"
    event = span.events[0]
    assert event.name == "exception"
    assert event.attributes["exception.message"] == "boom"
    assert "Traceback" in event.attributes["exception.stacktrace"]


def test_expected_exceptions_are_not_errors(obskit_capture) -> None:
    @obskit.traced("get", expected=(KeyError,))
    def get() -> None:
        raise KeyError("k")

    with pytest.raises(KeyError):
        get()
    span = obskit_capture.one("get")
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes


def test_exception_with_raising_str_does_not_escape(obskit_capture) -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("str failed")

    @obskit.traced("weird")
    def weird() -> None:
        raise Weird()

    with pytest.raises(Weird):
        weird()
    assert obskit_capture.one("weird").attributes["error.type"].endswith("Weird")


def test_async_function_is_timed_over_the_whole_await(obskit_capture) -> None:
    @obskit.traced("slow")
    async def slow() -> str:
        await asyncio.sleep(0.02)
        return "done"

    assert asyncio.run(slow()) == "done"
    span = obskit_capture.one("slow")
    assert span.end_time - span.start_time >= 20_000_000


def test_async_children_nest_under_parent(obskit_capture) -> None:
    @obskit.traced("child")
    async def child(i: int) -> int:
        await asyncio.sleep(0)
        return i

    @obskit.traced("parent")
    async def parent() -> list[int]:
        return list(await asyncio.gather(child(1), child(2)))

    assert asyncio.run(parent()) == [1, 2]
    obskit_capture.assert_tree(
        """
        parent
          child
          child
        """
    )


def test_generator_span_covers_iteration_and_does_not_leak(obskit_capture, caplog) -> None:
    @obskit.traced("scan")
    def scan(n: int) -> Iterator[int]:
        for i in range(n):
            with obskit.span("step"):
                pass
            yield i

    with obskit.span("caller"):
        for item in scan(10):
            if item == 2:
                break
        with obskit.span("after"):
            pass
    obskit_capture.assert_tree(
        """
        caller
          scan
            step
            step
            step
          after
        """
    )
    scan_span = obskit_capture.one("scan")
    assert scan_span.status.status_code is StatusCode.UNSET  # early close is not an error
    assert "Failed to detach context" not in caplog.text


def test_generator_send_throw_close_are_forwarded(obskit_capture) -> None:
    @obskit.traced("echo")
    def echo() -> Iterator[object]:
        received: object = None
        while True:
            try:
                received = yield received
            except ValueError:
                received = "handled"

    gen = echo()
    assert next(gen) is None
    assert gen.send("x") == "x"
    assert gen.throw(ValueError("v")) == "handled"
    gen.close()
    assert obskit_capture.one("echo").end_time is not None


def test_generator_exception_marks_error(obskit_capture) -> None:
    @obskit.traced("broken")
    def broken() -> Iterator[int]:
        yield 1
        raise OSError("disk")

    with pytest.raises(OSError, match="disk"):
        list(broken())
    assert obskit_capture.one("broken").attributes["error.type"] == "OSError"


def test_generator_return_value_passes_through(obskit_capture) -> None:
    @obskit.traced("inner")
    def inner() -> Iterator[int]:
        yield 1
        return 42

    def outer() -> Iterator[int]:
        result = yield from inner()
        yield result

    assert list(outer()) == [1, 42]


def test_async_generator_break_and_aclose_from_other_task(obskit_capture, caplog) -> None:
    @obskit.traced("stream")
    async def stream() -> AsyncIterator[int]:
        for i in range(100):
            await asyncio.sleep(0)
            yield i

    async def main() -> None:
        with obskit.span("consumer"):
            agen = stream()
            async for item in agen:
                if item == 3:
                    break
            await asyncio.get_running_loop().create_task(agen.aclose())
            with obskit.span("next"):
                pass

    asyncio.run(main())
    obskit_capture.assert_tree(
        """
        consumer
          stream
          next
        """
    )
    assert "Failed to detach context" not in caplog.text


def test_async_generator_asend_athrow(obskit_capture) -> None:
    @obskit.traced("agen")
    async def agen() -> AsyncIterator[object]:
        value: object = None
        while True:
            try:
                value = yield value
            except KeyError:
                value = "caught"

    async def main() -> list[object]:
        gen = agen()
        out = [await gen.asend(None), await gen.asend("a"), await gen.athrow(KeyError("k"))]
        await gen.aclose()
        return out

    assert asyncio.run(main()) == [None, "a", "caught"]
    assert obskit_capture.one("agen").end_time is not None


def test_kind_and_per_decorator_sample_ratio(obskit_capture) -> None:
    @obskit.traced("rpc", kind=SpanKind.CLIENT)
    def rpc() -> None:
        pass

    @obskit.traced("never", sample_ratio=0.0)
    def never() -> None:
        with obskit.span("under-never"):
            pass

    rpc()
    never()
    assert obskit_capture.one("rpc").kind is SpanKind.CLIENT
    assert obskit_capture.find("never") == []
    assert obskit_capture.find("under-never") == []  # the whole subtree follows the decision


def test_sample_ratio_is_validated() -> None:
    with pytest.raises(ValueError, match="sample_ratio"):
        obskit.traced(sample_ratio=1.5)(double)


def test_not_callable_is_rejected() -> None:
    with pytest.raises(TypeError, match="function or method"):
        obskit.traced(42)  # type: ignore[call-overload]


def test_metrics_from_the_same_decorator(obskit_capture) -> None:
    @obskit.traced("op", metrics="test.op", expected=(KeyError,))
    def op(fail: bool) -> None:
        if fail:
            raise ValueError("x")

    op(False)
    op(False)
    with pytest.raises(ValueError):
        op(True)
    ok = obskit_capture.metric("test.op.calls", outcome="ok")
    assert ok.value == 2
    failed = obskit_capture.metric("test.op.calls", outcome="error")
    assert failed.value == 1
    assert failed.attributes["error.type"] == "ValueError"
    duration = obskit_capture.metric("test.op.duration", outcome="ok")
    assert duration.count == 2
    assert obskit_capture.metric("test.op.active").value == 0


def test_metrics_in_flight_is_async_correct(obskit_capture) -> None:
    seen: list[float] = []

    @obskit.traced("work", metrics="test.async")
    async def work() -> None:
        await asyncio.sleep(0.01)

    async def main() -> None:
        task = asyncio.gather(work(), work())
        await asyncio.sleep(0.001)
        seen.append(obskit_capture.metric("test.async.active").value)
        await task

    asyncio.run(main())
    assert seen == [2]
    assert obskit_capture.metric("test.async.active").value == 0
    assert obskit_capture.metric("test.async.duration").count == 2


def test_passthrough_when_not_configured() -> None:
    calls: list[int] = []

    @obskit.traced("plain")
    def plain(x: int) -> int:
        calls.append(x)
        return x

    assert plain(3) == 3
    assert calls == [3]
    assert list(obskit.traced(lambda: iter([1, 2]))()) == [1, 2]


def test_no_detach_errors_logged_across_threads(obskit_capture, caplog) -> None:
    import threading

    @obskit.traced("threaded")
    def threaded() -> None:
        pass

    caplog.set_level(logging.ERROR)
    threads = [threading.Thread(target=threaded) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(obskit_capture.find("threaded")) == 4
    assert caplog.records == []
    assert sys.getrefcount(threaded) > 0


def test_bad_metric_prefix_never_raises_or_leaks(obskit_capture, caplog) -> None:
    from opentelemetry import trace

    @obskit.traced("odd", metrics="my funcs")  # a space: the SDK rejects the name
    def odd() -> int:
        return 1

    assert odd() == 1
    assert odd() == 1
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert len(obskit_capture.find("odd")) == 2
    assert sum("creating my funcs" in r.getMessage() for r in caplog.records) >= 1


def test_generator_called_with_bad_arguments_starts_no_span(obskit_capture) -> None:
    @obskit.traced("gen", metrics="test.badargs")
    def gen(n: int) -> Iterator[int]:
        yield n

    with pytest.raises(TypeError):
        next(gen(1, 2))  # type: ignore[call-arg]
    assert obskit_capture.find("gen") == []
