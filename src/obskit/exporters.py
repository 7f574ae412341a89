"""Pluggable exporters: built-ins by name, third-party ones through an entry-point group.

An exporter is a factory that `obskit.configure()` calls with the resolved settings and
the signals it should serve; it returns standard OpenTelemetry SDK parts (a
`SpanExporter` and/or a `MetricReader`). Built-ins: ``"otlp"`` (traces and metrics, gRPC
or HTTP/protobuf), ``"prometheus"`` (a pull endpoint), ``"console"`` (span trees and a
metric summary), ``"memory"`` (in-memory, for tests and notebooks).

A package adds its own by declaring an entry point in the ``obskit.exporters`` group::

    [project.entry-points."obskit.exporters"]
    kafka = "mypkg.telemetry:kafka_exporter"

Examples:
    >>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    >>> import obskit.exporters
    >>> def mine(settings, signals):
    ...     return obskit.exporters.ExporterParts(span_exporter=InMemorySpanExporter())
    >>> obskit.exporters.register("mine", mine)
    >>> "mine" in obskit.exporters.available()
    True
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from opentelemetry.sdk.metrics.export import MetricReader
from opentelemetry.sdk.trace.export import SpanExporter

from obskit._config import Settings

__all__ = ["ENTRY_POINT_GROUP", "ExporterFactory", "ExporterParts", "available", "register"]

#: The entry-point group third-party exporters register under.
ENTRY_POINT_GROUP = "obskit.exporters"


@dataclass
class ExporterParts:
    """What an exporter factory returns: standard OTel SDK parts, any of them optional.

    Attributes:
        span_exporter: a `SpanExporter`, or a zero-argument callable building one (preferred:
            obskit calls it again in a forked child instead of reusing the parent's).
        metric_reader: a `MetricReader` (pull, like Prometheus, or periodic push).
        close: extra clean-up run at shutdown (e.g. stopping an HTTP server).
        info: facts to show users, e.g. ``{"prometheus_address": ("127.0.0.1", 9464)}``.

    Examples:
        >>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        >>> parts = ExporterParts(metric_reader=InMemoryMetricReader())
    """

    span_exporter: SpanExporter | Callable[[], SpanExporter] | None = None
    metric_reader: MetricReader | None = None
    close: Callable[[], None] | None = None
    info: Mapping[str, Any] = field(default_factory=dict)


class ExporterFactory(Protocol):
    """Builds an exporter for `signals` (a subset of {"traces", "metrics"}).

    Examples:
        >>> def console_only(settings: Settings, signals: frozenset[str]) -> ExporterParts:
        ...     return ExporterParts()
    """

    def __call__(self, settings: Settings, signals: frozenset[str]) -> ExporterParts: ...


_registry: dict[str, ExporterFactory] = {}


def register(name: str, factory: ExporterFactory) -> None:
    """Register `factory` under `name` (replacing a previous one of that name).

    Examples:
        >>> register("noop", lambda settings, signals: ExporterParts())
    """
    if not isinstance(name, str) or not name or name != name.strip().lower():
        raise ValueError(f"exporter names are non-empty lower-case strings, got {name!r}")
    _registry[name] = factory


def available() -> list[str]:
    """Names of every exporter obskit can build: built-ins, registered and entry points.

    Examples:
        >>> {"otlp", "prometheus", "console", "memory"} <= set(available())
        True
    """
    return sorted(set(_registry) | set(_entry_point_names()))


def lookup(name: str) -> ExporterFactory:
    """The factory registered as `name`; ValueError naming the known ones otherwise."""
    factory = _registry.get(name) or _load_entry_point(name)
    if factory is None:
        raise ValueError(f"unknown exporter {name!r}; known exporters: {', '.join(available())}")
    return factory


def _entry_point_names() -> list[str]:
    try:
        return [ep.name for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)]
    except Exception:
        return []


def _load_entry_point(name: str) -> ExporterFactory | None:
    try:
        found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=name)
    except Exception:
        return None
    for entry_point in found:
        factory: ExporterFactory = entry_point.load()
        return factory
    return None
