"""Customer profiles merged field by field over several customers sources.

Tiny raw CSV files with overlapping CRM exports go through the real ``cjmlib.collect``; every
merge rule is checked against a pandas computation written here from the raw rows (groupby on
rows sorted by observation time, then source, file and row), independent of the SQL in
cjmlib.collection.profiles.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cjmlib import collect
from cjmlib.collection.sources import load_sources

# customer A is in both sources, its churn flag only in the second; B's tier conflicts;
# C is only in the second; D only in the first, with two rows (region only in the second row)
CRM = "id,tier,region\nA,gold,north\nB,gold,south\nD,silver,\nD,bronze,east\n"
CRM2 = "id,tier,churn\nA,,yes\nB,silver,no\nC,bronze,yes\n"
# monthly snapshots, deliberately not in time order within the file
SNAPSHOTS = ("id,month,tier,active,score\n"
             "A,2026-03-01,gold,true,5\nA,2026-01-01,bronze,true,3\nA,2026-02-01,silver,,4\n"
             "B,2026-02-01,bronze,false,1\nB,2026-01-01,bronze,true,2\nB,2026-03-01,,false,\n"
             "C,2026-01-01,silver,true,7\nC,2026-02-01,gold,true,\nC,2026-03-01,silver,true,7\n"
             "C,2026-04-01,gold,true,6\n"
             "E,2026-01-01,gold,,\n")
BOOL = {"yes": True, "no": False, "true": True, "false": False}


def crm(files: str = "crm.csv", **fields) -> dict:
    return {"kind": "customers", "files": files, "identifiers": {"crm": "id"},
            "fields": {"crm_id": {"column": "id"}, **fields}}


def run(tmp_path: Path, sources: dict, files: dict, profiles: dict | None = None):
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    for name, text in files.items():
        (raw / name).write_text(text, encoding="utf-8")
    cfg = {"identity": {"salt": "test-salt"}, "sources": sources}
    if profiles is not None:
        cfg["profiles"] = profiles
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    result = collect(raw, sources_path=spath, processed_dir=tmp_path / "out")
    customers = pd.read_parquet(tmp_path / "out" / "customers.parquet").set_index("crm_id")
    return result, customers


def observations(*sources: tuple[str, str], time: str | None = None) -> pd.DataFrame:
    """Raw rows of the sources in observation order: time (rows without one first), then the
    source's position, then the row."""
    parts = []
    for i, (name, text) in enumerate(sources):
        frame = pd.read_csv(io.StringIO(text), dtype=str)
        frame["_source"], frame["_order"], frame["_row"] = name, i, range(1, len(frame) + 1)
        parts.append(frame)
    obs = pd.concat(parts, ignore_index=True)
    keys = ["_order", "_row"]
    if time is not None:
        obs["_time"] = pd.to_datetime(obs[time])
        obs["_undated"] = obs["_time"].isna()
        keys = ["_undated", "_time", *keys]
        obs = obs.sort_values(keys, ascending=[False] + [True] * (len(keys) - 1))
    else:
        obs = obs.sort_values(keys)
    return obs.reset_index(drop=True)


def most_frequent(values: pd.Series) -> object:
    """Mode of the non-null values; a tie goes to the value whose last row comes later."""
    values = values.dropna().reset_index(drop=True)
    if values.empty:
        return None
    counts = values.value_counts()
    tied = counts[counts == counts.max()].index
    last_pos = {v: values[values == v].index.max() for v in tied}
    return max(tied, key=last_pos.__getitem__)


def same(got: pd.Series, want: pd.Series) -> None:
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_names=False,
                                   check_dtype=False, check_index_type=False)


def several(values: pd.Series) -> bool:
    return values.dropna().nunique() >= 2


# ---- the lost-column bug ----------------------------------------------------------------------


