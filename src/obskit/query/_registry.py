"""What obskit.query keeps for the process's life: bound metric handles, metric attribute
sets, and the bounded worker ids of the per-worker fragment series.

Bound handles (`by_key`) and attribute dicts (`cached`) are made once per key (system,
operation, phase, error type, ...) and read by every query after that, so a query's
metrics allocate nothing per record; both caches are bounded.

A worker id is a metric attribute here, so its values must stay few: either the ids
declared with `declare_workers`, or the first `WORKER_LIMIT` ids seen. Every other id is
counted under `other`, so a cluster that grows (or ids that are really request ids)
cannot blow up the number of series. Spans keep the real id.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from obskit._base.log import log_once
from obskit._domain.operation import Outcomes, hot
from obskit._safety.clean import clean_value
from obskit.query import _names as names

__all__ = [
    "by_key",
    "cached",
    "declare_workers",
    "phase_durations",
    "record_fragment",
    "worker_label",
]

MAX_CACHED = 1024
_attribute_cache: dict[tuple[Any, ...], dict[str, Any]] = {}


def cached(key: tuple[Any, ...], pairs: tuple[tuple[str, object], ...]) -> dict[str, Any]:
    """The attribute dict for `pairs` (None values left out), cached under `key`.

    Examples:
        >>> cached(("doc", "minidb"), (("db.system.name", "minidb"), ("error.type", None)))
        {'db.system.name': 'minidb'}
    """
    found = _attribute_cache.get(key)
    if found is None:
        found = {k: v for k, v in pairs if v is not None}
        if len(_attribute_cache) < MAX_CACHED:
            _attribute_cache[key] = found
    return found


def by_key(name: str) -> Outcomes:
    """Bound hot handles of catalogue metric `name` by a small key (bounded): ~0.2 us a
    record through `found.get(key)`, where the SDK instrument path costs 5-10 us."""
    return Outcomes(hot(names.CATALOGUE, name), None, MAX_CACHED)


_phase_duration = hot(names.CATALOGUE, names.PHASE_DURATION)
_phases: dict[tuple[Any, ...], Outcomes] = {}


def phase_durations(base_key: tuple[Any, ...], base: dict[str, Any]) -> Outcomes:
    """`query.phase.duration` handles of one (system, operation), made once: keyed by the
    phase name when it ended ok, by (name, error type) when it failed."""
    found = _phases.get(base_key)
    if found is None:
        found = Outcomes(_phase_duration, base, MAX_CACHED)
        if len(_phases) < MAX_CACHED:
            found = _phases.setdefault(base_key, found)
    return found


_duration = by_key(names.WORKER_FRAGMENT_DURATION)
_rows_read = by_key(names.WORKER_ROWS_READ)
_lock = threading.RLock()  # re-entrant: a fragment recorded from a signal handler
_declared: frozenset[str] | None = None
_seen: set[str] = set()


def _as_id(worker_id: object) -> str | None:
    clean = clean_value(worker_id)
    return None if clean is None else clean if type(clean) is str else str(clean)


def declare_workers(worker_ids: Iterable[object] | None) -> None:
    """Give the per-worker metrics exactly these worker ids; any other becomes `other`.

    `None` goes back to the default: the first 32 ids seen (`WORKER_LIMIT`).

    Examples:
        >>> from obskit import query
        >>> query.declare_workers(["w1", "w2", "w3"])
        >>> query.declare_workers(None)
    """
    global _declared
    ids = None if worker_ids is None else frozenset(filter(None, map(_as_id, worker_ids)))
    with _lock:
        _declared = ids
        _seen.clear()


def worker_label(worker_id: object) -> str | None:
    """The bounded `query.worker.id` value for `worker_id` (None when there is none).

    Examples:
        >>> worker_label("w1")
        'w1'
    """
    found = _as_id(worker_id)
    if found is None:
        return None
    declared = _declared
    if declared is not None:
        return found if found in declared else names.WORKER_OTHER
    if found in _seen:
        return found
    with _lock:
        if len(_seen) < names.WORKER_LIMIT:
            _seen.add(found)
            return found
    log_once("query-worker-overflow", "more than %d query worker ids: further ones are "
             "counted as %r (declare them with query.declare_workers)",
             names.WORKER_LIMIT, names.WORKER_OTHER)  # fmt: skip
    return names.WORKER_OTHER


def record_fragment(
    system: str,
    worker: str | None,
    elapsed: float,
    error: str | None,
    rows_read: int,
    span: Any = None,
) -> None:
    """One fragment's per-worker points (skipped when the fragment named no worker).

    `span`, the fragment's ended span, is the duration's exemplar when it was sampled.
    """
    if worker is None:
        return
    key = (system, worker, error)
    handle = _duration.found.get(key)
    if handle is None:
        handle = _duration.get(key, cached(("worker", *key), (
            (names.DB_SYSTEM_NAME, system), (names.WORKER_ID, worker), (names.ERROR_TYPE, error),
        )))  # fmt: skip
    handle.record(elapsed, span)
    if rows_read:
        pair = (system, worker)
        handle = _rows_read.found.get(pair)
        if handle is None:
            handle = _rows_read.get(pair, cached(("worker", *pair, None), (
                (names.DB_SYSTEM_NAME, system), (names.WORKER_ID, worker),
            )))  # fmt: skip
        handle.add(rows_read)


def reset() -> None:
    """Forget the declared and seen worker ids (test isolation)."""
    declare_workers(None)
