"""@obskit.timed: call metrics without a span."""

from __future__ import annotations

import asyncio

import pytest

from obskit._trace.timed import timed


class Conflict(Exception):
    pass


@timed("timedtest.lookup", attributes={"db.operation.name": "get"}, expected=(KeyError,))
def lookup(table: dict[str, int], key: str) -> int:
    if key == "boom":
        raise Conflict(key)
    return table[key]


def test_counts_and_times_calls_by_outcome(obskit_capture) -> None:
    assert lookup({"a": 1}, "a") == 1
    with pytest.raises(KeyError):
        lookup({}, "missing")  # expected: an ok outcome
    with pytest.raises(Conflict) as raised:
        lookup({}, "boom")
    assert raised.value.args == ("boom",)  # the user's exception, untouched
    ok = obskit_capture.metric("timedtest.lookup.calls", outcome="ok")
    assert ok.value == 2
    assert ok.attributes["db.operation.name"] == "get"
    assert ok.attributes["code.function.name"] == "lookup"
    failed = obskit_capture.metric("timedtest.lookup.calls", outcome="error")
    assert (failed.value, failed.attributes["error.type"]) == (1, "test_timed.Conflict")
    duration = obskit_capture.metric("timedtest.lookup.duration")
    assert duration.count == 3
    assert duration.sum >= 0
    assert obskit_capture.spans == []  # no span at all


def test_coroutines_are_timed_over_the_await(obskit_capture) -> None:
    @timed("timedtest.fetch")
    async def fetch() -> str:
        await asyncio.sleep(0)
        return "x"

    assert asyncio.run(fetch()) == "x"
    assert obskit_capture.metric("timedtest.fetch.calls").value == 1


def test_bare_use_and_methods(obskit_capture) -> None:
    class Store:
        @timed
        def get(self) -> int:
            return 1

        @staticmethod
        @timed
        def static() -> int:
            return 2

    assert Store().get() + Store.static() == 3
    points = obskit_capture.metrics("obskit.timed.calls")
    names = sorted(p.attributes["code.function.name"] for p in points)
    assert names == [
        "test_bare_use_and_methods.Store.get",
        "test_bare_use_and_methods.Store.static",
    ]


def test_generators_are_refused() -> None:
    def numbers():  # type: ignore[no-untyped-def]
        yield 1

    with pytest.raises(TypeError, match=r"obskit\.traced"):
        timed(numbers)
