"""Funnels and time to convert (cjmlib.journeys.funnel).

References: hand-counted funnels on a small log for every mode and order, statsmodels'
Wilson interval, and lifelines' KaplanMeierFitter fitted on the same per-journey durations
(computed here in pandas) for the censored time to convert.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import KaplanMeierFitter
from statsmodels.stats.proportion import proportion_confint

from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.funnel import FUNNEL_COLUMNS, funnel, time_to_convert

T0 = pd.Timestamp("2026-03-02 10:00:00", tz="UTC")
STEPS = ["view", "cart", "pay"]


def events(rows):
    return pd.DataFrame([{"customer_id": c, "event_time": T0 + pd.Timedelta(seconds=s),
                          "channel": "web", "touchpoint": tp, "stage": "purchase",
                          "session_id": None, "duration_s": None, "value": None,
                          "source": "test", "seq": i} for i, (c, s, tp) in enumerate(rows)])


LOG = events([
    ("A", 0, "view"), ("A", 10, "cart"), ("A", 20, "pay"),                   # strict run
    ("B", 0, "view"), ("B", 10, "home"), ("B", 20, "cart"), ("B", 9000, "pay"),  # gap, late
    ("C", 0, "cart"), ("C", 10, "view"), ("C", 20, "pay"),                   # out of order
    ("D", 0, "cart"), ("D", 10, "pay"),                                      # enters at cart
    ("E", 0, "view"),                                                        # drops
])


def counts(table):
    return table["journeys"].tolist()


def test_closed_sequential_funnel_by_hand():
    f = funnel(build_journeys(LOG, conversion_touchpoints=["pay"]), STEPS)
    assert list(f.columns[:5]) == list(FUNNEL_COLUMNS)
    # view: A, B, C, E; cart after view: A, B; pay after that cart: A, B
    assert counts(f) == [4, 2, 2]
    assert f["customers"].tolist() == [4, 2, 2]
    assert f["conversion_from_previous"].tolist() == [1.0, 0.5, 1.0]
    assert f["conversion_from_start"].tolist() == [1.0, 0.5, 0.5]
    assert f["drop_off"].tolist() == [0, 2, 0]
    low, high = proportion_confint(2, 4, method="wilson")
    assert f.loc[1, "conversion_from_previous_ci_low"] == pytest.approx(low)
    assert f.loc[1, "conversion_from_previous_ci_high"] == pytest.approx(high)
    # times from entry: cart 10 s (A) and 20 s (B); pay 20 s (A) and 9000 s (B)
    assert f["median_time_s"].tolist() == [0.0, 15.0, 4510.0]
    assert f["median_time_from_previous_s"].tolist()[1:] == [15.0, 4495.0]


def test_window_strict_any_and_open_funnels_by_hand():
    j = build_journeys(LOG, conversion_touchpoints=["pay"])
    assert counts(funnel(j, STEPS, window="1 hour")) == [4, 2, 1]  # B pays too late
    assert counts(funnel(j, STEPS, window=3600)) == [4, 2, 1]
    # strict: nothing in between -> only A (B has 'home' between view and cart)
    assert counts(funnel(j, STEPS, order="strict")) == [4, 1, 1]
    # any order: view+cart: A, B, C; view+cart+pay: A, B, C
    assert counts(funnel(j, STEPS, order="any")) == [4, 3, 3]
    # open: a journey may enter at any step, so each step counts every journey reaching it
    open_f = funnel(j, STEPS, mode="open")
    assert counts(open_f) == [4, 4, 4]
    assert open_f["entered_journeys"].iloc[0] == 5
    # of the 4 at 'view' (A, B, C, E), A and B went on to 'cart' after it; of the 4 at
    # 'cart', A, B, C and D paid after it
    assert open_f["conversion_from_previous"].tolist()[1:] == [2 / 4, 4 / 4]
    # times run from the first funnel event: D enters at cart and pays 10 s later
    assert open_f["median_time_s"].tolist() == [0.0, 5.0, 20.0]
    strict = funnel(j, STEPS, mode="open", order="strict")
    assert counts(strict) == [4, 4, 4]
    # directly after: view -> cart only in A; cart -> pay in A, B and D (not C)
    assert strict["conversion_from_previous"].tolist()[1:] == [1 / 4, 3 / 4]
    anyorder = funnel(j, STEPS, mode="open", order="any")
    assert anyorder["conversion_from_previous"].tolist()[1:] == [3 / 4, 4 / 4]
    assert counts(funnel(j, STEPS, mode="open", window="1 hour")) == [4, 4, 3]


def test_funnel_errors_name_the_problem():
    j = build_journeys(LOG, conversion_touchpoints=["pay"])
    with pytest.raises(ValueError, match=r"funnel step\(s\) \['basket'\] never occur in the "
                                         r"journeys; touchpoints found: \['cart', 'home'"):
        funnel(j, ["view", "basket"])
    with pytest.raises(ValueError, match="at least two steps"):
        funnel(j, ["view"])
    with pytest.raises(ValueError, match="window must be a duration such as '7 days', got "
                                         "'soon'"):
        funnel(j, STEPS, window="soon")
    with pytest.raises(ValueError, match="order must be one of"):
        funnel(j, STEPS, order="reverse")
    with pytest.raises(TypeError, match="must be a Journeys object"):
        funnel(LOG, STEPS)


def _lifelines_reference(ev: pd.DataFrame, start: str, end: str, until: pd.Timestamp,
                         window_s: float | None):
    """Per customer: time from first `start` to first `end` after it, else censored."""
    rows = []
    for _, g in ev.sort_values(["event_time", "seq"]).groupby("customer_id"):
        s = g[g["touchpoint"] == start]
        if s.empty:
            continue
        t0 = s["event_time"].iloc[0]
        e = g[(g["touchpoint"] == end) & (g["event_time"] >= t0)]
        if len(e):
            d, c = (e["event_time"].iloc[0] - t0).total_seconds(), 1
        else:
            d, c = (until - t0).total_seconds(), 0
        if window_s is not None and d > window_s:
            d, c = window_s, 0
        rows.append((round(d), c))
    return pd.DataFrame(rows, columns=["duration", "event"])


def test_time_to_convert_matches_lifelines_on_the_same_data(sample_dir):
    truth = pd.read_parquet(sample_dir / "ground_truth" / "events.parquet")
    ev = truth.rename(columns={"person_id": "customer_id"}).assign(source="t", session_id=None)
    ev["seq"] = ev.groupby("customer_id").cumcount()
    ev = ev[~ev["touchpoint"].isin(["email_sent", "email_open"])]
    j = build_journeys(ev, conversion_touchpoints=["order_confirmation", "store_purchase"])
    for window in (None, "7 days"):
        result = time_to_convert(j, start="product_page", end=["order_confirmation"],
                                 window=window)
        ref = _lifelines_reference(ev, "product_page", "order_confirmation",
                                   j.observed_until,
                                   None if window is None else 7 * 86400.0)
        kmf = KaplanMeierFitter().fit(ref["duration"], ref["event"])
        assert result.journeys == len(ref)
        assert result.conversions == int(ref["event"].sum())
        times = np.array([60, 600, 3600, 86400, 6 * 86400], dtype=float)
        ours = result.at(times)["converted_share"].to_numpy()
        theirs = 1 - kmf.survival_function_at_times(times).to_numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
        ci = kmf.confidence_interval_survival_function_
        pos = np.searchsorted(ci.index.to_numpy(), times, side="right") - 1
        np.testing.assert_allclose(result.at(times)["ci_low"],
                                   1 - ci.iloc[pos, 1].to_numpy(), rtol=1e-9)
    # censoring matters: treating the still-open journeys as lost would bias the curve down
    naive = ref["event"].mean()
    assert result.at([7 * 86400.0])["converted_share"].iloc[0] >= naive


def test_time_to_convert_by_hand_with_censoring():
    j = build_journeys(LOG, conversion_touchpoints=["pay"])
    # from 'view': A 20 s, B 9000 s, C 10 s; E censored at the end of data (9000 s after it)
    r = time_to_convert(j, start="view")
    assert (r.journeys, r.conversions, r.censored) == (4, 3, 1)
    expected = KaplanMeierFitter().fit([20, 9000, 10, 9000], [1, 1, 1, 0])
    assert r.median_time_s == expected.median_survival_time_
    with pytest.raises(ValueError, match=r"time_to_convert touchpoint\(s\) \['checkout'\]"):
        time_to_convert(j, start="checkout")
