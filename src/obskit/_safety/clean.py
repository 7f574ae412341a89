"""Attribute, name and exception cleaning: nothing a user passes may raise or bloat a span.

The OTel SDK (1.45) cleans attribute values recursively with no cycle guard and calls
`str()` unguarded, so a cyclic list raises RecursionError and an object whose `__str__`
raises escapes into user code; a lone surrogate in a span name loses the whole export
batch; values have no length limit (docs/reliability.md, R8 and R13). Everything obskit
sets goes through here first:

* strings are capped at `MAX_VALUE_CHARS` and lone surrogates are replaced;
* ints beyond int64 become strings; bytes are decoded (replacing) and capped;
* homogeneous sequences of primitives stay arrays (capped at `MAX_ARRAY_ITEMS`);
* everything else is rendered with a bounded, cycle-safe repr that never calls a user
  class's `__repr__`/`__str__` (it shows `<ClassName>` instead);
* at most `MAX_ATTRIBUTES` attributes per call, keeping the *first* ones (the SDK evicts
  the oldest when its own limit is hit, losing the attributes set at span start).
"""

from __future__ import annotations

import itertools
import reprlib
import threading
import time
import traceback
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry.util.types import AttributeValue

from obskit._safety.secrets import scrub_attributes

__all__ = [
    "MAX_ARRAY_ITEMS",
    "MAX_ATTRIBUTES",
    "MAX_NAME_CHARS",
    "MAX_VALUE_CHARS",
    "clean_attributes",
    "clean_metric_attributes",
    "clean_name",
    "clean_text",
    "clean_value",
    "exception_attributes",
    "exception_message",
    "safe_repr",
]

MAX_VALUE_CHARS = 4096
MAX_NAME_CHARS = 256
MAX_ARRAY_ITEMS = 128
MAX_ATTRIBUTES = 128
MAX_STACKTRACE_CHARS = 16384
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_PRIMITIVES = (str, bool, int, float)


def clean_text(text: str, limit: int = MAX_VALUE_CHARS) -> str:
    """Cap `text` at `limit` characters and replace lone surrogates.

    Examples:
        >>> clean_text("ok\\ud800")
        'ok?'
    """
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def clean_name(name: object) -> str:
    """A span or event name that can always be encoded (capped at `MAX_NAME_CHARS`).

    Examples:
        >>> clean_name("btree.get")
        'btree.get'
    """
    if type(name) is str and len(name) <= MAX_NAME_CHARS and name.isascii():
        return name
    if not isinstance(name, str):
        name = safe_repr(name)
    return clean_text(str.__str__(name), MAX_NAME_CHARS) or "unnamed"


# Containers reprlib may look into: only these exact types, whose iteration runs no user
# code. reprlib dispatches on the type's *name*, so a user class called `list` or `set`
# would otherwise have its __iter__ called.
_REPR_TYPES = frozenset({tuple, list, set, frozenset, dict, str, int, bytes, bytearray})


class _SafeRepr(reprlib.Repr):
    """reprlib, but user classes are shown by type name: their __repr__ is never called.

    Nor their __iter__ (only built-in containers are looked into) nor their __lt__:
    reprlib sorts a whole set or dict before showing its first items, calling __lt__ on
    user objects and costing O(n log n) on a million-element set; here the first items
    in iteration order are shown.
    """

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel = 4
        self.maxstring = 256
        self.maxother = 64
        self.maxlong = 64

    def repr1(self, x: Any, level: int) -> str:
        if type(x) not in _REPR_TYPES:
            return self.repr_instance(x, level)
        return super().repr1(x, level)

    def repr_instance(self, x: Any, level: int) -> str:
        if x is None or type(x) in (float, complex, bool):
            return repr(x)
        return f"<{type(x).__qualname__}>"

    def _unsorted(self, items: Any, level: int, left: str, right: str, limit: int) -> str:
        if not items:
            return left + right
        if level <= 0:
            return left + "..." + right
        shown = [self.repr1(item, level - 1) for item in itertools.islice(items, limit)]
        if len(items) > limit:
            shown.append("...")
        return left + ", ".join(shown) + right

    def repr_set(self, x: Any, level: int) -> str:
        return self._unsorted(x, level, "{", "}", self.maxset) if x else "set()"

    def repr_frozenset(self, x: Any, level: int) -> str:
        if not x:
            return "frozenset()"
        return self._unsorted(x, level, "frozenset({", "})", self.maxfrozenset)

    def repr_dict(self, x: Any, level: int) -> str:
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        shown = [
            f"{self.repr1(key, level - 1)}: {self.repr1(value, level - 1)}"
            for key, value in itertools.islice(x.items(), self.maxdict)
        ]
        if len(x) > self.maxdict:
            shown.append("...")
        return "{" + ", ".join(shown) + "}"

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 200:  # str() of huge ints is slow (and capped at 4300 digits)
            return f"<int of {x.bit_length()} bits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x: bytes, level: int) -> str:
        return f"<{len(x)} bytes>"

    repr_bytearray = repr_bytes


