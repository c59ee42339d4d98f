"""Journey construction (cjmlib.journeys.build): checked input, ordering, units, windows, errors.

References: hand-built event logs with hand-computed journeys, steps and gaps, and pandas
recomputations on the generator's ground-truth events.
"""

from __future__ import annotations

import pandas as pd
import pytest

from cjmlib.core.engine import execute, group_quantiles
from cjmlib.core.schema import EVENT_COLUMNS
from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.events import read_events
from cjmlib.journeys.model import load_journey_config

T0 = pd.Timestamp("2026-03-02 10:00:00", tz="UTC")
CONV = ["order_confirmation"]


def events(rows: list[tuple]) -> pd.DataFrame:
    """(customer, seconds after T0, touchpoint[, channel[, session_id]]) -> events table."""
    out = []
    for i, r in enumerate(rows):
        cust, sec, tp = r[:3]
        channel = r[3] if len(r) > 3 else "web"
        session = r[4] if len(r) > 4 else None
        out.append({"customer_id": cust, "event_time": T0 + pd.Timedelta(seconds=sec),
                    "channel": channel, "touchpoint": tp, "stage": "purchase",
                    "session_id": session, "duration_s": 10.0 + i, "value": None,
                    "source": "test", "seq": i})
    return pd.DataFrame(out)


LOG = events([
    ("A", 0, "home_page"), ("A", 10, "product_page"), ("A", 70, "cart"),
    ("A", 4000, "product_page"), ("A", 4030, "order_confirmation"),   # 2nd visit after 1 h
    ("B", 5, "product_page"), ("B", 20, "cart"), ("B", 20, "payment"),  # tie on time: seq orders
    ("C", 50, "help_center", "web"), ("C", 400, "support_call", "call_center"),
])


def test_customer_journeys_order_steps_and_gaps_by_hand():
    j = build_journeys(LOG, conversion_touchpoints=CONV, unit="customer")
    steps = j.to_pandas()
    a = steps[steps["journey_id"] == "A"]
    assert a["touchpoint"].tolist() == ["home_page", "product_page", "cart", "product_page",
                                        "order_confirmation"]
    assert a["step"].tolist() == [1, 2, 3, 4, 5]
    assert a["gap_s"].tolist()[1:] == [10.0, 60.0, 3930.0, 30.0]
    assert pd.isna(a["gap_s"].iloc[0])
    b = steps[steps["journey_id"] == "B"]
    assert b["touchpoint"].tolist() == ["product_page", "cart", "payment"]  # seq breaks the tie
    assert b["gap_s"].tolist()[2] == 0.0
    s = j.summary().iloc[0]
    assert (s["customers"], s["journeys"], s["steps"], s["converted_journeys"]) == (3, 3, 10, 1)
    assert s["conversion_rate"] == pytest.approx(1 / 3)


def test_session_journeys_split_after_inactivity():
    j = build_journeys(LOG, conversion_touchpoints=CONV, unit="session",
                       sessions="inactivity", session_timeout_minutes=30)
    per = execute(j.per_journey()).sort_values("start_us")
    # A splits into two visits (gap 3930 s > 30 min); B and C are one visit each
    assert sorted(per.groupby("customer_id").size().to_dict().items()) == [
        ("A", 2), ("B", 1), ("C", 1)]
    a = per[per["customer_id"] == "A"]
    assert a["n_steps"].tolist() == [3, 2]
    assert a["converted"].tolist() == [False, True]


def test_given_sessions_are_used_and_missing_ones_derived():
    log = events([("A", 0, "home_page", "web", "s1"), ("A", 10, "cart", "web", "s1"),
                  ("A", 20, "support_call", "call_center", None),
                  ("A", 30, "payment", "web", "s2")])
    given = build_journeys(log, conversion_touchpoints=["payment"], unit="session",
                           sessions="given")
    assert execute(given.per_journey())["n_steps"].sort_values().tolist() == [1, 1, 2]
    visits = build_journeys(log, conversion_touchpoints=["payment"], unit="session",
                            sessions="inactivity")
    assert execute(visits.per_journey())["n_steps"].tolist() == [4]


def test_window_and_ends_at_conversion():
    j = build_journeys(LOG, conversion_touchpoints=["payment"],
                       window=(T0, T0 + pd.Timedelta(60, "s")))
    assert j.summary()["steps"].iloc[0] == 6  # events at 0, 10 (A), 5, 20, 20 (B), 50 (C)
    assert j.observed_until == T0 + pd.Timedelta(60, "s")
    with pytest.raises(ValueError, match=r"\['order_confirmation'\] never occur in the window"):
        build_journeys(LOG, conversion_touchpoints=CONV, window=(T0, T0 + pd.Timedelta(60, "s")))
    log = events([("A", 0, "cart"), ("A", 10, "order_confirmation"), ("A", 20, "order_tracking"),
                  ("A", 30, "order_confirmation")])
    cut = build_journeys(log, conversion_touchpoints=CONV, ends_at_conversion=True)
    assert cut.to_pandas()["touchpoint"].tolist() == ["cart", "order_confirmation"]
    full = build_journeys(log, conversion_touchpoints=CONV)
    assert full.summary()["steps"].iloc[0] == 4


