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
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from opentelemetry.metrics import CallbackOptions, Observation

from obskit._base.log import log_once
from obskit._base.names import REDACTION_SOURCE

__all__ = [
    "DEFAULT_PATTERNS",
    "MAX_SCANNED_ITEMS",
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

#: The sensitive patterns applied by default (case-insensitive regular expressions).
DEFAULT_PATTERNS: Final[tuple[str, ...]] = (
    "password",
    "passwd",
    "secret",
    "token",
    r"api[-_. ]?key",
    r"auth(?!ors?(?![a-z]))",  # authorization, auth_header; not author(s)
    "credential",
    r"private[-_. ]?key",
    "cookie",
    "session",
    "jwt",
    r"ssn(?![a-z])",  # not "classname"
    r"credit[-_. ]?card",
)
#: Where a redaction happened: the `source` attribute of obskit.scrubbing.redactions.
REDACTION_SOURCES: Final = ("attribute", "exception", "metric", "query_literal")
_MAX_CACHED = 4096
#: At most this many items of a sequence of strings are scanned (obskit's cleaning caps
#: attribute arrays at the same number, so nothing recorded is left unscanned).
MAX_SCANNED_ITEMS = 128
_UNKNOWN: Any = object()
_KEEP: Any = object()  # a metric cache decision: the value is recorded as it is
# What a redaction leaves behind: a value that is exactly this is not redacted again
# (hot-instrument bindings are scrubbed when bound and seen again at every collection).
_REDACTED = re.compile(r"\[REDACTED: [^\]\n]{1,64}\]")


@dataclass(frozen=True)
class ScrubMatch:
    """What a scrubbing callback is shown: the key, the value found and what matched it.

    `value` is the whole attribute value when the key matched, else the secret part
    found inside a string. `pattern` is the matched text (e.g. ``password``), or
    ``bearer``, ``basic``, ``jwt``, ``private key``, ``ssn``, ``credit card`` for values
    recognised by shape.

    Examples:
        >>> import obskit
        >>> def keep_session_counts(match: obskit.ScrubMatch) -> object:
        ...     return match.value if match.key == "cache.session_count" else None
    """

    key: str
    value: object
    pattern: str


@dataclass(frozen=True)
class ScrubbingOptions:
    """How obskit scrubs secrets: `obskit.configure(scrubbing=obskit.ScrubbingOptions(...))`.

    Args:
        extra_patterns: more case-insensitive regular expressions, added to
            `DEFAULT_PATTERNS` (password, passwd, secret, token, api key, auth,
            credential, private key, cookie, session, jwt, ssn, credit card).
        callback: called for every match with a `ScrubMatch`; return None to redact,
            or the value to record instead (return ``match.value`` to keep it).

    Examples:
        >>> import obskit
        >>> def allow_token_counts(match: obskit.ScrubMatch) -> object:
        ...     return match.value if match.key == "llm.token_count" else None
        >>> options = obskit.ScrubbingOptions(extra_patterns=["tenant_key"],
        ...                                   callback=allow_token_counts)
        >>> t = obskit.configure(exporters=["memory"], scrubbing=options)
        >>> obskit.shutdown()
        True
    """

    extra_patterns: Sequence[str] = ()
    callback: Callable[[ScrubMatch], object] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.extra_patterns, str):
            raise ValueError(
                f"extra_patterns must be a list of regular expressions, not the string "
                f"{self.extra_patterns!r}"
            )
        for pattern in self.extra_patterns:
            try:
                re.compile(pattern)
            except (re.error, TypeError) as error:
                raise ValueError(
                    f"extra_patterns: {pattern!r} is not a regular expression ({error})"
                ) from None
        if self.callback is not None and not callable(self.callback):
            raise ValueError(f"callback must be callable, got {self.callback!r}")
        object.__setattr__(self, "extra_patterns", tuple(self.extra_patterns))


