"""What hot instruments are made of: per-thread cells retired with their thread, and the
bounded set of bound handles per instrument (beyond it, records go to an overflow set).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from obskit import _routing as _providers
from obskit._metrics import cardinality as _cardinality
from obskit._safety.clean import clean_attributes

_OVERFLOW = {_cardinality.OVERFLOW_ATTRIBUTE: True}
# Attribute sets per instrument: beyond, records go to the overflow set (configure()).
_limit = [_cardinality.DEFAULT_LIMIT]


def set_cardinality_limit(limit: int) -> None:
    """Attribute sets a hot instrument binds before binding the overflow set."""
    _limit[0] = limit


class _ThreadOwner:
    """Lives in a thread-local: collected when its thread ends, which retires the cell."""

    __slots__ = ("__weakref__",)


def _on_thread_end(local: threading.local, retire: Callable[[], None]) -> None:
    owner = _ThreadOwner()
    local.owner = owner
    weakref.finalize(owner, retire).atexit = False


def _remove_identical(cells: list[Any], cell: object) -> None:
    # Not list.remove(): it compares by value, and two threads' [total, adds] cells are
    # often equal -- removing the wrong one loses or doubles a thread's count.
    for index, candidate in enumerate(cells):
        if candidate is cell:
            del cells[index]
            return


def _key(attributes: Mapping[str, Any]) -> frozenset[tuple[str, Any]]:
    return frozenset(attributes.items())


#: A hot exemplar: (value, time_unix_nano, span context) of a record made while a sampled
#: span was current.
HotExemplar = tuple[float, int, Any]


def _no_span() -> None:
    return None  # a dead weak reference's answer: matches no span


class _HistogramCell:
    __slots__ = (
        "counts", "current", "current_sampled", "exemplars", "max", "min", "sampled", "seen",
        "sum",
    )  # fmt: skip

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.sum: float = 0
        self.min = float("inf")
        self.max = float("-inf")
        # The last exemplar per bucket, written only by the owning thread.
        self.exemplars: list[HotExemplar | None] = [None] * buckets
        # What identifies the last record's span without keeping it alive, and its
        # context if sampled (else None), so a run of records inside one span reads its
        # sampling flag once: a weak reference to the last current span, and the
        # SpanContext of the last span passed in.
        self.current: Any = _no_span
        self.current_sampled: Any = None
        self.seen: object = None
        self.sampled: Any = None


def newest_exemplars(cells: list[_HistogramCell], buckets: int) -> list[HotExemplar | None]:
    """Per bucket, the most recent exemplar over `cells` (None where none was kept)."""
    newest: list[HotExemplar | None] = [None] * buckets
    for cell in cells:
        for index, exemplar in enumerate(list(cell.exemplars)):
            if exemplar is not None:
                current = newest[index]
                if current is None or exemplar[1] > current[1]:
                    newest[index] = exemplar
    return newest


class _Bindings:
    """Bound handles of one instrument, by attribute set (bounded in number)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._bound: dict[frozenset[tuple[str, Any]], Any] = {}
        # Re-entrant: making a handle allocates, and a finalizer or signal handler run
        # there may bind this instrument too (docs/architecture.md, "Locks and re-entry").
        self._lock = threading.RLock()

    def get(self, attributes: Mapping[str, object] | None, make: Any) -> Any:
        clean = clean_attributes(attributes, source="metric")
        key = _key(clean)
        found = self._bound.get(key)
        if found is None:
            with self._lock:
                found = self._bound.get(key)
                if found is None:
                    if len(self._bound) >= _limit[0]:
                        # Counted per bind: an unbound add()/record() is one measurement.
                        _cardinality.count_overflow(self._name)
                        clean, key = dict(_OVERFLOW), _key(_OVERFLOW)
                        found = self._bound.get(key)
                    if found is None:
                        # setdefault: a binding made meanwhile by re-entrant code wins.
                        found = self._bound.setdefault(key, make(clean))
            # A new binding (rare): follow a provider the host set meanwhile. Outside the
            # lock, which the provider-change listeners take.
            _providers.notice_host()
        return found

    def all(self) -> list[Any]:
        with self._lock:
            return list(self._bound.values())
