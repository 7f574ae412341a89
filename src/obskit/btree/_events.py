"""What the B+tree structure and page events share: their counters and cached attributes.

`record_split`, `record_merge`, `record_page_read` and `record_page_write` (in
`obskit.btree`) are thin calls into these.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.util.types import AttributeValue

from obskit._base.log import log_once
from obskit._safety.clean import clean_text, clean_value
from obskit._trace.handle import SPAN_KEY, get_context
from obskit.btree import _operation
from obskit.btree._names import (
    INDEX,
    INTERNAL,
    LEAF,
    NODE_LEVEL,
    NODE_LEVEL_LIMIT,
    NODE_REASON,
    NODE_TYPE,
    PAGE_ID,
    PAGE_SOURCE,
)
from obskit.btree._operation import (
    DEFAULT_INDEX,
    NOOP_OPERATION,
    current_op,
)

_MAX_CACHED = 1024
_structure_attrs: dict[tuple[str, str, str], dict[str, AttributeValue]] = {}
_event_attrs: dict[tuple[str, int, str | None], dict[str, AttributeValue]] = {}
_level_attrs: dict[tuple[str, str, int], dict[str, AttributeValue]] = {}
_splits = _operation.NODE_SPLITS  # hot instruments (obskit._domain.operation)
_merges = _operation.NODE_MERGES
_page_reads = _operation.PAGE_READS
_page_writes = _operation.PAGE_WRITES


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
        kind = _label(node_type, LEAF if level == 0 else INTERNAL)
        attributes = _counter_attrs(index, kind, level)
        _add(counter, (counter.name, attributes[INDEX], kind, attributes[NODE_LEVEL]), attributes)
        span = _current_span()
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