_repr = _SafeRepr()


def safe_repr(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """A bounded repr that is cycle-safe and never runs user `__repr__`/`__str__`.

    Examples:
        >>> loop = [1]; loop.append(loop)
        >>> safe_repr(loop)
        '[1, [1, [1, [1, [...]]]]]'
    """
    try:
        return clean_text(_repr.repr(value), limit)
    except Exception:
        return f"<{type(value).__qualname__}>"


def _clean_sequence(value: list[Any] | tuple[Any, ...]) -> AttributeValue:
    items = value[:MAX_ARRAY_ITEMS]
    if not items:
        return ()
    first = type(items[0])
    if first in _PRIMITIVES and all(type(item) is first for item in items):
        if first is str:
            return tuple(clean_text(item, 1024) for item in items)
        if first is int and not all(_INT64_MIN <= item <= _INT64_MAX for item in items):
            return safe_repr(value)
        return tuple(items)
    return safe_repr(value)


def clean_value(value: object) -> AttributeValue | None:
    """An OTel attribute value for `value`, or None when it should be skipped.

    Examples:
        >>> clean_value(2**70)
        '1180591620717411303424'
        >>> clean_value(None) is None
        True
    """
    kind = type(value)
    if kind is str:
        return clean_text(value)  # type: ignore[arg-type]
    if kind is bool or kind is float:
        return value  # type: ignore[return-value]
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:  # type: ignore[operator]
            return value  # type: ignore[return-value]
        return safe_repr(value)
    if value is None:
        return None
    if kind is bytes or kind is bytearray:
        return clean_text(bytes(value[:MAX_VALUE_CHARS]).decode("utf-8", "replace"))  # type: ignore[index]
    if kind is list or kind is tuple:
        return _clean_sequence(value)  # type: ignore[arg-type]
    return _clean_subclass(value)


def _clean_subclass(value: object) -> AttributeValue | None:
    """Subclasses of the primitives (StrEnum, IntEnum, numpy.float64, namedtuples) keep
    their value; the base type's own conversion is used, never the subclass's __str__."""
    try:
        if isinstance(value, str):
            return clean_text(str.__str__(value))
        if isinstance(value, int):
            return clean_value(int.__int__(value))
        if isinstance(value, float):
            return float.__float__(value)
        # The base type's iterator: a subclass's own __iter__ is never called.
        if isinstance(value, list):
            return _clean_sequence(list(itertools.islice(list.__iter__(value), MAX_ARRAY_ITEMS)))
        if isinstance(value, tuple):
            return _clean_sequence(list(itertools.islice(tuple.__iter__(value), MAX_ARRAY_ITEMS)))
    except Exception:
        pass
    return safe_repr(value)


def _clean_key(key: object) -> str | None:
    if type(key) is str:
        return clean_text(key, MAX_NAME_CHARS) if key else None  # type: ignore[arg-type]
    if isinstance(key, (int, float, bool)):
        return str(key)
    return None


def clean_attributes(
    attributes: Mapping[Any, object] | None,
    limit: int = MAX_ATTRIBUTES,
    source: str = "attribute",
) -> dict[str, AttributeValue]:
    """A clean copy of `attributes`: bad keys and None values skipped, the first `limit` kept.

    Keys and values that look secret are redacted (obskit._safety.secrets), counted under `source`
    (``metric`` for a hot-instrument binding).

    Examples:
        >>> clean_attributes({"db.rows": 3, "bad": None, 1: "x"})
        {'db.rows': 3, '1': 'x'}
    """
    cleaned: dict[str, AttributeValue] = {}
    if not attributes:
        return cleaned
    try:
        items = list(attributes.items())
    except Exception:
        return cleaned
    for key, value in items:
        if len(cleaned) >= limit:
            break
        name = _clean_key(key)
        if name is None:
            continue
        clean = clean_value(value)
        if clean is not None:
            cleaned[name] = clean
    return scrub_attributes(cleaned, source)


def _clean_metric_value(value: object) -> bool:
    """Whether a metric attribute value can go to the SDK as it is."""
    kind = type(value)
    if kind is str:
        text: str = value  # type: ignore[assignment]
        if len(text) > MAX_VALUE_CHARS:
            return False
        if text.isascii():
            return True
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if kind is int:
        return _INT64_MIN <= value <= _INT64_MAX  # type: ignore[operator]
    return kind is bool or kind is float


def clean_metric_attributes(attributes: Any) -> Any:
    """Metric attributes cleaned like span attributes; `attributes` itself when clean.

    One lone surrogate in a label value made the Prometheus endpoint answer 500 for
    every series and a 4 MB value made a 4 MB scrape; values here are capped and
    repaired like span attribute values. The usual case (a few short ASCII strings and
    numbers) is only checked, not copied.

    Examples:
        >>> clean_metric_attributes({"db.rows": 3}) == {"db.rows": 3}
        True
        >>> clean_metric_attributes({"k": "bad\\ud800"})
        {'k': 'bad?'}
    """
    if not attributes:
        return attributes
    try:
        for key, value in attributes.items():
            if (
                type(key) is not str
                or not key.isascii()
                or len(key) > MAX_NAME_CHARS
                or not _clean_metric_value(value)
            ):
                break
        else:
            return attributes
        return clean_attributes(attributes)
    except Exception:
        return {}


#: A user `__str__` slower than this (seconds) is not called again for its class.
SLOW_STR_SECONDS = 0.05
_slow_str_classes: set[type] = set()  # bounded: at most _MAX_SLOW_CLASSES entries
_MAX_SLOW_CLASSES = 256


class _LastMessage(threading.local):
    # The last exception rendered on this thread, weakly referenced, and its message: an
    # exception crossing several traced layers is rendered once, not once per layer.
    # Never the exception itself: it holds its traceback, whose frames hold every local
    # (a socket, a buffer) of the functions it passed through. Ids alone are reused at
    # once (a fresh exception matched), so an exception that cannot be weakly referenced
    # (built-in types, classes with __slots__) is not remembered but rendered again.
    entry: tuple[weakref.ref[BaseException], str] | None = None


_last_message = _LastMessage()


def exception_message(exc: BaseException) -> str:
    """`str(exc)`, bounded and guarded: never raises, never renders huge arguments.

    An exception class that keeps `BaseException.__str__` is rendered from its arguments
    here (a 10 MB bytes argument would otherwise be turned into a 40 MB string), and a
    `KeyError` from its key's bounded repr; a class with its own `__str__` is trusted
    only under a guard, at most once per exception (the last one rendered on each thread
    is remembered by a weak reference, so nested traced layers recording the same
    exception reuse its message while the exception, its traceback and their frames are
    never kept alive), and a class whose `__str__` took longer than `SLOW_STR_SECONDS`
    is shown by name from then on.

    Examples:
        >>> exception_message(ValueError(b"x" * 10_000_000))
        '<10000000 bytes>'
    """
    kind = type(exc)
    try:
        if kind.__str__ is BaseException.__str__:
            args = exc.args
            if not args:
                return ""
            if len(args) == 1:
                only = args[0]
                return clean_text(only) if type(only) is str else safe_repr(only)
            return safe_repr(args)
        if kind.__str__ is KeyError.__str__ and len(exc.args) == 1:
            return safe_repr(exc.args[0])  # what KeyError shows, without the key's __repr__
        last = _last_message.entry
        if last is not None and last[0]() is exc:
            return last[1]
        if kind in _slow_str_classes:
            message = f"<{kind.__name__}: __str__ too slow to render>"
        else:
            started = time.perf_counter()
            message = clean_text(str(exc))
            slow = time.perf_counter() - started > SLOW_STR_SECONDS
            if slow and len(_slow_str_classes) < _MAX_SLOW_CLASSES:
                _slow_str_classes.add(kind)
        try:
            _last_message.entry = (weakref.ref(exc), message)
        except TypeError:  # not weakly referenceable: rendered again by the next layer
            _last_message.entry = None
        return message
    except Exception:
        return f"<unprintable {kind.__qualname__}>"


def exception_attributes(
    exc: BaseException, message: str | None = None
) -> dict[str, AttributeValue]:
    """The `exception.*` event attributes for `exc`, computed without trusting it.

    The message is `message` if given, else from `exception_message` (guarded and
    bounded); the stack trace is
    the traceback's frames (at most 50) plus that message, capped at
    `MAX_STACKTRACE_CHARS`.

    Examples:
        >>> exception_attributes(KeyError("k"))["exception.type"]
        'KeyError'
    """
    kind = type(exc)
    qualname = kind.__qualname__
    module = kind.__module__
    type_name = qualname if module in ("builtins", "__main__") else f"{module}.{qualname}"
    if message is None:
        message = exception_message(exc)
    try:
        # Not traceback.format_exception: it calls str(exc) again, unbounded.
        frames = "".join(traceback.format_tb(exc.__traceback__, limit=50))
        stack = f"Traceback (most recent call last):\n{frames}{type_name}: {message}\n"
    except Exception:
        stack = f"<stack trace of {qualname} unavailable>"
    return {
        "exception.type": clean_text(type_name, MAX_NAME_CHARS),
        "exception.message": message,
        "exception.stacktrace": clean_text(stack[-MAX_STACKTRACE_CHARS:], MAX_STACKTRACE_CHARS),
    }