def test_default_takes_each_field_from_the_first_source_that_has_a_value(tmp_path):
    """Regression: A's churn flag exists only in the second source. First source wins for the
    whole row lost it; now every field is the first non-null value in source, file, row order."""
    sources = {
        "crm": crm(segment={"column": "tier"}, region={"column": "region"}),
        "crm2": crm("crm2.csv", segment={"column": "tier"},
                    churned={"column": "churn", "type": "bool", "map": {"yes": True, "no": False}}),
    }
    result, got = run(tmp_path, sources, {"crm.csv": CRM, "crm2.csv": CRM2})

    obs = observations(("crm", CRM), ("crm2", CRM2))
    obs["churned"] = obs["churn"].map(BOOL)
    want = obs.rename(columns={"tier": "segment"}).groupby("id")[
        ["segment", "region", "churned"]].first()  # first non-null per column
    assert got.loc["A", "churned"] == True  # noqa: E712 -- the flag that used to be lost
    assert got.loc["A", "segment"] == "gold"
    assert got.loc["D", "region"] == "east"  # D's first row has no region, its second has
    assert sorted(got.index) == sorted(want.index) == ["A", "B", "C", "D"]
    for col in want.columns:
        same(got[col], want[col])

    # the manifest says how many customers have a value and how many had conflicting ones
    fields = result.manifest["profiles"]["fields"]
    by_id = obs.rename(columns={"tier": "segment"}).groupby("id")
    for col in ("segment", "region", "churned"):
        assert fields[col] == {
            "rule": "first",
            "customers_with_value": int(want[col].notna().sum()),
            "customers_with_several_values": int(by_id[col].agg(several).sum())}, col
    assert fields["segment"]["customers_with_several_values"] == 2  # B (gold, silver), D
    assert not (tmp_path / "out" / "customer_attribute_history.parquet").exists()


# ---- rules ------------------------------------------------------------------------------------

RULES = {"segment": "last", "active": "all", "ever_active": "any", "score_min": "min",
         "score_max": "max", "score_mode": "most_frequent", "tier_mode": "most_frequent"}


@pytest.fixture(scope="module")
def timed(tmp_path_factory):
    """A static CRM export (no time) and monthly snapshots with as_of, every rule declared."""
    tmp_path = tmp_path_factory.mktemp("timed")
    score = {"column": "score", "type": "int"}
    sources = {
        "crm": crm(segment={"column": "tier"}),
        "snapshots": crm(
            "snapshots.csv", as_of={"column": "month", "type": "date", "formats": ["%Y-%m-%d"]},
            segment={"column": "tier"}, tier_mode={"column": "tier"},
            active={"column": "active", "type": "bool", "map": {"true": True, "false": False}},
            ever_active={"column": "active", "type": "bool",
                         "map": {"true": True, "false": False}},
            score_min=score, score_max=score, score_mode=score),
    }
    result, got = run(tmp_path, sources, {"crm.csv": CRM, "snapshots.csv": SNAPSHOTS},
                      {"merge": RULES})
    obs = observations(("crm", CRM), ("snapshots", SNAPSHOTS), time="month")
    obs["crm_id"], obs["segment"] = obs["id"], obs["tier"]
    obs["tier_mode"] = obs["tier"].where(obs["_source"] == "snapshots")
    obs["active"] = obs["ever_active"] = obs["active"].map(BOOL)
    for col in ("score_min", "score_max", "score_mode"):
        obs[col] = pd.to_numeric(obs["score"])
    return result, got, obs, tmp_path


def test_last_with_a_time_column_picks_the_latest_observation(timed):
    _, got, obs, _ = timed
    want = obs.groupby("id")["segment"].last()  # last non-null in time order
    # A's snapshots: bronze (Jan), silver (Feb), gold (Mar), listed Mar, Jan, Feb in the file
    assert got.loc["A", "segment"] == "gold"
    # B's latest snapshot has no tier: the latest non-null one (Feb) counts
    assert got.loc["B", "segment"] == "bronze"
    # D has no snapshot: the undated CRM rows count, the last of them
    assert got.loc["D", "segment"] == "bronze"
    same(got["segment"], want)


def test_most_frequent_breaks_ties_by_the_later_value(timed):
    _, got, obs, _ = timed
    # C: silver (Jan), gold (Feb), silver (Mar), gold (Apr): a 2-2 tie, gold seen last
    assert got.loc["C", "tier_mode"] == "gold"
    # A: one each of bronze, silver, gold: gold (Mar) is the latest
    assert got.loc["A", "tier_mode"] == "gold"
    # C's scores 7, 7, 6: the mode wins although 6 is later
    assert got.loc["C", "score_mode"] == 7
    for col in ("tier_mode", "score_mode"):
        same(got[col], obs.groupby("id")[col].agg(most_frequent))


def test_min_max_any_all_ignore_missing_values(timed):
    _, got, obs, _ = timed
    by_id = obs.groupby("id")
    same(got["score_min"], by_id["score_min"].min())
    same(got["score_max"], by_id["score_max"].max())
    want_all = by_id["active"].agg(lambda v: v.dropna().all() if v.notna().any() else None)
    want_any = by_id["ever_active"].agg(lambda v: v.dropna().any() if v.notna().any() else None)
    same(got["active"], want_all)
    same(got["ever_active"], want_any)
    assert got.loc["B", "active"] == False and got.loc["B", "ever_active"] == True  # noqa: E712
    assert pd.isna(got.loc["D", "score_min"]) and pd.isna(got.loc["E", "active"])


