"""obskit.query per-worker fragment series: bounded worker ids, duration, rows and errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obskit import query
from obskit.query import _registry as _workers

DURATION = "query.worker.fragment.duration"
ROWS = "query.worker.rows.read"


@pytest.fixture(autouse=True)
def _fresh_workers() -> Iterator[None]:
    _workers.reset()
    yield
    _workers.reset()


def _run(worker: object, rows: int = 10, fail: bool = False) -> None:
    try:
        with query.fragment({}, worker_id=worker, fragment_id=1, system="minidb") as fragment:
            fragment.rows(1, read=rows)
            if fail:
                raise TimeoutError("slow disk")
    except TimeoutError:
        pass


def _by_worker(capture, name: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for point in capture.metrics(name):
        worker = point.attributes["query.worker.id"]
        found[worker] = found.get(worker, 0) + (point.count if name == DURATION else point.value)
    return found


def test_fragment_duration_and_rows_per_worker(obskit_capture) -> None:
    _run("w1", rows=10)
    _run("w1", rows=5)
    _run(2, rows=7)  # non-string ids become strings
    assert _by_worker(obskit_capture, DURATION) == {"w1": 2, "2": 1}
    assert _by_worker(obskit_capture, ROWS) == {"w1": 15, "2": 7}
    point = obskit_capture.metric(DURATION, {"query.worker.id": "w1"})
    assert point.attributes == {"db.system.name": "minidb", "query.worker.id": "w1"}
    assert point.unit == "s"


def test_a_failed_fragment_carries_the_error_type(obskit_capture) -> None:
    _run("w1", fail=True)
    point = obskit_capture.metric(DURATION, {"query.worker.id": "w1"})
    assert point.attributes["error.type"] == "TimeoutError"
    assert _by_worker(obskit_capture, ROWS) == {"w1": 10}  # rows series stay error-free


def test_worker_ids_are_capped_with_one_other_series(obskit_capture, caplog) -> None:
    for worker in range(query.WORKER_LIMIT + 10):
        _run(f"w{worker}", rows=1)
    counts = _by_worker(obskit_capture, DURATION)
    assert len(counts) == query.WORKER_LIMIT + 1
    assert counts["other"] == 10
    assert "more than 32 query worker ids" in caplog.text
    spans = obskit_capture.find("query.fragment")
    assert {s.attributes["query.worker.id"] for s in spans} >= {"w40", "w41"}  # spans keep ids


def test_declared_workers_are_the_only_ids(obskit_capture) -> None:
    query.declare_workers(["a", "b"])
    for worker in ("a", "b", "c", "d"):
        _run(worker, rows=1)
    assert _by_worker(obskit_capture, DURATION) == {"a": 1, "b": 1, "other": 2}


def test_a_fragment_without_a_worker_id_has_no_worker_series(obskit_capture) -> None:
    _run(None)
    assert obskit_capture.metrics(DURATION) == []
    assert obskit_capture.metric("query.fragment.duration").count == 1
