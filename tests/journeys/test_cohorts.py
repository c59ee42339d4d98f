"""Acquisition and cohorts (cjmlib.journeys.cohorts) against pandas on a random log, and
statsmodels for the intervals and the test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats import proportion as smp
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.cohorts import acquisition, cohort_retention, new_vs_returning

T0 = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday


def _log(seed: int = 11, customers: int = 250) -> pd.DataFrame:
    """Visits (given session ids) of customers arriving over 10 weeks; a visit converts
    with probability 0.2 on a first visit and 0.35 later."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        t = T0 + pd.Timedelta(hours=float(rng.uniform(0, 24 * 70)))
        for v in range(int(rng.integers(1, 5))):
            steps = ["home", "product"] + (["purchase"] if rng.random() < (0.2 if v == 0
                                                                           else 0.35) else [])
            for k, tp in enumerate(steps):
                rows.append({"customer_id": f"C{c:03d}", "session_id": f"C{c:03d}-{v}",
                             "event_time": t + pd.Timedelta(minutes=k), "touchpoint": tp,
                             "channel": "web", "stage": "purchase", "duration_s": None,
                             "value": None, "source": "t", "seq": k})
            t += pd.Timedelta(days=float(rng.exponential(9)))
    return pd.DataFrame(rows)


def _visits(log: pd.DataFrame) -> pd.DataFrame:
    v = log.groupby("session_id").agg(customer=("customer_id", "first"),
                                      start=("event_time", "min"),
                                      converted=("touchpoint", lambda s: (s == "purchase").any()))
    v["first"] = v.groupby("customer")["start"].transform("min")
    week = lambda t: (t.dt.floor("D") - pd.to_timedelta(t.dt.weekday, unit="D"))  # noqa: E731
    v["week"], v["first_week"] = week(v["start"]), week(v["first"])
    return v


@pytest.fixture(scope="module")
def journeys_and_visits():
    log = _log()
    j = build_journeys(log, conversion_touchpoints=["purchase"], unit="session",
                       sessions="given")
    return j, _visits(log)


def test_acquisition_counts_new_and_returning_per_week(journeys_and_visits) -> None:
    j, v = journeys_and_visits
    got = acquisition(j, period="week", alpha=0.1).set_index("period")
    new = v["week"] == v["first_week"]
    want = pd.DataFrame({
        "customers": v.groupby("week")["customer"].nunique(),
        "new_customers": v[new].groupby("week")["customer"].nunique(),
        "new_journeys": new.groupby(v["week"]).sum(),
        "new_converted": (v["converted"] & new).groupby(v["week"]).sum(),
        "journeys": v.groupby("week").size()}).fillna(0)
    weeks = pd.date_range(v["week"].min(), v["week"].max(), freq="7D")
    assert list(got.index) == list(weeks)  # every week, also one without visits
    for col in want.columns:
        assert got.loc[want.index, col].tolist() == want[col].astype(int).tolist(), col
    row = got.loc[want.index[3]]
    low, high = proportion_confint(row["new_converted"], row["new_journeys"], alpha=0.1,
                                   method="wilson")
    assert (row["new_conversion_rate_ci_low"], row["new_conversion_rate_ci_high"]) == (
        pytest.approx(low), pytest.approx(high))


def test_cohorts_retain_and_convert_as_pandas_says(journeys_and_visits) -> None:
    j, v = journeys_and_visits
    got = cohort_retention(j, period="week", max_age=4).set_index(["cohort", "age"])
    v = v.assign(age=((v["week"] - v["first_week"]) / pd.Timedelta(days=7)).astype(int))
    last = v["week"].max()
    for (cohort, age), row in got.iterrows():
        members = v[v["first_week"] == cohort]
        assert row["cohort_customers"] == members["customer"].nunique()
        assert row["active_customers"] == members[members["age"] == age]["customer"].nunique()
        upto = members[(members["age"] <= age) & members["converted"]]
        assert row["converted_customers"] == upto["customer"].nunique()
        assert cohort + pd.Timedelta(days=7 * age) <= last  # never beyond observation
    first = v["first_week"].min()
    assert len(got.loc[first]) == 5  # the oldest cohort is observed at ages 0..4


def test_first_against_later_journeys_uses_statsmodels(journeys_and_visits) -> None:
    j, v = journeys_and_visits
    row = new_vs_returning(j).iloc[0]
    first = v["start"] == v["first"]
    k1, n1 = int(v.loc[first, "converted"].sum()), int(first.sum())
    k2, n2 = int(v.loc[~first, "converted"].sum()), int((~first).sum())
    assert (row["first_converted"], row["first_journeys"], row["later_converted"],
            row["later_journeys"]) == (k1, n1, k2, n2)
    low, high = confint_proportions_2indep(k2, n2, k1, n1, method="newcomb", compare="diff")
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    p = smp.test_proportions_2indep(k2, n2, k1, n1, method="score", compare="diff").pvalue
    assert row["p_value"] == pytest.approx(p)
    assert row["difference"] == pytest.approx(k2 / n2 - k1 / n1)
