"""The shared no-op query blocks handed out while obskit has nothing to record to.

When `obskit._trace.prepared._nothing_to_record()` is true (`configure(enabled=False)`,
`OBSKIT_ENABLED=false`, or no configure() and no SDK installed by anyone),
`obskit.query.lifecycle()` and `fragment()` return one of these instead of reading the
query text and preparing spans and metrics: light instances of the documented classes
whose public methods all work and do nothing (a query's `summary`, `operation` and
`collection` are still read from its text, only when asked for). `phase()` and `operator()` still check their
name (ValueError, as when on) and hand out shared no-op blocks too; `fragment_carrier()`
returns the carrier untouched (a new empty dict by default); `span` is the no-op handle
and `trace_id` all zeros. The phase and operator blocks hold nothing per call, so one of
each is shared by every thread and task.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.util.types import AttributeValue

from obskit._base.log import log_once
from obskit._safety.clean import clean_text
from obskit.query._block import as_label
from obskit.query._fragment import Fragment
from obskit.query._lifecycle import Phase, QueryLifecycle
from obskit.query._operator import Operator
from obskit.query._shared import _ROOT, check_phase

__all__ = ["off_fragment", "off_query"]


class _OffPhase(Phase):
    """A phase that is no span and records nothing."""

    def __init__(self, name: str) -> None:  # no parent query: nothing reads it
        self.name = name
        self._reset(_ROOT)

    def __enter__(self) -> Phase:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        return None


class _OffOperator(Operator):
    """An operator that is no span and records nothing."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._rows = None
        self._reset(_ROOT)

    def __enter__(self) -> Operator:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        return None

    def rows(self, produced: int) -> None:
        return None


# One shared block per (kind, name), so `.name` is what was asked for; names are checked
# (check_phase) and bounded, and the cache is capped all the same.
_off_blocks: dict[tuple[type, str], Any] = {}


def _off_block(kind: type, name: str) -> Any:
    found = _off_blocks.get((kind, name))
    if found is None:
        found = kind(name)
        if len(_off_blocks) < 256:
            _off_blocks[(kind, name)] = found
    return found


class _OffQuery(QueryLifecycle):
    """A query lifecycle that is no span and records nothing.

    One per call, holding only its arguments: `system` is cleaned as when on, and
    `operation`, `collection` and `summary` are read from the text only if asked for.
    """

    _span = None
    _ended = None
    _stand_in = None

    def __init__(
        self, text: object, system: object, operation: str | None, collection: str | None,
        summary: str | None, sanitize: bool, dialect: str,
    ) -> None:  # fmt: skip
        self.system = clean_text(system, 64) if type(system) is str else "other_sql"
        self._dialect = dialect
        self._described = (text, operation, collection, summary, sanitize)

    def __getattr__(self, name: str) -> Any:
        """`operation`, `collection`, `summary`: described on first use, as when on."""
        if name not in ("operation", "collection", "summary"):
            raise AttributeError(name)
        text, operation, collection, summary, sanitize = self.__dict__["_described"]
        self._start_attributes: dict[str, AttributeValue] = {}
        self.operation = self.collection = self.summary = None
        try:
            self._describe(text, operation, collection, None, summary, None, sanitize)
        except Exception:
            log_once("query-describe", "describing the query failed", exc_info=True)
        return self.__dict__[name]

    def __enter__(self) -> QueryLifecycle:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        return None

    def rows(
        self, returned: int | None = None, *, read: int | None = None, written: int | None = None
    ) -> None:
        return None

    def bytes(self, read: int | None = None, *, written: int | None = None) -> None:
        return None

    def phase(self, name: str) -> Phase:
        return _off_block(_OffPhase, check_phase(name))  # type: ignore[no-any-return]

    def operator(self, name: str, *, operator_id: object = None) -> Operator:
        return _off_block(_OffOperator, check_phase(name))  # type: ignore[no-any-return]

    def cost(self, estimated: object = None, optimized: object = None) -> None:
        return None

    def cache(self, hit: bool, name: str = "plan") -> None:
        return None

    def workers(self, count: int) -> None:
        return None

    def fragments(self, count: int) -> None:
        return None

    def set_error(self, error_type: str, description: str | None = None) -> None:
        return None

    def fragment_carrier(self, carrier: Any = None) -> Any:
        return {} if carrier is None else carrier


class _OffFragment(Fragment):
    """A worker fragment that joins no trace, is no span and records nothing."""

    _span = None
    _ended = None
    _stand_in = None

    def __init__(self, system: object) -> None:
        self.system = as_label(system) or "other_sql"

    def __enter__(self) -> Fragment:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        return None

    def rows(
        self, returned: int | None = None, *, read: int | None = None, written: int | None = None
    ) -> None:
        return None

    def bytes(self, read: int | None = None, *, written: int | None = None) -> None:
        return None

    def operator(self, name: str, *, operator_id: object = None) -> Operator:
        return _off_block(_OffOperator, check_phase(name))  # type: ignore[no-any-return]

    def record_exception(self, exc: BaseException) -> None:
        return None


def off_query(
    text: object, system: object, operation: str | None, collection: str | None,
    summary: str | None, sanitize: bool, dialect: str,
) -> QueryLifecycle:  # fmt: skip
    """The lifecycle `obskit.query.lifecycle()` returns while obskit is off."""
    return _OffQuery(text, system, operation, collection, summary, sanitize, dialect)


def off_fragment(system: object) -> Fragment:
    """The fragment `obskit.query.fragment()` returns while obskit is off."""
    return _OffFragment(system)
