"""The per-call wrappers `@obskit.traced` builds: plain functions, coroutines, generators.

Generators: the span covers the whole iteration but is current only while the generator
body runs. The wrapper is itself a generator that attaches the span's context around each
resume and detaches it before yielding, so an abandoned generator (a `break`, a `close()`
from another task) can never leave its span current in the caller, and OTel never logs
"Failed to detach context". An early close (GeneratorExit) is not an error.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import linecache
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.context.context import Context as _Context

from obskit._base.log import log_once
from obskit._routing import OFF_NAMESPACE, SPANS_OFF_TEST, spans_off
from obskit._trace.handle import SPAN_KEY as _SPAN_KEY
from obskit._trace.handle import (
    attach_span,
    detach_span,
    get_context,
    reset_context,
    set_context,
)
from obskit._trace.prepared import Traced, _state


def _wrap_function(t: Traced) -> Callable[..., Any]:
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
        token = set_context(_Context({**get_context(), _SPAN_KEY: span}))
        if t.metrics is not None:
            return _call_with_metrics(t, span, token, args, kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            detach_span(token)
            t.finish(span, exc, None)
            raise
        try:
            reset_context(token)  # detach_span() inlined
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
        if spans_off():
            return fn(*args, **kwargs)
        return traced_call_on(args, kwargs)

    return traced_call


def _call_with_metrics(
    t: Traced, span: trace_api.Span, token: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
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
    if {off_test}:
        return _obskit_fn({forward})
    return _obskit_on(({positional}), {{{keywords}}})
"""


_generated = itertools.count(1)  # a distinct linecache name per generated wrapper


