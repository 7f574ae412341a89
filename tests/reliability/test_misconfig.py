"""R14: misconfiguration degrades to defaults or no-op with exactly one warning per problem."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from _harness import child_env, receiver_endpoint, record_figure, run_scenario

from obskit.testing._receiver import OTLPReceiver

pytestmark = pytest.mark.reliability

CASES = {
    "queue-smaller-than-batch": ({"OTEL_BSP_MAX_QUEUE_SIZE": "128"}, "OTEL_BSP"),
    "timeout-abc": ({"OTEL_EXPORTER_OTLP_TIMEOUT": "abc"}, "OTEL_EXPORTER_OTLP_TIMEOUT"),
    "compression-zstd": ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "zstd"),
    "endpoint-unparsable": ({}, "not a URL"),
}


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_environment_values(case: str, receiver: OTLPReceiver) -> None:
    env, mentions = CASES[case]
    endpoint = "http://[::1" if case == "endpoint-unparsable" else receiver_endpoint(receiver)
    outcome = run_scenario(
        "misconfig",
        {"endpoint": endpoint, "protocol": receiver.protocol},
        env=child_env(**env),
    )
    warnings = outcome.result["warnings"]
    record_figure(f"R14 {case} {receiver.protocol}", f"{len(warnings)} warning(s): {warnings}")
    assert outcome.returncode == 0
    assert len(warnings) == 1, warnings
    assert mentions in warnings[0]
    counts = outcome.result["counts"]
    if case == "endpoint-unparsable":
        assert not counts.get("ended")  # traces are not exported at all: no-op
    else:
        assert outcome.result["flushed"] is True
        assert counts["exported"] == 1
        assert receiver.wait_for_spans(1, timeout=5)[0].name == "still.works"


def test_prometheus_port_in_use(busy_port: int) -> None:
    outcome = run_scenario("misconfig", {"exporters": ["prometheus", "memory"], "port": busy_port})
    warnings = outcome.result["warnings"]
    record_figure("R14 prometheus-port-in-use", f"{len(warnings)} warning(s): {warnings}")
    assert outcome.returncode == 0
    assert len(warnings) == 1, warnings
    assert "in use" in warnings[0]
    assert outcome.result["counts"]["exported"] == 1  # the rest of telemetry works
