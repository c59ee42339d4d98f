"""Channel switching (cjmlib.journeys.channels).

References: hand counts on a small log, statsmodels (Wilson and Newcombe intervals, score
test), and the planted channel switch of the sample: customers whose web journey moved to
the call centre churn more (ground_truth.json churn_switch).
"""

from __future__ import annotations

import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.channels import channel_transitions, switching_journeys, switching_outcomes

T0 = pd.Timestamp("2026-03-02 10:00:00", tz="UTC")


def events(rows):
    return pd.DataFrame([{"customer_id": c, "event_time": T0 + pd.Timedelta(seconds=s),
                          "channel": ch, "touchpoint": tp, "stage": "service",
                          "session_id": None, "duration_s": None, "value": None,
                          "source": "test", "seq": i}
                         for i, (c, s, tp, ch) in enumerate(rows)])


LOG = events([
    ("A", 0, "help", "web"), ("A", 10, "call", "call_center"), ("A", 20, "help", "web"),
    ("B", 0, "help", "web"), ("B", 10, "call", "call_center"),
    ("C", 0, "help", "web"), ("C", 10, "buy", "web"),
    ("D", 0, "help", "app"), ("D", 10, "buy", "app"),
    ("E", 0, "help", "web"),
])
CUSTOMERS = pd.DataFrame({"customer_id": list("ABCDE"),
                          "status": ["churned", "churned", "active", "active", None],
                          "churned": [True, True, False, False, None]})


def test_channel_transitions_by_hand():
    j = build_journeys(LOG, conversion_touchpoints=["buy"])
    t = channel_transitions(j).set_index(["source_channel", "target_channel"])
    assert t.loc[("web", "call_center"), "count"] == 2
    assert t.loc[("call_center", "web"), "count"] == 1
    assert t.loc[("web", "web"), "count"] == 1
    # web is left 3 times: 2 to the call centre, 1 to web
    assert t.loc[("web", "call_center"), "probability"] == pytest.approx(2 / 3)
    assert t.loc[("web", "call_center"), "switch"]
    assert not t.loc[("web", "web"), "switch"]
    only = channel_transitions(j, cross_channel_only=True)
    assert only["switch"].all() and len(only) == 2


def test_switching_outcomes_by_hand_and_against_statsmodels():
    j = build_journeys(LOG, conversion_touchpoints=["buy"])
    out = switching_outcomes(j, customers=CUSTOMERS, outcome="status",
                             outcome_value="churned", min_count=1)
    row = out.set_index(["from_channel", "to_channel"]).loc[("web", "call_center")]
    # E has no status: left out. Switchers A, B (both churned); stayers C, D (none churned)
    assert (row["switchers"], row["switcher_outcomes"], row["stayers"],
            row["stayer_outcomes"]) == (2, 2, 2, 0)
    assert row["difference"] == 1.0
    low, high = proportion_confint(2, 2, method="wilson")
    assert (row["switcher_rate_ci_low"], row["switcher_rate_ci_high"]) == pytest.approx(
        (low, high))
    d_low, d_high = confint_proportions_2indep(2, 2, 0, 2, method="newcomb")
    assert (row["difference_ci_low"], row["difference_ci_high"]) == pytest.approx(
        (d_low, d_high))
    same = switching_outcomes(j, customers=CUSTOMERS, outcome="churned", min_count=1)
    assert same.set_index(["from_channel", "to_channel"]).loc[
        ("web", "call_center"), "switcher_rate"] == 1.0
    conv = switching_outcomes(j, min_count=1).set_index(["from_channel", "to_channel"])
    assert conv.loc[("web", "call_center"), "stayer_rate"] == pytest.approx(2 / 3)  # C, D of C,D,E
    journeys = switching_journeys(j).set_index("journey_type")
    assert journeys.loc["switches channel", "journeys"] == 2
    assert journeys.loc["single channel", "conversion_rate"] == pytest.approx(2 / 3)


def test_outcome_errors():
    j = build_journeys(LOG, conversion_touchpoints=["buy"])
    with pytest.raises(ValueError, match=r"outcome column 'churn' not found; expected it in the "
                                         r"customers table, found \['customer_id', 'status'"):
        switching_outcomes(j, customers=CUSTOMERS, outcome="churn")
    with pytest.raises(ValueError, match=r"outcome column 'status' is string; expected 0/1 or "
                                         r"boolean, or pass outcome_value"):
        switching_outcomes(j, customers=CUSTOMERS, outcome="status")


def test_planted_web_to_call_centre_switch_churns_more(sample_dir, ground_truth):
    truth = pd.read_parquet(sample_dir / "ground_truth" / "events.parquet")
    ev = truth.rename(columns={"person_id": "customer_id"}).assign(source="t", session_id=None)
    ev["seq"] = ev.groupby("customer_id").cumcount()
    persons = pd.read_csv(sample_dir / "ground_truth" / "persons.csv")
    customers = pd.DataFrame({
        "customer_id": persons["person_id"],
        # churn is recorded for registered customers only (CRM status)
        "churned": persons["churn_date"].notna().astype(float).where(
            persons["kind"] == "registered")})
    j = build_journeys(ev, conversion_touchpoints=ground_truth["conversion_touchpoints"],
                       exclude_touchpoints=["email_sent", "email_open"])
    out = switching_outcomes(j, customers=customers, outcome="churned")
    planted = ground_truth["churn_switch"]
    top = out.iloc[0]
    assert (top["from_channel"], top["to_channel"]) == (planted["from"], planted["to"])
    assert top["difference_ci_low"] > 0
    assert top["switchers"] == planted["customers_switching"]
    assert top["switcher_rate"] == pytest.approx(planted["churn_rate_switching"], abs=1e-4)
    assert top["stayer_rate"] == pytest.approx(planted["churn_rate_not_switching"], abs=1e-4)
