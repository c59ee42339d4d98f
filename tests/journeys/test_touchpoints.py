"""Touchpoint metrics, priority score and importance-performance (cjmlib.journeys.touchpoints).

References: hand counts on a small log, statsmodels' Wilson interval, the priority formula
evaluated by hand, and the planted pain point (payment) of the generated sample, ranked
first from the collected tables and the voice module's survey metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportion_confint

from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.touchpoints import (
    METRIC_COLUMNS,
    PRIORITY_WEIGHTS,
    importance_performance,
    prioritise,
    touchpoint_metrics,
)

T0 = pd.Timestamp("2026-03-02 10:00:00", tz="UTC")


def events(rows):
    return pd.DataFrame([{"customer_id": c, "event_time": T0 + pd.Timedelta(seconds=s),
                          "channel": ch, "touchpoint": tp, "stage": st, "session_id": None,
                          "duration_s": d, "value": None, "source": "test", "seq": i}
                         for i, (c, s, tp, ch, st, d) in enumerate(rows)])


LOG = events([
    ("A", 0, "home", "web", "consideration", 10.0), ("A", 10, "cart", "web", "purchase", 20.0),
    ("A", 20, "pay", "web", "purchase", 100.0), ("A", 30, "cart", "web", "purchase", 30.0),
    ("A", 40, "pay", "app", "purchase", 300.0), ("A", 50, "buy", "web", "purchase", 5.0),
    ("B", 0, "home", "web", "consideration", 12.0), ("B", 10, "cart", "web", "purchase", 25.0),
    ("B", 20, "pay", "web", "purchase", 200.0),
    ("C", 0, "home", "app", "consideration", 14.0),
    ("D", 0, "cart", "web", "purchase", 40.0),
])


def test_behaviour_metrics_by_hand():
    j = build_journeys(LOG, conversion_touchpoints=["buy"])
    m = touchpoint_metrics(j, removal_effects=False).set_index("touchpoint")
    assert list(m.reset_index().columns[:len(METRIC_COLUMNS)]) == list(METRIC_COLUMNS)
    # pay: events A, A, B; journeys A, B; A converted; B ended at pay without converting
    assert m.loc["pay", ["events", "customers", "journeys", "converted_journeys", "exits"]
                 ].tolist() == [3, 2, 2, 1, 1]
    assert m.loc["pay", "reach_share"] == pytest.approx(2 / 4)
    assert m.loc["pay", "conversion_rate"] == pytest.approx(1 / 2)
    low, high = proportion_confint(1, 2, method="wilson")
    assert (m.loc["pay", "ci_low"], m.loc["pay", "ci_high"]) == pytest.approx((low, high))
    assert m.loc["pay", "exit_rate"] == pytest.approx(1 / 2)
    assert m.loc["pay", "median_duration_s"] == pytest.approx(200.0)
    assert m.loc["pay", "p90_duration_s"] == pytest.approx(np.quantile([100, 300, 200], 0.9))
    # base rate 1/4, so a touchpoint on A's path lifts conversion
    assert m.loc["pay", "conversion_lift"] == pytest.approx(0.5 / 0.25)
    # loops: A goes cart -> pay -> cart and pay -> cart -> pay
    assert m.loc["cart", "loops"] == 1 and m.loc["pay", "loops"] == 1
    assert m.loc["cart", "loop_rate"] == pytest.approx(1 / 3)
    assert m.loc["cart", "repeat_rate"] == pytest.approx(1 / 3)  # A twice, B once, D once
    assert m.loc["home", "exit_rate"] == pytest.approx(1 / 3)  # C
    assert m.loc["buy", "exit_rate"] == 0
    assert m.loc["home", "stage"] == "consideration"
    assert m["small_cell"].all() and (m["channel"] == "all").all()
    assert np.isnan(m.loc["pay", "csat_mean"]) and np.isnan(m.loc["pay", "removal_effect"])


def test_metrics_by_channel_and_by_segment():
    j = build_journeys(LOG, conversion_touchpoints=["buy"])
    m = touchpoint_metrics(j, by_channel=True, removal_effects=False)
    pay = m[m["touchpoint"] == "pay"].set_index("channel")
    assert pay.loc["web", "journeys"] == 2 and pay.loc["app", "journeys"] == 1
    assert pay.loc["web", "exits"] == 1  # B ended at pay on the web
    assert pay.loc["app", "conversion_rate"] == 1.0
    customers = pd.DataFrame({"customer_id": ["A", "B", "C", "D"],
                              "tier": ["gold", "gold", "bronze", "bronze"]})
    js = build_journeys(LOG, conversion_touchpoints=["buy"], customers=customers,
                        segment_col="tier")
    s = touchpoint_metrics(js, by_segment=True)
    home = s[s["touchpoint"] == "home"].set_index("tier")
    assert home.loc["gold", "reach_share"] == 1.0 and home.loc["bronze", "reach_share"] == 0.5
    assert home.loc["bronze", "customers_total"] == 2
    with pytest.raises(ValueError, match="by_segment=True needs journeys built with "
                                         "segment_col"):
        touchpoint_metrics(j, by_segment=True)


def test_priority_formula_by_hand():
    metrics = pd.DataFrame({
        "touchpoint": ["pay", "help", "buy"], "channel": "all",
        "exit_rate": [0.4, 0.9, 0.0], "loop_rate": [0.1, 0.0, 0.0],
        "median_duration_s": [150.0, 60.0, 10.0], "csat_mean": [2.0, 3.0, np.nan],
        "nps": [-60.0, np.nan, np.nan], "sentiment_mean": [np.nan, np.nan, np.nan],
        "removal_effect": [0.5, 0.05, np.nan]})
    targets = pd.DataFrame({"touchpoint": ["pay"], "median_duration_s": [100.0]})
    out = prioritise(metrics, targets=targets, conversion_touchpoints=["buy"]).set_index(
        "touchpoint")
    w = PRIORITY_WEIGHTS
    pain_pay = (w["exit"] * 0.4 + w["loop"] * 0.1 + w["time"] * 0.5 + w["csat"] * 0.75
                + w["nps"] * 0.8) / (w["exit"] + w["loop"] + w["time"] + w["csat"] + w["nps"])
    assert out.loc["pay", "pain"] == pytest.approx(pain_pay)
    assert out.loc["pay", "priority_score"] == pytest.approx(round(100 * pain_pay * 1.0, 2))
    pain_help = (w["exit"] * 0.9 + w["csat"] * 0.5) / (w["exit"] + w["loop"] + w["csat"])
    impact_help = 0.05 / 0.5
    assert out.loc["help", "priority_score"] == pytest.approx(
        round(100 * pain_help * (0.5 + 0.5 * impact_help), 2))
    assert np.isnan(out.loc["buy", "priority_score"])  # conversion with behaviour only
    assert out.loc["pay", "priority_rank"] == 1
    assert out.loc["pay", "priority_basis"] == "exit, loop, time, csat, nps"
    reweighted = prioritise(metrics, weights={"exit": 1.0, "loop": 0, "time": 0, "csat": 0,
                                              "nps": 0}).set_index("touchpoint")
    assert reweighted.loc["help", "priority_rank"] == 1
    with pytest.raises(ValueError, match=r"priority weights \['speed'\] are not signals"):
        prioritise(metrics, weights={"speed": 1.0})


def test_importance_performance_quadrants():
    m = pd.DataFrame({"touchpoint": ["a", "b", "c", "d", "e"],
                      "removal_effect": [0.9, 0.8, 0.1, 0.2, np.nan],
                      "csat_mean": [2.0, 4.5, 2.5, 4.8, 4.0], "exit_rate": 0.1})
    g = importance_performance(m).set_index("touchpoint")
    assert g["quadrant"].to_dict() == {"a": "concentrate here", "b": "keep up the good work",
                                       "c": "low priority", "d": "possible overkill",
                                       "e": "not rated"}
    assert g["importance_split"].iloc[0] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="performance column 'nps' not found"):
        importance_performance(m, performance="nps")


def test_planted_pain_point_ranks_first_on_the_collected_sample(processed_dir, ground_truth):
    from cjmlib.voice.surveys import survey_metrics

    cfg_conversions = ground_truth["conversion_touchpoints"]
    attitude = survey_metrics(processed_dir / "feedback.parquet", by=["touchpoint"])
    for unit in ("session", "customer"):
        j = build_journeys(processed_dir / "events.parquet", unit=unit, sessions="inactivity",
                           conversion_touchpoints=cfg_conversions,
                           exclude_touchpoints=["email_sent", "email_open"])
        m = touchpoint_metrics(j, attitude=attitude)
        ranked = m.sort_values("priority_rank")
        assert ranked["touchpoint"].iloc[0] == ground_truth["pain_point_touchpoint"], unit
        top = ranked.iloc[0]
        assert top["csat_mean"] == m["csat_mean"].min()
    # with behaviour alone, the session view still puts payment in the top three
    behaviour = touchpoint_metrics(build_journeys(
        processed_dir / "events.parquet", unit="session", sessions="inactivity",
        conversion_touchpoints=cfg_conversions, exclude_touchpoints=["email_sent",
                                                                     "email_open"]))
    assert "payment" in behaviour.sort_values("priority_rank")["touchpoint"].head(4).tolist()
    pay = behaviour.set_index("touchpoint").loc["payment"]
    assert pay["exit_rate"] == pytest.approx(ground_truth["pain_point"]["realised_exit_share"],
                                             abs=0.03)
