"""Literals removed from the query text never come back through exception or event text."""

from __future__ import annotations

import threading

import pytest
from opentelemetry.sdk.trace import ReadableSpan

import obskit
from obskit import query
from obskit._safety import literals as _literals

SECRET = "hunter2"
SQL = f"SELECT id FROM users WHERE password = '{SECRET}' AND pin = 90210"


class ParseError(Exception):
    pass


def everything_recorded(span: ReadableSpan) -> str:
    """Every text obskit recorded on `span`: attributes, events, status."""
    parts = [str(dict(span.attributes or {})), str(span.status.description)]
    for event in span.events:
        parts.append(event.name)
        parts.append(str(dict(event.attributes or {})))
    return "\n".join(parts)


def test_engine_error_quoting_the_sql_is_redacted_on_every_span_of_the_query(
    obskit_capture,
) -> None:
    @obskit.traced("engine.cast")
    def cast(value: str) -> int:
        return int(value)  # ValueError: invalid literal for int() with base 10: 'hunter2'

    def run() -> None:
        with query.lifecycle(SQL, system="minidb") as q, q.phase("parse"):
            try:
                cast(SECRET)
            except ValueError as error:
                raise ParseError(f"near password = '{SECRET}' AND pin = 90210") from error

    with pytest.raises(ParseError) as raised:
        run()
    assert SECRET in str(raised.value)  # the user's exception is untouched

    spans = obskit_capture.spans
    assert {s.name for s in spans} == {"SELECT users", "query.parse", "engine.cast"}
    for span in spans:
        recorded = everything_recorded(span)
        assert SECRET not in recorded, (span.name, recorded)
        assert "90210" not in recorded, (span.name, recorded)
        event = next(e for e in span.events if e.name == "exception")
        assert "?" in str(event.attributes["exception.message"])
        assert "Traceback" in str(event.attributes["exception.stacktrace"])
    cast_span = obskit_capture.one("engine.cast")
    assert cast_span.status.description == "ValueError: invalid literal for int() with base 10: '?'"
    assert _literals._by_trace == {}  # nothing stays registered after the query


def test_events_and_handled_errors_inside_the_query_are_redacted(obskit_capture) -> None:
    with query.lifecycle(SQL, system="minidb") as q:
        with q.phase("execute"):
            obskit.current_span().add_event("engine.retry", {"reason": f"lock on '{SECRET}'"})
        q.set_error("rejected", f"value {SECRET} rejected")
    root = obskit_capture.one("SELECT users")
    assert root.status.description == "value ? rejected"
    event = obskit_capture.one("query.execute").events[0]
    assert dict(event.attributes) == {"reason": "lock on '?'"}


def test_the_same_text_outside_a_query_is_not_touched(obskit_capture) -> None:
    with query.lifecycle(SQL, system="minidb"):
        pass
    with pytest.raises(KeyError), obskit.span("after"):
        raise KeyError(SECRET)
    event = obskit_capture.one("after").events[0]
    assert SECRET in str(event.attributes["exception.message"])


def test_unsanitized_text_registers_nothing(obskit_capture) -> None:
    with pytest.raises(ValueError), query.lifecycle("SELECT 1", sanitize=False):
        raise ValueError("1 row")
    event = obskit_capture.one("SELECT").events[0]
    assert event.attributes["exception.message"] == "1 row"


