"""Prometheus exposition without empty labels: `error_type=""` on successful series.

OpenTelemetry's Prometheus exporter gives every sample of a metric family the union of
the label keys seen across its points, filling the missing ones with "". A histogram
recorded with `error.type` only on failures so shows `error_type=""` on every successful
series. Prometheus treats an empty label as an absent one, so dropping them changes no
query, and the exposition then says what was recorded. The work happens at scrape time,
never when a metric is recorded.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from obskit._base.log import log_once

__all__ = ["WithoutEmptyLabels"]


class WithoutEmptyLabels:
    """A prometheus_client collector that yields `inner`'s families minus empty labels.

    Examples:
        >>> from prometheus_client import CollectorRegistry, generate_latest
        >>> from prometheus_client.core import GaugeMetricFamily
        >>> class Inner:
        ...     def collect(self):
        ...         family = GaugeMetricFamily("calls", "", labels=["method", "error_type"])
        ...         family.add_metric(["get", ""], 1.0)
        ...         yield family
        >>> registry = CollectorRegistry()
        >>> registry.register(WithoutEmptyLabels(Inner()))
        >>> b'calls{method="get"} 1.0' in generate_latest(registry)
        True
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def describe(self) -> list[Any]:
        """Nothing to declare: keeps the registry from collecting when it is registered."""
        return []

    def collect(self) -> Iterator[Any]:
        for family in self.inner.collect():
            try:
                samples = family.samples
                if any("" in sample.labels.values() for sample in samples):
                    family.samples = [
                        sample._replace(labels={k: v for k, v in sample.labels.items() if v != ""})
                        for sample in samples
                    ]
            except Exception:
                log_once("prometheus-labels", "dropping empty Prometheus labels failed",
                         exc_info=True)  # fmt: skip
            yield family
