"""obskit._tools.stats: Welch's t-test in plain Python, checked against scipy's figures.

The reference values were computed with scipy 1.16 (`scipy.stats.ttest_ind(b, a,
equal_var=False)`, its `confidence_interval(0.95)`, and `scipy.stats.t.ppf`); scipy is
not a dependency, so they are written down here.
"""

from __future__ import annotations

import math

import pytest

from obskit._tools import stats as _stats

# (a, b, t, df, p, 95% interval of mean(b) - mean(a))
SCIPY_WELCH = [
    ([10.0, 10.2, 9.9, 10.1], [12.0, 12.3, 11.8, 12.1],
     16.32993161855454, 5.010309278350505, 1.545074151951056e-05,
     (1.6853640517302535, 2.3146359482697463)),
    ([1.02, 0.98, 1.05, 0.97, 1.01], [1.03, 0.99, 1.0, 1.04],
     0.48268186553605996, 6.987305916911454, 0.6440764761509085,
     (-0.0351066051807013, 0.05310660518070198)),
    ([0.51, 0.49, 0.55], [0.61, 0.58, 0.66, 0.6, 0.63, 0.59],
     4.459116608727844, 3.9261795496494916, 0.01165008488038542,
     (0.03540754888767586, 0.1545924511123241)),
    ([3.0, 3.0, 3.1], [2.0, 5.0, 9.0],
     1.1341997525248353, 2.0010810810021127, 0.37429986074972466,
     (-6.420668168495085, 11.020668168495085)),
]  # fmt: skip
SCIPY_T_PPF = [(3.0, 0.975, 3.1824463052837078), (7.5, 0.95, 1.8757474792112878),
               (30.0, 0.995, 2.7499956535672254)]  # fmt: skip


@pytest.mark.parametrize(("a", "b", "t", "df", "p", "interval"), SCIPY_WELCH)
def test_welch_matches_scipy(a, b, t, df, p, interval):
    result = _stats.welch(a, b)
    assert result is not None
    assert result.t == pytest.approx(t, rel=1e-12)
    assert result.df == pytest.approx(df, rel=1e-12)
    assert result.p == pytest.approx(p, rel=1e-9)
    assert result.interval(0.95) == pytest.approx(interval, rel=1e-9)


@pytest.mark.parametrize(("df", "p", "t"), SCIPY_T_PPF)
def test_t_quantile_matches_scipy(df, p, t):
    assert _stats.t_quantile(p, df) == pytest.approx(t, rel=1e-9)
    assert _stats.t_cdf(t, df) == pytest.approx(p, rel=1e-12)


def test_one_degree_of_freedom_is_the_cauchy_distribution():
    for t in (-40.0, -1.0, -1e-9, 0.3, 7.0):
        assert _stats.t_cdf(t, 1.0) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-14)


def test_constant_sides_and_single_runs():
    assert _stats.welch([1.0], [1.0, 2.0]) is None
    same = _stats.welch([2.0, 2.0, 2.0], [2.0, 2.0])
    assert same is not None
    assert same.p == 1.0
    apart = _stats.welch([2.0, 2.0], [3.0, 3.0])
    assert apart is not None
    assert apart.p == 0.0
    assert apart.interval() == (1.0, 1.0)
