"""Instruments that follow the current provider: each made once, rebound when it changes.

Synchronous instruments rebind lazily on their next use; observable ones are re-registered
with each new provider by their meter (obskit._metrics).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry import metrics as metrics_api
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.util.types import Attributes

from obskit import _providers
from obskit._log import log_once
from obskit._sanitize import MAX_VALUE_CHARS, clean_metric_attributes, clean_text
from obskit._scrub import metric_attributes as _scrubbed
from obskit._scrub import observations as _scrubbed_observations

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
