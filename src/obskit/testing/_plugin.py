"""The pytest plugin (entry point `pytest11: obskit`): fixtures and failure reports.

pytest loads this module in every run where obskit is installed, so it imports nothing
heavy (the OTLP receiver and grpc load only when `obskit_collector` is used) and changes
nothing for tests that do not ask for its fixtures.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from obskit.testing._capture import Capture
from obskit.testing._query import SpanQueries

__all__ = ["obskit_capture", "obskit_collector"]

CAPTURE_MARKER = "obskit_capture"
COLLECTOR_MARKER = "obskit_collector"
_REPORT_SECTION = "obskit: spans emitted"

_active = pytest.StashKey[list[SpanQueries]]()
_call_failed = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{CAPTURE_MARKER}(deterministic=False, check_leaks=True, service_name=..., seed=None): "
        "options of the obskit_capture fixture (obskit.testing.Capture arguments)",
    )
    config.addinivalue_line(
        "markers",
        f"{COLLECTOR_MARKER}(protocol='http/protobuf'): options of the obskit_collector fixture",
    )


def _options(request: pytest.FixtureRequest, marker: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    # Closest last, so a function marker overrides a module or class one.
    for found in reversed(list(request.node.iter_markers(marker))):
        options.update(found.kwargs)
    return options


@pytest.fixture
def obskit_capture(request: pytest.FixtureRequest) -> Iterator[Capture]:
    """Everything obskit emits during the test, in memory; see `obskit.testing.Capture`.

    Example::

        def test_lookup_is_traced(obskit_capture):
            tree.get(b"k")
            assert obskit_capture.one("btree.get").attributes["btree.index"] == "users_pk"
            assert obskit_capture.tree() == "btree.get\\n"

    At teardown, a span that started during the test and never ended, or a context left
    attached, errors the test naming the span; opt out with
    `@pytest.mark.obskit_capture(check_leaks=False)`.
    """
    capture = Capture(**_options(request, CAPTURE_MARKER))
    request.node.stash.setdefault(_active, []).append(capture)
    capture.start()
    try:
        yield capture
        problems = capture.problems()
    finally:
        capture.stop()
        request.node.stash[_active].remove(capture)
    if problems and not request.node.stash.get(_call_failed, False):
        # A failed test often leaves spans open as a consequence; report only the failure.
        pytest.fail(f"obskit_capture: {problems}", pytrace=False)


@pytest.fixture
def obskit_collector(request: pytest.FixtureRequest) -> Iterator[Any]:
    """An OTLP receiver (gRPC + HTTP) on 127.0.0.1 for child processes; see `Collector`.

    Example::

        def test_trace_crosses_processes(obskit_collector):
            env = {**os.environ, **obskit_collector.env}
            subprocess.run([sys.executable, "worker.py"], env=env, timeout=60, check=True)
            obskit_collector.wait_for("worker.job", count=1)
    """
    from obskit.testing._collector import Collector  # grpc loads only when used

    collector = Collector.start(**_options(request, COLLECTOR_MARKER))
    request.node.stash.setdefault(_active, []).append(collector)
    try:
        yield collector
    finally:
        collector.stop()
        request.node.stash[_active].remove(collector)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when != "call":
        return
    item.stash[_call_failed] = report.failed
    if not report.failed:
        return
    for source in item.stash.get(_active, []):
        try:
            text = source.tree(attributes=True) or "(no spans were finished)\n"
        except Exception as exc:  # a broken report must not hide the test's own failure
            text = f"(could not render the spans: {exc!r})\n"
        report.sections.append((_REPORT_SECTION, text))
