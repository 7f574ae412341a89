"""Per-call cost of a decorated function: disabled, sampled out, sampled in, metrics only.

Run alone:  python benchmarks/bench_calls.py [--quick]

Every figure is the cost of one call of `def f(x): return x + 1` through the decorator,
measured against the same call bare (`f(1)`); "added" is the difference. Cases of one
table are interleaved (benchmarks/_bench_harness.py).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace as trace_api
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

import obskit
from obskit import _routing as _providers
from obskit._export import slim as _slim
from obskit._export.queue import SpanQueue
from obskit._safety import secrets as _scrub

try:
    from benchmarks._bench_harness import Case, Step, compare, run_steps
except ImportError:  # run as a script: benchmarks/ is on sys.path
    from _bench_harness import Case, Step, compare, run_steps  # type: ignore[no-redef]

__all__ = ["SDK_SPANS", "assemble", "run", "steps"]


class NullExporter(SpanExporter):
    """Accepts every batch and does nothing: the processor's own cost stays measured."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def f(x: int) -> int:
    return x + 1


def sdk_provider(ratio: float) -> TracerProvider:
    """An SDK provider built the way `obskit.configure()` builds one, with a null exporter."""
    provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)), shutdown_on_exit=False)
    provider.add_span_processor(
        SpanQueue(NullExporter, max_queue_size=8192, max_batch_size=512, schedule_delay=0.05)
    )
    return provider


@contextlib.contextmanager
def routed(provider: TracerProvider | None, *, disabled: bool = False) -> Iterator[None]:
    """Route obskit to `provider` (or to nothing) for a block."""
    previous = _providers.set_current(provider, None, disabled=disabled)
    try:
        yield
    finally:
        _providers.restore(previous)


@contextlib.contextmanager
def own_recorder(provider: TracerProvider, on: bool = True) -> Iterator[None]:
    """Route obskit to `provider` with obskit's own span recorder on (the default) or off
    (`OBSKIT_SLIM_SPANS=false`: SDK spans).

    `provider` must not be shared with a case of the other setting: a recipe binds (and
    reads the switch) when the provider it sees changes.
    """
    switch, _slim.ENABLED = _slim.ENABLED, on
    try:
        with routed(provider):
            yield
    finally:
        _slim.ENABLED = switch


@contextlib.contextmanager
def inside(provider: TracerProvider, tracer_name: str, sampled: bool) -> Iterator[None]:
    """Route to `provider` and run the block inside a parent span (sampled or not)."""
    with routed(provider):
        parent = trace_api.NonRecordingSpan(
            trace_api.SpanContext(
                0x1234,
                0x5678,
                is_remote=False,
                trace_flags=trace_api.TraceFlags(1 if sampled else 0),
            )
        )
        with trace_api.use_span(parent, end_on_exit=False):
            yield


@contextlib.contextmanager
def configured_off(how: str) -> Iterator[None]:
    """obskit off the ways a user turns it off, through the public API."""
    if how == "enabled=False":
        obskit.configure(service_name="bench", enabled=False)
    elif how == "OTEL_SDK_DISABLED":
        os.environ["OTEL_SDK_DISABLED"] = "true"
        try:
            obskit.configure(service_name="bench")
        finally:
            del os.environ["OTEL_SDK_DISABLED"]
    elif how == "after shutdown()":
        obskit.configure(service_name="bench", exporters=["memory"])
        obskit.shutdown()
    try:
        yield
    finally:
        obskit.shutdown()


def disabled_cases() -> dict[str, Case]:
    """Target 1: obskit off (never configured, enabled=False, OTEL_SDK_DISABLED, shut down)."""
    wrapped = functools.wraps(f)(lambda *a, **k: f(*a, **k))
    traced = obskit.traced(f)
    # The OTel API with no SDK: a ProxyTracer handing out non-recording spans.
    api_noop = trace_api.ProxyTracer("bench").start_as_current_span("f")(f)
    ns = {"f": f, "w": wrapped, "g": traced, "api": api_noop}
    cases = {
        "bare": Case("f(1)", ns),
        "functools.wraps pass-through": Case("w(1)", ns),
        "OTel API without SDK @start_as_current_span": Case("api(1)", ns, number=20_000),
        "obskit @traced, not configured": Case("g(1)", ns),
    }
    for how in ("enabled=False", "OTEL_SDK_DISABLED", "after shutdown()"):
        cases[f"obskit @traced, {how}"] = Case(
            "g(1)", ns, context=functools.partial(configured_off, how)
        )
    return cases


#: The configuration a row names when it says "SDK spans"; rows that do not say it run
#: obskit's own span recorder, the default.
SDK_SPANS = "SDK spans (OBSKIT_SLIM_SPANS=false)"


