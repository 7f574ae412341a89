"""Scrubbing: secret-looking keys and values are redacted in everything obskit records."""

from __future__ import annotations

import re

import pytest

import obskit
from obskit import _config, query
from obskit._safety import secrets as _scrub
from obskit._safety.secrets import DEFAULT_PATTERNS, scrub_pair

SECRET = "hunter2"


def redactions(capture, source: str) -> float:
    return capture.metric("obskit.scrubbing.redactions", {"source": source}).value


KEY_CASES = [
    ("db.password", SECRET, "[REDACTED: password]"),
    ("user.passwd", SECRET, "[REDACTED: passwd]"),
    ("client_secret", SECRET, "[REDACTED: secret]"),
    ("refresh_token", SECRET, "[REDACTED: token]"),
    ("x-api-key", SECRET, "[REDACTED: api-key]"),
    ("http.request.header.authorization", SECRET, "[REDACTED: auth]"),
    ("aws.credentials", SECRET, "[REDACTED: credential]"),
    ("tls.private_key", SECRET, "[REDACTED: private_key]"),
    ("http.cookie", SECRET, "[REDACTED: cookie]"),
    ("session_id", 42, "[REDACTED: session]"),
    ("jwt", SECRET, "[REDACTED: jwt]"),
    ("person.ssn", SECRET, "[REDACTED: ssn]"),
    ("credit_card", SECRET, "[REDACTED: credit_card]"),
]


def test_the_key_cases_cover_every_default_pattern() -> None:
    for pattern in DEFAULT_PATTERNS:
        assert any(re.search(pattern, key, re.IGNORECASE) for key, _, _ in KEY_CASES), pattern


@pytest.mark.parametrize(("key", "value", "expected"), KEY_CASES)
def test_every_default_pattern_redacts_by_key(key: str, value: object, expected: str) -> None:
    assert scrub_pair(key, value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("login failed: password=hunter2", "login failed: password=[REDACTED: password]"),
        (
            "{'api_key': 'hunter2', 'user': 'bob'}",
            "{'api_key': [REDACTED: api_key], 'user': 'bob'}",
        ),
        ("Authorization: Bearer abc.def", "Authorization: [REDACTED: auth]"),
        ("tok eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln end", "tok [REDACTED: jwt] end"),
        ("-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----", "[REDACTED: private key]"),
        ("ssn 123-45-6789", "ssn [REDACTED: ssn]"),
        ("card 4111 1111 1111 1111", "card [REDACTED: credit card]"),
    ],
)
def test_string_values_are_scanned(value: str, expected: str) -> None:
    assert scrub_pair("note", value) == expected


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("author", "bob"),  # not "auth"
        ("note", "order 1234567890123 shipped"),  # fails the Luhn check: not a card
        ("db.query.text", "SELECT * FROM sessions WHERE token = ?"),  # placeholders stay
        ("db.collection.name", "sessions"),  # a word alone is not a secret
    ],
)
def test_ordinary_values_pass(key: str, value: str) -> None:
    assert scrub_pair(key, value) == value


def test_no_catalogue_attribute_of_obskit_is_redacted_by_its_key() -> None:
    from obskit._tools.catalogue import all_catalogues

    keys = {a.key for catalogue in all_catalogues() for a in catalogue.attributes}
    assert keys  # the catalogues are loaded
    assert [key for key in sorted(keys) if _scrub._rules.key_label(key)] == []


