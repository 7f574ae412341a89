"""What obskit.btree keeps for collection: its hot instruments and the registered trees.

The operation, page and structure instruments are hot ones (obskit._domain.operation:
a bound record is ~0.2 us, an SDK one 5-10 us), made once here and read by the metric
reader at collection. The tree-shape gauges (depth, node count, key count) are read from
registered trees: one callback per instrument, registered once at import, walks the registrations at
collection time. A registration holds its tree through a weak reference, so a tree that is
garbage collected simply stops reporting and its registration is dropped at the next
collection. A tree that cannot be weakly referenced (a `dict` subclass with `__slots__`,
a C extension type) is held strongly until `unregister()`, or until a weakly referenced
`owner=` is collected. Pruning happens on the collection thread, never in a weakref
callback (those can run inside GC while another lock is held).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from obskit._base.log import log_once
from obskit._domain.operation import hot
from obskit._safety.clean import clean_text
from obskit.btree import _names as names

__all__ = [
    "DURATION",
    "NODE_MERGES",
    "NODE_SPLITS",
    "PAGE_READS",
    "PAGE_WRITES",
    "IndexRegistration",
    "register_index",
]

DURATION = hot(names.CATALOGUE, names.OPERATION_DURATION)
PAGE_READS = hot(names.CATALOGUE, names.PAGE_READS)
PAGE_WRITES = hot(names.CATALOGUE, names.PAGE_WRITES)
NODE_SPLITS = hot(names.CATALOGUE, names.NODE_SPLITS)
NODE_MERGES = hot(names.CATALOGUE, names.NODE_MERGES)

Reader = Callable[[Any], "int | float | None"]
_FIELDS = ("depth", "nodes", "keys")


class IndexRegistration:
    """A tree registered for the shape gauges; `unregister()` stops its reporting.

    Examples:
        >>> from obskit import btree
        >>> class Tree:
        ...     height = 3
        >>> tree = Tree()
        >>> registration = btree.register_index(tree, name="users_pk", depth=lambda t: t.height)
        >>> registration.alive
        True
        >>> registration.unregister()
    """

    __slots__ = ("_held", "_owner", "_tree", "attributes", "name", "readers")

    def __init__(
        self, tree: object, name: str, readers: dict[str, Reader], owner: object = None
    ) -> None:
        # _tree() gives the tree while it should report; _held keeps one that cannot be
        # weakly referenced alive (until unregister() or its owner is collected).
        self._held: object = None
        self._owner: Callable[[], object] | None = None
        if owner is not None:
            try:
                self._owner = weakref.ref(owner)
            except TypeError:
                raise TypeError(
                    f"register_index owner= must support weak references; "
                    f"{type(owner).__name__} does not"
                ) from None
        try:
            self._tree: Callable[[], object] = weakref.ref(tree)
        except TypeError:
            self._held = tree
            self._tree = self._strong
        self.name = name
        self.attributes = {names.INDEX: name}
        self.readers = readers

    def _strong(self) -> object:
        """The strongly held tree, while its owner (if any) lives."""
        owner = self._owner
        if owner is not None and owner() is None:
            self._held = None  # the owner is gone: let the tree go too
        return self._held

    @property
    def strong(self) -> bool:
        """True when the tree is held strongly (it cannot be weakly referenced)."""
        return self._tree == self._strong

    def tree(self) -> object:
        """The registered tree, or None once it (or its owner) is gone."""
        tree = self._tree()
        owner = self._owner
        return None if owner is not None and owner() is None else tree

    @property
    def alive(self) -> bool:
        """Whether the tree still exists and the registration is active."""
        return self.tree() is not None and self in _registrations

    def unregister(self) -> None:
        """Stop reporting this tree (idempotent); a strongly held tree is released."""
        with _lock:
            if self in _registrations:
                _registrations.remove(self)
        self._held = None

    def observe(self, field: str) -> Observation | None:
        tree = self.tree()
        reader = self.readers.get(field)
        if tree is None or reader is None:
            return None
        try:
            value = reader(tree)
        except Exception:
            log_once(f"btree-gauge:{self.name}", "reading %s of index %r failed", field, self.name)
            return None
        if value is None:  # the reader chose to skip this collection (e.g. tree busy)
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            log_once(f"btree-gauge-type:{self.name}", "%s of index %r is not a number", field,
                     self.name)  # fmt: skip
            return None
        return Observation(value, self.attributes)

    def __repr__(self) -> str:
        return f"<btree.IndexRegistration {self.name!r} alive={self.alive}>"


_registrations: list[IndexRegistration] = []
_lock = threading.RLock()  # re-entrant: a finalizer may unregister a tree while one registers


def register_index(
    tree: object,
    name: str,
    *,
    depth: Reader | None = None,
    nodes: Reader | None = None,
    keys: Reader | None = None,
    owner: object = None,
) -> IndexRegistration:
    """Report `tree`'s depth, node count and key count as gauges labelled `btree.index=name`.

    Each reader is called with the tree at collection time (a Prometheus scrape, an
    OTLP export), on the exporter's thread while the tree may be changing: it must be
    cheap and must not block (read counters the tree keeps, or try its lock without
    waiting and return None to skip this collection). The tree is held weakly: once it
    is garbage collected, its series stop. A tree that cannot be weakly referenced (a
    C extension type, a `dict` subclass with `__slots__`) is held strongly until
    `unregister()`, or until `owner` (an object that can be, e.g. the engine holding the
    tree) is garbage collected.

    Examples:
        >>> from obskit import btree
        >>> class Tree:
        ...     def __init__(self):
        ...         self.height, self.size = 1, 0
        >>> tree = Tree()
        >>> r = btree.register_index(tree, name="orders_pk", depth=lambda t: t.height,
        ...                          keys=lambda t: t.size)
        >>> class Pages(dict):          # no __weakref__: held strongly until unregister()
        ...     __slots__ = ()
        >>> pages = btree.register_index(Pages(), name="pages", keys=len)
        >>> pages.strong, pages.alive
        (True, True)
        >>> pages.unregister()
    """
    if type(name) is not str or not name:
        raise TypeError(f"register_index needs a non-empty str name, got {name!r}")
    readers = {"depth": depth, "nodes": nodes, "keys": keys}
    for field, reader in readers.items():
        if reader is not None and not callable(reader):
            raise TypeError(f"register_index {field}= must be callable(tree), got {reader!r}")
    if all(reader is None for reader in readers.values()):
        raise ValueError("register_index needs at least one of depth=, nodes=, keys=")
    registration = IndexRegistration(
        tree, clean_text(name, 256), {k: v for k, v in readers.items() if v is not None}, owner
    )
    with _lock:
        _registrations.append(registration)
    return registration


def _observer(field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> list[Observation]:
        with _lock:
            current = list(_registrations)
        observations = []
        dead = []
        for registration in current:
            if registration.tree() is None:
                dead.append(registration)
                continue
            observation = registration.observe(field)
            if observation is not None:
                observations.append(observation)
        if dead:
            with _lock:
                for registration in dead:
                    if registration in _registrations:
                        _registrations.remove(registration)
        return observations

    return observe


for _field, _metric in zip(_FIELDS, (names.DEPTH, names.NODE_COUNT, names.KEY_COUNT), strict=True):
    names.CATALOGUE.instrument(_metric).add_callback(_observer(_field))
