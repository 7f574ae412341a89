"""Pin obskit's routing to test providers, so `configure()` inside a test cannot steal it.

The mechanism lives in `obskit._routing` (pins beat what `configure()` asked for, and
`enabled=False` still beats pins); `Pin` gives a capture a hold/update/release handle.
"""

from __future__ import annotations

from opentelemetry import metrics as metrics_api
from opentelemetry import trace as trace_api

from obskit import _routing as _providers

__all__ = ["Pin"]


class Pin:
    """Route obskit to the given providers between `hold()` and `release()`."""

    def __init__(
        self,
        tracer_provider: trace_api.TracerProvider,
        meter_provider: metrics_api.MeterProvider,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._token: _providers.State | None = None

    def hold(self) -> None:
        """Install the providers ahead of whatever `configure()` installs."""
        if self._token is None:
            self._token = _providers.pin(self.tracer_provider, self.meter_provider)

    def update(
        self,
        tracer_provider: trace_api.TracerProvider,
        meter_provider: metrics_api.MeterProvider,
    ) -> None:
        """Swap the pinned providers (used by `Capture.clear()` for fresh metrics)."""
        self.tracer_provider, self.meter_provider = tracer_provider, meter_provider
        if self._token is not None:
            _providers.repin(self._token, tracer_provider, meter_provider)

    def release(self) -> None:
        """Stop pinning; the routing falls back to the next pin or to what was configured."""
        if self._token is not None:
            _providers.unpin(self._token)
            self._token = None
