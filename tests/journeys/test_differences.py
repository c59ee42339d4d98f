"""Who changed (cjmlib.journeys.differences): period and segment comparisons against pandas,
scipy and statsmodels on a log with a planted change and a planted segment difference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency
from statsmodels.stats.multitest import multipletests

from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.differences import period_comparison, segment_differences

T0 = pd.Timestamp("2026-03-02", tz="UTC")
SPLIT = T0 + pd.Timedelta(days=30)


def _log(seed: int = 5, customers: int = 600) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Customers over 60 days; after day 30 cart -> payment falls from 0.7 to 0.4 (the
    others go cart -> help); tier gold converts at 0.6, silver 0.3, bronze 0.3."""
    rng = np.random.default_rng(seed)
    tiers = rng.choice(["gold", "silver", "bronze"], customers)
    rows = []
    for c in range(customers):
        t = T0 + pd.Timedelta(hours=float(rng.uniform(0, 24 * 60)))
        p_pay = 0.7 if t < SPLIT else 0.4
        steps = ["home", "cart", "payment" if rng.random() < p_pay else "help"]
        if steps[-1] == "payment" and rng.random() < (0.85 if tiers[c] == "gold" else 0.45):
            steps.append("order")
        for k, tp in enumerate(steps):
            rows.append({"customer_id": f"C{c:03d}", "event_time": t + pd.Timedelta(minutes=k),
                         "touchpoint": tp, "channel": "web", "stage": "purchase",
                         "session_id": None, "duration_s": None, "value": None, "source": "t",
                         "seq": k})
    customers_table = pd.DataFrame({"customer_id": [f"C{c:03d}" for c in range(customers)],
                                    "tier": tiers, "vip": tiers == "gold",
                                    "region": rng.choice(["n", "s"], customers),
                                    "n_events": 1})
    return pd.DataFrame(rows), customers_table


@pytest.fixture(scope="module")
def data():
    log, customers = _log()
    return log, customers, build_journeys(log, conversion_touchpoints=["order"])


def test_the_flow_that_changed_comes_first(data) -> None:
    log, _, journeys = data
    got = period_comparison(journeys, split=SPLIT)
    top = got.iloc[0]
    assert (top["source"], top["target"]) in {("cart", "payment"), ("cart", "help")}
    start = log.groupby("customer_id")["event_time"].transform("min")
    for label, part in (("before", log[start < SPLIT]), ("after", log[start >= SPLIT])):
        carts = part[part["touchpoint"] == "cart"]["customer_id"]
        pays = part[part["touchpoint"] == "payment"]["customer_id"]
        row = got[(got["source"] == "cart") & (got["target"] == "payment")].iloc[0]
        assert (row[f"count_{label}"], row[f"source_count_{label}"]) == (len(pays), len(carts))
    assert row["difference"] < 0 and row["p_value_adjusted"] < 0.001
    assert got["split"].iloc[0] == SPLIT.isoformat()
    with pytest.raises(ValueError, match="outside the observed span"):
        period_comparison(journeys, split="2020-01-01")


def test_segments_ranked_by_how_much_they_differ(data) -> None:
    log, customers, journeys = data
    ranking, levels = segment_differences(journeys, customers)
    assert list(ranking["column"][:2]) in (["tier", "vip"], ["vip", "tier"])
    assert "n_events" not in set(ranking["column"])  # a measure is no segment
    converted = log.groupby("customer_id")["touchpoint"].apply(lambda s: (s == "order").any())
    frame = customers.set_index("customer_id").assign(converted=converted)
    pvals = {}
    for col in ("tier", "vip", "region"):
        table = pd.crosstab(frame[col].astype(str), frame["converted"])
        chi2, p, _, _ = chi2_contingency(table.to_numpy(), correction=False)
        pvals[col] = p
        row = ranking.set_index("column").loc[col]
        assert row["chi2"] == pytest.approx(chi2) and row["p_value"] == pytest.approx(p)
        n = table.to_numpy().sum()
        assert row["cramers_v"] == pytest.approx(np.sqrt(chi2 / (n * (min(table.shape) - 1))))
    adjusted = multipletests([pvals[c] for c in ranking["column"]], method="holm")[1]
    assert ranking["p_value_adjusted"].tolist() == pytest.approx(list(adjusted))
    gold = levels[(levels["column"] == "tier") & (levels["level"] == "gold")].iloc[0]
    members = frame[frame["tier"] == "gold"]
    assert (gold["journeys"], gold["converted"]) == (len(members), members["converted"].sum())
    assert bool(ranking.set_index("column").loc["tier", "differs"])
    assert not bool(ranking.set_index("column").loc["region", "differs"])