def test_manifest_counts_equal_pandas_counts(timed):
    result, got, obs, tmp_path = timed
    fields = result.manifest["profiles"]["fields"]
    by_id = obs.groupby("id")
    assert list(fields) == ["crm_id", "segment", "tier_mode", "active", "ever_active",
                            "score_min", "score_max", "score_mode"]
    for col, entry in fields.items():
        assert entry["rule"] == RULES.get(col, "first")
        assert entry["customers_with_value"] == int(got.reset_index()[col].notna().sum()) == int(
            by_id[col].agg(lambda v: v.notna().any()).sum()), col
        assert entry["customers_with_several_values"] == int(by_id[col].agg(several).sum()), col
    assert fields["segment"]["customers_with_several_values"] == 4  # A, B, C, D
    assert result.profiles.set_index("field").loc["segment", "rule"] == "last"
    saved = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert saved["profiles"] == result.manifest["profiles"]


def test_history_lists_the_first_value_and_every_change(timed):
    result, got, obs, tmp_path = timed
    hist = pd.read_parquet(tmp_path / "out" / "customer_attribute_history.parquet")
    assert list(hist.columns) == ["customer_id", "attribute", "value", "as_of", "source",
                                  "raw_file", "raw_row"]
    assert result.manifest["tables"]["customer_attribute_history"]["rows"] == len(hist)
    ids = got["customer_id"]
    a = hist[(hist["customer_id"] == ids["A"]) & (hist["attribute"] == "segment")]
    # the undated CRM row first, then the snapshots by month
    assert a["value"].tolist() == ["gold", "bronze", "silver", "gold"]
    assert a["source"].tolist() == ["crm", "snapshots", "snapshots", "snapshots"]
    assert pd.isna(a["as_of"].iloc[0])
    assert a["as_of"].iloc[1:].dt.strftime("%Y-%m").tolist() == ["2026-01", "2026-02", "2026-03"]
    # reference: per customer, the non-null values in order, consecutive repeats dropped
    for col in ("segment", "score_max"):
        for cid, rows in obs.groupby("id"):
            values = rows[col].dropna().astype(str).str.replace(r"\.0$", "", regex=True)
            want = values[values != values.shift()].tolist()
            have = hist[(hist["customer_id"] == ids[cid]) & (hist["attribute"] == col)]
            assert have["value"].tolist() == want, (col, cid)


# ---- validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("profiles, extra, message", [
    ({"merge": {"segment": "latest"}}, {},
     r"profiles.merge.segment \(field of source 'crm', type string\): unknown rule 'latest'; "
     r"expected one of first, last, most_frequent, min, max, any, all"),
    ({"merge": {"segment": "any"}}, {},
     r"profiles.merge.segment .*: rule 'any' is for bool fields; a string field takes first, "
     r"last, most_frequent"),
    ({"merge": {"segment": "max"}}, {},
     r"rule 'max' is for int, float, date, time fields; a string field takes first"),
    ({"merge": {"segmnt": "last"}}, {},
     r"profiles.merge: \['segmnt'\] not a profile field of any customers source .*"
     r"fields: \['crm_id', 'segment'\]"),
    ({"merge": {"segment": "last"}, "keep": True}, {},
     r"profiles: unknown option\(s\) \['keep'\]; expected merge"),
    (None, {"segment": {"column": "tier", "type": "int"}},
     r"customers field 'segment' is string in source 'crm' but int in source 'crm2'; "
     r"declare one type"),
    (None, {"as_of": {"column": "tier"}},
     r"source 'crm2': fields.as_of is the time the row's values were observed: give it type "
     r"date or time, got 'string'"),
])
def test_bad_merge_declarations_name_file_source_field_and_choices(tmp_path, profiles, extra,
                                                                   message):
    cfg = {"identity": {"salt": "t"},
           "sources": {"crm": crm(segment={"column": "tier"}), "crm2": crm("crm2.csv", **extra)}}
    if profiles is not None:
        cfg["profiles"] = profiles
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    with pytest.raises(ValueError, match=message) as err:
        load_sources(spath)
    assert str(err.value).startswith(str(spath))
