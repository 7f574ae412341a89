"""obskit.pipeline: record age at each processor, and the recent errors kept per processor."""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor

import pytest

import obskit
from obskit import pipeline
from obskit._base import log as _log
from obskit.pipeline import Record, _record
from obskit.pipeline._names import RECENT_ERRORS
from obskit.pipeline._registry import sanitise

AGE = "pipeline.record.age"


def _ids(processor: str, name: str = "orders") -> dict[str, str]:
    return {"pipeline.name": name, "pipeline.processor": processor}


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    now = [1_000.0]
    monkeypatch.setattr(_record, "_now", lambda: now[0])
    return now


def test_age_runs_from_the_event_time_at_every_processor(obskit_capture, clock) -> None:
    orders = pipeline.Pipeline("orders", sample_ratio=0.0)

    @orders.source("reader", event_time=lambda order: order["ts"])
    def read(items):
        yield from items

    @orders.processor("enrich")
    def enrich(order):
        return {**order, "vip": True}

    @orders.processor("split", fan_out=True)
    def split(order):
        return [order, order]

    for record in read([{"ts": 990.0}, {"ts": 996.0}]):
        clock[0] = 1_000.0
        outputs = split(enrich(record))
        assert [o.event_time for o in outputs] == [record.event_time] * 2  # inherited
    enrich_age = obskit_capture.metric(AGE, _ids("enrich"))
    assert (enrich_age.count, enrich_age.sum) == (2, pytest.approx(14.0))
    assert obskit_capture.metric(AGE, _ids("split")).sum == pytest.approx(14.0)
    assert obskit_capture.metric(AGE, _ids("split")).unit == "s"


def test_without_an_event_time_the_age_counts_from_ingestion(obskit_capture, clock) -> None:
    orders = pipeline.Pipeline("orders", sample_ratio=0.0)

    @orders.processor("parse")
    def parse(text):
        return text.upper()

    (record,) = orders.records(["a"])
    clock[0] = record.event_time + 2.5
    parse(record)
    assert obskit_capture.metric(AGE, _ids("parse")).sum == pytest.approx(2.5)


def test_a_clock_behind_the_event_time_records_zero_not_negative(obskit_capture, clock) -> None:
    orders = pipeline.Pipeline("orders")

    @orders.processor("parse")
    def parse(text):
        return text

    parse(Record("x", None, event_time=clock[0] + 60))
    assert obskit_capture.metric(AGE, _ids("parse")).sum == 0


def test_datetime_event_times_and_bad_extractors_fall_back(obskit_capture, clock, caplog) -> None:
    _log.reset()  # the warning is logged once per process: an earlier test may have used it
    orders = pipeline.Pipeline("orders", sample_ratio=0.0)
    aware = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    (record,) = orders.records([1], event_time=lambda _: aware)
    assert record.event_time == aware.timestamp()
    (naive,) = orders.records([1], event_time=lambda _: datetime.datetime(2026, 1, 1))
    (raising,) = orders.records([1], event_time=lambda value: 1 / 0)
    assert naive.event_time is not None
    assert raising.event_time is not None
    assert "event time" in caplog.text


def test_plain_values_have_no_age(obskit_capture) -> None:
    @pipeline.processor("parse", pipeline="orders")
    def parse(text):
        return text

    parse("x")
    assert obskit_capture.metrics(AGE) == []


def test_a_batch_records_each_input_and_its_outputs_carry_the_oldest(obskit_capture, clock) -> None:
    orders = pipeline.Pipeline("orders")

    @orders.processor("window", batch=True)
    def window(values):
        return [sum(values)]

    (out,) = window([Record(1, None, 995.0), Record(2, None, 990.0), Record(3, None, 999.0)])
    assert out.event_time == 990.0
    age = obskit_capture.metric(AGE, _ids("window"))
    assert (age.count, age.sum) == (3, pytest.approx(16.0))


def test_a_batch_given_as_a_generator_keeps_its_ages(obskit_capture, clock) -> None:
    orders = pipeline.Pipeline("orders")

    @orders.processor("window", batch=True)
    def window(values):
        return [sum(values)]

    records = [Record(1, None, 995.0), Record(2, None, 990.0)]
    (out,) = window(record for record in records)  # read once: values, links and ages
    assert out.value == 3
    assert out.event_time == 990.0
    assert obskit_capture.metric(AGE, _ids("window")).count == 2


