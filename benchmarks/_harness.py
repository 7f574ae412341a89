"""Interleaved micro-benchmark timing shared by the benchmark modules.

Each case is a statement timed with `timeit` (compiled once, no lambda in the loop). The
cases of one comparison run interleaved, round after round, each round in a rotated order,
so drift on a shared machine (frequency, other tenants, a background export thread) hits
every case alike; the figure kept is the median of the rounds.
"""

from __future__ import annotations

import contextlib
import statistics
import timeit
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Case", "compare", "nothing"]


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
