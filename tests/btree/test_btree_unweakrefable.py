"""register_index on trees that cannot be weakly referenced, and readers of a busy tree."""

from __future__ import annotations

import gc
import threading

from obskit import btree


class SlottedPages(dict):  # type: ignore[type-arg]
    """A tree stored in a C-implemented type: a dict subclass without __weakref__."""

    __slots__ = ("depth",)


def _series(capture, metric: str, name: str) -> list:
    return [p for p in capture.metrics(metric) if p.attributes[btree.INDEX] == name]


def test_an_unweakrefable_tree_is_held_until_unregister(obskit_capture) -> None:
    tree = SlottedPages(a=1, b=2)
    tree.depth = 2
    registration = btree.register_index(tree, name="slotted_pk", depth=lambda t: t.depth,
                                        keys=len)  # fmt: skip
    assert registration.strong
    del tree
    gc.collect()
    assert registration.alive  # held strongly: still reporting
    assert obskit_capture.metric(btree.KEY_COUNT, {btree.INDEX: "slotted_pk"}).value == 2
    registration.unregister()
    assert not registration.alive
    assert registration.tree() is None  # released
    assert _series(obskit_capture, btree.DEPTH, "slotted_pk") == []


def test_a_builtin_tree_goes_with_its_weakly_referenced_owner(obskit_capture) -> None:
    class Engine:
        def __init__(self) -> None:
            self.index: list[int] = [1, 2, 3]  # a list: not weakly referenceable

    engine = Engine()
    registration = btree.register_index(engine.index, name="owned_pk", keys=len, owner=engine)
    assert registration.strong
    assert obskit_capture.metric(btree.KEY_COUNT, {btree.INDEX: "owned_pk"}).value == 3
    engine.index.append(4)
    assert obskit_capture.metric(btree.KEY_COUNT, {btree.INDEX: "owned_pk"}).value == 4
    del engine
    gc.collect()
    assert not registration.alive
    assert _series(obskit_capture, btree.KEY_COUNT, "owned_pk") == []
    assert registration not in btree_registrations()


def btree_registrations() -> list[object]:
    from obskit.btree import _registry as _btree_gauges

    return list(_btree_gauges._registrations)


def test_a_reader_of_a_busy_tree_skips_instead_of_blocking(obskit_capture, caplog) -> None:
    class LockedTree:
        def __init__(self) -> None:
            self.lock = threading.Lock()
            self.keys = 10

    def keys(tree: LockedTree) -> int | None:
        if not tree.lock.acquire(blocking=False):
            return None  # being rebalanced: skip this collection, never wait
        try:
            return tree.keys
        finally:
            tree.lock.release()

    tree = LockedTree()
    btree.register_index(tree, name="locked_pk", keys=keys)
    assert obskit_capture.metric(btree.KEY_COUNT, {btree.INDEX: "locked_pk"}).value == 10
    with tree.lock:
        assert _series(obskit_capture, btree.KEY_COUNT, "locked_pk") == []
    assert not [r for r in caplog.records if "locked_pk" in r.getMessage()]
    tree.keys = 11
    assert obskit_capture.metric(btree.KEY_COUNT, {btree.INDEX: "locked_pk"}).value == 11
