"""Record counts, timings and per-record journeys for stream and line processors.

Decorate each processor of your DAG; obskit counts, per pipeline and processor, the
records in, out, dropped and errored (`pipeline.records.*`) and times each step
(`pipeline.processing.duration`). For every processor, in == out + dropped + errors
(fan-out and batch processors follow the rules in docs/pipeline.md). A source decides
once per record whether its journey is traced (`sample_ratio`, default 0.01); a sampled
record carries its trace context, so reader > parser > filter > sink shows as one trace
of `pipeline.process` spans, while unsampled records cost no span at all.

Examples:
    >>> from obskit import pipeline
    >>> logs = pipeline.Pipeline("logs", sample_ratio=1.0)
    >>> @logs.source("reader")
    ... def read(lines):
    ...     yield from lines
    >>> @logs.processor("parse")
    ... def parse(line):
    ...     level, _, text = line.partition(" ")
    ...     return (level, text)
    >>> @logs.processor("errors_only")
    ... def errors_only(entry):
    ...     return entry if entry[0] == "ERROR" else None  # None drops the record
    >>> kept = [r for r in (errors_only(parse(r)) for r in read(["ERROR disk", "INFO ok"])) if r]
    >>> [r.value for r in kept]
    [('ERROR', 'disk')]
    >>> logs.summary()["errors_only"]["dropped"]
    1
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar, cast

from opentelemetry.context import Context

from obskit._trace.handle import check_ratio
from obskit.pipeline._dashboards import ALERTS, PANELS
from obskit.pipeline._journey import carry as _carry
from obskit.pipeline._names import (
    CATALOGUE,
    DEAD_LETTER,
    DEFAULT_SAMPLE_RATIO,
    POLICIES,
    RAISE,
    SKIP,
)
from obskit.pipeline._operation import Stage, wrap
from obskit.pipeline._record import EventTime, Record
from obskit.pipeline._registry import Processor, label
from obskit.pipeline._registry import pipelines as _pipelines
from obskit.pipeline._registry import pipelines_lock as _lock
from obskit.pipeline._registry import watch_queue as _watch_queue
from obskit.pipeline._sources import sample_source

__all__ = [
    "ALERTS",
    "CATALOGUE",
    "DEAD_LETTER",
    "DEFAULT_SAMPLE_RATIO",
    "PANELS",
    "RAISE",
    "SKIP",
    "Pipeline",
    "Record",
    "carry",
    "get",
    "processor",
    "source",
    "watch_queue",
]

F = TypeVar("F")
T = TypeVar("T")
_SCOPE = CATALOGUE.scope


def _check_policy(on_error: str) -> str:
    if on_error not in POLICIES:
        raise ValueError(f"on_error must be one of {POLICIES}, got {on_error!r}")
    return on_error


class Pipeline:
    """A named pipeline: its sampling ratio, error policy and processors.

    Args:
        name: the `pipeline.name` attribute, e.g. ``"logs"``.
        sample_ratio: share of records whose journey is traced, decided once at the
            source. The pipeline's ratio decides alone: the global sampler
            (`configure(sample_ratio=...)`) is not asked again for its journeys. None
            leaves each journey to the global sampler instead.
        on_error: what a failing processor does with the record: ``"raise"`` (default,
            the exception reaches the caller), ``"skip"`` (the call returns nothing),
            ``"dead_letter"`` (`dead_letter(value, exc)` is called, then nothing).
        dead_letter: the handler for ``"dead_letter"``.

    Examples:
        >>> from obskit import pipeline
        >>> bad = []
        >>> orders = pipeline.Pipeline("orders", on_error="dead_letter",
        ...                            dead_letter=lambda value, exc: bad.append(value))
        >>> @orders.processor("to_int")
        ... def to_int(text):
        ...     return int(text)
        >>> to_int("12"), to_int("x"), bad
        (12, None, ['x'])
    """

    def __init__(
        self,
        name: object,
        *,
        sample_ratio: float | None = DEFAULT_SAMPLE_RATIO,
        on_error: str = RAISE,
        dead_letter: Callable[[Any, BaseException], Any] | None = None,
    ) -> None:
        self.name = label(name)
        self.sample_ratio: float | None = None
        if sample_ratio is not None:
            checked = check_ratio(sample_ratio)
            self.sample_ratio = 1.0 if checked is None else checked
        self.on_error = _check_policy(on_error)
        self.dead_letter = dead_letter
        self._processors: dict[str, Processor] = {}
        with _lock:
            _pipelines[self.name] = self

    def _processor(self, name: object) -> Processor:
        key = label(name)
        found = self._processors.get(key)
        if found is None:
            found = self._processors[key] = Processor(self.name, key, scope=_SCOPE)
        return found

    def processor(
        self,
        name: object,
        *,
        fan_out: bool = False,
        batch: bool = False,
        sink: bool = False,
        predicate: bool = False,
        on_error: str | None = None,
        dead_letter: Callable[[Any, BaseException], Any] | None = None,
    ) -> Callable[[F], F]:
        """Decorate a processor: a function of one record, or a class with `process()`.

        The record is the last positional argument. Return the output, or None to drop
        the record. `fan_out=True`: return an iterable of outputs (empty drops).
        `batch=True`: the function takes a list of values and returns a list of outputs;
        its span links to each sampled record. `sink=True`: every record that does not
        raise counts as out, whatever is returned. `predicate=True`: the function decides
        whether to keep the record and the call returns a bool (true: out, false: dropped),
        for a library's own filter node. Works on `async def` too.

        Examples:
            >>> from obskit import pipeline
            >>> @pipeline.processor("split", pipeline="words", fan_out=True)
            ... def split(line):
            ...     return line.split()
            >>> split("a b c")
            ['a', 'b', 'c']
        """
        if predicate and (fan_out or batch or sink):
            raise ValueError("predicate=True cannot be combined with fan_out, batch or sink")
        proc = self._processor(name)
        stage = Stage(proc, fan_out=fan_out, sink=sink, predicate=predicate,
                    on_error=self.on_error if on_error is None else _check_policy(on_error),
                    dead_letter=self.dead_letter if dead_letter is None else dead_letter)  # fmt: skip

        def decorate(target: F) -> F:
            if isinstance(target, type):
                method = getattr(target, "process", None)
                if not callable(method):
                    raise TypeError(f"{target.__name__} has no process() method to instrument")
                target.process = wrap(method, stage, batch)  # type: ignore[attr-defined]
                return target
            return cast(F, wrap(cast(Callable[..., Any], target), stage, batch))

        return decorate

    def source(
        self, name: object, *, event_time: EventTime | None = None
    ) -> Callable[[Callable[..., Iterable[T]]], Callable[..., Iterator[Record[T]]]]:
        """Decorate a function returning an iterable (a generator) as the pipeline's source.

        Each value comes out as a `Record`; whether its journey is traced is decided here,
        once, with `sample_ratio`. `event_time(value)` gives a value's event time (epoch
        seconds or an aware datetime) for `pipeline.record.age`; without it, the time the
        value left the source.

        Examples:
            >>> from obskit import pipeline
            >>> @pipeline.source("reader", pipeline="nums")
            ... def numbers(n):
            ...     yield from range(n)
            >>> [r.value for r in numbers(3)]
            [0, 1, 2]
        """
        proc = self._processor(name)

        def decorate(fn: Callable[..., Iterable[T]]) -> Callable[..., Iterator[Record[T]]]:
            @functools.wraps(fn)
            def records(*args: Any, **kwargs: Any) -> Iterator[Record[T]]:
                return sample_source(proc, self.sample_ratio, fn(*args, **kwargs), event_time)

            return records

        return decorate

    def records(
        self,
        values: Iterable[T],
        *,
        source: object = "source",
        event_time: EventTime | None = None,
    ) -> Iterator[Record[T]]:
        """Wrap `values` as records coming from processor `source` (`event_time`: see `source`).

        Examples:
            >>> from obskit import pipeline
            >>> [r.value for r in pipeline.get("nums").records([1, 2])]
            [1, 2]
        """
        return sample_source(self._processor(source), self.sample_ratio, values, event_time)

    def carry(self, record: Record[Any]) -> AbstractContextManager[Context | None]:
        """`pipeline.carry(record)`: run a library's nodes on the plain value (see there)."""
        return carry(record)

    def watch_queue(self, queue: Any, *, processor: object) -> Callable[[], None]:
        """Report `queue`'s depth as the input queue of `processor` (see `watch_queue`)."""
        return _watch_queue(queue, pipeline=self.name, processor=processor)

    def summary(self) -> dict[str, dict[str, float]]:
        """Totals per processor since it was created: in, out, dropped, errors, seconds.

        Examples:
            >>> from obskit import pipeline
            >>> pipeline.Pipeline("empty").summary()
            {}
        """
        return {name: proc.stats.as_dict() for name, proc in self._processors.items()}

    def recent_errors(self, processor: object = None) -> list[dict[str, Any]]:
        """The last errors of each processor (or of `processor`), oldest first.

        Kept for every failing record, sampled or not: at most `RECENT_ERRORS` (20) per
        processor, each a dict with `time` (epoch seconds), `processor`, `error.type` and
        a sanitised `message` (quoted text, numbers, e-mail addresses, long tokens,
        `key=value` values and the word after password/token/secret/... replaced by `?`,
        one line, at most 200 characters), so no record value or secret is kept.

        Examples:
            >>> from obskit import pipeline
            >>> cards = pipeline.Pipeline("cards", on_error="skip")
            >>> @cards.processor("check")
            ... def check(number):
            ...     raise ValueError(f"bad card number {number}")
            >>> check("4111111111111111")
            >>> [(e["error.type"], e["message"]) for e in cards.recent_errors()]
            [('ValueError', 'bad card number ?')]
        """
        if processor is not None:
            found = self._processors.get(label(processor))
            return [] if found is None else found.recent.items()
        kept = [entry for proc in list(self._processors.values()) for entry in proc.recent.items()]
        return sorted(kept, key=lambda entry: float(entry["time"]))

    def __repr__(self) -> str:
        return f"<Pipeline {self.name!r} sample_ratio={self.sample_ratio}>"


