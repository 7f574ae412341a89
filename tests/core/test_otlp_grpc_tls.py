"""OTLP/gRPC uses TLS unless asked not to, as the OTLP exporter specification says.

A plain TCP server on 127.0.0.1 looks at the first bytes a child process sends: a TLS
ClientHello starts with 0x16 0x03, plaintext HTTP/2 with its preface ``PRI *``. For TLS
the server then completes a real handshake with a certificate the child trusts through
OTEL_EXPORTER_OTLP_CERTIFICATE.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

trustme = pytest.importorskip("trustme")

CHILD = """
import sys, obskit
signal = sys.argv[2]
obskit.configure(
    service_name="tls-check",
    exporters={signal: ["otlp"]},
    otlp_protocol="grpc",
    otlp_endpoint=sys.argv[1],
    otlp_timeout=2,
    shutdown_timeout=2,
    metrics_interval=60,
)
with obskit.span("over.the.wire"):
    obskit.counter("tls.check").add(1)
obskit.flush(timeout=3)
"""


class FirstBytes:
    """Accepts one connection; records its first bytes, then optionally does TLS."""

    def __init__(self, tls: ssl.SSLContext | None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.tls = tls
        self.first = b""
        self.handshake: str | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            self.listener.settimeout(30)
            conn, _ = self.listener.accept()
            conn.settimeout(10)
            deadline = time.monotonic() + 10
            while len(self.first) < 5 and time.monotonic() < deadline:
                self.first = conn.recv(5, socket.MSG_PEEK)
                if not self.first:
                    break
            if self.tls is not None and self.first[:1] == b"\x16":
                with self.tls.wrap_socket(conn, server_side=True) as secure:
                    self.handshake = secure.version()
            conn.close()
        except OSError as error:
            self.handshake = self.handshake or f"failed: {error!r}"
        finally:
            self.listener.close()
            self.done.set()


def _run_child(endpoint: str, signal: str, env: dict[str, str]) -> None:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OBSKIT_"))}
    subprocess.run(
        [sys.executable, "-c", CHILD, endpoint, signal],
        env={**base, **env},
        timeout=60,
        check=True,
        capture_output=True,
    )


@pytest.fixture(scope="module")
def ca_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    ca = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return ca, path


@pytest.mark.parametrize("signal", ["traces", "metrics"])
@pytest.mark.parametrize(
    ("scheme", "insecure_var"),
    [
        ("", {"OTEL_EXPORTER_OTLP_INSECURE": "false"}),  # issue 17: this sent plaintext
        ("", {}),  # no scheme, nothing said: TLS by default
        ("https://", {"OTEL_EXPORTER_OTLP_INSECURE": "true"}),  # the scheme wins
    ],
)
def test_tls_when_asked_for(
    ca_files: tuple[trustme.CA, Path], signal: str, scheme: str, insecure_var: dict[str, str]
) -> None:
    ca, ca_path = ca_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.set_alpn_protocols(["h2"])
    server = FirstBytes(context)
    env = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(ca_path), **insecure_var}
    _run_child(f"{scheme}127.0.0.1:{server.port}", signal, env)
    assert server.done.wait(30)
    assert server.first[:2] == b"\x16\x03", server.first  # a TLS ClientHello
    assert server.handshake is not None
    assert server.handshake.startswith("TLSv1"), server.handshake  # completed with our CA


@pytest.mark.parametrize(
    ("endpoint", "env"),
    [
        ("http://127.0.0.1:{port}", {"OTEL_EXPORTER_OTLP_INSECURE": "false"}),
        ("127.0.0.1:{port}", {"OTEL_EXPORTER_OTLP_INSECURE": "true"}),
        ("127.0.0.1:{port}", {"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true"}),
    ],
)
def test_plaintext_only_when_asked_for(endpoint: str, env: dict[str, str]) -> None:
    server = FirstBytes(None)
    _run_child(endpoint.format(port=server.port), "traces", env)
    assert server.done.wait(30)
    assert server.first == b"PRI *"  # the HTTP/2 connection preface, in the clear
