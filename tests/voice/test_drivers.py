"""Key-driver analysis against independent references: Shapley values computed by brute force
over every order of entry with statsmodels OLS R^2, the full-model R^2 of statsmodels, a
planted driver in simulated data, and the sample's planted key driver."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from cjmlib.voice import drivers


def _simulated(n: int = 600, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    common = rng.normal(size=n)
    x = {f"d{j}": 0.6 * common + rng.normal(size=n) for j in range(4)}
    y = 0.1 * x["d0"] + 0.6 * x["d1"] + 0.2 * x["d2"] + 0.05 * x["d3"] + rng.normal(0, 0.7, n)
    return pd.DataFrame({**x, "y": y})


def _ols_r2(frame: pd.DataFrame, cols: list[str]) -> float:
    if not cols:
        return 0.0
    return float(sm.OLS(frame["y"], sm.add_constant(frame[cols])).fit().rsquared)


def test_shapley_matches_brute_force_over_all_orders():
    frame = _simulated()
    names = ["d0", "d1", "d2", "d3"]
    gains = dict.fromkeys(names, 0.0)
    orders = list(itertools.permutations(names))
    for order in orders:
        for k, name in enumerate(order):
            gains[name] += _ols_r2(frame, list(order[:k + 1])) - _ols_r2(frame, list(order[:k]))
    expected = np.array([gains[n] / math.factorial(4) for n in names])
    corr = np.corrcoef(frame[names + ["y"]].to_numpy(), rowvar=False)
    assert drivers.shapley_r2(corr) == pytest.approx(expected, abs=1e-10)
    assert drivers.shapley_r2(corr).sum() == pytest.approx(_ols_r2(frame, names))


def test_relative_weights_add_up_to_r2_and_agree_on_the_order():
    frame = _simulated()
    names = ["d0", "d1", "d2", "d3"]
    corr = np.corrcoef(frame[names + ["y"]].to_numpy(), rowvar=False)
    rw = drivers.relative_weights(corr)
    assert rw.sum() == pytest.approx(_ols_r2(frame, names))
    assert np.argsort(rw).tolist() == np.argsort(drivers.shapley_r2(corr)).tolist()


def test_key_drivers_find_the_planted_driver_with_intervals():
    frame = _simulated()
    res = drivers.key_drivers(frame, drivers=["d0", "d1", "d2", "d3"], outcome="y", n_boot=200,
                              seed=1)
    t = res.table
    assert t.iloc[0]["driver"] == "d1" and t.iloc[0]["rank"] == 1
    assert t["share"].sum() == pytest.approx(1.0)
    assert t["importance"].sum() == pytest.approx(res.r2)
    assert res.r2 == pytest.approx(_ols_r2(frame, ["d0", "d1", "d2", "d3"]))
    assert (t["importance_ci_low"] <= t["importance"]).all()
    assert (t["importance"] <= t["importance_ci_high"]).all()
    assert res.r2_ci_low < res.r2 < res.r2_ci_high
    assert t.iloc[0]["rank_stability"] > 0.9
    again = drivers.key_drivers(frame, drivers=["d0", "d1", "d2", "d3"], outcome="y",
                                n_boot=200, seed=1)
    pd.testing.assert_frame_equal(t, again.table)
    assert "d1" in res.summary()
    assert list(res.to_pandas().columns[:2]) == ["outcome", "driver"]


def test_listwise_deletion_is_counted():
    frame = _simulated()
    frame.loc[:9, "d2"] = np.nan
    res = drivers.key_drivers(frame, drivers=["d0", "d1", "d2"], outcome="y", n_boot=0)
    assert (res.n, res.n_dropped) == (590, 10)


def test_bad_input_is_named():
    frame = _simulated(30)
    with pytest.raises(ValueError, match=r"need at least two drivers"):
        drivers.key_drivers(frame, drivers=["d0"], outcome="y")
    with pytest.raises(ValueError, match=r"missing column 'd9'"):
        drivers.key_drivers(frame, drivers=["d0", "d9"], outcome="y")
    with pytest.raises(ValueError, match=r"column\(s\) \['d3'\] are constant"):
        drivers.key_drivers(frame.assign(d3=1.0), drivers=["d0", "d3"], outcome="y")
    with pytest.raises(ValueError, match=r"5 complete rows \(of 30\) for 2 drivers; expected "
                                         r"at least 12"):
        drivers.key_drivers(frame.assign(d0=[1.0] * 5 + [np.nan] * 25), drivers=["d0", "d1"],
                            outcome="y")
    many = pd.DataFrame(np.random.default_rng(0).normal(size=(40, 17)),
                        columns=[f"x{j}" for j in range(16)] + ["y"])
    with pytest.raises(ValueError, match=r"up to 15 drivers.*relative_weights"):
        drivers.key_drivers(many, drivers=[f"x{j}" for j in range(16)], outcome="y")


def test_importance_performance_quadrants_by_hand():
    frame = _simulated()
    frame[["d0", "d1", "d2", "d3"]] += [1.0, 0.0, 1.0, 0.0]  # d1 important but low
    res = drivers.key_drivers(frame, drivers=["d0", "d1", "d2", "d3"], outcome="y", n_boot=0)
    ipa = drivers.importance_performance(res).set_index("driver")
    cut_p = ipa["performance"].mean()
    for name, row in ipa.iterrows():
        important, good = row["share"] >= 0.25, row["performance"] >= cut_p
        expected = {(True, False): "concentrate here", (True, True): "keep up the good work",
                    (False, False): "low priority", (False, True): "possible overkill"}
        assert row["quadrant"] == expected[(important, good)], name
    assert ipa.loc["d1", "quadrant"] == "concentrate here"


def _relationship_rows() -> pd.DataFrame:
    rows = []
    for r in range(3):
        for tp, score in (("payment", 2.0 + r), ("support_call", 3.0)):
            rows.append({"customer_id": f"c{r}", "touchpoint": tp, "csat": score, "nps": np.nan,
                         "response_id": f"R{r}", "survey": "relationship"})
        rows.append({"customer_id": f"c{r}", "touchpoint": None, "csat": 4.0, "nps": 7.0 + r,
                     "response_id": f"R{r}", "survey": "relationship"})
    return pd.DataFrame(rows)


def test_driver_data_pivots_one_row_per_respondent():
    customers = pd.DataFrame({"customer_id": ["c0", "c1"], "churned": [True, "false"]})
    data = drivers.driver_data(_relationship_rows(), customers=customers, churn_col="churned")
    assert data["payment"].tolist() == [2.0, 3.0, 4.0]
    assert data["overall_nps"].tolist() == [7.0, 8.0, 9.0]
    assert data["churned"].tolist()[:2] == [1.0, 0.0] and np.isnan(data["churned"].iloc[2])
    assert data.attrs["drivers"] == ["payment", "support_call"]


def test_driver_data_errors():
    fb = _relationship_rows()
    with pytest.raises(ValueError, match=r"no rows of survey 'relationship'; found \['social'\]"):
        drivers.driver_data(fb.assign(survey="social"))
    with pytest.raises(ValueError, match=r"has no overall rows"):
        drivers.driver_data(fb[fb["touchpoint"].notna()])
    dup = pd.concat([fb, fb[fb["touchpoint"].isna()].head(1)])
    with pytest.raises(ValueError, match=r"response 'R0' of survey 'relationship' has more "
                                         r"than one overall row"):
        drivers.driver_data(dup)


def test_sample_key_driver(processed_dir, ground_truth):
    from cjmlib.voice.surveys import read_feedback

    fb = read_feedback(processed_dir / "feedback.parquet")
    data = drivers.driver_data(fb)
    planted = ground_truth["key_driver"]
    assert sorted(data.attrs["drivers"]) == sorted(planted["items"].values())
    for method in ("shapley", "relative_weights"):
        res = drivers.key_drivers(data, drivers=data.attrs["drivers"], outcome="overall_nps",
                                  method=method, n_boot=100, seed=0)
        top = res.table.iloc[0]
        assert top["driver"] == planted["driver"]
        second = res.table.iloc[1]
        assert top["share_ci_low"] > second["share_ci_high"]
