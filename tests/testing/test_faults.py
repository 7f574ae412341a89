"""Fault servers against the SDK's OTLP exporters: what gets retried, what gives up.

Attempt counts are the assertions; durations are only bounded with generous ratios.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from obskit.testing._faults import Blackhole, FaultyOTLPReceiver, closed_port
from obskit.testing._receiver import OTLPReceiver

pytestmark = pytest.mark.timeout(60)

SDK_MAX_ATTEMPTS = 6  # both 1.45 exporters give up after six attempts
SLACK = 5.0  # a generous ratio for "returned within about its timeout" on a busy CI box


def exporter_for(server: OTLPReceiver | Blackhole, transport: str, timeout: float) -> SpanExporter:
    if transport == "grpc":
        return GrpcSpanExporter(endpoint=server.grpc_endpoint, insecure=True, timeout=timeout)
    return HttpSpanExporter(endpoint=f"{server.http_endpoint}/v1/traces", timeout=timeout)


def finished_spans() -> Sequence[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.get_tracer("obskit.tests").start_span("op").end()
    return memory.get_finished_spans()


def export(exporter: SpanExporter) -> tuple[SpanExportResult, float]:
    started = time.monotonic()
    try:
        return exporter.export(finished_spans()), time.monotonic() - started
    finally:
        exporter.shutdown()


# -- closed port -------------------------------------------------------------------


def test_closed_port_refuses_connections() -> None:
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", closed_port()), timeout=5)


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_export_to_a_closed_port_fails_within_its_timeout(transport: str) -> None:
    port = closed_port()
    if transport == "grpc":
        exporter: SpanExporter = GrpcSpanExporter(
            endpoint=f"127.0.0.1:{port}", insecure=True, timeout=1
        )
    else:
        exporter = HttpSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=1)

    result, elapsed = export(exporter)

    assert result is SpanExportResult.FAILURE
    assert elapsed < 1 * SLACK


# -- blackhole ---------------------------------------------------------------------


def test_blackhole_accepts_reads_and_never_answers() -> None:
    with Blackhole() as hole, socket.create_connection(("127.0.0.1", hole.port), 5) as client:
        client.sendall(b"POST /v1/traces HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        hole.wait_for_connections(1)
        client.settimeout(0.2)
        with pytest.raises(TimeoutError):
            client.recv(1)

        client.settimeout(5)
        hole.stop()
        # stop() cut the held connection: the client sees it closed, not silence.
        try:
            assert client.recv(1) == b""
        except ConnectionResetError:
            pass
    assert hole.connections == 1


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_blackhole_export_fails_within_about_its_timeout(transport: str) -> None:
    with Blackhole() as hole:
        result, elapsed = export(exporter_for(hole, transport, timeout=1))

        assert result is SpanExportResult.FAILURE
        assert 0.9 <= elapsed < 1 * SLACK  # it did wait: the connection was not refused
        assert hole.connections >= 1


def test_blackhole_stop_is_bounded_with_connections_held() -> None:
    hole = Blackhole()
    hole.start()
    clients = [socket.create_connection(("127.0.0.1", hole.port), 5) for _ in range(5)]
    hole.wait_for_connections(5)

    started = time.monotonic()
    hole.stop()
    hole.stop()  # idempotent

    assert time.monotonic() - started < SLACK
    for client in clients:
        client.close()
    assert [t.name for t in threading.enumerate() if t.name.startswith("blackhole")] == []


# -- HTTP status codes ------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 413])
def test_http_client_errors_are_attempted_once(status: int) -> None:
    with FaultyOTLPReceiver(http_status=status) as receiver:
        result, _ = export(exporter_for(receiver, "http", timeout=5))

    assert result is SpanExportResult.FAILURE
    assert receiver.requests == {"grpc": 0, "http": 1}
    assert receiver.spans == []


@pytest.mark.parametrize("status", [429, 503])
def test_http_retryable_status_is_retried_until_it_succeeds(status: int) -> None:
    # Retry-After: 0 replaces the SDK's 1 s, 2 s backoff, so three attempts are quick.
    with FaultyOTLPReceiver(http_status=status, retry_after=0, fail_first=2) as receiver:
        result, _ = export(exporter_for(receiver, "http", timeout=10))

    assert result is SpanExportResult.SUCCESS
    assert receiver.requests["http"] == 3
    assert [span.name for span in receiver.spans] == ["op"]


def test_http_503_forever_is_given_up_after_six_attempts() -> None:
    with FaultyOTLPReceiver(http_status=503, retry_after=0) as receiver:
        result, _ = export(exporter_for(receiver, "http", timeout=10))

    assert result is SpanExportResult.FAILURE
    assert receiver.requests["http"] == SDK_MAX_ATTEMPTS


def test_http_refusal_carries_retry_after() -> None:
    with FaultyOTLPReceiver(http_status=503, retry_after=7) as receiver:
        request = urllib.request.Request(
            f"{receiver.http_endpoint}/v1/traces",
            data=b"",
            headers={"Content-Type": "application/x-protobuf"},
        )
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(request, timeout=10)
        error.value.close()  # the error holds the response and its socket

    assert error.value.code == 503
    assert error.value.headers["Retry-After"] == "7"


# -- gRPC status codes ------------------------------------------------------------


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED])
def test_grpc_retryable_code_is_retried_until_it_succeeds(code: Any) -> None:
    # retry_after=0 sends a RetryInfo trailer with a zero delay, which the SDK obeys.
    with FaultyOTLPReceiver(grpc_status=code, retry_after=0, fail_first=2) as receiver:
        result, _ = export(exporter_for(receiver, "grpc", timeout=10))

    assert result is SpanExportResult.SUCCESS
    assert receiver.requests == {"grpc": 3, "http": 0}
    assert [span.name for span in receiver.spans] == ["op"]


def test_grpc_unavailable_forever_is_given_up_after_six_attempts() -> None:
    with FaultyOTLPReceiver(grpc_status=grpc.StatusCode.UNAVAILABLE, retry_after=0) as receiver:
        result, _ = export(exporter_for(receiver, "grpc", timeout=10))

    assert result is SpanExportResult.FAILURE
    assert receiver.requests["grpc"] == SDK_MAX_ATTEMPTS


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED]
)
def test_grpc_non_retryable_code_is_attempted_once(code: Any) -> None:
    with FaultyOTLPReceiver(grpc_status=code) as receiver:
        result, _ = export(exporter_for(receiver, "grpc", timeout=5))

    assert result is SpanExportResult.FAILURE
    assert receiver.requests["grpc"] == 1


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_retry_after_beyond_the_deadline_is_not_waited_for(transport: str) -> None:
    with FaultyOTLPReceiver(retry_after=60) as receiver:
        result, elapsed = export(exporter_for(receiver, transport, timeout=2))

    assert result is SpanExportResult.FAILURE
    assert receiver.requests[transport] == 1  # the exporter gave up instead of sleeping 60 s
    assert elapsed < 2 * SLACK


def test_fail_first_counts_each_transport_and_clear_restarts_it() -> None:
    with FaultyOTLPReceiver(
        http_status=400, grpc_status=grpc.StatusCode.INVALID_ARGUMENT, fail_first=1
    ) as receiver:
        assert export(exporter_for(receiver, "http", 5))[0] is SpanExportResult.FAILURE
        assert export(exporter_for(receiver, "grpc", 5))[0] is SpanExportResult.FAILURE
        assert export(exporter_for(receiver, "http", 5))[0] is SpanExportResult.SUCCESS
        assert export(exporter_for(receiver, "grpc", 5))[0] is SpanExportResult.SUCCESS
        receiver.clear()
        assert export(exporter_for(receiver, "http", 5))[0] is SpanExportResult.FAILURE


def test_only_one_transport_can_be_faulty() -> None:
    with FaultyOTLPReceiver(
        http_status=None, grpc_status=grpc.StatusCode.INVALID_ARGUMENT
    ) as receiver:
        assert export(exporter_for(receiver, "http", 5))[0] is SpanExportResult.SUCCESS
        assert export(exporter_for(receiver, "grpc", 5))[0] is SpanExportResult.FAILURE


def test_batch_processor_delivers_after_a_transient_outage() -> None:
    with FaultyOTLPReceiver(http_status=503, retry_after=0, fail_first=1) as receiver:
        provider = TracerProvider(
            resource=Resource.create({"service.name": "node-a"}), shutdown_on_exit=False
        )
        provider.add_span_processor(BatchSpanProcessor(exporter_for(receiver, "http", 10)))
        for index in range(10):
            provider.get_tracer("obskit.tests").start_span(f"op-{index}").end()
        provider.force_flush()

        assert len(receiver.wait_for_spans(10)) == 10
        provider.shutdown()
    assert receiver.requests["http"] == 2


# -- slow backend -----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_delay_beyond_the_timeout_fails_the_export(transport: str) -> None:
    receiver = FaultyOTLPReceiver(http_status=None, grpc_status=None, delay=60)
    receiver.start()
    try:
        result, elapsed = export(exporter_for(receiver, transport, timeout=1))

        assert result is SpanExportResult.FAILURE
        assert elapsed < 1 * SLACK
        assert receiver.requests[transport] >= 1
    finally:
        started = time.monotonic()
        receiver.stop()  # must not wait out the 60 s delay of the held request
        assert time.monotonic() - started < SLACK


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_delay_within_the_timeout_succeeds(transport: str) -> None:
    with FaultyOTLPReceiver(http_status=None, grpc_status=None, delay=0.3) as receiver:
        result, elapsed = export(exporter_for(receiver, transport, timeout=10))

    assert result is SpanExportResult.SUCCESS
    assert elapsed >= 0.3
    assert receiver.requests[transport] == 1
