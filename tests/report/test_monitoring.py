"""Monitoring: control limits against hand computations, the rules on made-up sequences, KPI
series against a hand count, the planted KPI shift, and the reuse of unchanged notebooks."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cjmlib.report import monitoring as m


def _weeks(n: int, start: str = "2026-01-05") -> pd.Series:
    return pd.Series(pd.date_range(start, periods=n, freq="7D", tz="UTC"))


# ------------------------------------------------------------------------------------------
# Control limits
# ------------------------------------------------------------------------------------------
def test_p_chart_limits_follow_the_textbook_formula() -> None:
    x = [10, 12, 9, 11, 30, 14]
    n = [100, 120, 90, 110, 100, 140]
    series = pd.DataFrame({"period": _weeks(6), "x": x, "n": n})
    chart = m.p_chart(series, successes="x", trials="n", baseline=4)
    p_bar = (10 + 12 + 9 + 11) / (100 + 120 + 90 + 110)  # baseline only: 42 / 420 = 0.1
    assert p_bar == pytest.approx(0.1)
    for i in range(6):
        sd = math.sqrt(0.1 * 0.9 / n[i])
        assert chart["centre"][i] == pytest.approx(0.1)
        assert chart["ucl"][i] == pytest.approx(0.1 + 3 * sd)
        assert chart["lcl"][i] == pytest.approx(max(0.0, 0.1 - 3 * sd))
        assert chart["z"][i] == pytest.approx((x[i] / n[i] - 0.1) / sd)
    # 30/100 is 6.7 sigma above: rule 1; nothing else breaks a rule
    assert chart["signal"].tolist() == [False, False, False, False, True, False]
    assert chart.loc[4, "rules"] == "1"
    assert chart["baseline"].tolist() == [True] * 4 + [False] * 2


def test_individuals_chart_uses_the_average_moving_range() -> None:
    values = [10.0, 12.0, 11.0, 13.0, 12.0, 30.0]
    chart = m.individuals_chart(pd.DataFrame({"period": _weeks(6), "v": values}), value="v",
                                baseline=5)
    mean = sum(values[:5]) / 5                      # 11.6
    mr_bar = (2 + 1 + 2 + 1) / 4                    # moving ranges within the baseline
    assert chart["centre"][0] == pytest.approx(mean)
    assert chart["ucl"][0] == pytest.approx(mean + 2.66 * mr_bar, abs=0.01)   # 3 / 1.128
    assert chart["lcl"][0] == pytest.approx(mean - 3 * mr_bar / 1.128)
    assert chart["moving_range"].tolist()[1:] == [2.0, 1.0, 2.0, 1.0, 18.0]
    assert chart["signal"].tolist() == [False] * 5 + [True]


def test_baseline_defaults_to_before_the_rollout_or_the_first_half() -> None:
    periods = _weeks(20)
    before = m._baseline_mask(periods, pd.Timestamp("2026-04-06", tz="UTC"), min_baseline=8)
    assert before.sum() == 13  # 13 Mondays from 2026-01-05 before 2026-04-06
    half = m._baseline_mask(periods, None, min_baseline=8)
    assert half.sum() == 10
    short = m._baseline_mask(periods, pd.Timestamp("2026-01-20", tz="UTC"), min_baseline=8)
    assert short.sum() == 10  # too few periods before the date: first half instead


@pytest.mark.parametrize(("z", "rule", "flagged"), [
    ([0, 2.5, 0.5, 2.2, 0], "rule_2", [3]),             # 2 of 3 beyond 2 sigma, same side
    ([0, 2.5, 0.5, -2.2, 0], "rule_2", []),             # opposite sides do not count
    ([1.5, 0.2, 1.2, 1.1, 1.3, 0], "rule_3", [4]),      # 4 of 5 beyond 1 sigma
    ([-1.5, -0.2, -1.2, -1.1, -1.3], "rule_3", [4]),
    ([0.1] * 7 + [-0.1] + [0.1] * 8, "rule_4", [15]),   # 8 in a row on one side
    ([0.5, -0.5] * 8, "rule_4", []),
    ([0.0, 3.01, -3.2, 2.9], "rule_1", [1, 2]),
])
def test_western_electric_rules_on_made_up_sequences(z, rule, flagged) -> None:
    rules = m.western_electric(z)
    assert list(np.flatnonzero(rules[rule].to_numpy())) == flagged


def test_false_alarms_of_an_in_control_process_are_rare() -> None:
    rng = np.random.default_rng(3)
    alarms = 0
    for _ in range(100):
        n = rng.integers(150, 250, 26)
        x = rng.binomial(n, 0.3)
        chart = m.p_chart(pd.DataFrame({"period": _weeks(26), "x": x, "n": n}),
                          successes="x", trials="n", baseline=13)
        alarms += bool(chart.loc[~chart["baseline"], "rule_1"].any())
    # 13 monitored points at 0.27% each: about 3.5% of the series (estimated limits add a bit)
    assert alarms / 100 < 0.10


# ------------------------------------------------------------------------------------------
# KPI series
# ------------------------------------------------------------------------------------------
def _events(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    stage = {"product_page": "consideration", "cart": "purchase", "payment": "purchase",
             "order_confirmation": "purchase"}
    frame = pd.DataFrame(rows, columns=["customer_id", "event_time", "touchpoint", "channel"])
    frame["event_time"] = pd.to_datetime(frame["event_time"], utc=True)
    frame["stage"] = frame["touchpoint"].map(stage)
    frame["seq"] = frame.groupby("customer_id").cumcount() + 1
    return frame


def test_rate_trends_count_journeys_exits_and_conversions_by_hand() -> None:
    events = _events([
        ("c1", "2026-01-05 10:00", "product_page", "web"),
        ("c1", "2026-01-05 10:01", "cart", "web"),
        ("c1", "2026-01-05 10:02", "payment", "web"),          # exits at payment
        ("c2", "2026-01-06 09:00", "product_page", "app"),
        ("c2", "2026-01-06 09:01", "cart", "app"),
        ("c2", "2026-01-06 09:02", "payment", "app"),
        ("c2", "2026-01-06 09:03", "order_confirmation", "app"),  # converts
        ("c3", "2026-01-13 10:00", "product_page", "web"),
        ("c3", "2026-01-13 10:01", "payment", "web"),          # exits at payment
        ("c3", "2026-01-13 15:00", "product_page", "web"),     # new session: exits here
    ])
    trends = m.rate_trends(events, conversion_touchpoints=["order_confirmation"],
                           levels=["touchpoint", "stage", "touchpoint_channel"], freq="W")
    pay = trends[(trends["level"] == "touchpoint") & (trends["group"] == "payment")]
    assert pay["period"].dt.strftime("%Y-%m-%d").tolist() == ["2026-01-05", "2026-01-12"]
    assert pay[["journeys", "exits", "converted_journeys"]].to_numpy().tolist() == [
        [2, 1, 1], [1, 1, 0]]
    page = trends[(trends["level"] == "touchpoint") & (trends["group"] == "product_page")]
    assert page[["journeys", "exits"]].to_numpy().tolist() == [[2, 0], [2, 1]]
    purchase = trends[(trends["level"] == "stage") & (trends["group"] == "purchase")]
    assert purchase[["journeys", "exits"]].to_numpy().tolist() == [[2, 1], [1, 1]]
    app = trends[(trends["level"] == "touchpoint_channel") & (trends["group"] == "payment / app")]
    assert app[["journeys", "exits", "converted_journeys"]].to_numpy().tolist() == [[1, 0, 1]]
    assert pay["exit_rate"].tolist() == [0.5, 1.0]
    # the data run from Monday 5 to Tuesday 13 January: the second week is incomplete
    assert pay["complete"].tolist() == [True, False]


def test_a_planted_shift_is_flagged_and_measured() -> None:
    rng = np.random.default_rng(11)
    n = np.full(26, 200)
    p = np.where(np.arange(26) < 20, 0.30, 0.45)
    periods = _weeks(26)
    rates = pd.DataFrame({"level": "touchpoint", "group": "payment", "touchpoint": "payment",
                          "stage": "purchase", "channel": None, "period": periods,
                          "complete": True, "journeys": n, "exits": rng.binomial(n, p),
                          "converted_journeys": rng.binomial(n, 0.2)})
    release = periods[20]
    result = m.control_charts(rates, rate_metrics=["exit_rate"],
                              rollouts=[{"name": "release", "date": str(release.date()),
                                         "touchpoints": ["payment"]}])
    assert result.baseline.startswith("periods before the first rollout")
    shift = result.shifts.iloc[0]
    assert shift["direction"] == "up" and shift["start"] >= release
    rollout = result.rollouts.iloc[0]
    assert rollout["ci_low"] < 0.15 < rollout["ci_high"] and rollout["ci_low"] > 0
    assert rollout["signals_after"] >= 3
    # the comparison is the two pooled proportions, as a hand count gives them
    before = rates[rates["period"] < release]
    assert rollout["before"] == pytest.approx(before["exits"].sum() / before["journeys"].sum())


def test_customer_journeys_that_all_start_in_one_week_are_flagged_not_charted() -> None:
    """Customer journeys: all 600 regulars start in week 1, five newcomers a week after;
    the newcomers' exit rate differs (1/6 -> 0 would read as a shift). With every week
    charted (min_n 1), the series is named as degenerate in the notes, with no chart, shift
    or rollout comparison."""
    periods = _weeks(12)
    n = np.r_[600, np.full(11, 5)]
    exits = np.r_[100, np.zeros(11, dtype=int)]  # 16.7% then 0%
    rates = pd.DataFrame({"level": "touchpoint", "group": "payment", "touchpoint": "payment",
                          "stage": "purchase", "channel": None, "period": periods,
                          "complete": True, "journeys": n, "exits": exits,
                          "converted_journeys": np.r_[300, np.full(11, 3)]})
    result = m.control_charts(rates, rate_metrics=["exit_rate"], min_baseline=2, min_n=1,
                              rollouts=[{"name": "release", "date": str(periods[6].date())}])
    assert result.charts.empty and result.shifts.empty and result.rollouts.empty
    assert any("degenerate" in note and "payment (exit_rate)" in note
               for note in result.notes), result.notes
    # the same counts spread over the weeks are charted as usual
    spread = rates.assign(journeys=np.full(12, 60), exits=np.r_[np.full(6, 10), np.zeros(6)])
    charted = m.control_charts(spread, rate_metrics=["exit_rate"], min_baseline=2, min_n=1)
    assert not charted.charts.empty and not any("degenerate" in x for x in charted.notes)


def test_the_sample_s_planted_app_payment_shift_is_found(processed_dir: Path,
                                                        ground_truth: dict) -> None:
    shift = ground_truth["kpi_shift"]
    trends = m.rate_trends(processed_dir / "events.parquet",
                           conversion_touchpoints=ground_truth["conversion_touchpoints"],
                           levels=["touchpoint_channel"],
                           exclude_touchpoints=["email_sent", "email_open"])
    group = f"{shift['touchpoint']} / {shift['channel']}"
    result = m.control_charts(trends, rate_metrics=["exit_rate"],
                              rollouts=[{"name": f"app {shift['app_version']}",
                                         "date": shift["start"],
                                         "channels": [shift["channel"]]}])
    row = result.rollouts[(result.rollouts["group"] == group)].iloc[0]
    assert row["ci_low"] > 0, row  # exits rose after the release
    assert (result.rollouts["p_value"] < row["p_value"]).sum() == 0  # the clearest change
    charted = result.series("touchpoint_channel", group, "exit_rate")
    after = charted[charted["period"] >= pd.Timestamp(shift["start"])]
    assert after["signal"].any()


def test_score_trends_average_per_period_and_nps_uses_the_promoter_coding() -> None:
    feedback = pd.DataFrame({
        "customer_id": ["a", "b", "c", "d"],
        "response_time": pd.to_datetime(["2026-01-05", "2026-01-06", "2026-01-07",
                                          "2026-02-03"], utc=True),
        "touchpoint": ["payment"] * 4, "stage": ["purchase"] * 4, "channel": ["web"] * 4,
        "csat": [1.0, 2.0, 4.0, 5.0], "nps": [10.0, 7.0, 3.0, 9.0], "ces": [np.nan] * 4,
        "text": [None] * 4, "language": ["en"] * 4, "source": ["s"] * 4,
        "survey": ["post_interaction"] * 4})
    csat = m.score_trends(feedback, score="csat", levels=["touchpoint"], freq="M")
    assert csat["mean"].tolist() == pytest.approx([7 / 3, 5.0])
    assert csat["n"].tolist() == [3, 1]
    nps = m.score_trends(feedback, score="nps", levels=["touchpoint"], freq="M")
    assert nps["mean"].iloc[0] == pytest.approx((100 + 0 - 100) / 3)  # promoter, passive, detractor


def test_rollouts_that_do_not_fit_the_data_are_left_out_with_the_reason() -> None:
    """The sample's app release must not be applied to other data, and a rollout dated
    after the data would make every period baseline."""
    periods = pd.date_range("2026-01-05", periods=10, freq="W-MON", tz="UTC")
    rates = pd.DataFrame({"period": periods, "period_end": periods + pd.Timedelta(days=7),
                          "touchpoint": "payment", "stage": "purchase", "channel": "web"})
    rollouts = [m.Rollout.from_dict({"name": "App release 5.2.0", "date": "2026-02-02",
                                     "channels": ["app"]}),
                m.Rollout.from_dict({"name": "late", "date": "2026-09-01"}),
                m.Rollout.from_dict({"name": "new payment page", "date": "2026-02-02",
                                     "touchpoints": ["payment"]})]
    kept, refused = m.usable_rollouts(rollouts, rates)
    assert [r.name for r in kept] == ["new payment page"]
    assert refused == [
        "rollout 'App release 5.2.0' left out: channel 'app' not in the data",
        "rollout 'late' left out: its date 2026-09-01 lies outside the data (2026-01-05 to "
        "2026-03-16)"]


def test_rate_trends_of_built_journeys_equal_those_of_the_events(processed_dir: Path,
                                                                 tmp_path: Path,
                                                                 ground_truth: dict) -> None:
    from cjmlib.journeys.persist import cached_journeys

    events = processed_dir / "events.parquet"
    options = dict(conversion_touchpoints=ground_truth["conversion_touchpoints"],
                   exclude_touchpoints=["email_sent", "email_open"])
    want = m.rate_trends(events, journey_unit="session", sessions="inactivity", **options)
    built = cached_journeys(events, cache_dir=tmp_path, unit="session", sessions="inactivity",
                            **options)
    got = m.rate_trends(built, conversion_touchpoints=["ignored"])
    pd.testing.assert_frame_equal(got, want)
