"""The query sanitiser: every literal form, comments, dialects and what it cannot read."""

from __future__ import annotations

import pytest

from obskit import query
from obskit.query._text import MAX_QUERY_TEXT_CHARS, sanitize_with_literals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT * FROM t WHERE pw = 'hunter2'", "SELECT * FROM t WHERE pw = ?"),
        ("SELECT 'o''brien', 42, 4.2, .5, 1e9, 0x1F FROM t", "SELECT ?, ?, ?, ?, ?, ? FROM t"),
        ("SELECT E'it\\'s' FROM t", "SELECT ? FROM t"),  # PostgreSQL escape string
        ("SELECT N'x', X'1F', B'01' FROM t", "SELECT ?, ?, ? FROM t"),
        ("SELECT a1, t2.c3 FROM t2", "SELECT a1, t2.c3 FROM t2"),  # digits in identifiers
    ],
)
def test_strings_and_numbers(text: str, expected: str) -> None:
    assert query.sanitize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT $$hunter2$$ FROM t", "SELECT ? FROM t"),
        ("SELECT $pw$hunter2 $$ still$pw$ FROM t", "SELECT ? FROM t"),  # $$ inside $pw$
        ("DO $body$ BEGIN RAISE 'x'; END $body$", "DO ?"),
        ("SELECT * FROM t WHERE a = $1 AND b$c = 2", "SELECT * FROM t WHERE a = $1 AND b$c = ?"),
    ],
)
def test_dollar_quoting(text: str, expected: str) -> None:
    assert query.sanitize(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SELECT /* pw=hunter2 */ a FROM t", "SELECT a FROM t"),
        ("SELECT a FROM t -- pw=hunter2", "SELECT a FROM t"),
        ("SELECT a -- pw=hunter2\nFROM t", "SELECT a \nFROM t"),
        ("SELECT '/* not a comment */', a FROM t", "SELECT ?, a FROM t"),
        ("SELECT '--x' FROM t", "SELECT ? FROM t"),
        ("SELECT a/*x*/FROM t", "SELECT a FROM t"),  # a comment still separates tokens
    ],
)
def test_comments_are_removed(text: str, expected: str) -> None:
    assert query.sanitize(text) == expected


def test_double_quotes_by_dialect() -> None:
    text = 'SELECT "Name" FROM "Users" WHERE pw = "hunter2"'
    # ANSI (default): double quotes are identifiers and stay, except in a value position,
    # where a MySQL query sanitised without dialect="mysql" has its strings.
    assert query.sanitize(text) == 'SELECT "Name" FROM "Users" WHERE pw = ?'
    # MySQL: double-quoted text is a string; backticks are identifiers.
    assert (
        query.sanitize('SELECT `Name` FROM t WHERE pw = "hunter2"', dialect="mysql")
        == "SELECT `Name` FROM t WHERE pw = ?"
    )
    assert query.sanitize("SELECT 'it\\'s' FROM t # pw=x", dialect="mysql") == "SELECT ? FROM t"
    assert query.sanitize("SELECT a FROM t # comment") == "SELECT a FROM t # comment"  # ANSI
    # A quote inside an ANSI identifier does not open a string.
    assert query.sanitize("SELECT \"it's\" FROM t WHERE x = 'y'") == (
        'SELECT "it\'s" FROM t WHERE x = ?'
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('SELECT a FROM t WHERE password = "hunter2"', "SELECT a FROM t WHERE password = ?"),
        ('SELECT a FROM t WHERE pw="hunter2"', "SELECT a FROM t WHERE pw=?"),
        (
            'SELECT a FROM t WHERE pw <> "x1" AND pw != "x2"',
            "SELECT a FROM t WHERE pw <> ? AND pw != ?",
        ),
        ('SELECT a FROM t WHERE n < "5" OR n >= "9"', "SELECT a FROM t WHERE n < ? OR n >= ?"),
        ('SELECT a FROM t WHERE name LIKE "%bob%"', "SELECT a FROM t WHERE name LIKE ?"),
        ('SELECT a FROM t WHERE name not like "b%"', "SELECT a FROM t WHERE name not like ?"),
        ('SELECT a FROM t WHERE k IN ("x", "y")', "SELECT a FROM t WHERE k IN (?, ?)"),
        (
            'INSERT INTO t (a, b) VALUES ("x", "y"), (3, "z")',
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)",
        ),
        ('INSERT INTO t VALUES (now(), "x")', "INSERT INTO t VALUES (now(), ?)"),
        ('UPDATE t SET pw = "s3cret" WHERE id = 1', "UPDATE t SET pw = ? WHERE id = ?"),
        (
            'SELECT a FROM t WHERE d BETWEEN "2020" AND "2021"',
            "SELECT a FROM t WHERE d BETWEEN ? AND ?",
        ),
        (
            'SELECT CASE WHEN a THEN "yes" ELSE "no" END FROM t',
            "SELECT CASE WHEN a THEN ? ELSE ? END FROM t",
        ),
        ('SELECT a FROM t WHERE pw = lower("Hunter2")', "SELECT a FROM t WHERE pw = lower(?)"),
        (
            'SELECT a FROM t WHERE (k, v) IN (("a", "b"), ("c", "d"))',
            "SELECT a FROM t WHERE (k, v) IN ((?, ?), (?, ?))",
        ),
        ('SELECT a FROM t WHERE pw = "it\'s ""x"""', "SELECT a FROM t WHERE pw = ?"),
    ],
)
def test_double_quoted_text_in_a_value_position_is_a_literal(text: str, expected: str) -> None:
    assert query.sanitize(text) == expected


