"""Hot-path instruments: bind an attribute set once, then record into plain per-thread cells.

An OTel SDK `Counter.add(1, attrs)` costs ~5 us (attribute hashing, a Measurement object,
exemplar filtering, a lock); a B+tree lookup costs less than that. Here the attribute set
is resolved once by `bind()`, and a record is an add into a cell owned by the calling
thread (~0.2 us): no lock, and no lost increments, since only the owner writes its cell
and readers sum all cells. The work is done at collection time, as prometheus_client does:

* counters and up-down counters are OpenTelemetry *observable* instruments whose callback
  sums the cells, so they export through every reader (Prometheus, OTLP) unchanged;
* histograms have no observable form in OpenTelemetry, so their cumulative points are
  added to what each metric reader of the current meter provider collects (the reader's
  collect callback is wrapped once per reader). Points are cumulative, or deltas for a
  reader that prefers delta temporality for histograms. Each thread's cell
  keeps the last exemplar per bucket, taken only when the current span is sampled, and a
  point carries the newest exemplar of each bucket. Measured per record (2-core VM):
  +0.05 us without a span (one context read), +0.08 us in an unsampled span, +0.2 us in
  a sampled one (a clock read and a tuple; the flag is read once per span and cell).
"""

from __future__ import annotations

import threading
import time
import weakref
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.metrics import Exemplar
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData

from obskit import _routing as _providers
from obskit._base.context import SPAN_KEY, UnsampledRoot, get_context
from obskit._base.log import log_once
from obskit._metrics import proxy as _metrics
from obskit._metrics.cells import (
    HotExemplar,
    _Bindings,
    _HistogramCell,
    _no_span,
    _on_thread_end,
    _remove_identical,
    newest_exemplars,
)
from obskit._metrics.collect import (
    _based_on,
    _histograms,
    _hook_current_provider,
    _last_reported,
    _registry_lock,
)
from obskit._safety import secrets as _scrub
from obskit._safety.clean import MAX_NAME_CHARS, clean_text

__all__ = [
    "BoundCounter",
    "BoundHistogram",
    "HotCounter",
    "HotHistogram",
    "hot_counter",
    "hot_histogram",
    "hot_up_down_counter",
]

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
                span = get_context().get(SPAN_KEY)
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
            elif span is not None and type(span) is not UnsampledRoot:
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
    if type(span) is UnsampledRoot:
        return None  # not sampled, and its ids are not drawn just to say so
    context = span.get_span_context()
    return context if context.trace_flags & 1 else None


_notice_host = _providers.notice_host


def _exemplars(bound: BoundHistogram) -> list[Exemplar]:
    return [
        Exemplar({}, value, time_ns, context.span_id, context.trace_id)
        for value, time_ns, context in filter(None, bound.exemplars())
    ]


class HotCounter:
    """A counter (or up-down counter) for hot paths: `bind()` attributes once, then `add`.

    Exported as an OpenTelemetry observable counter, so Prometheus and OTLP see an
    ordinary counter (`_total` added by the Prometheus exporter).

    Examples:
        >>> import obskit
        >>> ops = obskit.hot_counter("hotkv.operations", unit="{operation}")
        >>> gets = ops.bind({"kv.operation": "get"})
        >>> for _ in range(3):
        ...     gets.add()
        >>> ops.add(1, {"kv.operation": "put"})  # unbound: a dict lookup more per call
    """

    def __init__(
        self,
        name: str,
        unit: str,
        description: str,
        scope: str,
        monotonic: bool,
        *,
        sparse: bool = False,
    ) -> None:
        self.name = name
        self._monotonic = monotonic
        # sparse: report only attribute sets added to under the current meter provider, as
        # the SDK's synchronous counters do (the domains' counters, whose series must not
        # change); otherwise every bound set is reported, 0 until added to.
        self._sparse = sparse
        self._bindings = _Bindings(name)
        meter = _metrics.meter(scope)
        create = (
            meter.create_observable_counter
            if monotonic
            else meter.create_observable_up_down_counter
        )
        create(name, [self._observe], unit, description)

    def bind(self, attributes: Mapping[str, object] | None = None) -> BoundCounter:
        """The handle for one attribute set (cleaned; the same handle every time)."""
        bound: BoundCounter = self._bindings.get(
            attributes, lambda clean: BoundCounter(clean, self._monotonic)
        )
        return bound

    def add(self, amount: int | float = 1, attributes: Mapping[str, object] | None = None) -> None:
        """Add without a bound handle (cleans and looks up `attributes` on every call)."""
        try:
            self.bind(attributes).add(amount)
        except Exception:
            log_once("hot-add", "adding to %s failed", self.name, exc_info=True)

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        sparse = self._sparse
        return [
            Observation(b.value, b.attributes)
            for b in self._bindings.all()
            if not sparse or b.touched
        ]

    def _rebase(self) -> None:
        for bound in self._bindings.all():
            bound._rebase()


