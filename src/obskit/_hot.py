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

from obskit import _metrics, _providers
from obskit._bound import BoundCounter, BoundHistogram, _exemplars, _notice_host
from obskit._cells import (
    _Bindings,
)
from obskit._hot_collect import (
    _based_on,
    _histograms,
    _hook_current_provider,
    _last_reported,
    _registry_lock,
)
from obskit._log import log_once
from obskit._sanitize import MAX_NAME_CHARS, clean_text

__all__ = [
    "BoundCounter",
    "BoundHistogram",
    "HotCounter",
    "HotHistogram",
    "hot_counter",
    "hot_histogram",
    "hot_up_down_counter",
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
