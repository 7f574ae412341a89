"""`obskit.propagation` without telemetry: `bind` hands the function back unchanged."""

from __future__ import annotations

from typing import TypeVar

F = TypeVar("F")


def bind(fn: F) -> F:
    return fn
