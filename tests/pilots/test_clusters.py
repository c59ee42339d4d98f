"""Cluster-randomised pilots (issue 13): the CR2 variance and Bell-McCaffrey degrees of
freedom of :func:`cluster_ratio_test` against independent references (statsmodels' HC2 of
the weighted regression of cluster means, Welch's t on cluster means, the general matrix
form of the Satterthwaite degrees of freedom), a reduced A/A simulation at 5 clusters per arm
against the delta method it replaced, and the smallest arms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cjmlib.pilots.aggregates import Aggregates
from cjmlib.pilots.estimators import cluster_ratio_test, cr2_arm, ratio_of_means_test
from cjmlib.pilots.evaluation import evaluate_pilot
from tests.pilots.support import TOL

SIZES_C = np.array([3.0, 12.0, 40.0, 7.0, 150.0])
SIZES_T = np.array([25.0, 5.0, 80.0, 9.0, 30.0, 300.0])


def _totals(sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return sizes * rng.normal(10, 2, len(sizes)) + np.sqrt(sizes) * rng.normal(0, 3, len(sizes))


def test_variance_is_statsmodels_hc2_of_the_weighted_regression_of_cluster_means():
    import statsmodels.api as sm

    rng = np.random.default_rng(3)
    y_c, y_t = _totals(SIZES_C, rng), _totals(SIZES_T, rng)
    res = cluster_ratio_test(y_c, SIZES_C, y_t, SIZES_T)
    means = np.concatenate([y_c / SIZES_C, y_t / SIZES_T])
    treated = np.r_[np.zeros(len(SIZES_C)), np.ones(len(SIZES_T))]
    fit = sm.WLS(means, sm.add_constant(treated), weights=np.r_[SIZES_C, SIZES_T]).fit(
        cov_type="HC2")
    np.testing.assert_allclose([res["effect"], res["se"]], [fit.params[1], fit.bse[1]], **TOL)
    # the plain delta method (what the cluster path ran before) is smaller
    old = ratio_of_means_test(Aggregates.from_arrays({"y": y_c, "x": SIZES_C}),
                              Aggregates.from_arrays({"y": y_t, "x": SIZES_T}),
                              numerator="y", denominator="x")
    assert old["se"] < res["se"]


def _satterthwaite_by_matrices(sizes: np.ndarray) -> float:
    """Bell-McCaffrey df of one arm's CR2 variance, from the general matrix form
    (Pustejovsky & Tipton 2018, sec. 3): v = y' A y with A = M' G M, working covariance
    Phi = diag(sizes) of the cluster totals, df = tr(A Phi)^2 / tr(A Phi A Phi)."""
    g = len(sizes)
    x = sizes[:, None]                                  # totals regressed on sizes, no intercept
    w = np.diag(1 / sizes)                              # weights: inverse working variance
    hat = x @ np.linalg.inv(x.T @ w @ x) @ x.T @ w      # fitted totals = hat @ y
    resid = np.eye(g) - hat
    lev = np.diag(hat)                                  # leverage of a cluster
    # estimator R = c' y with c = 1 / sum(sizes); CR2 weights its residuals by 1/(1 - h)
    gmat = np.diag(1 / (1 - lev)) / sizes.sum() ** 2
    a = resid.T @ gmat @ resid
    phi = np.diag(sizes)
    return float(np.trace(a @ phi) ** 2 / np.trace(a @ phi @ a @ phi))


@pytest.mark.parametrize("sizes", [SIZES_C, SIZES_T, np.array([4.0, 4.0, 4.0]),
                                   np.array([2.0, 500.0]), np.array([1.0, 2, 3, 4, 5, 6, 7])])
def test_degrees_of_freedom_match_the_general_matrix_form(sizes):
    _, _, nu = cr2_arm(np.ones_like(sizes), sizes)
    np.testing.assert_allclose(nu, _satterthwaite_by_matrices(sizes), **TOL)


def test_equal_cluster_sizes_give_welch_on_cluster_means():
    rng = np.random.default_rng(4)
    size = 20.0
    y_c, y_t = rng.normal(50, 9, 4) * size, rng.normal(55, 3, 7) * size
    res = cluster_ratio_test(y_c, np.full(4, size), y_t, np.full(7, size))
    ref = stats.ttest_ind(y_t / size, y_c / size, equal_var=False)
    np.testing.assert_allclose([res["statistic"], res["p_value"], res["df"]],
                               [ref.statistic, ref.pvalue, ref.df], **TOL)
    np.testing.assert_allclose([res["nu_c"], res["nu_t"]], [3, 6], **TOL)


def _aa(rng: np.random.Generator, runs: int, g: int) -> tuple[np.ndarray, np.ndarray]:
    """Cluster totals of binary outcomes, lognormal sizes, beta-binomial ICC 0.05."""
    n = np.maximum(2.0, np.round(rng.lognormal(np.log(40), 1.0, (runs, g))))
    p = rng.beta(0.2 * 19, 0.8 * 19, (runs, g))
    return rng.binomial(n.astype(np.int64), p).astype(float), n


def test_aa_false_positives_at_5_clusters_per_arm_are_controlled():
    rng = np.random.default_rng(20)
    runs, g = 4000, 5
    (y_c, n_c), (y_t, n_t) = _aa(rng, runs, g), _aa(rng, runs, g)
    new = np.mean(cluster_ratio_test(y_c, n_c, y_t, n_t)["p_value"] < 0.05)
    old = np.mean(ratio_of_means_test(Aggregates.from_arrays({"y": y_c, "x": n_c}),
                                      Aggregates.from_arrays({"y": y_t, "x": n_t}),
                                      numerator="y", denominator="x")["p_value"] < 0.05)
    limit = 0.05 + 3 * np.sqrt(0.05 * 0.95 / runs)
    assert 0.03 < new <= limit       # about 5% (benchmarks/validity_clusters.py: 4.8%)
    assert old > limit                # the delta method with Welch df: about 11%


def _pilot(sizes_c: list[int], sizes_t: list[int], seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sizes = np.array(sizes_c + sizes_t)
    store = np.repeat(np.arange(len(sizes)), sizes)
    arm = np.array(["control"] * len(sizes_c) + ["treatment"] * len(sizes_t))[store]
    u = rng.normal(0, 1, len(sizes))[store]
    return pd.DataFrame({"unit_id": np.arange(len(store)), "variant": arm, "store": store,
                         "y": 5 + u + rng.normal(0, 1, len(store)),
                         "pre": 5 + u + rng.normal(0, 1, len(store))})


def test_evaluate_pilot_reports_cr2_and_its_degrees_of_freedom():
    import statsmodels.api as sm

    df = _pilot([5, 40, 12, 90], [30, 8, 60, 15, 200])
    r = evaluate_pilot(df, metrics=[{"name": "y", "kind": "mean"}],
                       cluster_col="store").results.iloc[0]
    means = df.groupby("store").agg(y=("y", "mean"), n=("y", "size"), v=("variant", "first"))
    fit = sm.WLS(means.y, sm.add_constant((means.v == "treatment").astype(float)),
                 weights=means.n).fit(cov_type="HC2")
    np.testing.assert_allclose([r.effect, r.se], [fit.params.iloc[1], fit.bse.iloc[1]], **TOL)
    assert (r.n_control, r.n_treatment) == (4, 5)
    assert "CR2" in r.method and "Bell-McCaffrey" in r.method
    assert f"df = {r.df:.3g}" in r.method and r.df < 4 + 5 - 2


def test_cuped_on_cluster_totals_reduces_the_variance():
    df = _pilot([5, 40, 12, 90, 20, 7], [30, 8, 60, 15, 200, 11])
    res = evaluate_pilot(df, metrics=[{"name": "y", "kind": "mean", "covariate": "pre"},
                                      {"name": "y_raw", "kind": "mean", "column": "y"}],
                         cluster_col="store").results.set_index("metric")
    assert res.loc["y", "variance_reduction"] > 0.5
    assert res.loc["y", "se"] < res.loc["y_raw", "se"]
    assert res.loc["y", "method"].startswith("CUPED on cluster totals")
    assert res.loc["y", "covariate"] == "pre"


def test_two_clusters_in_an_arm_give_a_result_and_one_a_clear_error():
    df = _pilot([10, 60], [30, 8, 60, 15])
    r = evaluate_pilot(df, metrics=[{"name": "y", "kind": "mean"}],
                       cluster_col="store").results.iloc[0]
    assert r.n_control == 2 and np.isfinite(r.p_value) and np.isfinite(r.ci_low)
    assert "Bell-McCaffrey df 1 and" in r.method and 1 <= r.df < 4
    with pytest.raises(ValueError, match=r"arm 'control' has 1 cluster\(s\) \('store'\).*at "
                                         r"least 2 clusters per arm"):
        evaluate_pilot(_pilot([50], [30, 8, 60]), metrics=[{"name": "y", "kind": "mean"}],
                       cluster_col="store")