class HotHistogram:
    """A histogram for hot paths with fixed bucket bounds: `bind()` once, then `record`.

    Examples:
        >>> import obskit
        >>> latency = obskit.hot_histogram("hotkv.operation.duration")
        >>> get_latency = latency.bind({"kv.operation": "get"})
        >>> get_latency.record(0.00012)
    """

    def __init__(
        self, name: str, unit: str, description: str, scope: str, buckets: Sequence[float]
    ) -> None:
        bounds = tuple(float(b) for b in buckets)
        if list(bounds) != sorted(set(bounds)):
            raise ValueError(f"buckets must be strictly increasing, got {list(buckets)!r}")
        self.name = name
        self.unit = clean_text(unit, MAX_NAME_CHARS) if isinstance(unit, str) else ""
        self.description = clean_text(description) if isinstance(description, str) else ""
        self.scope = scope
        self.bounds = bounds
        self.start_time = time.time_ns()
        self._bindings = _Bindings(name)
        with _registry_lock:
            _histograms.append(self)
        _hook_current_provider()

    def bind(self, attributes: Mapping[str, object] | None = None) -> BoundHistogram:
        """The handle for one attribute set (cleaned; the same handle every time)."""
        bound: BoundHistogram = self._bindings.get(
            attributes, lambda clean: BoundHistogram(clean, self.bounds)
        )
        return bound

    def record(self, value: int | float, attributes: Mapping[str, object] | None = None) -> None:
        """Record without a bound handle (cleans and looks up `attributes` every call)."""
        try:
            self.bind(attributes).record(value)
        except Exception:
            log_once("hot-record", "recording into %s failed", self.name, exc_info=True)

    def metric(self, now: int, delta: dict[Any, Any] | None = None) -> Metric | None:
        """This histogram's points: cumulative, or (with a reader's `delta` state: what
        each series reported last time) the change since that reader's last collection."""
        # Bound sets that the current scrubbing rules make equal export as one point.
        merged: dict[frozenset[Any], list[Any]] = {}
        for bound in self._bindings.all():
            counts, total, low, high = bound.snapshot()
            if not sum(counts):
                continue
            attributes = bound.exported_attributes()
            key = frozenset(attributes.items())
            found = merged.get(key)
            if found is None:
                merged[key] = [attributes, counts, total, low, high, _exemplars(bound)]
            else:
                found[1] = [a + b for a, b in zip(found[1], counts, strict=True)]
                found[2] += total
                found[3], found[4] = min(found[3], low), max(found[4], high)
                found[5] = [*found[5], *_exemplars(bound)]
        points = []
        for key, (attributes, counts, total, low, high, exemplars) in merged.items():
            start = self.start_time
            if delta is not None:
                counts, total, low, high, exemplars, start = self._since_last(
                    delta, key, now, counts, total, low, high, exemplars
                )
                if not sum(counts):
                    continue  # nothing recorded in this interval: no point, as the SDK
            points.append(
                HistogramDataPoint(
                    dict(attributes), start, now, sum(counts), total, counts,
                    self.bounds, low, high, exemplars,
                )
            )  # fmt: skip
        if not points:
            return None
        temporality = (
            AggregationTemporality.CUMULATIVE if delta is None else AggregationTemporality.DELTA
        )
        data = HistogramData(points, temporality)
        return Metric(self.name, self.description, self.unit, data)

    def _since_last(
        self,
        delta: dict[Any, Any],
        key: frozenset[Any],
        now: int,
        counts: list[int],
        total: float,
        low: float,
        high: float,
        exemplars: list[Exemplar],
    ) -> tuple[list[int], float, float, float, list[Exemplar], int]:
        """A series' change since the reader's last collection (at collection time only)."""
        series = (self.scope, self.name, key)
        last = delta.get(series)
        delta[series] = (counts, total, now)
        if last is None:
            return counts, total, low, high, exemplars, self.start_time
        last_counts, last_total, last_time = last
        changed = [a - b for a, b in zip(counts, last_counts, strict=True)]
        if min(changed) < 0:  # the totals restarted (another provider came in meanwhile)
            return counts, total, low, high, exemplars, self.start_time
        # The cells keep one min and max since the series started: bound them by the
        # buckets that received values in this interval (an estimate, never exact).
        used = [index for index, count in enumerate(changed) if count]
        if used:
            bounds = self.bounds
            if used[0] > 0:
                low = max(low, bounds[used[0] - 1])
            if used[-1] < len(bounds):
                high = min(high, bounds[used[-1]])
        recent = [e for e in exemplars if e.time_unix_nano > last_time]
        return changed, total - last_total, low, high, recent, last_time

    def _rebase(self) -> None:
        self.start_time = time.time_ns()
        for bound in self._bindings.all():
            bound._rebase()