def test_spans_events_args_results_and_exceptions_are_scrubbed(obskit_capture) -> None:
    @obskit.traced("login", record_args=["user", "password", "note"], record_result=True)
    def login(user: str, password: str, note: str) -> str:
        obskit.set_attribute("auth.method", "basic")
        obskit.current_span().add_event("retry", {"cookie": "c=1", "attempt": 2})
        raise PermissionError(f"login refused, password={password}")

    with pytest.raises(PermissionError):
        login("bob", SECRET, f"token={SECRET}")
    span = obskit_capture.one("login")
    assert dict(span.attributes) == {
        "code.arg.user": "bob",
        "code.arg.password": "[REDACTED: password]",
        "code.arg.note": "token=[REDACTED: token]",
        "auth.method": "[REDACTED: auth]",
        "error.type": "PermissionError",
    }
    retry, exception = span.events
    assert dict(retry.attributes) == {"cookie": "[REDACTED: cookie]", "attempt": 2}
    assert exception.attributes["exception.message"] == (
        "login refused, password=[REDACTED: password]"
    )
    assert SECRET not in str(exception.attributes["exception.stacktrace"])
    assert SECRET not in str(span.status.description)
    assert redactions(obskit_capture, "attribute") >= 4
    assert redactions(obskit_capture, "exception") >= 2

    @obskit.traced("issue", record_result=True)
    def issue() -> str:
        return f"session={SECRET}"

    issue()
    assert obskit_capture.one("issue").attributes["code.result"] == "session=[REDACTED: session]"


def test_span_and_query_attributes_are_scrubbed(obskit_capture) -> None:
    with obskit.span("connect", attributes={"db.user": "bob", "db.password": SECRET}):
        pass
    with query.lifecycle("SELECT 1", attributes={"client.token": SECRET}):
        pass
    assert obskit_capture.one("connect").attributes["db.password"] == "[REDACTED: password]"
    assert obskit_capture.one("SELECT").attributes["client.token"] == "[REDACTED: token]"


def test_metric_attribute_values_follow_the_same_rules(obskit_capture) -> None:
    requests = obskit.counter("demo.requests", "{request}", "Requests")
    for _ in range(3):
        requests.add(1, {"route": "/login", "session": SECRET})
    requests.add(1, {"route": f"/login?token={SECRET}"})
    obskit.observable_gauge(
        "demo.sessions",
        [lambda options: [obskit_observation(1, {"user.cookie": SECRET})]],
    )
    hot = obskit.hot_counter("demo.hot", "{op}", "Hot ops").bind({"api_key": SECRET})
    hot.add(1)
    points = obskit_capture.metrics()
    assert SECRET not in repr([p.attributes for p in points])
    assert obskit_capture.metric("demo.requests", {"session": "[REDACTED: session]"}).value == 3
    assert (
        obskit_capture.metric("demo.requests", {"route": "/login?token=[REDACTED: token]"}).value
        == 1
    )
    assert obskit_capture.metric("demo.sessions").attributes == {
        "user.cookie": "[REDACTED: cookie]"
    }
    assert obskit_capture.metric("demo.hot").attributes == {"api_key": "[REDACTED: api_key]"}
    assert redactions(obskit_capture, "metric") >= 4  # every record counts, cached or not


def obskit_observation(value: int, attributes: dict[str, str]):  # type: ignore[no-untyped-def]
    from opentelemetry.metrics import Observation

    return Observation(value, attributes)


def test_scrubbing_false_turns_it_off(obskit_capture) -> None:
    obskit.configure(exporters=["memory"], scrubbing=False)
    with obskit.span("connect", attributes={"db.password": SECRET}):
        pass
    assert obskit_capture.one("connect").attributes["db.password"] == SECRET
    assert obskit.telemetry().settings.scrubbing is None  # type: ignore[union-attr]


def test_extra_patterns_and_a_callback_that_keeps_or_replaces(obskit_capture) -> None:
    seen: list[obskit.ScrubMatch] = []

    def decide(match: obskit.ScrubMatch) -> object:
        seen.append(match)
        if match.key == "llm.token_count":
            return match.value  # keep
        if match.pattern == "tenant_key":
            return "tenant-****"  # replace
        return None  # redact

    options = obskit.ScrubbingOptions(extra_patterns=["tenant_key"], callback=decide)
    obskit.configure(exporters=["memory"], scrubbing=options)
    with obskit.span(
        "call",
        attributes={"llm.token_count": 812, "tenant_key": "t-1", "password": SECRET},
    ):
        pass
    assert dict(obskit_capture.one("call").attributes) == {
        "llm.token_count": 812,
        "tenant_key": "tenant-****",
        "password": "[REDACTED: password]",
    }
    assert {(m.key, m.pattern) for m in seen} == {
        ("llm.token_count", "token"),
        ("tenant_key", "tenant_key"),
        ("password", "password"),
    }


