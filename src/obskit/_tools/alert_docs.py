"""The alert tables of the docs, generated from the rules the rule file holds.

Each domain's page documents its alerts (condition, threshold, `for`, severity, what to
do) in a generated block, and docs/backends.md indexes them all, so neither can drift
from the rules. `./dev docs` rewrites the blocks; a test fails when one is stale.

Examples:
    >>> render_alerts("core").splitlines()[0].startswith("| Alert | Fires when")
    True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from obskit._tools.dashboards import Alert, all_alerts

__all__ = ["ALERT_PAGES", "refresh_pages", "render_alert_index", "render_alerts"]

#: The page that documents each domain's alerts, under an "Alerts" heading.
ALERT_PAGES: Final = {
    "core": "reliability.md",
    "btree": "btree.md",
    "raft": "raft.md",
    "query": "query.md",
    "pipeline": "pipeline.md",
    "runtime": "runtime.md",
    "collector-tier": "fleet.md",  # obskit._tools.dashboards.COLLECTOR_TIER: the fleet's collectors
}
INDEX_PAGE: Final = "backends.md"
BLOCK_START: Final = "<!-- generated: alerts by `./dev docs`; do not edit -->\n"
BLOCK_END: Final = "<!-- end generated -->"

_TEMPLATE = re.compile(r"\{\{\s*\$(?:labels\.)?(\w+)[^}]*\}\}")


def _untemplated(text: str) -> str:
    """Prometheus' templates as placeholders: "{{ $labels.job }}" -> "*job*",
    "{{ $value | humanizePercentage }}" -> "*value*"."""
    return _TEMPLATE.sub(r"*\1*", text)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _alerts() -> dict[str, list[Alert]]:
    return dict(all_alerts())


def render_alerts(domain: str) -> str:
    """The alert table of `domain` ("core", "btree", ..., "collector-tier"): every rule the rule
    file holds for it, with its condition, threshold, `for`, severity and what to do."""
    rows = []
    for alert in _alerts().get(domain, []):
        # A compound rule ("a == 0 and b > 0") has its comparisons inside the expression.
        threshold = f"`{alert.condition}`" if alert.condition else "- (in the expression)"
        rows.append((f"`{alert.name}`: {_untemplated(alert.summary)}", f"`{alert.signal}`",
                     threshold, alert.duration, alert.severity,
                     _untemplated(alert.description)))  # fmt: skip
    header = ["Alert", "Fires when", "Threshold", "For", "Severity", "What it means, what to do"]
    return _table(header, rows) if rows else ""


def render_alert_index() -> str:
    """Every alert of the rule file: name (linking to its page), summary, `for`, severity."""
    rows = [(f"[`{alert.name}`]({ALERT_PAGES[domain]}#alerts)", _untemplated(alert.summary),
             alert.duration, alert.severity)
            for domain, alerts in _alerts().items() for alert in alerts]  # fmt: skip
    return _table(["Alert", "Fires when", "For", "Severity"], rows)


def refresh_pages(docs: str = "docs", *, check: bool = False) -> list[str]:
    """Rewrite the alert block of each page in `ALERT_PAGES` and the index; return the pages
    that changed (with `check`, nothing is written: the stale ones)."""
    blocks = {page: render_alerts(domain) for domain, page in ALERT_PAGES.items()}
    blocks[INDEX_PAGE] = render_alert_index()
    stale = []
    for page, block in blocks.items():
        path = Path(docs) / page
        text = path.read_text()
        start = text.find(BLOCK_START)
        end = text.find(BLOCK_END, start)
        if start < 0 or end < 0:
            raise ValueError(f"{path} has no block starting {BLOCK_START.strip()}")
        fresh = text[:start] + BLOCK_START + block + text[end:]
        if fresh != text:
            stale.append(page)
            if not check:
                path.write_text(fresh)
    return stale
