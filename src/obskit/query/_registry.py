"""Per-worker fragment series with bounded worker ids (declared, or the first few seen).

A worker id is a metric attribute here, so its values must stay few: either the ids
declared with `declare_workers`, or the first `WORKER_LIMIT` ids seen. Every other id is
counted under `other`, so a cluster that grows (or ids that are really request ids)
cannot blow up the number of series. Spans keep the real id.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from obskit._base.context import exemplar_context
from obskit._base.log import log_once
from obskit._safety.clean import clean_value
from obskit.query import _names as names
from obskit.query._block import cached

__all__ = ["declare_workers", "record_fragment", "worker_label"]

_duration = names.CATALOGUE.instrument(names.WORKER_FRAGMENT_DURATION)
_rows_read = names.CATALOGUE.instrument(names.WORKER_ROWS_READ)
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
    attrs: dict[str, Any] = cached(
        ("worker", system, worker, error),
        ((names.DB_SYSTEM_NAME, system), (names.WORKER_ID, worker), (names.ERROR_TYPE, error)),
    )
    _duration.record(elapsed, attrs, exemplar_context(span))
    if rows_read:
        base = attrs if error is None else cached(
            ("worker", system, worker, None),
            ((names.DB_SYSTEM_NAME, system), (names.WORKER_ID, worker)),
        )  # fmt: skip
        _rows_read.add(rows_read, base)


def reset() -> None:
    """Forget the declared and seen worker ids (test isolation)."""
    declare_workers(None)
