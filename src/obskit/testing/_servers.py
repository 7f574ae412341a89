"""The server plumbing the receiver and the fault servers share: a start/stop lifecycle,
a refusal to answer with, and a TCP server that tracks its connections.
"""

from __future__ import annotations

import socket
import socketserver
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

# protobuf ships no type information (types-protobuf is not a dependency).

_STOP_TIMEOUT = 5.0  # seconds stop() may spend joining threads before giving up on them


_S = TypeVar("_S", bound="_Lifecycle")


class _Lifecycle:
    """start()/stop() plus the context-manager protocol, shared by every test server."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Refusal:
    """How a server refuses one request, on whichever transport it came in."""

    http_status: int = 500
    grpc_status: Any = grpc.StatusCode.INTERNAL  # grpc ships no type information
    message: str = "refused by test server"
    retry_after: float | None = None  # seconds; sent as Retry-After or a RetryInfo trailer


class TrackedTCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A threading TCP server on 127.0.0.1 whose close() also ends live connections.

    `socketserver` alone either joins connection threads without a bound or leaves them
    serving keep-alive clients after shutdown, so a "stopped" backend would still answer.
    """

    daemon_threads = True
    block_on_close = False  # close() joins with a bound instead
    allow_reuse_address = True  # so a test can restart a server on the port it just freed

    def __init__(self, port: int, handler: type[socketserver.BaseRequestHandler]) -> None:
        self._live: dict[socket.socket, threading.Thread] = {}
        self._live_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        super().__init__(("127.0.0.1", port), handler)

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def serve_in_background(self, name: str) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True
        )
        self._thread.start()

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{self._thread.name if self._thread else 'server'}-conn",
            daemon=True,
        )
        with self._live_lock:
            self._live[request] = thread
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        with self._live_lock:
            self._live.pop(request, None)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A peer that hangs up, or close() cutting a connection, is normal here.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)

    def close(self, timeout: float = _STOP_TIMEOUT) -> None:
        """Stop accepting, cut every live connection and join the threads within `timeout`."""
        deadline = time.monotonic() + timeout
        if self._thread is not None:
            self.shutdown()
            self._thread.join(max(deadline - time.monotonic(), 0))
        self.server_close()
        with self._live_lock:
            live = list(self._live.items())
        for sock, _ in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)  # wakes a handler blocked in recv()
            except OSError:
                pass
        for _, thread in live:
            thread.join(max(deadline - time.monotonic(), 0))