def get(name: object) -> Pipeline:
    """The pipeline registered as `name` (created with default settings if unknown).

    Examples:
        >>> from obskit import pipeline
        >>> pipeline.get("logs").name
        'logs'
    """
    key = label(name)
    found: Pipeline | None = _pipelines.get(key)
    return found if found is not None else Pipeline(key)


def processor(name: object, *, pipeline: object, **options: Any) -> Callable[[F], F]:
    """`Pipeline.processor` on the pipeline named `pipeline` (see there).

    Examples:
        >>> from obskit import pipeline
        >>> @pipeline.processor("parse", pipeline="logs")
        ... def parse(line):
        ...     return line.split(" ", 1)
        >>> parse("ERROR disk full")
        ['ERROR', 'disk full']
    """
    return get(pipeline).processor(name, **options)


def source(
    name: object, *, pipeline: object, event_time: EventTime | None = None
) -> Callable[[Callable[..., Iterable[T]]], Callable[..., Iterator[Record[T]]]]:
    """`Pipeline.source` on the pipeline named `pipeline` (see there).

    Examples:
        >>> from obskit import pipeline
        >>> @pipeline.source("reader", pipeline="logs")
        ... def lines():
        ...     yield "INFO up"
        >>> next(lines()).value
        'INFO up'
    """
    return get(pipeline).source(name, event_time=event_time)


