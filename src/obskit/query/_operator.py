"""In-process operators of a query (scan, join, aggregate): spans without a carrier.

An engine that runs its whole plan in one process still wants a span per operator, under
the phase (or fragment) that runs it, without injecting and extracting a carrier. Their
time goes to `query.operator.duration`, never to `query.phase.duration`: an operator runs
inside a phase, so adding both would count the same time twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from opentelemetry import context as context_api
from opentelemetry.util.types import AttributeValue

from obskit._base.context import exemplar_context
from obskit._base.log import log_once
from obskit._safety.clean import clean_value
from obskit._trace.handle import AsyncWith, SpanRecipe, error_type, is_cancelled
from obskit.query import _names as names
from obskit.query._block import Block, as_count, cached

__all__ = ["Operator"]

_MAX_CACHED = 1024
_operator_duration = names.CATALOGUE.instrument(names.OPERATOR_DURATION)
_recipes: dict[str, SpanRecipe] = {}


class Operator(Block, AsyncWith["Operator"]):
    """One operator of a plan run in this process: a `query.operator.<name>` span.

    Made by `QueryLifecycle.operator()` or `Fragment.operator()`; use it as `with` or
    `async with`. It is current while it runs, so operators nest (a join over its scans).

    Examples:
        >>> from obskit import query
        >>> with query.lifecycle("SELECT * FROM t") as q, q.phase("execute"):
        ...     with q.operator("scan", operator_id=1) as scan:
        ...         scan.rows(3)
    """

    def __init__(
        self,
        name: str,
        base: Mapping[str, Any],
        parent: Callable[[], context_api.Context | None],
        operator_id: object = None,
    ) -> None:
        self.name = name  # checked by the caller (the phase-name rule)
        self._base = base
        self._parent = parent
        self._rows: int | None = None
        self._id = clean_value(operator_id)
        self._reset(_recipe(self.name))

    def __enter__(self) -> Operator:
        attributes: dict[str, AttributeValue] = {names.OPERATOR: self.name}
        if self._id is not None:
            attributes[names.OPERATOR_ID] = self._id if type(self._id) is str else str(self._id)
        try:
            self._open(_recipe(self.name), attributes, self._parent())
        except Exception:
            log_once("query-operator", "starting operator %r failed", self.name, exc_info=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            extra = {} if self._rows is None else {names.OPERATOR_ROWS: self._rows}
            elapsed = self._close(exc, extra)
            base = self._base
            # A cancellation is its own outcome, not an error (docs/reliability.md).
            error = None if exc is None or is_cancelled(exc) else error_type(exc)
            attributes = cached(
                ("operator", self.name, error, *base.values()),
                ((names.OPERATOR, self.name), *base.items(), (names.ERROR_TYPE, error)),
            )
            # Recorded after the span left the context: hand it over as the exemplar.
            _operator_duration.record(elapsed, attributes, exemplar_context(self._ended))
        except Exception:
            log_once("query-operator-end", "ending operator %r failed", self.name, exc_info=True)

    def rows(self, produced: int) -> None:
        """Add rows the operator produced (span attribute only: the query's own
        `rows()` counts rows read and returned, so nothing is counted twice)."""
        count = as_count(produced, "operator rows")
        if count is not None:
            self._rows = (self._rows or 0) + count


def _recipe(name: str) -> SpanRecipe:
    found = _recipes.get(name)
    if found is None:
        found = SpanRecipe(names.OPERATOR_PREFIX + name, scope=names.SCOPE)
        if len(_recipes) < _MAX_CACHED:
            _recipes[name] = found
    return found
