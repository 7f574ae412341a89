"""Runtime metrics: semconv names, units and attributes; enable/disable; configure()."""

from __future__ import annotations

import gc
import sys

import pytest
from opentelemetry.semconv._incubating.attributes import cpu_attributes, cpython_attributes
from opentelemetry.semconv._incubating.metrics import cpython_metrics, process_metrics

import obskit
from obskit import runtime
from obskit._runtime import gc as _runtime_gc
from obskit.runtime import CATALOGUE, PANELS


def test_names_are_the_current_semantic_conventions():
    names = {i.name for i in CATALOGUE.instruments}
    assert {
        process_metrics.PROCESS_CPU_TIME,
        process_metrics.PROCESS_MEMORY_USAGE,
        process_metrics.PROCESS_MEMORY_VIRTUAL,
        process_metrics.PROCESS_UNIX_FILE_DESCRIPTOR_COUNT,
        process_metrics.PROCESS_THREAD_COUNT,
        cpython_metrics.CPYTHON_GC_COLLECTIONS,
        cpython_metrics.CPYTHON_GC_COLLECTED_OBJECTS,
        cpython_metrics.CPYTHON_GC_UNCOLLECTABLE_OBJECTS,
    } <= names
    keys = {a.key for a in CATALOGUE.attributes}
    assert {cpu_attributes.CPU_MODE, cpython_attributes.CPYTHON_GC_GENERATION} <= keys


def test_every_catalogue_metric_is_reported_with_its_unit(obskit_capture, runtime_on):
    gc.collect(0)  # so the pause histogram has a point
    reported = {point.name: point for point in obskit_capture.metrics()}

    for instrument in CATALOGUE.instruments:
        assert instrument.name in reported, f"{instrument.name} was not reported"
        assert reported[instrument.name].unit == instrument.unit
        assert set(reported[instrument.name].attributes) == set(instrument.attributes)


def test_process_values_are_plausible(obskit_capture, runtime_on):
    user = obskit_capture.metric("process.cpu.time", {"cpu.mode": "user"})
    system = obskit_capture.metric("process.cpu.time", {"cpu.mode": "system"})
    rss = obskit_capture.metric("process.memory.usage").value
    vms = obskit_capture.metric("process.memory.virtual").value

    assert user.value > 0
    assert user.is_monotonic
    assert system.value >= 0
    assert 0 < rss <= vms
    assert obskit_capture.metric("process.unix.file_descriptor.count").value >= 1
    assert obskit_capture.metric("process.thread.count").value >= 1


def test_gc_counters_follow_gc_get_stats(obskit_capture, runtime_on):
    gc.collect(1)
    expected = gc.get_stats()[1]["collections"]
    point = obskit_capture.metric("cpython.gc.collections", {"cpython.gc.generation": 1})

    assert point.value >= expected  # later collections only add
    assert point.is_monotonic
    for generation in (0, 1, 2):
        where = {"cpython.gc.generation": generation}
        assert obskit_capture.metric("cpython.gc.collected_objects", where).value >= 0
        assert obskit_capture.metric("cpython.gc.uncollectable_objects", where).value >= 0


def test_enable_and_disable_are_idempotent():
    runtime.enable()
    runtime.enable()
    assert runtime.is_enabled()
    assert gc.callbacks.count(_runtime_gc._on_gc) == 1
    cpu = CATALOGUE.instrument("process.cpu.time")
    assert len(cpu._callbacks) == 1

    runtime.disable()
    runtime.disable()
    assert not runtime.is_enabled()
    assert _runtime_gc._on_gc not in gc.callbacks
    assert cpu._callbacks == []


def test_no_metrics_after_disable(obskit_capture):
    runtime.enable()
    assert obskit_capture.metrics("process.cpu.time")
    runtime.disable()
    obskit_capture.clear()

    assert obskit_capture.metrics("process.cpu.time") == []


def test_disable_keeps_the_hook_while_a_sampler_needs_it():
    runtime.enable()
    with runtime.sample(interval=0.5):
        runtime.disable()
        assert _runtime_gc.installed()
    assert not _runtime_gc.installed()


def test_configure_runtime_true_enables_and_shutdown_disables(obskit_capture):
    obskit.configure(service_name="runtime-test", exporters=["memory"], runtime=True)
    assert runtime.is_enabled()
    assert _runtime_gc.installed()

    assert obskit.shutdown(timeout=5.0)
    assert not runtime.is_enabled()
    assert not _runtime_gc.installed()


def test_obskit_runtime_env_variable_enables(obskit_capture, monkeypatch):
    monkeypatch.setenv("OBSKIT_RUNTIME", "true")
    obskit.configure(service_name="runtime-test", exporters=["memory"])
    assert runtime.is_enabled()
    obskit.shutdown(timeout=5.0)
    assert not runtime.is_enabled()


def test_resource_attributes_name_this_interpreter():
    attributes = runtime.resource_attributes()

    assert attributes["process.runtime.name"] == sys.implementation.name
    assert attributes["process.runtime.version"].startswith(
        f"{sys.version_info.major}.{sys.version_info.minor}."
    )
    assert attributes["process.runtime.description"] == sys.version


@pytest.mark.parametrize("panel", PANELS, ids=lambda p: p["title"])
def test_panels_query_only_names_obskit_emits(panel):
    prometheus_names = {i.prometheus_name for i in CATALOGUE.instruments}
    assert panel["title"]
    assert panel["unit"]
    assert panel["targets"]
    for target in panel["targets"]:
        assert any(name in target["expr"] for name in prometheus_names), target["expr"]
        assert 'job=~"$job"' in target["expr"]


def test_configure_runtime_names_the_interpreter_in_the_resource() -> None:
    import sys

    import obskit

    telemetry = obskit.configure(service_name="r", exporters=["memory"], runtime=True)
    try:
        resource = telemetry.tracer_provider.resource  # type: ignore[union-attr]
        assert resource.attributes["process.runtime.name"] == sys.implementation.name
    finally:
        obskit.shutdown()