def carry(record: Record[Any]) -> AbstractContextManager[Context | None]:
    """Carry `record`'s journey beside its plain value while a library processes it.

    For DAG and stream libraries whose nodes must see plain values: hand the library
    `record.value` inside `with pipeline.carry(record):`. Decorated processors called with
    plain values in the block join the record's journey (each step's span is a child of
    the journey when it is sampled), undecorated nodes in between do not end it, and any
    span opened in the block follows the journey's sampling decision.

    Examples:
        >>> from obskit import pipeline
        >>> shout = pipeline.Pipeline("shout", sample_ratio=1.0)
        >>> @shout.processor("upper")
        ... def upper(text):
        ...     return text.upper()
        >>> out = []
        >>> for record in shout.records(["a", "b"]):
        ...     with pipeline.carry(record):
        ...         out.append(upper(record.value))  # plain value in, plain value out
        >>> out
        ['A', 'B']
    """
    return _carry(record.context)


def watch_queue(queue: Any, *, pipeline: object, processor: object) -> Callable[[], None]:
    """Report a queue's depth as `pipeline.queue.size` (held weakly); returns an unwatch.

    Examples:
        >>> import queue
        >>> from obskit import pipeline
        >>> unwatch = pipeline.watch_queue(queue.Queue(), pipeline="logs", processor="parse")
        >>> unwatch()
    """
    return _watch_queue(queue, pipeline=pipeline, processor=processor)