def test_inputs_parquet_csv_and_ibis_table_give_the_same_journeys(tmp_path):
    import ibis

    from cjmlib.core.io import write_parquet

    write_parquet(LOG, tmp_path / "events.parquet")
    LOG.to_csv(tmp_path / "events.csv", index=False)
    expected = build_journeys(LOG, conversion_touchpoints=CONV).to_pandas()
    for data in (tmp_path / "events.parquet", str(tmp_path / "events.csv"), ibis.memtable(LOG)):
        got = build_journeys(data, conversion_touchpoints=CONV).to_pandas()
        pd.testing.assert_frame_equal(got[["journey_id", "step", "touchpoint", "gap_s"]],
                                      expected[["journey_id", "step", "touchpoint", "gap_s"]])


def test_segment_from_customers_and_truth_events_match_pandas(sample_dir):
    truth = pd.read_parquet(sample_dir / "ground_truth" / "events.parquet")
    ev = truth.rename(columns={"person_id": "customer_id"}).assign(
        source="truth", session_id=None)
    ev["seq"] = ev.groupby("customer_id").cumcount()
    persons = pd.read_csv(sample_dir / "ground_truth" / "persons.csv")
    customers = persons.rename(columns={"person_id": "customer_id"})[["customer_id", "persona"]]
    j = build_journeys(ev, conversion_touchpoints=["order_confirmation", "store_purchase"],
                       customers=customers, segment_col="persona",
                       exclude_touchpoints=["email_sent", "email_open"])
    per = execute(j.per_journey())
    kept = ev[~ev["touchpoint"].isin(["email_sent", "email_open"])]
    assert len(per) == kept["customer_id"].nunique()
    assert per["n_steps"].sum() == len(kept)
    expected = kept.groupby("customer_id")["touchpoint"].apply(
        lambda s: s.isin(["order_confirmation", "store_purchase"]).any())
    got = per.set_index("customer_id")["converted"]
    assert (got.sort_index() == expected.sort_index()).all()
    assert set(per["persona"]) <= set(persons["persona"]) | {"(missing)"}


# ---- bad input: each message names what was expected and what was found --------------------


def test_missing_contract_columns_are_named():
    with pytest.raises(ValueError, match=r"missing column 'touchpoint'; expected .*found"):
        read_events(LOG.drop(columns="touchpoint"))
    with pytest.raises(ValueError, match=r"missing columns 'customer_id', 'stage'"):
        read_events(LOG.drop(columns=["customer_id", "stage"]))


