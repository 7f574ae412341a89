"""Pin obskit's routing to test providers, so `configure()` inside a test cannot steal it.

`_providers` documents the priority "disabled > test fixture > configure() > host SDK".
A fixture gets that priority by *pinning*: while a pin is in force, `configure()` and
`shutdown()` (which route through `_providers.set_current`) only record what they asked
for; the pinned providers stay current, except that `enabled=False` still turns obskit
off, as documented. When the pin is released the last recorded request is applied, so
the routing ends up where it would have been without the fixture.

Pins nest (a `Capture` inside a test that uses `obskit_capture`): each pin remembers the
setter it replaced and hands a recorded request on to it when released.
"""

from __future__ import annotations

from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api

from obskit import _providers

__all__ = ["Pin"]

# The real setter, captured once: pins must apply routing even while another pin is in
# force, and must not route through that pin's interceptor.
_apply = _providers.set_current


class Pin:
    """Route obskit to the given providers until `release()`; see the module docstring."""

    def __init__(
        self,
        tracer_provider: trace_api.TracerProvider,
        meter_provider: metrics_api.MeterProvider,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._replaced = _providers.set_current
        self._previous = _providers.State()
        self._requested: _providers.State | None = None
        self._held = False

    def hold(self) -> None:
        """Install the providers and start intercepting `configure()`/`shutdown()`."""
        _providers.install_globals()
        self._replaced = _providers.set_current
        self._previous = _apply(self.tracer_provider, self.meter_provider)
        self._requested = None
        _providers.set_current = self._intercept
        self._held = True

    def update(
        self,
        tracer_provider: trace_api.TracerProvider,
        meter_provider: metrics_api.MeterProvider,
    ) -> None:
        """Swap the pinned providers (used by `Capture.clear()` for fresh metrics)."""
        self.tracer_provider, self.meter_provider = tracer_provider, meter_provider
        if self._held and not (self._requested is not None and self._requested.disabled):
            _apply(tracer_provider, meter_provider)

    @property
    def configured_during(self) -> bool:
        """Whether `configure()` or `shutdown()` changed the routing while pinned."""
        return self._requested is not None

    def release(self) -> None:
        """Stop intercepting; apply what was requested meanwhile, else the previous routing."""
        if not self._held:
            return
        self._held = False
        _providers.set_current = self._replaced
        requested = self._requested
        if requested is not None:
            # The real setter applies it; an outer pin records it and keeps its own providers.
            self._replaced(
                requested.tracer_provider, requested.meter_provider, disabled=requested.disabled
            )
            return
        previous = self._previous
        _apply(previous.tracer_provider, previous.meter_provider, disabled=previous.disabled)

    def _intercept(
        self,
        tracer_provider: trace_api.TracerProvider | None,
        meter_provider: metrics_api.MeterProvider | None,
        *,
        disabled: bool = False,
    ) -> _providers.State:
        before = self._requested or self._previous
        previous = _providers.State(before.tracer_provider, before.meter_provider, before.disabled)
        self._requested = _providers.State(tracer_provider, meter_provider, disabled)
        if disabled:
            _apply(None, None, disabled=True)
        else:
            _apply(self.tracer_provider, self.meter_provider)
        return previous
