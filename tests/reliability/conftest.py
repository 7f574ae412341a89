"""Fixtures for the reliability suite: backends that are down, hung or real, on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from obskit.testing._faults import Blackhole, closed_port
from obskit.testing._receiver import OTLPReceiver

PROTOCOLS = ["grpc", "http/protobuf"]


@pytest.fixture
def down_endpoint() -> str:
    """An endpoint where nothing listens (connections refused)."""
    return f"http://127.0.0.1:{closed_port()}"


@pytest.fixture
def blackhole() -> Iterator[Blackhole]:
    """A backend that accepts connections and never answers."""
    with Blackhole() as hole:
        yield hole


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def receiver(protocol: str) -> Iterator[OTLPReceiver]:
    """A working OTLP receiver speaking `protocol`."""
    with OTLPReceiver(protocol=protocol) as running:  # type: ignore[arg-type]
        yield running
