"""An exception's `__str__` runs at most once, however many traced layers it crosses."""

from __future__ import annotations

import gc
import weakref

import pytest

import obskit
from obskit._safety import clean as _sanitize


class Counted(Exception):
    calls = 0

    def __str__(self) -> str:
        type(self).calls += 1
        return "counted " + "x" * 100_000


@obskit.traced("outer")
def outer() -> None:
    middle()


@obskit.traced("middle")
def middle() -> None:
    inner()


@obskit.traced("inner")
def inner() -> None:
    raise Counted()


def test_str_is_rendered_once_through_three_traced_layers(obskit_capture) -> None:
    Counted.calls = 0
    with pytest.raises(Counted):
        outer()
    assert Counted.calls == 1
    for name in ("outer", "middle", "inner"):
        span = obskit_capture.one(name)
        (event,) = span.events
        message = event.attributes["exception.message"]
        assert message.startswith("counted x")
        assert len(message) <= _sanitize.MAX_VALUE_CHARS  # size bound
        assert span.status.description.startswith("Counted: counted x")


def test_a_slow_str_is_not_called_again_for_its_class(obskit_capture, monkeypatch) -> None:
    class Slow(Exception):
        calls = 0

        def __str__(self) -> str:
            type(self).calls += 1
            return "slow"

    monkeypatch.setattr(_sanitize, "SLOW_STR_SECONDS", -1.0)  # every render counts as slow

    @obskit.traced("fails")
    def fails() -> None:
        raise Slow()

    for _ in range(3):
        with pytest.raises(Slow):
            fails()
    assert Slow.calls == 1
    first, *later = obskit_capture.find("fails")
    assert first.events[0].attributes["exception.message"] == "slow"
    assert [s.events[0].attributes["exception.message"] for s in later] == [
        "<Slow: __str__ too slow to render>"
    ] * 2


def test_distinct_exceptions_are_each_rendered(obskit_capture) -> None:
    Counted.calls = 0
    for _ in range(2):
        with pytest.raises(Counted):
            inner()
    assert Counted.calls == 2


class Resource:
    """Stands for a socket or buffer a failing function holds in a local variable."""


@pytest.mark.parametrize("kind", [Counted, KeyError, OSError])
def test_a_rendered_exception_and_its_frames_are_not_kept(obskit_capture, kind) -> None:
    held: list[weakref.ref[Resource]] = []

    @obskit.traced("holds")
    def holds() -> None:
        resource = Resource()
        held.append(weakref.ref(resource))
        raise kind("k")

    @obskit.traced("calls")
    def calls() -> None:
        holds()

    try:
        calls()
    except kind:
        pass
    gc.collect()
    assert held[0]() is None  # the frame's local was released
    assert obskit_capture.one("holds").events[0].attributes["exception.message"]
