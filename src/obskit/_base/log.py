"""obskit's own logging: one logger, each distinct problem logged once per interval.

Telemetry trouble (a down backend, a raising callback, a bad attribute) must not flood
the host's logs: a message key is logged at most once per `INTERVAL` seconds and the
number of suppressed repeats is reported with the next line.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

__all__ = ["INTERVAL", "log_once", "logger", "redact"]

logger = logging.getLogger("obskit")

# Credentials in URLs and endpoint strings: `scheme://user:password@host` (any userinfo
# after a scheme) and `user:password@host` without one.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@")
_BARE_USERINFO = re.compile(r"(?<![\w/.:-])[^\s/@:'\"]+:[^\s/@'\"]+@(?=[\w\[])")
REDACTED = "***"


def redact(text: str) -> str:
    """`text` with the credentials of any URL or endpoint in it replaced by `***`.

    Examples:
        >>> redact("export to https://alice:s3cret@collector:4318/v1/traces failed")
        'export to https://***@collector:4318/v1/traces failed'
        >>> redact("bad endpoint 'alice:s3cret@collector:4317'")
        "bad endpoint '***@collector:4317'"
    """
    if "@" not in text:
        return text
    text = _URL_USERINFO.sub(lambda m: m.group("scheme") + REDACTED + "@", text)
    return _BARE_USERINFO.sub(REDACTED + "@", text)


class RedactFilter(logging.Filter):
    """Redacts credentials from a record's message and its exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            clean = redact(message)
            if clean != message:
                record.msg, record.args = clean, None
            if record.exc_info and not record.exc_text:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_text = redact(text)
        except Exception:
            pass  # a record that cannot be formatted is left for the handler to report
        return True


_redact_filter = RedactFilter()
logger.addFilter(_redact_filter)

#: Seconds between two log lines for the same key.
INTERVAL = 20.0

_last: dict[str, tuple[float, int]] = {}
# Re-entrant: code run inside (a finalizer, a signal handler) may log once too; at worst
# one line more or fewer is let through then.
_lock = threading.RLock()


def log_once(
    key: str, message: str, *args: Any, level: int = logging.WARNING, **kwargs: Any
) -> bool:
    """Log `message` unless `key` was logged less than `INTERVAL` seconds ago.

    Returns whether a line was written. Never raises.

    Examples:
        >>> log_once("export-failed", "export to %s failed", "127.0.0.1:4317")
        True
    """
    now = time.monotonic()
    with _lock:
        last, suppressed = _last.get(key, (-INTERVAL - 1.0, 0))
        if now - last < INTERVAL:
            _last[key] = (last, suppressed + 1)
            return False
        _last[key] = (now, 0)
    if suppressed:
        message = f"{message} (and {suppressed} similar message(s) suppressed)"
    try:
        logger.log(level, message, *args, **kwargs)
    except Exception:
        return False
    return True


def reset() -> None:
    """Forget what was logged (tests)."""
    with _lock:
        _last.clear()


class RateLimitFilter(logging.Filter):
    """Lets one record per (logger, message template) through per `INTERVAL` seconds.

    Installed on the OpenTelemetry SDK's loggers by `configure()`: the SDK logs one line
    per truncated attribute and per retry (5,000 truncations gave 5,000 lines; docs/reliability.md,
    R8).
    """

    def __init__(self) -> None:
        super().__init__("obskit-rate-limit")
        self._seen: dict[tuple[str, object], float] = {}
        self._lock = threading.RLock()  # re-entrant: as _log._lock

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, record.msg)
        now = time.monotonic()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and now - last < INTERVAL:
                return False
            if len(self._seen) > 1000:
                self._seen.clear()
            self._seen[key] = now
        return _redact_filter.filter(record)  # the SDK logs endpoints too


_sdk_filter = RateLimitFilter()


def install_sdk_log_filter() -> None:
    """Rate-limit every `opentelemetry.*` logger that exists now (idempotent)."""
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("opentelemetry"):
            sdk_logger = logging.getLogger(name)
            if _sdk_filter not in sdk_logger.filters:
                sdk_logger.addFilter(_sdk_filter)
