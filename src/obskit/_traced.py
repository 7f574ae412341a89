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

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Collection, Generator, Mapping
from typing import Any, ParamSpec, TypeVar, overload

from opentelemetry import trace as trace_api
from opentelemetry.context.context import Context as _Context
from opentelemetry.trace import SpanKind

from obskit import _metrics, _providers
from obskit._log import log_once
from obskit._names import (
    ARG_PREFIX,
    CODE_FUNCTION_NAME,
    ERROR_TYPE,
    FUNCTION_METRIC_PREFIX,
    OUTCOME,
    OUTCOME_ERROR,
    OUTCOME_OK,
    RESULT,
)
from obskit._sanitize import clean_value
from obskit._spans import SPAN_KEY as _SPAN_KEY
from obskit._spans import (
    SpanRecipe,
    _get_context,
    _reset_context,
    _set_context,
    attach_span,
    current_span_context,
    detach_span,
    error_type,
)

__all__ = ["traced"]

P = ParamSpec("P")
R = TypeVar("R")
_state = _providers.state
_trace_globals = trace_api
_UNSET = object()


class _ArgCapture:
    """Reads the allow-listed arguments of one call, by position or keyword."""

    __slots__ = ("names",)

    def __init__(self, fn: Callable[..., Any], names: Collection[str]) -> None:
        if isinstance(names, str):
            raise TypeError(f"record_args must be a list of parameter names, not {names!r}")
        parameters = list(inspect.signature(fn).parameters.values())
        known = {p.name: p for p in parameters}
        bad = [n for n in names if n not in known or n in ("self", "cls")]
        if bad:
            allowed = [p for p in known if p not in ("self", "cls")]
            raise ValueError(
                f"record_args of {fn.__qualname__} names {bad!r}; its capturable "
                f"parameters are {allowed!r} (self and cls are never captured)"
            )
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self.names = [
            (
                name,
                ARG_PREFIX + name,
                parameters.index(known[name]) if known[name].kind in positional else -1,
                known[name].kind == inspect.Parameter.POSITIONAL_ONLY,
                known[name].default,
            )
            for name in names
        ]

    def read(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, key, index, positional_only, default in self.names:
            if 0 <= index < len(args):
                value = args[index]
            elif not positional_only and name in kwargs:
                value = kwargs[name]
            else:
                continue  # default value: not passed, not recorded
            if value is default:
                continue  # left at its default (the exact-signature wrapper passes it on)
            clean = clean_value(value)
            if clean is not None:
                found[key] = clean
        return found


class _CallMetrics:
    """Duration histogram, call counter and in-flight counter for one decorated function."""

    __slots__ = ("active", "base", "calls", "duration", "error_attrs", "ok_attrs")

    def __init__(self, prefix: str, function_name: str) -> None:
        scope = "obskit"
        self.duration = _metrics.histogram(
            f"{prefix}.duration", "s", "Duration of calls of a traced function", scope=scope
        )
        self.calls = _metrics.counter(
            f"{prefix}.calls", "{call}", "Calls of a traced function, by outcome", scope=scope
        )
        self.active = _metrics.up_down_counter(
            f"{prefix}.active", "{call}", "Calls of a traced function in progress", scope=scope
        )
        self.base = {CODE_FUNCTION_NAME: function_name}
        self.ok_attrs = {CODE_FUNCTION_NAME: function_name, OUTCOME: OUTCOME_OK}
        self.error_attrs: dict[str, dict[str, str]] = {}

    def record(self, started: float, exc: BaseException | None, expected: tuple[type, ...]) -> None:
        elapsed = time.perf_counter() - started
        if exc is None or isinstance(exc, expected):
            attrs = self.ok_attrs
        else:
            kind = error_type(exc)
            attrs = self.error_attrs.get(kind)  # type: ignore[assignment]
            if attrs is None:
                attrs = {**self.base, OUTCOME: OUTCOME_ERROR, ERROR_TYPE: kind}
                if len(self.error_attrs) < 64:  # bounded: error types come from user code
                    self.error_attrs[kind] = attrs
        self.duration.record(elapsed, attrs)  # inside the span: exemplars carry its trace id
        self.calls.add(1, attrs)
        self.active.add(-1, self.base)


def _default_name(fn: Callable[..., Any]) -> str:
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)
    return qualname.replace(".<locals>", "")


