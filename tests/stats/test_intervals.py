"""Survey intervals (NPS, CSAT/CES means) against independent references -- statsmodels'
Wilson interval, Tango's (1998) closed-form restricted estimate, Rocks' (2016) adjusted-Wald
formula and a numerically maximised constrained likelihood (scipy SLSQP), and hand
computations -- and their coverage by reduced versions of benchmarks/validity_surveys.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.proportion import proportion_confint

from cjmlib.stats.intervals import (
    mean_interval,
    nps_interval,
    nps_interval_from_counts,
    score_interval_from_counts,
)

Z = stats.norm.ppf(0.975)
CSAT = np.arange(1, 6, dtype=float)
RUNS = 2000                                   # per cell; full size in benchmarks/
MC_SE = np.sqrt(0.95 * 0.05 / RUNS)           # 0.49 points


def _scores(promoters: int, passives: int, detractors: int) -> np.ndarray:
    return np.array([10] * promoters + [8] * passives + [3] * detractors, dtype=float)


# --------------------------------------------------------------------------------------------
# Independent references
# --------------------------------------------------------------------------------------------


def test_two_point_scale_gives_wilson_interval():
    for n in (1, 7, 30):
        k = np.arange(n + 1)
        low, high = score_interval_from_counts(np.stack([n - k, k], -1), [0, 1])
        ref_low, ref_high = proportion_confint(k, n, alpha=0.05, method="wilson")
        np.testing.assert_allclose(low, ref_low, atol=1e-12)
        np.testing.assert_allclose(high, ref_high, atol=1e-12)


def test_csat_with_answers_only_at_the_ends_is_wilson_rescaled():
    # 3 answers of 1 and 7 of 5: the mean is 1 + 4 x (share of 5s), the restricted
    # distribution has only those two points, so the interval is Wilson's on the share
    ref_low, ref_high = proportion_confint(7, 10, alpha=0.05, method="wilson")
    r = mean_interval([1, 1, 1, 5, 5, 5, 5, 5, 5, 5], scale=(1, 5))
    assert (r.ci_low, r.ci_high) == pytest.approx((1 + 4 * ref_low, 1 + 4 * ref_high), abs=1e-10)


def test_unanimous_csat_by_hand():
    # every answer 5 (n = 10): the restricted distribution for a mean mu < 5 puts
    # (5 - mu) / 4 at 1, so var(mu) = (mu - 1)(5 - mu) and the lower bound solves
    # 10 (5 - mu)^2 = z^2 (mu - 1)(5 - mu): mu = (5 + c) / (1 + c), c = z^2 / 10
    c = Z**2 / 10
    r = mean_interval([5] * 10, scale=(1, 5))
    assert (r.n, r.mean) == (10, 5.0)
    assert r.ci_low == pytest.approx((5 + c * 1) / (1 + c), abs=1e-10)   # 3.8899
    assert r.ci_high == 5.0
    assert r.method == "score"
    # every answer 3 (n = 4): mass moves to 1 below and to 5 above, symmetrically
    c = Z**2 / 4
    r = mean_interval([3, 3, 3, 3], scale=(1, 5))
    assert r.ci_low == pytest.approx((3 + c * 1) / (1 + c), abs=1e-10)
    assert r.ci_high == pytest.approx((3 + c * 5) / (1 + c), abs=1e-10)


def _restricted_variance(counts: np.ndarray, points: np.ndarray, mu: float) -> float:
    """Variance of the multinomial MLE with mean ``mu``, maximised numerically (SLSQP)."""
    seen = counts > 0

    def negative_loglik(p: np.ndarray) -> float:
        return -float((counts[seen] * np.log(np.maximum(p[seen], 1e-300))).sum())

    best = None
    for start in np.random.default_rng(0).dirichlet(np.ones(points.size), 4):
        fit = optimize.minimize(
            negative_loglik, start, method="SLSQP", bounds=[(0, 1)] * points.size,
            constraints=[{"type": "eq", "fun": lambda p: p.sum() - 1},
                         {"type": "eq", "fun": lambda p: (p * points).sum() - mu}],
            options={"ftol": 1e-14, "maxiter": 1000})
        if best is None or fit.fun < best.fun:
            best = fit
    return float((best.x * (points - mu) ** 2).sum())


@pytest.mark.parametrize("counts", [[0, 0, 1, 4, 45], [2, 8, 0, 2, 0], [1, 0, 3, 2, 4],
                                    [0, 0, 0, 3, 7], [5, 1, 0, 0, 0]])
def test_csat_bounds_solve_the_score_equation_of_the_constrained_likelihood(counts):
    counts = np.asarray(counts, dtype=float)
    n = counts.sum()
    mean = float((counts * CSAT).sum() / n)
    low, high = score_interval_from_counts(counts, CSAT)
    for bound in (float(low), float(high)):
        var = _restricted_variance(counts, CSAT, bound)
        assert n * (mean - bound) ** 2 / var == pytest.approx(Z**2, rel=1e-5)
    assert 1 <= low < mean < high <= 5


def _tango_statistic(promoters: int, detractors: int, n: int, nps: float) -> float:
    # Tango (1998, Statistics in Medicine 17): score statistic of a difference of two cells of
    # one multinomial, with the closed-form restricted estimate of the second cell
    a, b, c = 2 * n, -promoters - detractors + (2 * n - promoters + detractors) * nps, \
        -detractors * nps * (1 - nps)
    q = (np.sqrt(b * b - 4 * a * c) - b) / (2 * a)
    return (promoters - detractors - n * nps) / np.sqrt(n * (2 * q + nps * (1 - nps)))


@pytest.mark.parametrize("promoters,passives,detractors",
                         [(6, 3, 1), (2, 2, 1), (4, 3, 3), (9, 1, 0), (40, 35, 25), (1, 0, 9)])
def test_nps_score_bounds_match_tangos_closed_form(promoters, passives, detractors):
    r = nps_interval(_scores(promoters, passives, detractors))
    n = promoters + passives + detractors
    assert r["method"] == "score"
    assert _tango_statistic(promoters, detractors, n, r["nps_ci_low"] / 100) == \
        pytest.approx(Z, rel=1e-8)
    assert _tango_statistic(promoters, detractors, n, r["nps_ci_high"] / 100) == \
        pytest.approx(-Z, rel=1e-8)


def test_nps_all_promoters_by_hand():
    # 10 promoters: the lower bound mu solves 10 (1 - mu)^2 = z^2 (1 + mu)(1 - mu),
    # i.e. mu = (1 - c) / (1 + c) with c = z^2 / 10: 44.49 NPS points
    c = Z**2 / 10
    r = nps_interval([10] * 10)
    assert r["nps_ci_low"] == pytest.approx(100 * (1 - c) / (1 + c), abs=1e-9)
    assert r["nps_ci_high"] == 100.0 and r["nps"] == 100.0


def test_nps_adjusted_wald_by_hand_from_rocks_formula():
    # 7 promoters, 2 passives, 1 detractor; Rocks (2016): n + 3 = 13, promoters 7.75,
    # detractors 1.75, NPS 6 / 13, variance (9.5 / 13 - (6 / 13)^2) / 13
    r = nps_interval(_scores(7, 2, 1), method="adjusted_wald")
    nps = 6 / 13
    se = np.sqrt((9.5 / 13 - 36 / 169) / 13)                # 0.19957
    assert se == pytest.approx(0.1996, abs=1e-4)
    assert r["nps"] == pytest.approx(60.0)                   # the estimate is not adjusted
    assert r["nps_ci_low"] == pytest.approx(100 * (nps - Z * se))   # 7.04
    assert r["nps_ci_high"] == pytest.approx(100 * (nps + Z * se))  # 85.27
    assert r["method"] == "adjusted_wald"


def test_nps_se_is_the_standard_error_of_the_coded_mean():
    s = _scores(6, 3, 1)
    codes = np.where(s >= 9, 1, np.where(s <= 6, -1, 0))
    assert nps_interval(s)["nps_se"] == pytest.approx(100 * codes.std() / np.sqrt(len(s)))


# --------------------------------------------------------------------------------------------
# Bounds, width, method, errors
# --------------------------------------------------------------------------------------------


def test_every_small_survey_has_an_interval_on_the_scale_of_positive_width():
    for n in range(1, 13):
        for det in range(n + 1):
            for pro in range(n + 1 - det):
                r = nps_interval(_scores(pro, n - pro - det, det))
                for method in ("score", "adjusted_wald"):
                    lo, hi = nps_interval_from_counts([det, n - pro - det, pro],
                                                      method=method)
                    assert -100 <= lo < hi <= 100
                assert r["nps_ci_low"] <= r["nps"] <= r["nps_ci_high"]
    for n in range(1, 7):
        for answers in itertools.combinations_with_replacement(range(1, 6), n):
            r = mean_interval(answers, scale=(1, 5))
            assert 1 <= r.ci_low <= r.mean <= r.ci_high <= 5
            assert r.ci_high - r.ci_low > 0.1


def test_methods_are_named_and_the_scale_is_checked():
    assert mean_interval([1, 2, 3]).method == "student_t"
    assert mean_interval([1, 2, 3], scale=(1, 5)).method == "score"
    n, mean, low, high = mean_interval([4, 5], scale=(1, 5))    # still unpacks as four
    assert (n, mean) == (2, 4.5) and low < high
    assert np.isnan(mean_interval([], scale=(1, 5)).ci_low)
    assert nps_interval([])["method"] == "score" and np.isnan(nps_interval([])["nps_ci_low"])
    with pytest.raises(ValueError, match=r"value 6 is outside the scale \[1, 5\]"):
        mean_interval([5, 6], scale=(1, 5))
    with pytest.raises(ValueError, match="method must be one of"):
        nps_interval([9], method="wald")


# --------------------------------------------------------------------------------------------
# Coverage (reduced versions of benchmarks/validity_surveys.py)
# --------------------------------------------------------------------------------------------


def _coverage(shares, n, interval, truth, seed):
    counts = np.random.default_rng(seed).multinomial(n, shares, size=RUNS).astype(float)
    low, high = interval(counts)
    assert np.all(high > low)
    return float(np.mean((low <= truth) & (truth <= high)))


@pytest.mark.parametrize("pro,pas,det,n", [(0.9, 0.07, 0.03, 10), (0.9, 0.07, 0.03, 30),
                                           (0.9, 0.07, 0.03, 100), (0.5, 0.3, 0.2, 10),
                                           (0.5, 0.3, 0.2, 30), (0.2, 0.3, 0.5, 30),
                                           (0.97, 0.02, 0.01, 30)])
def test_nps_coverage_is_near_95_percent_at_small_n(pro, pas, det, n):
    cov = _coverage([det, pas, pro], n, nps_interval_from_counts, 100 * (pro - det), seed=n)
    assert 0.94 - 3 * MC_SE <= cov <= 0.96 + 3 * MC_SE


def test_nps_coverage_with_97_percent_promoters_at_n_10_is_above_the_band():
    # only 66 outcomes: the exact coverage is 96.55% (the Wald interval: 26%)
    cov = _coverage([0.01, 0.02, 0.97], 10, nps_interval_from_counts, 96.0, seed=1)
    assert 0.955 - 3 * MC_SE <= cov <= 0.9655 + 3 * MC_SE


def test_the_wald_interval_it_replaces_undercovers():
    # the measurement: NPS Wald at n = 10 with 90% promoters covered 64%
    counts = np.random.default_rng(2).multinomial(10, [0.03, 0.07, 0.9], size=RUNS)
    p_det, p_pro = counts[:, 0] / 10, counts[:, 2] / 10
    se = np.sqrt((p_pro + p_det - (p_pro - p_det) ** 2) / 10)
    cover = np.abs(p_pro - p_det - 0.87) <= Z * se
    assert cover.mean() < 0.70


@pytest.mark.parametrize("shares,n", [((0.0, 0.0, 0.02, 0.08, 0.90), 10),
                                      ((0.0, 0.0, 0.02, 0.08, 0.90), 30),
                                      ((0.01, 0.01, 0.03, 0.15, 0.80), 10),
                                      ((0.1, 0.2, 0.4, 0.2, 0.1), 30),
                                      ((0.1, 0.2, 0.4, 0.2, 0.1), 100)])
def test_csat_coverage_is_near_95_percent_at_small_n(shares, n):
    truth = float(np.dot(shares, CSAT))
    cov = _coverage(shares, n, lambda c: score_interval_from_counts(c, CSAT), truth, seed=n)
    assert 0.94 - 3 * MC_SE <= cov <= 0.96 + 3 * MC_SE


@pytest.mark.parametrize("shares,n,exact", [((0.01, 0.01, 0.03, 0.15, 0.80), 30, 0.9632),
                                            ((0.1, 0.2, 0.4, 0.2, 0.1), 10, 0.9739)])
def test_csat_coverage_where_it_is_conservative(shares, n, exact):
    # measured (exact, by enumeration in benchmarks/validity_surveys.py): above the band
    # but never below it; with mostly-5 answers the misses are all above the upper bound
    truth = float(np.dot(shares, CSAT))
    cov = _coverage(shares, n, lambda c: score_interval_from_counts(c, CSAT), truth, seed=n)
    assert 0.95 <= cov <= exact + 3 * MC_SE


def test_the_t_interval_it_replaces_undercovers_and_collapses():
    # the measurement: CSAT t interval at n = 10 with mostly 5s covered 67%
    counts = np.random.default_rng(3).multinomial(10, [0, 0, 0.02, 0.08, 0.9], size=RUNS)
    values = np.repeat(np.tile(CSAT, (RUNS, 1)).ravel(), counts.ravel()).reshape(RUNS, 10)
    lo, hi = stats.t.interval(0.95, 9, loc=values.mean(1),
                              scale=np.maximum(values.std(1, ddof=1), 1e-300) / np.sqrt(10))
    assert np.mean((lo <= 4.88) & (4.88 <= hi)) < 0.70
    assert np.mean(hi - lo < 1e-9) > 0.3          # all answers 5: a point
