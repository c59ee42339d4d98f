"""Transitions, path variants and loops (cjmlib.journeys.transitions).

References: hand counts on a small log, a plain pandas recomputation of the directly-follows
counts on the generator's truth events, statsmodels for the difference intervals, and the
planted loop (cart -> delivery_options -> cart) of the sample.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from cjmlib.journeys.build import END, START, build_journeys
from cjmlib.journeys.transitions import (
    TRANSITION_COLUMNS,
    compare_transitions,
    loops,
    path_variants,
    transition_matrix,
    transitions,
)

T0 = pd.Timestamp("2026-03-02 10:00:00", tz="UTC")


def events(rows):
    return pd.DataFrame([{"customer_id": c, "event_time": T0 + pd.Timedelta(seconds=s),
                          "channel": "web", "touchpoint": tp, "stage": "purchase",
                          "session_id": None, "duration_s": 1.0, "value": None,
                          "source": "test", "seq": i} for i, (c, s, tp) in enumerate(rows)])


LOG = events([
    ("A", 0, "home"), ("A", 10, "cart"), ("A", 40, "delivery"), ("A", 100, "cart"),
    ("A", 120, "delivery"), ("A", 130, "pay"), ("A", 190, "done"),
    ("B", 0, "home"), ("B", 20, "cart"), ("B", 30, "delivery"), ("B", 50, "cart"),
    ("C", 0, "cart"), ("C", 5, "cart"),
])


def test_transition_counts_probabilities_and_gaps_by_hand():
    j = build_journeys(LOG, conversion_touchpoints=["done"])
    t = transitions(j)
    assert list(t.columns[:5]) == list(TRANSITION_COLUMNS)
    got = t.set_index(["source", "target"])
    expected_counts = {
        (START, "home"): 2, (START, "cart"): 1, ("home", "cart"): 2,
        ("cart", "delivery"): 3, ("delivery", "cart"): 2, ("delivery", "pay"): 1,
        ("pay", "done"): 1, ("done", END): 1, ("cart", END): 1, ("cart", "cart"): 1,
    }
    assert got["count"].to_dict() == expected_counts | {("cart", END): 2}
    # cart is left 6 times: 3 to delivery, 2 to (end), 1 to itself
    assert got.loc[("cart", "delivery"), "probability"] == pytest.approx(3 / 6)
    assert got.loc[("cart", "delivery"), "source_count"] == 6
    low, high = proportion_confint(3, 6, method="wilson")
    assert got.loc[("cart", "delivery"), "probability_ci_low"] == pytest.approx(low)
    assert got.loc[("cart", "delivery"), "probability_ci_high"] == pytest.approx(high)
    # cart -> delivery gaps: 30 (A), 20 (A), 10 (B): median 20 s
    assert got.loc[("cart", "delivery"), "median_gap_s"] == pytest.approx(20.0)
    assert np.isnan(got.loc[(START, "home"), "median_gap_s"])
    assert got["small_cell"].all()  # every source is left fewer than 30 times
    assert t.groupby("source")["probability"].sum().round(12).eq(1).all()
    mat = transition_matrix(t)
    assert mat.loc["cart", "delivery"] == pytest.approx(0.5)
    assert mat.loc[START].sum() == pytest.approx(1.0)


def _pandas_transitions(ev: pd.DataFrame, journey: pd.Series) -> pd.Series:
    """Directly-follows counts, the plain way: sort, shift within journey, count."""
    ev = ev.assign(_j=journey).sort_values(["_j", "event_time", "seq"], kind="stable")
    prev = ev.groupby("_j")["touchpoint"].shift(1).fillna(START)
    nxt = ev.groupby("_j")["touchpoint"].shift(-1)
    pairs = pd.concat([pd.DataFrame({"source": prev, "target": ev["touchpoint"]}),
                       pd.DataFrame({"source": ev.loc[nxt.isna(), "touchpoint"],
                                     "target": END})])
    return pairs.value_counts().sort_index()


@pytest.fixture(scope="module")
def truth_events(sample_dir):
    truth = pd.read_parquet(sample_dir / "ground_truth" / "events.parquet")
    ev = truth.rename(columns={"person_id": "customer_id"}).assign(source="truth",
                                                                   session_id=None)
    ev["seq"] = ev.groupby("customer_id").cumcount()
    return ev[~ev["touchpoint"].isin(["email_sent", "email_open"])].reset_index(drop=True)


CONVERSIONS = ["order_confirmation", "store_purchase"]


def test_counts_equal_a_pandas_recomputation_on_the_sample(truth_events):
    ev = truth_events
    j = build_journeys(ev, conversion_touchpoints=CONVERSIONS, unit="customer")
    got = transitions(j).set_index(["source", "target"])["count"].sort_index()
    expected = _pandas_transitions(ev, ev["customer_id"])
    pd.testing.assert_series_equal(got, expected, check_names=False, check_dtype=False)
    # per visit: 30 minutes of inactivity across channels
    s = ev.sort_values(["customer_id", "event_time", "seq"], kind="stable")
    gap = s.groupby("customer_id")["event_time"].diff()
    visit = (gap.isna() | (gap > pd.Timedelta(minutes=30))).astype(int).groupby(
        s["customer_id"]).cumsum()
    j = build_journeys(ev, conversion_touchpoints=CONVERSIONS, unit="session",
                       sessions="inactivity")
    got = transitions(j).set_index(["source", "target"])["count"].sort_index()
    expected = _pandas_transitions(s, s["customer_id"] + "|" + visit.astype(str))
    pd.testing.assert_series_equal(got, expected, check_names=False, check_dtype=False)


def test_planted_loop_is_the_top_rework(truth_events, ground_truth):
    j = build_journeys(truth_events, conversion_touchpoints=CONVERSIONS, unit="session",
                       sessions="inactivity")
    rework = loops(j)
    top = rework.iloc[0]
    assert {top["touchpoint"], top["via"]} == set(ground_truth["loop"])
    # the generator counts truth journeys with cart -> delivery -> cart; visits split a few
    assert top["journeys"] == pytest.approx(ground_truth["loop_detail"]["journeys_with_loop"],
                                            rel=0.05)


def test_loops_and_path_variants_by_hand():
    j = build_journeys(LOG, conversion_touchpoints=["done"])
    r = loops(j).set_index(["touchpoint", "via"])
    # A: cart-delivery-cart, delivery-cart-delivery; B: cart-delivery-cart
    assert r.loc[("cart", "delivery"), "occurrences"] == 2
    assert r.loc[("cart", "delivery"), "journeys"] == 2
    assert r.loc[("cart", "delivery"), "touchpoint_journeys"] == 3
    assert r.loc[("cart", "delivery"), "loop_rate"] == pytest.approx(2 / 3)
    assert r.loc[("delivery", "cart"), "journeys"] == 1
    assert ("cart", "cart") not in r.index  # an immediate repeat is not a loop
    p = path_variants(j, top=2, max_steps=4)
    assert p["path"].tolist()[0] == "cart > cart"  # ties by journeys, then path
    assert p["path"].iloc[-1] == "(other variants)"
    assert p["journeys"].sum() == 3 and p["share"].sum() == pytest.approx(1)
    assert p["path"].iloc[1] == "home > cart > delivery > cart"  # B
    assert p.iloc[-1][["journeys", "converted"]].tolist() == [1, 1]  # A, cut, in 'other'
    p = path_variants(j, top=5, max_steps=4)
    long = p[p["path"].str.endswith("...")]
    assert long["path"].tolist() == ["home > cart > delivery > cart > ..."]
    assert long[["n_steps", "converted"]].values.tolist() == [[7, 1]]
    assert "(other variants)" not in set(p["path"])


def test_compare_transitions_matches_statsmodels():
    a = pd.DataFrame({"source": ["x", "x", "y"], "target": ["y", END, END],
                      "count": [30, 70, 50], "source_count": [100, 100, 50]})
    b = pd.DataFrame({"source": ["x", "x"], "target": ["y", END], "count": [45, 55],
                      "source_count": [100, 100]})
    d = compare_transitions(a, b, labels=("before", "after")).set_index(["source", "target"])
    assert d.loc[("x", "y"), "difference"] == pytest.approx(0.15)
    low, high = confint_proportions_2indep(45, 100, 30, 100, method="newcomb")
    assert d.loc[("x", "y"), "ci_low"] == pytest.approx(low)
    assert d.loc[("x", "y"), "ci_high"] == pytest.approx(high)
    assert d.loc[("y", END), "source_count_after"] == 0
    assert np.isnan(d.loc[("y", END), "difference"])  # y never left in 'after'
    with pytest.raises(ValueError, match="missing columns"):
        compare_transitions(a.drop(columns="count"), b)


def test_segments_and_periods_diff_on_the_sample(truth_events):
    split = pd.Timestamp("2026-04-01", tz="UTC")
    first = build_journeys(truth_events, conversion_touchpoints=CONVERSIONS,
                           window=(None, split))
    second = build_journeys(truth_events, conversion_touchpoints=CONVERSIONS,
                            window=(split, None))
    d = compare_transitions(transitions(first), transitions(second),
                            labels=("q1", "q2"))
    assert {"difference", "ci_low", "ci_high", "p_value", "p_value_adjusted"} <= set(d.columns)
    both = d.dropna(subset=["difference"])
    assert (both["ci_low"] <= both["difference"]).all()
    assert (both["difference"] <= both["ci_high"]).all()
    assert json.dumps(d.head(3).to_dict("records"), default=str)


def test_sorted_quantiles_path_gives_the_same_tables(truth_events, monkeypatch):
    import cjmlib.journeys.build as journeys_module
    from cjmlib.journeys.touchpoints import touchpoint_metrics

    j = build_journeys(truth_events, conversion_touchpoints=CONVERSIONS, unit="session",
                       sessions="inactivity")
    small = (transitions(j), touchpoint_metrics(j, removal_effects=False))
    monkeypatch.setattr(journeys_module, "SORT_QUANTILES_ABOVE", 0)
    assert j.sort_quantiles
    large = (transitions(j), touchpoint_metrics(j, removal_effects=False))
    for a, b, keys in zip(small, large, (["source", "target"], ["touchpoint"]), strict=True):
        pd.testing.assert_frame_equal(a.sort_values(keys).reset_index(drop=True),
                                      b.sort_values(keys).reset_index(drop=True),
                                      check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("unit, sessions, ends_at_conversion", [
    ("session", "inactivity", False), ("session", "given", False), ("customer", "given", True)])
def test_counts_on_the_collected_events_equal_pandas(processed_dir, unit, sessions,
                                                     ends_at_conversion):
    """What notebook 02 computes from data/processed, recomputed with pandas alone: the
    collected events (not the generator's truth), the config's excluded touchpoints and
    session timeout, given session ids where the source has them."""
    from cjmlib.core.config import ROOT
    from cjmlib.journeys.model import load_journey_config

    config = load_journey_config(ROOT / "configs" / "journey.yaml")
    events = processed_dir / "events.parquet"
    j = build_journeys(events, conversion_touchpoints=CONVERSIONS, unit=unit, sessions=sessions,
                       session_timeout_minutes=config.session_timeout_minutes,
                       ends_at_conversion=ends_at_conversion,
                       exclude_touchpoints=config.exclude_touchpoints)
    got = transitions(j).set_index(["source", "target"])["count"].sort_index()

    ev = pd.read_parquet(events)
    ev = ev[~ev["touchpoint"].isin(config.exclude_touchpoints)]
    ev = ev.sort_values(["customer_id", "event_time", "seq"], kind="stable")
    if unit == "customer":
        journey = ev["customer_id"]
    else:
        gap = ev.groupby("customer_id")["event_time"].diff()
        new = gap.isna() | (gap > pd.Timedelta(minutes=config.session_timeout_minutes))
        visit = new.astype(int).groupby(ev["customer_id"]).cumsum().astype(str)
        journey = ev["customer_id"] + "|" + (visit if sessions == "inactivity" else
                                             ev["session_id"].fillna("~" + visit))
    if ends_at_conversion:
        conv = ev["touchpoint"].isin(CONVERSIONS).astype(int)
        before = conv.groupby(journey).cumsum() - conv
        ev, journey = ev[before == 0], journey[before == 0]
    expected = _pandas_transitions(ev, journey)
    pd.testing.assert_series_equal(got, expected, check_names=False, check_dtype=False)


def test_transitions_refuse_steps_missing_from_the_touchpoint_counts():
    """Touchpoints travel as codes of ``touchpoint_names``; one the counts do not know must
    fail loudly, not be named after another touchpoint or (start)."""
    import dataclasses

    j = build_journeys(LOG, conversion_touchpoints=["done"])
    counts = j.touchpoint_counts
    partial = dataclasses.replace(j, touchpoint_counts=counts[counts["touchpoint"] != "home"])
    with pytest.raises(ValueError, match="missing from touchpoint_counts"):
        transitions(partial)
