"""Real usages checked by `mypy --strict tests/typing`: decorated functions keep their types."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any

from typing_extensions import assert_type

import obskit


@obskit.traced
def double(n: int) -> int:
    return n * 2


@obskit.traced("fetch", record_args=["key"])
async def fetch(key: str) -> str:
    return key


@obskit.traced
def numbers(n: int) -> Iterator[int]:
    yield from range(n)


@obskit.traced("stream")
async def stream(n: int) -> AsyncIterator[int]:
    for i in range(n):
        yield i


class Store:
    @obskit.traced
    def get(self, key: str) -> bytes:
        return key.encode()

    @obskit.traced
    @classmethod
    def open(cls, path: str) -> Store:
        return cls()


async def use_async() -> None:
    async with obskit.span("async-block") as handle:
        assert_type(handle, obskit.SpanHandle)


def use() -> None:
    result: int = double(2)
    name: str = asyncio.run(fetch("k"))
    total: int = sum(numbers(3))
    value: bytes = Store.open("/tmp").get("k")
    with obskit.span("block", attributes={"a": 1}) as handle:
        handle.set_attribute("b", 2)
    counter = obskit.counter("typing.calls", unit="{call}")
    counter.add(1, {"k": "v"})
    print(result, name, total, value)
    assert_type(double(2), int)
    coroutine = fetch("k")
    _: Coroutine[Any, Any, str] = assert_type(coroutine, Coroutine[Any, Any, str])
    coroutine.close()
    assert_type(numbers(3), Iterator[int])
    assert_type(stream(3), AsyncIterator[int])
    assert_type(Store().get("k"), bytes)


def keep_counts(match: obskit.ScrubMatch) -> object:
    return match.value if match.key.endswith("_count") else None


def configure_scrubbing() -> None:
    options = obskit.ScrubbingOptions(extra_patterns=["tenant_key"], callback=keep_counts)
    obskit.configure(exporters=["memory"], scrubbing=options)
    obskit.configure(exporters=["memory"], scrubbing=False)
