"""Meters, and the helpers that create instruments following the current provider.

The instrument classes live in obskit._instruments.

Every instrument obskit (or user code through the OTel global meter provider) creates is a
proxy: synchronous ones rebind to the current real instrument when the provider changed
(one identity check per record), observable ones re-register their callbacks with each new
provider as it is installed. Recording never raises into the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import metrics as metrics_api
from opentelemetry.util.types import Attributes

from obskit import _providers
from obskit._instruments import (
    Callback,
    Counter,
    Gauge,
    Histogram,
    ObservableInstrument,
    UpDownCounter,
    _AnyCallback,
    _Scope,
)

__all__ = [
    "LATENCY_BUCKETS",
    "Callback",
    "Counter",
    "Gauge",
    "Histogram",
    "ObservableInstrument",
    "ProxyMeter",
    "UpDownCounter",
    "counter",
    "gauge",
    "histogram",
    "meter",
    "observable_counter",
    "observable_gauge",
    "observable_up_down_counter",
    "up_down_counter",
]

#: Explicit histogram buckets for latencies in seconds: 100 us to 10 s, roughly 1-2.5-5.
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


class ProxyMeter(metrics_api.Meter):
    """A meter whose instruments are obskit proxies, cached per name within the scope."""

    def __init__(
        self,
        name: str,
        version: str | None = None,
        schema_url: str | None = None,
        attributes: Attributes = None,
    ) -> None:
        super().__init__(name, version, schema_url)
        self._scope = _Scope(name, version, schema_url, attributes)
        self._instruments: dict[str, Any] = {}
        # Re-entrant: make() allocates, and a finalizer or signal handler run there may
        # create an instrument too (docs/architecture.md, "Locks and re-entry").
        self._lock = threading.RLock()

    def _get(self, kind: str, name: str, make: Callable[[], Any]) -> Any:
        with self._lock:
            existing = self._instruments.get(name)
            if existing is None:
                existing = self._instruments.setdefault(name, make())  # one made meanwhile wins
            elif existing._kind != kind:
                raise ValueError(
                    f"metric {name!r} already exists as a {existing._kind}, not a {kind}"
                )
            return existing

    def _sync(
        self, cls: type, kind: str, name: str, unit: str, description: str, **options: Any
    ) -> Any:
        options = {k: v for k, v in options.items() if v is not None}
        return self._get(
            kind, name, lambda: cls(self._scope, kind, name, unit, description, options)
        )

    def _observable(
        self,
        kind: str,
        name: str,
        callbacks: Sequence[Callback] | None,
        unit: str,
        description: str,
    ) -> ObservableInstrument:
        instrument: ObservableInstrument = self._get(
            kind,
            name,
            lambda: ObservableInstrument(self._scope, kind, name, [], unit, description),
        )
        for callback in callbacks or ():
            instrument.add_callback(callback)
        return instrument

    def rebind_observables(self) -> None:
        with self._lock:
            instruments = list(self._instruments.values())
        for instrument in instruments:
            if isinstance(instrument, ObservableInstrument):
                instrument.rebind()

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Counter:
        return self._sync(Counter, "counter", name, unit, description)  # type: ignore[no-any-return]

    def create_up_down_counter(
        self, name: str, unit: str = "", description: str = ""
    ) -> UpDownCounter:
        return self._sync(UpDownCounter, "up_down_counter", name, unit, description)  # type: ignore[no-any-return]

    def create_histogram(
        self,
        name: str,
        unit: str = "",
        description: str = "",
        *,
        explicit_bucket_boundaries_advisory: Sequence[float] | None = None,
    ) -> Histogram:
        return self._sync(  # type: ignore[no-any-return]
            Histogram,
            "histogram",
            name,
            unit,
            description,
            explicit_bucket_boundaries_advisory=explicit_bucket_boundaries_advisory,
        )

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Gauge:
        return self._sync(Gauge, "gauge", name, unit, description)  # type: ignore[no-any-return]

    def create_observable_counter(
        self,
        name: str,
        callbacks: Sequence[_AnyCallback] | None = None,
        unit: str = "",
        description: str = "",
    ) -> ObservableInstrument:
        return self._observable("observable_counter", name, callbacks, unit, description)

    def create_observable_gauge(
        self,
        name: str,
        callbacks: Sequence[_AnyCallback] | None = None,
        unit: str = "",
        description: str = "",
    ) -> ObservableInstrument:
        return self._observable("observable_gauge", name, callbacks, unit, description)

    def create_observable_up_down_counter(
        self,
        name: str,
        callbacks: Sequence[_AnyCallback] | None = None,
        unit: str = "",
        description: str = "",
    ) -> ObservableInstrument:
        return self._observable("observable_up_down_counter", name, callbacks, unit, description)


_meters: dict[tuple[str, str | None, str | None], ProxyMeter] = {}
_meters_lock = threading.RLock()  # re-entrant: as ProxyMeter._lock


def meter(
    scope: str = "obskit", version: str | None = None, schema_url: str | None = None
) -> ProxyMeter:
    """The proxy meter for an instrumentation scope (one per scope name).

    Examples:
        >>> m = meter("myengine")
        >>> m.create_counter("myengine.flushes", unit="{flush}") is m.create_counter("myengine.flushes")
        True
    """
    key = (scope, version, schema_url)
    with _meters_lock:
        found = _meters.get(key)
        if found is None:
            found = _meters.setdefault(key, ProxyMeter(scope, version, schema_url))
        return found


def _rebind_all() -> None:
    with _meters_lock:
        meters = list(_meters.values())
    for proxy in meters:
        proxy.rebind_observables()


_providers.on_change(_rebind_all)
_providers.serve_meters(meter)


def counter(name: str, unit: str = "1", description: str = "", *, scope: str = "obskit") -> Counter:
    """A counter (monotonic sum), created once per name and scope.

    The Prometheus exporter adds `_total` and a unit suffix: never put them in `name`.

    Examples:
        >>> flushes = counter("storage.memtable.flushes", unit="{flush}", description="Memtable flushes")
        >>> flushes.add(1, {"storage.tier": "l0"})
    """
    return meter(scope).create_counter(name, unit, description)


def up_down_counter(
    name: str, unit: str = "1", description: str = "", *, scope: str = "obskit"
) -> UpDownCounter:
    """An up-down counter (a sum that can decrease), created once per name and scope.

    Examples:
        >>> in_flight = up_down_counter("storage.compactions.active", unit="{compaction}")
        >>> in_flight.add(1); in_flight.add(-1)
    """
    return meter(scope).create_up_down_counter(name, unit, description)


def histogram(
    name: str,
    unit: str = "s",
    description: str = "",
    *,
    buckets: Sequence[float] | None = None,
    scope: str = "obskit",
) -> Histogram:
    """A histogram, created once per name and scope; seconds with `LATENCY_BUCKETS` by default.

    Examples:
        >>> latency = histogram("storage.flush.duration", description="Memtable flush time")
        >>> latency.record(0.012, {"storage.tier": "l0"})
    """
    if buckets is None and unit == "s":
        buckets = LATENCY_BUCKETS
    return meter(scope).create_histogram(
        name, unit, description, explicit_bucket_boundaries_advisory=buckets
    )


def gauge(name: str, unit: str = "1", description: str = "", *, scope: str = "obskit") -> Gauge:
    """A synchronous gauge (last value wins), created once per name and scope.

    Examples:
        >>> memtable = gauge("storage.memtable.size", unit="By")
        >>> memtable.set(4096)
    """
    return meter(scope).create_gauge(name, unit, description)


def observable_gauge(
    name: str,
    callbacks: Sequence[Callback] = (),
    unit: str = "1",
    description: str = "",
    *,
    scope: str = "obskit",
) -> ObservableInstrument:
    """An observable gauge read by `callbacks` at collection time.

    Calling it again with the same name adds the callbacks to the existing instrument.

    Examples:
        >>> from opentelemetry.metrics import Observation
        >>> depth = observable_gauge("storage.levels", [lambda options: [Observation(3)]])
    """
    return meter(scope).create_observable_gauge(name, callbacks, unit, description)


def observable_counter(
    name: str,
    callbacks: Sequence[Callback] = (),
    unit: str = "1",
    description: str = "",
    *,
    scope: str = "obskit",
) -> ObservableInstrument:
    """An observable monotonic sum (the callbacks return running totals).

    Examples:
        >>> from opentelemetry.metrics import Observation
        >>> cpu = observable_counter("storage.busy.time", [lambda o: [Observation(1.5)]], unit="s")
    """
    return meter(scope).create_observable_counter(name, callbacks, unit, description)


def observable_up_down_counter(
    name: str,
    callbacks: Sequence[Callback] = (),
    unit: str = "1",
    description: str = "",
    *,
    scope: str = "obskit",
) -> ObservableInstrument:
    """An observable non-monotonic sum (sizes and counts that go up and down).

    Examples:
        >>> from opentelemetry.metrics import Observation
        >>> keys = observable_up_down_counter("storage.keys", [lambda o: [Observation(10)]])
    """
    return meter(scope).create_observable_up_down_counter(name, callbacks, unit, description)