def _exact_signature_wrapper(
    fn: Callable[..., Any],
    on: Callable[[tuple[Any, ...], dict[str, Any]], Any],
    template: str = _EXACT_TEMPLATE,
) -> Callable[..., Any] | None:
    """A wrapper taking exactly `fn`'s parameters, or None when that is not safe."""
    if not inspect.isfunction(fn):
        return None
    try:
        parameters = list(inspect.signature(fn, follow_wrapped=False).parameters.values())
    except (TypeError, ValueError):
        return None
    namespace: dict[str, Any] = {
        **OFF_NAMESPACE,  # what the inlined `_routing.SPANS_OFF_TEST` reads
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
    source = template.format(
        params=", ".join(params),
        forward=", ".join(forward),
        positional="".join(p + ", " for p in positional),
        keywords=", ".join(keywords),
        off_test=SPANS_OFF_TEST,
    )
    # Registered with linecache, so tracebacks, pdb and coverage show the generated code.
    filename = f"<obskit.traced {fn.__module__}.{fn.__qualname__} #{next(_generated)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    try:
        exec(compile(source, filename, "exec"), namespace)
    except SyntaxError:  # pragma: no cover - a signature Python itself would not accept
        return None
    wrapper: Callable[..., Any] = namespace[template.split("(")[0].split()[-1]]
    return wrapper


def _wrap_coroutine(t: Traced) -> Callable[..., Any]:
    fn = t.fn

    async def run(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if spans_off():
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

    return functools.wraps(fn)(_signature_wrapper(fn, run, _COROUTINE_TEMPLATE))


def wrap_generator(t: Traced) -> Callable[..., Any]:
    fn = t.fn

    def open_inner(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Generator[Any, Any, Any]:
        # Runs at the first next(): the wrapper's own frame already checked the arguments.
        inner = fn(*args, **kwargs)
        if spans_off():
            return inner  # type: ignore[no-any-return]
        span = t.start(args, kwargs)
        if span is None:
            return inner  # type: ignore[no-any-return]
        return _traced_generator(t, inner, span)

    return functools.wraps(fn)(_signature_wrapper(fn, open_inner, _GENERATOR_TEMPLATE))


def _traced_generator(
    t: Traced, inner: Generator[Any, Any, Any], span: trace_api.Span
) -> Generator[Any, Any, Any]:
    span_context = trace_api.set_span_in_context(span)
    started = t.metrics_start()
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        token = set_context(span_context)  # context_api.attach, inlined
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
            token = set_context(span_context)  # context_api.attach, inlined
            try:
                inner.close()
            finally:
                detach_span(token)
                t.metrics_end(started, None)
                t.finish(span, None, None)
            raise
        except BaseException as exc:
            to_send, to_throw = None, exc


def wrap_async_generator(t: Traced) -> Callable[..., Any]:
    fn = t.fn

    def open_inner(args: tuple[Any, ...], kwargs: dict[str, Any]) -> AsyncGenerator[Any, Any]:
        inner = fn(*args, **kwargs)
        if spans_off():
            return inner  # type: ignore[no-any-return]
        span = t.start(args, kwargs)
        if span is None:
            return inner  # type: ignore[no-any-return]
        return _traced_async_generator(t, inner, span)

    return functools.wraps(fn)(_signature_wrapper(fn, open_inner, _ASYNC_GENERATOR_TEMPLATE))


async def _traced_async_generator(
    t: Traced, inner: AsyncGenerator[Any, Any], span: trace_api.Span
) -> AsyncGenerator[Any, Any]:
    span_context = trace_api.set_span_in_context(span)
    started = t.metrics_start()
    to_send: Any = None
    to_throw: BaseException | None = None
    while True:
        token = set_context(span_context)  # context_api.attach, inlined
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
            token = set_context(span_context)  # context_api.attach, inlined
            try:
                await inner.aclose()
            finally:
                detach_span(token)
                t.metrics_end(started, None)
                t.finish(span, None, None)
            raise
        except BaseException as exc:
            to_send, to_throw = None, exc


# Generators, async generators and coroutines are wrapped by a function of the same kind
# with the function's own parameter list, made from these templates: arguments are bound
# when it is called (a bad call raises TypeError there, not at the first next() or
# await), and inspect.isgeneratorfunction() and friends stay true. `_obskit_on` returns
# the function's own generator when there is no span (obskit off, call not sampled) or
# obskit's traced one; either way every send/throw/close is forwarded as is: `yield from`
# for generators, the explicit loop below for async generators (which have no
# `yield from`).
_GENERATOR_TEMPLATE = """
def traced_generator({params}):
    return (yield from _obskit_on(({positional}), {{{keywords}}}))
"""
_COROUTINE_TEMPLATE = """
async def traced_coroutine({params}):
    return await _obskit_on(({positional}), {{{keywords}}})
"""
_ASYNC_GENERATOR_TEMPLATE = """
async def traced_async_generator({params}):
    _obskit_inner = _obskit_on(({positional}), {{{keywords}}})
    _obskit_send = None
    _obskit_throw = None
    while True:
        try:
            if _obskit_throw is None:
                _obskit_item = await _obskit_inner.asend(_obskit_send)
            else:
                _obskit_item = await _obskit_inner.athrow(_obskit_throw)
        except StopAsyncIteration:
            return
        _obskit_throw = None
        try:
            _obskit_send = yield _obskit_item
        except GeneratorExit:
            await _obskit_inner.aclose()
            raise
        except BaseException as _obskit_error:
            _obskit_send, _obskit_throw = None, _obskit_error
"""


def _signature_wrapper(
    fn: Callable[..., Any], on: Callable[[tuple[Any, ...], dict[str, Any]], Any], template: str
) -> Callable[..., Any]:
    """`template` with `fn`'s parameters, or with ``(*args, **kwargs)`` when not possible."""
    exact = _exact_signature_wrapper(fn, on, template)
    if exact is not None:
        return exact
    namespace: dict[str, Any] = {"_obskit_on": on}
    source = template.format(params="*args, **kwargs", positional="*args, ", keywords="**kwargs")
    filename = f"<obskit.traced {getattr(fn, '__qualname__', fn)!s} #{next(_generated)}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), namespace)
    wrapper: Callable[..., Any] = namespace[template.split("(")[0].split()[-1]]
    return wrapper


def _wrap(t: Traced) -> Callable[..., Any]:
    fn = t.fn
    if inspect.isasyncgenfunction(fn):
        return wrap_async_generator(t)
    if inspect.isgeneratorfunction(fn):
        return wrap_generator(t)
    if inspect.iscoroutinefunction(fn):
        return _wrap_coroutine(t)
    return _wrap_function(t)
