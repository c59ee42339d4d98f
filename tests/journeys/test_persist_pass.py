"""The ordered pass that builds cached customer journeys and inactivity sessions together
(cjmlib.journeys.persist).

References: the steps and rows per journey that the engine's window functions give
(``save_journeys(build_journeys(...))``, the path every other build takes), compared row by
row in file order, and hand-computed sessions, step numbers and gaps for a planted log.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from cjmlib.journeys import persist
from cjmlib.journeys.build import build_journeys

T0 = pd.Timestamp("2026-01-05 09:00", tz="UTC")


def event(customer, minutes, touchpoint, seq, channel="web"):
    return {"customer_id": customer, "event_time": T0 + pd.Timedelta(minutes=minutes),
            "channel": channel, "touchpoint": touchpoint, "stage": "s", "session_id": None,
            "duration_s": 1.0, "value": None, "source": "t", "seq": seq}


def planted_log(*, prefix: bool = True) -> pd.DataFrame:
    rows = []
    # "a": twelve visits an hour apart (ids ~1, ~10, ~11, ~12, ~2, ... in text order), the
    # third with two steps and a purchase, and a tie in time broken by seq
    for visit in range(12):
        rows.append(event("a", 60 * visit, "home_page", 2 * visit))
        if visit == 2:
            rows.append(event("a", 60 * visit + 5, "cart", 2 * visit + 1, channel="app"))
            rows.append(event("a", 60 * visit + 5, "buy", 100))
    # "a1" has "a" as a prefix: "a1|~1" sorts before "a|~1", so the pass's order needs the
    # engine's sort again
    name = "a1" if prefix else "aa"
    rows += [event(name, 0, "home_page", 0), event(name, 31, "cart", 1),
             event(name, 40, "buy", 2), event(name, 45, "home_page", 3)]
    rows += [event("b", 10, "buy", 0)]  # a single step that converts
    rows += [event("c", 0, "email", 0), event("c", 5, "cart", 1), event("c", 6, "buy", 2),
             event("c", 7, "cart", 3)]
    return pd.DataFrame(rows)


def rows_of(path, order=True):
    con = duckdb.connect()
    frame = con.sql(f"SELECT * FROM read_parquet('{path}')").to_df()
    if not order:
        frame = frame.sort_values(list(frame.columns[:2])).reset_index(drop=True)
    return frame


def assert_same_entries(entry, reference):
    pd.testing.assert_frame_equal(rows_of(entry / "steps.parquet"),
                                  rows_of(reference / "steps.parquet"))
    pd.testing.assert_frame_equal(rows_of(entry / "per_journey.parquet", order=False),
                                  rows_of(reference / "per_journey.parquet", order=False))
    assert (json.loads((entry / "journeys.json").read_text())
            == json.loads((reference / "journeys.json").read_text()))


OPTIONS = [
    {},
    {"ends_at_conversion": True},
    {"window": ("2026-01-05 09:30", None), "exclude_touchpoints": ["email"]},
    {"segment_col": "tier"},
]


@pytest.mark.parametrize(("extra", "batch_rows", "prefix"), [
    (OPTIONS[0], 1 << 19, False),  # in one batch, in journey order as it comes
    (OPTIONS[0], 3, True),  # customers split across batches; sorted again
    (OPTIONS[1], 3, False), (OPTIONS[2], 3, False), (OPTIONS[3], 3, True)],
    ids=["plain", "batches-prefix", "cut", "window", "segment-prefix"])
def test_pass_gives_the_engines_steps_and_rows_per_journey(tmp_path, monkeypatch, extra,
                                                           batch_rows, prefix):
    monkeypatch.setattr(persist, "_PASS_ROWS", batch_rows)
    events = tmp_path / "events.parquet"
    planted_log(prefix=prefix).to_parquet(events)
    customers = pd.DataFrame({"customer_id": ["a", "a1", "aa", "b"],
                              "tier": ["x", "y", "y", "x"]})
    options = dict(conversion_touchpoints=["buy"], session_timeout_minutes=30.0,
                   customers=customers, **extra)
    persist.cached_journeys(events, cache_dir=tmp_path / "cache", unit="session",
                            sessions="inactivity", **options)
    for unit, sessions in [("session", "inactivity"), ("customer", "given")]:
        key = persist.cache_key(events, unit=unit, sessions=sessions, **options)
        entry = tmp_path / "cache" / key
        assert persist._complete(entry), f"no {unit} entry after the session build"
        reference = persist.save_journeys(
            build_journeys(events, unit=unit, sessions=sessions, **options),
            tmp_path / "reference" / unit)
        assert_same_entries(entry, reference)


def test_hand_computed_sessions_and_window_columns(tmp_path):
    events = tmp_path / "events.parquet"
    planted_log().to_parquet(events)
    options = dict(unit="session", sessions="inactivity", conversion_touchpoints=["buy"],
                   session_timeout_minutes=30.0)
    j = persist.cached_journeys(events, cache_dir=tmp_path / "cache", **options)
    steps = rows_of(tmp_path / "cache" / persist.cache_key(events, **options)
                    / "steps.parquet")
    a = steps[steps["customer_id"] == "a"]
    # journey order is the text order of the ids; steps in time, then seq, order
    assert list(dict.fromkeys(a["journey_id"])) == [
        "a|~1", "a|~10", "a|~11", "a|~12", "a|~2", "a|~3", "a|~4", "a|~5", "a|~6", "a|~7",
        "a|~8", "a|~9"]
    third = a[a["journey_id"] == "a|~3"]
    assert list(third["touchpoint"]) == ["home_page", "cart", "buy"]  # seq 5 before 100
    assert list(third["step"]) == [1, 2, 3]
    assert list(third["gap_s"].fillna(-1)) == [-1, 300.0, 0.0]
    assert list(third["prev_touchpoint"].fillna("-")) == ["-", "home_page", "cart"]
    assert list(third["after_next_touchpoint"].fillna("-")) == ["buy", "-", "-"]
    assert list(third["prev_channel"].fillna("-")) == ["-", "web", "app"]
    assert list(third["conversions_so_far"]) == [0.0, 0.0, 1.0]
    # 31 minutes after the first step is a new visit, 9 after that is not
    a1 = steps[steps["customer_id"] == "a1"]
    assert list(a1["journey_id"]) == ["a1|~1", "a1|~2", "a1|~2", "a1|~2"]
    assert list(a1["next_gap_s"].fillna(-1)) == [-1, 540.0, 300.0, -1]
    summary = j.summary()
    assert int(summary["journeys"].iloc[0]) == 12 + 2 + 1 + 1
    assert int(summary["converted_journeys"].iloc[0]) == 4


def test_session_build_keeps_the_customer_journeys_too(tmp_path, monkeypatch):
    events = tmp_path / "events.parquet"
    planted_log().to_parquet(events)
    options = dict(conversion_touchpoints=["buy"], session_timeout_minutes=30.0)
    persist.cached_journeys(events, cache_dir=tmp_path, unit="session",
                            sessions="inactivity", **options)

    def no_build(*args, **kwargs):
        raise AssertionError("built again although the session build kept these journeys")

    monkeypatch.setattr(persist, "build_journeys", no_build)
    customer = persist.cached_journeys(events, cache_dir=tmp_path, unit="customer",
                                       **options)
    assert int(customer.summary()["journeys"].iloc[0]) == 4
    assert not list(tmp_path.glob(".*.tmp"))  # no scratch folder left behind


def test_sessions_are_put_in_the_text_order_of_their_ids():
    # customer 1 with twelve one-step sessions, customer 2 with two steps of session 1
    number = np.array([*range(1, 13), 1, 1])
    customer = np.array([1] * 12 + [2, 2])
    order = persist._text_order(number, customer)
    assert list(order) == [0, 9, 10, 11, 1, 2, 3, 4, 5, 6, 7, 8, 12, 13]
    ids = pa.array([f"c{c}|~{n}" for c, n in zip(customer[order], number[order],
                                                   strict=True)])
    assert persist._ascending(ids, None)
    assert not persist._ascending(ids, pa.scalar("c2|~1"))  # after the previous batch's
    assert not persist._ascending(pa.array(["c1|~2", "c1|~10"]), None)


def test_a_failed_pass_leaves_no_entry_and_the_engine_usable(tmp_path, monkeypatch):
    events = tmp_path / "events.parquet"
    planted_log().to_parquet(events)
    monkeypatch.setattr(persist, "_PASS_ROWS", 3)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(persist, "_window_columns", broken)
    with pytest.raises(OSError, match="disk full"):
        persist.cached_journeys(events, cache_dir=tmp_path / "cache", unit="session",
                                sessions="inactivity", conversion_touchpoints=["buy"])
    assert not any((tmp_path / "cache").iterdir())  # no entry, no scratch folder
    monkeypatch.undo()
    j = persist.cached_journeys(events, cache_dir=tmp_path / "cache", unit="customer",
                                conversion_touchpoints=["buy"])
    assert int(j.summary()["journeys"].iloc[0]) == 4