def test_a_raising_callback_redacts(obskit_capture, caplog) -> None:
    def broken(match: obskit.ScrubMatch) -> object:
        raise RuntimeError("bug in the callback")

    obskit.configure(exporters=["memory"], scrubbing=obskit.ScrubbingOptions(callback=broken))
    obskit.set_attribute("unused", 1)
    with obskit.span("call", attributes={"password": SECRET}):
        pass
    assert obskit_capture.one("call").attributes["password"] == "[REDACTED: password]"
    assert "scrubbing callback raised" in caplog.text


def test_bad_options_name_the_problem() -> None:
    with pytest.raises(ValueError, match=r"\(unclosed"):
        obskit.ScrubbingOptions(extra_patterns=["(unclosed"])
    with pytest.raises(ValueError, match="list of regular expressions"):
        obskit.ScrubbingOptions(extra_patterns="password")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ScrubbingOptions"):
        obskit.configure(exporters=["memory"], scrubbing="off")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (None, ()),
        ("true", ()),
        ("false", None),
        ("off", None),
        ("tenant_key, internal_id ,", ("tenant_key", "internal_id")),
        ("ok_pattern,(bad", ("ok_pattern",)),  # the bad one is skipped with a warning
    ],
)
def test_environment_variable(monkeypatch, env: str | None, expected: object) -> None:
    if env is None:
        monkeypatch.delenv("OBSKIT_SCRUBBING", raising=False)
    else:
        monkeypatch.setenv("OBSKIT_SCRUBBING", env)
    scrubbing = _config.resolve().scrubbing
    if expected is None:
        assert scrubbing is None
    else:
        assert scrubbing is not None
        assert scrubbing.extra_patterns == expected


def test_the_argument_beats_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("OBSKIT_SCRUBBING", "false")
    assert _config.resolve(scrubbing=True).scrubbing == obskit.ScrubbingOptions()


def test_extra_patterns_also_scan_values(obskit_capture) -> None:
    options = obskit.ScrubbingOptions(extra_patterns=["Tenant[-_]Key"])
    obskit.configure(exporters=["memory"], scrubbing=options)
    assert scrub_pair("note", "using TENANT-KEY: t-991 now") == (
        "using TENANT-KEY: [REDACTED: tenant-key] now"
    )
    assert scrub_pair("note", "password=x") == "password=[REDACTED: password]"  # defaults stay


def test_text_whose_length_changes_when_lower_cased_is_still_scanned() -> None:
    text = "İstanbul login: password=hunter2"  # "İ".lower() is two characters
    assert len(text.lower()) != len(text)
    assert scrub_pair("note", text) == "İstanbul login: password=[REDACTED: password]"


def test_a_redacted_value_is_stable_when_scrubbed_again() -> None:
    once = scrub_pair("note", f"password={SECRET}")
    assert scrub_pair("note", once) == once
    assert scrub_pair("db.password", scrub_pair("db.password", SECRET)) == "[REDACTED: password]"


def test_values_found_clean_are_remembered_and_secrets_never_are() -> None:
    rules = _scrub._Rules(_scrub.ScrubbingOptions())
    assert rules.find("SELECT users") is None
    assert "SELECT users" in rules.clean
    secret = "login with token=abc123 failed"
    for _ in range(2):  # found again, each time: a secret is never taken from the cache
        assert rules.find(secret) == [(17, 23, "token")]
    assert secret not in rules.clean
    assert rules.find("x" * 300) is None
    assert "x" * 300 not in rules.clean  # long values are scanned every time
    for index in range(_scrub._CLEAN_MAX_ENTRIES + 10):
        rules.find(f"value {index}")
    assert len(rules.clean) <= _scrub._CLEAN_MAX_ENTRIES
    # A redaction counts every time, cache or not.
    before = _scrub._counts["attribute"]
    for _ in range(3):
        assert scrub_pair("note", secret) == "login with token=[REDACTED: token] failed"
    assert _scrub._counts["attribute"] - before == 3