def test_double_quoted_value_is_handed_back_for_redaction() -> None:
    assert sanitize_with_literals('SELECT a FROM t WHERE pw = "it\'s ""x"""') == (
        "SELECT a FROM t WHERE pw = ?",
        ('it\'s "x"',),
    )


@pytest.mark.parametrize(
    "text",
    [
        'SELECT "col", "Other" FROM "schema"."Table" WHERE "col" > 0',
        'SELECT t."a" FROM "t" JOIN "u" ON "t"."id" = "u"."id" ORDER BY "a" DESC',
        'INSERT INTO "t" ("a", "b") SELECT "a", "b" FROM "u"',
        'SELECT a FROM t WHERE b IN (SELECT "c" FROM "u")',
        'SELECT count("a") AS "n" FROM t GROUP BY "b" HAVING count("a") > 1',
        'SELECT a FROM t WHERE "x" = 1 AND "y" BETWEEN 1 AND 2',
    ],
)
def test_double_quoted_identifiers_in_identifier_positions_stay(text: str) -> None:
    sanitized = query.sanitize(text)
    assert sanitized.count('"') == text.count('"'), sanitized


def test_unknown_dialect_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="ansi"):
        query.sanitize("SELECT 1", dialect="oracle")
    with pytest.raises(ValueError, match="mysql"):
        query.lifecycle("SELECT 1", dialect="oracle")


@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM t WHERE pw = 'hunter2",
        "SELECT * FROM t WHERE pw = $$hunter2",
        "SELECT * FROM t WHERE pw = $q$hunter2$$",
        "SELECT * FROM t /* pw=hunter2",
        'SELECT "hunter2 FROM t',
        "SELECT `hunter2 FROM t",
    ],
)
def test_untokenisable_statement_is_reduced_to_its_first_keyword(text: str) -> None:
    sanitized, literals = sanitize_with_literals(text)
    assert sanitized == "SELECT"
    assert any("hunter2" in literal for literal in literals)  # still redacted elsewhere


def test_untokenisable_statement_without_a_known_keyword_shows_nothing() -> None:
    assert query.sanitize("hunter2 'oops") == "?"


def test_literals_are_handed_back_for_redaction() -> None:
    sanitized, literals = sanitize_with_literals(
        "SELECT 7 FROM t WHERE a = 'o''brien' AND b = $$x y$$ /* pw=hunter2 */"
    )
    assert sanitized == "SELECT ? FROM t WHERE a = ? AND b = ?"
    assert literals == ("7", "o'brien", "x y", "pw=hunter2")


def test_long_text_is_scanned_up_to_a_bound_and_capped() -> None:
    text = "SELECT * FROM t WHERE a IN (" + ", ".join(["'x'"] * 5000) + ")"
    sanitized = query.sanitize(text)
    assert len(sanitized) == MAX_QUERY_TEXT_CHARS
    assert "'x'" not in sanitized
    # A string still open at the scan limit hides the rest instead of passing it through.
    cut = "SELECT '" + "s" * (5 * MAX_QUERY_TEXT_CHARS)
    assert "s" * 10 not in query.sanitize(cut)
