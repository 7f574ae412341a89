"""What `@obskit.traced` decides once, at decoration time, for one decorated function.

`Traced` holds the span recipe, the argument capture and the call metrics; the
wrappers of obskit._trace.wrappers only read it per call. `_off` is the one check of the
pass-through path taken when obskit has nowhere to send spans.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.trace import SpanKind

from obskit import _routing as _providers
from obskit._base.context import SPAN_KEY, get_context
from obskit._base.log import log_once
from obskit._base.names import (
    ARG_PREFIX,
    CODE_FUNCTION_NAME,
    ERROR_TYPE,
    FUNCTION_METRIC_PREFIX,
    OUTCOME,
    OUTCOME_CANCELLED,
    OUTCOME_ERROR,
    OUTCOME_OK,
    RESULT,
)
from obskit._metrics import proxy as _metrics
from obskit._safety.clean import clean_value
from obskit._safety.errors import OK, outcome
from obskit._safety.secrets import KeyPolicy, scrub_pair
from obskit._trace.handle import SpanRecipe, current_span_context
from obskit._trace.sampling import UnsampledRoot

_state = _providers.state
_trace_globals = trace_api


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
                KeyPolicy(ARG_PREFIX + name),  # scrubbing decided for the key once, here
            )
            for name in names
        ]

    def read(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name, key, index, positional_only, default, policy in self.names:
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
                found[key] = policy.apply(clean)
        return found


class _CallMetrics:
    """Duration histogram, call counter and in-flight counter for one decorated function."""

    __slots__ = (
        "active",
        "base",
        "calls",
        "cancelled_attrs",
        "duration",
        "error_attrs",
        "ok_attrs",
    )

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
        self.cancelled_attrs = {CODE_FUNCTION_NAME: function_name, OUTCOME: OUTCOME_CANCELLED}
        self.error_attrs: dict[str, dict[str, str]] = {}

    def record(self, started: float, exc: BaseException | None, expected: tuple[type, ...]) -> None:
        elapsed = time.perf_counter() - started
        if exc is None:  # the usual case, without a call
            attrs = self.ok_attrs
        else:
            ended, kind = outcome(exc, None, expected)  # the one classifier
            if kind is None:
                attrs = self.ok_attrs if ended == OK else self.cancelled_attrs
            else:
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


class Traced:
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
            parent = get_context().get(SPAN_KEY)
            if type(parent) is UnsampledRoot:
                return parent  # type: ignore[return-value]  # ends as a no-op, ids not drawn
            return trace_api.NonRecordingSpan(current_span_context())
        return span

    def finish(self, span: trace_api.Span, exc: BaseException | None, result: Any) -> None:
        try:
            if self.record_result and exc is None and span.is_recording():
                clean = clean_value(result)
                if clean is not None:
                    span.set_attribute(RESULT, scrub_pair(RESULT, clean))
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
