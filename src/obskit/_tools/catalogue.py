"""docs/catalogue.md and the generated blocks of the domain pages, from every catalogue.

Build-time only (`./dev docs`, `obskit catalogue`): it imports every domain so that each
registers its catalogue, then renders them as Markdown tables.

Examples:
    >>> from obskit import raft
    >>> "raft.election" in render_markdown([raft.CATALOGUE])
    True
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from obskit._domain.catalogue import Catalogue, registered

__all__ = [
    "DOMAIN_PAGES",
    "all_catalogues",
    "refresh_pages",
    "render_domain_block",
    "render_markdown",
]


#: obskit's catalogues: the module that builds each, by domain (docs/catalogue.md lists
#: exactly these, whatever else a process registered: a user's, a docstring example's).
CATALOGUE_MODULES = {
    "core": "obskit._setup.configure",
    "btree": "obskit.btree",
    "query": "obskit.query",
    "raft": "obskit.raft",
    "pipeline": "obskit.pipeline",
    "runtime": "obskit.runtime",
}


def all_catalogues() -> list[Catalogue]:
    """obskit's catalogues, by domain (importing the domain modules registers theirs)."""
    for module in CATALOGUE_MODULES.values():
        try:
            importlib.import_module(module)
        except ImportError:
            continue
    found = [c for c in registered() if CATALOGUE_MODULES.get(c.domain)]
    return sorted(found, key=lambda catalogue: catalogue.domain)


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
    a block of their own, `obskit._tools.alert_docs`)."""
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
    sys.stdout.write(render_markdown())
