"""Fixtures that start real Jaeger and Prometheus processes, once per test session.

Both are shared by every test of a session (of each xdist worker), so tests keep apart
by name: a service name and a Prometheus job of their own, e.g. with a uuid suffix.

A backend whose binary is missing skips its tests with the command that installs it,
except under CI=true, where a missing backend fails the run: CI never skips silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from _backends import Backend, Collector, Jaeger, Prometheus

HERE = Path(__file__).parent
INSTALL_HINT = "run `bash .ci/install-backends.sh` (see docs/backends.md)"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _unavailable(backend: type[Backend], how: str) -> NoReturn:
    override = os.environ.get(backend.binary_env)
    if override:
        how = f"{backend.binary_env}={override} is not an executable file; unset it and {how}"
    else:
        how = f"{how}, or set {backend.binary_env}"
    message = f"{backend.name} binary not found: {how}"
    if _in_ci():
        pytest.fail(f"{message} (CI=true: integration tests never skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A Prometheus on 127.0.0.1 that scrapes what tests `add_target` every second."""
    binary = Prometheus.find_binary()
    if binary is None:
        _unavailable(Prometheus, f"{INSTALL_HINT} or `apt-get install prometheus`")
    with Prometheus(tmp_path_factory.mktemp("prometheus"), binary=binary) as backend:
        yield backend


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    """A Jaeger v2 all-in-one on 127.0.0.1, receiving OTLP over gRPC and HTTP."""
    binary = Jaeger.find_binary()
    if binary is None:
        _unavailable(Jaeger, f"{INSTALL_HINT}, which builds {Jaeger.default_binary()}")
    with Jaeger(tmp_path_factory.mktemp("jaeger"), binary=binary) as backend:
        yield backend


@pytest.fixture(scope="session")
def otelcol() -> Path:
    """obskit's fleet collector binary (load balancer and tail-sampling gateway)."""
    binary = Collector.find_binary()
    if binary is None:
        _unavailable(Collector, f"{INSTALL_HINT}, which builds {Collector.default_binary()}")
    return binary
