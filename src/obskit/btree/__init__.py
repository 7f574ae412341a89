"""Spans and metrics for B+tree / B-tree indexes and page stores.

Decorate the tree's operations; call `record_split`/`record_merge` (and the page calls)
where the structure changes; register the tree for its shape gauges. Names come from one
catalogue (`CATALOGUE`, rendered in docs/catalogue.md).

Examples:
    >>> from obskit import btree
    >>> class Index:
    ...     def __init__(self, name: str) -> None:
    ...         self.name, self.data = name, {}
    ...     @btree.put(index_attr="name")
    ...     def put(self, key: str, value: str) -> None:
    ...         btree.current_op().visit(2)
    ...         self.data[key] = value
    ...     @btree.get(index_attr="name")
    ...     def get(self, key: str) -> str | None:
    ...         return self.data.get(key)  # None is recorded as a miss
    >>> users = Index("users_pk")
    >>> users.put("alice", "1")
    >>> users.get("bob") is None
    True
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar, overload

from obskit.btree._dashboards import PANELS
from obskit.btree._events import record_merge, record_page_read, record_page_write, record_split
from obskit.btree._names import (
    CATALOGUE,
    DEPTH,
    ERROR,
    ERROR_TYPE,
    HIT,
    INDEX,
    INTERNAL,
    KEY,
    KEY_COUNT,
    KEY_SIZE,
    LEAF,
    MERGE_EVENT,
    MISS,
    NODE_COUNT,
    NODE_LEVEL,
    NODE_LEVEL_LIMIT,
    NODE_MERGES,
    NODE_REASON,
    NODE_SPLITS,
    NODE_TYPE,
    OK,
    OPERATION,
    OPERATION_DURATION,
    OUTCOME,
    PAGE_ID,
    PAGE_READ_EVENT,
    PAGE_READS,
    PAGE_SOURCE,
    PAGE_WRITE_EVENT,
    PAGE_WRITES,
    PAGES_VISITED,
    SCAN_RETURNED_KEYS,
    SCOPE,
    SPAN_PREFIX,
    SPLIT_EVENT,
)
from obskit.btree._operation import Operation, current_op, decorate, found
from obskit.btree._registry import IndexRegistration, register_index

__all__ = [
    "CATALOGUE",
    "DEPTH",
    "ERROR",
    "ERROR_TYPE",
    "HIT",
    "INDEX",
    "INTERNAL",
    "KEY",
    "KEY_COUNT",
    "KEY_SIZE",
    "LEAF",
    "MERGE_EVENT",
    "MISS",
    "NODE_COUNT",
    "NODE_LEVEL",
    "NODE_LEVEL_LIMIT",
    "NODE_MERGES",
    "NODE_REASON",
    "NODE_SPLITS",
    "NODE_TYPE",
    "OK",
    "OPERATION",
    "OPERATION_DURATION",
    "OUTCOME",
    "PAGES_VISITED",
    "PAGE_ID",
    "PAGE_READS",
    "PAGE_READ_EVENT",
    "PAGE_SOURCE",
    "PAGE_WRITES",
    "PAGE_WRITE_EVENT",
    "PANELS",
    "SCAN_RETURNED_KEYS",
    "SCOPE",
    "SPAN_PREFIX",
    "SPLIT_EVENT",
    "IndexRegistration",
    "Operation",
    "OperationDecorator",
    "current_op",
    "delete",
    "get",
    "operation",
    "put",
    "record_merge",
    "record_page_read",
    "record_page_write",
    "record_split",
    "register_index",
    "scan",
]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])
IndexSource = str | Callable[[Any], object] | None
_OPERATION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def operation(
    name: str,
    *,
    index: IndexSource = None,
    index_attr: str | None = None,
    outcome: Callable[[Any], bool | str | None] | None = None,
    miss_on: tuple[type[BaseException], ...] = (),
    key: str | None = "key",
    record_key: bool = False,
    sample_ratio: float | None = None,
) -> Callable[[F], F]:
    """Decorate a tree operation: span `btree.<name>`, duration histogram, outcome.

    Works on methods, functions, coroutines, generators and async generators (a scan's
    span covers the whole iteration and counts the items it yields), classmethods and
    staticmethods. The decorated function keeps its signature and kind.

    Args:
        name: the operation (lower-case identifier), e.g. ``"get"``; span ``btree.get``.
        index: the index name: a str, or a callable given ``self`` (``lambda t: t.name``).
        index_attr: read the index name from this attribute of ``self`` instead.
        outcome: classifies the result: True/"hit", False/"miss", or another short label;
            default ``ok`` (``get`` treats a None result as a miss).
        miss_on: exception classes that mean "not found": outcome miss, not an error.
        key: the parameter holding the key (its size becomes ``btree.key.size``); None
            to skip.
        record_key: also record the key itself as ``btree.key`` (off by default).
        sample_ratio: keep this fraction of the spans (metrics always count every call).

    Raises:
        TypeError: the decorated object is not callable, or an option has the wrong type.
        ValueError: `name` is not a lower-case identifier.

    Examples:
        >>> from obskit import btree
        >>> class Tree:
        ...     name = "orders_pk"
        ...     @btree.operation("bulk_load", index_attr="name", key=None)
        ...     def bulk_load(self, rows: list[int]) -> int:
        ...         return len(rows)
        >>> Tree().bulk_load([1, 2])
        2
    """
    if type(name) is not str or not _OPERATION_NAME.match(name):
        raise ValueError(
            f"btree operation name must be a lower-case identifier like 'get', got {name!r}"
        )
    _check_options(index, index_attr, outcome, miss_on, key)
    options = {
        "index": index,
        "index_attr": index_attr,
        "outcome": outcome,
        "miss_on": miss_on,
        "key": key,
        "record_key": bool(record_key),
        "sample_ratio": sample_ratio,
    }
    if sample_ratio is not None:
        from obskit._trace.handle import check_ratio

        check_ratio(sample_ratio)

    def decorator(target: F) -> F:
        return decorate(target, name, options)  # type: ignore[no-any-return]

    return decorator


def _check_options(
    index: object, index_attr: object, outcome: object, miss_on: object, key: object
) -> None:
    if index is not None and type(index) is not str and not callable(index):
        raise TypeError(f"index must be a str or a callable(self), got {index!r}")
    if index_attr is not None and (type(index_attr) is not str or not index_attr):
        raise TypeError(f"index_attr must be an attribute name, got {index_attr!r}")
    if index is not None and index_attr is not None:
        raise TypeError("pass either index= or index_attr=, not both")
    if outcome is not None and not callable(outcome):
        raise TypeError(f"outcome must be a callable(result), got {outcome!r}")
    if not isinstance(miss_on, tuple) or not all(
        isinstance(e, type) and issubclass(e, BaseException) for e in miss_on
    ):
        raise TypeError(f"miss_on must be a tuple of exception classes, got {miss_on!r}")
    if key is not None and type(key) is not str:
        raise TypeError(f"key must be a parameter name or None, got {key!r}")


class OperationDecorator(Protocol):
    """`btree.get`, `put`, `delete`, `scan`: usable bare or with the options of `operation`.

    Examples:
        >>> from obskit import btree
        >>> class Tree:
        ...     name = "users_pk"
        ...     @btree.get(index_attr="name")
        ...     def lookup(self, key: bytes) -> bytes | None:
        ...         return None
        >>> Tree().lookup(b"k") is None
        True
    """

    @overload
    def __call__(self, func: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def __call__(
        self,
        func: None = None,
        /,
        *,
        index: IndexSource = None,
        index_attr: str | None = None,
        outcome: Callable[[Any], bool | str | None] | None = None,
        miss_on: tuple[type[BaseException], ...] = (),
        key: str | None = "key",
        record_key: bool = False,
        sample_ratio: float | None = None,
    ) -> Callable[[F], F]: ...


def _shortcut(name: str, default_outcome: Callable[[Any], bool] | None = None) -> Any:
    def shortcut(func: Any = None, /, **options: Any) -> Any:
        options.setdefault("outcome", default_outcome)
        decorator = operation(name, **options)
        if func is None:
            return decorator
        return decorator(func)

    shortcut.__name__ = shortcut.__qualname__ = name
    shortcut.__doc__ = f"""Decorate a {name} operation: span `btree.{name}` (see `operation`).

    Usable bare (`@btree.{name}`) or with options (`@btree.{name}(index_attr="name")`).

    Examples:
        >>> from obskit import btree
        >>> @btree.{name}(index="users_pk")
        ... def {name}_user(key: str) -> None:
        ...     pass
    """
    return shortcut


#: Point lookup (`btree.get`); a None result is a miss unless `outcome=` says otherwise.
get: OperationDecorator = _shortcut("get", found)
#: Insert or update (`btree.put`).
put: OperationDecorator = _shortcut("put")
#: Delete (`btree.delete`).
delete: OperationDecorator = _shortcut("delete")
#: Range scan (`btree.scan`); on a generator the span covers the whole iteration.
scan: OperationDecorator = _shortcut("scan")
