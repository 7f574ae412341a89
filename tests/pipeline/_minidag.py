"""A stand-in for a push-based DAG/stream library (streamz-like), for the adapter tests.

`emit(value)` runs the whole graph below a node synchronously, on plain values, with no
idea of obskit: map, filter (library predicate), flat_map and sink nodes, and fan-out
when a node has several downstream nodes. Like the real libraries, an exception raised by
a node leaves `emit()` and the remaining downstream nodes never see that value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


class Stream:
    def __init__(self, kind: str = "source", fn: Callable[[Any], Any] | None = None) -> None:
        self.kind = kind
        self.fn = fn
        self.downstream: list[Stream] = []

    def _then(self, kind: str, fn: Callable[[Any], Any]) -> Stream:
        node = Stream(kind, fn)
        self.downstream.append(node)
        return node

    def map(self, fn: Callable[[Any], Any]) -> Stream:
        return self._then("map", fn)

    def filter(self, predicate: Callable[[Any], bool]) -> Stream:
        return self._then("filter", predicate)

    def flat_map(self, fn: Callable[[Any], Iterable[Any]]) -> Stream:
        return self._then("flat_map", fn)

    def sink(self, fn: Callable[[Any], Any]) -> Stream:
        return self._then("sink", fn)

    def emit(self, value: Any) -> None:
        fn = self.fn
        if fn is None:
            outputs: list[Any] = [value]
        elif self.kind == "map":
            outputs = [fn(value)]
        elif self.kind == "filter":
            outputs = [value] if fn(value) else []
        elif self.kind == "flat_map":
            outputs = list(fn(value))
        else:
            fn(value)
            outputs = []
        for output in outputs:
            for node in self.downstream:
                node.emit(output)
