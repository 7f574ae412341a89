"""obskit.span, SpanHandle and current-span helpers."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.trace import SpanKind, StatusCode

import obskit


def test_nesting_gives_parent_child(obskit_capture) -> None:
    with obskit.span("outer", attributes={"a": 1}) as outer:
        outer.set_attribute("b", "two")
        with obskit.span("inner", kind=SpanKind.CLIENT):
            pass
    obskit_capture.assert_tree(
        """
        outer
          inner
        """
    )
    assert obskit_capture.one("outer").attributes == {"a": 1, "b": "two"}
    assert obskit_capture.one("inner").kind is SpanKind.CLIENT


def test_async_with(obskit_capture) -> None:
    async def main() -> None:
        async with obskit.span("async-outer"), obskit.span("async-inner") as inner:
            inner.add_event("tick", {"n": 1})

    asyncio.run(main())
    assert obskit_capture.tree() == "async-outer\n  async-inner\n"
    assert obskit_capture.one("async-inner").events[0].name == "tick"


def test_exception_in_block_is_recorded_and_propagates(obskit_capture) -> None:
    with pytest.raises(RuntimeError, match="bad"), obskit.span("failing"):
        raise RuntimeError("bad")
    span = obskit_capture.one("failing")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "RuntimeError"


def test_handle_never_raises_on_bad_values(obskit_capture) -> None:
    loop: dict[str, object] = {}
    loop["self"] = loop

    class Hostile:
        def __str__(self) -> str:
            raise RuntimeError

    with obskit.span("bad\ud800name") as s:
        s.set_attribute("cyclic", loop)
        s.set_attribute("hostile", Hostile())
        s.set_attribute("big", 2**80)
        s.set_attribute("none", None)
        s.set_attributes({"x": [1, "mixed"], 3: "non-str key"})
        s.add_event("ev", {"v": Hostile()})
        s.record_exception(ValueError(Hostile()), error=False)
    span = obskit_capture.one("bad?name")
    assert span.attributes["big"] == "1208925819614629174706176"
    assert "none" not in span.attributes
    assert span.attributes["3"] == "non-str key"
    assert span.status.status_code is StatusCode.UNSET


def test_set_error_without_exception(obskit_capture) -> None:
    with obskit.span("vote") as s:
        s.set_error("quorum lost", "quorum_lost")
    span = obskit_capture.one("vote")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "quorum_lost"


def test_set_attributes_on_current_span_from_anywhere(obskit_capture) -> None:
    def deep() -> None:
        obskit.set_attribute("rows", 10)
        obskit.set_attributes({"db.namespace": "main"}, cached=True)

    with obskit.span("query") as s:
        deep()
        assert obskit.current_span().span_id == s.span_id
    assert obskit_capture.one("query").attributes == {
        "rows": 10,
        "db.namespace": "main",
        "cached": True,
    }
    deep()  # no current span: a silent no-op


def test_handle_ids(obskit_capture) -> None:
    with obskit.span("ids") as s:
        assert len(s.trace_id) == 32
        assert len(s.span_id) == 16
        assert s.is_recording
    span = obskit_capture.one("ids")
    assert format(span.context.trace_id, "032x") == s.trace_id


def test_noop_handle_when_off() -> None:
    with obskit.span("off") as s:
        s.set_attribute("a", 1)
        assert not s.is_recording
        assert s.trace_id == "0" * 32


def test_reentering_one_span_object_keeps_the_open_span(obskit_capture) -> None:
    from opentelemetry import trace

    reused = obskit.span("reused")
    with reused as outer:
        with reused as inner:
            assert not inner.is_recording
        assert trace.get_current_span() is outer.span  # still the open span
    assert trace.get_current_span() is trace.INVALID_SPAN
    assert len(obskit_capture.find("reused")) == 1
    with reused:  # sequential reuse is fine
        pass
    assert len(obskit_capture.find("reused")) == 2


def test_subclasses_of_primitives_keep_their_values(obskit_capture) -> None:
    import collections
    import enum

    class Role(str, enum.Enum):
        LEADER = "leader"

    class Level(enum.IntEnum):
        L0 = 0

    point = collections.namedtuple("point", "x y")
    with obskit.span("typed") as s:
        s.set_attributes({"role": Role.LEADER, "level": Level.L0, "point": point(1, 2)})
    assert obskit_capture.one("typed").attributes == {"role": "leader", "level": 0, "point": (1, 2)}
