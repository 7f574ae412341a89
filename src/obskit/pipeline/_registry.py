"""Queue depth for pipelines: queues being watched, reported as `pipeline.queue.size` (and
capacity) at collection time.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from obskit.pipeline import _names as n
from obskit.pipeline._core import label

_queues: dict[int, tuple[Callable[[], Any], dict[str, Any]]] = {}
_queues_lock = threading.RLock()  # re-entrant: a finalizer may unwatch a queue meanwhile


def _size(queue: Any) -> tuple[int | None, int | None]:
    try:
        size = queue.qsize() if hasattr(queue, "qsize") else len(queue)
    except Exception:  # multiprocessing queues raise NotImplementedError on macOS
        size = None
    capacity = getattr(queue, "maxsize", None) or getattr(queue, "maxlen", None)
    return size, capacity if isinstance(capacity, int) and capacity > 0 else None


def _observe(index: int, options: CallbackOptions) -> list[Observation]:
    totals: dict[tuple[str, str], list[Any]] = {}
    with _queues_lock:
        watched = list(_queues.items())
    for key, (get, attrs) in watched:
        queue = get()
        if queue is None:
            with _queues_lock:
                _queues.pop(key, None)  # the queue was collected: stop reporting it
            continue
        value = _size(queue)[index]
        if value is not None:
            slot = totals.setdefault((attrs[n.PIPELINE], attrs[n.PROCESSOR]), [0, attrs])
            slot[0] += value
    return [Observation(total, attrs) for total, attrs in totals.values()]


n.CATALOGUE.instrument(n.M_QUEUE_SIZE).add_callback(lambda o: _observe(0, o))
n.CATALOGUE.instrument(n.M_QUEUE_CAPACITY).add_callback(lambda o: _observe(1, o))


def watch_queue(queue: Any, *, pipeline: object, processor: object) -> Callable[[], None]:
    """Report `queue`'s depth (and capacity) as `pipeline.queue.size` at collection time.

    Works with `queue.Queue`, `asyncio.Queue`, `multiprocessing` queues (where `qsize()`
    works), `collections.deque` and anything with `qsize()` or `len()`. The queue is held
    weakly when it can be: a collected queue stops reporting. Returns an unwatch function.

    Examples:
        >>> import queue
        >>> from obskit import pipeline
        >>> q = queue.Queue(maxsize=100)
        >>> unwatch = pipeline.watch_queue(q, pipeline="logs", processor="parse")
        >>> unwatch()
    """
    attrs = {n.PIPELINE: label(pipeline), n.PROCESSOR: label(processor)}
    try:
        get: Callable[[], Any] = weakref.ref(queue)
    except TypeError:
        get = lambda: queue  # noqa: E731 - not weak-referenceable (e.g. a list): held strongly
    key = id(queue)
    with _queues_lock:
        _queues[key] = (get, attrs)

    def unwatch() -> None:
        with _queues_lock:
            _queues.pop(key, None)

    return unwatch
