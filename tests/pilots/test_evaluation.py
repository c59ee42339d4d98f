"""Pilot evaluation end to end: SRM failures and the verdict rule, recovery of the sample's
planted effects, the notebook on new data, several arms and cluster randomisation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from cjmlib.pilots.breakdowns import summary_table, survival_analysis
from cjmlib.pilots.design import load_pilot_plan
from cjmlib.pilots.evaluation import decide, evaluate_pilot
from cjmlib.sample.generator import make_sample
from tests.pilots.support import REV, TOL, units_table

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- verdicts and SRM
def test_srm_failure_marks_every_result_untrustworthy():
    df = units_table(n=2000)
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


# ---------------------------------------------------------------- planted truth
@pytest.fixture(scope="module")
def big_sample(tmp_path_factory) -> Path:
    """The documented sample (20,000 customers, seed 42; 9,360 pilot units), built once."""
    out = tmp_path_factory.mktemp("pilot_sample") / "raw"
    make_sample(out, n_customers=20_000, seed=42)
    return out


def test_recovers_planted_effects(big_sample):
    """Every planted difference lies inside its interval. Seven 95% intervals miss at least
    once 30% of the time even when every estimator is right, so the intervals here are at
    the Bonferroni family level 1 - 0.05/8 (the notebook reports 95%)."""
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
    res = pd.read_csv(tmp_path / "o" / "tables" / "pilot_results.csv")
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
    df = units_table(n=1500)
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
