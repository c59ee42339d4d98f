"""Edge cases of the A/B evaluation (issue 13, "Also: ..."): each gives a correct result
checked against statsmodels, scipy, lifelines or a hand computation, or a clear error."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cjmlib.pilots.design import assign_variants, hash_bucket
from cjmlib.pilots.evaluation import evaluate_pilot
from cjmlib.pilots.quasi_experiments import difference_in_differences
from cjmlib.pilots.srm import sample_ratio_mismatch
from cjmlib.stats.multiplicity import adjust_p_values
from tests.pilots.support import TOL, result_row


def two_arms(control: np.ndarray, treatment: np.ndarray, column: str = "y") -> pd.DataFrame:
    n_c, n_t = len(control), len(treatment)
    return pd.DataFrame({"unit_id": [f"U{i}" for i in range(n_c + n_t)],
                         "variant": ["control"] * n_c + ["treatment"] * n_t,
                         column: np.concatenate([control, treatment])})


def test_perfect_separation_gets_a_newcombe_interval_and_a_score_test():
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        test_proportions_2indep,
    )

    df = two_arms(np.zeros(50), np.ones(50), "converted")
    r = result_row(evaluate_pilot(df, metrics=[{"name": "converted", "kind": "proportion",
                                                "role": "primary"}]).results, "converted")
    with np.errstate(divide="ignore"):  # statsmodels' odds ratio of a 0% arm
        lo, hi = confint_proportions_2indep(50, 50, 0, 50, method="newcomb")
        score = test_proportions_2indep(50, 50, 0, 50, method="score")
    np.testing.assert_allclose([r.ci_low, r.ci_high, r.p_value], [lo, hi, score.pvalue], **TOL)
    assert r.ci_low < 0.95 and r.p_value > 0          # not the Wald [1, 1] and p = 0
    assert "score test" in r.method and "Newcombe" in r.method


@pytest.mark.parametrize("control_mean", [1e-5, 1e-3])
def test_relative_interval_is_left_out_with_a_reason_when_the_control_mean_is_near_zero(
        control_mean):
    rng = np.random.default_rng(0)
    c, t = rng.normal(0, 1, 50), rng.normal(1, 1, 50)
    c = c - c.mean() + control_mean
    r = result_row(evaluate_pilot(two_arms(c, t), metrics=[{"name": "y", "kind": "mean"}])
                   .results, "y")
    assert np.isnan(r.rel_ci_low) and np.isnan(r.rel_ci_high)
    assert "no relative interval: the value of arm 'control'" in r.method
    assert "Fieller" in r.method
    # far from 0 the interval is the log-ratio delta method, computed here by hand
    c, t = rng.normal(10, 1, 40), rng.normal(12, 2, 60)
    r = result_row(evaluate_pilot(two_arms(c, t), metrics=[{"name": "y", "kind": "mean"}])
                   .results, "y")
    a = c.var(ddof=1) / len(c) / c.mean() ** 2
    b = t.var(ddof=1) / len(t) / t.mean() ** 2
    df = (a + b) ** 2 / (a * a / (len(c) - 1) + b * b / (len(t) - 1))
    half = stats.t.ppf(0.975, df) * np.sqrt(a + b)
    ratio = t.mean() / c.mean()
    np.testing.assert_allclose([r.rel_ci_low, r.rel_ci_high],
                               [ratio * np.exp(-half) - 1, ratio * np.exp(half) - 1], **TOL)


def test_rmst_tau_beyond_follow_up_is_capped_at_the_last_time_and_says_so():
    from lifelines import KaplanMeierFitter
    from lifelines.utils import restricted_mean_survival_time

    rng = np.random.default_rng(0)
    time = np.r_[np.minimum(rng.exponential(10, 100), 30), np.minimum(rng.exponential(12, 100),
                                                                        40)].round(2)
    df = two_arms(time[:100], time[100:], "t").assign(done=(time < [30] * 100 + [40] * 100)
                                                      .astype(int))
    r = result_row(evaluate_pilot(df, metrics=[{"name": "t", "kind": "time_to_event",
                                                "duration": "t", "event": "done",
                                                "tau": 100.0}]).results, "t")
    last = min(df[df.variant == arm].t.max() for arm in ("control", "treatment"))
    assert last == 30
    assert "capped: tau = 100 lies beyond the follow-up of arm 'control'" in r.method
    for arm, value in (("control", r.control_value), ("treatment", r.treatment_value)):
        arm_rows = df[df.variant == arm]
        km = KaplanMeierFitter().fit(arm_rows.t, arm_rows.done)
        np.testing.assert_allclose(value, restricted_mean_survival_time(km, t=last), **TOL)


def test_a_variant_column_coded_0_and_1_is_evaluated():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"unit_id": range(80), "variant": np.repeat([0, 1], 40),
                       "y": rng.normal(0, 1, 80) + np.repeat([0.0, 0.5], 40)})
    r = result_row(evaluate_pilot(df, metrics=[{"name": "y", "kind": "mean"}], control="0")
                   .results, "y")
    ref = stats.ttest_ind(df.y[df.variant == 1], df.y[df.variant == 0], equal_var=False)
    np.testing.assert_allclose([r.statistic, r.p_value], [ref.statistic, ref.pvalue], **TOL)
    assert (r.control, r.treatment) == ("0", "1")


def test_a_single_arm_without_a_plan_is_a_clear_error():
    df = pd.DataFrame({"unit_id": range(10), "variant": "control", "y": np.arange(10.0)})
    with pytest.raises(ValueError, match=r"column 'variant' holds the single arm \['control'\]"):
        evaluate_pilot(df, metrics=[{"name": "y", "kind": "mean"}])


@pytest.mark.parametrize("bad", [np.inf, -np.inf])
def test_an_infinite_value_is_named_by_column_and_row(bad):
    df = two_arms(np.arange(10.0), np.arange(10.0) + 1)
    df.loc[3, "y"] = bad
    with pytest.raises(ValueError, match=r"column 'y': 1 row\(s\) without a finite value for "
                                         r"metric 'y'.*first row\(s\): 4 \(unit 'U3'\)"):
        evaluate_pilot(df, metrics=[{"name": "y", "kind": "mean"}])


@pytest.mark.parametrize("kind, method", [("mean", "welch"), ("mean", "mann_whitney"),
                                          ("mean", "bootstrap"), ("ordinal", "mean"),
                                          ("ordinal", "brunner_munzel")])
def test_one_value_per_arm_is_reported_as_a_difference_not_as_the_same_value(kind, method):
    df = two_arms(np.ones(50), np.full(50, 5.0))
    with pytest.raises(ValueError) as err:
        evaluate_pilot(df, metrics=[{"name": "y", "kind": kind, "method": method}])
    message = str(err.value)
    assert "one value per arm (1 in 'control', 5 in 'treatment'): the arms differ" in message
    assert "same value" not in message


def test_a_did_outcome_with_nothing_to_estimate_is_refused():
    rows = [{"unit": u, "period": p, "treated": int(u < 2), "post": int(p >= 3),
             "flat": 5.0, "additive": u + 2.0 * p} for u in range(8) for p in range(6)]
    panel = pd.DataFrame(rows)
    with pytest.raises(ValueError, match=r"'flat' is constant \(5 in every unit and period\): "
                                         r"there is nothing to estimate"):
        difference_in_differences(panel, outcomes=["flat"])
    with pytest.raises(ValueError, match=r"'additive' is exactly a unit effect plus a period "
                                         r"effect.*nothing to estimate"):
        difference_in_differences(panel, outcomes=["additive"])


def test_holm_and_bh_leave_nan_p_values_out_of_the_family():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, np.nan, 0.03, 0.04, np.nan])
    tested = ~np.isnan(p)
    for method, reference in (("holm", "holm"), ("bh", "fdr_bh")):
        out = adjust_p_values(p, method=method)
        assert np.isnan(out[~tested]).all()
        np.testing.assert_allclose(out[tested], multipletests(p[tested], method=reference)[1],
                                   **TOL)
    # by hand: Holm over three tests, not five
    np.testing.assert_allclose(adjust_p_values(p)[tested], [0.03, 0.06, 0.06], **TOL)


def test_unit_ids_1_and_1_point_0_hash_to_the_same_bucket():
    ids = [1, 1.0, np.int64(1), np.float64(1.0), "1"]
    digest = hashlib.sha256(b"s:1").digest()
    by_hand = int.from_bytes(digest[:8], "big") / 2**64
    np.testing.assert_array_equal(hash_bucket(ids, salt="s"), [by_hand] * len(ids))
    assert hash_bucket([2.5], salt="s")[0] == int.from_bytes(
        hashlib.sha256(b"s:2.5").digest()[:8], "big") / 2**64
    with pytest.raises(ValueError, match=r"position 2: unit id nan"):
        hash_bucket(["a", float("nan")], salt="s")


def test_assignment_does_not_depend_on_the_order_of_the_arms_in_the_plan():
    ids = [f"u{i}" for i in range(300)]
    split = {"treatment_b": 0.2, "control": 0.5, "treatment_a": 0.3}
    first = assign_variants(ids, salt="s", split=split)
    again = assign_variants(ids, salt="s", split=dict(reversed(list(split.items()))))
    pd.testing.assert_series_equal(first, again)
    # by hand: consecutive slices of [0, 1) in alphabetical order of the arm names
    bucket = [int.from_bytes(hashlib.sha256(f"s:{u}".encode()).digest()[:8], "big") / 2**64
              for u in ids]
    expected = ["control" if b < 0.5 else "treatment_a" if b < 0.8 else "treatment_b"
                for b in bucket]
    assert first.tolist() == expected


def test_srm_counts_units_in_arms_outside_the_plan():
    srm = sample_ratio_mismatch({"control": 100, "treatment": 100, "holdout": 50},
                                {"control": 0.5, "treatment": 0.5})
    assert not srm.passed and srm.pvalue == 0
    assert srm.unplanned == {"holdout": 50}
    assert "50 unit(s) in arm(s) ['holdout']" in srm.message()
    table = srm.to_pandas().set_index("arm")
    # by hand: 250 units under a 50/50 plan, 0 expected where the plan has no arm
    assert table.loc["holdout", "planned_share"] == 0
    assert table["expected_units"].to_dict() == {"control": 125.0, "treatment": 125.0,
                                                 "holdout": 0.0}


def test_barnard_is_run_only_in_small_arms_and_the_score_test_above(monkeypatch):
    from statsmodels.stats.proportion import test_proportions_2indep

    spec = [{"name": "c", "kind": "proportion", "method": "barnard"}]
    small = two_arms(np.r_[np.ones(8), np.zeros(32)], np.r_[np.ones(15), np.zeros(25)], "c")
    r = result_row(evaluate_pilot(small, metrics=spec).results, "c")
    np.testing.assert_allclose(r.p_value, stats.barnard_exact([[15, 25], [8, 32]]).pvalue,
                               **TOL)
    assert "Barnard exact test" in r.method

    def refuse(*args, **kwargs):
        raise AssertionError("Barnard's test run on a large arm")

    monkeypatch.setattr(stats, "barnard_exact", refuse)
    large = two_arms(np.r_[np.ones(60), np.zeros(540)], np.r_[np.ones(80), np.zeros(520)], "c")
    r = result_row(evaluate_pilot(large, metrics=spec).results, "c")
    score = test_proportions_2indep(80, 600, 60, 600, method="score")
    np.testing.assert_allclose([r.p_value, r.statistic], [score.pvalue, score.statistic], **TOL)
    assert "Miettinen-Nurminen score test (Barnard's exact test is run up to 500" in r.method
