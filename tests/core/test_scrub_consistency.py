"""Scrubbing is applied once, to every shape of value, and counted only when it changes one.

Regression tests for a review of issue 14: sequences of strings captured with
`record_args` went unscanned; the metric cache counted equal-but-distinct values as
redactions and mixed up 1, 1.0 and True; hot-instrument bindings were redacted again at
every collection.
"""

from __future__ import annotations

import pytest
from opentelemetry.metrics import Observation

import obskit
from obskit._safety import secrets as _scrub
from obskit._safety.secrets import metric_attributes

SECRET = "hunter2"


def redactions(source: str) -> int:
    """The self-metric's current count, read without a collection: observable instruments
    other tests left registered (with secrets in their attributes) count at each one."""
    return _scrub._counts[source]


def fresh(text: str) -> str:
    """An equal string that is a distinct object (as values built at run time are)."""
    return "".join(list(text))


def test_record_args_lists_of_strings_are_scanned(obskit_capture) -> None:
    @obskit.traced("tag", record_args=["tags", "pairs"])
    def tag(tags: list[str], pairs: tuple[str, ...]) -> None:
        pass

    tag([f"password={SECRET}", "x"], ("user=bob", f"token: {SECRET}"))
    attributes = obskit_capture.one("tag").attributes
    assert attributes["code.arg.tags"] == ("password=[REDACTED: password]", "x")
    assert attributes["code.arg.pairs"] == ("user=bob", "token: [REDACTED: token]")
    assert SECRET not in repr(dict(attributes))


def test_a_long_list_is_scanned_within_the_array_bound(obskit_capture) -> None:
    @obskit.traced("tag", record_args=["tags"])
    def tag(tags: list[str]) -> None:
        pass

    tag([f"item {n}" for n in range(500)] + [f"secret={SECRET}"])
    tag([f"secret={SECRET}"] * 1000)
    first, second = obskit_capture.find("tag")
    assert len(first.attributes["code.arg.tags"]) == 128  # the secret was past the bound
    assert second.attributes["code.arg.tags"] == ("secret=[REDACTED: secret]",) * 128


def test_an_unchanged_list_is_not_counted(obskit_capture) -> None:
    before = redactions("attribute")
    with obskit.span("plain", attributes={"tags": ["a", "b"]}):
        pass
    assert obskit_capture.one("plain").attributes["tags"] == ("a", "b")
    assert redactions("attribute") == before


def test_equal_but_distinct_metric_values_are_neither_counted_nor_copied(obskit_capture) -> None:
    requests = obskit.counter("demo.requests", "{request}", "Requests")
    requests.add(1, {"route": fresh("/login"), "port": 4000 + int("443")})  # cached
    before = redactions("metric")
    for _ in range(5):
        attributes = {"route": fresh("/login"), "port": 4000 + int("443")}
        assert metric_attributes(attributes) is attributes  # nothing changed: no copy
        requests.add(1, attributes)
    assert redactions("metric") == before
    assert obskit_capture.metric("demo.requests").value == 6


def test_a_redacted_metric_value_is_counted_on_every_record(obskit_capture) -> None:
    requests = obskit.counter("demo.requests", "{request}", "Requests")
    before = redactions("metric")
    for _ in range(3):
        requests.add(1, {"session": fresh(SECRET)})
    assert redactions("metric") == before + 3
    assert obskit_capture.metric("demo.requests").attributes == {"session": "[REDACTED: session]"}


def test_one_true_and_one_float_keep_their_types(obskit_capture) -> None:
    for value in (1, True, 1.0, 1, 1.0, True):
        (exported,) = metric_attributes({"x": value}).values()
        assert type(exported) is type(value)
        assert exported == value


def test_hot_bindings_are_redacted_once_and_counted_as_metric(obskit_capture) -> None:
    hot = obskit.hot_counter("demo.hot.bound_once", "{op}", "Hot ops")
    before_metric, before_attribute = redactions("metric"), redactions("attribute")
    bound = hot.bind({"api_key": SECRET, "shard": "a"})
    assert (redactions("metric"), redactions("attribute")) == (before_metric + 1, before_attribute)
    bound.add(1)
    for _ in range(4):  # every collection (scrape) sees the binding's redacted value
        point = obskit_capture.metric("demo.hot.bound_once")
        assert point.attributes == {"api_key": "[REDACTED: api_key]", "shard": "a"}
        # what each collection does with it: nothing, and nothing is counted
        before = redactions("metric")
        assert _scrub.observations([Observation(1, point.attributes)])[0].attributes is (
            point.attributes
        )
        assert redactions("metric") == before


def test_a_redaction_marker_is_kept_as_it_is_but_a_longer_value_is_not() -> None:
    marker = "[REDACTED: password]"
    before = _scrub._counts["metric"]
    assert _scrub.scrub_pair("password", marker, "metric") == marker
    assert _scrub._counts["metric"] == before
    assert _scrub.scrub_pair("password", f"{marker} {SECRET}") == marker  # not a way around


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("upstream said: Bearer abcDEF123456", "upstream said: Bearer [REDACTED: bearer]"),
        ("sent Authorization Basic dXNlcjpwYXNz", "sent Authorization Basic [REDACTED: basic]"),
        ("basic authentication required", "basic authentication required"),  # words
        ("Bearer realm=api", "Bearer realm=api"),
    ],
)
def test_a_scheme_credential_is_redacted_without_a_key(obskit_capture, text, expected) -> None:
    @obskit.traced("call")
    def call() -> None:
        raise ConnectionError(text)

    with pytest.raises(ConnectionError):
        call()
    (event,) = obskit_capture.one("call").events
    assert event.attributes["exception.message"] == expected
