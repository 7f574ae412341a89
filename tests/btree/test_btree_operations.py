"""obskit.btree decorators: spans, outcomes, metrics, every kind of callable."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.trace import StatusCode

import obskit
from obskit import btree


class Tree:
    """A dict pretending to be a tree: 3 levels, one page per level."""

    def __init__(self, name: str = "users_pk") -> None:
        self.name = name
        self.data: dict[object, str] = {}

    @btree.put(index_attr="name")
    def put(self, key: object, value: str) -> None:
        btree.current_op().visit(3)
        self.data[key] = value

    @btree.get(index_attr="name")
    def get(self, key: object) -> str | None:
        btree.current_op().visit(3)
        return self.data.get(key)

    @btree.delete(index=lambda self: self.name, outcome=bool)
    def delete(self, key: object) -> bool:
        return self.data.pop(key, None) is not None

    @btree.scan(index_attr="name", key="start")
    def scan(self, start: str) -> Iterator[str]:
        for key in sorted(k for k in self.data if isinstance(k, str)):
            if key >= start:
                yield key

    @btree.get(index="async_pk")
    async def aget(self, key: str) -> str | None:
        await asyncio.sleep(0)
        return self.data.get(key)

    @btree.scan(index="async_pk", key=None)
    async def ascan(self) -> AsyncIterator[str]:
        for key in sorted(self.data):  # type: ignore[type-var]
            await asyncio.sleep(0)
            yield key  # type: ignore[misc]

    @btree.get(index="strict_pk", miss_on=(KeyError,))
    def lookup(self, key: str) -> str:
        return self.data[key]


def test_get_hit_and_miss_are_spans_with_outcome(obskit_capture) -> None:
    tree = Tree()
    tree.put("alice", "1")
    assert tree.get("alice") == "1"
    assert tree.get("bob") is None
    hit, miss = obskit_capture.find("btree.get")
    assert hit.attributes == {
        btree.INDEX: "users_pk",
        btree.OPERATION: "get",
        btree.OUTCOME: "hit",
        btree.PAGES_VISITED: 3,
        btree.KEY_SIZE: 5,
    }
    assert miss.attributes[btree.OUTCOME] == "miss"
    assert btree.KEY not in hit.attributes  # never the key unless opted in
    point = obskit_capture.metric(btree.OPERATION_DURATION, {btree.OPERATION: "get",
                                                              btree.OUTCOME: "miss"})  # fmt: skip
    assert point.count == 1
    assert point.attributes[btree.INDEX] == "users_pk"
    assert obskit_capture.metric(btree.OPERATION_DURATION, {btree.OPERATION: "put"}).count == 1


def test_index_from_instance_differs_per_tree(obskit_capture) -> None:
    Tree("a_pk").put("k", "v")
    Tree("b_pk").put("k", "v")
    assert {s.attributes[btree.INDEX] for s in obskit_capture.find("btree.put")} == {"a_pk", "b_pk"}
    assert obskit_capture.metric(btree.OPERATION_DURATION, {btree.INDEX: "b_pk"}).count == 1


def test_outcome_classifier_and_explicit_marks(obskit_capture) -> None:
    tree = Tree()
    tree.put("k", "v")
    assert tree.delete("k") is True
    assert tree.delete("k") is False
    outcomes = [s.attributes[btree.OUTCOME] for s in obskit_capture.find("btree.delete")]
    assert outcomes == ["hit", "miss"]

    @btree.operation("probe", index="x", key=None)
    def probe() -> int:
        btree.current_op().set_outcome("stale")
        return 1

    assert probe() == 1
    assert obskit_capture.one("btree.probe").attributes[btree.OUTCOME] == "stale"


def test_miss_on_exception_is_a_miss_not_an_error(obskit_capture) -> None:
    tree = Tree()
    with pytest.raises(KeyError):
        tree.lookup("nope")
    span = obskit_capture.one("btree.get")
    assert span.attributes[btree.OUTCOME] == "miss"
    assert span.status.status_code is not StatusCode.ERROR
    assert not span.events


def test_errors_are_recorded_and_reraised_untouched(obskit_capture) -> None:
    boom = RuntimeError("disk on fire")

    class Broken:
        name = "broken_pk"

        @btree.put(index_attr="name")
        def put(self, key: str) -> None:
            raise boom

    with pytest.raises(RuntimeError) as caught:
        Broken().put("k")
    assert caught.value is boom
    span = obskit_capture.one("btree.put")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[btree.OUTCOME] == "error"
    assert span.attributes[btree.ERROR_TYPE] == "RuntimeError"
    point = obskit_capture.metric(btree.OPERATION_DURATION, {btree.INDEX: "broken_pk"})
    assert point.attributes[btree.ERROR_TYPE] == "RuntimeError"
    assert point.attributes[btree.OUTCOME] == "error"


def test_scan_span_covers_the_iteration_and_counts_keys(obskit_capture) -> None:
    tree = Tree()
    for key in "abcd":
        tree.data[key] = key
    with obskit.span("report"):
        for key in tree.scan("b"):
            tree.get(key)  # runs inside the scan's iteration, but in the caller's context
    obskit_capture.assert_tree(
        """
        report
          btree.scan
          btree.get
          btree.get
          btree.get
        """
    )
    scan = obskit_capture.one("btree.scan")
    assert scan.attributes[btree.SCAN_RETURNED_KEYS] == 3
    assert scan.attributes[btree.KEY_SIZE] == 1
    assert scan.end_time >= max(s.end_time for s in obskit_capture.find("btree.get"))


def test_scan_abandoned_early_ends_its_span(obskit_capture) -> None:
    tree = Tree()
    tree.data.update({"a": "1", "b": "2", "c": "3"})
    for _ in tree.scan("a"):
        break
    assert obskit_capture.one("btree.scan").attributes[btree.SCAN_RETURNED_KEYS] == 1
    assert obskit.current_span().is_recording is False  # nothing left attached


def test_async_operations(obskit_capture) -> None:
    tree = Tree()
    tree.data.update({"a": "1", "b": "2"})

    async def main() -> list[str]:
        assert await tree.aget("a") == "1"
        return [key async for key in tree.ascan()]

    assert asyncio.run(main()) == ["a", "b"]
    assert obskit_capture.one("btree.get").attributes[btree.INDEX] == "async_pk"
    assert obskit_capture.one("btree.scan").attributes[btree.SCAN_RETURNED_KEYS] == 2
    assert inspect.iscoroutinefunction(Tree.aget)
    assert inspect.isasyncgenfunction(Tree.ascan)
    assert inspect.isgeneratorfunction(Tree.scan)


def test_classmethod_staticmethod_and_bare_form(obskit_capture) -> None:
    class Store:
        index = "store_pk"

        @btree.get(index_attr="index")
        @classmethod
        def fetch(cls, key: str) -> str:
            return key

        @btree.put
        @staticmethod
        def write(key: str) -> None:
            pass

    assert Store.fetch("k") == "k"
    Store.write("k")
    assert obskit_capture.one("btree.get").attributes[btree.INDEX] == "store_pk"
    assert obskit_capture.one("btree.put").attributes[btree.INDEX] == "default"
    assert Store.fetch.__name__ == "fetch"


def test_key_size_and_opt_in_key(obskit_capture) -> None:
    @btree.get(index="k_pk", record_key=True)
    def get(key: object) -> None:
        return None

    get("é")
    get(key=(1, b"ab"))
    get(object())
    unicode, composite, opaque = obskit_capture.find("btree.get")
    assert unicode.attributes[btree.KEY_SIZE] == 2
    assert unicode.attributes[btree.KEY] == "é"
    assert composite.attributes[btree.KEY_SIZE] == 3
    assert btree.KEY_SIZE not in opaque.attributes  # unknown size: left out, no error
    assert opaque.attributes[btree.KEY] == "<object>"  # safe repr, never the object's __repr__


def test_structure_changes_add_events_and_count(obskit_capture) -> None:
    @btree.put(index="orders_pk")
    def put(key: str) -> None:
        btree.record_split(level=0)
        btree.record_split(level=1)
        btree.record_page_read(7, source="disk")
        btree.record_page_read(8)
        btree.record_page_write(9)

    @btree.delete(index="orders_pk")
    def delete(key: str) -> None:
        btree.record_merge(level=0)

    put("k")
    delete("k")
    span = obskit_capture.one("btree.put")
    assert [(e.name, dict(e.attributes)) for e in span.events] == [
        (btree.SPLIT_EVENT, {btree.NODE_TYPE: "leaf", btree.NODE_LEVEL: 0}),
        (btree.SPLIT_EVENT, {btree.NODE_TYPE: "internal", btree.NODE_LEVEL: 1}),
        (btree.PAGE_READ_EVENT, {btree.PAGE_ID: 7, btree.PAGE_SOURCE: "disk"}),
        (btree.PAGE_READ_EVENT, {btree.PAGE_ID: 8, btree.PAGE_SOURCE: "cache"}),
        (btree.PAGE_WRITE_EVENT, {btree.PAGE_ID: 9}),
    ]
    assert obskit_capture.one("btree.delete").events[0].name == btree.MERGE_EVENT
    index = {btree.INDEX: "orders_pk"}
    assert obskit_capture.metric(btree.NODE_SPLITS, index, **{btree.NODE_TYPE: "leaf"}).value == 1
    assert obskit_capture.metric(btree.NODE_SPLITS, {btree.NODE_TYPE: "internal"}).value == 1
    assert obskit_capture.metric(btree.NODE_MERGES, index).value == 1
    assert obskit_capture.metric(btree.PAGE_READS, {btree.PAGE_SOURCE: "disk"}).value == 1
    assert obskit_capture.metric(btree.PAGE_READS, {btree.PAGE_SOURCE: "cache"}).value == 1
    assert obskit_capture.metric(btree.PAGE_WRITES, index).value == 1


def test_structure_changes_outside_an_operation(obskit_capture) -> None:
    btree.record_split(index="bg_pk")  # e.g. a background rebalancer
    btree.record_page_read(3, source="disk", index="bg_pk")
    btree.current_op().visit(5)  # no operation: a shared no-op, never an error
    assert obskit_capture.metric(btree.NODE_SPLITS, {btree.INDEX: "bg_pk"}).value == 1
    assert obskit_capture.metric(btree.PAGE_READS, {btree.INDEX: "bg_pk"}).value == 1
    assert obskit_capture.spans == []


def test_sampled_out_operations_are_still_counted(obskit_capture) -> None:
    @btree.get(index="sampled_pk", sample_ratio=0.0)
    def get(key: str) -> str:
        btree.current_op().visit(2)
        return key

    for i in range(5):
        get(str(i))
    assert obskit_capture.find("btree.get") == []
    assert obskit_capture.metric(btree.OPERATION_DURATION, {btree.INDEX: "sampled_pk"}).count == 5


def test_without_telemetry_the_call_passes_through() -> None:
    tree = Tree()
    tree.put("k", "v")
    assert tree.get("k") == "v"
    assert list(tree.scan("a")) == ["k"]
    assert Tree.get.__obskit_span_name__ == "btree.get"  # type: ignore[attr-defined]
