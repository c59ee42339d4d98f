"""Fields beyond the canonical ones become typed columns of events and feedback.

The regression: ``fields: {lifecycle: {column: lifecycle_stage}}`` on an events source used to
stop collection with "unknown field 'lifecycle' for events; expected one of [...]", and the
column only survived inside the JSON ``attributes``. Now it is a string column of
events.parquet that ``build_journeys`` takes as ``segment_col``; counts per segment are
checked against pandas on the raw file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from cjmlib.collection.assembly import collect
from cjmlib.collection.sources import load_sources
from cjmlib.core import schema
from cjmlib.core.schema import EVENT_COLUMNS, FEEDBACK_COLUMNS

WEB = pd.DataFrame({
    "user_id": ["C1", "C1", "C2", "C2", "C3", "C3", "C4"],
    "ts": ["2026-01-05 10:00:00", "2026-01-05 10:05:00", "2026-01-05 11:00:00",
           "2026-01-05 11:02:00", "2026-01-06 09:00:00", "2026-01-06 09:01:00",
           "2026-01-06 12:00:00"],
    "event": ["view", "buy", "view", "view", "view", "buy", "view"],
    "lifecycle_stage": ["new", "new", "active", "active", "lapsed", "lapsed", "active"],
    "items": ["1", "2", "0", "1", "3", "4", "oops"],
    "first_visit": ["2025-12-01", "2025-12-01", "2025-11-03", "2025-11-03", "2024-05-05",
                    "2024-05-05", "2025-01-01"],
    "logged_in": ["yes", "yes", "no", "no", "true", "true", "0"],
})
EVENTS = {
    "kind": "events", "files": "web.csv", "identifiers": {"crm": "user_id"},
    "fields": {"event_time": {"column": "ts"}, "channel": "web",
               "touchpoint": {"column": "event", "map": {"view": "product_page",
                                                         "buy": "order_confirmation"}},
               "lifecycle": {"column": "lifecycle_stage"}},
}


def run(tmp_path: Path, sources: dict, files: dict[str, pd.DataFrame]):
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    for name, frame in files.items():
        frame.to_csv(raw / name, index=False)
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump({"identity": {"salt": "test-salt"}, "sources": sources},
                                    sort_keys=False), encoding="utf-8")
    return collect(raw, sources_path=spath, processed_dir=tmp_path / "out")


def config_error(tmp_path: Path, sources: dict) -> str:
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump({"sources": sources}, sort_keys=False), encoding="utf-8")
    with pytest.raises(ValueError) as err:
        load_sources(spath)
    return str(err.value).removeprefix(f"{spath}: ")


def test_lifecycle_is_a_typed_column_usable_as_segment_col(tmp_path):
    """The exact configuration that failed with "unknown field 'lifecycle' for events"."""
    from cjmlib.journeys.build import build_journeys

    result = run(tmp_path, {"web": EVENTS}, {"web.csv": WEB})
    path = tmp_path / "out" / "events.parquet"
    events = pd.read_parquet(path)
    assert tuple(events.columns) == (*EVENT_COLUMNS, "attributes", "raw_file", "raw_row",
                                     "lifecycle")
    assert str(pq.read_schema(path).field("lifecycle").type) == "string"
    # mapped, so no longer in attributes
    assert all("lifecycle_stage" not in json.loads(a) for a in events["attributes"])
    assert events.sort_values("raw_row")["lifecycle"].tolist() == WEB["lifecycle_stage"].tolist()
    assert result.manifest["extra_columns"] == {"events": {"lifecycle": "string"}}

    journeys = build_journeys(path, conversion_touchpoints=["order_confirmation"],
                              segment_col="lifecycle")
    steps = journeys.steps.to_pandas()
    got = steps.groupby("lifecycle").size().sort_index()
    expected = WEB.groupby("lifecycle_stage").size().sort_index()  # every raw row is an event
    assert got.to_dict() == expected.to_dict() == {"active": 3, "lapsed": 2, "new": 2}
    converted = (journeys.per_journey().to_pandas().groupby("lifecycle")["converted"].sum()
                 .to_dict())
    buyers = WEB[WEB["event"] == "buy"].groupby("lifecycle_stage").size().to_dict()
    assert {k: v for k, v in converted.items() if v} == buyers


def test_extra_columns_take_the_types_of_profile_fields(tmp_path):
    spec = {**EVENTS, "fields": {
        **EVENTS["fields"],
        "items": {"column": "items", "type": "int"},
        "first_visit": {"column": "first_visit", "type": "date"},
        "logged_in": {"column": "logged_in", "type": "bool"},
        "basket_value": {"column": "items", "type": "float", "scale": 2.5},
        "seen_at": {"column": "ts", "type": "time"}}}
    result = run(tmp_path, {"web": spec}, {"web.csv": WEB})
    path = tmp_path / "out" / "events.parquet"
    types = {f.name: str(f.type) for f in pq.read_schema(path)}
    assert {n: types[n] for n in ("lifecycle", "items", "first_visit", "logged_in",
                                  "basket_value", "seen_at")} == {
        "lifecycle": "string", "items": "int64", "first_visit": "date32[day]",
        "logged_in": "bool", "basket_value": "double", "seen_at": "timestamp[us, tz=UTC]"}
    events = pd.read_parquet(path).sort_values("raw_row")
    ok = WEB.iloc[:6]  # row 7 has items 'oops'
    assert events["items"].tolist() == ok["items"].astype(int).tolist()
    assert events["basket_value"].tolist() == (ok["items"].astype(float) * 2.5).tolist()
    assert events["logged_in"].tolist() == [True, True, False, False, True, True]
    assert events["first_visit"].astype(str).tolist() == ok["first_visit"].tolist()
    assert (events["seen_at"] == events["event_time"]).all()
    q = pd.read_parquet(tmp_path / "out" / "quarantine" / "web.parquet")
    assert q[["row", "reason", "column", "value"]].values.tolist() == [
        [7, "unparseable_number", "items", "oops"]]
    assert result.sources.iloc[0][["rows_in", "rows_out", "rows_quarantined"]].tolist() == [
        7, 6, 1]


def test_sources_without_the_column_leave_it_empty_and_feedback_gets_extras_too(tmp_path):
    other = {"kind": "events", "files": "app.csv", "identifiers": {"crm": "user_id"},
             "fields": {"event_time": {"column": "ts"}, "channel": "app",
                        "touchpoint": "product_page"}}
    survey = {"kind": "feedback", "files": "survey.csv", "identifiers": {"crm": "user_id"},
              "fields": {"response_time": {"column": "ts"}, "channel": "web",
                         "csat": {"column": "csat"}, "survey": "relationship",
                         "wave": {"column": "wave", "type": "int"}}}
    app = pd.DataFrame({"user_id": ["C1"], "ts": ["2026-01-07 10:00:00"]})
    answers = pd.DataFrame({"user_id": ["C1", "C2"], "ts": ["2026-01-08 10:00:00"] * 2,
                            "csat": ["4", "5"], "wave": ["1", "2"]})
    run(tmp_path, {"web": EVENTS, "app": other, "survey": survey},
        {"web.csv": WEB, "app.csv": app, "survey.csv": answers})
    events = pd.read_parquet(tmp_path / "out" / "events.parquet")
    assert events.loc[events["source"] == "app", "lifecycle"].isna().all()
    assert events.loc[events["source"] == "web", "lifecycle"].notna().all()
    feedback = pd.read_parquet(tmp_path / "out" / "feedback.parquet")
    assert tuple(feedback.columns) == (*FEEDBACK_COLUMNS, "attributes", "raw_file", "raw_row",
                                       "wave")
    assert feedback.sort_values("raw_row")["wave"].tolist() == [1, 2]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["extra_columns"] == {"events": {"lifecycle": "string"},
                                         "feedback": {"wave": "int"}}


@pytest.mark.parametrize(("name", "message"), [
    ("sesion_id", "source 'web': unknown field 'sesion_id' for events; did "
                  "you mean 'session_id'? (canonical fields: ['channel', 'duration_s', "
                  "'event_time', 'session_id', 'touchpoint', 'value']; any other name "
                  "becomes an extra column)"),
    ("duration", "source 'web': unknown field 'duration' for events; did you "
                 "mean 'duration_s'? (canonical fields: ['channel', 'duration_s', 'event_time', "
                 "'session_id', 'touchpoint', 'value']; any other name becomes an extra "
                 "column)"),
    ("stage", "source 'web': field 'stage' clashes with the column 'stage' that "
              "collection computes for events; name the extra column otherwise"),
    ("raw_row", "source 'web': field 'raw_row' clashes with the column "
                "'raw_row' that collection computes for events; name the extra column "
                "otherwise"),
])
def test_typos_and_clashes_are_refused(tmp_path, name, message):
    spec = {**EVENTS, "fields": {**EVENTS["fields"], name: {"column": "items"}}}
    assert config_error(tmp_path, {"web": spec}) == message


def test_an_extra_column_has_one_type_across_sources(tmp_path):
    other = {**EVENTS, "files": "app.csv",
             "fields": {**EVENTS["fields"], "lifecycle": {"column": "lifecycle_stage",
                                                          "type": "int"}}}
    assert config_error(tmp_path, {"web": EVENTS, "app": other}) == (
        "extra events column 'lifecycle' is 'string' in source 'web' but 'int' in source "
        "'app'; give both the same type")


def test_the_schema_admits_extra_columns_after_the_contract():
    for name in ("events", "feedback"):
        patterns = dict(schema.table(name).patterns)
        assert list(patterns) == ["<extra field>"], name
