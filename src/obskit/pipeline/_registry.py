"""What lives as long as a pipeline: pipelines by name, their processors' totals and recent
errors, and watched queues, all read at collection time.

* `Processor`: one named processor's prepared attribute sets, span recipe, bound duration
  and age histograms, `Stats` (the exact totals behind the observable record counters and
  `Pipeline.summary()`) and `RecentErrors`;
* the observable callbacks that read those totals, and queue depths (`watch_queue`);
* `pipelines`: every `Pipeline` by name.

Recent errors are remembered for every failing record, sampled or not, in a bounded ring
per processor. Messages are sanitised when stored: what obskit's scrubbing finds (`key:
value` pairs of sensitive keys with their `Bearer`/`Basic` schemes, JWTs, private keys,
card numbers; the rules in force, or the defaults when scrubbing is off), quoted text,
numbers, e-mail addresses, long tokens, `key=value` values and the word after
password/token/secret/... become `?`; one line, bounded. So no raw record value or secret
is held or shown.
"""

from __future__ import annotations

import collections
import re
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from obskit._base.log import log_once
from obskit._base.names import ERROR_TYPE
from obskit._domain.operation import Outcomes, hot
from obskit._safety.clean import clean_text, exception_message, safe_repr
from obskit._safety.secrets import find_secrets
from obskit._trace.handle import SpanRecipe
from obskit.pipeline import _names as n
from obskit.pipeline._record import age_histogram

__all__ = [
    "Processor",
    "RecentErrors",
    "Stats",
    "label",
    "pipelines",
    "pipelines_lock",
    "reset",
    "sanitise",
    "watch_queue",
]

#: Every `Pipeline` by name (the last one made under a name wins).
pipelines: dict[str, Any] = {}
pipelines_lock = threading.RLock()  # re-entrant: a pipeline may be defined from a finalizer

# Bound hot handles per processor and outcome (obskit._domain.operation): ~0.2 us a record.
_DURATION = hot(n.CATALOGUE, n.M_DURATION)


def label(value: object) -> str:
    """A pipeline or processor name as a bounded string."""
    return clean_text(value, 256) if isinstance(value, str) else safe_repr(value, 256)


# --- totals ---------------------------------------------------------------------------
class _ThreadOwner:
    """Lives in a thread-local: collected when its thread ends, which retires its cell."""

    __slots__ = ("__weakref__",)


#: Fields of a `Stats` cell.
IN, OUT, DROPPED, ERRORS, SECONDS = range(5)


class Stats:
    """Running totals of one processor, exact under threads, without a lock per step.

    Each thread adds into a cell of its own (`[in, out, dropped, errors, seconds]`, read
    by the step as ``local.cell``); readers sum the cells under `_lock`, and a thread's
    cell is folded into cell 0 when the thread ends. Only the owning thread writes a cell,
    so no count is lost; a step run by a finalizer on the same thread adds into the same
    cell with no call between read and write. Counts by `error.type` are rare and kept
    under the lock. The record counters are observable: they read these totals at
    collection time (measured per step: ~0.25 us with a locked update, ~0.1 us here).
    """

    __slots__ = ("__weakref__", "_cells", "_lock", "errors_by_type", "local")

    def __init__(self) -> None:
        self._lock = threading.RLock()  # re-entrant: docs/architecture.md
        self._cells: list[list[Any]] = [[0, 0, 0, 0, 0.0]]  # [0]: threads that ended
        self.errors_by_type: dict[str, int] = {}
        self.local = threading.local()

    def cell(self) -> list[Any]:
        """This thread's cell (made on its first step)."""
        try:
            found: list[Any] = self.local.cell
        except AttributeError:
            found = self.new_cell()
        return found

    def new_cell(self) -> list[Any]:
        cell: list[Any] = [0, 0, 0, 0, 0.0]
        with self._lock:
            self._cells.append(cell)
        local = self.local
        local.cell = cell
        local.owner = owner = _ThreadOwner()
        # Weakly: a thread that outlives the processor must not keep its totals alive.
        weakref.finalize(owner, _retire, weakref.ref(self), cell).atexit = False
        return cell

    def add(self, n_in: int, n_out: int, dropped: int, seconds: float) -> None:
        cell = self.cell()
        cell[IN] += n_in
        cell[OUT] += n_out
        cell[DROPPED] += dropped
        cell[SECONDS] += seconds

    def add_errors(self, count: int, kind: str, seconds: float) -> None:
        cell = self.cell()
        cell[IN] += count
        cell[ERRORS] += count
        cell[SECONDS] += seconds
        with self._lock:
            self.errors_by_type[kind] = self.errors_by_type.get(kind, 0) + count

    def total(self, field: int) -> Any:
        """One field summed over every thread's cell."""
        with self._lock:
            return sum(cell[field] for cell in self._cells)

    def as_dict(self) -> dict[str, float]:
        """The totals: in, out, dropped, errors, seconds."""
        with self._lock:
            sums = [sum(cell[field] for cell in self._cells) for field in range(5)]
        return {"in": sums[IN], "out": sums[OUT], "dropped": sums[DROPPED],
                "errors": sums[ERRORS], "seconds": sums[SECONDS]}  # fmt: skip


