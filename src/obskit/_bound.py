"""Bound hot handles: one attribute set fixed, a record is a per-thread add (no lock).

Split from obskit._hot (the instruments that hand them out and export what they hold).
"""

from __future__ import annotations

import threading
import time
import weakref
from bisect import bisect_left
from typing import Any

from opentelemetry.sdk.metrics import Exemplar

from obskit import _providers, _scrub
from obskit._cells import (
    HotExemplar,
    _HistogramCell,
    _no_span,
    _on_thread_end,
    _remove_identical,
    newest_exemplars,
)
from obskit._context import SPAN_KEY, _get_context
from obskit._log import log_once

__all__ = ["BoundCounter", "BoundHistogram"]


_CURRENT: Any = object()  # record(): take the exemplar from the current span


class BoundCounter:
    """A counter with its attributes fixed: `add()` is a per-thread add (~0.2 us).

    Examples:
        >>> from obskit import hot_counter
        >>> hits = hot_counter("pagecache.hits", unit="{hit}").bind({"cache.name": "pages"})
        >>> hits.add()
        >>> hits.value
        1
    """

    __slots__ = ("_adds_base", "_base", "_cells", "_local", "_lock", "_monotonic", "attributes")

    def __init__(self, attributes: dict[str, Any], monotonic: bool) -> None:
        self.attributes = attributes
        self._monotonic = monotonic
        self._base: int | float = 0  # the total when the current meter provider came in
        self._adds_base = 0  # adds made before the current meter provider came in
        self._local = threading.local()
        # A cell per thread: [total, number of adds] (the adds tell a series the current
        # provider has seen, even one whose up-downs cancel out, from an untouched one).
        self._cells: list[list[int | float]] = []
        # Re-entrant: a finalizer or signal handler run while this thread adds its first
        # cell may record into this handle too (it gets its own cell; the totals stay
        # exact). docs/architecture.md, "Locks and re-entry".
        self._lock = threading.RLock()

    def add(self, amount: int | float = 1) -> None:
        """Add `amount` (negative amounts are ignored on a monotonic counter)."""
        try:
            cell = self._local.cell
        except AttributeError:
            cell = self._new_cell()
        try:
            if (amount < 0 and self._monotonic) or amount != amount:  # negative / NaN
                return
            cell[0] += amount
            cell[1] += 1
        except Exception:
            log_once("hot-add", "adding %r to a counter failed", amount, exc_info=True)

    def _new_cell(self) -> list[int | float]:
        cell: list[int | float] = [0, 0]
        with self._lock:
            if not self._cells:
                self._cells.append([0, 0])  # cells[0]: what threads that ended had added
            self._cells.append(cell)
        self._local.cell = cell
        _on_thread_end(self._local, lambda: self._retire(cell))
        _notice_host()  # a thread's first record here: has the host set a provider?
        return cell

    def _retire(self, cell: list[int | float]) -> None:
        # A thread per request must not grow the handle (and every scrape) forever.
        # Cells are lists, so `remove()` would match by value and could drop another
        # thread's live cell that happens to hold the same count: remove by identity.
        with self._lock:
            self._cells[0][0] += cell[0]
            self._cells[0][1] += cell[1]
            _remove_identical(self._cells, cell)

    def _total(self, field: int = 0) -> int | float:
        # Summed under the lock: a retire between copying and summing would count twice.
        with self._lock:
            return sum(cell[field] for cell in self._cells)

    @property
    def touched(self) -> bool:
        """Whether anything was added since the current meter provider was installed."""
        return self._total(1) > self._adds_base

    @property
    def value(self) -> int | float:
        """The total over all threads since the current meter provider was installed."""
        return self._total() - self._base

    def _rebase(self) -> None:
        self._base = self._total()
        self._adds_base = int(self._total(1))


