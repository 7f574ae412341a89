"""A small, real B+tree (configurable order; splits and merges really happen), instrumented.

Nodes double as "pages": a tiny LRU page cache decides whether a visit is a cache hit or
a (pretend) disk read, so the page-read metrics have something to say.
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Iterator
from itertools import count
from typing import Any

from obskit import btree

#: Fraction of point operations traced (every one is still counted in the metrics).
SAMPLE_RATIO = 0.0005
_page_ids = count(1)


class Leaf:
    __slots__ = ("keys", "next", "page_id", "values")

    def __init__(self) -> None:
        self.keys: list[Any] = []
        self.values: list[Any] = []
        self.next: Leaf | None = None
        self.page_id = next(_page_ids)


class Internal:
    __slots__ = ("children", "keys", "page_id")

    def __init__(self) -> None:
        self.keys: list[Any] = []
        self.children: list[Leaf | Internal] = []
        self.page_id = next(_page_ids)


class BPlusTree:
    """A B+tree of `order` (max children per node); leaves are linked for scans."""

    def __init__(self, name: str, order: int = 8, cached_pages: int = 64) -> None:
        if order < 4:
            raise ValueError("order must be at least 4")
        self.name = name
        self.order = order
        self.max_keys = order - 1
        self.min_keys = (order - 1) // 2
        self.root: Leaf | Internal = Leaf()
        self.depth = 1
        self.nodes = 1
        self.size = 0
        self._cache: OrderedDict[int, None] = OrderedDict()
        self._cache_size = cached_pages
        btree.register_index(
            self, name=name, depth=lambda t: t.depth, nodes=lambda t: t.nodes,
            keys=lambda t: t.size,
        )  # fmt: skip

    # -- operations --------------------------------------------------------------------
    @btree.get(index_attr="name", sample_ratio=SAMPLE_RATIO)
    def get(self, key: Any) -> Any:
        leaf = self._find_leaf(key)
        pos = bisect.bisect_left(leaf.keys, key)
        if pos < len(leaf.keys) and leaf.keys[pos] == key:
            return leaf.values[pos]
        return None  # recorded as a miss

    @btree.put(index_attr="name", sample_ratio=SAMPLE_RATIO)
    def put(self, key: Any, value: Any) -> None:
        btree.current_op().visit(self.depth)
        split = self._insert(self.root, key, value, self.depth - 1)
        if split is not None:  # the root split: the tree grows by one level
            separator, sibling = split
            root = Internal()
            root.keys = [separator]
            root.children = [self.root, sibling]
            self.root = root
            self.depth += 1
            self.nodes += 1  # (the old root's split was recorded by _split_*)

    @btree.delete(index_attr="name", outcome=bool, sample_ratio=SAMPLE_RATIO)
    def delete(self, key: Any) -> bool:
        btree.current_op().visit(self.depth)
        found = self._delete(self.root, key, self.depth - 1)
        if isinstance(self.root, Internal) and not self.root.keys:
            self.root = self.root.children[0]  # the root emptied: the tree shrinks
            self.depth -= 1
            self.nodes -= 1
        return found

    @btree.scan(index_attr="name", key="start")
    def scan(self, start: Any, end: Any = None) -> Iterator[tuple[Any, Any]]:
        leaf: Leaf | None = self._find_leaf(start)
        pos = bisect.bisect_left(leaf.keys, start)  # type: ignore[union-attr]
        while leaf is not None:
            for i in range(pos, len(leaf.keys)):
                if end is not None and leaf.keys[i] >= end:
                    return
                yield leaf.keys[i], leaf.values[i]
            leaf, pos = leaf.next, 0
            if leaf is not None:
                self._touch(leaf)

    def __len__(self) -> int:
        return self.size

    # -- internals -----------------------------------------------------------------------
    def _touch(self, node: Leaf | Internal) -> None:
        """Visit a page: counted on the operation, served from the LRU cache or "disk"."""
        btree.current_op().visit()
        cache = self._cache
        if node.page_id in cache:
            cache.move_to_end(node.page_id)
            btree.record_page_read(node.page_id, source="cache")
            return
        btree.record_page_read(node.page_id, source="disk")
        cache[node.page_id] = None
        if len(cache) > self._cache_size:
            cache.popitem(last=False)

    def _find_leaf(self, key: Any) -> Leaf:
        node = self.root
        self._touch(node)
        while isinstance(node, Internal):
            node = node.children[bisect.bisect_right(node.keys, key)]
            self._touch(node)
        return node

    def _insert(self, node: Leaf | Internal, key: Any, value: Any, level: int) -> Any:
        if isinstance(node, Leaf):
            pos = bisect.bisect_left(node.keys, key)
            if pos < len(node.keys) and node.keys[pos] == key:
                node.values[pos] = value
                return None
            node.keys.insert(pos, key)
            node.values.insert(pos, value)
            self.size += 1
            return self._split_leaf(node) if len(node.keys) > self.max_keys else None
        i = bisect.bisect_right(node.keys, key)
        split = self._insert(node.children[i], key, value, level - 1)
        if split is None:
            return None
        separator, sibling = split
        node.keys.insert(i, separator)
        node.children.insert(i + 1, sibling)
        return self._split_internal(node, level) if len(node.keys) > self.max_keys else None

    def _split_leaf(self, leaf: Leaf) -> tuple[Any, Leaf]:
        mid = len(leaf.keys) // 2
        sibling = Leaf()
        sibling.keys, leaf.keys = leaf.keys[mid:], leaf.keys[:mid]
        sibling.values, leaf.values = leaf.values[mid:], leaf.values[:mid]
        sibling.next, leaf.next = leaf.next, sibling
        self.nodes += 1
        btree.record_split(level=0, reason="root" if leaf is self.root else "overflow")
        btree.record_page_write(sibling.page_id)
        return sibling.keys[0], sibling

    def _split_internal(self, node: Internal, level: int) -> tuple[Any, Internal]:
        mid = len(node.keys) // 2
        sibling = Internal()
        separator = node.keys[mid]
        sibling.keys, node.keys = node.keys[mid + 1 :], node.keys[:mid]
        sibling.children, node.children = node.children[mid + 1 :], node.children[: mid + 1]
        self.nodes += 1
        btree.record_split(level=level, reason="root" if node is self.root else "overflow")
        btree.record_page_write(sibling.page_id)
        return separator, sibling

    def _delete(self, node: Leaf | Internal, key: Any, level: int) -> bool:
        if isinstance(node, Leaf):
            pos = bisect.bisect_left(node.keys, key)
            if pos < len(node.keys) and node.keys[pos] == key:
                del node.keys[pos]
                del node.values[pos]
                self.size -= 1
                return True
            return False
        i = bisect.bisect_right(node.keys, key)
        child = node.children[i]
        found = self._delete(child, key, level - 1)
        if found and len(child.keys) < self.min_keys:
            self._rebalance(node, i, level - 1)
        return found

    def _rebalance(self, parent: Internal, i: int, level: int) -> None:
        """Refill an underfull child from a sibling, or merge it into one."""
        child = parent.children[i]
        left = parent.children[i - 1] if i > 0 else None
        right = parent.children[i + 1] if i + 1 < len(parent.children) else None
        if isinstance(child, Leaf):
            if left is not None and len(left.keys) > self.min_keys:
                child.keys.insert(0, left.keys.pop())
                child.values.insert(0, left.values.pop())  # type: ignore[union-attr]
                parent.keys[i - 1] = child.keys[0]
            elif right is not None and len(right.keys) > self.min_keys:
                child.keys.append(right.keys.pop(0))
                child.values.append(right.values.pop(0))  # type: ignore[union-attr]
                parent.keys[i] = right.keys[0]
            else:
                self._merge_leaves(parent, i - 1 if left is not None else i)
            return
        if left is not None and len(left.keys) > self.min_keys:
            child.keys.insert(0, parent.keys[i - 1])
            parent.keys[i - 1] = left.keys.pop()
            child.children.insert(0, left.children.pop())  # type: ignore[union-attr]
        elif right is not None and len(right.keys) > self.min_keys:
            child.keys.append(parent.keys[i])
            parent.keys[i] = right.keys.pop(0)
            child.children.append(right.children.pop(0))  # type: ignore[union-attr]
        else:
            j = i - 1 if left is not None else i  # merge children j and j+1
            into, gone = parent.children[j], parent.children[j + 1]
            into.keys += [parent.keys[j], *gone.keys]
            into.children += gone.children  # type: ignore[union-attr]
            del parent.keys[j]
            del parent.children[j + 1]
            self.nodes -= 1
            btree.record_merge(level=level, reason="underflow")

    def _merge_leaves(self, parent: Internal, j: int) -> None:
        into, gone = parent.children[j], parent.children[j + 1]
        into.keys += gone.keys
        into.values += gone.values  # type: ignore[union-attr]
        into.next = gone.next  # type: ignore[union-attr]
        del parent.keys[j]
        del parent.children[j + 1]
        self.nodes -= 1
        btree.record_merge(level=0, reason="underflow")
        btree.record_page_write(into.page_id)

    def check(self) -> None:
        """Assert the B+tree invariants (sorted keys, fill factors, uniform depth)."""
        keys = [k for k, _ in self._walk_leaves()]
        assert keys == sorted(keys), "leaf chain out of order"
        assert len(keys) == self.size, "size mismatch"
        assert self._height(self.root, is_root=True) == self.depth, "depth mismatch"

    def _walk_leaves(self) -> Iterator[tuple[Any, Any]]:
        node = self.root
        while isinstance(node, Internal):
            node = node.children[0]
        leaf: Leaf | None = node
        while leaf is not None:
            yield from zip(leaf.keys, leaf.values, strict=True)
            leaf = leaf.next

    def _height(self, node: Leaf | Internal, is_root: bool = False) -> int:
        assert len(node.keys) <= self.max_keys, "overfull node"
        assert is_root or len(node.keys) >= self.min_keys, "underfull node"
        if isinstance(node, Leaf):
            return 1
        heights = {self._height(child) for child in node.children}
        assert len(heights) == 1, "leaves at different depths"
        assert len(node.children) == len(node.keys) + 1, "children/keys mismatch"
        return heights.pop() + 1
