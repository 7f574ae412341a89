"""The one way a domain is off: a shared no-op instance of its own operation class.

When nothing can record (`obskit._routing.off()`), a domain's factory hands out one
shared, already-closed instance of the operation class it would have returned, made
without running `__init__`: `isinstance` checks, attribute reads and every method still
work (a closed operation ignores them), and nothing is allocated per call. A domain class
with slots of its own sets their off values in `_open_off()` (calling the base's).

Examples:
    >>> from obskit._domain.operation import Operation
    >>> noop = shared_off(Operation)
    >>> noop is shared_off(Operation), noop.closed
    (True, True)
    >>> with noop:
    ...     pass
"""

from __future__ import annotations

from typing import Any, TypeVar

from obskit._domain.operation import Operation

__all__ = ["shared_off"]

Op = TypeVar("Op", bound=Operation)

_instances: dict[type[Any], Any] = {}


def shared_off(cls: type[Op]) -> Op:
    """The shared no-op instance of operation class `cls` (made once, never recording)."""
    found = _instances.get(cls)
    if found is None:
        found = object.__new__(cls)
        found._open_off()
        found = _instances.setdefault(cls, found)
    return found  # type: ignore[no-any-return]