# A value scan runs a few simple regexes, not one big alternation: Python's re skips
# ahead quickly only when a pattern starts with a literal or a character set, and an
# IGNORECASE alternation costs ~200 ns per character (measured: 6.9 us vs 0.3 us for a
# 31-character string). So the key=value regex runs case-sensitively on the lower-cased
# text (user patterns, which may need case, run in a case-insensitive regex of their own).
_KV_TEMPLATE = (
    r"(?P<key>(?:{keys})[\w.\-]*)[\"']?\s*[:=]{{1,2}}\s*"
    r"(?P<secret>\"[^\"]*\"|'[^']*'|(?:bearer|basic|token)\s+[^\s,;&'\"]+"
    r"|(?!\?)[^\s,;&'\"()\[\]{{}}<>]+)"
)
_JWT = re.compile(r"eyJ[\w-]{6,}\.[\w-]{6,}\.[\w-]*")
_PRIVATE_KEY = re.compile(
    r"-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|\Z)"
)
# US social security numbers and card numbers (13-19 digits, Luhn-checked).
# An HTTP auth scheme followed by its credential, wherever it appears (a header quoted in
# an error message without a key obskit knows); the credential must look like one.
_SCHEME = re.compile(r"\b(?P<scheme>bearer|basic)[ \t]+(?P<cred>[\w+/.~-]{8,}={0,2})", re.I)
_NUMBERS = re.compile(r"[0-9](?:(?P<ssn>[0-9]{2}-[0-9]{2}-[0-9]{4})|(?:[ -]?[0-9]){12,18})")
_WORDISH = re.compile(r"[\w-]")


def _luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


_CLEAN_MAX_CHARS = 256
_CLEAN_MAX_ENTRIES = 2048


