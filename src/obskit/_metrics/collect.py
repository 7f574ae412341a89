"""Hot histograms at collection time: their points join what each metric reader of the
current provider collects (hot counters export as observable counters instead).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any, cast

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Metric,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from obskit import _routing as _providers
from obskit._base.log import log_once

_histograms: list[Any] = []  # the HotHistogram objects (obskit._metrics.hot) made so far
_registry_lock = threading.RLock()  # re-entrant: a finalizer may make a hot histogram
_hooked: weakref.WeakSet[Any] = weakref.WeakSet()  # readers whose collect is wrapped
# Per reader that prefers delta histograms: what each series reported last time.
_last_reported: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()


def _sdk_histogram_class() -> Any:
    """The key readers file their histogram temporality under (None: unknown SDK)."""
    try:
        from opentelemetry.sdk.metrics._internal.instrument import _Histogram
    except ImportError:  # another SDK layout: cumulative points, as before
        return None
    return _Histogram


_SDK_HISTOGRAM = _sdk_histogram_class()


def _delta_state(reader: Any) -> dict[Any, Any] | None:
    """The reader's last reported totals if it prefers delta histograms, else None."""
    temporalities = getattr(reader, "_instrument_class_temporality", None)
    if not temporalities or temporalities.get(_SDK_HISTOGRAM) != AggregationTemporality.DELTA:
        return None
    state = _last_reported.get(reader)
    if state is None:
        state = _last_reported[reader] = {}
    return state


# The meter provider the totals count for. It changes only when another provider comes
# in: a provider switched off (shutdown() sets None, then shuts the old provider down)
# keeps reporting in its final collection, as obskit's observable instruments do.
_based_on: list[Any] = [None]


def _with_histograms(
    data: MetricsData | None, provider: Any, reader: Any = None
) -> MetricsData | None:
    """`data` plus the hot histograms' points, when `provider` is the one they count for.

    Points are cumulative, or the change since this reader's last collection when the
    reader prefers delta temporality for histograms.
    """
    if provider is not _based_on[0]:
        return data  # a provider replaced by another: it reports only its own instruments
    with _registry_lock:
        histograms = list(_histograms)
    now = time.time_ns()
    delta = _delta_state(reader)
    by_scope: dict[str, list[Metric]] = {}
    for histogram in histograms:
        metric = histogram.metric(now, delta)
        if metric is not None:
            by_scope.setdefault(histogram.scope, []).append(metric)
    if not by_scope:
        return data
    if data is None or not data.resource_metrics:
        resource = cast(Any, provider)._sdk_config.resource  # the SDK provider collecting
        data = MetricsData([ResourceMetrics(resource, [], "")])
    first, *rest = data.resource_metrics
    scopes = []
    for scope_metrics in first.scope_metrics:
        extra = by_scope.pop(scope_metrics.scope.name, [])
        scopes.append(
            ScopeMetrics(scope_metrics.scope, [*scope_metrics.metrics, *extra], "")
            if extra
            else scope_metrics
        )
    for scope, metrics in by_scope.items():
        scopes.append(ScopeMetrics(InstrumentationScope(scope), metrics, ""))
    return MetricsData([ResourceMetrics(first.resource, scopes, first.schema_url), *rest])


def _hook_current_provider() -> None:
    """Wrap each metric reader's collect callback of the current provider, once."""
    provider = _providers.current_meter_provider()
    readers = getattr(provider, "_metric_readers", None)
    if provider is None or readers is None:
        return
    if _based_on[0] is None:
        _based_on[0] = provider  # the first provider: everything recorded so far counts
    for reader in readers:
        original = getattr(reader, "_collect", None)
        if original is None or reader in _hooked:
            continue
        _hooked.add(reader)

        def collect(
            metric_reader: Any, timeout_millis: float = 10_000, *, _original: Any = original
        ) -> MetricsData | None:
            data: MetricsData | None = _original(metric_reader, timeout_millis=timeout_millis)
            try:
                return _with_histograms(data, provider, metric_reader)
            except Exception:
                log_once("hot-collect", "adding hot histograms failed", exc_info=True)
                return data

        reader._collect = collect