def _retire(stats_ref: Callable[[], Stats | None], cell: list[Any]) -> None:
    """Fold an ended thread's cell into cell 0 (a thread per request must not grow it)."""
    stats = stats_ref()
    if stats is None:
        return
    with stats._lock:
        cells = stats._cells
        retired = cells[0]
        for field, value in enumerate(cell):
            retired[field] += value
        for index, candidate in enumerate(cells):
            if candidate is cell and index:  # by identity: equal cells are common
                del cells[index]
                break


class Processor:
    """One named processor of a pipeline: its attribute sets, span recipe, histograms, totals."""

    def __init__(self, pipeline: str, name: str, *, scope: str) -> None:
        self.pipeline = label(pipeline)
        self.name = label(name)
        self.attrs: dict[str, Any] = {n.PIPELINE: self.pipeline, n.PROCESSOR: self.name}
        self.by_outcome = {o: {**self.attrs, n.OUTCOME: o} for o in n.OUTCOMES}
        self.durations = Outcomes(_DURATION, None, limit=len(n.OUTCOMES) + 257)
        for outcome, attributes in self.by_outcome.items():
            self.durations.get(outcome, attributes)  # histograms are sparse: bind up front
        self.recipe = SpanRecipe(n.SPAN_PROCESS, self.attrs, scope=scope)
        self.stats = Stats()
        self._errors: dict[str, dict[str, Any]] = {}
        self.recent = RecentErrors(self.name)
        self.age = age_histogram(self.attrs)
        _processors.add(self)

    def error_attrs(self, kind: str) -> dict[str, Any]:
        """Histogram attributes for a failed step with `error.type` = `kind`."""
        found = self._errors.get(kind)
        if found is None:
            if len(self._errors) > 256:  # exception classes are bounded; be safe anyway
                self._errors.clear()
            found = self._errors[kind] = {**self.by_outcome[n.ERROR], ERROR_TYPE: kind}
        return found

    def count(self, n_in: int, n_out: int, dropped: int, seconds: float | None, outcome: str,
              span: Any = None) -> None:  # fmt: skip
        """Record a finished step that did not raise (`seconds` None: not timed).

        `span`, the step's span when it was traced, becomes the duration's exemplar.
        """
        if seconds is not None:
            self.durations.found[outcome].record(seconds, span)
        self.stats.add(n_in, n_out, dropped, seconds or 0.0)

    def count_error(self, n_in: int, seconds: float, exc: BaseException, kind: str,
                    span: Any = None) -> None:  # fmt: skip
        """Record a step that raised (`error.type` `kind`): every input counts as an error."""
        self.durations.get((n.ERROR, kind), self.error_attrs(kind)).record(seconds, span)
        self.stats.add_errors(n_in, kind, seconds)
        self.recent.remember(kind, exc)


_processors: weakref.WeakSet[Processor] = weakref.WeakSet()


def _observe_totals(field: int) -> Callable[[CallbackOptions], list[Observation]]:
    def observe(options: CallbackOptions) -> list[Observation]:
        # Two live processors may share names (a pipeline defined twice): sum them.
        totals: dict[tuple[str, str], list[Any]] = {}
        for proc in list(_processors):
            value = proc.stats.total(field)
            slot = totals.setdefault((proc.pipeline, proc.name), [0, proc.attrs])
            slot[0] += value
        return [Observation(total, attrs) for total, attrs in totals.values()]

    return observe


def _observe_errors(options: CallbackOptions) -> list[Observation]:
    totals: dict[tuple[str, str, str], list[Any]] = {}
    for proc in list(_processors):
        with proc.stats._lock:
            by_type = list(proc.stats.errors_by_type.items())
        for kind, count in by_type:
            slot = totals.setdefault((proc.pipeline, proc.name, kind),
                                     [0, {**proc.attrs, ERROR_TYPE: kind}])  # fmt: skip
            slot[0] += count
    return [Observation(total, attrs) for total, attrs in totals.values()]


