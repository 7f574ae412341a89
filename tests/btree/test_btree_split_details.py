"""obskit.btree split/merge details: level, type and reason on the event; counts per level."""

from __future__ import annotations

from obskit import btree


def test_split_event_carries_level_type_and_reason(obskit_capture) -> None:
    @btree.put(index="orders_pk")
    def put(key: str) -> None:
        btree.record_split(level=0, reason="overflow")
        btree.record_split(level=2, reason="root")

    put("k")
    events = [(e.name, dict(e.attributes)) for e in obskit_capture.one("btree.put").events]
    assert events == [
        (btree.SPLIT_EVENT, {btree.NODE_TYPE: "leaf", btree.NODE_LEVEL: 0, btree.NODE_REASON: "overflow"}),
        (btree.SPLIT_EVENT, {btree.NODE_TYPE: "internal", btree.NODE_LEVEL: 2, btree.NODE_REASON: "root"}),
    ]  # fmt: skip


def test_split_and_merge_counts_per_level(obskit_capture) -> None:
    for level in (0, 0, 0, 1, 2):
        btree.record_split(level=level, index="orders_pk")
    btree.record_merge(level=1, index="orders_pk", reason="underflow")
    splits = {(p.attributes[btree.NODE_LEVEL], p.attributes[btree.NODE_TYPE]): p.value
              for p in obskit_capture.metrics(btree.NODE_SPLITS)}  # fmt: skip
    assert splits == {(0, "leaf"): 3, (1, "internal"): 1, (2, "internal"): 1}
    (merge,) = obskit_capture.metrics(btree.NODE_MERGES)
    assert merge.attributes == {btree.INDEX: "orders_pk", btree.NODE_TYPE: "internal",
                                btree.NODE_LEVEL: 1}  # the reason stays off the metrics  # fmt: skip
    assert merge.value == 1


def test_levels_on_the_counters_are_bounded(obskit_capture) -> None:
    for level in range(100):
        btree.record_split(level=level, index="deep_pk")
    btree.record_split(level=-3, index="deep_pk")  # nonsense: counted at the leaves
    levels = {
        p.attributes[btree.NODE_LEVEL]: p.value for p in obskit_capture.metrics(btree.NODE_SPLITS)
    }
    assert max(levels) == btree.NODE_LEVEL_LIMIT
    assert levels[btree.NODE_LEVEL_LIMIT] == 100 - btree.NODE_LEVEL_LIMIT
    assert levels[0] == 2
    assert len(levels) == btree.NODE_LEVEL_LIMIT + 1


def test_a_reason_that_is_not_a_string_does_not_raise(obskit_capture) -> None:
    @btree.delete(index="orders_pk")
    def delete(key: str) -> None:
        btree.record_merge(level=0, reason=object())  # type: ignore[arg-type]

    delete("k")
    (event,) = obskit_capture.one("btree.delete").events
    assert event.attributes[btree.NODE_REASON] == "_OTHER"
