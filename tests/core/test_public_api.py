"""The public surface is exactly what we mean it to be."""

from __future__ import annotations

import importlib
import inspect
import typing

import obskit

EXPECTED = {
    "LATENCY_BUCKETS", "Settings", "SpanHandle", "SpanKind", "Telemetry", "__version__",
    "configure", "counter", "current_span", "flush", "gauge", "histogram", "meter",
    "observable_counter", "observable_gauge", "observable_up_down_counter", "set_attribute",
    "set_attributes", "shutdown", "span", "telemetry", "traced", "up_down_counter",
    "BoundCounter", "BoundHistogram", "HotCounter", "HotHistogram", "hot_counter",
    "hot_histogram", "hot_up_down_counter", "timed", "ScrubbingOptions", "ScrubMatch",
}  # fmt: skip


def test_all_is_exactly_the_public_api() -> None:
    assert set(obskit.__all__) == EXPECTED


def test_every_public_callable_is_documented_with_an_example() -> None:
    modules = [
        "obskit", "obskit.propagation", "obskit.exporters", "obskit.btree", "obskit.query",
        "obskit.raft", "obskit.pipeline", "obskit.runtime", "obskit.testing", "obskit.report",
    ]  # fmt: skip
    missing = []
    for module_name in modules:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            value = getattr(module, name)
            if typing.get_origin(value) is not None:
                continue  # a type alias such as Callable[...] (a "class" to 3.10's inspect)
            if inspect.isfunction(value) or inspect.isclass(value):
                if value.__module__.startswith("opentelemetry"):
                    continue
                doc = inspect.getdoc(value) or ""
                if "Example" not in doc and ">>>" not in doc and "::" not in doc:
                    missing.append(f"{module_name}.{name}")
    assert missing == []


def test_domain_modules_load_lazily() -> None:
    assert obskit.propagation is importlib.import_module("obskit.propagation")
