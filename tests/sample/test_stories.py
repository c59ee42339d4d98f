"""The sample carries the seven stories of issue 12 as ``ground_truth.json["stories"]`` says.

Every check recomputes from the raw files (web, app, contact centre, CRM) or the truth tables
(``ground_truth/events.parquet``, ``persons.csv``, ``events_after_cutoff.parquet``) with plain
pandas, never with the generator's helpers or cjmlib.journeys. The sample is the session's
small one (tests/conftest.py: 1,500 people, seed 7).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import proportions_ztest

from cjmlib.sample.generator import make_sample
from cjmlib.sample.stories import Incident, Stories

CONVERSIONS = ["order_confirmation", "store_purchase"]
READ = {"dtype": str, "keep_default_na": False}


@pytest.fixture(scope="module")
def events(sample_dir: Path) -> pd.DataFrame:
    """Journey events (no e-mail sends or opens) by journey and time, with the journey's
    start, the next touchpoint and the time to it."""
    ev = pd.read_parquet(sample_dir / "ground_truth" / "events.parquet")
    ev = ev[ev["journey_id"] >= 0].sort_values(["journey_id", "event_time"], kind="stable")
    ev = ev.reset_index(drop=True)
    g = ev.groupby("journey_id")
    return ev.assign(start=g["event_time"].transform("min"),
                     next_touchpoint=g["touchpoint"].shift(-1),
                     next_time=g["event_time"].shift(-1))


@pytest.fixture(scope="module")
def stories(ground_truth: dict) -> dict:
    return ground_truth["stories"]


def _day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def _converted(ev: pd.DataFrame) -> pd.Series:
    return ev["touchpoint"].isin(CONVERSIONS).groupby(ev["journey_id"]).any()


def _sequences(frame: pd.DataFrame, key: str, time: pd.Series, names: list[str]) -> pd.Series:
    """Times at which ``names`` occur as consecutive events of one ``key`` (device, cookie)."""
    f = frame.assign(t=time).dropna(subset=["t"])
    f = f[f[key] != ""].sort_values([key, "t"], kind="stable")
    hit = pd.Series(True, index=f.index)
    for i, name in enumerate(names):
        hit &= (f["event_name"].shift(-i) == name) & (f[key].shift(-i) == f[key])
    return f.loc[hit, "t"]


# ---- 1. the payment incident ------------------------------------------------------------------

def test_payment_incident_raises_exits_on_every_channel_for_its_weeks(events, stories):
    truth = stories["incident"]
    a, b = _day(truth["start"]), _day(truth["end"])
    assert b - a == pd.Timedelta(days=21)
    pay = events[events["touchpoint"] == "payment"]
    left = pay["next_touchpoint"].isna()
    during = pay["event_time"].between(a, b, inclusive="left")
    before = pay["event_time"] < a
    assert left[during].mean() == pytest.approx(truth["exit_rate_during"], abs=5e-5)
    assert left[before].mean() == pytest.approx(truth["exit_rate_before"], abs=5e-5)
    assert truth["exit_rate_during"] > truth["exit_rate_before"] + 0.2
    for channel in ("web", "app"):  # on all channels, not one
        on = pay["channel"] == channel
        assert left[during & on].mean() > left[before & on].mean() + 0.15, channel
    # and it ends: the three weeks after it are back near the level before
    after = pay["event_time"].between(b, b + pd.Timedelta(weeks=3), inclusive="left")
    assert abs(left[after].mean() - truth["exit_rate_before"]) < 0.1


# ---- 2. the platform-specific loop -------------------------------------------------------------

def test_checkout_loop_through_the_help_centre_happens_on_the_app_in_its_period(
        sample_dir, events, stories):
    truth = stories["platform_loop"]
    a, b = _day(truth["start"]), _day(truth["end"])
    path = truth["path"]
    # in the truth events: the path as consecutive events of one journey
    tp, jid = events["touchpoint"], events["journey_id"]
    hit = pd.Series(True, index=events.index)
    for i, name in enumerate(path):
        hit &= (tp.shift(-i) == name) & (jid.shift(-i) == jid)
    loops = events.loc[hit]
    shown = events["event_time"].shift(-2)[hit]  # when the error page shows
    assert len(loops) == truth["loops"] == truth["loops_on_channel_in_period"] > 0
    assert truth["loops_elsewhere"] == 0
    assert loops["journey_id"].nunique() == truth["journeys_with_loop"]
    assert (loops["channel"] == truth["channel"]).all()
    assert shown.between(a, b, inclusive="left").all()
    attempted = events.loc[(tp == "delivery_options") & (events["channel"] == "app")
                           & events["event_time"].between(a, b, inclusive="left"),
                           "journey_id"].unique()
    share = pd.Series(attempted).isin(loops["journey_id"]).mean()
    assert share == pytest.approx(truth["share_affected"], abs=5e-5)
    assert share > 0.1
    # in the raw exports: the app's event names in its period only, never on the web
    app = pd.read_csv(sample_dir / "app_events.csv", **READ).drop_duplicates()
    app_t = pd.to_datetime(pd.to_numeric(app["event_timestamp"], errors="coerce"), unit="ms",
                           utc=True)
    seen = _sequences(app, "device_id", app_t,
                      ["view_cart", "delivery_step", "help_screen", "view_cart"])
    assert len(seen) >= 0.9 * truth["loops"]
    assert seen.between(a - pd.Timedelta(hours=2), b).all()
    web = pd.read_csv(sample_dir / "web_clickstream.csv", **READ).drop_duplicates()
    web_t = pd.to_datetime(web["event_ts"], format="ISO8601", errors="coerce", utc=True)
    assert _sequences(web, "cookie_id", web_t,
                      ["view_cart", "checkout_delivery", "help_article", "view_cart"]).empty


# ---- 3. the acquisition burst ------------------------------------------------------------------

def test_viral_day_brings_new_customers_who_convert_less(sample_dir, events, stories):
    truth = stories["acquisition_burst"]
    day = _day(truth["date"])
    persons = pd.read_csv(sample_dir / "ground_truth" / "persons.csv")
    new = persons.loc[persons["acquired_on"].notna(), "person_id"]
    assert len(new) == truth["new_customers"] > 0
    assert (persons.loc[persons["acquired_on"].notna(), "acquired_on"] == truth["date"]).all()
    first_seen = events.groupby("person_id")["event_time"].min().dt.floor("D")
    assert (first_seen[new] == day).all()  # every new customer is first seen that day
    assert int((first_seen == day).sum()) == truth["customers_first_seen_that_day"]
    daily_new = first_seen.value_counts()
    nearby = daily_new.reindex(pd.date_range(day - pd.Timedelta(days=14),
                                             day + pd.Timedelta(days=14), freq="D"),
                               fill_value=0).drop(day)
    assert daily_new[day] - nearby.median() > 0.8 * truth["new_customers"]
    assert daily_new[day] > 3 * nearby.median()
    # registered ones joined the CRM that day
    crm = pd.read_csv(sample_dir / "crm_customers.csv", **READ)
    joined = pd.to_datetime(crm["date_joined"], format="%d/%m/%Y")
    assert int((joined == day.tz_convert(None)).sum()) == truth["new_customers_registered"]
    # their journeys that day convert far less than returning customers' journeys
    first = events.drop_duplicates("journey_id").set_index("journey_id")
    conv = _converted(events)
    that_day = first["start"].dt.floor("D") == day
    is_new = first["person_id"].isin(new)
    new_rate = conv[that_day & is_new].mean()
    old_rate = conv[that_day & ~is_new].mean()
    assert new_rate == pytest.approx(truth["conversion_new_customers_that_day"], abs=5e-5)
    assert old_rate == pytest.approx(truth["conversion_returning_customers_that_day"],
                                     abs=5e-5)
    assert new_rate < old_rate / 2


# ---- 4. the segment difference -----------------------------------------------------------------

def test_crm_tiers_convert_at_very_different_rates(sample_dir, stories):
    truth = stories["segment_conversion"]
    crm = pd.read_csv(sample_dir / "crm_customers.csv", **READ)
    orders = pd.read_csv(sample_dir / "crm_orders.csv", **READ)
    buyer = crm["customer_no"].isin(orders["customer_no"])
    rate = buyer.groupby(crm[truth["column"]]).mean()
    for tier, planted in truth["customer_conversion"].items():
        assert rate[tier] == pytest.approx(planted, abs=5e-5), tier
    assert rate["Gold"] > 2 * rate["Bronze"]
    n = crm[truth["column"]].value_counts()
    _, p = proportions_ztest([buyer[crm["tier"] == "Gold"].sum(),
                              buyer[crm["tier"] == "Bronze"].sum()],
                             [n["Gold"], n["Bronze"]], alternative="larger")
    assert p < 1e-10


def test_bronze_journeys_leave_at_the_delivery_step(sample_dir, events, stories):
    truth = stories["segment_conversion"]
    persons = pd.read_csv(sample_dir / "ground_truth" / "persons.csv").set_index("person_id")
    at = events[events["touchpoint"] == "delivery_options"]
    left = at["next_touchpoint"].isna().groupby(at["person_id"].map(persons["tier"])).mean()
    assert left["Bronze"] > left["Gold"] + 0.15
    first = events.drop_duplicates("journey_id").set_index("journey_id")
    tier = first["person_id"].map(persons["tier"])
    conv = _converted(events)
    for name, planted in truth["journey_conversion"].items():
        assert conv[tier == name].mean() == pytest.approx(planted, abs=5e-5), name


# ---- 5. the slowdown ---------------------------------------------------------------------------

def test_time_from_delivery_to_payment_grows_from_the_date(events, stories):
    truth = stories["slowdown"]
    at = _day(truth["date"])
    pair = events[(events["touchpoint"] == truth["from"])
                  & (events["next_touchpoint"] == truth["to"])]
    secs = (pair["next_time"] - pair["event_time"]).dt.total_seconds()
    before, after = secs[pair["event_time"] < at], secs[pair["event_time"] >= at]
    assert before.median() == pytest.approx(truth["median_s_before"], abs=1e-3)
    assert after.median() == pytest.approx(truth["median_s_after"], abs=1e-3)
    assert after.median() / before.median() == pytest.approx(truth["factor"], rel=0.3)
    # a step change at the date, not a drift: the weeks just before are not slow yet
    last_weeks = secs[pair["event_time"].between(at - pd.Timedelta(weeks=4), at,
                                                 inclusive="left")]
    assert last_weeks.median() < 1.3 * before.median()


# ---- 6. the fading channel ---------------------------------------------------------------------

def test_live_chat_fades_out(sample_dir, events, stories):
    truth = stories["channel_fade"]
    a, b = _day(truth["start"]), _day(truth["end"])
    week = events["event_time"].dt.tz_convert(None).dt.to_period("W-SUN")
    share = (events["channel"] == truth["channel"]).groupby(week).mean()
    early = share[share.index.start_time < a.tz_convert(None)]
    late = share[share.index.start_time >= b.tz_convert(None)]
    assert early.mean() == pytest.approx(truth["share_of_journey_events_before"], abs=0.002)
    assert early.mean() > 0.004
    assert (late == 0).all()
    # the fade is gradual: the middle of the fade is between the two
    middle = share[(share.index.start_time >= a.tz_convert(None) + pd.Timedelta(weeks=6))
                   & (share.index.start_time < b.tz_convert(None) - pd.Timedelta(weeks=6))]
    assert 0 < middle.mean() < early.mean()
    cc = pd.read_csv(sample_dir / "contact_center.csv", **READ)
    when = pd.to_datetime(cc["contact_start"], format="%d/%m/%Y %H:%M:%S", errors="coerce")
    chat = cc["media"] == "chat"
    # local time: the day after the end is safely past it
    assert not (chat & (when >= b.tz_convert(None) + pd.Timedelta(days=1))).any()
    assert (chat & (when < a.tz_convert(None))).sum() > 0


# ---- 7. journeys open at the end of the data ---------------------------------------------------

def test_journeys_open_at_the_cutoff_are_cut_not_exited(sample_dir, events, stories):
    truth = stories["open_journeys"]
    cutoff = pd.Timestamp(truth["cutoff"])
    late = pd.read_parquet(sample_dir / truth["file"])
    assert (late["event_time"] >= cutoff).all()
    assert late["journey_id"].nunique() == truth["open_journeys"] > 0
    assert len(late) == truth["events_after_cutoff"]
    assert (events["event_time"] < cutoff).all()  # the export ends at the cut-off
    web = pd.read_csv(sample_dir / "web_clickstream.csv", **READ)
    web_t = pd.to_datetime(web["event_ts"], format="ISO8601", errors="coerce", utc=True)
    app = pd.read_csv(sample_dir / "app_events.csv", **READ)
    app_t = pd.to_datetime(pd.to_numeric(app["event_timestamp"], errors="coerce"), unit="ms",
                           utc=True)
    assert not (web_t >= cutoff).any() and not (app_t >= cutoff).any()
    # each open journey was exported up to the cut-off and then simply stops, so a naive
    # reading counts it as an exit at its last exported step
    cut = events[events["journey_id"].isin(late["journey_id"])]
    assert cut["journey_id"].nunique() == truth["open_journeys"]
    last = cut.groupby("journey_id").tail(1)
    assert last["touchpoint"].value_counts().to_dict() == truth["last_touchpoint_counts"]
    assert not last["touchpoint"].isin(CONVERSIONS).any()
    # their journeys go on after the cut-off: with the late events back they are not exits
    full = pd.concat([events[late.columns], late]).sort_values(["journey_id", "event_time"])
    assert (full.groupby("journey_id").tail(1).set_index("journey_id")
            .loc[last["journey_id"], "touchpoint"] != last.set_index("journey_id")
            ["touchpoint"]).all()
    # near the end, a naive exit share at those steps is inflated by exactly the open ones
    recent = events[events["start"] >= cutoff - pd.Timedelta(days=7)]
    steps = recent[recent["touchpoint"].isin(last["touchpoint"].unique())]
    naive = steps["next_touchpoint"].isna().mean()
    open_step = steps["journey_id"].isin(late["journey_id"]) & steps["next_touchpoint"].isna()
    honest = steps.loc[~open_step, "next_touchpoint"].isna().mean()
    assert naive > honest


# ---- parameters --------------------------------------------------------------------------------

def test_stories_are_optional_and_parameterised(tmp_path: Path):
    none = make_sample(tmp_path / "none", n_customers=300, seed=3, stories=None)
    assert none["stories"] == {}
    assert not (tmp_path / "none" / "ground_truth" / "events_after_cutoff.parquet").exists()
    one = make_sample(tmp_path / "one", n_customers=300, seed=3,
                      stories=Stories(incident=Incident(start=0.1, end=0.2,
                                                        failure_probability=1.0),
                                      platform_loop=None, acquisition_burst=None,
                                      segment_gap=None, slowdown=None, channel_fade=None,
                                      open_journeys=None))
    assert set(one["stories"]) == {"incident"}
    assert one["stories"]["incident"]["exit_rate_during"] == 1.0
    assert one["stories"]["incident"]["start"] == "2026-01-23"  # day 18 of 182
    with pytest.raises(ValueError, match="incident.end"):
        Incident(start=0.5, end=0.4)
    with pytest.raises(TypeError, match="stories"):
        make_sample(tmp_path / "bad", n_customers=300, stories=True)  # type: ignore[arg-type]
    assert np.isclose(Stories().incident.failure_probability, 0.45)
