"""Honest exits and real loops (issue 12, points 4 and 6).

Open journeys at the end of the data are censored, not exits (cjmlib.journeys.build,
cjmlib.journeys.touchpoints); ending touchpoints are no exits or drop-offs; funnels censor
journeys that may still reach the next step (cjmlib.journeys.funnel); rework finds returns
through other steps (cjmlib.journeys.transitions.rework).

References: hand-built logs with hand-counted answers, statsmodels' Wilson interval, and an
independent pandas recomputation of every count on a random log.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from statsmodels.stats.proportion import proportion_confint

from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.funnel import funnel
from cjmlib.journeys.model import load_journey_config
from cjmlib.journeys.touchpoints import touchpoint_metrics
from cjmlib.journeys.transitions import loops, rework

END = pd.Timestamp("2026-03-31 12:00:00", tz="UTC")  # the last event of every hand log


def events(rows, *, session=None):
    """rows: (customer, time before END as a Timedelta string, touchpoint)."""
    return pd.DataFrame([{"customer_id": c, "event_time": END - pd.Timedelta(ago),
                          "channel": "web", "touchpoint": tp, "stage": "s",
                          "session_id": session, "duration_s": None, "value": None,
                          "source": "test", "seq": i} for i, (c, ago, tp) in enumerate(rows)])


EXITS = events([
    ("recent", "10min", "home"), ("recent", "5min", "cart"),           # open: not an exit
    ("old", "3d 1h", "home"), ("old", "3d", "cart"),                    # closed: exit at cart
    ("conv", "2d", "home"), ("conv", "1d 23h", "cart"), ("conv", "1d 22h", "buy"),
    ("ender", "4d", "home"), ("ender", "3d 23h", "cart"), ("ender", "3d 22h", "declined"),
    ("anchor", "0min", "home"),                                         # the end of the data
])


def test_open_journeys_are_censored_and_endings_are_no_exits():
    j = build_journeys(EXITS, conversion_touchpoints=["buy"], endings=["declined"],
                       open_horizon="1 day")
    assert j.observed_until == END
    m = touchpoint_metrics(j, removal_effects=False).set_index("touchpoint")
    # cart: recent (open), old (exit), conv (converted), ender (ended at declined after it)
    assert m.loc["cart", ["journeys", "open_journeys", "closed_journeys", "exits"]
                 ].tolist() == [4, 1, 3, 1]
    assert m.loc["cart", "exit_rate"] == pytest.approx(1 / 3)
    low, high = proportion_confint(1, 3, method="wilson")
    assert (m.loc["cart", "exit_rate_ci_low"], m.loc["cart", "exit_rate_ci_high"]
            ) == pytest.approx((low, high))
    # home: anchor and recent are open (last event within a day of the end), nobody exits
    assert m.loc["home", ["journeys", "open_journeys", "exits"]].tolist() == [5, 2, 0]
    # the ending is no exit, at it nor at the step before it
    assert m.loc["declined", ["journeys", "exits", "exit_rate"]].tolist() == [1, 0, 0.0]
    assert np.isnan(m.loc["declined", "signal_exit"])  # no exit signal at an ending
    assert m.loc["buy", "open_journeys"] == 0
    # without censoring and endings: the old rule, every unconverted last step is an exit
    old = touchpoint_metrics(build_journeys(EXITS, conversion_touchpoints=["buy"],
                                            open_horizon=None),
                             removal_effects=False).set_index("touchpoint")
    assert old.loc["cart", ["open_journeys", "exits", "exit_rate"]].tolist() == [0, 2, 0.5]
    assert old.loc["declined", "exits"] == 1 and old.loc["home", "exits"] == 1


def test_open_horizon_defaults():
    # sessions: the session timeout; a session quiet 5 minutes is open, 3 days is not
    s = build_journeys(EXITS, conversion_touchpoints=["buy"], unit="session",
                       session_timeout_minutes=30.0)
    assert s.open_horizon_us == 30 * 60 * 1_000_000
    m = touchpoint_metrics(s, removal_effects=False).set_index("touchpoint")
    # gaps of an hour split old, conv and ender into one session per event: their cart
    # sessions end at cart (exits); recent's session (home, cart 5 minutes ago) is open
    assert m.loc["cart", ["journeys", "open_journeys", "exits"]].tolist() == [4, 1, 3]
    # customers: the 95th percentile of the gaps between consecutive steps (pandas)
    c = build_journeys(EXITS, conversion_touchpoints=["buy"])
    frame = EXITS.sort_values(["customer_id", "event_time", "seq"])
    gaps = frame.groupby("customer_id")["event_time"].diff().dropna().dt.total_seconds()
    assert c.open_horizon_us == int(np.ceil(np.quantile(gaps, 0.95) * 1e6))
    with pytest.raises(ValueError, match="open_horizon must be a duration"):
        build_journeys(EXITS, conversion_touchpoints=["buy"], open_horizon="soon")


def test_open_horizon_of_customers_with_events_at_the_same_time(tmp_path):
    """Events at the same time (in any seq order) are 0 apart: the gaps, and so the
    horizon, are those of pandas on the (time, seq) order, computed fresh and when kept."""
    from cjmlib.journeys.persist import cached_journeys

    rows = events([("a", "3d", "home"), ("a", "2d", "cart"), ("a", "2d", "buy"),
                   ("a", "1h", "home"), ("b", "5d", "home"), ("b", "5d", "cart"),
                   ("b", "4d 12h", "home"), ("c", "2d 6h", "cart"), ("c", "7min", "home"),
                   ("d", "0min", "home")])
    rows["seq"] = [5, 1, 0, 9, 3, 2, 8, 4, 6, 7]  # ties put in the other order by seq
    frame = rows.sort_values(["customer_id", "event_time", "seq"])
    gaps = frame.groupby("customer_id")["event_time"].diff().dropna().dt.total_seconds()
    expected = int(np.ceil(np.quantile(gaps, 0.95) * 1e6))
    fresh = build_journeys(rows, conversion_touchpoints=["buy"])
    assert fresh.open_horizon_us == expected
    path = tmp_path / "events.parquet"
    rows.to_parquet(path)
    kept = cached_journeys(path, cache_dir=tmp_path / "cache", conversion_touchpoints=["buy"])
    assert kept.precomputed is not None and kept.open_horizon_us == expected


FUNNEL = events([
    ("A", "5d", "view"), ("A", "4d 23h", "cart"), ("A", "4d 22h", "pay"),  # continued
    ("B", "5d", "view"),                                                   # drop-off at cart
    ("C", "2h", "view"),                                                   # censored at cart
    ("D", "5d", "view"), ("D", "4d 23h", "cart"), ("D", "4d 22h", "declined"),  # ended
    ("E", "10h", "view"), ("E", "5min", "cart"),                           # censored at pay
    ("F", "3d", "view"), ("F", "5min", "home"),                 # open, window elapsed: drop
    ("Z", "0min", "home"),
])


def test_funnel_censors_journeys_that_may_still_go_on():
    j = build_journeys(FUNNEL, conversion_touchpoints=["pay"], endings=["declined"],
                       open_horizon="1 day")
    f = funnel(j, ["view", "cart", "pay"], window="1 day").set_index("step")
    assert f["journeys"].tolist() == [6, 3, 1]
    assert f["previous_journeys"].tolist() == [6, 6, 3]
    assert f["censored"].tolist() == [0, 1, 1]         # C at cart, E at pay
    assert f["ended"].tolist() == [0, 0, 1]            # D declined after cart
    assert f["drop_off"].tolist() == [0, 2, 0]         # B, F
    assert f["observed_journeys"].tolist() == [6, 5, 2]
    assert f["conversion_from_previous"].tolist() == pytest.approx([1, 3 / 5, 1 / 2])
    assert f["drop_off_rate"].tolist() == pytest.approx([0, 2 / 5, 0])
    assert f["entered_observed"].tolist() == [6, 5, 4]  # C, then E, status unknown
    assert f["conversion_from_start"].tolist() == pytest.approx([1, 3 / 5, 1 / 4])
    low, high = proportion_confint(3, 5, method="wilson")
    assert f.loc["cart", "conversion_from_previous_ci_low"] == pytest.approx(low)
    assert f.loc["cart", "conversion_from_previous_ci_high"] == pytest.approx(high)
    # no window: F, active 5 minutes ago, may still reach cart
    g = funnel(j, ["view", "cart", "pay"]).set_index("step")
    assert g["censored"].tolist() == [0, 2, 1] and g["drop_off"].tolist() == [0, 1, 0]
    # no censoring, no endings: the old counts, every journey that stopped dropped off
    old = funnel(build_journeys(FUNNEL, conversion_touchpoints=["pay"], open_horizon=None),
                 ["view", "cart", "pay"], window="1 day")
    assert old["drop_off"].tolist() == [0, 3, 2]
    assert old["conversion_from_previous"].tolist() == pytest.approx([1, 3 / 6, 1 / 3])


def test_rework_paths_and_rates_by_hand():
    log = events([
        ("A", "60min", "cart"), ("A", "59min", "delivery_options"),
        ("A", "58min", "help_center"), ("A", "57min", "cart"), ("A", "56min", "pay"),
        ("B", "60min", "cart"), ("B", "59min", "cart"), ("B", "58min", "pay"),  # repeat only
        ("C", "60min", "cart"), ("C", "59min", "help_center"), ("C", "58min", "cart"),
        ("C", "50min", "a"), ("C", "49min", "b"), ("C", "48min", "c"), ("C", "47min", "d"),
        ("C", "46min", "e"), ("C", "45min", "cart"),
        ("D", "60min", "cart"), ("D", "59min", "help_center"), ("D", "58min", "cart"),
    ])
    j = build_journeys(log, conversion_touchpoints=["pay"])
    r = rework(j, max_path=4, top_paths=2)
    cart = r[r["touchpoint"] == "cart"].set_index("path_rank")
    # cart reached by A, B, C, D; A, C, D returned through other steps (B only repeated)
    assert cart["touchpoint_journeys"].iloc[0] == 4 and cart["rework_journeys"].iloc[0] == 3
    assert cart["returns"].iloc[0] == 4
    assert cart["rework_rate"].iloc[0] == pytest.approx(3 / 4)
    low, high = proportion_confint(3, 4, method="wilson")
    assert (cart["rework_rate_ci_low"].iloc[0], cart["rework_rate_ci_high"].iloc[0]
            ) == pytest.approx((low, high))
    assert cart["path"].tolist() == ["help_center", "a > b > c > d > ...", "(other paths)"]
    assert cart["path_journeys"].tolist() == [2, 1, 1]     # C and D; C; A
    assert cart["path_returns"].tolist() == [2, 1, 1]
    assert cart["path_steps"].tolist() == [1, 5, 2]
    assert cart["path_rate"].tolist() == pytest.approx([2 / 4, 1 / 4, 1 / 4])
    assert r.iloc[0]["touchpoint"] == "cart"
    help_row = r[r["touchpoint"] == "help_center"].iloc[0]
    assert help_row["rework_journeys"] == 0 and pd.isna(help_row["path"])
    # loops keep their meaning: only A -> B -> A
    assert loops(j)[["touchpoint", "via", "journeys"]].values.tolist() == [
        ["cart", "help_center", 2]]


def test_the_journey_config_names_endings(tmp_path):
    path = tmp_path / "journey.yaml"
    base = {"stages": ["s"], "touchpoints": {t: {"stage": "s"} for t in
                                             ("apply", "approved", "declined", "cancelled")},
            "outcomes": {"approved": ["approved"], "declined": ["declined"]}}
    path.write_text(yaml.safe_dump({**base, "endings": ["cancelled"]}))
    cfg = load_journey_config(path)
    assert cfg.ending_touchpoints() == ("approved", "declined", "cancelled")
    path.write_text(yaml.safe_dump({**base, "endings": ["withdrawn"]}))
    with pytest.raises(ValueError, match=r"endings \['withdrawn'\] are not listed"):
        load_journey_config(path)


# --------------------------------------------------------------------------------------------
# An independent pandas recomputation on a random log
# --------------------------------------------------------------------------------------------


def random_log(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    names = ["home", "search", "cart", "help", "pay", "buy", "declined"]
    p = [0.25, 0.2, 0.2, 0.1, 0.1, 0.08, 0.07]
    rows = []
    for c in range(250):
        start = END - pd.Timedelta(days=float(rng.uniform(0, 20)))
        t = start
        for _ in range(int(rng.integers(1, 9))):
            if t > END:
                break
            rows.append((f"c{c}", t, str(rng.choice(names, p=p))))
            t = t + pd.Timedelta(minutes=float(rng.exponential(600)))
    rows.append(("anchor", END, "home"))
    return pd.DataFrame([{"customer_id": c, "event_time": t, "channel": "web",
                          "touchpoint": tp, "stage": "s", "session_id": None,
                          "duration_s": None, "value": None, "source": "test", "seq": i}
                         for i, (c, t, tp) in enumerate(rows)])


def test_exits_funnel_and_rework_equal_pandas_on_a_random_log():
    log = random_log()
    horizon = pd.Timedelta("2 days")
    j = build_journeys(log, conversion_touchpoints=["buy"], endings=["declined"],
                       open_horizon=horizon)
    frame = log.sort_values(["customer_id", "event_time", "seq"])
    until = frame["event_time"].max()
    last = frame.groupby("customer_id").tail(1).set_index("customer_id")
    converted = frame.groupby("customer_id")["touchpoint"].apply(lambda s: (s == "buy").any())
    ended = last["touchpoint"].isin(["buy", "declined"])
    is_open = ~ended & (last["event_time"] >= until - horizon)
    m = touchpoint_metrics(j, removal_effects=False, loops=False).set_index("touchpoint")
    for tp, rows in frame.groupby("touchpoint"):
        ids = rows["customer_id"].unique()
        exits = sum(1 for c in ids if last.loc[c, "touchpoint"] == tp and not converted[c]
                    and not ended[c] and not is_open[c])
        n_open = int(is_open[ids].sum())
        assert m.loc[tp, ["journeys", "open_journeys", "exits"]].tolist() == [
            len(ids), n_open, exits], tp
    assert m["open_journeys"].sum() > 0 and m["exits"].sum() > 0

    # closed sequential funnel with a window, earliest matching, censoring as documented
    steps, window = ["home", "cart", "pay"], pd.Timedelta("1 day")
    counts = {k: {"continued": 0, "censored": 0, "ended": 0, "previous": 0} for k in (2, 3)}
    for c, rows in frame.groupby("customer_id"):
        tps, times = rows["touchpoint"].tolist(), rows["event_time"].tolist()
        if "home" not in tps:
            continue
        pos = tps.index("home")
        entry = times[pos]
        incomplete = bool(is_open[c]) and entry + window > until
        for k in (2, 3):
            counts[k]["previous"] += 1
            nxt = next((i for i in range(pos + 1, len(tps)) if tps[i] == steps[k - 1]
                        and times[i] - entry <= window), None)
            if nxt is not None:
                counts[k]["continued"] += 1
                pos = nxt
                continue
            if incomplete:
                counts[k]["censored"] += 1
            elif tps[-1] in ("buy", "declined"):  # endings that are no funnel step
                counts[k]["ended"] += 1
            break
    f = funnel(j, steps, window=window).set_index("step_number")
    for k in (2, 3):
        assert f.loc[k, "previous_journeys"] == counts[k]["previous"], k
        assert f.loc[k, "censored"] == counts[k]["censored"], k
        assert f.loc[k, "ended"] == counts[k]["ended"], k
        assert f.loc[k, "drop_off"] == (counts[k]["previous"] - counts[k]["continued"]
                                        - counts[k]["censored"] - counts[k]["ended"]), k
    assert f["censored"].sum() > 0

    # rework: each step whose previous visit of the same touchpoint is 2+ steps earlier
    returns = []
    for c, rows in frame.groupby("customer_id"):
        tps = rows["touchpoint"].tolist()
        seen: dict[str, int] = {}
        for i, tp in enumerate(tps):
            if tp in seen and i - seen[tp] >= 2:
                between = tps[seen[tp] + 1:i]
                path = " > ".join(between[:3]) + (" > ..." if len(between) > 3 else "")
                returns.append((tp, c, path))
            seen[tp] = i
    ref = pd.DataFrame(returns, columns=["touchpoint", "journey", "path"])
    r = rework(j, max_path=3, top_paths=50)
    for tp, rows in ref.groupby("touchpoint"):
        got = r[r["touchpoint"] == tp]
        assert got["rework_journeys"].iloc[0] == rows["journey"].nunique(), tp
        assert got["returns"].iloc[0] == len(rows), tp
        by_path = rows.groupby("path").agg(n=("journey", "size"), j=("journey", "nunique"))
        mine = got.set_index("path")
        assert mine.loc[by_path.index, "path_returns"].tolist() == by_path["n"].tolist(), tp
        assert mine.loc[by_path.index, "path_journeys"].tolist() == by_path["j"].tolist(), tp
    no_rework = set(frame["touchpoint"]) - set(ref["touchpoint"])
    assert (r[r["touchpoint"].isin(no_rework)]["rework_journeys"] == 0).all()