def _on_provider_change() -> None:
    # A new meter provider starts its cumulative series from zero, as the SDK's own
    # instruments do (and test captures, which install a fresh provider per test, see
    # only their own records).
    provider = _providers.current_meter_provider()
    if provider is None or provider is _based_on[0]:
        return
    _based_on[0] = provider
    with _instruments_lock:
        instruments = list(_instruments.values())
    for instrument in instruments:
        instrument._rebase()
    # Totals start again from zero: what delta readers reported against the old base is
    # meaningless now (a provider coming back would otherwise see a too-small change).
    _last_reported.clear()
    _hook_current_provider()


_providers.on_change(_on_provider_change)


def hot_counter(
    name: str, unit: str = "1", description: str = "", *, scope: str = "obskit"
) -> HotCounter:
    """A counter for hot paths (~0.2 us per bound `add`), exported like any OTel counter.

    Examples:
        >>> import obskit
        >>> splits = obskit.hot_counter("hotkv.page.splits", unit="{split}").bind({"kv.index": "a"})
        >>> splits.add()
    """
    found: HotCounter = _cached(
        ("counter", scope, name), lambda: HotCounter(name, unit, description, scope, True)
    )
    return found


def hot_up_down_counter(
    name: str, unit: str = "1", description: str = "", *, scope: str = "obskit"
) -> HotCounter:
    """An up-down counter for hot paths (in-flight work, queue depth).

    Examples:
        >>> import obskit
        >>> active = obskit.hot_up_down_counter("hotkv.scans.active").bind()
        >>> active.add(1); active.add(-1)
    """
    found: HotCounter = _cached(
        ("up_down_counter", scope, name), lambda: HotCounter(name, unit, description, scope, False)
    )
    return found


def hot_histogram(
    name: str,
    unit: str = "s",
    description: str = "",
    *,
    buckets: Sequence[float] | None = None,
    scope: str = "obskit",
) -> HotHistogram:
    """A histogram for hot paths (~0.3 us per bound `record`); seconds, LATENCY_BUCKETS.

    Examples:
        >>> import obskit
        >>> sizes = obskit.hot_histogram("hotkv.value.size", unit="By", buckets=[64, 512, 4096])
        >>> sizes.bind().record(100)
    """
    if buckets is None:
        buckets = _metrics.LATENCY_BUCKETS
    found: HotHistogram = _cached(
        ("histogram", scope, name), lambda: HotHistogram(name, unit, description, scope, buckets)
    )
    return found


_instruments: dict[tuple[str, str, str], Any] = {}
# Re-entrant: make() allocates and registers, and a finalizer or signal handler run there
# may make a hot instrument too (docs/architecture.md, "Locks and re-entry").
_instruments_lock = threading.RLock()


def _cached(key: tuple[str, str, str], make: Any) -> Any:
    with _instruments_lock:
        found = _instruments.get(key)
        if found is None:
            found = _instruments.setdefault(key, make())  # one made meanwhile wins
    _notice_host()  # outside the lock: the listeners take it (via _on_provider_change)
    return found
