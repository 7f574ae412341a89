"""The sanitiser runs no user code: no __repr__/__str__, __iter__, __lt__, __hash__."""

from __future__ import annotations

from typing import Any

import pytest

import obskit
from obskit._safety.clean import clean_attributes, clean_value, safe_repr

calls: list[str] = []


class Hostile:
    def __repr__(self) -> str:
        calls.append("repr")
        return "hostile"

    def __lt__(self, other: object) -> bool:
        calls.append("lt")
        return id(self) < id(other)

    def __hash__(self) -> int:
        calls.append("hash")
        return 1

    def __eq__(self, other: object) -> bool:
        calls.append("eq")
        return self is other

    def __iter__(self) -> Any:
        calls.append("iter")
        return iter(())


class IteratingList(list[int]):
    def __iter__(self) -> Any:
        calls.append("iter")
        return super().__iter__()


class IteratingTuple(tuple[int, ...]):
    def __iter__(self) -> Any:
        calls.append("iter")
        return super().__iter__()


class list_:
    def __iter__(self) -> Any:
        calls.append("iter")
        return iter([1, 2])

    def __len__(self) -> int:
        calls.append("len")
        return 2


list_.__name__ = "list"
set_named = type("set", (Hostile,), {})


@pytest.fixture(autouse=True)
def _no_calls() -> None:
    calls.clear()


@pytest.mark.parametrize(
    "value",
    [
        {Hostile() for _ in range(50)},
        frozenset(Hostile() for _ in range(50)),
        {Hostile(): Hostile() for _ in range(50)},
        [{Hostile(), Hostile()}],
        IteratingList([1, 2, 3]),
        IteratingTuple((1, 2)),
        list_(),
        set_named(),
        Hostile(),
    ],
    ids=[
        "set",
        "frozenset",
        "dict",
        "nested",
        "list-sub",
        "tuple-sub",
        "named-list",
        "named-set",
        "plain",
    ],
)
def test_no_user_code_runs(value: object) -> None:
    calls.clear()  # building the parameters hashed the objects
    clean_value(value)
    safe_repr(value)
    clean_attributes({"k": value})
    assert calls == []


def test_subclass_values_are_kept_without_their_iter() -> None:
    assert clean_value(IteratingList([1, 2, 3])) == (1, 2, 3)
    assert clean_value(IteratingTuple((4, 5))) == (4, 5)
    assert calls == []


def test_big_sets_are_shown_by_their_first_items() -> None:
    text = safe_repr(set(range(1_000_000)))
    assert text.startswith("{")
    assert text.endswith("...}")
    assert len(text) < 100


def test_span_attribute_from_a_hostile_set(obskit_capture) -> None:
    values = {Hostile(), Hostile()}
    with obskit.span("s") as span:
        calls.clear()
        span.set_attribute("values", values)
    assert calls == []
    assert obskit_capture.one("s").attributes["values"] == "{<Hostile>, <Hostile>}"
