"""`@obskit.traced`: one decorator for functions, methods, coroutines and generators.

Everything is decided at decoration time (name, cleaned attributes, which arguments to
capture and where they sit, the metric instruments); the wrapper per call checks one flag
when obskit is off and otherwise reads what was prepared.

Generators: the span covers the whole iteration but is current only while the generator
body runs. The wrapper is itself a generator that attaches the span's context around each
resume and detaches it before yielding, so an abandoned generator (a `break`, a `close()`
from another task) can never leave its span current in the caller, and OTel never logs
"Failed to detach context". An early close (GeneratorExit) is not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, ParamSpec, TypeVar, overload

from opentelemetry.trace import SpanKind

from obskit._trace.prepared import Traced as Traced
from obskit._trace.prepared import _default_name as _default_name
from obskit._trace.wrappers import _wrap
from obskit._trace.wrappers import wrap_async_generator as wrap_async_generator
from obskit._trace.wrappers import wrap_generator as wrap_generator

__all__ = ["traced"]

P = ParamSpec("P")
R = TypeVar("R")
_UNSET = object()


F = TypeVar("F", bound=Callable[..., Any])


@overload
def traced(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def traced(func: classmethod[Any, P, R], /) -> classmethod[Any, P, R]: ...


@overload
def traced(func: staticmethod[P, R], /) -> staticmethod[P, R]: ...


@overload
def traced(
    name: str | None = None,
    /,
    *,
    attributes: Mapping[str, object] | None = None,
    record_args: Collection[str] | None = None,
    record_result: bool = False,
    sample_ratio: float | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    expected: tuple[type[BaseException], ...] = (),
    metrics: bool | str = False,
    scope: str = "obskit",
) -> Callable[[F], F]: ...


def traced(
    func: Any = None,
    /,
    *,
    attributes: Mapping[str, object] | None = None,
    record_args: Collection[str] | None = None,
    record_result: bool = False,
    sample_ratio: float | None = None,
    kind: SpanKind = SpanKind.INTERNAL,
    expected: tuple[type[BaseException], ...] = (),
    metrics: bool | str = False,
    scope: str = "obskit",
) -> Any:
    """Trace every call of a function in a span; usable bare or with arguments.

    Works on plain functions, methods, classmethods and staticmethods (above or below
    their decorator), async functions (timed over the whole await), generators and async
    generators (the span covers the whole iteration and ends on exhaustion, `close()`, or
    an exception). The wrapped function keeps its signature, docstring and kind
    (`inspect.iscoroutinefunction` etc. stay true).

    An exception is recorded as an `exception` event with status ERROR and `error.type`,
    then re-raised as the same object -- unless it is one of `expected`, which are normal
    control flow. Its traceback gains obskit's wrapper frames (one or two per traced
    layer, in `obskit/_trace/wrappers.py` and `<obskit.traced ...>`) between the caller and the
    function; an asyncio cancellation is not an error (status UNSET, a `cancelled`
    event).

    Args:
        func: the function to trace (bare ``@traced``), or the span name when used as
            ``@traced("name", ...)``; default name: the function's qualified name
            (``Class.method``).
        attributes: static attributes set on every span.
        record_args: parameter names whose values become ``code.arg.<name>`` attributes
            (cleaned and bounded; ``self``/``cls`` never; None values skipped).
        record_result: also record the return value as ``code.result``.
        sample_ratio: keep only this fraction of this function's spans (0.0-1.0); a call
            not kept runs under a non-recording span, so its whole subtree is dropped and
            propagated context says "not sampled".
        kind: the span kind (``SpanKind.CLIENT`` for outgoing RPCs, ...).
        expected: exception classes that do not mark the span as an error.
        metrics: also record ``{prefix}.duration`` (histogram, s, with exemplars),
            ``{prefix}.calls`` (counter by ``outcome``/``error.type``) and
            ``{prefix}.active`` (in-flight); True uses the prefix ``obskit.function``,
            a string sets the prefix.
        scope: the instrumentation scope name of the spans.

    Examples:
        >>> import obskit
        >>> @obskit.traced
        ... def work(n: int) -> int:
        ...     return n * 2
        >>> @obskit.traced("fetch", attributes={"db.system.name": "demo"}, record_args=["key"])
        ... async def fetch(key: str) -> str:
        ...     return key
        >>> work(2)
        4
    """
    options = {
        "attributes": attributes,
        "record_args": record_args,
        "record_result": record_result,
        "sample_ratio": sample_ratio,
        "kind": kind,
        "expected": expected,
        "metrics": metrics,
        "scope": scope,
    }
    if func is None or isinstance(func, str):
        name = func

        def decorate(target: Any) -> Any:
            return _decorate(target, name, options)

        return decorate
    return _decorate(func, None, options)


def _decorate(target: Any, name: str | None, options: dict[str, Any]) -> Any:
    if isinstance(target, (classmethod, staticmethod)):
        return type(target)(_decorate(target.__func__, name, options))
    traced_fn = Traced(target, name, **options)
    wrapper = _wrap(traced_fn)
    wrapper.__obskit_span_name__ = traced_fn.recipe.name  # type: ignore[attr-defined]
    return wrapper
