"""No obskit log line carries credentials from an endpoint or URL."""

from __future__ import annotations

import logging

import pytest

import obskit
from obskit._base import log as _log

SECRET = "s3cret-pw"


@pytest.fixture(autouse=True)
def _fresh_log_keys() -> None:
    _log.reset()


def _all_text(caplog: pytest.LogCaptureFixture) -> str:
    handler_text = caplog.text  # formatted by the handler, exception text included
    return handler_text + "".join(r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "endpoint",
    [
        f"http://alice:{SECRET}@collector:notaport",  # malformed: logged as unusable
        f"alice:{SECRET}@collector",  # gRPC needs a port: logged as unusable
        f"ftp://alice:{SECRET}@collector:4317",
    ],
)
def test_a_malformed_endpoint_is_logged_without_its_password(
    caplog: pytest.LogCaptureFixture, endpoint: str
) -> None:
    caplog.set_level(logging.WARNING, logger="obskit")
    obskit.configure(exporters=["otlp"], otlp_endpoint=endpoint, otlp_protocol="grpc")
    obskit.shutdown(timeout=1)
    assert any("not a URL" in r.getMessage() for r in caplog.records)
    assert SECRET not in _all_text(caplog)
    assert "***@collector" in _all_text(caplog)


def test_credentials_in_arguments_and_exception_text_are_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="obskit")
    try:
        raise ConnectionError(f"cannot reach https://bob:{SECRET}@[::1]:4318/v1/traces")
    except ConnectionError:
        _log.log_once(
            "test-redact", "export to %s failed", f"bob:{SECRET}@host:4317", exc_info=True
        )
    assert "export to ***@host:4317 failed" in caplog.text
    assert "https://***@[::1]:4318" in caplog.text
    assert SECRET not in _all_text(caplog)


def test_text_without_credentials_is_unchanged() -> None:
    for text in (
        "user@example.com wrote",
        "http://collector:4318/v1/traces",
        "ratio 1:2 at 10:30",
        "endpoint 127.0.0.1:4317",
    ):
        assert _log.redact(text) == text