class _Rules:
    """One compiled rule set; replaced as a whole by `install` (never mutated after)."""

    def __init__(self, options: ScrubbingOptions | None) -> None:
        self.enabled = options is not None
        self.options = options
        self.callback = options.callback if options is not None else None
        extra = tuple(options.extra_patterns) if options else ()
        keys = "|".join(f"(?:{p})" for p in DEFAULT_PATTERNS + extra)
        self.key_pattern = re.compile(keys, re.IGNORECASE)
        defaults = "|".join(DEFAULT_PATTERNS)
        self.kv_lower = re.compile(_KV_TEMPLATE.format(keys=defaults))  # on text.lower()
        self.kv_any = re.compile(_KV_TEMPLATE.format(keys=keys), re.IGNORECASE)
        self.kv_extra = (
            re.compile(_KV_TEMPLATE.format(keys="|".join(f"(?:{p})" for p in extra)), re.I)
            if extra
            else None
        )
        self.keys: dict[str, str | None] = {}  # key -> matched pattern or None
        # (key, type, value) -> (the value to record instead, or _KEEP; redactions made).
        # Keyed by type too: 1, 1.0 and True are equal and hash alike, yet are different
        # attribute values.
        self.metric_values: dict[tuple[str, type, object], tuple[object, int]] = {}
        # Short values found clean before: span attribute values repeat (a query summary,
        # a phase, a worker id), and a scan costs ~1 us. Bounded: emptied when full.
        self.clean: set[str] = set()

    def key_label(self, key: str) -> str | None:
        label = self.keys.get(key, _UNKNOWN)
        if label is _UNKNOWN:
            found = self.key_pattern.search(key)
            label = found.group().lower() if found else None
            if len(self.keys) < _MAX_CACHED:
                self.keys[key] = label
        return label  # type: ignore[no-any-return]

    def decide(self, key: str, value: object, label: str, source: str) -> object:
        """The value to record for a match: the callback's answer, else the redaction.

        A value that is already a redaction marker is returned as it is, not counted.
        """
        if type(value) is str and value[:10] == "[REDACTED:" and _REDACTED.fullmatch(value):
            return value
        callback = self.callback
        if callback is not None:
            try:
                answer = callback(ScrubMatch(key, value, label))
            except Exception:
                log_once("scrub-callback", "the scrubbing callback raised; value redacted",
                         exc_info=True)  # fmt: skip
                answer = None
            if answer is not None and type(answer) in (str, bool, int, float):
                return answer
        if source:  # "" when the caller counts (the metric cache counts every record)
            count(source)
        return f"[REDACTED: {label}]"

    def find(self, text: str) -> list[tuple[int, int, str]] | None:
        """(start, end, what) of every secret-looking part of `text` in order, or None.

        Each regex is first tried with `search` (no iterator allocated): most values match
        none, and then a scan is the lower-casing and five searches. A short text found
        clean is remembered (by this rule set only), so a value seen again costs a lookup.
        """
        if text in self.clean:
            return None
        found = self._find(text)
        if found is None and len(text) <= _CLEAN_MAX_CHARS:
            clean = self.clean
            if len(clean) >= _CLEAN_MAX_ENTRIES:
                clean.clear()
            clean.add(text)
        return found

    def _find(self, text: str) -> list[tuple[int, int, str]] | None:
        found: list[tuple[int, int, str]] = []
        lower = text.lower()
        if len(lower) == len(text):  # positions carry over (not so for a few non-ASCII)
            self._key_values(self.kv_lower, lower, found)
            if self.kv_extra is not None:
                self._key_values(self.kv_extra, text, found)
        else:
            self._key_values(self.kv_any, text, found)
        if ("bearer" in lower or "basic" in lower) and _SCHEME.search(text) is not None:
            for match in _SCHEME.finditer(text):
                credential = match.group("cred")
                if any(c.isdigit() or c.isupper() or c in "+/=" for c in credential):
                    found.append((*match.span("cred"), match.group("scheme").lower()))
        if _JWT.search(text) is not None:
            found.extend((*m.span(), "jwt") for m in _JWT.finditer(text))
        if _PRIVATE_KEY.search(text) is not None:
            found.extend((*m.span(), "private key") for m in _PRIVATE_KEY.finditer(text))
        if _NUMBERS.search(text) is not None:
            for match in _NUMBERS.finditer(text):
                start, end = match.span()
                if (start and _WORDISH.match(text, start - 1)) or _WORDISH.match(text, end):
                    continue  # part of a longer token (an id, a version)
                if match.group("ssn") is not None:
                    found.append((start, end, "ssn"))
                elif _luhn(re.sub(r"[^0-9]", "", match.group())):
                    found.append((start, end, "credit card"))
        if not found:
            return None
        found.sort()
        return found

    def _key_values(
        self, pattern: re.Pattern[str], subject: str, found: list[tuple[int, int, str]]
    ) -> None:
        if pattern.search(subject) is None:
            return
        for match in pattern.finditer(subject):
            label = self.key_pattern.search(match.group("key"))
            found.append((*match.span("secret"), label.group().lower() if label else "secret"))

    def scan(self, key: str, text: str, source: str) -> str:
        try:
            found = self.find(text)
            if found is None:
                return text
            pieces: list[str] = []
            position = 0
            for start, end, label in found:
                if start < position:
                    continue  # overlaps a part already redacted
                pieces.append(text[position:start])
                pieces.append(str(self.decide(key, text[start:end], label, source)))
                position = end
            pieces.append(text[position:])
            return "".join(pieces)
        except Exception:
            log_once("scrub-scan", "scrubbing a value failed; value redacted", exc_info=True)
            return "[REDACTED: unscannable]"

    def pair(self, key: str, value: Any, source: str) -> Any:
        label = self.key_label(key)
        if label is not None:
            return self.decide(key, value, label, source)
        return self.value(key, value, source)

    def value(self, key: str, value: Any, source: str) -> Any:
        """`value` (a string or a sequence of strings) with secret-looking parts redacted;
        `value` itself when nothing was."""
        kind = type(value)
        if kind is str:
            return self.scan(key, value, source)
        if (kind is tuple or kind is list) and value:
            return self.scan_items(key, value, source)
        return value

    def scan_items(self, key: str, items: tuple[Any, ...] | list[Any], source: str) -> Any:
        """A sequence with its strings scanned (at most MAX_SCANNED_ITEMS are kept)."""
        if len(items) > MAX_SCANNED_ITEMS:
            items = items[:MAX_SCANNED_ITEMS]
        clean = [self.scan(key, item, source) if type(item) is str else item for item in items]
        if all(new is old for new, old in zip(clean, items, strict=True)):
            return items
        return tuple(clean)


_counts = dict.fromkeys(REDACTION_SOURCES, 0)
# Re-entrant: a span written by a finalizer or signal handler may be scrubbed while this
# thread counts. Each update is one `+=` on an int item, which nothing on this thread can
# interrupt (docs/architecture.md, "Locks and re-entry"): no count is lost.
_count_lock = threading.RLock()


def count(source: str, amount: int = 1) -> None:
    """Add redactions to the self-metric (plain ints, read at collection time)."""
    with _count_lock:
        if source in _counts:
            _counts[source] += amount
        else:
            _counts[source] = amount


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
