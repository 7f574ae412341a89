"""Literals known to be secret for a trace: removed from exception and event text.

A query lifecycle registers the literals its sanitiser removed from the query text
under the query's trace id, for as long as the block runs; a worker's fragment does the
same with the text it was sent (or, given none, asks for every single-quoted or
dollar-quoted string, and double-quoted text after a comparison, to go). Whatever obskit
records on a span of that trace meanwhile -- exception messages, stack traces, status
descriptions, event attributes -- is redacted of them first, so an engine error quoting
the offending SQL does not leak the literal.

Matching: string literals of 4 characters or more are removed wherever they appear;
numbers and shorter strings only as whole tokens (so the literal ``7`` does not eat every
7 of a stack trace, though a line number equal to a literal does become ``?``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace as trace_api

from obskit._base.log import log_once
from obskit._safety.secrets import count

__all__ = ["Literals", "redact_attributes", "redact_text", "register", "unregister"]

_MAX_TRACES = 10_000  # registrations alive at once (one per query or fragment in flight)
_QUOTED = (
    r"'(?:[^'\\]|\\.|'')*'|\$(?P<tag>(?:[A-Za-z_]\w*)?)\$[\s\S]*?\$(?P=tag)\$"
    # "x" right after a comparison or LIKE: a MySQL string (a "name" elsewhere stays)
    r'|(?:(?<=[=<>])|(?<=[=<>] )|(?<=[Ll][Ii][Kk][Ee] ))"(?:[^"\\]|\\.|"")*"'
)


class Literals:
    """A set of literal values to remove from text (compiled on first use)."""

    __slots__ = ("_pattern", "quoted", "values")

    def __init__(self, values: tuple[str, ...] = (), *, quoted: bool = False) -> None:
        self.values = values
        self.quoted = quoted  # also remove every '...' and $$...$$ string, and = "..."
        self._pattern: re.Pattern[str] | None = None

    def pattern(self) -> re.Pattern[str] | None:
        if self._pattern is None:
            parts = [_QUOTED] if self.quoted else []
            for value in sorted(set(self.values), key=len, reverse=True):
                escaped = re.escape(value)
                if len(value) >= 4 and not value.replace(".", "").isdigit():
                    parts.append(escaped)
                else:
                    parts.append(rf"(?<![\w.]){escaped}(?![\w.])")
            if not parts:
                return None
            self._pattern = re.compile("|".join(parts))
        return self._pattern

    def redact(self, text: str) -> str:
        """`text` with every literal replaced by ``?`` (counted as query_literal)."""
        pattern = self.pattern()
        if pattern is None:
            return text
        redacted, found = pattern.subn("?", text)
        if found:
            count("query_literal", found)
        return redacted

    @staticmethod
    def merge(many: list[Literals]) -> Literals:
        values: list[str] = []
        for one in many:
            values.extend(one.values)
        return Literals(tuple(values), quoted=any(one.quoted for one in many))


_by_trace: dict[int, list[Literals]] = {}
_lock = threading.RLock()  # re-entrant: a finalizer may run a query while one registers


def register(span: trace_api.Span, literals: Literals) -> int:
    """Redact `literals` on every span of `span`'s trace until `unregister`; 0 if not done."""
    if not span.is_recording() or (not literals.values and not literals.quoted):
        return 0
    trace_id = span.get_span_context().trace_id
    with _lock:
        if len(_by_trace) >= _MAX_TRACES and trace_id not in _by_trace:
            log_once("literals-full", "over %d queries in flight: literal redaction skipped "
                     "for the newest", _MAX_TRACES)  # fmt: skip
            return 0
        _by_trace.setdefault(trace_id, []).append(literals)
    return trace_id


def unregister(trace_id: int, literals: Literals) -> None:
    """Undo `register` (a trace id of 0 is ignored)."""
    if not trace_id:
        return
    with _lock:
        found = _by_trace.get(trace_id)
        if found is not None:
            try:
                found.remove(literals)
            except ValueError:
                pass
            if not found:
                del _by_trace[trace_id]


def for_span(span: trace_api.Span) -> Literals | None:
    """The literals to remove from what is recorded on `span`, or None."""
    if not _by_trace:  # no query in flight: one truthiness check
        return None
    try:
        found = _by_trace.get(span.get_span_context().trace_id)
    except Exception:
        return None
    if not found:
        return None
    return found[0] if len(found) == 1 else Literals.merge(list(found))


def redact_text(span: trace_api.Span, text: str) -> str:
    """`text` without the literals registered for `span`'s trace."""
    literals = for_span(span)
    if literals is None or not text:
        return text
    try:
        return literals.redact(text)
    except Exception:
        log_once("literals-redact", "redacting query literals failed", exc_info=True)
        return "?"


def redact_attributes(span: trace_api.Span, attributes: Mapping[str, Any]) -> Mapping[str, Any]:
    """String attribute values without the literals registered for `span`'s trace."""
    literals = for_span(span)
    if literals is None or not attributes:
        return attributes
    cleaned: dict[str, Any] = {}
    for key, value in attributes.items():
        if type(value) is str:
            value = literals.redact(value)
        elif type(value) is tuple and value and type(value[0]) is str:
            value = tuple(literals.redact(item) for item in value)
        cleaned[key] = value
    return cleaned
