"""Query text for telemetry: literals replaced by `?`, a bounded length, and a summary.

OpenTelemetry's database conventions ask for `db.query.text` without literal values
unless the query is parameterized, and for a low-cardinality `db.query.summary`
(``SELECT orders customers``) that also names the span. This is a lexical pass, not a
parser: it never fails, costs a few microseconds per kilobyte, and errs on the side of
hiding (an unterminated string hides the rest of the text).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "MAX_QUERY_TEXT_CHARS",
    "MAX_SUMMARY_CHARS",
    "QueryShape",
    "sanitize",
    "shape",
]

#: `db.query.text` is cut at this many characters (a "..." marks the cut).
MAX_QUERY_TEXT_CHARS: Final = 2048
#: `db.query.summary` (and the root span name) is cut at this many characters (semconv).
MAX_SUMMARY_CHARS: Final = 255
# Only this much of a query is ever scanned (huge IN lists, generated SQL).
_MAX_SCAN_CHARS = 4 * MAX_QUERY_TEXT_CHARS

_LITERAL = re.compile(
    r"""
      '(?:[^']|'')*(?:'|$)                          # 'string' ('' escapes), or unterminated
    | (?<![\w$.])0[xX][0-9a-fA-F]+                  # 0x1F
    | (?<![\w$])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?  # 42, 4.2, .5, 1e9 (not in identifiers)
    """,
    re.VERBOSE,
)
_FIRST_WORD = re.compile(r"^\s*\(*\s*([A-Za-z]+)")
_TABLE = re.compile(
    r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE)\s+((?:[A-Za-z_][\w$]*|\"[^\"]{1,64}\")(?:\.[\w$]+)?)",
    re.IGNORECASE,
)
# Statement keywords accepted as db.operation.name (it labels metrics: keep it bounded).
_OPERATIONS = frozenset(
    [
        "SELECT",
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "UPSERT",
        "REPLACE",
        "WITH",
        "VALUES",
        "CREATE",
        "DROP",
        "ALTER",
        "TRUNCATE",
        "EXPLAIN",
        "ANALYZE",
        "SHOW",
        "DESCRIBE",
        "SET",
        "USE",
        "CALL",
        "EXECUTE",
        "COPY",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "GRANT",
        "REVOKE",
        "VACUUM",
    ]
)
_KEYWORDS = frozenset(["SELECT", "WHERE", "LATERAL", "ONLY"])
_MAX_TABLES = 4


def sanitize(text: str, limit: int = MAX_QUERY_TEXT_CHARS) -> str:
    """`text` with string and number literals replaced by `?`, cut at `limit` characters.

    Examples:
        >>> sanitize("SELECT * FROM users WHERE id = 42 AND name = 'o''brien'")
        'SELECT * FROM users WHERE id = ? AND name = ?'
        >>> sanitize("SELECT a1 FROM t2 WHERE x > 1.5e3")
        'SELECT a1 FROM t2 WHERE x > ?'
    """
    return cap(_LITERAL.sub("?", text[:_MAX_SCAN_CHARS]), limit)


def cap(text: str, limit: int = MAX_QUERY_TEXT_CHARS) -> str:
    """Cut `text` at `limit` characters, marking the cut with "...".

    Examples:
        >>> cap("x" * 10, 5)
        'xx...'
    """
    return text if len(text) <= limit else text[: limit - 3] + "..."


class QueryShape:
    """What the text says about a query: operation, tables and summary."""

    __slots__ = ("operation", "summary", "tables")

    def __init__(self, operation: str | None, tables: tuple[str, ...]) -> None:
        self.operation = operation
        self.tables = tables
        parts = [operation, *tables] if operation else list(tables)
        self.summary = cap(" ".join(parts), MAX_SUMMARY_CHARS) if parts else None

    @property
    def collection(self) -> str | None:
        """The table when exactly one is named (db.collection.name), else None."""
        return self.tables[0] if len(self.tables) == 1 else None


def shape(text: str) -> QueryShape:
    """Operation and tables of a (sanitized) query text.

    Examples:
        >>> s = shape("SELECT o.id FROM orders o JOIN customers c ON o.c = c.id")
        >>> s.operation, s.tables, s.summary
        ('SELECT', ('orders', 'customers'), 'SELECT orders customers')
    """
    head = text[:_MAX_SCAN_CHARS]
    match = _FIRST_WORD.match(head)
    word = match.group(1).upper() if match else None
    operation = word if word in _OPERATIONS else None
    tables: list[str] = []
    for found in _TABLE.finditer(head):
        table = found.group(1).strip('"')
        if table.upper() not in _KEYWORDS and table not in tables:
            tables.append(table)
            if len(tables) == _MAX_TABLES:
                break
    return QueryShape(operation, tuple(tables))
