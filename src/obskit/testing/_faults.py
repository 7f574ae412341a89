"""Misbehaving backends on 127.0.0.1 for reliability tests.

- `closed_port()`: nothing listens (connection refused at once).
- `Blackhole`: accepts connections and never answers (every export hits its timeout).
- `FaultyOTLPReceiver`: a real OTLP receiver that refuses or delays requests.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Any

import grpc

from obskit.testing._receiver import (
    DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
    OTLPProtocol,
    OTLPReceiver,
    Refusal,
    TrackedTCPServer,
    Transport,
    _Lifecycle,
)

__all__ = ["Blackhole", "FaultyOTLPReceiver", "closed_port"]


def closed_port() -> int:
    """Return a port on 127.0.0.1 where nothing listens: connecting is refused.

    The port is bound once to pick it, then released. Another process may bind it in
    the moment between this call and its use; on loopback with ephemeral ports that is
    rare enough for tests, and the failure would show as an unexpected success.

    Example::

        exporter = OTLPSpanExporter(endpoint=f"127.0.0.1:{closed_port()}", insecure=True)
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class _BlackholeHandler(socketserver.BaseRequestHandler):
    server: _BlackholeServer

    def handle(self) -> None:
        self.server.blackhole._accepted()
        # Read and discard so the client's writes never block on a full buffer: it
        # must be waiting for an answer, as it would on a hung backend.
        try:
            while self.request.recv(65536):
                pass
        except OSError:
            pass  # stop() cut the connection


class _BlackholeServer(TrackedTCPServer):
    def __init__(self, port: int, blackhole: Blackhole) -> None:
        self.blackhole = blackhole
        super().__init__(port, _BlackholeHandler)


class Blackhole(_Lifecycle):
    """A TCP server that accepts connections, reads everything and never answers.

    Use it as an OTLP endpoint (gRPC or HTTP) to make every export run into its
    timeout, as against a hung collector.

    Example::

        with Blackhole() as hole:
            exporter = OTLPSpanExporter(endpoint=hole.http_endpoint + "/v1/traces", timeout=1)
            assert exporter.export(spans) is SpanExportResult.FAILURE
            assert hole.connections >= 1
    """

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: _BlackholeServer | None = None
        self._changed = threading.Condition()
        self._connections = 0

    def start(self) -> None:
        """Start listening; a no-op when already started."""
        if self._server is None:
            self._server = _BlackholeServer(self._port, self)
            self._port = self._server.port
            self._server.serve_in_background("blackhole")

    def stop(self) -> None:
        """Close the listener and every held connection; join threads within a bound."""
        if self._server is not None:
            self._server.close()
            self._server = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(
                "the blackhole is not running; call start() or use it in a with block"
            )
        return self._port

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def connections(self) -> int:
        """Connections accepted so far."""
        with self._changed:
            return self._connections

    def wait_for_connections(self, count: int, timeout: float = 10.0) -> int:
        """Block until `count` connections were accepted; raise TimeoutError otherwise."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._connections >= count, timeout):
                raise TimeoutError(
                    f"waited {timeout} s for {count} connections; got {self._connections}"
                )
            return self._connections

    def _accepted(self) -> None:
        with self._changed:
            self._connections += 1
            self._changed.notify_all()


class FaultyOTLPReceiver(OTLPReceiver):
    """An `OTLPReceiver` that refuses requests with a chosen status, or answers late.

    HTTP requests get `http_status` (with `Retry-After` when `retry_after` is set), gRPC
    calls get `grpc_status` (with a `google.rpc.RetryInfo` trailer when `retry_after`
    is set); `None` lets that transport answer normally. With `fail_first=N` only the
    first N requests on each transport are refused and later ones are received as
    usual. `delay` holds every answer (refusal or success) for that many seconds.
    `requests` counts every attempt per transport, so a test can assert retries.

    Example::

        with FaultyOTLPReceiver(http_status=503, retry_after=0, fail_first=2) as receiver:
            exporter = OTLPSpanExporter(endpoint=receiver.http_endpoint + "/v1/traces")
            assert exporter.export(spans) is SpanExportResult.SUCCESS
            assert receiver.requests["http"] == 3

        slow_but_healthy = FaultyOTLPReceiver(http_status=None, grpc_status=None, delay=2)

    It is a subclass rather than options on `OTLPReceiver` so the plain receiver stays
    simple to read, while refusals still go through the one real request path.
    """

    def __init__(
        self,
        http_status: int | None = 503,
        grpc_status: Any = grpc.StatusCode.UNAVAILABLE,
        *,
        retry_after: float | None = None,
        fail_first: int | None = None,
        delay: float = 0.0,
        protocol: OTLPProtocol = "http/protobuf",
        grpc_port: int = 0,
        http_port: int = 0,
        max_receive_message_length: int = DEFAULT_MAX_RECEIVE_MESSAGE_LENGTH,
    ) -> None:
        super().__init__(
            protocol=protocol,
            grpc_port=grpc_port,
            http_port=http_port,
            max_receive_message_length=max_receive_message_length,
        )
        self.http_status = http_status
        self.grpc_status = grpc_status
        self.retry_after = retry_after
        self.fail_first = fail_first
        self.delay = delay
        self._seen: dict[Transport, int] = {"grpc": 0, "http": 0}
        self._seen_lock = threading.Lock()

    def _refusal(self, transport: Transport) -> Refusal | None:
        with self._seen_lock:
            self._seen[transport] += 1
            attempt = self._seen[transport]
        # An Event rather than sleep(): stop() releases a delayed handler at once.
        if self.delay > 0:
            self._stopping.wait(self.delay)
        status = self.http_status if transport == "http" else self.grpc_status
        if status is None or (self.fail_first is not None and attempt > self.fail_first):
            return None
        message = f"refused by FaultyOTLPReceiver (attempt {attempt} over {transport})"
        if transport == "http":
            return Refusal(http_status=status, message=message, retry_after=self.retry_after)
        return Refusal(grpc_status=status, message=message, retry_after=self.retry_after)

    def clear(self) -> None:
        """Forget what was received and restart the `fail_first` count."""
        super().clear()
        with self._seen_lock:
            self._seen = {"grpc": 0, "http": 0}
