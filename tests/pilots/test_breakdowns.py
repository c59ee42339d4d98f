"""Survival detail against lifelines and the segment heterogeneity test against statsmodels."""

from __future__ import annotations

import math

import numpy as np

from cjmlib.pilots.breakdowns import segment_breakdown, survival_analysis
from cjmlib.pilots.evaluation import evaluate_pilot
from tests.pilots.support import TOL, result_row, units_table


def test_kaplan_meier_rmst_logrank_cox_match_lifelines():
    from lifelines import CoxPHFitter, KaplanMeierFitter
    from lifelines.statistics import logrank_test
    from lifelines.utils import restricted_mean_survival_time

    df = units_table(n=800, seed=2, effect=1.0)
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
    r = result_row(res, "checkout")
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


def test_segment_heterogeneity_matches_statsmodels():
    from statsmodels.stats.meta_analysis import combine_effects

    df = units_table(n=3000)
    seg = segment_breakdown(df, metrics=[{"name": "revenue", "kind": "mean"}],
                            segment_col="tier")
    het = combine_effects(seg.effect.to_numpy(), seg.se.to_numpy() ** 2).test_homogeneity()
    np.testing.assert_allclose([seg.q_statistic.iloc[0], seg.heterogeneity_p_value.iloc[0]],
                               [het.statistic, het.pvalue], **TOL)
