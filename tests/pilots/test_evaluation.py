"""Pilot evaluation against scipy, statsmodels and lifelines, A/A false-positive rates,
bad-input messages and recovery of the sample's planted effects."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cjmlib.pilots.aggregates import Aggregates
from cjmlib.pilots.breakdowns import segment_breakdown, summary_table, survival_analysis
from cjmlib.pilots.estimators import (
    beta_binomial_view,
    confidence_sequence_radius,
    normal_view,
    nps_test,
    proportion_test,
    rank_test_from_counts,
    ratio_of_means_test,
    rmst_from_counts,
)
from cjmlib.pilots.evaluation import PILOT_RESULTS_COLUMNS, evaluate_pilot
from cjmlib.pilots.metrics import infer_metrics
from cjmlib.pilots.srm import sample_ratio_mismatch
from cjmlib.stats.multiplicity import adjust_p_values

TOL = {"rtol": 1e-8, "atol": 1e-12}
ROOT = Path(__file__).resolve().parents[2]


def _units(n: int = 1200, seed: int = 1, effect: float = 0.0) -> pd.DataFrame:
    """A units table with every kind of metric (treatment shifted by ``effect``)."""
    rng = np.random.default_rng(seed)
    variant = np.where(rng.random(n) < 0.5, "control", "treatment")
    t = variant == "treatment"
    pre_rev = rng.gamma(2.0, 20.0, n)
    sessions = 1 + rng.poisson(3, n)
    pre_sessions = 1 + rng.poisson(3, n)
    csat = rng.choice([1, 2, 3, 4, 5], n, p=[0.1, 0.15, 0.25, 0.3, 0.2]).astype(float)
    csat[rng.random(n) < 0.4] = np.nan
    nps = rng.integers(0, 11, n).astype(float)
    nps[rng.random(n) < 0.5] = np.nan
    time = np.minimum(np.round(rng.exponential(300 - 60 * effect * t), 1), 900.0)
    return pd.DataFrame({
        "unit_id": [f"U{i:05d}" for i in range(n)], "variant": variant,
        "converted": (rng.random(n) < 0.3 + effect * 0.05 * t).astype(int),
        "revenue": np.round(0.6 * pre_rev + rng.gamma(2.0, 10.0, n) + 3 * effect * t, 2),
        "pre_revenue": np.round(pre_rev, 2),
        "pre_converted": (rng.random(n) < 0.4).astype(int),
        "contacts": rng.poisson(0.1 * sessions), "sessions": sessions,
        "pre_contacts": rng.poisson(0.1 * pre_sessions), "pre_sessions": pre_sessions,
        "csat": csat, "nps": nps, "checkout_time_s": time,
        "checkout_completed": (time < 900).astype(int),
        "tier": rng.choice(["Gold", "Silver", "Bronze"], n),
    })


def _row(results: pd.DataFrame, metric: str) -> pd.Series:
    return results.set_index("metric").loc[metric]


# ---------------------------------------------------------------- reference agreement
def test_proportion_matches_statsmodels_wald():
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        test_proportions_2indep,
    )

    df = _units()
    res = evaluate_pilot(df, metrics=[{"name": "conversion", "kind": "proportion",
                                       "column": "converted", "role": "primary"}]).results
    r = _row(res, "conversion")
    c = df[df.variant == "control"].converted
    t = df[df.variant == "treatment"].converted
    ref = test_proportions_2indep(t.sum(), len(t), c.sum(), len(c), method="wald")
    lo, hi = confint_proportions_2indep(t.sum(), len(t), c.sum(), len(c), method="wald")
    np.testing.assert_allclose([r.effect, r.p_value, r.ci_low, r.ci_high],
                               [t.mean() - c.mean(), ref.pvalue, lo, hi], **TOL)
    assert list(res.columns[:len(PILOT_RESULTS_COLUMNS)]) == PILOT_RESULTS_COLUMNS


def test_welch_matches_scipy_and_statsmodels():
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

    df = _units()
    r = _row(evaluate_pilot(df, metrics=[{"name": "revenue", "kind": "mean"}]).results,
             "revenue")
    c = df[df.variant == "control"].revenue.to_numpy()
    t = df[df.variant == "treatment"].revenue.to_numpy()
    ref = stats.ttest_ind(t, c, equal_var=False)
    ci = ref.confidence_interval(0.95)
    np.testing.assert_allclose([r.statistic, r.p_value, r.ci_low, r.ci_high, r.df],
                               [ref.statistic, ref.pvalue, ci.low, ci.high, ref.df], **TOL)
    lo, hi = CompareMeans(DescrStatsW(t), DescrStatsW(c)).tconfint_diff(usevar="unequal")
    np.testing.assert_allclose([r.ci_low, r.ci_high], [lo, hi], **TOL)


def test_cuped_mean_is_welch_on_adjusted_values():
    df = _units()
    r = _row(evaluate_pilot(df, metrics=[{"name": "revenue", "kind": "mean",
                                          "covariate": "pre_revenue"}]).results, "revenue")
    y, x = df.revenue.to_numpy(), df.pre_revenue.to_numpy()
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)       # pooled (Deng et al. 2013)
    adj = y - theta * (x - x.mean())
    t_mask = (df.variant == "treatment").to_numpy()
    ref = stats.ttest_ind(adj[t_mask], adj[~t_mask], equal_var=False)
    ci = ref.confidence_interval(0.95)
    np.testing.assert_allclose([r.effect, r.p_value, r.ci_low, r.ci_high],
                               [adj[t_mask].mean() - adj[~t_mask].mean(), ref.pvalue,
                                ci.low, ci.high], **TOL)
    assert r.variance_reduction > 0.2 and "CUPED" in r.method


def _linearised(y, x):
    """Deng et al. (2018) linearisation of a ratio of means."""
    return (y - y.mean() / x.mean() * x) / x.mean()


def test_ratio_delta_method_and_ratio_cuped_match_linearisation():
    df = _units()
    t_mask = (df.variant == "treatment").to_numpy()
    y, x = df.contacts.to_numpy(float), df.sessions.to_numpy(float)
    cy, cx = df.pre_contacts.to_numpy(float), df.pre_sessions.to_numpy(float)
    plain = {"name": "cps", "kind": "ratio", "numerator": "contacts",
             "denominator": "sessions"}
    cuped = {**plain, "name": "cps_cuped", "covariate": "pre_contacts",
             "covariate_denominator": "pre_sessions"}
    res = evaluate_pilot(df, metrics=[plain, cuped]).results
    # plain delta method: per-arm variance of the linearised values
    arms = [(y[m], x[m], cy[m], cx[m]) for m in (~t_mask, t_mask)]
    v = [np.var(_linearised(a[0], a[1]), ddof=1) / len(a[0]) for a in arms]
    r0 = [a[0].sum() / a[1].sum() for a in arms]
    se = math.sqrt(v[0] + v[1])
    df_w = (v[0] + v[1]) ** 2 / (v[0] ** 2 / (len(arms[0][0]) - 1)
                                 + v[1] ** 2 / (len(arms[1][0]) - 1))
    r = _row(res, "cps")
    np.testing.assert_allclose([r.effect, r.se, r.df], [r0[1] - r0[0], se, df_w], **TOL)
    np.testing.assert_allclose(r.p_value, 2 * stats.t.sf(abs(r.effect / se), df_w), **TOL)
    # CUPED on a ratio: theta from pooled linearisations, per-arm variance of L_y - theta L_c
    ly, lc = _linearised(y, x), _linearised(cy, cx)
    theta = np.cov(ly, lc)[0, 1] / np.var(lc, ddof=1)
    rc_all = cy.sum() / cx.sum()
    val = [a[0].sum() / a[1].sum() - theta * (a[2].sum() / a[3].sum() - rc_all) for a in arms]
    var = [np.var(_linearised(a[0], a[1]) - theta * _linearised(a[2], a[3]), ddof=1)
           / len(a[0]) for a in arms]
    rc = _row(res, "cps_cuped")
    np.testing.assert_allclose([rc.effect, rc.se], [val[1] - val[0], math.sqrt(sum(var))],
                               **TOL)


def test_ratio_cuped_matches_tea_tasting_when_installed():
    tt = pytest.importorskip("tea_tasting")
    df = _units()
    metric = tt.RatioOfMeans("contacts", "sessions", "pre_contacts", "pre_sessions")
    ref = tt.Experiment(m=metric, variant="variant").analyze(df, control="control")["m"]
    r = _row(evaluate_pilot(df, metrics=[{"name": "m", "kind": "ratio",
                                          "numerator": "contacts", "denominator": "sessions",
                                          "covariate": "pre_contacts",
                                          "covariate_denominator": "pre_sessions"}]).results, "m")
    np.testing.assert_allclose(
        [r.effect, r.ci_low, r.ci_high, r.p_value, r.rel_ci_low, r.rel_ci_high],
        [ref.effect_size, ref.effect_size_ci_lower, ref.effect_size_ci_upper, ref.pvalue,
         ref.rel_effect_size_ci_lower, ref.rel_effect_size_ci_upper], **TOL)


def test_nps_variance_formula_and_welch_interval():
    df = _units()
    r = _row(evaluate_pilot(df, metrics=[{"name": "nps", "kind": "nps"}]).results, "nps")
    coded = np.select([df.nps >= 9, df.nps <= 6], [1.0, -1.0], 0.0)
    ok = df.nps.notna().to_numpy()
    t_mask = (df.variant == "treatment").to_numpy()
    parts = []
    for m in (~t_mask & ok, t_mask & ok):
        pro, det, n = (coded[m] == 1).mean(), (coded[m] == -1).mean(), m.sum()
        parts.append((pro - det, (pro + det - (pro - det) ** 2) / n, n))
    diff = parts[1][0] - parts[0][0]
    se = math.sqrt(parts[0][1] + parts[1][1])
    dfw = (parts[0][1] + parts[1][1]) ** 2 / (parts[0][1] ** 2 / (parts[0][2] - 1)
                                              + parts[1][1] ** 2 / (parts[1][2] - 1))
    q = stats.t.ppf(0.975, dfw)
    np.testing.assert_allclose([r.effect, r.ci_low, r.ci_high],
                               [100 * diff, 100 * (diff - q * se), 100 * (diff + q * se)], **TOL)
    # the population variance differs from scipy's ddof=1 Welch only by n/(n-1)
    ref = stats.ttest_ind(coded[t_mask & ok], coded[~t_mask & ok], equal_var=False)
    np.testing.assert_allclose(r.p_value, ref.pvalue, rtol=1e-2)


@pytest.mark.parametrize("method", ["brunner_munzel", "mann_whitney"])
def test_rank_tests_from_counts_match_scipy(method):
    df = _units()
    spec = {"name": "csat_rank", "kind": "ordinal", "column": "csat", "method": method}
    r = _row(evaluate_pilot(df, metrics=[spec]).results, "csat_rank")
    c = df[(df.variant == "control") & df.csat.notna()].csat.to_numpy()
    t = df[(df.variant == "treatment") & df.csat.notna()].csat.to_numpy()
    if method == "brunner_munzel":
        ref = stats.brunnermunzel(c, t)
        np.testing.assert_allclose([r.statistic, r.p_value], [ref.statistic, ref.pvalue], **TOL)
    else:
        ref = stats.mannwhitneyu(t, c, method="asymptotic")
        np.testing.assert_allclose([r.statistic, r.p_value], [ref.statistic, ref.pvalue],
                                   **TOL)
    u = stats.mannwhitneyu(t, c, method="asymptotic").statistic
    np.testing.assert_allclose(r.treatment_value, u / (len(c) * len(t)), **TOL)


def test_continuous_brunner_munzel_and_bootstrap_match_scipy():
    df = _units()
    specs = [{"name": "bm", "kind": "mean", "column": "revenue", "method": "brunner_munzel"},
             {"name": "boot", "kind": "mean", "column": "revenue", "method": "bootstrap"}]
    res = evaluate_pilot(df, metrics=specs, n_resamples=2000, seed=3).results
    c = df[df.variant == "control"].revenue.to_numpy()
    t = df[df.variant == "treatment"].revenue.to_numpy()
    ref = stats.brunnermunzel(c, t)
    np.testing.assert_allclose(_row(res, "bm").p_value, ref.pvalue, **TOL)
    boot = stats.bootstrap((t, c), lambda a, b, axis=-1: a.mean(axis) - b.mean(axis),
                           n_resamples=2000, method="percentile", vectorized=True,
                           rng=np.random.default_rng(3), batch=200)
    r = _row(res, "boot")
    np.testing.assert_allclose([r.ci_low, r.ci_high], [boot.confidence_interval.low,
                                                       boot.confidence_interval.high], **TOL)


@pytest.mark.parametrize("method", ["fisher", "barnard"])
def test_exact_proportion_tests_match_scipy(method):
    df = _units(n=80, seed=5)
    r = _row(evaluate_pilot(df, metrics=[{"name": "c", "kind": "proportion",
                                          "column": "converted", "method": method}]).results, "c")
    c = df[df.variant == "control"].converted
    t = df[df.variant == "treatment"].converted
    table = [[t.sum(), len(t) - t.sum()], [c.sum(), len(c) - c.sum()]]
    ref = (stats.fisher_exact(table) if method == "fisher" else stats.barnard_exact(table))
    np.testing.assert_allclose(r.p_value, ref.pvalue, **TOL)


def test_small_counts_switch_to_fisher():
    df = pd.DataFrame({"unit_id": range(40), "variant": ["control", "treatment"] * 20,
                       "converted": [1, 0, 0, 0] + [0] * 35 + [1]})
    r = evaluate_pilot(df, metrics=[{"name": "converted", "kind": "proportion"}]).results
    assert "Fisher" in r.method.iloc[0]


def test_kaplan_meier_rmst_logrank_cox_match_lifelines():
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test
    from lifelines.utils import restricted_mean_survival_time

    df = _units(n=800, seed=2, effect=1.0)
    spec = {"name": "checkout", "kind": "time_to_event", "duration": "checkout_time_s",
            "event": "checkout_completed", "tau": 600}
    sa = survival_analysis(df, metric=spec)
    res = evaluate_pilot(df, metrics=[spec]).results
    c = df[df.variant == "control"]
    t = df[df.variant == "treatment"]
    for arm, g in (("control", c), ("treatment", t)):
        kmf = KaplanMeierFitter().fit(g.checkout_time_s, g.checkout_completed)
        curve = sa.curves[sa.curves.variant == arm]
        ref = kmf.survival_function_.iloc[:, 0].reindex(curve.time.to_numpy())
        np.testing.assert_allclose(curve.survival.to_numpy(), ref.to_numpy(), **TOL)
        rm = restricted_mean_survival_time(kmf, t=600)
        col = "rmst_control" if arm == "control" else "rmst_treatment"
        np.testing.assert_allclose(sa.tests[col].iloc[0], rm, **TOL)
        # Greenwood-type variance from lifelines' event table
        et = kmf.event_table
        et = et[(et.index > 0) & (et.index <= 600)]
        sf = kmf.survival_function_.iloc[:, 0]
        times = np.append(sf.loc[:600].index.to_numpy(), 600.0)
        widths = np.diff(times) * sf.loc[:600].to_numpy()
        area = {tt: widths[i:].sum() for i, tt in enumerate(times[:-1])}
        var = sum(area[tt] ** 2 * row.observed / (row.at_risk * (row.at_risk - row.observed))
                  for tt, row in et.iterrows() if row.observed > 0)
        if arm == "control":
            var_c = var
        else:
            var_t = var
    r = _row(res, "checkout")
    np.testing.assert_allclose(r.se, math.sqrt(var_c + var_t), **TOL)
    lr = logrank_test(t.checkout_time_s, c.checkout_time_s, t.checkout_completed,
                      c.checkout_completed)
    np.testing.assert_allclose([sa.tests.logrank_statistic.iloc[0],
                                sa.tests.logrank_p_value.iloc[0]],
                               [lr.test_statistic, lr.p_value], **TOL)
    cox = CoxPHFitter().fit(df.assign(treatment=(df.variant == "treatment").astype(int))[
        ["checkout_time_s", "checkout_completed", "treatment"]], "checkout_time_s",
        "checkout_completed")
    np.testing.assert_allclose(sa.tests.hazard_ratio.iloc[0],
                               cox.summary.loc["treatment", "exp(coef)"], **TOL)
    np.testing.assert_allclose(sa.tests.cox_p_value.iloc[0],
                               cox.summary.loc["treatment", "p"], **TOL)


def test_srm_multiplicity_heterogeneity_match_references():
    from statsmodels.stats.meta_analysis import combine_effects
    from statsmodels.stats.multitest import multipletests

    srm = sample_ratio_mismatch({"control": 410, "treatment": 590},
                                {"control": 0.4, "treatment": 0.6})
    ref = stats.chisquare([410, 590], [400, 600])
    np.testing.assert_allclose([srm.statistic, srm.pvalue], [ref.statistic, ref.pvalue], **TOL)
    p = [0.01, 0.04, 0.03, 0.5]
    np.testing.assert_allclose(adjust_p_values(p, method="holm"),
                               multipletests(p, method="holm")[1], **TOL)
    np.testing.assert_allclose(adjust_p_values(p, method="bh"),
                               multipletests(p, method="fdr_bh")[1], **TOL)
    df = _units(n=3000)
    seg = segment_breakdown(df, metrics=[{"name": "revenue", "kind": "mean"}],
                            segment_col="tier")
    het = combine_effects(seg.effect.to_numpy(), seg.se.to_numpy() ** 2).test_homogeneity()
    np.testing.assert_allclose([seg.q_statistic.iloc[0], seg.heterogeneity_p_value.iloc[0]],
                               [het.statistic, het.pvalue], **TOL)


def test_bayesian_views():
    # closed form for integer posteriors (Miller 2015): P(p_t > p_c)
    from scipy.special import betaln

    a_c, b_c, a_t, b_t = 1 + 12, 1 + 38, 1 + 20, 1 + 30
    closed = sum(math.exp(betaln(a_c + i, b_c + b_t) - math.log(b_t + i)
                          - betaln(1 + i, b_t) - betaln(a_c, b_c)) for i in range(a_t))
    v = beta_binomial_view(12, 50, 20, 50)
    np.testing.assert_allclose(v["prob_better"], closed, rtol=1e-8)
    rng = np.random.default_rng(0)
    pc, pt = rng.beta(a_c, b_c, 2_000_000), rng.beta(a_t, b_t, 2_000_000)
    np.testing.assert_allclose(v["expected_loss"], np.maximum(pc - pt, 0).mean(), atol=3e-4)
    lower = beta_binomial_view(12, 50, 20, 50, better="lower")
    np.testing.assert_allclose(lower["prob_better"], 1 - closed, rtol=1e-8)
    nv = normal_view(0.5, 1.0)
    draws = rng.normal(0.5, 1.0, 2_000_000)
    np.testing.assert_allclose([nv["prob_better"], nv["expected_loss"]],
                               [stats.norm.cdf(0.5), np.maximum(-draws, 0).mean()], atol=2e-3)


def test_confidence_sequence_is_valid_under_repeated_looks():
    """20 weekly looks at an A/A test: the fixed interval is over-claimed, the sequence not."""
    rng = np.random.default_rng(11)
    reps, looks, batch = 4000, 20, 50
    x = rng.normal(size=(reps, looks, batch, 2)).cumsum(axis=1)   # running sums per arm
    n = np.arange(1, looks + 1) * batch
    s = x.sum(axis=2)                                             # (reps, looks, arms)
    mean_diff = (s[..., 1] - s[..., 0]) / n
    se = np.sqrt(2 / n)
    naive = (np.abs(mean_diff) > 1.96 * se).any(axis=1).mean()
    radius = confidence_sequence_radius(se, 2 * n, alpha=0.05, n_planned=2 * n[-1])
    always = (np.abs(mean_diff) > radius).any(axis=1).mean()
    assert naive > 0.15
    assert always <= 0.05


# ---------------------------------------------------------------- A/A false positives
AA_REPS = 10_000


def _aa_rate(pvalues: np.ndarray) -> float:
    return float(np.mean(np.asarray(pvalues) < 0.05))


def _chunks(total: int, size: int):
    for start in range(0, total, size):
        yield min(size, total - start)


def test_aa_false_positive_rate_every_kind():
    """A/A simulations vectorised over experiments, through the same estimators as
    evaluate_pilot (aggregates in, results out). Each rate must be in [0.04, 0.06]."""
    rng = np.random.default_rng(2026)
    n = 300                                 # units per arm
    rates = {}
    # proportion: counts only
    x = rng.binomial(n, 0.3, size=(AA_REPS, 2))
    rates["proportion"] = _aa_rate(proportion_test(x[:, 0], n, x[:, 1], n)["p_value"])
    # mean (skewed, with CUPED) and ratio (with CUPED), in chunks to bound memory
    p_mean, p_ratio = [], []
    for k in _chunks(AA_REPS, 2000):
        arms = []
        for _ in range(2):
            pre = rng.gamma(2.0, 20.0, (k, n))
            y = 0.6 * pre + rng.gamma(2.0, 10.0, (k, n))
            sess = 1.0 + rng.poisson(3, (k, n))
            pre_sess = 1.0 + rng.poisson(3, (k, n))
            arms.append(Aggregates.from_arrays({
                "y": y, "cy": pre, "ry": rng.poisson(0.1 * sess).astype(float), "rx": sess,
                "rcy": rng.poisson(0.1 * pre_sess).astype(float), "rcx": pre_sess}))
        p_mean.append(ratio_of_means_test(arms[0], arms[1], numerator="y",
                                          covariate="cy")["p_value"])
        p_ratio.append(ratio_of_means_test(arms[0], arms[1], numerator="ry",
                                           denominator="rx", covariate="rcy",
                                           covariate_denominator="rcx")["p_value"])
    rates["mean"] = _aa_rate(np.concatenate(p_mean))
    rates["ratio"] = _aa_rate(np.concatenate(p_ratio))
    # ordinal (CSAT 1-5): top-2-box and Brunner-Munzel from level counts
    probs = [0.1, 0.15, 0.25, 0.3, 0.2]
    counts = rng.multinomial(n, probs, size=(AA_REPS, 2)).astype(float)
    top = counts[..., 3:].sum(-1)
    rates["ordinal (top-2-box)"] = _aa_rate(proportion_test(top[:, 0], n, top[:, 1], n)[
        "p_value"])
    rates["ordinal (Brunner-Munzel)"] = _aa_rate(
        rank_test_from_counts(counts[:, 0], counts[:, 1])["p_value"])
    rates["ordinal (Mann-Whitney)"] = _aa_rate(
        rank_test_from_counts(counts[:, 0], counts[:, 1], method="mann_whitney")["p_value"])
    # nps: detractor / passive / promoter counts
    g = rng.multinomial(n, [0.3, 0.4, 0.3], size=(AA_REPS, 2)).astype(float)
    rates["nps"] = _aa_rate(nps_test(g[:, 0], g[:, 1])["p_value"])
    # time to event: integer times 1..120 s (exponential), censored at 90 s
    times = np.arange(1, 91, dtype=float)
    p_tte = []
    for k in _chunks(AA_REPS, 2500):
        per_arm = []
        for _ in range(2):
            t = np.minimum(np.ceil(rng.exponential(40.0, (k, n))), 90).astype(int)
            completed = t < 90
            ev = np.zeros((k, 90))
            ce = np.zeros((k, 90))
            rows = np.repeat(np.arange(k), n)
            np.add.at(ev, (rows, t.ravel() - 1), completed.ravel())
            np.add.at(ce, (rows, t.ravel() - 1), ~completed.ravel())
            per_arm.append(rmst_from_counts(times, ev, ce, tau=90.0))
        (r0, v0), (r1, v1) = per_arm
        p_tte.append(2 * stats.norm.sf(np.abs(r1 - r0) / np.sqrt(v0 + v1)))
    rates["time_to_event"] = _aa_rate(np.concatenate(p_tte))
    bad = {k: v for k, v in rates.items() if not 0.04 <= v <= 0.06}
    assert not bad, f"A/A false-positive rates outside [0.04, 0.06]: {bad} (all: {rates})"


# ---------------------------------------------------------------- bad input
@pytest.fixture()
def good() -> pd.DataFrame:
    return _units(n=200)


REV = [{"name": "revenue", "kind": "mean"}]


@pytest.mark.parametrize("mutate, match", [
    (lambda d: d[d.variant == "control"], r"arm 'treatment' of the plan has no units"),
    (lambda d: pd.concat([d, d.iloc[[3]].assign(variant="treatment" if d.variant.iloc[3] ==
                                                 "control" else "control")]),
     r"unit 'U00003' appears in 2 arms \['control', 'treatment'\] \(rows 4, 201\)"),
    (lambda d: d.assign(variant=d.variant.where(d.index != 7, "treatmnt")),
     r"column 'variant' has label\(s\) \['treatmnt'\] that are not arms of the plan "
     r"\['control', 'treatment'\] \(row\(s\) 8 \(unit 'U00007'\)\)"),
    (lambda d: d.assign(revenue=5.0), r"column 'revenue' \(metric 'revenue'\) has no variation"),
    (lambda d: d[(d.variant == "control") | (d.index == d[d.variant == "treatment"].index[0])],
     r"units.csv: arm 'treatment' has 1 unit\(s\) with a value of 'revenue' \(metric "
     r"'revenue'\); at least 2 per arm are needed"),
    (lambda d: d.assign(revenue=d.revenue.where(d.index != 5)),
     r"column 'revenue': 1 row\(s\) without a number for mean metric 'revenue' .*first "
     r"row\(s\): 6 \(unit 'U00005'\)"),
])
def test_bad_input_messages(good, mutate, match):
    with pytest.raises(ValueError, match=match):
        evaluate_pilot(mutate(good), metrics=REV, name="units.csv",
                       planned_split={"control": 0.5, "treatment": 0.5})


def test_cuped_without_pre_period_data(good):
    spec = [{"name": "revenue", "kind": "mean", "covariate": "pre_revenue_x"}]
    with pytest.raises(ValueError, match=r"units.csv: no pre-period data for CUPED: column "
                                         r"'pre_revenue_x' \(covariate of metric 'revenue'\)"):
        evaluate_pilot(good, metrics=spec, name="units.csv")
    spec = [{"name": "revenue", "kind": "mean", "covariate": "pre_revenue"}]
    with pytest.raises(ValueError, match=r"column 'pre_revenue': 1 row\(s\) without pre-period "
                                         r"data for CUPED .*first row\(s\): 3"):
        evaluate_pilot(good.assign(pre_revenue=good.pre_revenue.where(good.index != 2)),
                       metrics=spec, name="units.csv")
    with pytest.raises(ValueError, match=r"'pre_revenue' \(CUPED covariate of 'revenue'\) has "
                                         r"no variation"):
        evaluate_pilot(good.assign(pre_revenue=1.0), metrics=spec, name="units.csv")


def test_bad_specs_and_domains(good):
    with pytest.raises(ValueError, match=r"metrics\[0\]: unknown key\(s\) \['colum'\]"):
        evaluate_pilot(good, metrics=[{"name": "x", "kind": "mean", "colum": "revenue"}])
    with pytest.raises(ValueError, match=r"metrics\[0\]: metric 'x': kind must be one of"):
        evaluate_pilot(good, metrics=[{"name": "x", "kind": "average"}])
    with pytest.raises(ValueError, match=r"column 'nps': 1 row\(s\) without an integer 0..10"):
        evaluate_pilot(good.assign(nps=good.nps.where(good.index != 0, 11.0)),
                       metrics=[{"name": "nps", "kind": "nps"}])
    with pytest.raises(ValueError, match=r"column 'converted': 1 row\(s\) without 0 or 1 .*"
                                         r"first row\(s\): 10"):
        evaluate_pilot(good.assign(converted=good.converted.where(good.index != 9, 2)),
                       metrics=[{"name": "converted", "kind": "proportion"}])
    with pytest.raises(ValueError, match=r"missing column\(s\) \['spend'\]"):
        evaluate_pilot(good, metrics=[{"name": "spend", "kind": "mean"}])


# ---------------------------------------------------------------- verdicts and SRM
def test_srm_failure_marks_every_result_untrustworthy():
    df = _units(n=2000)
    res = evaluate_pilot(df, metrics=REV, planned_split={"control": 0.3, "treatment": 0.7})
    assert not res.srm.passed
    assert (~res.results.trustworthy).all()
    assert (res.results.decision == "inconclusive").all()
    assert res.results.reason.str.startswith("untrustworthy: SRM check FAILED").all()


def test_verdict_rule():
    base = {"kind": "mean", "treatment": "t", "better": "higher", "min_effect": np.nan,
            "margin": np.nan}
    rows = pd.DataFrame([
        {**base, "metric": "p", "role": "primary", "effect": 2, "ci_low": 1, "ci_high": 3,
         "p_value_adjusted": 0.001},
        {**base, "metric": "g", "role": "guardrail", "effect": -2, "ci_low": -3,
         "ci_high": -1, "p_value_adjusted": 0.001, "margin": 0.5},
    ])
    from cjmlib.pilots.evaluation import decide

    out = decide(rows)
    assert out.decision.tolist() == ["iterate", "guardrail breached"]
    out = decide(rows.assign(ci_high=[3, 0.0]))
    assert out.decision.tolist() == ["ship", "guardrail ok"]
    out = decide(rows.iloc[[0]].assign(effect=-2, ci_low=-3, ci_high=-1))
    assert out.decision.tolist() == ["stop"]
    out = decide(rows.iloc[[0]].assign(ci_low=-1, p_value_adjusted=0.3))
    assert out.decision.tolist() == ["inconclusive"]
    out = decide(rows.iloc[[0]].assign(effect=0.1, ci_low=-0.2, ci_high=0.4,
                                       p_value_adjusted=0.3, min_effect=1.0))
    assert out.decision.tolist() == ["stop"]


def test_infer_metrics_from_column_types():
    specs = {m.name: m for m in infer_metrics(_units(n=300))}
    assert specs["converted"].kind == "proportion" and specs["converted"].role == "primary"
    assert specs["revenue"].covariate == "pre_revenue"
    assert specs["csat"].kind == "ordinal" and specs["nps"].kind == "nps"
    assert specs["checkout_time"].kind == "time_to_event"
    assert specs["checkout_time"].better == "lower"


# ---------------------------------------------------------------- planted truth
@pytest.fixture(scope="module")
def big_sample(tmp_path_factory) -> Path:
    """The documented sample (20,000 customers, seed 42; 9,360 pilot units), built once."""
    from cjmlib.sample.generator import make_sample

    out = tmp_path_factory.mktemp("pilot_sample") / "raw"
    make_sample(out, n_customers=20_000, seed=42)
    return out


def test_recovers_planted_effects(big_sample):
    """Every planted difference lies inside its interval. Seven 95% intervals miss at least
    once 30% of the time even when every estimator is right, so the intervals here are at
    the Bonferroni family level 1 - 0.05/8 (the notebook reports 95%)."""
    from cjmlib.pilots.design import load_pilot_plan

    truth = json.loads((big_sample / "ground_truth.json").read_text())["ab_lift"]
    plan = load_pilot_plan(ROOT / "configs" / "pilot.yaml")
    family_alpha = 0.05 / 8
    ev = evaluate_pilot(big_sample / "pilot" / "ab_units.csv", metrics=plan.metrics,
                        planned_split=truth["planned_split"], alpha=family_alpha)
    assert ev.srm.passed
    res = ev.results.set_index("metric")
    expected = {"conversion": truth["conversion"]["difference"],
                "revenue_per_customer": truth["revenue_per_customer"]["difference"],
                "support_contacts_per_session":
                    truth["support_contacts_per_session"]["difference"],
                "checkout_time": truth["checkout_rmst_s"]["difference"],
                "csat_top2box": truth["csat_top2box"]["difference"],
                "csat_mean": truth["csat_mean"]["difference"],
                "nps": truth["nps"]["difference"]}
    for metric, value in expected.items():
        r = res.loc[metric]
        assert r.ci_low <= value <= r.ci_high, (metric, value, r.ci_low, r.ci_high)
    sa = survival_analysis(big_sample / "pilot" / "ab_units.csv", alpha=family_alpha,
                           metric=next(m for m in plan.metrics if m.name == "checkout_time"))
    assert sa.tests.hazard_ratio_ci_low.iloc[0] <= truth["checkout_hazard_ratio"] \
        <= sa.tests.hazard_ratio_ci_high.iloc[0]
    assert res.loc["conversion", "decision"] == "ship"
    table = summary_table(ev)
    assert list(table.metric) == list(ev.results.metric)


def test_small_fixture_sample_runs_through(sample_dir, ground_truth):
    ev = evaluate_pilot(sample_dir / "pilot" / "ab_units.csv", bayesian=True, sequential=True)
    assert ev.srm.passed and len(ev.results) >= 5
    assert ev.results[["effect", "ci_low", "ci_high", "p_value"]].notna().all().all()
    conv = ev.results.set_index("metric").loc["converted"]
    assert conv.ci_low <= ground_truth["ab_lift"]["conversion"]["difference"] <= conv.ci_high


# ---------------------------------------------------------------- the notebook on new data
@pytest.mark.slow
def test_notebook_runs_on_a_new_units_file(tmp_path):
    """papermill with only -p units_path on a file whose columns the plan does not know."""
    rng = np.random.default_rng(9)
    n = 900
    variant = np.where(rng.random(n) < 0.5, "control", "treatment")
    rating = rng.integers(1, 6, n).astype(float)
    rating[rng.random(n) < 0.3] = np.nan
    lrt = rng.integers(0, 11, n).astype(float)
    lrt[rng.random(n) < 0.4] = np.nan
    pay = np.round(rng.exponential(60, n), 1)
    new = pd.DataFrame({
        "unit_id": [f"N{i}" for i in range(n)], "variant": variant,
        "clicked": (rng.random(n) < 0.2 + 0.05 * (variant == "treatment")).astype(int),
        "basket_value": np.round(rng.gamma(3, 15, n), 2),
        "pre_basket_value": np.round(rng.gamma(3, 15, n), 2),
        "rating": rating, "nps_score": lrt, "pay_time_s": np.minimum(pay, 300),
        "pay_completed": (pay < 300).astype(int),
        "device": rng.choice(["ios", "android", "web"], n)})
    path = tmp_path / "NEW.csv"
    new.to_csv(path, index=False)
    out_nb = tmp_path / "out.ipynb"
    env = {**os.environ, "CJM_WORKSPACE": str(tmp_path)}
    cmd = [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "05_pilot_eval.ipynb"),
           str(out_nb), "-p", "units_path", str(path), "-p", "output_dir", str(tmp_path / "o"),
           "--cwd", str(tmp_path)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    res = pd.read_csv(tmp_path / "o" / "pilot_results.csv")
    assert set(res.metric) >= {"clicked", "basket_value", "rating", "nps_score", "pay_time"}
    assert res[["effect", "ci_low", "ci_high", "p_value"]].notna().all().all()
    import nbformat

    nb = nbformat.read(out_nb, 4)
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            assert o.get("name") != "stderr", o.get("text")
            assert o.get("output_type") != "error"


# ---------------------------------------------------------------- arms and clusters
def test_three_arms_holm_over_arms():
    df = _units(n=1500)
    df["variant"] = np.random.default_rng(1).choice(["control", "a", "b"], len(df))
    ev = evaluate_pilot(df, metrics=[{"name": "revenue", "kind": "mean", "role": "primary"}],
                        planned_split={"control": 1 / 3, "a": 1 / 3, "b": 1 / 3})
    res = ev.results
    assert res.treatment.tolist() == ["a", "b"]
    from statsmodels.stats.multitest import multipletests

    np.testing.assert_allclose(res.p_value_adjusted,
                               multipletests(res.p_value, method="holm")[1], **TOL)


def test_cluster_randomisation_uses_cluster_totals():
    rng = np.random.default_rng(6)
    stores = np.repeat(np.arange(60), 25)
    arm = np.where(rng.random(60) < 0.5, "control", "treatment")[stores]
    y = rng.normal(0, 1, 60)[stores] + rng.normal(0, 1, len(stores))
    df = pd.DataFrame({"unit_id": np.arange(len(stores)), "variant": arm, "store": stores,
                       "y": y})
    res = evaluate_pilot(df, metrics=[{"name": "y", "kind": "mean"}], cluster_col="store")
    r = res.results.iloc[0]
    # reference: Welch on cluster means (equal cluster sizes: the same estimator)
    means = df.groupby("store").agg(y=("y", "mean"), v=("variant", "first"))
    ref = stats.ttest_ind(means[means.v == "treatment"].y, means[means.v == "control"].y,
                          equal_var=False)
    np.testing.assert_allclose([r.p_value, r.n_control + r.n_treatment], [ref.pvalue, 60],
                               **TOL)
    unit_level = evaluate_pilot(df, metrics=[{"name": "y", "kind": "mean"}]).results.iloc[0]
    assert r.se > 2 * unit_level.se          # ICC 0.5, 25 per store: design effect ~13
    df.loc[0, "variant"] = "treatment" if df.loc[0, "variant"] == "control" else "control"
    with pytest.raises(ValueError, match=r"column 'store': cluster 0 has units in more than "
                                         r"one arm \(rows 1, 2, 3, 4, 5\)"):
        evaluate_pilot(df, metrics=[{"name": "y", "kind": "mean"}], cluster_col="store")
