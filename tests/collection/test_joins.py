"""Joins to lookup sources and rollups of line items, declared in sources.yaml.

Modelled on the completejourney retail exports: campaigns (household, campaign) dated by
campaign_descriptions, and transaction lines rolled up to baskets. Every expected value comes
from pandas (``merge``, ``groupby``) on the same raw frames, written independently of
cjmlib.collection; counts must reconcile (raw rows = rows written + rows quarantined).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cjmlib.collection.assembly import collect
from cjmlib.collection.sources import load_sources


def run(tmp_path: Path, sources: dict, files: dict[str, pd.DataFrame]):
    """Write the frames (.csv or .parquet by name) and a sources config, then collect."""
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    for name, frame in files.items():
        if name.endswith(".parquet"):
            frame.to_parquet(raw / name, index=False)
        else:
            frame.to_csv(raw / name, index=False)
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump({"identity": {"salt": "test-salt"}, "sources": sources},
                                    sort_keys=False), encoding="utf-8")
    return collect(raw, sources_path=spath, processed_dir=tmp_path / "out")


def table(tmp_path: Path, name: str) -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "out" / f"{name}.parquet")


def quarantine(tmp_path: Path, source: str) -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "out" / "quarantine" / f"{source}.parquet")


def manifest(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))


def reconciles(result, source: str, raw_rows: int) -> None:
    row = result.sources.set_index("source").loc[source]
    assert row["rows_in"] == raw_rows
    assert row["rows_in"] == row["rows_out"] + row["rows_quarantined"]
    assert bool(row["balanced"])


CAMPAIGNS = pd.DataFrame({  # Parquet: integer ids, as the completejourney package writes them
    "household_id": [1, 1, 2, 3, 4, 5],
    "campaign_id": [10, 11, 10, 99, 11, None],
}).astype({"campaign_id": "Int64"})
DESCRIPTIONS = pd.DataFrame({  # CSV: everything is text
    "campaign_id": ["10", "11", "12"],
    "campaign_type": ["Type A", "Type B", "Type C"],
    "start_date": ["2017-01-05", "2017-02-01", "2017-03-01"],
    "end_date": ["2017-02-01", "2017-03-01", "2017-04-01"],
})
TOUCHES = {
    "kind": "events", "files": "campaigns.parquet",
    "join": {"source": "campaign_descriptions", "on": "campaign_id"},
    "identifiers": {"crm": "household_id"},
    "fields": {"event_time": {"column": "start_date"}, "channel": "email",
               "touchpoint": {"column": "campaign_type",
                              "map": {"Type A": "email_sent", "Type B": "email_open",
                                      "Type C": "email_click"}},
               "campaign_type": {"column": "campaign_type"}},
}
LOOKUP = {"kind": "lookup", "files": "campaign_descriptions.csv"}


def test_campaign_touches_are_dated_by_the_lookup_and_unmatched_keys_are_quarantined(
        tmp_path):
    result = run(tmp_path, {"campaign_descriptions": LOOKUP, "campaign_touches": TOUCHES},
                 {"campaigns.parquet": CAMPAIGNS,
                  "campaign_descriptions.csv": DESCRIPTIONS})
    events = table(tmp_path, "events")
    # reference: pandas inner merge on the key as text, raw rows numbered from 1
    raw = CAMPAIGNS.assign(raw_row=range(1, len(CAMPAIGNS) + 1),
                           key=CAMPAIGNS["campaign_id"].astype("string"))
    expected = raw.merge(DESCRIPTIONS, left_on="key", right_on="campaign_id")
    got = events.set_index("raw_row").sort_index()
    ref = expected.set_index("raw_row").sort_index()
    assert got.index.tolist() == ref.index.tolist() == [1, 2, 3, 5]
    assert (got["event_time"].dt.strftime("%Y-%m-%d") == ref["start_date"]).all()
    assert got["campaign_type"].tolist() == ref["campaign_type"].tolist()
    assert got["touchpoint"].tolist() == ["email_sent", "email_open", "email_sent",
                                          "email_open"]
    # the lookup's unmapped columns travel in attributes like the source's own
    assert json.loads(got.loc[1, "attributes"]) == {"campaign_id": "10",
                                                    "end_date": "2017-02-01"}

    q = quarantine(tmp_path, "campaign_touches").set_index("row")
    assert q.loc[4, "reason"] == "unmatched_join"
    assert q.loc[4, "column"] == "campaign_id" and q.loc[4, "value"] == "99"
    assert q.loc[4, "detail"] == ("no row of lookup 'campaign_descriptions' "
                                  "(campaign_descriptions.csv) has campaign_id = '99'")
    assert q.loc[6, "reason"] == "missing_join_key"
    assert "campaign_descriptions" in q.loc[6, "detail"]
    reconciles(result, "campaign_touches", len(CAMPAIGNS))
    assert len(events) + len(q) == len(CAMPAIGNS)

    m = manifest(tmp_path)
    # a lookup is no table of its own: not among the sources, not unconfigured, but an input
    assert [s["source"] for s in m["sources"]] == ["campaign_touches"]
    assert m["unconfigured_files"] == []
    assert m["lookups"] == [{"source": "campaign_descriptions",
                             "files": ["campaign_descriptions.csv"], "rows": 3,
                             "malformed_rows": 0}]
    assert {i["file"] for i in m["inputs"]} == {"campaigns.parquet",
                                                "campaign_descriptions.csv"}
    assert m["sources"][0]["joins"] == [{"source": "campaign_descriptions",
                                         "on": {"campaign_id": "campaign_id"}, "matched": 4,
                                         "unmatched": 1, "ambiguous": 0, "missing_key": 1}]
    assert not (tmp_path / "out" / "quarantine" / "campaign_descriptions.parquet").exists()


def test_join_on_several_keys_with_other_names_and_an_ambiguous_key(tmp_path):
    visits = pd.DataFrame({"cust": ["C1", "C2", "C3", "C4", "C5"],
                           "store": ["S1", "S1", "S2", "S2", "S3"],
                           "day": ["2026-01-05", "2026-01-06", "2026-01-05", "2026-01-05",
                                   "2026-01-07"],
                           "hour": ["10", "11", "12", "13", "14"]})
    promos = pd.DataFrame({  # S1 on the 5th twice, identically: one row; S3 twice, differently
        "store_id": ["S1", "S1", "S1", "S2", "S3", "S3"],
        "date": ["2026-01-05", "2026-01-05", "2026-01-06", "2026-01-05", "2026-01-07",
                 "2026-01-07"],
        "promotion": ["A", "A", "B", "C", "D", "E"]})
    spec = {"kind": "events", "files": "visits.csv", "identifiers": {"crm": "cust"},
            "join": {"source": "promotions", "on": {"store": "store_id", "day": "date"}},
            "fields": {"event_time": {"column": "day"}, "channel": "store",
                       "touchpoint": "store_purchase", "promotion": {"column": "promotion"}}}
    result = run(tmp_path, {"promotions": {"kind": "lookup", "files": "promotions.parquet"},
                            "visits": spec},
                 {"visits.csv": visits, "promotions.parquet": promos})
    events = table(tmp_path, "events").sort_values("raw_row")
    # reference: keys that identify one distinct lookup row, inner-merged
    distinct = promos.drop_duplicates()
    unique = distinct[~distinct.duplicated(["store_id", "date"], keep=False)]
    expected = (visits.assign(raw_row=range(1, 6))
                .merge(unique, left_on=["store", "day"], right_on=["store_id", "date"])
                .sort_values("raw_row"))
    assert events["raw_row"].tolist() == expected["raw_row"].tolist() == [1, 2, 3, 4]
    assert events["promotion"].tolist() == expected["promotion"].tolist()
    q = quarantine(tmp_path, "visits")
    assert q["row"].tolist() == [5] and q["reason"].tolist() == ["ambiguous_join"]
    assert q["column"].tolist() == ["store, day"]
    assert q["detail"].iloc[0] == (
        "2 different rows of lookup 'promotions' (promotions.parquet) have store = 'S3', "
        "day = '2026-01-07'; a key must identify one row")
    reconciles(result, "visits", 5)


TRANSACTIONS = pd.DataFrame({
    "household_id": ["1", "1", "1", "2", "2", "3", "1", "3"],
    "basket_id": ["B1", "B1", "B2", "B3", "B3", "B4", "B1", "B4"],
    "product_id": ["p1", "p2", "p3", "p1", "p4", "p5", "p6", "p2"],
    "quantity": ["1", "2", "1", "3", "1", "2", "4", "1"],
    "sales_value": ["1.50", "2.25", "3.00", "4.10", "0.99", "7.00", "1.01", "2.00"],
    "transaction_timestamp": ["2017-01-05 10:00:00", "2017-01-05 09:59:00",
                              "2017-01-06 11:00:00", "2017-01-07 12:00:00",
                              "2017-01-07 12:01:00", "2017-01-08 08:00:00",
                              "2017-01-05 10:02:00", "2017-01-08 08:00:00"],
    "store_id": ["s1", "s1", "s2", "s3", "s3", "s4", "s1", "s5"],  # B4 spans two stores
})
BASKETS = {
    "kind": "events", "files": "transactions*.csv", "identifiers": {"crm": "household_id"},
    "rollup": {"by": ["basket_id"], "sum": ["sales_value", "quantity"],
               "min": ["transaction_timestamp"], "first": ["household_id", "store_id"],
               "count": "lines"},
    "fields": {"event_time": {"column": "transaction_timestamp"}, "channel": "store",
               "touchpoint": "store_purchase", "value": {"column": "sales_value"},
               "quantity": {"column": "quantity", "type": "float"},
               "store_id": {"column": "store_id"}, "lines": {"column": "lines", "type": "int"}},
}


def test_rollup_sums_equal_a_pandas_groupby_across_files(tmp_path):
    # two files: basket B1 has lines in both; the first file's rows come first
    part1, part2 = TRANSACTIONS.iloc[:5], TRANSACTIONS.iloc[5:]
    result = run(tmp_path, {"baskets": BASKETS},
                 {"transactions_1.csv": part1, "transactions_2.csv": part2})
    events = table(tmp_path, "events")
    raw = pd.concat([part1.assign(raw_file="transactions_1.csv", raw_row=range(1, 6)),
                     part2.assign(raw_file="transactions_2.csv", raw_row=range(1, 4))])
    raw = raw.astype({"quantity": float, "sales_value": float})
    raw["time"] = pd.to_datetime(raw["transaction_timestamp"], utc=True)
    ref = raw.groupby("basket_id", sort=True).agg(
        value=("sales_value", "sum"), quantity=("quantity", "sum"), time=("time", "min"),
        store_id=("store_id", "first"), raw_file=("raw_file", "first"),
        raw_row=("raw_row", "first"), lines=("product_id", "size"))
    got = events.assign(basket=json_col(events, "basket_id")).set_index("basket").sort_index()
    assert got.index.tolist() == ref.index.tolist() == ["B1", "B2", "B3", "B4"]
    assert got["value"].to_numpy() == pytest.approx(ref["value"].to_numpy())
    assert got["quantity"].to_numpy() == pytest.approx(ref["quantity"].to_numpy())
    assert (got["event_time"] == ref["time"]).all()
    assert got["store_id"].tolist() == ref["store_id"].tolist()
    assert got["lines"].tolist() == ref["lines"].tolist()
    # provenance: the file and row of the group's first raw row
    assert got["raw_file"].tolist() == ref["raw_file"].tolist()
    assert got["raw_row"].tolist() == ref["raw_row"].tolist()
    # columns not under rollup are dropped (product_id), by-columns stay in attributes
    assert set(json.loads(got["attributes"].iloc[0])) == {"basket_id"}
    # every raw row became part of a basket: rows_out counts raw rows, records the baskets
    row = result.sources.iloc[0]
    assert (row["rows_in"], row["rows_out"], row["rows_quarantined"],
            row["records_written"]) == (8, 8, 0, 4)
    rollup = manifest(tmp_path)["sources"][0]["rollup"]
    assert (rollup["rows_grouped"], rollup["groups"]) == (8, 4)
    assert rollup["first_differs"] == {"household_id": 0, "store_id": 1}  # B4


def json_col(frame: pd.DataFrame, key: str) -> pd.Series:
    return frame["attributes"].map(lambda a: json.loads(a)[key])


def test_a_non_numeric_summed_value_quarantines_its_basket(tmp_path):
    bad = TRANSACTIONS.copy()
    bad.loc[3, "quantity"] = "three"  # a line of B3 (rows 4 and 5)
    bad.loc[5, "basket_id"] = ""  # a line of B4 without basket
    result = run(tmp_path, {"baskets": {**BASKETS, "files": "transactions.csv"}},
                 {"transactions.csv": bad})
    events = table(tmp_path, "events")
    assert sorted(json_col(events, "basket_id")) == ["B1", "B2", "B4"]
    b4 = events[json_col(events, "basket_id") == "B4"]
    assert b4["value"].tolist() == [2.0] and b4["raw_row"].tolist() == [8]
    q = quarantine(tmp_path, "baskets").set_index("row")
    assert q.loc[4, "reason"] == "unparseable_number"
    assert (q.loc[4, "column"], q.loc[4, "value"]) == ("quantity", "three")
    assert q.loc[5, "reason"] == "rollup_group_rejected"
    assert q.loc[5, "detail"] == ("row 4 of transactions.csv in the same group "
                                  "(basket_id = 'B3') was rejected: unparseable_number")
    assert q.loc[6, "reason"] == "missing_rollup_key"
    reconciles(result, "baskets", len(bad))
    assert result.sources.iloc[0]["rows_out"] == 5  # B1 (3 lines), B2, B4 (1 line left)


def test_rollup_after_a_join_dates_baskets_and_a_rejected_basket_takes_its_lines(tmp_path):
    """Order lines joined to order headers (time, store), then rolled up to one purchase per
    basket; a basket whose header time is unreadable is rejected after the rollup, and its
    other lines share its reason."""
    lines = TRANSACTIONS.drop(columns=["transaction_timestamp", "store_id"])
    lines.loc[len(lines)] = ["4", "B9", "p1", "1", "1.00"]  # no header: unmatched
    headers = pd.DataFrame({"basket_id": ["B1", "B2", "B3", "B4"],
                            "basket_time": ["2017-01-05 09:59:00", "2017-01-06 11:00:00",
                                            "not a time", "2017-01-08 08:00:00"],
                            "store_id": ["s1", "s2", "s3", "s4"]})
    spec = {"kind": "events", "files": "lines.csv", "identifiers": {"crm": "household_id"},
            "join": {"source": "basket_headers", "on": "basket_id"},
            "rollup": {"by": "basket_id", "sum": "sales_value",
                       "first": ["household_id", "basket_time", "store_id"]},
            "fields": {"event_time": {"column": "basket_time"}, "channel": "store",
                       "touchpoint": "store_purchase", "value": {"column": "sales_value"},
                       "store_id": {"column": "store_id"}}}
    result = run(tmp_path, {"basket_headers": {"kind": "lookup", "files": "headers.parquet"},
                            "baskets": spec},
                 {"lines.csv": lines, "headers.parquet": headers})
    events = table(tmp_path, "events")
    ref = (lines.assign(raw_row=range(1, len(lines) + 1), sales=lines["sales_value"].astype(float))
           .merge(headers, on="basket_id")
           .groupby("basket_id").agg(value=("sales", "sum"), store_id=("store_id", "first"),
                                     time=("basket_time", "first"), raw_row=("raw_row", "min")))
    ref = ref.drop(index="B3")  # unreadable time
    got = events.assign(b=json_col(events, "basket_id")).set_index("b").sort_index()
    assert got.index.tolist() == ref.index.tolist() == ["B1", "B2", "B4"]
    assert got["value"].to_numpy() == pytest.approx(ref["value"].to_numpy())
    assert got["store_id"].tolist() == ref["store_id"].tolist()
    assert (got["event_time"] == pd.to_datetime(ref["time"], utc=True)).all()
    assert got["raw_row"].tolist() == ref["raw_row"].tolist()
    q = quarantine(tmp_path, "baskets").set_index("row").sort_index()
    # B3: rows 4 and 5; the rolled-up row carries row 4, row 5 follows it
    assert q.loc[4, "reason"] == q.loc[5, "reason"] == "unparseable_time"
    assert q.loc[5, "detail"] == ("rolled up into lines.csv row 4, which was rejected: "
                                  "unparseable_time")
    assert q.loc[9, "reason"] == "unmatched_join"
    reconciles(result, "baskets", len(lines))
    assert len(q) == 3


@pytest.mark.parametrize(("change", "message"), [
    ({"join": {"source": "nowhere", "on": "campaign_id"}},
     "source 'campaign_touches': join.source 'nowhere' is not a lookup source; declare it "
     "under sources with kind: lookup (lookups: ['campaign_descriptions'])"),
    ({"join": {"source": "campaign_descriptions"}},
     "source 'campaign_touches': join.on: expected a key column, a list of them, or a mapping "
     "column -> lookup column, got None"),
    ({"rollup": {"by": "household_id", "first": ["campaign_id"]}},
     "source 'campaign_touches': rollup drops column(s) ['campaign_type', 'start_date'] that "
     "the fields or identifiers use; list them under rollup (by, sum, min, max or first)"),
    ({"rollup": {"sum": ["campaign_id"]}},
     "source 'campaign_touches': rollup.by: the columns that identify a group are required"),
])
def test_config_errors_name_the_file_source_and_option(tmp_path, change, message):
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump({"sources": {"campaign_descriptions": LOOKUP,
                                                 "campaign_touches": {**TOUCHES, **change}}}),
                     encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_sources(spath)
    assert str(err.value) == f"{spath}: {message}"


def test_a_lookup_takes_no_fields_and_its_key_must_exist(tmp_path):
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump({"sources": {
        "campaign_descriptions": {**LOOKUP, "fields": {"x": "y"}},
        "campaign_touches": TOUCHES}}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"source 'campaign_descriptions': option\(s\) "
                                         r"\['fields'\] do not apply to a lookup"):
        load_sources(spath)
    with pytest.raises(ValueError) as err:
        run(tmp_path, {"campaign_descriptions": LOOKUP, "campaign_touches": TOUCHES},
            {"campaigns.parquet": CAMPAIGNS,
             "campaign_descriptions.csv": DESCRIPTIONS.rename(columns={"campaign_id": "id"})})
    assert str(err.value) == (
        "campaign_descriptions.csv (lookup 'campaign_descriptions'): missing key column(s) "
        "['campaign_id'] that source 'campaign_touches' joins on; found ['id', "
        "'campaign_type', 'start_date', 'end_date']")
