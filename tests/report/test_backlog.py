"""Improvement backlog: scores against a hand computation, measured impacts, statuses carried
from run to run, and the config a researcher edits."""

from __future__ import annotations

import pandas as pd
import pytest

from cjmlib.core.config import CONFIGS_DIR
from cjmlib.journeys.model import load_journey_config
from cjmlib.report import backlog as bl


def _metrics() -> pd.DataFrame:
    return pd.DataFrame({
        "touchpoint": ["payment", "cart", "returns"], "stage": "purchase", "channel": "all",
        "customers": [400, 800, 50], "customers_total": 1000, "reach_share": [0.4, 0.8, 0.05],
        "journeys": [500, 1000, 60], "exits": [200, 100, 30],
        "exit_rate": [0.4, 0.1, 0.5], "exit_rate_ci_low": [0.36, 0.08, 0.37],
        "exit_rate_ci_high": [0.44, 0.12, 0.63],
        "csat_mean": [2.0, 4.0, float("nan")], "nps": [-60.0, 20.0, float("nan")],
    })


def _improvements(**status: str) -> list[bl.Improvement]:
    return bl.parse_improvements([
        {"id": "pay", "title": {"en": "Fix payment", "zh": "修复支付"}, "touchpoints": ["payment"],
         "effort_weeks": 4, "exit_reduction": [0.1, 0.3], "status": status.get("pay")},
        {"id": "both", "title": "Basket and payment", "touchpoints": ["cart", "payment"],
         "effort_weeks": 8, "exit_reduction": [0.0, 0.2], "status": status.get("both")},
        {"id": "ret", "title": "Returns", "touchpoints": ["returns"], "effort_weeks": 1,
         "exit_reduction": [0.1, 0.1], "status": status.get("ret")},
    ])


def test_scores_follow_the_documented_formula() -> None:
    b = bl.score_backlog(_improvements(), _metrics(), run_id="r1").set_index("id")
    # payment: severity = mean(exit 0.4, (5-2)/4 = 0.75, (100+60)/200 = 0.8) = 0.65
    assert b.loc["pay", "severity"] == pytest.approx((0.4 + 0.75 + 0.8) / 3)
    assert b.loc["pay", "impact"] == pytest.approx(200 * 0.2)          # exits x mid reduction
    assert b.loc["pay", "impact_low"] == pytest.approx(500 * 0.36 * 0.1)
    assert b.loc["pay", "impact_high"] == pytest.approx(500 * 0.44 * 0.3)
    assert b.loc["pay", "score"] == pytest.approx(40 * (0.5 + 0.5 * 0.65) / 4)
    # two touchpoints: exits add up (a journey exits once), reach is the larger, severity the worst
    assert b.loc["both", "impact"] == pytest.approx((200 + 100) * 0.1)
    assert b.loc["both", "impact_high"] == pytest.approx((500 * 0.44 + 1000 * 0.12) * 0.2)
    assert b.loc["both", "reach_customers"] == 800 and b.loc["both", "reach_share"] == 0.8
    assert b.loc["both", "severity"] == pytest.approx(0.65)
    # returns has no scores: severity is the exit rate alone
    assert b.loc["ret", "severity"] == pytest.approx(0.5)
    assert b.loc["ret", "score"] == pytest.approx(30 * 0.1 * (0.5 + 0.25) / 1)
    ranked = b.sort_values("score", ascending=False).index.tolist()
    assert b.loc[ranked, "rank"].tolist() == [1, 2, 3]
    assert b.loc["pay", "title_zh"] == "修复支付" and b.loc["both", "title_zh"] == "Basket and payment"


def test_a_trustworthy_pilot_replaces_the_modelled_impact() -> None:
    pilot = pd.DataFrame({"metric": ["conversion"], "kind": ["proportion"],
                          "effect": [0.05], "ci_low": [0.01], "ci_high": [0.09],
                          "decision": ["ship"], "trustworthy": [True]})
    items = bl.parse_improvements([{"id": "pay", "touchpoints": ["payment"], "effort_weeks": 4,
                                    "exit_reduction": [0.1, 0.3], "pilot_metric": "conversion",
                                    "status": "piloting"}])
    row = bl.score_backlog(items, _metrics(), pilot_results=pilot).iloc[0]
    assert row["impact_basis"] == "measured in pilot"
    assert (row["impact"], row["impact_low"], row["impact_high"]) == pytest.approx(
        (500 * 0.05, 500 * 0.01, 500 * 0.09))
    assert row["pilot_decision"] == "ship" and row["recommendation"] == "roll_out"
    broken = bl.score_backlog(items, _metrics(),
                              pilot_results=pilot.assign(trustworthy=False)).iloc[0]
    assert broken["impact_basis"] == "modelled" and "untrustworthy" in broken["note"]
    stopped = bl.score_backlog(items, _metrics(),
                               pilot_results=pilot.assign(decision="stop")).iloc[0]
    assert stopped["recommendation"] == "consider_rejecting"


