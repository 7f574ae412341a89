"""The running B+tree operation: its span plus cheap per-operation counters.

`Operation` wraps the SDK span and is itself the current span while the operation runs,
which makes `btree.current_op()` one context lookup and a type check. `_IndexOperation`
holds what is fixed per (operation, index): the span recipe and the metric attribute
dict of each outcome, built once.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, Final

from opentelemetry import trace as trace_api
from opentelemetry.trace import Status, StatusCode
from opentelemetry.util.types import AttributeValue

from obskit._domain.operation import Outcomes, hot
from obskit._safety.clean import clean_text
from obskit._trace.handle import SPAN_KEY, SpanRecipe, get_context
from obskit.btree import _names as names

__all__ = [
    "CACHE",
    "DEFAULT_INDEX",
    "DISK",
    "NOOP_OPERATION",
    "OTHER",
    "IndexOperation",
    "Operation",
    "current_op",
    "key_size",
]

_MAX_OUTCOMES = 16  # distinct outcome/error labels per (operation, index)
OTHER: Final = "_OTHER"
DEFAULT_INDEX = "default"

# Bound hot instruments (obskit._domain.operation): a record is ~0.2 us, an SDK one 5-10 us.
DURATION = hot(names.CATALOGUE, names.OPERATION_DURATION)
PAGE_READS = hot(names.CATALOGUE, names.PAGE_READS)
PAGE_WRITES = hot(names.CATALOGUE, names.PAGE_WRITES)
NODE_SPLITS = hot(names.CATALOGUE, names.NODE_SPLITS)
NODE_MERGES = hot(names.CATALOGUE, names.NODE_MERGES)

CACHE: Final = "cache"
DISK: Final = "disk"


def key_size(key: object) -> int | None:
    """Size of a key in bytes: UTF-8 for str, raw for bytes, minimal two's complement for int.

    Composite (tuple) keys add up their parts; other types give None (not recorded).

    Examples:
        >>> key_size("user:42"), key_size(b"\\x00\\x01"), key_size(255), key_size(object())
        (7, 2, 2, None)
    """
    kind = type(key)
    if kind is str:
        text: str = key  # type: ignore[assignment]
        return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if kind is bytes or kind is bytearray:
        return len(key)  # type: ignore[arg-type]
    if kind is int:
        return (key.bit_length() + 8) // 8  # type: ignore[attr-defined,no-any-return]
    if kind is float:
        return 8
    if kind is memoryview:
        return key.nbytes  # type: ignore[attr-defined,no-any-return]
    if kind is tuple:
        total = 0
        for part in key:  # type: ignore[attr-defined]
            size = key_size(part)
            if size is None:
                return None
            total += size
        return total
    return None


class IndexOperation:
    """Prepared state of one (decorated operation, index name) pair."""

    __slots__ = ("_durations", "_outcomes", "cache_reads", "disk_reads", "index", "operation",
                 "recipe", "writes")  # fmt: skip

    def __init__(self, operation: str, index: str, recipe: SpanRecipe | None) -> None:
        self.operation = operation
        self.index = index
        self.recipe = recipe
        base = {names.INDEX: index, names.OPERATION: operation}
        self._outcomes: dict[str, dict[str, AttributeValue]] = {
            outcome: {**base, names.OUTCOME: outcome}
            for outcome in (names.HIT, names.MISS, names.OK)
        }
        self._durations = Outcomes(DURATION, None, limit=2 * _MAX_OUTCOMES + 8)
        # Bound page counters: sparse, so a series appears only once counted.
        self.cache_reads = PAGE_READS.bind({names.INDEX: index, names.PAGE_SOURCE: CACHE})
        self.disk_reads = PAGE_READS.bind({names.INDEX: index, names.PAGE_SOURCE: DISK})
        self.writes = PAGE_WRITES.bind({names.INDEX: index})

    def duration(self, outcome: str, error: str | None = None) -> Any:
        """The bound duration histogram for an outcome (and error type), cached."""
        found = self._durations.found.get(outcome if error is None else (error,))
        if found is None:
            attributes = self.attributes(outcome, error)
            found = self._durations.get(
                (attributes[names.OUTCOME], attributes.get(names.ERROR_TYPE)), attributes
            )
            if len(self._durations.found) < self._durations.limit:
                self._durations.found[outcome if error is None else (error,)] = found
        return found

    def attributes(self, outcome: str, error: str | None = None) -> dict[str, AttributeValue]:
        """Metric attributes for an outcome (cached, bounded)."""
        key = outcome if error is None else error
        found = self._outcomes.get(key)
        if found is None:
            found = {names.INDEX: self.index, names.OPERATION: self.operation}
            if len(self._outcomes) >= _MAX_OUTCOMES + 3:
                outcome, error = (names.ERROR, OTHER) if error else (OTHER, None)
            found[names.OUTCOME] = outcome
            if error is not None:
                found[names.ERROR_TYPE] = error
            if len(self._outcomes) < _MAX_OUTCOMES + 3:
                self._outcomes[key] = found
        return found


def other_index(operation: str) -> IndexOperation:
    """The shared state for structure changes made outside any operation."""
    return IndexOperation(operation, DEFAULT_INDEX, None)


class Operation(trace_api.Span):
    """The running B+tree operation: its span, plus counters the tree fills in cheaply.

    Get it with `obskit.btree.current_op()` anywhere inside a decorated operation (it is
    the current span). All methods are cheap and never raise; outside an operation you
    get a shared no-op instance.

    Examples:
        >>> from obskit import btree
        >>> class Tree:
        ...     @btree.get(index="users_pk")
        ...     def get(self, key: str) -> str | None:
        ...         op = btree.current_op()
        ...         op.visit(3)  # root, internal node, leaf
        ...         return None
        >>> Tree().get("k") is None
        True
    """

    __slots__ = ("_key", "_outcome", "_state", "cache_reads", "disk_reads", "page_writes",
                 "returned", "span", "started", "visited")  # fmt: skip

    def __init__(self, span: trace_api.Span, state: IndexOperation, key: object = None) -> None:
        #: The underlying OpenTelemetry span.
        self.span = span
        self._state = state
        self._key = key
        self._outcome: str | None = None
        #: Pages/nodes visited so far (`visit()`).
        self.visited = 0
        #: Keys a scan yielded so far (counted by the scan decorator).
        self.returned = 0
        # Page reads/writes counted here and added to the counters once, when the
        # operation ends: one SDK add costs ~6 us, an int increment ~30 ns.
        self.cache_reads = self.disk_reads = self.page_writes = 0
        self.started = time.perf_counter()

    @property
    def index(self) -> str:
        """The index name this operation runs on."""
        return self._state.index

    @property
    def operation(self) -> str:
        """The operation name (get, put, delete, scan, ...)."""
        return self._state.operation

    def visit(self, pages: int = 1) -> None:
        """Count `pages` nodes/pages touched (recorded as `btree.pages.visited`)."""
        if type(pages) is int:
            self.visited += pages

    def key(self, key: object) -> None:
        """Set the operation's key (its size is recorded, the key only with record_key)."""
        self._key = key

    def hit(self) -> None:
        """Mark a lookup as a hit (overrides the result classifier)."""
        self._outcome = names.HIT

    def miss(self) -> None:
        """Mark a lookup as a miss (overrides the result classifier)."""
        self._outcome = names.MISS

    def set_outcome(self, outcome: str) -> None:
        """Set a custom outcome label (keep the set of values small: it labels metrics)."""
        if type(outcome) is str:
            self._outcome = clean_text(outcome, 64)

    # Span interface: everything goes to the wrapped span.
    def get_span_context(self) -> trace_api.SpanContext:
        return self.span.get_span_context()

    def is_recording(self) -> bool:
        return self.span.is_recording()

    def set_attribute(self, key: str, value: Any) -> None:
        self.span.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.span.set_attributes(attributes)

    def add_event(
        self, name: str, attributes: Mapping[str, Any] | None = None, timestamp: int | None = None
    ) -> None:
        self.span.add_event(name, attributes, timestamp)

    def add_link(self, context: trace_api.SpanContext, attributes: Any = None) -> None:
        self.span.add_link(context, attributes)

    def update_name(self, name: str) -> None:
        self.span.update_name(name)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self.span.set_status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: Any = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        self.span.record_exception(exception, attributes, timestamp, escaped)

    def end(self, end_time: int | None = None) -> None:
        self.span.end(end_time)

    def __repr__(self) -> str:
        return f"<btree.Operation {self.operation} index={self.index!r}>"


NOOP_OPERATION = Operation(trace_api.INVALID_SPAN, other_index("none"))


def current_op() -> Operation:
    """The B+tree operation whose span is current, or a shared no-op one.

    Examples:
        >>> from obskit import btree
        >>> btree.current_op().visit(3)  # outside an operation: a no-op
    """
    current = get_context().get(SPAN_KEY)  # trace_api.get_current_span(), inlined
    return current if type(current) is Operation else NOOP_OPERATION  # type: ignore[return-value]
