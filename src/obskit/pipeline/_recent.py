"""The last few errors of each processor, kept in memory for `Pipeline.recent_errors()`.

Every failing record is remembered, sampled or not, in a bounded ring per processor.
Messages are sanitised when stored: what obskit's scrubbing finds (`key: value` pairs of
sensitive keys with their `Bearer`/`Basic` schemes, JWTs, private keys, card numbers; the
rules in force, or the defaults when scrubbing is off), quoted text, numbers, e-mail
addresses, long tokens, `key=value` values and the word after password/token/secret/...
become `?`; one line, bounded. So no raw record value or secret is held or shown.
"""

from __future__ import annotations

import collections
import re
import time
from typing import Any

from obskit._base.log import log_once
from obskit._safety.clean import exception_message
from obskit._safety.secrets import find_secrets
from obskit.pipeline import _names as n

__all__ = ["RecentErrors", "sanitise"]

_QUOTED = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|b'(?:[^'\\]|\\.)*'""")
_ASSIGNED = re.compile(r"(\b[\w.-]+\s*=\s*)(?!\?)[^\s,;)\]}]+")
# The word after a sensitive word (also after "is"/"was", and after a Bearer/Basic
# scheme) is a secret. After the weaker words it must look like a value: a digit, a
# capital inside, or punctuation inside ("session closed" stays readable).
_VALUE_AFTER = r"\b(?:\s+(?i:is|was|are|were)\b)?\s*[:=]?\s*)(?:(?i:bearer|basic)\s+)?(?![?:=])"
_SECRET = re.compile(r"(\b(?i:password|passwd|pwd|secret|token|api[_ .-]?key|authorization|"
                     r"bearer|credentials?|private[_ .-]?key)" + _VALUE_AFTER
                     + r"[^\s,;)\]}]+")  # fmt: skip
_WEAK_SECRET = re.compile(r"(\b(?i:session(?:[_ .-]?id)?|cookie|jwt|auth|basic)" + _VALUE_AFTER
                          + r"(?=[^\s,;)\]}]*?(?:[0-9]|[a-z][A-Z]|\w[+/=_.-]\w))[^\s,;)\]}]+")  # fmt: skip
_NUMBER = re.compile(r"\b0x[0-9a-fA-F]+\b|\b\d+(?:\.\d+)?\b")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_LONG_TOKEN = re.compile(r"\b[A-Za-z0-9+/_-]{24,}={0,2}")


def sanitise(message: str, limit: int = n.RECENT_ERROR_MESSAGE_CHARS) -> str:
    """A message safe to keep and show: no literal values, one line, at most `limit` chars.

    Examples:
        >>> sanitise("invalid literal for int() with base 10: 'hunter2'")
        'invalid literal for int() with base ?: ?'
        >>> sanitise("login failed user=alice token=abc")
        'login failed user=? token=?'
        >>> sanitise("no account for bob@example.com")
        'no account for ?'
        >>> sanitise("Authorization: Basic dXNlcjpwYXNz")
        'Authorization: ?'
    """
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = _without_secrets(line)
    line = _QUOTED.sub("?", line)
    line = _EMAIL.sub("?", line)
    line = _LONG_TOKEN.sub("?", line)
    line = _ASSIGNED.sub(r"\1?", line)
    line = _SECRET.sub(r"\1?", line)
    line = _WEAK_SECRET.sub(r"\1?", line)
    line = _NUMBER.sub("?", line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _without_secrets(line: str) -> str:
    """`line` with what obskit's scrubbing finds replaced by `?` (all of it if that fails)."""
    try:
        found = find_secrets(line)
    except Exception:
        log_once("pipeline-recent-scrub", "scrubbing a pipeline error message failed",
                 exc_info=True)  # fmt: skip
        return "?"
    if found is None:
        return line
    pieces: list[str] = []
    position = 0
    for start, end, _ in found:
        if start >= position:
            pieces.append(line[position:start])
            pieces.append("?")
            position = end
    pieces.append(line[position:])
    return "".join(pieces)


class RecentErrors:
    """A bounded ring of one processor's latest error details (thread-safe appends)."""

    __slots__ = ("_ring", "processor")

    def __init__(self, processor: str, size: int = n.RECENT_ERRORS) -> None:
        self.processor = processor
        self._ring: collections.deque[dict[str, Any]] = collections.deque(maxlen=size)

    def remember(self, kind: str, exc: BaseException) -> None:
        """Keep `exc`'s details (never raises)."""
        try:
            self._ring.append({"time": time.time(), "processor": self.processor,
                               "error.type": kind,
                               "message": sanitise(exception_message(exc))})  # fmt: skip
        except Exception:
            log_once("pipeline-recent-error", "keeping a pipeline error failed", exc_info=True)

    def items(self) -> list[dict[str, Any]]:
        """Copies of the kept details, oldest first."""
        return [dict(entry) for entry in list(self._ring)]
