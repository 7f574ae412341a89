"""Interleaved micro-benchmark timing shared by the benchmark modules.

Each case is a statement timed with `timeit` (compiled once, no lambda in the loop). The
cases of one comparison run interleaved, round after round, each round in a rotated order,
so drift on a shared machine (frequency, other tenants, a background export thread) hits
every case alike; the figure kept is the median of the rounds.

A benchmark module lists its work as `Step`s (one comparison, one workload run) and puts
the results together with `assemble`; `run_steps` runs them and `Progress` writes one line
per step to stderr as it starts, so a run of several minutes says what it is doing.
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import time
import timeit
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, TextIO

__all__ = ["Case", "Progress", "Step", "compare", "nothing", "run_steps"]


@contextlib.contextmanager
def nothing() -> Iterator[None]:
    """A context for cases that need no set-up."""
    yield


@dataclass
class Case:
    """One thing to time: `stmt` run with `namespace`, inside `context()` each round."""

    stmt: str
    namespace: Mapping[str, Any]
    context: Callable[[], AbstractContextManager[Any]] = nothing
    number: int | None = None  # overrides the comparison's loop count
    samples: list[float] = field(default_factory=list)


def compare(cases: Mapping[str, Case], *, number: int, repeat: int) -> dict[str, float]:
    """Seconds per execution of each case: the median over `repeat` interleaved rounds.

    Example:
        >>> figures = compare({"pass": Case("pass", {})}, number=1000, repeat=3)
        >>> figures["pass"] < 1e-6
        True
    """
    names = list(cases)
    timers = {
        name: timeit.Timer(cases[name].stmt, globals=dict(cases[name].namespace)) for name in names
    }
    for case in cases.values():
        case.samples.clear()
    for round_ in range(repeat):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            case = cases[name]
            loops = case.number or number
            with case.context():
                timers[name].timeit(max(1, loops // 10))  # warm caches and lazy binds
                case.samples.append(timers[name].timeit(loops) / loops)
    return {name: statistics.median(cases[name].samples) for name in names}


@dataclass
class Step:
    """One unit of a benchmark run: `run()` gives the figures stored under `key`."""

    key: str
    run: Callable[[], Any]
    label: str = ""


class Progress:
    """Writes `bench [i/N] what (elapsed)` to `stream` (stderr) as each step starts.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> Progress(2, out).run("calls: disabled", lambda: 1)
        1
        >>> out.getvalue().startswith("bench [1/2] calls: disabled")
        True
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.started = time.monotonic()

    def run(self, label: str, work: Callable[[], Any]) -> Any:
        self.done += 1
        elapsed = time.monotonic() - self.started
        print(f"bench [{self.done}/{self.total}] {label} ({elapsed:.0f} s elapsed)",
              file=self.stream or sys.stderr, flush=True)  # fmt: skip
        return work()


def run_steps(
    steps: Sequence[Step], progress: Progress | None = None, prefix: str = ""
) -> dict[str, Any]:
    """Run `steps` in order: key -> figures. With no `progress`, one is made for them."""
    progress = progress or Progress(len(steps))
    return {step.key: progress.run(prefix + (step.label or step.key), step.run) for step in steps}