def test_status_is_carried_from_the_previous_run_unless_the_config_decides() -> None:
    first = bl.score_backlog(_improvements(pay="piloting"), _metrics(), run_id="r1")
    assert first.set_index("id")["status"].to_dict() == {"pay": "piloting", "both": "proposed",
                                                         "ret": "proposed"}
    # r2: the config no longer says piloting; a decision rejects 'ret'
    previous = first.assign(status=first["status"].where(first["id"] != "both", "piloting"))
    second = bl.score_backlog(_improvements(ret="rejected"), _metrics(), previous=previous,
                              run_id="r2").set_index("id")
    assert second.loc["pay", ["status", "status_source", "status_since"]].tolist() == [
        "piloting", "previous run", "r1"]
    assert second.loc["both", "status"] == "piloting"
    assert second.loc["ret", ["status", "status_source", "status_since"]].tolist() == [
        "rejected", "config", "r2"]
    assert pd.isna(second.loc["ret", "rank"])  # closed candidates are listed, not ranked
    assert sorted(second["rank"].dropna().astype(int)) == [1, 2]


def test_the_top_proposed_candidate_is_the_one_to_pilot_next() -> None:
    b = bl.score_backlog(_improvements(pay="piloting"), _metrics(), run_id="r1")
    nxt = b[b["recommendation"] == "pilot_next"]
    proposed = b[b["status"] == "proposed"]
    assert len(nxt) == 1 and nxt["rank"].iloc[0] == proposed["rank"].min()


def test_a_touchpoint_missing_from_the_metrics_is_noted_not_invented() -> None:
    items = bl.parse_improvements([{"id": "x", "touchpoints": ["nowhere"], "effort_weeks": 1,
                                    "exit_reduction": [0, 0.1]}])
    row = bl.score_backlog(items, _metrics()).iloc[0]
    assert pd.isna(row["impact"]) and pd.isna(row["rank"])
    assert row["note"] == "not in touchpoint_metrics: nowhere"


@pytest.mark.parametrize(("item", "message"), [
    ({"title": "x"}, "item 1: missing 'id'"),
    ({"id": "a", "effort_weeks": 1}, "'touchpoints' must name at least one touchpoint"),
    ({"id": "a", "touchpoints": "payment", "effort_weeks": 0},
     "'effort_weeks' must be a positive number of person-weeks, found 0"),
    ({"id": "a", "touchpoints": "payment", "effort_weeks": 1, "exit_reduction": [0.3, 0.1]},
     "'exit_reduction' must be [low, high] with 0 <= low <= high <= 1, found [0.3, 0.1]"),
    ({"id": "a", "touchpoints": "payment", "effort_weeks": 1, "status": "done"},
     "'status' must be one of proposed, piloting, shipped, rejected, found 'done'"),
])
def test_bad_config_items_are_named(item: dict, message: str) -> None:
    with pytest.raises(ValueError) as info:
        bl.parse_improvements([item], where="improvements.yaml")
    assert message in str(info.value) and str(info.value).startswith("improvements.yaml, item 1")


def test_duplicate_ids_are_refused() -> None:
    item = {"id": "a", "touchpoints": "payment", "effort_weeks": 1}
    with pytest.raises(ValueError, match=r"item 2 \('a'\): duplicate id"):
        bl.parse_improvements([item, item])


def test_the_shipped_config_names_known_touchpoints() -> None:
    items = bl.load_improvements(CONFIGS_DIR / "improvements.yaml")
    known = set(load_journey_config(CONFIGS_DIR / "journey.yaml").stage_of())
    assert {t for i in items for t in i.touchpoints} <= known
    assert all(i.title.get("zh") for i in items)
    assert any(i.status == "piloting" and i.pilot_metric for i in items)
