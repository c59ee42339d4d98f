"""Several named outcomes (cjmlib.journeys.outcomes and the journey config's ``outcomes``).

References: a pandas recomputation on a random event log and statsmodels' Wilson interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from statsmodels.stats.proportion import proportion_confint

from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.model import load_journey_config
from cjmlib.journeys.outcomes import outcome_rates

T0 = pd.Timestamp("2026-03-02", tz="UTC")
TOUCHPOINTS = ["campaign", "visit", "coupon_redemption", "purchase", "return"]


def _log(seed: int = 3, customers: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        for k in range(int(rng.integers(1, 7))):
            rows.append({"customer_id": f"H{c:04d}", "event_time": T0 + pd.Timedelta(
                hours=float(rng.uniform(0, 24 * 60))), "channel": "store",
                "touchpoint": str(rng.choice(TOUCHPOINTS, p=[.3, .4, .05, .2, .05])),
                "stage": "purchase", "session_id": None, "duration_s": None, "value": None,
                "source": "test", "seq": k})
    return pd.DataFrame(rows)


def test_outcome_rates_equal_a_pandas_count_with_wilson_intervals() -> None:
    log = _log()
    outcomes = {"purchase": ["purchase"], "redeemed": ["coupon_redemption"],
                "any_response": ["coupon_redemption", "return"]}
    journeys = build_journeys(log, conversion_touchpoints=["purchase"], unit="customer")
    got = outcome_rates(journeys, outcomes, primary="purchase", alpha=0.1).set_index("outcome")
    n = log["customer_id"].nunique()
    for name, tps in outcomes.items():
        hit = log[log["touchpoint"].isin(tps)]["customer_id"].nunique()
        low, high = proportion_confint(hit, n, alpha=0.1, method="wilson")
        row = got.loc[name]
        assert (row["journeys"], row["reached"], row["customers_reached"]) == (n, hit, hit)
        assert row["rate"] == pytest.approx(hit / n)
        assert (row["rate_ci_low"], row["rate_ci_high"]) == pytest.approx((low, high))
    assert got["primary"].tolist() == [True, False, False]
    assert (got["alpha"] == 0.1).all()


def test_session_outcomes_count_journeys_not_customers() -> None:
    log = pd.DataFrame({
        "customer_id": ["A", "A", "A", "B"], "session_id": ["s1", "s1", "s2", "s3"],
        "event_time": [T0, T0 + pd.Timedelta(minutes=1), T0 + pd.Timedelta(days=1), T0],
        "touchpoint": ["visit", "purchase", "purchase", "visit"], "channel": "web",
        "stage": "purchase", "duration_s": None, "value": None, "source": "t", "seq": range(4)})
    journeys = build_journeys(log, conversion_touchpoints=["purchase"], unit="session",
                              sessions="given")
    row = outcome_rates(journeys, {"purchase": ["purchase"]}).iloc[0]
    # by hand: sessions s1, s2 (A) and s3 (B); s1 and s2 reach a purchase, by one customer
    assert (row["journeys"], row["reached"], row["customers"], row["customers_reached"]) == (
        3, 2, 2, 1)


def test_the_journey_config_names_outcomes_and_checks_them(tmp_path) -> None:
    base = {"stages": ["awareness", "purchase"],
            "touchpoints": {t: {"stage": "purchase"} for t in TOUCHPOINTS}}
    path = tmp_path / "journey.yaml"
    path.write_text(yaml.safe_dump({**base, "outcomes": {
        "redeemed": ["coupon_redemption"], "purchase": ["purchase"]}}, sort_keys=False))
    cfg = load_journey_config(path)
    assert cfg.conversion_touchpoints == ("coupon_redemption",)  # the first outcome
    assert cfg.outcome("purchase") == ("purchase",)
    with pytest.raises(ValueError, match=r"unknown outcome 'buy'; the journey config names "
                                         r"\['redeemed', 'purchase'\]"):
        cfg.outcome("buy")
    path.write_text(yaml.safe_dump({**base, "conversion_touchpoints": ["purchase"]}))
    assert dict(load_journey_config(path).outcomes) == {"conversion": ("purchase",)}
    path.write_text(yaml.safe_dump({**base, "outcomes": {"paid": ["payment"]}}))
    with pytest.raises(ValueError, match=r"outcomes.paid \['payment'\] are not listed under "
                                         "touchpoints"):
        load_journey_config(path)
    path.write_text(yaml.safe_dump(base))
    with pytest.raises(ValueError, match="missing key 'conversion_touchpoints' \\(or "
                                         "'outcomes'\\)"):
        load_journey_config(path)
