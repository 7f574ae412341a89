"""The catalogue: each domain declares its span names, attributes and instruments as data.

A domain module builds one `Catalogue` at import time and creates its instruments through
it, so the names it emits and the names it publishes are the same objects. docs/catalogue.md
is rendered from the registered catalogues (`python -m obskit._catalogue`), and a test fails
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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.trace import SpanKind

from obskit import _metrics

__all__ = [
    "INSTRUMENT_KINDS",
    "Attribute",
    "Catalogue",
    "EventSpec",
    "Instrument",
    "SpanSpec",
    "all_catalogues",
    "prometheus_name",
    "render_markdown",
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


def all_catalogues() -> list[Catalogue]:
    """Every registered catalogue (importing the domain modules registers theirs)."""
    import importlib

    for module in ("obskit._setup", "obskit.btree", "obskit.query", "obskit.raft",
                   "obskit.pipeline", "obskit.runtime"):  # fmt: skip
        try:
            importlib.import_module(module)
        except ImportError:
            continue
    return [_registry[name] for name in sorted(_registry)]


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _code(items: Iterable[str]) -> str:
    return ", ".join(f"`{item}`" for item in items) or "-"


def _bounds(bounds: Sequence[float] | None) -> str:
    if bounds is None:
        return "the SDK's default"
    return ", ".join(str(int(b)) if b >= 1000 and b == int(b) else f"{b:g}" for b in bounds)


def render_markdown(catalogues: Sequence[Catalogue] | None = None) -> str:
    """docs/catalogue.md: one section per domain with spans, events, attributes, metrics."""
    catalogues = all_catalogues() if catalogues is None else catalogues
    lines = [
        "# Catalogue",
        "",
        "<!-- Generated from the catalogues in code by `./dev docs` or `nox -s catalogue`. "
        "Do not edit. -->",
        "",
        "Every span, event, attribute and metric obskit emits, by domain. Metric names are",
        "the OpenTelemetry names; the Prometheus column shows them as the Prometheus exporter",
        "translates them (unit suffix, `_total` for counters; histograms add `_bucket`,",
        "`_sum` and `_count`).",
        "",
    ]
    for cat in catalogues:
        lines += [f"## {cat.title}", "", f"Instrumentation scope: `{cat.scope}`.", ""]
        if cat.spans:
            lines += ["### Spans", ""]
            lines += _table(
                ["Span", "Kind", "Attributes", "Events", "Description"],
                [(f"`{s.name}`", s.kind.name, _code(s.attributes), _code(s.events), s.description)
                 for s in cat.spans],
            )  # fmt: skip
        if cat.events:
            lines += ["### Events", ""]
            lines += _table(
                ["Event", "Attributes", "Description"],
                [(f"`{e.name}`", _code(e.attributes), e.description) for e in cat.events],
            )
        if cat.attributes:
            lines += ["### Attributes", ""]
            lines += _table(
                ["Attribute", "Type", "Example", "Source", "Description"],
                [(f"`{a.key}`", a.type, "" if a.example is None else f"`{a.example}`", a.source,
                  a.description) for a in cat.attributes],
            )  # fmt: skip
        if cat.instruments:
            lines += ["### Metrics", ""]
            lines += _table(
                ["Metric", "Instrument", "Unit", "Attributes", "Prometheus", "Description"],
                [(f"`{i.name}`", i.kind, f"`{i.unit}`", _code(i.attributes),
                  f"`{i.prometheus_name}`", i.description) for i in cat.instruments],
            )  # fmt: skip
        histograms = [i for i in cat.instruments if i.kind == "histogram"]
        if histograms:
            lines += ["### Histogram buckets", ""]
            lines += _table(
                ["Histogram", "Unit", "Bucket upper bounds"],
                [(f"`{i.name}`", f"`{i.unit}`", _bounds(i.bucket_bounds)) for i in histograms],
            )
    return "\n".join(lines).rstrip() + "\n"


#: Domain pages whose generated block (catalogue, Grafana panels) `refresh_pages`
#: rewrites: page name -> module holding CATALOGUE and PANELS.
DOMAIN_PAGES = {
    "btree.md": "obskit.btree",
    "query.md": "obskit.query",
    "raft.md": "obskit.raft",
    "pipeline.md": "obskit.pipeline",
}
_BLOCK_START = "<!-- generated: catalogue and panels by `./dev docs`; do not edit -->\n"
_BLOCK_END = "<!-- end generated -->"


def render_domain_block(module_name: str) -> str:
    """The generated part of a domain page: its catalogue tables and panels (its alerts are
    a block of their own, `obskit._alert_docs`)."""
    import importlib

    module = importlib.import_module(module_name)
    text = render_markdown([module.CATALOGUE])
    lines = [text[text.index("Instrumentation scope") :].rstrip(), "", "### Grafana panels", ""]
    lines += ["| Panel | PromQL | Unit |", "|---|---|---|"]
    for panel in module.PANELS:
        exprs = (
            [panel["expr"], *panel.get("extra", [])]
            if "expr" in panel
            else [target["expr"] for target in panel.get("targets", [])]
        )
        shown = "<br>".join(f"`{e}`" for e in exprs).replace("|", "\\|")
        lines.append(f"| {panel['title']} | {shown} | {panel.get('unit', '')} |")
    return "\n".join(lines) + "\n"


def refresh_pages(docs: str = "docs", *, check: bool = False) -> list[str]:
    """Rewrite the generated block of each domain page; return the pages that changed.

    With `check`, nothing is written: the returned pages are the stale ones.
    """
    import re
    from pathlib import Path

    stale = []
    for page, module_name in DOMAIN_PAGES.items():
        path = Path(docs) / page
        text = path.read_text()
        start = re.search(r"<!-- generated:[^>]*-->\n", text)
        end = text.find(_BLOCK_END)
        if start is None or end < 0:
            raise ValueError(f"{path} has no generated block")
        fresh = text[: start.start()] + _BLOCK_START + render_domain_block(module_name) + text[end:]
        if fresh != text:
            stale.append(page)
            if not check:
                path.write_text(fresh)
    return stale


if __name__ == "__main__":  # pragma: no cover
    import sys

    from obskit import _catalogue  # the registry the domains register into, not __main__'s copy

    sys.stdout.write(_catalogue.render_markdown())
