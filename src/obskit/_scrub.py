"""Scrubbing: values that look secret are redacted before anything is exported.

One set of rules (`install`, from `configure(scrubbing=...)`) applies to every attribute
key and string value obskit sets on spans and events, to exception text and status
descriptions, and to metric attribute values:

* a key that matches a sensitive pattern (``password``, ``token``, ...) has its whole value
  replaced by ``[REDACTED: <what matched>]``; keys are decided once and cached (static
  keys at decoration time, see `KeyPolicy`);
* a string value is scanned by one precompiled regex for ``<pattern> = value`` /
  ``<pattern>: value`` pairs, ``Bearer``/``Basic`` credentials, JSON web tokens, PEM
  private keys, US social security numbers and card numbers (Luhn-checked); only the
  secret part is replaced; a sequence of strings has each string scanned.

Redactions are counted in `obskit.scrubbing.redactions` (by `source`). A callback may keep
or replace a value; if it raises, the value is redacted (and the error logged once).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry.metrics import CallbackOptions, Observation

from obskit._log import log_once
from obskit._names import REDACTION_SOURCE
from obskit._scrub_rules import (
    _KEEP,
    _MAX_CACHED,
    DEFAULT_PATTERNS,
    REDACTION_SOURCES,
    ScrubbingOptions,
    ScrubMatch,
    _count_lock,
    _counts,
    _Rules,
    count,
)

__all__ = [
    "DEFAULT_PATTERNS",
    "REDACTION_SOURCES",
    "KeyPolicy",
    "ScrubMatch",
    "ScrubbingOptions",
    "count",
    "current",
    "find_secrets",
    "install",
    "metric_attributes",
    "observations",
    "observe_redactions",
    "patterns_from_env",
    "restore",
    "scrub_attributes",
    "scrub_pair",
    "scrub_text",
]


_rules = _Rules(ScrubbingOptions())
_DEFAULT_RULES = _rules  # for text obskit keeps itself, even with scrubbing off


def observe_redactions(options: CallbackOptions) -> list[Observation]:
    """The obskit.scrubbing.redactions observations, one per source."""
    with _count_lock:
        counts = dict(_counts)
    return [Observation(value, {REDACTION_SOURCE: source}) for source, value in counts.items()]


_generation = [0]  # bumped by install(): what was scrubbed under older rules is stale


def install(options: ScrubbingOptions | None) -> None:
    """Use `options` from now on (None turns scrubbing off)."""
    global _rules
    _rules = _Rules(options)
    _generation[0] += 1


def generation() -> int:
    """A number that changes whenever `install` changes the rules.

    Things scrubbed once and kept (a hot instrument's bound attribute set) compare it at
    collection time and scrub again when it moved.
    """
    return _generation[0]


def current() -> ScrubbingOptions | None:
    """The options in force (None when scrubbing is off)."""
    return _rules.options


def restore(options: ScrubbingOptions | None) -> None:
    """Put back options saved with `current()` (the test capture does this)."""
    if options is not _rules.options:
        install(options)


def scrub_pair(key: str, value: Any, source: str = "attribute") -> Any:
    """The value to record for `key`: redacted when the key or the value looks secret.

    Examples:
        >>> scrub_pair("db.password", "hunter2")
        '[REDACTED: password]'
        >>> scrub_pair("note", "login with token=abc123 failed")
        'login with token=[REDACTED: token] failed'
    """
    rules = _rules
    if not rules.enabled:
        return value
    return rules.pair(key, value, source)


def scrub_text(text: str, key: str = "exception.message", source: str = "exception") -> str:
    """`text` with secret-looking parts redacted (values only: the key is obskit's own).

    Examples:
        >>> scrub_text("connect failed: password=hunter2")
        'connect failed: password=[REDACTED: password]'
    """
    rules = _rules
    if not rules.enabled:
        return text
    return rules.scan(key, text, source)


def find_secrets(text: str) -> list[tuple[int, int, str]] | None:
    """(start, end, what) of each secret-looking part of `text` in order (not
    overlapping), or None.

    For text obskit keeps and shows itself (`Pipeline.recent_errors()`): the rules in
    force (with their extra patterns), or the default rules when scrubbing is off. The
    callback is not asked and nothing is counted: the caller removes every part found.

    Examples:
        >>> text = "Authorization: Basic dXNlcjpwYXNz"
        >>> [text[start:end] for start, end, _ in find_secrets(text)]
        ['Basic dXNlcjpwYXNz']
    """
    rules = _rules
    found = (rules if rules.enabled else _DEFAULT_RULES).find(text)
    if found is None:
        return None
    parts: list[tuple[int, int, str]] = []
    for part in found:
        if not parts or part[0] >= parts[-1][1]:  # not inside a part already found
            parts.append(part)
    return parts


def scrub_attributes(attributes: dict[str, Any], source: str = "attribute") -> dict[str, Any]:
    """Scrub a dict of clean attributes in place, and return it."""
    rules = _rules
    if not rules.enabled or not attributes:
        return attributes
    for key, value in attributes.items():
        clean = rules.pair(key, value, source)
        if clean is not value:
            attributes[key] = clean
    return attributes


def _markers(value: object) -> int:
    """How many redaction markers `value` (a string or a tuple of strings) holds."""
    if type(value) is str:
        return value.count("[REDACTED: ")
    if type(value) is tuple:
        return sum(item.count("[REDACTED: ") for item in value if type(item) is str)
    return 0


def _metric_value(rules: _Rules, key: object, value: object) -> tuple[object, int]:
    """(what to record instead of `value`, redactions made), or (_KEEP, 0) if unchanged."""
    if type(key) is not str:
        return _KEEP, 0
    clean = rules.pair(key, value, "")  # not counted here: counted per record by the caller
    if clean is value or (type(clean) is type(value) and clean == value):
        return _KEEP, 0
    return clean, max(_markers(clean) - _markers(value), 0)


def metric_attributes(attributes: Mapping[str, Any] | None) -> Any:
    """Metric attributes with the same rules; the same object back when nothing changed.

    Decisions are cached per (key, type, value): metric attribute values are
    low-cardinality by design, so a record costs a dict lookup per attribute. Every
    record of a redacted value counts as a redaction; an unchanged one never does.
    """
    rules = _rules
    if not rules.enabled or not attributes:
        return attributes
    try:
        changed: dict[str, Any] | None = None
        cache = rules.metric_values
        for key, value in attributes.items():
            try:
                entry: tuple[str, type, object] | None = (key, type(value), value)
                decided = cache.get(entry, None)  # type: ignore[arg-type]
            except TypeError:  # an unhashable value (a list): decided every time
                entry, decided = None, None
            if decided is None:
                decided = _metric_value(rules, key, value)
                if entry is not None and len(cache) < _MAX_CACHED:
                    cache[entry] = decided
            clean, redactions = decided
            if clean is _KEEP:
                continue
            if redactions:
                count("metric", redactions)
            if changed is None:
                changed = dict(attributes)
            changed[key] = clean
        return attributes if changed is None else changed
    except Exception:
        log_once("scrub-metric", "scrubbing metric attributes failed", exc_info=True)
        return attributes


def observations(found: list[Observation]) -> list[Observation]:
    """Observations of an observable instrument, their attributes scrubbed (at collection)."""
    if not _rules.enabled:
        return found
    for index, observation in enumerate(found):
        attributes = observation.attributes
        clean = metric_attributes(attributes)
        if clean is not attributes:
            found[index] = Observation(observation.value, clean, observation.context)
    return found


class KeyPolicy:
    """The scrubbing decision for one static key, made when a decorator is applied.

    Re-decided only if `install` changed the rules since; a call then costs one identity
    check, plus one regex search for a string value.
    """

    __slots__ = ("_label", "_rules", "key")

    def __init__(self, key: str) -> None:
        self.key = key
        self._rules = _rules
        self._label = _rules.key_label(key) if _rules.enabled else None

    def apply(self, value: Any) -> Any:
        rules = _rules
        if rules is not self._rules:
            self._rules = rules
            self._label = rules.key_label(self.key) if rules.enabled else None
        if self._label is not None:
            return rules.decide(self.key, value, self._label, "attribute")
        if rules.enabled:
            return rules.value(self.key, value, "attribute")  # strings and their sequences
        return value


def patterns_from_env(value: str) -> Iterable[str]:
    """Comma-separated extra patterns from OBSKIT_SCRUBBING (invalid ones are skipped)."""
    for part in value.split(","):
        pattern = part.strip()
        if not pattern:
            continue
        try:
            re.compile(pattern)
        except re.error:
            log_once(f"config:scrub:{pattern}", "ignoring OBSKIT_SCRUBBING pattern %r: not a "
                     "regular expression", pattern)  # fmt: skip
            continue
        yield pattern
