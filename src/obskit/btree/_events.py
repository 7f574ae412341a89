"""The tree's structure and page events: splits, merges, page reads and writes.

Each is counted (a bound hot counter per index and label set, cached here) and, in a
span that records, added as an event. Inside a decorated operation a page read or write
is an int add on the operation, added to the counter once when the operation ends.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.util.types import AttributeValue

from obskit._base.context import SPAN_KEY, get_context
from obskit._base.log import log_once
from obskit._safety.clean import clean_text, clean_value
from obskit.btree import _registry
from obskit.btree._names import (
    INDEX,
    INTERNAL,
    LEAF,
    MERGE_EVENT,
    NODE_LEVEL,
    NODE_LEVEL_LIMIT,
    NODE_REASON,
    NODE_TYPE,
    PAGE_ID,
    PAGE_READ_EVENT,
    PAGE_SOURCE,
    PAGE_WRITE_EVENT,
    SPLIT_EVENT,
)
from obskit.btree._operation import (
    CACHE,
    DEFAULT_INDEX,
    DISK,
    NOOP_OPERATION,
    Operation,
    current_op,
)

__all__ = ["record_merge", "record_page_read", "record_page_write", "record_split"]

_MAX_CACHED = 1024
_MAX_CHANGES = 64  # cached split/merge handles per (operation, index)
_structure_attrs: dict[tuple[str, str, str], dict[str, AttributeValue]] = {}
_event_attrs: dict[tuple[str, int, str | None], dict[str, AttributeValue]] = {}
_level_attrs: dict[tuple[str, str, int], dict[str, AttributeValue]] = {}
_splits = _registry.NODE_SPLITS  # hot instruments (obskit._domain.operation)
_merges = _registry.NODE_MERGES
_page_reads = _registry.PAGE_READS
_page_writes = _registry.PAGE_WRITES


def _label(value: object, default: str) -> str:
    if value is None:
        return default
    return clean_text(value, 64) if type(value) is str else "_OTHER"


def _attrs(index: str | None, key: str, value: str) -> dict[str, AttributeValue]:
    """Cached metric attributes {btree.index, key: value} (for counters)."""
    if index is None:
        op = current_op()
        index = op.index if op is not NOOP_OPERATION else DEFAULT_INDEX
    elif type(index) is not str:
        index = str(clean_value(index))
    cache_key = (index, key, value)
    found = _structure_attrs.get(cache_key)
    if found is None:
        found = {INDEX: index} if key == INDEX else {INDEX: index, key: value}
        if len(_structure_attrs) < _MAX_CACHED:
            _structure_attrs[cache_key] = found
    return found


_bound: dict[tuple[object, ...], Any] = {}


def _count(counter: Any, index: str | None, key: str, value: str) -> None:
    """Add 1 to `counter` with {btree.index, key: value}, through a cached bound handle."""
    attributes = _attrs(index, key, value)
    _add(counter, (counter.name, attributes[INDEX], key, value), attributes)


def _add(counter: Any, cache_key: tuple[object, ...], attributes: dict[str, Any]) -> None:
    """Add 1 to `counter` with `attributes` through the bound handle cached at `cache_key`."""
    handle = _bound.get(cache_key)
    if handle is None:
        handle = counter.bind(attributes)
        if len(_bound) < _MAX_CACHED:
            _bound[cache_key] = handle
    handle.add()


def _current_span() -> trace_api.Span:
    """`trace_api.get_current_span()` without its three frames (~0.3 us a call)."""
    span: trace_api.Span | None = get_context().get(SPAN_KEY)  # type: ignore[assignment]
    return trace_api.INVALID_SPAN if span is None else span


def _node_event(node_type: str, level: int, reason: str | None = None) -> dict[str, AttributeValue]:
    found = _event_attrs.get((node_type, level, reason))
    if found is None:
        found = {NODE_TYPE: node_type, NODE_LEVEL: level}
        if reason is not None:
            found[NODE_REASON] = reason
        if len(_event_attrs) < _MAX_CACHED:
            _event_attrs[(node_type, level, reason)] = found
    return found


def _counter_attrs(index: str | None, node_type: str, level: int) -> dict[str, AttributeValue]:
    """Cached counter attributes {index, node type, level capped at NODE_LEVEL_LIMIT}."""
    base = _attrs(index, NODE_TYPE, node_type)
    capped = level if level <= NODE_LEVEL_LIMIT else NODE_LEVEL_LIMIT
    key = (str(base[INDEX]), node_type, capped)
    found = _level_attrs.get(key)
    if found is None:
        found = {**base, NODE_LEVEL: capped}
        if len(_level_attrs) < _MAX_CACHED:
            _level_attrs[key] = found
    return found


def _structure_change(
    counter: Any,
    event: str,
    level: object,
    node_type: object,
    index: str | None,
    reason: object = None,
) -> None:
    try:
        level = level if type(level) is int and level >= 0 else 0
        span = _current_span()
        if index is None and node_type is None and type(span) is Operation:
            # Inside an operation, with the default node type: its index's handle, cached
            # on the prepared (operation, index) state.
            kind = LEAF if level == 0 else INTERNAL
            handles = span._state.changes
            handle = handles.get((event, level))
            if handle is None:
                handle = counter.bind(_counter_attrs(span._state.index, kind, level))
                if len(handles) < _MAX_CHANGES:
                    handles[(event, level)] = handle
            handle.add()
            if not span._recording:
                return
        else:
            kind = _label(node_type, LEAF if level == 0 else INTERNAL)
            attributes = _counter_attrs(index, kind, level)
            _add(
                counter, (counter.name, attributes[INDEX], kind, attributes[NODE_LEVEL]), attributes
            )
        if span.is_recording():
            why = None if reason is None else _label(reason, "_OTHER")
            span.add_event(event, _node_event(kind, level, why))  # type: ignore[arg-type]
    except Exception:
        log_once("btree-structure", "recording %s failed", event, exc_info=True)


def _page_event(span: trace_api.Span, event: str, page_id: object, source: str | None) -> None:
    attributes: dict[str, AttributeValue] = {}
    value = clean_value(page_id)
    if value is not None:
        attributes[PAGE_ID] = value
    if source is not None:
        attributes[PAGE_SOURCE] = source
    span.add_event(event, attributes)


def record_split(
    level: int = 0,
    node_type: str | None = None,
    *,
    index: str | None = None,
    reason: str | None = None,
) -> None:
    """Count a node split and add a `btree.node.split` event to the current span.

    Call it from inside a decorated operation (the index comes from it) or pass `index`.
    `level` is the node's height above the leaves (0 = leaf); `node_type` defaults to
    ``leaf`` for level 0 and ``internal`` above. `reason` (e.g. ``full``, ``root``) goes
    on the event only. The counter `btree.node.splits` carries the type and the level
    (levels above 15 count as 15).

    Examples:
        >>> from obskit import btree
        >>> btree.record_split(level=0, index="users_pk", reason="full")
    """
    _structure_change(_splits, SPLIT_EVENT, level, node_type, index, reason)


def record_merge(
    level: int = 0,
    node_type: str | None = None,
    *,
    index: str | None = None,
    reason: str | None = None,
) -> None:
    """Count a node merge (or redistribution into a sibling) and add a `btree.node.merge` event.

    Same arguments as `record_split`; `reason` is e.g. ``underflow`` or ``rebalance``.

    Examples:
        >>> from obskit import btree
        >>> btree.record_merge(level=0, index="users_pk", reason="underflow")
    """
    _structure_change(_merges, MERGE_EVENT, level, node_type, index, reason)


def record_page_read(
    page_id: int | None = None, *, source: str = "cache", index: str | None = None
) -> None:
    """Count a page read (`source` = ``cache`` or ``disk``) and add a `btree.page.read` event.

    Examples:
        >>> from obskit import btree
        >>> btree.record_page_read(17, source="disk", index="users_pk")
    """
    try:
        span: Any = get_context().get(SPAN_KEY)
        if index is None and type(span) is Operation:
            # Inside an operation: an int add, added to the counter when it ends.
            if source == CACHE:
                span.cache_reads += 1
            elif source == DISK:
                span.disk_reads += 1
            else:
                _count(_page_reads, None, PAGE_SOURCE, _label(source, CACHE))
            if span._recording:
                _page_event(span, PAGE_READ_EVENT, page_id, _label(source, CACHE))
            return
        label = _label(source, CACHE)
        _count(_page_reads, index, PAGE_SOURCE, label)
        if span is not None and span.is_recording():
            _page_event(span, PAGE_READ_EVENT, page_id, label)
    except Exception:
        log_once("btree-page", "recording a page read failed", exc_info=True)


def record_page_write(page_id: int | None = None, *, index: str | None = None) -> None:
    """Count a page write and add a `btree.page.write` event to the current span.

    Examples:
        >>> from obskit import btree
        >>> btree.record_page_write(17, index="users_pk")
    """
    try:
        span: Any = get_context().get(SPAN_KEY)
        if index is None and type(span) is Operation:
            span.page_writes += 1  # added to the counter when the operation ends
            if span._recording:
                _page_event(span, PAGE_WRITE_EVENT, page_id, None)
            return
        _count(_page_writes, index, INDEX, "")
        if span is not None and span.is_recording():
            _page_event(span, PAGE_WRITE_EVENT, page_id, None)
    except Exception:
        log_once("btree-page", "recording a page write failed", exc_info=True)