def test_recent_errors_keep_sanitised_details_of_unsampled_records(obskit_capture) -> None:
    cards = pipeline.Pipeline("cards", sample_ratio=0.0, on_error="skip")

    @cards.processor("charge")
    def charge(card):
        raise PermissionError(f"card {card['number']} declined for {card['owner']!r}, token=s3cr3t")

    @cards.processor("ok")
    def ok(card):
        return card

    for record in cards.records([{"number": "4111111111111111", "owner": "Ann Lee"}]):
        assert record.sampled is False
        assert charge(record) is None
        ok(record)
    (entry,) = cards.recent_errors()
    assert entry["processor"] == "charge"
    assert entry["error.type"] == "PermissionError"
    assert entry["message"] == "card ? declined for ?, token=?"
    assert isinstance(entry["time"], float)
    assert not obskit_capture.find("pipeline.process")  # no span, yet the error is known
    assert cards.recent_errors("ok") == []
    assert cards.recent_errors("charge") == [entry]


def test_recent_errors_are_bounded_per_processor_and_kept_when_raising() -> None:
    jobs = pipeline.Pipeline("jobs")

    @jobs.processor("run")
    def run(n):
        raise ValueError("x" * 10_000 if n == 0 else f"job {n} failed")

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(run, n) for n in range(100)]
    assert all(isinstance(f.exception(), ValueError) for f in futures)  # still raised
    kept = jobs.recent_errors()
    assert len(kept) == RECENT_ERRORS
    assert all(e["message"] in ("job ? failed", "?") or len(e["message"]) <= 200 for e in kept)
    assert [e["time"] for e in kept] == sorted(e["time"] for e in kept)


def test_an_unprintable_exception_is_kept_without_raising() -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no")

    jobs = pipeline.Pipeline("jobs", on_error="skip")

    @jobs.processor("run")
    def run(n):
        raise Weird

    run(1)
    message = jobs.recent_errors()[0]["message"]
    assert message.startswith("<unprintable")
    assert message.endswith("Weird>")


@pytest.mark.parametrize(
    ("message", "kept"),
    [
        ("timeout: connection refused", "timeout: connection refused"),  # no value: kept
        ("bad password hunter2 for user", "bad password ? for user"),
        ("password: s3cr3t", "password: ?"),
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "Authorization: ?"),
        # obskit's scrubbing runs first; scheme words take the credential with them
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: ?"),
        ("token: Bearer abcdefgh", "token: ?"),
        ("Bearer abcdefgh rejected", "Bearer ? rejected"),
        ("the password is hunter2", "the password is ?"),
        ("The Password Is Hunter2", "The Password Is ?"),
        ("api key: sk_live_abcdef", "api key: ?"),
        ("private key hunter2", "private key ?"),
        ("session abcdEF1234 expired", "session ? expired"),
        ("cookie sid_9f8e7d rejected", "cookie ? rejected"),
        ("session closed by peer", "session closed by peer"),  # a word, not a value
        ("basic check failed", "basic check failed"),
        ("login failed user=alice token=abc", "login failed user=? token=?"),
        ("no account for bob@example.com", "no account for ?"),
        ("row 42 has 'x'\nsecond line with secrets", "row ? has ?"),
    ],
)
def test_messages_are_sanitised(message: str, kept: str) -> None:
    assert sanitise(message) == kept


def test_messages_follow_configured_patterns_and_stay_clean_with_scrubbing_off(
    obskit_capture,
) -> None:
    options = obskit.ScrubbingOptions(extra_patterns=["tenant[-_]key"])
    obskit.configure(exporters=["memory"], scrubbing=options)
    assert sanitise("rejected tenant_key: tk-alpha") == "rejected tenant_key: ?"
    obskit.configure(exporters=["memory"], scrubbing=False)
    assert sanitise("Authorization: Basic dXNlcjpwYXNz") == "Authorization: ?"
    assert sanitise("token: Bearer abcdefgh") == "token: ?"


def test_recent_errors_hold_no_credential(obskit_capture) -> None:
    calls = pipeline.Pipeline("calls", on_error="skip")

    @calls.processor("send")
    def send(header):
        raise PermissionError(f"upstream refused {header}")

    for header in ("Authorization: Basic dXNlcjpwYXNz", "token: Bearer abcdefgh"):
        send(header)
    kept = repr(calls.recent_errors())
    assert "dXNlcjpwYXNz" not in kept
    assert "abcdefgh" not in kept
    assert [e["message"] for e in calls.recent_errors()] == [
        "upstream refused Authorization: ?",
        "upstream refused token: ?",
    ]
