"""Difference-in-differences, event study, permutation inference and synthetic control
against statsmodels, brute force and the sample's planted store effect."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from cjmlib.pilots.quasi_experiments import (
    DID_RESULTS_COLUMNS,
    difference_in_differences,
    event_study,
    load_panel,
    permutation_inference,
    synthetic_control,
    synthetic_weights,
    twfe,
)

TOL = {"rtol": 1e-8, "atol": 1e-10}


def _panel(n_units: int = 12, n_treated: int = 3, n_periods: int = 10, launch: int = 6,
           effect: float = 2.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    units = [f"S{i:02d}" for i in range(n_units)]
    treated = set(units[:n_treated])
    fe = rng.normal(0, 5, n_units)
    season = rng.normal(0, 1, n_periods)
    rows = []
    for i, u in enumerate(units):
        for p in range(n_periods):
            post = int(p >= launch)
            y = 50 + fe[i] + season[p] + effect * (u in treated) * post + rng.normal(0, 1)
            rows.append((u, f"2026-{p + 1:02d}", int(u in treated), post, y,
                         100 + rng.normal(0, 3)))
    return pd.DataFrame(rows, columns=["unit", "period", "treated", "post", "sales",
                                       "footfall"])


def test_twfe_matches_statsmodels_formula_and_2x2_means():
    df = _panel()
    p = load_panel(df)
    res = twfe(p, "sales")
    df = df.assign(d=df.treated * df.post)
    fit = smf.ols("sales ~ d + C(unit) + C(period)", data=df).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(df.unit)[0]}, use_t=True)
    lo, hi = fit.conf_int().loc["d"]
    np.testing.assert_allclose([res["estimate"], res["se"], res["p_value"], res["ci_low"],
                                res["ci_high"]],
                               [fit.params["d"], fit.bse["d"], fit.pvalues["d"], lo, hi], **TOL)
    m = df.groupby(["treated", "post"]).sales.mean()
    np.testing.assert_allclose(res["estimate"], (m[1, 1] - m[1, 0]) - (m[0, 1] - m[0, 0]),
                               **TOL)
    # CR1 by hand: G/(G-1) * (N-1)/(N-K) * sandwich, t with G-1 df
    assert res["df"] == df.unit.nunique() - 1


def test_event_study_coefficients_are_differences_of_means():
    df = _panel()
    p = load_panel(df)
    es = event_study(p, "sales")
    wide = df.pivot(index="unit", columns="period", values="sales")
    tr = df.groupby("unit").treated.first().astype(bool)
    gap = wide[tr].mean() - wide[~tr].mean()
    ref = gap - gap.iloc[p.launch - 1]
    got = es.coefficients.set_index("period").estimate
    np.testing.assert_allclose(got.to_numpy(), ref.reindex(got.index).to_numpy(), **TOL)
    # pre-trend F test: the same hypothesis through statsmodels' formula interface
    df = df.assign(k=df.period.map({per: i - p.launch for i, per in enumerate(p.periods)}))
    for k in sorted(df.k.unique()):
        if k != -1:
            df[f"e{k + 100}"] = ((df.k == k) & (df.treated == 1)).astype(float)
    terms = [c for c in df.columns if c.startswith("e")]
    fit = smf.ols("sales ~ " + " + ".join(terms) + " + C(unit) + C(period)", data=df).fit(
        cov_type="cluster", cov_kwds={"groups": pd.factorize(df.unit)[0]}, use_t=True)
    leads = [t for t in terms if int(t[1:]) - 100 < -1]
    test = fit.f_test(", ".join(f"{t} = 0" for t in leads))
    np.testing.assert_allclose(es.pre_trend_p_value, float(test.pvalue), **TOL)


def test_permutation_matches_brute_force_refits():
    df = _panel(n_units=8, n_treated=2, seed=3)
    p = load_panel(df)
    res = permutation_inference(p, "sales")
    assert res.exact and res.n_assignments == math.comb(8, 2)
    observed = twfe(p, "sales")["estimate"]
    np.testing.assert_allclose(res.estimate, observed, **TOL)
    estimates = []
    for combo in itertools.combinations(p.units, 2):
        d = df.assign(treated=df.unit.isin(combo).astype(int))
        estimates.append(twfe(load_panel(d), "sales")["estimate"])
    estimates = np.array(estimates)
    np.testing.assert_allclose(np.sort(res.distribution), np.sort(estimates), **TOL)
    p_ref = np.mean(np.abs(estimates) >= abs(observed) - 1e-12)
    np.testing.assert_allclose(res.p_value, p_ref, **TOL)
    assert res.ci_low <= res.estimate <= res.ci_high


def test_synthetic_control_weights_and_exact_recovery():
    from scipy.optimize import minimize

    rng = np.random.default_rng(4)
    donors = rng.normal(100, 10, (20, 6)) + rng.normal(0, 1, (20, 1))
    target = donors[:, :3] @ np.array([0.5, 0.3, 0.2])
    w = synthetic_weights(target, donors)
    ref = minimize(lambda v: ((donors @ v - target) ** 2).sum(), np.full(6, 1 / 6),
                   method="SLSQP", bounds=[(0, 1)] * 6,
                   constraints=[{"type": "eq", "fun": lambda v: v.sum() - 1}],
                   options={"ftol": 1e-15, "maxiter": 500})
    np.testing.assert_allclose(w, [0.5, 0.3, 0.2, 0, 0, 0], atol=1e-6)
    assert ((donors @ w - target) ** 2).sum() <= ref.fun + 1e-8
    # a treated unit that is exactly a mix of donors gets its effect back exactly
    df = _panel(n_units=10, n_treated=1, effect=0.0, seed=5)
    wide = df.pivot(index="unit", columns="period", values="sales")
    mix = 0.6 * wide.iloc[1] + 0.4 * wide.iloc[2]
    post = df.groupby("period").post.first()
    df.loc[df.unit == "S00", "sales"] = (mix + 3.0 * post).to_numpy()
    sc = synthetic_control(load_panel(df), "sales")
    np.testing.assert_allclose(sc.estimate, 3.0, atol=1e-6)
    assert sc.pre_rmspe < 1e-6


def test_recovers_planted_store_effect(sample_dir, ground_truth):
    truth = ground_truth["store_effect"]
    did = difference_in_differences(sample_dir / "pilot" / "store_panel.csv")
    res = did.results
    assert list(res.columns[:len(DID_RESULTS_COLUMNS)]) == DID_RESULTS_COLUMNS
    assert set(res.inference) == {"cluster-robust (CR1)", "permutation", "synthetic control"}
    assert (res.n_treated_units == len(truth["treated_units"])).all()
    default = res[res["default"]].set_index("metric")
    assert (default.inference == "permutation").all()      # 4 treated units: few
    assert "over-reject" in did.notes[0]
    for metric, effect in truth["effects"].items():
        r = default.loc[metric]
        assert r.ci_low <= effect <= r.ci_high, (metric, effect, r.ci_low, r.ci_high)
    assert default.loc["sales", "p_value"] < 0.05
    assert default.loc["footfall", "p_value"] > 0.05
    assert res[DID_RESULTS_COLUMNS].drop(columns=["pre_trend_p_value"]).notna().all().all()


def test_many_treated_units_default_to_cluster():
    did = difference_in_differences(_panel(n_units=30, n_treated=12, seed=8))
    assert did.results[did.results["default"]].inference.unique().tolist() == [
        "cluster-robust (CR1)"]
    assert not did.results[did.results.inference == "permutation"].method.str.contains(
        "exact").any()      # C(30, 12) assignments: Monte Carlo


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d.drop(columns="post"), r"panel.csv: missing column 'post'"),
    (lambda d: pd.concat([d, d.iloc[[0]]]), r"a unit appears twice in the same period "
                                            r"\(rows 1, 121\)"),
    (lambda d: d.assign(treated=np.where(d.index == 3, 1 - d.treated, d.treated)),
     r"column 'treated' changes within unit 'S00'"),
    (lambda d: d.assign(post=np.where(d.index == 16, 1 - d.post, d.post)),
     r"column 'post' differs between units in period '2026-07' .*staggered"),
    (lambda d: d.drop(index=[5]), r"not balanced: unit 'S00' has no row for period\(s\) "
                                  r"\['2026-06'\]"),
    (lambda d: d.assign(sales=d.sales.where(d.index != 8)),
     r"outcome column 'sales' is missing in rows 9"),
    (lambda d: d.assign(treated=0), r"need at least 1 treated and 2 control units"),
    (lambda d: d.assign(post=0), r"column 'post' must have both pre-launch \(0\) and "
                                 r"post-launch \(1\) periods"),
])
def test_bad_panels(mutate, match):
    with pytest.raises(ValueError, match=match):
        load_panel(mutate(_panel()), name="panel.csv")
