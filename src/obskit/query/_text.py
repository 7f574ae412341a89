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
    "OTHER_OPERATION",
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
# Leading blanks, parentheses and comments, then the first word.
_FIRST_WORD = re.compile(r"^(?:\s|\(|--[^\n]*(?:\n|$)|/\*.*?\*/)*([A-Za-z]+)", re.S)
# One common table expression's head: `name [(columns)] AS [NOT] [MATERIALIZED] (`.
_CTE_NAME = re.compile(r"\s*((?:[A-Za-z_][\w$]*|\"[^\"]{1,64}\"))\s*")
_CTE_AS = re.compile(r"AS\s+(?:NOT\s+)?(?:MATERIALIZED\s+)?\(", re.IGNORECASE)
_WORD = re.compile(r"\s*\(*\s*([A-Za-z]+)")
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
#: db.operation.name of a statement whose first keyword is not a known one (`SELEC`,
#: another language): a bounded label, as semconv uses `_OTHER` for unknown values.
OTHER_OPERATION: Final = "_OTHER"


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

    A statement starting with `WITH` is named by its main statement (the one after the
    common table expressions), and the CTE names are not tables. A first keyword that is
    not a known statement (`SELEC`, another query language) gives `_OTHER`; a text with
    no word at all gives no operation.

    Examples:
        >>> s = shape("SELECT o.id FROM orders o JOIN customers c ON o.c = c.id")
        >>> s.operation, s.tables, s.summary
        ('SELECT', ('orders', 'customers'), 'SELECT orders customers')
        >>> s = shape("WITH big AS (SELECT id FROM orders WHERE n > ?) SELECT * FROM big")
        >>> s.operation, s.tables
        ('SELECT', ('orders',))
        >>> shape("SELEC * FROM t").summary
        '_OTHER t'
    """
    head = text[:_MAX_SCAN_CHARS]
    match = _FIRST_WORD.match(head)
    word = match.group(1).upper() if match else None
    ctes: set[str] = set()
    if word == "WITH" and match is not None:
        word = _main_statement(head, match.end(), ctes)
    operation = None if word is None else word if word in _OPERATIONS else OTHER_OPERATION
    tables: list[str] = []
    for found in _TABLE.finditer(head):
        table = found.group(1).strip('"')
        if table.upper() not in _KEYWORDS and table.lower() not in ctes and table not in tables:
            tables.append(table)
            if len(tables) == _MAX_TABLES:
                break
    return QueryShape(operation, tuple(tables))


def _main_statement(text: str, at: int, ctes: set[str]) -> str:
    """The keyword of the statement after `WITH [RECURSIVE] a AS (...), b AS (...)`.

    Collects the CTE names (lower case) into `ctes`. A text cut before its main statement
    (or not shaped like a CTE list) is named `WITH`, as before.
    """
    recursive = _WORD.match(text, at)
    if recursive is not None and recursive.group(1).upper() == "RECURSIVE":
        at = recursive.end()
    while True:
        name = _CTE_NAME.match(text, at)
        if name is None:
            return "WITH"
        at = name.end()
        if text.startswith("(", at):  # a column list
            at = _skip_parentheses(text, at)
            while at < len(text) and text[at].isspace():
                at += 1
        head = _CTE_AS.match(text, at)
        if head is None:
            return "WITH"
        ctes.add(name.group(1).strip('"').lower())
        at = _skip_parentheses(text, head.end() - 1)
        while at < len(text) and text[at].isspace():
            at += 1
        if text.startswith(",", at):
            at += 1
            continue
        word = _WORD.match(text, at)
        return word.group(1).upper() if word is not None else "WITH"


def _skip_parentheses(text: str, at: int) -> int:
    """The index after the parenthesis closing the one at `at` (the end when unclosed)."""
    depth = 0
    for index in range(at, len(text)):
        char = text[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return index + 1
    return len(text)
