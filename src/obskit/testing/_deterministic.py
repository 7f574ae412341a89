"""Deterministic span ids and timestamps, so span data can be snapshotted exactly.

Ids come from an `IdGenerator` given to the test `TracerProvider` (the SDK's own hook).
Timestamps have no such hook: the SDK stamps span starts, ends and events with the
`time_ns` it imported into `opentelemetry.sdk.trace`, so `frozen_span_clock()` replaces
that module attribute for a block. That is process-wide while it lasts: spans of any
provider, on any thread, get fake timestamps. Metric timestamps are not affected.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from opentelemetry.sdk import trace as sdk_trace
from opentelemetry.sdk.trace.id_generator import IdGenerator

__all__ = ["DeterministicIdGenerator", "FakeClock", "frozen_span_clock", "install_span_clock"]

_SECOND = 1_000_000_000


class DeterministicIdGenerator(IdGenerator):
    """Trace and span ids that are the same on every run.

    Without a seed the ids count up from 1 (trace ids and span ids separately), which
    reads well in snapshots; with a seed they are pseudo-random but repeatable.

    Examples:
        >>> ids = DeterministicIdGenerator()
        >>> ids.generate_trace_id(), ids.generate_span_id(), ids.generate_span_id()
        (1, 1, 2)
        >>> DeterministicIdGenerator(seed=7).generate_span_id() == DeterministicIdGenerator(seed=7).generate_span_id()
        True
    """

    def __init__(self, seed: int | None = None) -> None:
        self._random = None if seed is None else random.Random(seed)
        self._trace = 0
        self._span = 0
        self._lock = threading.Lock()

    def generate_span_id(self) -> int:
        with self._lock:
            if self._random is not None:
                return self._random.getrandbits(64) or 1  # 0 is the invalid span id
            self._span += 1
            return self._span

    def generate_trace_id(self) -> int:
        with self._lock:
            if self._random is not None:
                return self._random.getrandbits(128) or 1
            self._trace += 1
            return self._trace


class FakeClock:
    """A clock for span timestamps: every reading advances it by `step` nanoseconds.

    Each span start, span end and event takes one reading, so with the defaults the
    first span starts at 1 s, and a span with one child lasts 3 s.

    Examples:
        >>> clock = FakeClock()
        >>> clock(), clock()
        (1000000000, 2000000000)
    """

    def __init__(self, start: int = _SECOND, step: int = _SECOND) -> None:
        self.start = start
        self.step = step
        self._next = start
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            now = self._next
            self._next += self.step
            return now

    def reset(self) -> None:
        """Start counting from `start` again."""
        with self._lock:
            self._next = self.start


def install_span_clock(clock: Callable[[], int]) -> Callable[[], int]:
    """Make the SDK stamp spans and events with `clock`; returns the clock it replaced."""
    previous: Callable[[], int] = sdk_trace.time_ns  # type: ignore[attr-defined]
    sdk_trace.time_ns = clock  # type: ignore[attr-defined]
    return previous


@contextmanager
def frozen_span_clock(clock: FakeClock | None = None) -> Iterator[FakeClock]:
    """Stamp every span start, end and event with a `FakeClock` inside the block.

    Process-wide while it lasts (see the module docstring).

    Examples:
        >>> with frozen_span_clock() as clock:
        ...     clock()
        1000000000
    """
    clock = FakeClock() if clock is None else clock
    previous = install_span_clock(clock)
    try:
        yield clock
    finally:
        install_span_clock(previous)