class _Traced:
    """The prepared state of one decorated function."""

    def __init__(
        self,
        fn: Callable[..., Any],
        name: str | None,
        attributes: Mapping[str, object] | None,
        record_args: Collection[str] | None,
        record_result: bool,
        sample_ratio: float | None,
        kind: SpanKind,
        expected: tuple[type[BaseException], ...],
        metrics: bool | str,
        scope: str,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"@traced needs a function or method, got {fn!r}")
        if not isinstance(expected, tuple) or not all(
            isinstance(e, type) and issubclass(e, BaseException) for e in expected
        ):
            raise TypeError(f"expected must be a tuple of exception classes, got {expected!r}")
        span_name = name or _default_name(fn)
        self.fn = fn
        self.recipe = SpanRecipe(
            span_name, attributes, kind, scope=scope, sample_ratio=sample_ratio, expected=expected
        )
        self.capture = _ArgCapture(fn, record_args) if record_args else None
        self.record_result = record_result
        prefix = FUNCTION_METRIC_PREFIX if metrics is True else metrics
        self.metrics = _CallMetrics(prefix, span_name) if prefix else None

    def start(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> trace_api.Span | None:
        """Start the call's span (not current yet); None to run without one.

        None when obskit is off, and under an unsampled parent (no span of our own: the
        parent stays current, ~0.4 us instead of the SDK's ~5 us) unless call metrics
        need a span-shaped object to hang on.
        """
        tracer = self.recipe.tracer()
        if tracer is None:
            return None
        try:
            capture = self.capture
            span = self.recipe.start_here(
                tracer, None if capture is None else lambda: capture.read(args, kwargs)
            )
        except Exception:
            log_once("traced-start", "starting span %r failed", self.recipe.name, exc_info=True)
            return None
        if span is None and self.metrics is not None:
            return trace_api.NonRecordingSpan(current_span_context())
        return span

    def finish(self, span: trace_api.Span, exc: BaseException | None, result: Any) -> None:
        try:
            if self.record_result and exc is None and span.is_recording():
                clean = clean_value(result)
                if clean is not None:
                    span.set_attribute(RESULT, clean)
            self.recipe.finish(span, exc)
        except Exception:
            log_once("traced-end", "ending span %r failed", self.recipe.name, exc_info=True)

    def metrics_start(self) -> float:
        if self.metrics is None:
            return 0.0
        try:
            self.metrics.active.add(1, self.metrics.base)
        except Exception:  # never between an attach and its try: a raise would leak the span
            log_once("traced-metrics", "recording call metrics failed", exc_info=True)
        return time.perf_counter()

    def call_plain(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        """Call without a span of its own (sampled out under its parent), metrics kept."""
        if self.metrics is None:
            return self.fn(*args, **kwargs)
        started = self.metrics_start()
        try:
            result = self.fn(*args, **kwargs)
        except BaseException as exc:
            self.metrics_end(started, exc)
            raise
        self.metrics_end(started, None)
        return result

    def metrics_end(self, started: float, exc: BaseException | None) -> None:
        if self.metrics is not None:
            try:
                self.metrics.record(started, exc, self.recipe.expected)
            except Exception:
                log_once("traced-metrics", "recording call metrics failed", exc_info=True)


def _off() -> bool:
    """True when obskit has nowhere to send spans: the fast pass-through path."""
    global_provider = _trace_globals._TRACER_PROVIDER
    return _state.tracer_provider is None and (
        _state.disabled or global_provider is None or global_provider is _providers._TRACER_PROXY
    )


def _wrap_function(t: _Traced) -> Callable[..., Any]:
    fn = t.fn
    state = _state
    recipe = t.recipe
    capture = t.capture
    plain_end = not t.record_result

    def traced_call_on(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # Flattened on purpose (t.start, attach_span and t.finish inlined): each Python
        # call level costs ~60 ns on these machines and a sampled-out call has a budget
        # of 1.5 us for everything (target 2, benchmarks/bench_calls.py).
        provider = state.tracer_provider
        # Bound to this provider already (the usual case): skips recipe.tracer(), ~40 ns.
        bound = provider is not None and provider is recipe._provider
        tracer = recipe._tracer if bound else recipe.tracer()
        if tracer is None:
            return fn(*args, **kwargs)
        try:
            span = recipe.start_here(
                tracer, None if capture is None else lambda: capture.read(args, kwargs)
            )
        except Exception:
            log_once("traced-start", "starting span %r failed", recipe.name, exc_info=True)
            span = None
        if span is None:
            return t.call_plain(args, kwargs)
        token = _set_context(_Context({**_get_context(), _SPAN_KEY: span}))
        if t.metrics is not None:
            return _call_with_metrics(t, span, token, args, kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            detach_span(token)
            t.finish(span, exc, None)
            raise
        try:
            _reset_context(token)  # detach_span() inlined
        except Exception:
            log_once("detach", "restoring the previous context failed", exc_info=True)
        if plain_end:
            try:
                span.end()
            except Exception:
                log_once("traced-end", "ending span %r failed", recipe.name, exc_info=True)
        else:
            t.finish(span, None, result)
        return result

    exact = _exact_signature_wrapper(fn, traced_call_on)
    if exact is not None:
        return functools.wraps(fn)(exact)

    @functools.wraps(fn)
    def traced_call(*args: Any, **kwargs: Any) -> Any:
        # Fast path, measured in docs/performance.md: two attribute reads when off.
        if state.tracer_provider is None and (
            state.disabled
            or _trace_globals._TRACER_PROVIDER is None
            or _trace_globals._TRACER_PROVIDER is _providers._TRACER_PROXY
        ):
            return fn(*args, **kwargs)
        return traced_call_on(args, kwargs)

    return traced_call


def _call_with_metrics(
    t: _Traced, span: trace_api.Span, token: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    started = t.metrics_start()
    try:
        result = t.fn(*args, **kwargs)
    except BaseException as exc:
        t.metrics_end(started, exc)
        detach_span(token)
        t.finish(span, exc, None)
        raise
    t.metrics_end(started, None)
    detach_span(token)
    t.finish(span, None, result)
    return result


# The wrapper of a plain function is generated with the function's own parameter list:
# a `(*args, **kwargs)` pass-through costs ~100 ns (packing a tuple and a fresh dict,
# then CALL_FUNCTION_EX) where a call with the exact parameters costs ~35 ns, so the off
# path stays under the 100 ns budget of target 1 (benchmarks/bench_calls.py).
_EXACT_TEMPLATE = """
def traced_call({params}):
    if _obskit_state.tracer_provider is None and (
        _obskit_state.disabled
        or _obskit_trace._TRACER_PROVIDER is None
        or _obskit_trace._TRACER_PROVIDER is _obskit_proxy
    ):
        return _obskit_fn({forward})
    return _obskit_on(({positional}), {{{keywords}}})
"""


def _exact_signature_wrapper(
    fn: Callable[..., Any], on: Callable[[tuple[Any, ...], dict[str, Any]], Any]
) -> Callable[..., Any] | None:
    """A wrapper taking exactly `fn`'s parameters, or None when that is not safe."""
    if not inspect.isfunction(fn):
        return None
    try:
        parameters = list(inspect.signature(fn, follow_wrapped=False).parameters.values())
    except (TypeError, ValueError):
        return None
    namespace: dict[str, Any] = {
        "_obskit_state": _state,
        "_obskit_trace": _trace_globals,
        "_obskit_proxy": _providers._TRACER_PROXY,
        "_obskit_fn": fn,
        "_obskit_on": on,
    }
    params: list[str] = []
    forward: list[str] = []
    positional: list[str] = []
    keywords: list[str] = []
    kind = inspect.Parameter
    for index, parameter in enumerate(parameters):
        name = parameter.name
        if not name.isidentifier() or name.startswith("_obskit_"):
            return None
        default = ""
        if parameter.default is not kind.empty:
            namespace[f"_obskit_default_{index}"] = parameter.default
            default = f"=_obskit_default_{index}"
        if parameter.kind is kind.KEYWORD_ONLY and not any(p.startswith("*") for p in params):
            params.append("*")
        if parameter.kind is kind.POSITIONAL_ONLY:
            params.append(name + default)
            forward.append(name)
            positional.append(name)
            if (
                index + 1 == len(parameters)
                or parameters[index + 1].kind is not kind.POSITIONAL_ONLY
            ):
                params.append("/")
        elif parameter.kind is kind.POSITIONAL_OR_KEYWORD:
            params.append(name + default)
            forward.append(name)
            positional.append(name)
        elif parameter.kind is kind.VAR_POSITIONAL:
            params.append("*" + name)
            forward.append("*" + name)
            positional.append("*" + name)
        elif parameter.kind is kind.KEYWORD_ONLY:
            params.append(name + default)
            forward.append(f"{name}={name}")
            keywords.append(f"{name!r}: {name}")
        else:
            params.append("**" + name)
            forward.append("**" + name)
            keywords.append("**" + name)
    source = _EXACT_TEMPLATE.format(
        params=", ".join(params),
        forward=", ".join(forward),
        positional="".join(p + ", " for p in positional),
        keywords=", ".join(keywords),
    )
    try:
        exec(compile(source, f"<obskit.traced {fn.__qualname__}>", "exec"), namespace)
    except SyntaxError:  # pragma: no cover - a signature Python itself would not accept
        return None
    wrapper: Callable[..., Any] = namespace["traced_call"]
    return wrapper


def _wrap_coroutine(t: _Traced) -> Callable[..., Any]:
    fn = t.fn

    @functools.wraps(fn)
    async def traced_coroutine(*args: Any, **kwargs: Any) -> Any:
        if _off():
            return await fn(*args, **kwargs)
        span = t.start(args, kwargs)
        if span is None:
            return await fn(*args, **kwargs)
        # The whole await runs inside this coroutine's own context copy (asyncio gives
        # each task one), so attach/detach pair up even across suspensions.
        token = attach_span(span)
        started = t.metrics_start()
        try:
            result = await fn(*args, **kwargs)
        except BaseException as exc:
            t.metrics_end(started, exc)
            detach_span(token)
            t.finish(span, exc, None)
            raise
        t.metrics_end(started, None)
        detach_span(token)
        t.finish(span, None, result)
        return result

    return traced_coroutine


def _wrap_generator(t: _Traced) -> Callable[..., Any]:
    fn = t.fn

    @functools.wraps(fn)
    def traced_generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        if _off():
            return (yield from fn(*args, **kwargs))
        inner = fn(*args, **kwargs)  # first: bad arguments raise before any span starts
        span = t.start(args, kwargs)
        if span is None:
            return (yield from inner)
        span_context = trace_api.set_span_in_context(span)
        started = t.metrics_start()
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = _set_context(span_context)  # context_api.attach, inlined
            try:
                item = inner.send(to_send) if to_throw is None else inner.throw(to_throw)
            except StopIteration as stop:
                detach_span(token)
                t.metrics_end(started, None)
                t.finish(span, None, stop.value)
                return stop.value
            except BaseException as exc:
                detach_span(token)
                t.metrics_end(started, exc)
                t.finish(span, exc, None)
                raise
            detach_span(token)
            try:
                to_send, to_throw = (yield item), None
            except GeneratorExit:
                # Closed early (break, close(), garbage collection): not an error.
                token = _set_context(span_context)  # context_api.attach, inlined
                try:
                    inner.close()
                finally:
                    detach_span(token)
                    t.metrics_end(started, None)
                    t.finish(span, None, None)
                raise
            except BaseException as exc:
                to_send, to_throw = None, exc

    return traced_generator


def _wrap_async_generator(t: _Traced) -> Callable[..., Any]:
    fn = t.fn

    @functools.wraps(fn)
    async def traced_async_generator(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        inner = fn(*args, **kwargs)
        span = None if _off() else t.start(args, kwargs)
        if span is None:
            async with _aclosing(inner):
                async for item in inner:
                    yield item
            return
        span_context = trace_api.set_span_in_context(span)
        started = t.metrics_start()
        to_send: Any = None
        to_throw: BaseException | None = None
        while True:
            token = _set_context(span_context)  # context_api.attach, inlined
            try:
                if to_throw is None:
                    item = await inner.asend(to_send)
                else:
                    item = await inner.athrow(to_throw)
            except StopAsyncIteration:
                detach_span(token)
                t.metrics_end(started, None)
                t.finish(span, None, None)
                return
            except BaseException as exc:
                detach_span(token)
                t.metrics_end(started, exc)
                t.finish(span, exc, None)
                raise
            detach_span(token)
            try:
                to_send, to_throw = (yield item), None
            except GeneratorExit:
                token = _set_context(span_context)  # context_api.attach, inlined
                try:
                    await inner.aclose()
                finally:
                    detach_span(token)
                    t.metrics_end(started, None)
                    t.finish(span, None, None)
                raise
            except BaseException as exc:
                to_send, to_throw = None, exc

    return traced_async_generator


class _aclosing:
    def __init__(self, agen: Any) -> None:
        self.agen = agen

    async def __aenter__(self) -> Any:
        return self.agen

    async def __aexit__(self, *exc_info: object) -> None:
        await self.agen.aclose()


def _wrap(t: _Traced) -> Callable[..., Any]:
    fn = t.fn
    if inspect.isasyncgenfunction(fn):
        return _wrap_async_generator(t)
    if inspect.isgeneratorfunction(fn):
        return _wrap_generator(t)
    if inspect.iscoroutinefunction(fn):
        return _wrap_coroutine(t)
    return _wrap_function(t)


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
    then re-raised unchanged (same object, same traceback) -- unless it is one of
    `expected`, which are normal control flow.

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
    traced_fn = _Traced(target, name, **options)
    wrapper = _wrap(traced_fn)
    wrapper.__obskit_span_name__ = traced_fn.recipe.name  # type: ignore[attr-defined]
    return wrapper