def test_worker_fragment_redacts_the_literals_of_the_text_it_was_sent(obskit_capture) -> None:
    with query.lifecycle(SQL, system="minidb") as q:
        carrier = q.fragment_carrier()
    failures: list[BaseException] = []

    def worker(text: str | None, fragment_id: int) -> None:
        try:
            with query.fragment(carrier, worker_id="w1", fragment_id=fragment_id, text=text):
                raise RuntimeError(f"bad pin 90210 for {SECRET!r}")
        except RuntimeError:
            pass
        except BaseException as error:  # pragma: no cover - reported below
            failures.append(error)

    # A thread stands for a worker process: the coordinator's query has ended, so only
    # what the worker itself registers can redact.
    thread = threading.Thread(target=worker, args=(SQL, 0))
    thread.start()
    thread.join(timeout=30)
    thread = threading.Thread(target=worker, args=(None, 1))
    thread.start()
    thread.join(timeout=30)
    assert failures == []
    with_text, without_text = sorted(
        obskit_capture.find("query.fragment"), key=lambda s: s.attributes["query.fragment.id"]
    )
    assert with_text.status.description == "RuntimeError: bad pin ? for '?'"
    # Without the text the worker removes every quoted string (numbers stay).
    assert without_text.status.description == "RuntimeError: bad pin 90210 for ?"
    for span in (with_text, without_text):
        assert SECRET not in everything_recorded(span)


def test_redactions_are_counted(obskit_capture) -> None:
    with pytest.raises(ValueError), query.lifecycle(SQL, system="minidb"):
        raise ValueError(SECRET)
    point = obskit_capture.metric("obskit.scrubbing.redactions", {"source": "query_literal"})
    assert point.value >= 3  # message, stack trace (twice: the raise line quotes it)


def test_sanitised_text_is_not_mangled_by_scrubbing_but_raw_text_is_scrubbed(
    obskit_capture,
) -> None:
    joined = "SELECT * FROM s JOIN t ON s.token = t.token WHERE s.session_id = 7"
    with query.lifecycle(joined, summary="join"):
        pass
    with query.lifecycle("SELECT 1 FROM t WHERE password = $1", sanitize=False, summary="raw"):
        pass
    assert obskit_capture.one("join").attributes["db.query.text"] == (
        "SELECT * FROM s JOIN t ON s.token = t.token WHERE s.session_id = ?"
    )
    assert obskit_capture.one("raw").attributes["db.query.text"] == (
        "SELECT 1 FROM t WHERE password = [REDACTED: password]"
    )


def test_without_the_text_double_quoted_values_are_removed_and_names_stay() -> None:
    quoted = _literals.Literals(quoted=True)
    message = 'near WHERE "pw" = "hunter2" AND name LIKE "bo%" AND n>"7" AND p="x"'
    assert quoted.redact(message) == 'near WHERE "pw" = ? AND name LIKE ? AND n>? AND p=?'


def test_a_double_quoted_value_in_an_ansi_query_is_redacted_from_exception_text(
    obskit_capture,
) -> None:
    sql = 'SELECT id FROM "users" WHERE password = "hunter2-dq"'
    with pytest.raises(ParseError), query.lifecycle(sql, system="minidb"):
        raise ParseError(f'syntax error near password = "hunter2-dq" in {sql}')
    span = obskit_capture.one("SELECT users")
    assert span.attributes["db.query.text"] == 'SELECT id FROM "users" WHERE password = ?'
    assert "hunter2-dq" not in everything_recorded(span)


def test_a_text_seen_before_is_redacted_the_same_way_each_time(obskit_capture) -> None:
    # The second and third lifecycles reuse what the first one worked out for SQL
    # (sanitized text, literals, shape); their spans must be redacted all the same,
    # including two of them at once in one trace.
    for _ in range(2):
        with query.lifecycle(SQL, system="minidb") as q:
            q.set_error("rejected", f"value {SECRET} rejected")
    with query.lifecycle(SQL, system="minidb") as outer, query.lifecycle(SQL, system="minidb"):
        outer.set_error("rejected", f"value {SECRET} rejected")
    roots = [span for span in obskit_capture.spans if span.name == "SELECT users"]
    assert len(roots) == 4
    assert all(SECRET not in everything_recorded(span) for span in roots)
    assert [span.status.description for span in roots].count("value ? rejected") == 3
    assert {span.attributes["db.query.text"] for span in roots} == {
        "SELECT id FROM users WHERE password = ? AND pin = ?"
    }
