"""Meters and SDK-backed instruments that follow the current meter provider.

Every instrument obskit (or user code through the OTel global meter provider) creates is a
proxy: synchronous ones rebind to the current real instrument when the provider changed
(one identity check per record), observable ones re-register their callbacks with each new
provider as it is installed. Recording never raises into the caller. `meter()` and the
`counter()` ... `observable_gauge()` helpers create them; the hot instruments of
obskit._metrics.hot are the cheaper kind for hot paths.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry import metrics as metrics_api
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.util.types import Attributes

from obskit import _routing as _providers
from obskit._base.log import log_once
from obskit._safety.clean import MAX_VALUE_CHARS, clean_metric_attributes, clean_text
from obskit._safety.secrets import metric_attributes as _scrubbed
from obskit._safety.secrets import observations as _scrubbed_observations

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

_state = _providers.state


def _clean(attributes: Any) -> Any:
    # Made exportable first (surrogates, sizes), then scrubbed of secrets.
    return _scrubbed(clean_metric_attributes(attributes))


#: A callback for observable instruments: returns the current observations.
Callback = Callable[[CallbackOptions], Iterable[Observation]]
_AnyCallback = Any  # what the OTel Meter API accepts (callables or generators)

_SYNC_FACTORIES = {
    "counter": "create_counter",
    "up_down_counter": "create_up_down_counter",
    "histogram": "create_histogram",
    "gauge": "create_gauge",
}
_OBSERVABLE_FACTORIES = {
    "observable_counter": "create_observable_counter",
    "observable_gauge": "create_observable_gauge",
    "observable_up_down_counter": "create_observable_up_down_counter",
}


def _clean_label(text: object) -> str:
    """A description or unit that cannot stop an export (a lone surrogate in a
    description stopped all OTLP metric export)."""
    return clean_text(text, MAX_VALUE_CHARS) if isinstance(text, str) else ""


def _clean_observations(observations: Iterable[Observation]) -> list[Observation]:
    cleaned = []
    for observation in observations:
        attributes = observation.attributes
        clean = clean_metric_attributes(attributes)
        if clean is not attributes:
            observation = Observation(observation.value, clean, observation.context)
        cleaned.append(observation)
    return cleaned


class _Scope:
    """An instrumentation scope: name, version, schema URL, attributes."""

    __slots__ = ("attributes", "name", "schema_url", "version")

    def __init__(
        self, name: str, version: str | None, schema_url: str | None, attributes: Attributes
    ) -> None:
        self.name = name
        self.version = version
        self.schema_url = schema_url
        self.attributes = attributes

    def meter(self, provider: metrics_api.MeterProvider) -> metrics_api.Meter:
        return provider.get_meter(self.name, self.version, self.schema_url, self.attributes)


class _SyncInstrument:
    """Shared machinery of the synchronous proxies: rebind on provider change."""

    __slots__ = ("_kind", "_provider", "_real", "_scope", "description", "name", "options", "unit")

    def __init__(
        self,
        scope: _Scope,
        kind: str,
        name: str,
        unit: str,
        description: str,
        options: dict[str, Any],
    ) -> None:
        self._scope = scope
        self._kind = kind
        self.name = name
        self.unit = _clean_label(unit)
        self.description = _clean_label(description)
        self.options = options
        self._provider: metrics_api.MeterProvider | None = None
        self._real: Any = None

    def _bind(self) -> Any:
        provider = _providers.current_meter_provider()
        if provider is not self._provider:
            real = None
            if provider is not None:
                try:
                    factory = getattr(self._scope.meter(provider), _SYNC_FACTORIES[self._kind])
                    real = factory(
                        self.name, unit=self.unit, description=self.description, **self.options
                    )
                except Exception:  # the SDK raises a bare Exception for a bad name or unit
                    log_once(
                        f"metric-create:{self.name}", "creating %s failed", self.name, exc_info=True
                    )  # remembered for this provider: not retried per call
            self._real, self._provider = real, provider
        return self._real

    def __repr__(self) -> str:
        return f"<obskit {self._kind} {self.name!r} unit={self.unit!r}>"


class Counter(_SyncInstrument, metrics_api.Counter):
    """A monotonic sum. `add` never raises; negative amounts are ignored by the SDK."""

    def add(self, amount: int | float, attributes: Attributes = None, context: Any = None) -> None:
        provider = _state.meter_provider
        real = self._real if provider is self._provider and provider is not None else self._bind()
        if real is not None:
            try:
                real.add(amount, _clean(attributes), context)
            except Exception:
                log_once("metric-record", "recording %s failed", self.name, exc_info=True)


class UpDownCounter(_SyncInstrument, metrics_api.UpDownCounter):
    """A sum that can go down (in-flight requests, queue depth)."""

    def add(self, amount: int | float, attributes: Attributes = None, context: Any = None) -> None:
        provider = _state.meter_provider
        real = self._real if provider is self._provider and provider is not None else self._bind()
        if real is not None:
            try:
                real.add(amount, _clean(attributes), context)
            except Exception:
                log_once("metric-record", "recording %s failed", self.name, exc_info=True)


class Histogram(_SyncInstrument, metrics_api.Histogram):
    """A distribution of values (durations, sizes), with explicit bucket advice."""

    def record(
        self, amount: int | float, attributes: Attributes = None, context: Any = None
    ) -> None:
        provider = _state.meter_provider
        real = self._real if provider is self._provider and provider is not None else self._bind()
        if real is not None:
            try:
                real.record(amount, _clean(attributes), context)
            except Exception:
                log_once("metric-record", "recording %s failed", self.name, exc_info=True)


class Gauge(_SyncInstrument, metrics_api._Gauge):
    """A synchronous gauge: the last value set wins."""

    def set(self, amount: int | float, attributes: Attributes = None, context: Any = None) -> None:
        provider = _state.meter_provider
        real = self._real if provider is self._provider and provider is not None else self._bind()
        if real is not None:
            try:
                real.set(amount, _clean(attributes), context)
            except Exception:
                log_once("metric-record", "recording %s failed", self.name, exc_info=True)


class ObservableInstrument(
    metrics_api.ObservableCounter, metrics_api.ObservableGauge, metrics_api.ObservableUpDownCounter
):
    """An observable instrument whose callbacks follow the current provider.

    Callbacks run at collection time (a Prometheus scrape, an OTLP export). One that raises
    is logged once and contributes nothing; the other callbacks still report.
    """

    def __init__(
        self,
        scope: _Scope,
        kind: str,
        name: str,
        callbacks: Sequence[Callback],
        unit: str,
        description: str,
    ) -> None:
        self._scope = scope
        self._kind = kind
        self.name = name
        self.unit = _clean_label(unit)
        self.description = _clean_label(description)
        self._callbacks: list[Callback] = list(callbacks)
        self._bound: metrics_api.MeterProvider | None = None
        self._lock = threading.RLock()  # re-entrant: as ProxyMeter._lock
        self.rebind()

    def add_callback(self, callback: Callback) -> None:
        """Add one more callback (e.g. per B+tree index) to this instrument."""
        with self._lock:
            self._callbacks.append(callback)

    def remove_callback(self, callback: Callback) -> None:
        """Remove a callback added before; unknown callbacks are ignored."""
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

    def rebind(self) -> None:
        """Register with the current provider if it is not the one already bound."""
        provider = _providers.current_meter_provider()
        if provider is None or provider is self._bound:
            return
        self._bound = provider
        factory = getattr(self._scope.meter(provider), _OBSERVABLE_FACTORIES[self._kind])
        try:
            factory(
                self.name,
                callbacks=[self._make_callback(provider)],
                unit=self.unit,
                description=self.description,
            )
        except Exception:
            log_once("metric-create", "creating %s failed", self.name, exc_info=True)

    def _make_callback(self, provider: metrics_api.MeterProvider) -> Callback:
        def observe(options: CallbackOptions) -> list[Observation]:
            if self._bound is not provider:
                return []  # a stale registration on a provider no longer current
            with self._lock:
                callbacks = list(self._callbacks)
            observations: list[Observation] = []
            for callback in callbacks:
                try:
                    observations.extend(_clean_observations(callback(options)))
                except Exception:
                    log_once(
                        f"callback:{self.name}",
                        "an observable callback of %s raised; it is skipped",
                        self.name,
                        exc_info=True,
                    )
            return _scrubbed_observations(observations)

        return observe

    def __repr__(self) -> str:
        return f"<obskit {self._kind} {self.name!r} unit={self.unit!r}>"


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
