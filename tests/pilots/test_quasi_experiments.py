"""Difference-in-differences, event study, permutation inference and synthetic control
against statsmodels, brute force and the sample's planted store effect."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

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
    es = event_study(p, "sales", min_per_side=3)
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
    # statsmodels' F is W / q on (q, G - 1); the Hotelling scaling by hand: W (G-q)/(q (G-1))
    q, g = len(leads), df.unit.nunique()
    f_h = float(np.squeeze(test.fvalue)) * (g - q) / (g - 1)
    np.testing.assert_allclose(es.pre_trend_statistic, f_h, **TOL)
    np.testing.assert_allclose(es.pre_trend_p_value, stats.f.sf(f_h, q, g - q), **TOL)
    # with 3 pilot units of 12 (the default threshold is 20 a side) it is not shown
    hidden = event_study(p, "sales")
    assert np.isnan(hidden.pre_trend_p_value)
    assert "over-rejects below 20 units a side" in hidden.pre_trend_method


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
    # the p-value is studentized: each unit's change, less the precision-weighted mean
    # change of the other units, over its own pre-launch noise (its sd around its mean and
    # the period effects of the other units, weighted by 1 / sd^2; three passes from equal
    # weights), by hand on the wide table
    pre = df[df.post == 0].pivot(index="unit", columns="period", values="sales")
    own = pre.sub(pre.mean(axis=1), axis=0)
    weight = pd.Series(1.0, index=own.index)
    for _ in range(3):
        resid = pd.DataFrame({u: own.loc[u] - own.drop(index=u).mul(
            weight.drop(u), axis=0).sum() / weight.drop(u).sum() for u in own.index}).T
        scale = (resid.pow(2).sum(axis=1) / (own.shape[1] - 1)).pow(0.5)
        weight = scale.pow(-2)
    delta = (df[df.post == 1].groupby("unit").sales.mean() - pre.mean(axis=1))
    z = pd.Series({u: (delta[u] - (delta.drop(u) * weight.drop(u)).sum()
                       / weight.drop(u).sum()) / scale[u] for u in delta.index})

    def statistic(group: tuple) -> float:
        inside = z.index.isin(group)
        return abs(z[inside].mean() - z[~inside].mean())

    treated = tuple(df[df.treated == 1].unit.unique())
    every = [statistic(c) for c in itertools.combinations(p.units, 2)]
    p_ref = np.mean(np.array(every) >= statistic(treated) - 1e-12)
    np.testing.assert_allclose(res.p_value, p_ref, **TOL)
    assert res.studentized and res.min_p_value == pytest.approx(1 / 28)
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


# ------------------------------------------------------------- few pilot units (issue 13)
def _null_matrix(rng: np.random.Generator, n: int, n_treated: int, noisier: float = 1.0,
                 periods: int = 12, launch: int = 8):
    from cjmlib.pilots.quasi_experiments import Panel

    treated = np.zeros(n, bool)
    treated[:n_treated] = True
    sd = np.where(treated, noisier, 1.0)
    y = (50 + rng.normal(0, 5, n)[:, None] + rng.normal(0, 1, periods)[None, :]
         + rng.normal(0, 1, (n, periods)) * sd[:, None])
    return Panel(None, "sim", "unit", "period", ["y"], [f"u{i:02d}" for i in range(n)],
                 list(range(periods)), treated, np.arange(periods) >= launch, {"y": y})


def test_a_noisier_pilot_unit_does_not_make_the_permutation_test_liberal():
    """One pilot unit of 20 with three times the noise: the raw difference of means (the
    old statistic, recomputed from the permutation distribution) rejects about half of the
    null pilots (the issue measured 47%); the studentized test keeps alpha (bound: alpha + 3
    MC SE; the full-size figure is in benchmarks/validity_panels.py)."""
    rng = np.random.default_rng(21)
    runs, alpha = 400, 0.05
    new = old = 0
    for _ in range(runs):
        res = permutation_inference(_null_matrix(rng, 20, 1, noisier=3.0), "y", n_power=0)
        new += res.p_value <= alpha
        old += np.mean(np.abs(res.distribution) >= abs(res.estimate) - 1e-12) <= alpha
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / runs)
    assert new / runs <= bound, new / runs
    assert old / runs > 0.3, old / runs


def test_one_pilot_unit_among_fifteen_says_it_cannot_reject():
    """1 of 15: the smallest attainable p is 1/15 > 0.05, so the interval is the whole line
    and the result says why (the old one printed (-inf, inf) without a word)."""
    p = _null_matrix(np.random.default_rng(3), 15, 1)
    res = permutation_inference(p, "y")
    assert res.min_p_value == pytest.approx(1 / 15)
    assert math.isinf(res.ci_low) and math.isinf(res.ci_high) and res.power_observed == 0
    assert any("smallest p-value any outcome could give is 0.0667" in n for n in res.notes)
    did = difference_in_differences(p)
    row = did.results[did.results.inference == "permutation"].iloc[0]
    assert row.note == "cannot reject at this alpha: smallest attainable p 0.0667"
    assert row.min_p_value == pytest.approx(1 / 15)
    # 1 of 20 can: p <= alpha exactly when the pilot unit is the most extreme of 20
    assert permutation_inference(_null_matrix(np.random.default_rng(3), 20, 1),
                                 "y").min_p_value == pytest.approx(0.05)


def test_synthetic_control_placebos_have_the_pilots_size_and_invert_one_test():
    """3 pilot units of 12: every other set of 3 of the 12 units is a placebo (219), each
    fitted from the other 9; the p-value recomputed by hand from the placebo table; the
    interval's ends checked by refitting with the pilot's outcomes shifted by the
    hypothesised effect (the shortcut moves every set's gap linearly)."""
    df = _panel(n_units=12, n_treated=3, n_periods=20, launch=14, effect=2.0, seed=6)
    p = load_panel(df)
    sc = synthetic_control(p, "sales")
    assert sc.degenerate == "" and sc.exact
    assert len(sc.placebos) == math.comb(12, 3) - 1
    assert sc.placebos["unit"].str.count(r"\+").eq(2).all()
    valid = sc.placebos.loc[~sc.placebos.degenerate.astype(bool), "statistic"].abs()
    k = len(valid) + 1
    obs = abs(sc.estimate) / sc.cv_rmspe
    assert sc.p_value == pytest.approx((1 + (valid >= obs * (1 - 1e-12)).sum()) / k)
    assert sc.min_p_value == pytest.approx(1 / k)
    # the cross-validated RMSPE by hand: leave each of 10 blocks of the 14 pre-launch
    # periods out, refit, predict it
    y = p.matrices["sales"]
    pre = np.flatnonzero(~p.post)
    donors, target = y[~p.treated], y[p.treated].mean(0)
    errors = []
    for block in np.array_split(pre, 10):
        keep = np.setdiff1d(pre, block)
        errors.extend(target[block] - donors[:, block].T @ synthetic_weights(
            target[keep], donors[:, keep].T))
    assert len(pre) == 14
    assert sc.cv_rmspe == pytest.approx(float(np.sqrt(np.mean(np.square(errors)))))
    # the interval's ends: with the pilot's post outcomes less d, a full refit rejects just
    # outside and not just inside
    assert sc.ci_low < sc.estimate < sc.ci_high

    def p_with(d: float) -> float:
        shifted = df.assign(sales=df.sales - d * df.treated * df.post)
        return synthetic_control(load_panel(shifted), "sales").p_value

    width = sc.ci_high - sc.ci_low
    for end, out in ((sc.ci_high, 1), (sc.ci_low, -1)):
        assert p_with(end - out * 0.01 * width) > 0.05
        assert p_with(end + out * 0.01 * width) <= 0.05


def test_a_degenerate_synthetic_fit_is_refused_with_the_reason():
    """A pilot that is exactly a mix of donors (pre RMSPE ~1e-14: the placebo ratio would be
    rounding noise), and one whose donors with weight are as many as the pre-launch periods:
    no p-value, no interval, the reason in the result and the did_results note."""
    p = _null_matrix(np.random.default_rng(8), 20, 1)
    y = p.matrices["y"]
    y[0] = 0.3 * y[5] + 0.7 * y[9] + 2.0 * p.post
    sc = synthetic_control(p, "y")
    assert sc.degenerate.startswith("its pre-launch fit is perfect")
    assert np.isnan(sc.p_value) and np.isnan(sc.ci_low) and np.isnan(sc.se)
    assert sc.estimate == pytest.approx(2.0, abs=1e-6)
    row = difference_in_differences(p).results.query("inference == 'synthetic control'")
    assert row.note.iloc[0].startswith("not tested: its pre-launch fit is perfect")
    # two pre-launch periods, two donors with weight: as many weights as periods
    from cjmlib.pilots.quasi_experiments import _degenerate_fit
    assert "2 donors carry weight for 2 pre-launch periods" in _degenerate_fit(
        np.array([0.5, 0.5, 0.0]), 1.0, 50.0, 2)
    assert _degenerate_fit(np.array([0.5, 0.5, 0.0]), 1.0, 50.0, 8) == ""


def test_design_limits_are_in_the_table():
    """min_p_value and power_observed in did_results: the design's smallest p, and high
    power for a large planted effect (the report's columns: tests/report/test_builder.py)."""
    did = difference_in_differences(_panel(n_units=20, n_treated=3, effect=6.0, seed=2))
    perm = did.results.query("inference == 'permutation'").iloc[0]
    assert perm.min_p_value == pytest.approx(1 / math.comb(20, 3))
    assert perm.power_observed > 0.9 and perm.p_value <= 0.05
    cr1 = did.results.query("inference == 'cluster-robust (CR1)'").iloc[0]
    assert np.isnan(cr1.min_p_value) and 0 < cr1.power_observed <= 1


def test_synthetic_control_cross_validates_long_pre_periods_in_blocks():
    """With more pre-launch periods than CV_BLOCKS, the scale is the RMSPE of leaving out
    each of CV_BLOCKS blocks of neighbouring periods (computed here with synthetic_weights
    directly); with fewer, of leaving out each period."""
    from cjmlib.pilots.quasi_experiments import CV_BLOCKS, Panel, synthetic_weights

    rng = np.random.default_rng(3)
    for n_pre in (6, 25):
        periods = n_pre + 5
        f = rng.normal(size=periods).cumsum()
        y = 50 + rng.normal(size=(12, 1)) * 3 + f * rng.uniform(0.5, 1.5, (12, 1)) \
            + rng.normal(size=(12, periods))
        treated = np.zeros(12, bool)
        treated[0] = True
        post = np.arange(periods) >= n_pre
        panel = Panel(None, "sim", "unit", "period", ["y"], list(range(12)),
                      list(range(periods)), treated, post, {"y": y})
        sc = synthetic_control(panel, "y", max_placebos=20, n_power=5)
        pre = np.arange(n_pre)
        blocks = np.array_split(pre, min(n_pre, CV_BLOCKS))
        errors = []
        for block in blocks:
            keep = np.setdiff1d(pre, block)
            w = synthetic_weights(y[0, keep], y[1:, keep].T)
            errors.extend(y[0, block] - y[1:, block].T @ w)
        expected = float(np.sqrt(np.mean(np.square(errors))))
        assert len(blocks) == min(n_pre, 10)
        assert sc.placebos["scale"].notna().any()
        assert sc.cv_rmspe == pytest.approx(expected, rel=1e-9)
