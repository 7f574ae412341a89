"""Render finished spans as an indented tree (the console exporter and obskit.testing).

Spans are grouped by parent; siblings are ordered by start time; a span whose parent is
not among the given spans (a remote parent, or one not finished yet) is shown as a root.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["format_attributes", "render_tree", "span_children"]


def span_children(
    spans: Sequence[ReadableSpan],
) -> tuple[list[ReadableSpan], dict[int, list[ReadableSpan]]]:
    """Roots and a parent-span-id -> children map, siblings in start order."""
    ids = {span.context.span_id for span in spans if span.context is not None}
    roots: list[ReadableSpan] = []
    children: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        parent = span.parent
        if parent is None or parent.span_id not in ids:
            roots.append(span)
        else:
            children.setdefault(parent.span_id, []).append(span)
    key = _start_key
    roots.sort(key=key)
    for group in children.values():
        group.sort(key=key)
    return roots, children


def _start_key(span: ReadableSpan) -> tuple[int, int]:
    return (span.start_time or 0, span.end_time or 0)


def format_attributes(span: ReadableSpan, keys: Iterable[str] | None = None) -> str:
    """`key=value` pairs of a span's attributes (all, sorted, or only `keys`)."""
    attributes = dict(span.attributes or {})
    names = sorted(attributes) if keys is None else [k for k in keys if k in attributes]
    return " ".join(f"{name}={_value(attributes[name])}" for name in names)


def _value(value: object) -> str:
    if isinstance(value, str):
        return value if value and " " not in value and len(value) <= 60 else repr(value[:60])
    if isinstance(value, tuple):
        return "[" + ",".join(_value(v) for v in value) + "]"
    return str(value)


def render_tree(
    spans: Sequence[ReadableSpan],
    *,
    attributes: bool | Iterable[str] = False,
    durations: bool = False,
    indent: str = "  ",
    guides: bool = False,
) -> str:
    """An indented text tree of `spans`, one line per span, ending with a newline.

    Args:
        attributes: False for names only, True for all attributes, or the keys to show.
        durations: append each span's duration in milliseconds.
        indent: the indentation unit when `guides` is off.
        guides: draw box-drawing guides (├─ └─) as the console exporter does.

    Examples:
        >>> render_tree([])
        ''
    """
    roots, children = span_children(spans)
    keys = None if attributes is True else (list(attributes) if attributes else [])
    lines: list[str] = []

    def line(span: ReadableSpan) -> str:
        parts = [span.name]
        if durations and span.end_time and span.start_time:
            parts.append(f"{(span.end_time - span.start_time) / 1e6:.3f} ms")
        if attributes is not False:
            shown = format_attributes(span, keys)
            if shown:
                parts.append(shown)
        if span.status is not None and span.status.status_code.name == "ERROR" and durations:
            parts.append("ERROR")
        return "  ".join(parts)

    def walk(span: ReadableSpan, prefix: str, last: bool, depth: int) -> None:
        if guides:
            branch = "" if depth == 0 else ("└─ " if last else "├─ ")
            lines.append(prefix + branch + line(span))
            next_prefix = prefix if depth == 0 else prefix + ("   " if last else "│  ")
        else:
            lines.append(indent * depth + line(span))
            next_prefix = ""
        kids = children.get(span.context.span_id, []) if span.context else []
        for i, kid in enumerate(kids):
            walk(kid, next_prefix, i == len(kids) - 1, depth + 1)

    for root in roots:
        walk(root, "", True, 0)
    return "".join(text + "\n" for text in lines)