class BoundHistogram:
    """A histogram with its attributes fixed: `record()` is a bisect and a few adds.

    Examples:
        >>> from obskit import hot_histogram
        >>> latency = hot_histogram("pagecache.lookup.duration").bind({"cache.name": "pages"})
        >>> latency.record(0.0004)
        >>> latency.count
        1
    """

    __slots__ = ("_base", "_bounds", "_cells", "_exported", "_local", "_lock", "attributes")

    def __init__(self, attributes: dict[str, Any], bounds: tuple[float, ...]) -> None:
        self.attributes = attributes
        # The attributes as exported, and the scrubbing generation they were derived
        # under: rules installed after binding apply at the next collection, as they do
        # to hot counters (whose observations are scrubbed at each collection).
        self._exported: tuple[int, Any] = (-1, attributes)
        self._base: tuple[list[int], float] = ([0] * (len(bounds) + 1), 0)
        self._bounds = bounds
        self._local = threading.local()
        self._cells: list[_HistogramCell] = []
        self._lock = threading.RLock()  # re-entrant: as BoundCounter._lock

    def record(self, value: int | float, span: Any = _CURRENT) -> None:
        """Record one value (bucket i holds values in (bounds[i-1], bounds[i]], as in OTel).

        Inside a sampled span, the value also becomes its bucket's exemplar (with the
        span's trace and span ids), replacing the one this thread kept before. `span`
        names that span when the value is recorded after it left the context (a domain
        operation's duration, recorded as it ends; None: no exemplar); by default it is
        the current one.
        """
        try:
            cell = self._local.cell
        except AttributeError:
            cell = self._new_cell()
        try:
            if value != value:  # NaN would poison the sum for good
                return
            index = bisect_left(self._bounds, value)
            cell.counts[index] += 1
            cell.sum += value
            if value < cell.min:
                cell.min = value
            if value > cell.max:
                cell.max = value
            # A cell keeps what identifies the last span, never the span itself (that
            # would keep the last span of every binding alive), and that span's context
            # if sampled (else None), so a run of records in one span reads its flag once.
            if span is _CURRENT:
                span = _get_context().get(SPAN_KEY)
                if span is None:
                    return
                # Records in the current span come in runs: a weak reference (made once
                # per span) to call and compare. Measured (2-core VM, CPU time, bound
                # record in a sampled span): ~590 ns vs ~550 ns holding the span itself.
                if cell.current() is not span:
                    cell.current_sampled = _sampled(span)
                    try:
                        cell.current = _weakref(span)
                    except TypeError:  # a span type without weak references: no caching
                        cell.current = _no_span
                sampled = cell.current_sampled
            elif span is not None:
                # A span passed per record is usually a new one (a domain operation's):
                # compare its SpanContext (a tuple); one call, as before (~800 ns per
                # record with a new span each time, unchanged; no span: ~380 ns, same).
                context = span.get_span_context()
                if context is not cell.seen:
                    cell.sampled = context if context.trace_flags & 1 else None
                    cell.seen = context
                sampled = cell.sampled
            else:
                return
            if sampled is not None:
                cell.exemplars[index] = (value, _time_ns(), sampled)
        except Exception:
            log_once("hot-record", "recording %r failed", value, exc_info=True)

    def _new_cell(self) -> _HistogramCell:
        cell = _HistogramCell(len(self._bounds) + 1)
        with self._lock:
            if not self._cells:
                self._cells.append(_HistogramCell(len(self._bounds) + 1))  # ended threads
            self._cells.append(cell)
        self._local.cell = cell
        _on_thread_end(self._local, lambda: self._retire(cell))
        _notice_host()  # a thread's first record here: has the host set a provider?
        return cell

    def _retire(self, cell: _HistogramCell) -> None:
        with self._lock:
            retired = self._cells[0]
            retired.counts = [a + b for a, b in zip(retired.counts, cell.counts, strict=True)]
            retired.sum += cell.sum
            retired.min, retired.max = min(retired.min, cell.min), max(retired.max, cell.max)
            retired.exemplars = newest_exemplars([retired, cell], len(self._bounds) + 1)
            self._cells.remove(cell)

    def exported_attributes(self) -> Any:
        """The attribute set to export: scrubbed again when the rules changed since."""
        generation = _scrub.generation()
        seen, exported = self._exported
        if seen != generation:  # at collection, once per rules change: not per record
            exported = _scrub.metric_attributes(self.attributes)
            self._exported = (generation, exported)
        return exported

    def exemplars(self) -> list[HotExemplar | None]:
        """Per bucket, the newest exemplar any thread kept (None where there is none)."""
        with self._lock:
            cells = list(self._cells)
        return newest_exemplars(cells, len(self._bounds) + 1)

    def snapshot(self) -> tuple[list[int], float, float, float]:
        """(bucket counts, sum, min, max) over all threads, since the current provider."""
        counts, total, low, high = self._totals()
        base_counts, base_sum = self._base
        return (
            [c - b for c, b in zip(counts, base_counts, strict=True)],
            total - base_sum,
            low,
            high,
        )

    def _rebase(self) -> None:
        counts, total, _, _ = self._totals()
        self._base = (counts, total)
        for cell in list(self._cells):  # min/max cannot be subtracted: restart them
            cell.min, cell.max = float("inf"), float("-inf")
            cell.exemplars = [None] * len(cell.exemplars)  # traces of the old provider

    def _totals(self) -> tuple[list[int], float, float, float]:
        counts = [0] * (len(self._bounds) + 1)
        total: float = 0
        low, high = float("inf"), float("-inf")
        # Under the lock: a cell retired half-way through the sum would count twice.
        with self._lock:
            for cell in self._cells:
                for index, count in enumerate(list(cell.counts)):
                    counts[index] += count
                total += cell.sum
                low, high = min(low, cell.min), max(high, cell.max)
        return counts, total, low, high

    @property
    def count(self) -> int:
        """Values recorded so far, over all threads."""
        return sum(self.snapshot()[0])


_time_ns = time.time_ns
_weakref = weakref.ref


def _sampled(span: Any) -> Any:
    context = span.get_span_context()
    return context if context.trace_flags & 1 else None


_notice_host = _providers.notice_host


def _exemplars(bound: BoundHistogram) -> list[Exemplar]:
    return [
        Exemplar({}, value, time_ns, context.span_id, context.trace_id)
        for value, time_ns, context in filter(None, bound.exemplars())
    ]
