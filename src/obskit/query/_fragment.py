"""A worker's fragment of a distributed query: its span, facts and per-worker metrics.

A fragment is an `obskit._domain.operation.Operation` (through `Facts`, as the query's
lifecycle) whose span continues the coordinator's trace from a carrier. The worker
re-derives the query's literals from the text it received, so exception text on its spans
is redacted too. While obskit is off, `obskit.query.fragment()` hands out a shared closed
fragment per system (`named_off`).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from opentelemetry.trace import SpanKind
from opentelemetry.util.types import AttributeValue

from obskit import propagation
from obskit._base.log import log_once
from obskit._safety import literals as _literals
from obskit._safety.clean import clean_value
from obskit._safety.errors import record_exception as _record_exception
from obskit._safety.secrets import scrub_pair
from obskit._trace.handle import SpanRecipe
from obskit.query import _names as names
from obskit.query import _registry as _workers
from obskit.query import _text as _query_text
from obskit.query._operation import Facts, Operator, as_label, check_phase, inside, named_off
from obskit.query._registry import by_key, cached

__all__ = ["Fragment"]

_FRAGMENT = SpanRecipe(names.FRAGMENT_SPAN, kind=SpanKind.SERVER, scope=names.SCOPE)
_fragment_duration = by_key(names.FRAGMENT_DURATION)


class Fragment(Facts):
    """A worker's part of a distributed query; see `obskit.query.fragment`.

    Examples:
        >>> from obskit import query
        >>> with query.lifecycle("SELECT * FROM t") as q:
        ...     carrier = q.fragment_carrier()
        >>> with query.fragment(carrier, worker_id="w1", fragment_id=0) as f:
        ...     f.rows(10)
    """

    def __init__(
        self,
        carrier: Any,
        *,
        worker_id: object = None,
        fragment_id: object = None,
        system: str = "other_sql",
        operation: str | None = None,
        text: object = None,
        dialect: str = "ansi",
    ) -> None:
        if dialect not in _query_text.DIALECTS:
            raise ValueError(f"dialect must be one of {_query_text.DIALECTS}, got {dialect!r}")
        self._recipe = _FRAGMENT
        self._carrier = carrier
        self._literals = _fragment_literals(text, dialect)
        self._literals_trace = 0
        self.system = as_label(system) or "other_sql"
        base_key = ("base", self.system, as_label(operation))
        self._facts(base_key, cached(base_key, (
            (names.DB_SYSTEM_NAME, self.system), (names.DB_OPERATION_NAME, as_label(operation)),
        )))  # fmt: skip
        self._start_attributes: dict[str, AttributeValue] = {names.DB_SYSTEM_NAME: self.system}
        self._worker = _workers.worker_label(worker_id)
        for key, value in ((names.WORKER_ID, worker_id), (names.FRAGMENT_ID, fragment_id)):
            clean = clean_value(value)
            if clean is not None:
                self._start_attributes[key] = scrub_pair(
                    key, clean if type(clean) is str else str(clean)
                )

    @classmethod
    def _off(cls, system: object) -> Fragment:
        """The shared closed fragment `obskit.query.fragment()` returns while obskit is off."""
        return named_off(cls, system, "system", _system_label)

    def _open_off(self) -> None:
        super()._open_off()
        self.system = ""
        self._start_attributes = {}
        self._worker = None
        self._literals, self._literals_trace = _literals.Literals(), 0

    def __enter__(self) -> Fragment:
        if self._closed:
            return self
        try:
            self._start(_FRAGMENT, self._start_attributes, propagation.extract(self._carrier))
            if self._span is not None:
                self._literals_trace = _literals.register(self._span, self._literals)
        except Exception:
            log_once("query-fragment", "starting the fragment span failed", exc_info=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._closed and self._token is None:  # off, or ended by hand
            return
        self._detach()
        self._close(exc)

    def _end(self, exc: BaseException | None) -> None:
        try:
            elapsed = self._finish(exc, self._fact_attributes())
            failed = exc is not None or self._failure is not None  # end(label) fails too
            error = self.outcome_of(exc)[1] if failed else None
            key = ("fragment", self.system, error)
            handle = _fragment_duration.found.get(key)
            if handle is None:
                handle = _fragment_duration.get(key, cached(
                    key, ((names.DB_SYSTEM_NAME, self.system), (names.ERROR_TYPE, error)),
                ))  # fmt: skip
            handle.record(elapsed, self._ended)  # its span: the exemplar
            _workers.record_fragment(
                self.system, self._worker, elapsed, error, self._read, self._ended
            )
        finally:
            _literals.unregister(self._literals_trace, self._literals)

    @property
    def trace_id(self) -> str:
        """The trace id the fragment joined (the coordinator's query trace)."""
        return self.span.trace_id

    def operator(self, name: str, *, operator_id: object = None) -> Operator:
        """An operator run by this worker: a `query.operator.<name>` child span.

        As `QueryLifecycle.operator`, for the part of a plan a worker runs itself.

        Examples:
            >>> from obskit import query
            >>> with query.fragment({}, worker_id="w1") as f, f.operator("scan") as scan:
            ...     scan.rows(100)
        """
        if self._closed:
            return named_off(Operator, name)
        return Operator(check_phase(name), self._base, self._context_for_children, operator_id)

    def _context_for_children(self) -> Any:
        return None if self._closed else inside(self._span)

    def record_exception(self, exc: BaseException) -> None:
        """Record a handled exception on the fragment span (not marking it failed)."""
        if self._span is not None:
            _record_exception(self._span, exc, error=False)


def _system_label(system: object) -> str:
    return as_label(system) or "other_sql"


def _fragment_literals(text: object, dialect: str) -> _literals.Literals:
    """What a fragment redacts: the literals of the text it was sent, or (without one)
    every single-quoted and dollar-quoted string, since it cannot know the literals."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text[: 4 * _query_text.MAX_QUERY_TEXT_CHARS]).decode("utf-8", "replace")
    if type(text) is str:
        try:
            found = _query_text.sanitize_with_literals(text, dialect=dialect)[1]
            return _literals.Literals(found)
        except Exception:
            log_once("query-fragment-text", "reading the fragment's literals failed",
                     exc_info=True)  # fmt: skip
    return _literals.Literals(quoted=True)
