"""Welch's t-test in plain Python: is the difference between two sets of runs noise?

`obskit.report` compares several runs per side with it. The core install must not need
scipy or pyperf, so the Student t distribution is computed here from the regularized
incomplete beta function (a continued fraction, evaluated with the modified Lentz
method); the tests check the figures against scipy.

Examples:
    >>> result = welch([10.0, 10.2, 9.9, 10.1], [12.0, 12.3, 11.8, 12.1])
    >>> result.p < 0.001, round(result.df, 1)
    (True, 5.0)
    >>> welch([1.0], [2.0]) is None  # one run per side: no spread, no test
    True
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = ["FASTER", "NOISY", "NO_CHANGE", "REGRESSION", "Welch", "incomplete_beta", "t_cdf",
           "t_quantile", "welch"]  # fmt: skip

#: The verdicts obskit.report gives a compared figure (obskit._tools.plot colours them).
REGRESSION: Final = "REGRESSION"  # past the limit, and significant: slower beyond noise
NOISY: Final = "noisy"  # past the limit, not significant
FASTER: Final = "faster"  # below minus the limit, and significant
NO_CHANGE: Final = "no change"

_EPSILON = 1e-15
_TINY = 1e-300
_MAX_TERMS = 500


def _continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), converging for x < (a + 1) / (a + b + 2)."""
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    result = d
    for m in range(1, _MAX_TERMS + 1):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),  # even step
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),  # odd step
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + numerator / c
            c = c if abs(c) > _TINY else _TINY
            step = c * d
            result *= step
        if abs(step - 1.0) < _EPSILON:
            break
    return result


def incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for 0 <= x <= 1 and a, b > 0.

    Examples:
        >>> round(incomplete_beta(0.5, 2.0, 2.0), 12)
        0.5
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
        + a * math.log(x) + b * math.log1p(-x)
    )  # fmt: skip
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t distribution with `df` degrees of freedom.

    Examples:
        >>> t_cdf(0.0, 5.0)
        0.5
        >>> round(t_cdf(2.015048, 5.0), 4)  # the one-sided 95% point for 5 df
        0.95
    """
    if math.isinf(t):
        return 1.0 if t > 0 else 0.0
    square = t * t
    if square < df:  # near the centre: df / (df + t^2) would round to 1
        tail = 0.5 - 0.5 * incomplete_beta(square / (df + square), 0.5, df / 2.0)
    else:
        tail = 0.5 * incomplete_beta(df / (df + square), df / 2.0, 0.5)
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t such that `t_cdf(t, df) == p` (bisection; 0 < p < 1).

    Examples:
        >>> round(t_quantile(0.975, 10.0), 4)
        2.2281
    """
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be between 0 and 1, not {p!r}")
    low, high = -1.0, 1.0
    while t_cdf(low, df) > p:
        low *= 2.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-12 * max(1.0, abs(middle)):
            break
    return (low + high) / 2.0


class Welch(NamedTuple):
    """Welch's unequal-variances t-test of B against A.

    `difference` is mean(B) - mean(A) and `standard_error` its standard error; `p` is
    the two-sided p-value (the chance of a difference at least this large if both sides
    came from one distribution).
    """

    difference: float
    standard_error: float
    t: float
    df: float
    p: float

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        """The `confidence` interval of the difference of the means.

        Examples:
            >>> low, high = welch([1.0, 1.1, 0.9], [2.0, 2.1, 1.9]).interval()
            >>> low < 1.0 < high
            True
        """
        if self.standard_error == 0.0:
            return self.difference, self.difference
        half = t_quantile(0.5 + confidence / 2.0, self.df) * self.standard_error
        return self.difference - half, self.difference + half


def welch(a: Sequence[float], b: Sequence[float]) -> Welch | None:
    """Welch's t-test of the values of B against A; None with fewer than two of either.

    Examples:
        >>> welch([5.0, 5.0], [5.0, 5.0]).p  # no spread and no difference
        1.0
    """
    if len(a) < 2 or len(b) < 2:
        return None
    mean_a, mean_b = statistics.fmean(a), statistics.fmean(b)
    share_a = statistics.variance(a, mean_a) / len(a)
    share_b = statistics.variance(b, mean_b) / len(b)
    difference = mean_b - mean_a
    variance = share_a + share_b
    if variance == 0.0:  # both sides constant: any difference is certain
        return Welch(difference, 0.0, math.copysign(math.inf, difference) if difference
                     else 0.0, math.inf, 0.0 if difference else 1.0)  # fmt: skip
    error = math.sqrt(variance)
    df = variance**2 / (share_a**2 / (len(a) - 1) + share_b**2 / (len(b) - 1))
    t = difference / error
    p = min(1.0, 2.0 * t_cdf(-abs(t), df))
    return Welch(difference, error, t, df, p)
