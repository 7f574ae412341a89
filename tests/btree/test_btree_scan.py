"""A decorated scan (a generator): one operation over the whole iteration, current only
while the body runs, every way an iteration can end."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.trace import StatusCode

from obskit import btree


class Pages:
    """Three keys on three pages; the body visits a page per key and records its read."""

    name = "scan_pk"

    def __init__(self) -> None:
        self.closed = False
        self.seen_in_body: list[btree.Operation] = []

    @btree.scan(index_attr="name", key="start")
    def scan(self, start: str, fail_at: str | None = None) -> Iterator[str]:
        try:
            for key in ("a", "b", "c"):
                if key < start:
                    continue
                op = btree.current_op()
                self.seen_in_body.append(op)
                op.visit()
                btree.record_page_read(ord(key), source="cache")
                if key == fail_at:
                    raise KeyError(key)
                try:
                    yield key
                except ValueError:
                    yield "recovered"
        finally:
            self.closed = True
            self.seen_in_body.append(btree.current_op())


def test_the_body_sees_its_operation_and_the_callers_loop_does_not(obskit_capture) -> None:
    pages = Pages()
    in_loop = [btree.current_op() for _ in pages.scan("a")]
    op = pages.seen_in_body[0]
    assert op.operation == "scan"
    assert op.index == "scan_pk"
    assert all(seen is op for seen in pages.seen_in_body)  # the finally block too
    assert all(seen is not op for seen in in_loop)
    span = obskit_capture.one("btree.scan")
    assert span.attributes[btree.SCAN_RETURNED_KEYS] == 3
    assert span.attributes[btree.PAGES_VISITED] == 3
    assert [e.name for e in span.events] == [btree.PAGE_READ_EVENT] * 3
    reads = obskit_capture.metric(btree.PAGE_READS, {btree.INDEX: "scan_pk"})
    assert reads.value == 3  # added once, when the scan ended


def test_an_error_in_the_body_ends_the_scan_as_an_error(obskit_capture) -> None:
    pages = Pages()
    scan = pages.scan("a", fail_at="b")
    assert next(scan) == "a"
    with pytest.raises(KeyError):
        next(scan)
    span = obskit_capture.one("btree.scan")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[btree.SCAN_RETURNED_KEYS] == 1
    error = obskit_capture.metric(btree.OPERATION_DURATION, {btree.INDEX: "scan_pk"})
    assert error.attributes[btree.OUTCOME] == btree.ERROR
    assert error.attributes[btree.ERROR_TYPE] == "KeyError"


def test_close_ends_the_scan_with_its_body_closed_under_the_operation(obskit_capture) -> None:
    pages = Pages()
    scan = pages.scan("a")
    assert next(scan) == "a"
    scan.close()
    assert pages.closed
    assert pages.seen_in_body[-1] is pages.seen_in_body[0]
    span = obskit_capture.one("btree.scan")
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[btree.SCAN_RETURNED_KEYS] == 1


def test_throw_reaches_the_body_and_the_scan_goes_on(obskit_capture) -> None:
    pages = Pages()
    scan = pages.scan("a")
    assert next(scan) == "a"
    assert scan.throw(ValueError("skip")) == "recovered"
    assert list(scan) == ["b", "c"]
    span = obskit_capture.one("btree.scan")
    assert span.attributes[btree.SCAN_RETURNED_KEYS] == 4
    assert span.attributes[btree.PAGES_VISITED] == 3


def test_send_is_a_type_error_in_the_body(obskit_capture) -> None:
    pages = Pages()
    scan = pages.scan("a")
    next(scan)
    with pytest.raises(TypeError, match="send"):
        scan.send("value")
    assert pages.closed
    span = obskit_capture.one("btree.scan")
    assert span.attributes[btree.ERROR_TYPE] == "TypeError"


def test_unsampled_scans_are_counted_and_attach_nothing_to_the_caller(obskit_capture) -> None:
    class Sampled(Pages):
        @btree.scan(index="unsampled_pk", key="start", sample_ratio=0.0)
        def scan(self, start: str, fail_at: str | None = None) -> Iterator[str]:
            yield from ("a", "b")

    assert list(Sampled().scan("a")) == ["a", "b"]
    assert obskit_capture.find("btree.scan") == []
    point = obskit_capture.metric(btree.OPERATION_DURATION, {btree.INDEX: "unsampled_pk"})
    assert point.count == 1
    assert btree.current_op() is btree.current_op()  # the shared no-op: nothing left current
