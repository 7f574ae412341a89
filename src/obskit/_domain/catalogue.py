"""The catalogue: each domain declares its span names, attributes and instruments as data.

A domain module builds one `Catalogue` at import time and creates its instruments through
it, so the names it emits and the names it publishes are the same objects. docs/catalogue.md
is rendered from the registered catalogues (`python -m obskit._tools.catalogue`), and a test fails
when the file is stale.

Examples:
    >>> cat = Catalogue(
    ...     domain="demo",
    ...     title="Demo",
    ...     attributes=[Attribute("demo.shard", "string", "Shard that served the call", "s1")],
    ...     spans=[SpanSpec("demo.call", "A call", attributes=["demo.shard"])],
    ...     instruments=[Instrument("demo.calls", "counter", "{call}", "Calls", ["demo.shard"])],
    ... )
    >>> cat.instrument("demo.calls").add(1, {"demo.shard": "s1"})
    >>> cat.instruments_by_name["demo.calls"].prometheus_name
    'demo_calls_total'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind

from obskit._metrics import proxy as _metrics

__all__ = [
    "INSTRUMENT_KINDS",
    "Attribute",
    "Catalogue",
    "EventSpec",
    "Instrument",
    "SpanSpec",
    "prometheus_name",
    "registered",
]

INSTRUMENT_KINDS = (
    "counter",
    "up_down_counter",
    "histogram",
    "gauge",
    "observable_counter",
    "observable_up_down_counter",
    "observable_gauge",
)
_ATTRIBUTE_TYPES = ("string", "int", "double", "boolean", "string[]", "int[]", "double[]")
_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_{}]+)*$")
_UNITS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds",
          "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "1": "", "%": "percent"}  # fmt: skip
_MONOTONIC = ("counter", "observable_counter")


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """The name the OTel Prometheus exporter gives a metric (unit suffix, then `_total`).

    Examples:
        >>> prometheus_name("btree.operation.duration", "s", "histogram")
        'btree_operation_duration_seconds'
        >>> prometheus_name("raft.leader.changes", "{change}", "counter")
        'raft_leader_changes_total'
    """
    base = re.sub(r"[^a-zA-Z0-9_:]", "_", name)
    suffix = _UNITS.get(re.sub(r"\{[^}]*\}", "", unit), re.sub(r"\{[^}]*\}", "", unit))
    suffix = re.sub(r"[^a-zA-Z0-9_:]", "_", suffix).strip("_")
    if suffix and not base.endswith(f"_{suffix}"):
        base = f"{base}_{suffix}"
    if kind in _MONOTONIC and not base.endswith("_total"):
        base += "_total"
    return base


@dataclass(frozen=True)
class Attribute:
    """An attribute key a domain sets on spans or metric points."""

    key: str
    type: str
    description: str
    example: Any = None
    #: Where the name comes from: "semconv" (OpenTelemetry), or the domain system it follows.
    source: str = "obskit"

    def __post_init__(self) -> None:
        if self.type not in _ATTRIBUTE_TYPES:
            raise ValueError(f"attribute {self.key!r}: type must be one of {_ATTRIBUTE_TYPES}")


@dataclass(frozen=True)
class EventSpec:
    """A span event a domain adds (e.g. a node split)."""

    name: str
    description: str
    attributes: Sequence[str] = ()


@dataclass(frozen=True)
class SpanSpec:
    """A span a domain emits: its name (or name pattern), kind and attribute keys."""

    name: str
    description: str
    kind: SpanKind = SpanKind.INTERNAL
    attributes: Sequence[str] = ()
    events: Sequence[str] = ()


@dataclass(frozen=True)
class Instrument:
    """A metric a domain records: name, instrument kind, UCUM unit and attribute keys."""

    name: str
    kind: str
    unit: str
    description: str
    attributes: Sequence[str] = ()
    buckets: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.kind not in INSTRUMENT_KINDS:
            raise ValueError(f"instrument {self.name!r}: kind must be one of {INSTRUMENT_KINDS}")
        if self.name.endswith("_total") or not _NAME.match(self.name):
            raise ValueError(
                f"instrument name {self.name!r} must be dotted lower-case without `_total` "
                "(the Prometheus exporter adds suffixes)"
            )

    @property
    def prometheus_name(self) -> str:
        """The metric name as Prometheus shows it (histograms add _bucket/_sum/_count)."""
        return prometheus_name(self.name, self.unit, self.kind)

    @property
    def bucket_bounds(self) -> tuple[float, ...] | None:
        """A histogram's explicit bucket bounds as exported: its own, else `LATENCY_BUCKETS`
        for seconds; None for other instruments and for the SDK's default buckets."""
        if self.kind != "histogram":
            return None
        if self.buckets is not None:
            return tuple(self.buckets)
        return _metrics.LATENCY_BUCKETS if self.unit == "s" else None


@dataclass
class Catalogue:
    """All names one domain publishes; also the factory for its instruments."""

    domain: str
    title: str
    attributes: Sequence[Attribute] = ()
    spans: Sequence[SpanSpec] = ()
    events: Sequence[EventSpec] = ()
    instruments: Sequence[Instrument] = ()
    scope: str = ""
    attributes_by_key: dict[str, Attribute] = field(init=False, repr=False)
    instruments_by_name: dict[str, Instrument] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.scope = self.scope or f"obskit.{self.domain}"
        self.attributes_by_key = {a.key: a for a in self.attributes}
        self.instruments_by_name = {i.name: i for i in self.instruments}
        known = set(self.attributes_by_key) | {
            a.key for c in _registry.values() for a in c.attributes
        }
        for owner, keys in (
            [(s.name, s.attributes) for s in self.spans]
            + [(i.name, i.attributes) for i in self.instruments]
            + [(e.name, e.attributes) for e in self.events]
        ):
            missing = [k for k in keys if k not in known]
            if missing:
                raise ValueError(f"{self.domain} catalogue: {owner} uses undeclared {missing}")
        _registry[self.domain] = self

    def instrument(self, name: str) -> Any:
        """The (proxy) instrument declared as `name`, created once.

        Observable instruments are created without callbacks: add them with
        `.add_callback()`.
        """
        spec = self.instruments_by_name.get(name)
        if spec is None:
            raise KeyError(f"{name!r} is not in the {self.domain} catalogue")
        proxy_meter = _metrics.meter(self.scope)
        if spec.kind == "histogram":
            buckets = spec.buckets
            if buckets is None and spec.unit == "s":
                buckets = _metrics.LATENCY_BUCKETS
            return proxy_meter.create_histogram(
                spec.name, spec.unit, spec.description, explicit_bucket_boundaries_advisory=buckets
            )
        return getattr(proxy_meter, f"create_{spec.kind}")(
            spec.name, unit=spec.unit, description=spec.description
        )


_registry: dict[str, Catalogue] = {}


def registered() -> list[Catalogue]:
    """The catalogues built so far, in the order they were built (build-time tools read it:
    `obskit._tools.catalogue.all_catalogues` imports the domains first)."""
    return list(_registry.values())
