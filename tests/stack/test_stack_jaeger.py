"""The compose stack's Jaeger config runs: the built Jaeger v2 binary starts with it and
takes a span over OTLP/HTTP, with only the listen addresses moved to free loopback ports."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from _stack import STACK

CONFIG = STACK / "jaeger" / "config.yaml"
# Every address the file binds, moved with --set (or, for the reader list, a yaml: URI:
# lists cannot be indexed by --set, and a later --config replaces them whole).
ENDPOINTS = {
    "otlp_grpc": "receivers.otlp.protocols.grpc.endpoint",
    "otlp_http": "receivers.otlp.protocols.http.endpoint",
    "query_http": "extensions.jaeger_query.http.endpoint",
    "query_grpc": "extensions.jaeger_query.grpc.endpoint",
    "health": "extensions.healthcheckv2.http.endpoint",
}
DEADLINE = 30.0


def _free_ports(count: int) -> list[int]:
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def _get(url: str, **params: str) -> requests.Response | None:
    try:
        return requests.get(url, params=params, timeout=2)
    except requests.RequestException:
        return None


def test_config_validates(jaeger_binary: str) -> None:
    result = subprocess.run(
        [jaeger_binary, "validate", f"--config={CONFIG}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def stack_jaeger(jaeger_binary: str, tmp_path: Path) -> Iterator[dict[str, int]]:
    """Jaeger running examples/stack/jaeger/config.yaml on free ports; yields the ports."""
    names = [*ENDPOINTS, "metrics"]
    ports = dict(zip(names, _free_ports(len(names)), strict=True))
    argv = [jaeger_binary, f"--config={CONFIG}"]
    argv += [f"--set={key}=127.0.0.1:{ports[name]}" for name, key in ENDPOINTS.items()]
    argv.append(
        "--config=yaml:service::telemetry::metrics::readers: [{pull: {exporter: "
        f"{{prometheus: {{host: 127.0.0.1, port: {ports['metrics']}}}}}}}}}]"
    )
    log = tmp_path / "jaeger.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + DEADLINE
        while (health := _get(f"http://127.0.0.1:{ports['health']}/status")) is None:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not ready in {DEADLINE}s\n{log.read_text()}"
            time.sleep(0.1)
        assert health.json()["healthy"] is True
        yield ports
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_stack_config_receives_and_serves_a_span(stack_jaeger: dict[str, int]) -> None:
    service = f"stack-check-{uuid.uuid4().hex[:8]}"
    trace_id, span_id = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    now = time.time_ns()
    span = {"traceId": trace_id, "spanId": span_id, "name": "stack.check", "kind": 1,
            "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 1_000_000)}  # fmt: skip
    body = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"scope": {"name": "obskit.stack"}, "spans": [span]}],
    }]}  # fmt: skip
    sent = requests.post(f"http://127.0.0.1:{stack_jaeger['otlp_http']}/v1/traces",
                         json=body, timeout=5)  # fmt: skip
    assert sent.status_code == 200, sent.text

    url = f"http://127.0.0.1:{stack_jaeger['query_http']}/api/traces/{trace_id}"
    deadline = time.monotonic() + DEADLINE
    while (found := _get(url)) is None or found.status_code != 200:
        assert time.monotonic() < deadline, f"trace {trace_id} not in Jaeger after {DEADLINE}s"
        time.sleep(0.1)
    (trace,) = found.json()["data"]
    assert [s["operationName"] for s in trace["spans"]] == ["stack.check"]
    assert trace["processes"][trace["spans"][0]["processID"]]["serviceName"] == service
    # Jaeger's own metrics, which the stack's Prometheus scrapes as job "jaeger".
    metrics = _get(f"http://127.0.0.1:{stack_jaeger['metrics']}/metrics")
    assert metrics is not None
    assert metrics.status_code == 200
    assert "otelcol_receiver_accepted_spans" in metrics.text