n.CATALOGUE.instrument(n.M_IN).add_callback(_observe_totals(IN))
n.CATALOGUE.instrument(n.M_OUT).add_callback(_observe_totals(OUT))
n.CATALOGUE.instrument(n.M_DROPPED).add_callback(_observe_totals(DROPPED))
n.CATALOGUE.instrument(n.M_ERRORS).add_callback(_observe_errors)


def reset() -> None:
    """Forget every pipeline and stop reporting every processor made so far (tests)."""
    _processors.clear()
    with pipelines_lock:
        pipelines.clear()


# --- recent errors -------------------------------------------------------------------------
_QUOTED = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|b'(?:[^'\\]|\\.)*'""")
_ASSIGNED = re.compile(r"(\b[\w.-]+\s*=\s*)(?!\?)[^\s,;)\]}]+")
# The word after a sensitive word (also after "is"/"was", and after a Bearer/Basic
# scheme) is a secret. After the weaker words it must look like a value: a digit, a
# capital inside, or punctuation inside ("session closed" stays readable).
_VALUE_AFTER = r"\b(?:\s+(?i:is|was|are|were)\b)?\s*[:=]?\s*)(?:(?i:bearer|basic)\s+)?(?![?:=])"
_SECRET = re.compile(r"(\b(?i:password|passwd|pwd|secret|token|api[_ .-]?key|authorization|"
                     r"bearer|credentials?|private[_ .-]?key)" + _VALUE_AFTER
                     + r"[^\s,;)\]}]+")  # fmt: skip
_WEAK_SECRET = re.compile(r"(\b(?i:session(?:[_ .-]?id)?|cookie|jwt|auth|basic)" + _VALUE_AFTER
                          + r"(?=[^\s,;)\]}]*?(?:[0-9]|[a-z][A-Z]|\w[+/=_.-]\w))[^\s,;)\]}]+")  # fmt: skip
_NUMBER = re.compile(r"\b0x[0-9a-fA-F]+\b|\b\d+(?:\.\d+)?\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_TOKEN = re.compile(r"\b[A-Za-z0-9+/_-]{24,}={0,2}")


def sanitise(message: str, limit: int = n.RECENT_ERROR_MESSAGE_CHARS) -> str:
    """A message safe to keep and show: no literal values, one line, at most `limit` chars.

    Examples:
        >>> sanitise("invalid literal for int() with base 10: 'hunter2'")
        'invalid literal for int() with base ?: ?'
        >>> sanitise("login failed user=alice token=abc")
        'login failed user=? token=?'
        >>> sanitise("no account for bob@example.com")
        'no account for ?'
        >>> sanitise("Authorization: Basic dXNlcjpwYXNz")
        'Authorization: ?'
    """
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = _without_secrets(line)
    line = _QUOTED.sub("?", line)
    line = _EMAIL.sub("?", line)
    line = _LONG_TOKEN.sub("?", line)
    line = _ASSIGNED.sub(r"\1?", line)
    line = _SECRET.sub(r"\1?", line)
    line = _WEAK_SECRET.sub(r"\1?", line)
    line = _NUMBER.sub("?", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _without_secrets(line: str) -> str:
    """`line` with what obskit's scrubbing finds replaced by `?` (all of it if that fails)."""
    try:
        found = find_secrets(line)
    except Exception:
        log_once("pipeline-recent-scrub", "scrubbing a pipeline error message failed",
                 exc_info=True)  # fmt: skip
        return "?"
    if found is None:
        return line
    pieces: list[str] = []
    position = 0
    for start, end, _ in found:
        if start >= position:
            pieces.append(line[position:start])
            pieces.append("?")
            position = end
    pieces.append(line[position:])
    return "".join(pieces)


class RecentErrors:
    """A bounded ring of one processor's latest error details (thread-safe appends)."""

    __slots__ = ("_ring", "processor")

    def __init__(self, processor: str, size: int = n.RECENT_ERRORS) -> None:
        self.processor = processor
        self._ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)

    def remember(self, kind: str, exc: BaseException) -> None:
        """Keep `exc`'s details (never raises)."""
        try:
            self._ring.append({"time": time.time(), "processor": self.processor,
                               "error.type": kind,
                               "message": sanitise(exception_message(exc))})  # fmt: skip
        except Exception:
            log_once("pipeline-recent-error", "keeping a pipeline error failed", exc_info=True)

    def items(self) -> list[dict[str, Any]]:
        """Copies of the kept details, oldest first."""
        return [dict(entry) for entry in list(self._ring)]


# --- watched queues ------------------------------------------------------------------
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