def test_naive_times_are_refused():
    naive = LOG.assign(event_time=LOG["event_time"].dt.tz_localize(None))
    with pytest.raises(ValueError, match=r"must be a UTC timestamp with time zone; found naive"):
        read_events(naive)
    text = LOG.assign(event_time=LOG["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    with pytest.raises(ValueError, match=r"10 naive times without a time zone \(first at row 0"):
        read_events(text)


def test_unparseable_times_are_refused_in_pandas_and_in_csv(tmp_path):
    bad = LOG.assign(event_time=LOG["event_time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    bad.loc[3, "event_time"] = "31/02/2026 25:00"
    with pytest.raises(ValueError, match=r"1 unparseable values \(first at row 3: "
                                         r"'31/02/2026 25:00'\); expected an ISO-8601"):
        read_events(bad)
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"bad.csv: column 'event_time' has 1 unparseable "
                                         r"values \(e.g. '31/02/2026 25:00'\)"):
        build_journeys(tmp_path / "bad.csv", conversion_touchpoints=CONV)
    naive = LOG.assign(event_time=LOG["event_time"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    naive.to_csv(tmp_path / "naive.csv", index=False)
    with pytest.raises(ValueError, match=r"found a naive timestamp"):
        build_journeys(tmp_path / "naive.csv", conversion_touchpoints=CONV)


def test_conversion_touchpoint_that_never_occurs():
    with pytest.raises(ValueError, match=r"conversion touchpoint\(s\) \['purchase'\] never occur "
                                         r"in the events; touchpoints found: \['cart', "):
        build_journeys(LOG, conversion_touchpoints=["purchase"])


def test_empty_window_names_the_span_of_the_data():
    with pytest.raises(ValueError, match=r"no events in the window \[2027-01-01 00:00:00\+00:00, "
                                         r"None\); the events span 2026-03-02 10:00:00\+00:00 "
                                         r"to .* \(10 events\)"):
        build_journeys(LOG, conversion_touchpoints=CONV, window=("2027-01-01", None))
    with pytest.raises(ValueError, match="window start .* must be before its end"):
        build_journeys(LOG, conversion_touchpoints=CONV, window=("2026-04-01", "2026-03-01"))


def test_segment_column_that_does_not_exist():
    with pytest.raises(ValueError, match=r"segment column 'tier' not found: the events table "
                                         r"has .* and no customers table was given"):
        build_journeys(LOG, conversion_touchpoints=CONV, segment_col="tier")
    customers = pd.DataFrame({"customer_id": ["A", "B"], "region": ["x", "y"]})
    with pytest.raises(ValueError, match=r"segment column 'tier' not found: expected it in the "
                                         r"events table or the customers table .*customers "
                                         r"have \['customer_id', 'region'\]"):
        build_journeys(LOG, conversion_touchpoints=CONV, customers=customers, segment_col="tier")


def test_bad_options_and_types():
    with pytest.raises(ValueError, match="unit must be one of 'customer', 'session', got 'day'"):
        build_journeys(LOG, conversion_touchpoints=CONV, unit="day")
    with pytest.raises(TypeError, match="events must be a pandas DataFrame, a Parquet/CSV path"):
        read_events([1, 2, 3])
    with pytest.raises(FileNotFoundError, match="events table not found"):
        read_events("/nonexistent/events.parquet")
    nulls = LOG.copy()
    nulls.loc[2, "customer_id"] = None
    with pytest.raises(ValueError, match=r"column 'customer_id' is empty in 1 rows"):
        build_journeys(nulls, conversion_touchpoints=CONV)


def test_project_journey_config_loads_with_targets_and_keeps_collection_keys():
    cfg = load_journey_config("configs/journey.yaml")
    assert set(cfg.conversion_touchpoints) == {"order_confirmation", "store_purchase"}
    assert cfg.funnel_steps[-1] == "order_confirmation"
    assert cfg.stage_of()["payment"] == "purchase"
    targets = cfg.targets().set_index("touchpoint")
    assert targets.loc["payment", "exit_rate"] < 0.43  # the future state improves on today
    assert set(cfg.exclude_touchpoints) == {"email_sent", "email_open"}
    assert cfg.session_timeout_minutes == 30
    assert list(EVENT_COLUMNS)[:2] == ["customer_id", "event_time"]


def test_bad_config_names_file_and_key(tmp_path):
    path = tmp_path / "journey.yaml"
    path.write_text("stages: [a]\ntouchpoints: {x: {stage: b}}\nconversion_touchpoints: [x]\n")
    with pytest.raises(ValueError, match=r"journey.yaml: touchpoints.x.stage must be one of "
                                         r"\['a'\]; found 'b'"):
        load_journey_config(path)
    path.write_text("stages: [a]\ntouchpoints: {x: {stage: a, target: {csat_mean: high}}}\n"
                    "conversion_touchpoints: [x]\n")
    with pytest.raises(ValueError, match=r"touchpoints.x.target must map metric names to "
                                         r"numbers"):
        load_journey_config(path)


def test_group_quantiles_by_sorting_equal_the_aggregate_and_numpy():
    import ibis
    import numpy as np

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"g": rng.choice(list("abcd"), 500), "v": rng.exponential(5, 500)})
    frame.loc[frame.sample(40, random_state=1).index, "v"] = np.nan
    frame.loc[frame["g"] == "d", "v"] = np.nan  # a group with no values
    t = ibis.memtable(frame)
    qs = {"q50": 0.5, "q90": 0.9, "q0": 0.0, "q100": 1.0}
    by_agg = execute(group_quantiles(t, ["g"], "v", qs)).set_index("g").sort_index()
    by_sort = execute(group_quantiles(t, ["g"], "v", qs, by_sorting=True)).set_index(
        "g").sort_index()
    pd.testing.assert_frame_equal(by_agg, by_sort[by_agg.columns], check_dtype=False)
    for g, part in frame.groupby("g"):
        values = part["v"].dropna().to_numpy()
        assert by_sort.loc[g, "_rows"] == len(part) and by_sort.loc[g, "_n"] == len(values)
        if len(values):
            assert by_sort.loc[g, "q90"] == pytest.approx(np.quantile(values, 0.9))
        else:
            assert np.isnan(by_sort.loc[g, "q50"])


def test_the_journey_unit_follows_the_data():
    """Cases (applications, tickets) carry no session: 02 cut 13k loan applications into
    66k 30-minute 'journeys' before. With no session anywhere a journey is the customer's."""
    from cjmlib.journeys.build import infer_journey_unit

    cases = LOG.assign(session_id=None)
    assert infer_journey_unit(cases) == "customer"
    visits = LOG.assign(session_id=["s1"] + [None] * (len(LOG) - 1))
    assert infer_journey_unit(visits) == "session"


def test_no_conversion_touchpoints_means_no_journey_converts():
    """A clickstream of product views has no conversion: journeys are still built."""
    j = build_journeys(LOG, conversion_touchpoints=[], unit="customer")
    steps = j.to_pandas()
    assert len(steps) == 10 and not steps["is_conversion"].any()
    s = j.summary().iloc[0]
    assert (s["journeys"], s["converted_journeys"]) == (3, 0)