def span_cases(ratio: float) -> dict[str, Case]:
    """Targets 2 and 3: sampled out (ratio 0) or sampled in (ratio 1), raw SDK vs obskit.

    Each obskit row names one configuration: obskit's own span recorder (the default,
    switched on explicitly so a stray `OBSKIT_SLIM_SPANS` cannot change what the row
    measures) or SDK spans, each on a provider of its own (a recipe binds, and reads the
    switch, when the provider it sees changes).
    """
    provider = sdk_provider(ratio)
    raw = provider.get_tracer("bench").start_as_current_span("f")(f)
    traced = obskit.traced("f")(f)
    ns = {"f": f, "raw": raw, "g": traced, "span": obskit.span}
    default = lambda: own_recorder(provider)  # noqa: E731 - a context factory per case
    cases = {
        "bare": Case("f(1)", ns),
        "raw OTel SDK @start_as_current_span": Case("raw(1)", ns, context=lambda: routed(provider)),
        "obskit @traced": Case("g(1)", ns, context=default),
    }
    if ratio == 1.0:
        sdk_spans = sdk_provider(ratio)
        cases["with obskit.span"] = Case("with span('f'):\n    f(1)", ns, context=default)
        cases[f"obskit @traced, {SDK_SPANS}"] = Case(
            "g(1)", ns, context=lambda: own_recorder(sdk_spans, on=False)
        )
        cases[f"with obskit.span, {SDK_SPANS}"] = Case(
            "with span('f'):\n    f(1)", ns, context=lambda: own_recorder(sdk_spans, on=False)
        )
    if ratio == 0.0:
        cases["raw OTel SDK, child of unsampled parent"] = Case(
            "raw(1)", ns, context=lambda: inside(provider, "bench", sampled=False)
        )
        cases["obskit @traced, child of unsampled parent"] = Case(
            "g(1)", ns, context=lambda: inside(provider, "bench", sampled=False)
        )
    return cases


@contextlib.contextmanager
def scrubbing(options: _scrub.ScrubbingOptions | None) -> Iterator[None]:
    """Scrubbing rules for a case (fresh caches: the warm-up rounds fill them)."""
    saved = _scrub.current()
    _scrub.install(options)
    try:
        yield
    finally:
        _scrub.restore(saved)


def scrubbing_cases() -> dict[str, Case]:
    """The cost of scrubbing: a sampled-in call capturing a string argument, on and off,
    and one metric record's attributes through the scrubbing hook."""
    provider = sdk_provider(1.0)

    def login(user: str, note: str) -> int:
        return 1

    traced = obskit.traced("login", record_args=["user", "note"])(login)
    attributes = {"db.system.name": "minidb", "db.operation.name": "SELECT"}
    ns = {
        "f": f,
        "g": traced,
        "scrub": _scrub.metric_attributes,
        "attributes": attributes,
        "user": "bob",
        "note": "retry 3 of 5 after lock timeout",
    }

    def traced_with(options: _scrub.ScrubbingOptions | None) -> Any:
        @contextlib.contextmanager
        def both() -> Iterator[None]:
            with routed(provider), scrubbing(options):
                yield

        return both

    return {
        "bare": Case("f(1)", ns),
        "@traced(record_args=2 str), scrubbing off": Case(
            "g(user, note)", ns, context=traced_with(None)
        ),
        "@traced(record_args=2 str), scrubbing on": Case(
            "g(user, note)", ns, context=traced_with(_scrub.ScrubbingOptions())
        ),
        "metric attributes (2) through the scrubbing hook, on": Case(
            "scrub(attributes)",
            ns,
            context=functools.partial(scrubbing, _scrub.ScrubbingOptions()),
        ),
    }


def steps(quick: bool = False) -> list[Step]:
    """One comparison per table, seconds per call."""
    repeat = 5 if quick else 15
    return [
        Step("disabled", lambda: compare(
            disabled_cases(), number=100_000 if quick else 200_000, repeat=repeat
        ), "decorated call, obskit off"),
        Step("sampled_out", lambda: compare(
            span_cases(0.0), number=5_000 if quick else 20_000, repeat=repeat
        ), "decorated call, sampled out"),
        Step("sampled_in", lambda: compare(
            span_cases(1.0), number=2_000 if quick else 4_000, repeat=repeat + 6
        ), "decorated call, sampled in"),
        Step("scrubbing", lambda: compare(
            scrubbing_cases(), number=2_000 if quick else 4_000, repeat=repeat + 6
        ), "scrubbing on and off"),
    ]  # fmt: skip


def assemble(done: dict[str, Any], quick: bool = False) -> dict[str, Any]:
    """The tables as `steps` produced them."""
    return done


def run(quick: bool = False) -> dict[str, dict[str, float]]:
    """All call-cost tables, seconds per call."""
    return assemble(run_steps(steps(quick)), quick)


def _print(results: dict[str, dict[str, float]]) -> None:
    for table, figures in results.items():
        bare = figures["bare"]
        print(f"[{table}]")
        for name, seconds in figures.items():
            print(f"  {name:<50} {seconds * 1e9:10.1f} ns  added {(seconds - bare) * 1e9:10.1f} ns")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["scrubbing"], help="run one table only")
    os.environ.pop("OTEL_SDK_DISABLED", None)
    arguments = parser.parse_args()
    if arguments.only == "scrubbing":
        _print({"scrubbing": compare(scrubbing_cases(), number=4_000, repeat=9)})
    else:
        _print(run(arguments.quick))
