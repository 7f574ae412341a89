"""Building blocks of obskit.query's context managers: facts, span blocks, helpers.

`Facts` accumulates rows and bytes (a query's and a fragment's) and adds their counters
as they arrive; `Block` is a span that is current for a `with` block. Neither has
`__slots__`: both are mixed into one class. Metric attribute dicts are cached per key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.context import Context
from opentelemetry.util.types import AttributeValue

from obskit._base.log import log_once
from obskit._domain.operation import Outcomes, hot
from obskit._safety.clean import clean_text
from obskit._trace.handle import (
    NOOP_HANDLE,
    SPAN_KEY,
    SpanHandle,
    SpanRecipe,
    attach_span,
    detach_span,
    get_context,
    set_context,
)
from obskit.query import _names as names

__all__ = ["Block", "Facts", "as_count", "as_label", "as_number", "by_key", "cached"]

_MAX_CACHED = 1024
_attribute_cache: dict[tuple[Any, ...], dict[str, Any]] = {}


def by_key(name: str) -> Outcomes:
    """Bound hot handles of catalogue metric `name`, keyed like `cached` (bounded)."""
    return Outcomes(hot(names.CATALOGUE, name), None, _MAX_CACHED)


_rows_read = by_key(names.ROWS_READ_METRIC)
_rows_written = by_key(names.ROWS_WRITTEN_METRIC)
_io = by_key(names.IO)


def cached(key: tuple[Any, ...], pairs: tuple[tuple[str, object], ...]) -> dict[str, Any]:
    """The attribute dict for `pairs` (None values left out), cached under `key`."""
    found = _attribute_cache.get(key)
    if found is None:
        found = {k: v for k, v in pairs if v is not None}
        if len(_attribute_cache) < _MAX_CACHED:
            _attribute_cache[key] = found
    return found


def as_count(value: object, what: str) -> int | None:
    """A non-negative count from `value`, or None (logged once) when it is not one."""
    if type(value) is int and value >= 0:
        return value
    if type(value) is float and math.isfinite(value) and value >= 0:
        return int(value)
    if value is not None:
        log_once(f"query-count:{what}", "query %s must be a non-negative number; got %s", what,
                 type(value).__name__)  # fmt: skip
    return None


def as_number(value: object, what: str) -> float | None:
    """A finite float from a real number (int, float, Decimal, numpy), else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        if isinstance(value, (int, float)) or hasattr(value, "__float__"):
            number = float(value)  # type: ignore[arg-type]
            if math.isfinite(number):
                return number
    except Exception:
        pass
    log_once(f"query-number:{what}", "query cost %s is not a finite number; it is skipped", what)
    return None


class Facts:
    """Rows and bytes: shared by a query and a fragment."""

    def __init__(self) -> None:
        self._base: dict[str, Any] = {}
        self._base_key: tuple[Any, ...] = ("base",)  # the `cached` key of `_base`
        self._returned: int | None = None
        self._read = self._written = self._bytes_read = self._bytes_written = 0

    def rows(
        self, returned: int | None = None, *, read: int | None = None, written: int | None = None
    ) -> None:
        """Add rows: `returned` to the client, `read` (processed) and `written`.

        Calls accumulate. Numbers that are not non-negative counts are skipped.
        """
        try:
            count = as_count(returned, "rows returned")
            if count is not None:
                self._returned = (self._returned or 0) + count
            count = as_count(read, "rows read")
            if count:
                self._read += count
                _rows_read.get(self._base_key, self._base).add(count)
            count = as_count(written, "rows written")
            if count:
                self._written += count
                _rows_written.get(self._base_key, self._base).add(count)
        except Exception:
            log_once("query-rows", "recording rows failed", exc_info=True)

    def bytes(self, read: int | None = None, *, written: int | None = None) -> None:
        """Add bytes read (received) and written (sent); calls accumulate."""
        try:
            count = as_count(read, "bytes read")
            if count:
                self._bytes_read += count
                self._io("read").add(count)
            count = as_count(written, "bytes written")
            if count:
                self._bytes_written += count
                self._io("write").add(count)
        except Exception:
            log_once("query-bytes", "recording bytes failed", exc_info=True)

    def _io(self, direction: str) -> Any:
        base = self._base
        key = ("io", direction, *base.values())
        return _io.found.get(key) or _io.get(
            key, cached(key, (*base.items(), (names.IO_DIRECTION, direction)))
        )

    def _fact_attributes(self) -> dict[str, AttributeValue]:
        found: dict[str, AttributeValue] = {}
        if self._returned is not None:
            found[names.DB_RESPONSE_RETURNED_ROWS] = self._returned
        for key, value in (
            (names.ROWS_READ, self._read),
            (names.ROWS_WRITTEN, self._written),
            (names.BYTES_READ, self._bytes_read),
            (names.BYTES_WRITTEN, self._bytes_written),
        ):
            if value:
                found[key] = value
        return found


class Block:
    """A span that is current for a `with`/`async with` block, ended at its exit."""

    # No __slots__ here or in Facts: both are mixed into one class.
    def _reset(self, recipe: SpanRecipe) -> None:
        self._recipe = recipe
        self._span: trace_api.Span | None = None  # while the block runs
        self._ended: trace_api.Span | None = None  # after it ended (for trace_id)
        self._stand_in: trace_api.Span | None = None  # the unsampled parent, when no span
        self._token: object = None
        self._started = time.perf_counter()

    def _open(
        self,
        recipe: SpanRecipe,
        attributes: Mapping[str, AttributeValue] | None,
        context: context_api.Context | None = None,
        name: str | None = None,
    ) -> None:
        self._reset(recipe)
        tracer = recipe.tracer()
        if tracer is None:
            return
        if context is None and recipe.parent_unsampled():
            # Decided before any span work: the SDK would make a non-recording child with
            # the parent's context, so the parent stays current and stands in for it.
            self._ended = self._stand_in = get_context().get(SPAN_KEY)  # type: ignore[assignment]
            return
        span = recipe.start(tracer, attributes, context=context, name=name)
        if context is None:
            self._token = attach_span(span)  # context_api.attach(set_span_in_context(span))
        else:
            self._token = set_context(Context({**context, SPAN_KEY: span}))
        self._span = span

    def _close(self, exc: BaseException | None, extra: Mapping[str, AttributeValue]) -> float:
        elapsed = time.perf_counter() - self._started
        span, self._span = self._span, None
        self._stand_in = None
        if span is not None:
            self._ended = span
            detach_span(self._token)  # type: ignore[arg-type]
            try:
                if extra and span.is_recording():
                    span.set_attributes(extra)
                self._recipe.finish(span, exc)
            except Exception:
                log_once("query-end", "ending span %r failed", self._recipe.name, exc_info=True)
        return elapsed

    @property
    def span(self) -> SpanHandle:
        """A handle on the block's span (a no-op handle when tracing is off)."""
        span = self._span or self._ended
        return NOOP_HANDLE if span is None else SpanHandle(span)

    def set_attribute(self, key: str, value: object) -> None:
        """Set an attribute on the block's span (cleaned; never raises)."""
        self.span.set_attribute(key, value)


def as_label(value: object, limit: int = 128) -> str | None:
    """A clean short string label, or None for None/empty/non-strings."""
    if type(value) is not str or not value:
        return None
    return clean_text(value, limit)
