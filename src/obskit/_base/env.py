"""Reading settings from environment variables: a value that is not accepted is logged once
(naming the variable, the value and what is accepted) and ignored, never raised.
"""

from __future__ import annotations

import os

from obskit._base.log import log_once

TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}

__all__ = ["FALSE", "TRUE", "check_number", "env", "env_bool", "env_number", "split", "warn_bad"]


def env(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def warn_bad(var: str, value: str, accepted: str, default: object) -> None:
    log_once(
        f"config:{var}",
        "ignoring %s=%r: expected %s; using %r",
        var,
        value,
        accepted,
        default,
    )


def env_bool(var: str) -> bool | None:
    value = env(var)
    if value is None:
        return None
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    warn_bad(var, value, "true or false", None)
    return None


def env_number(var: str, low: float, high: float, *, integer: bool = False) -> float | None:
    value = env(var)
    if value is None:
        return None
    try:
        number = int(value) if integer else float(value)
    except ValueError:
        warn_bad(var, value, f"a number from {low:g} to {high:g}", "the default")
        return None
    if not low <= number <= high:
        warn_bad(var, value, f"a number from {low:g} to {high:g}", "the default")
        return None
    return number


def split(value: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


def check_number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{name} must be a number from {low:g} to {high:g}, got {value!r}")
    return float(value)
