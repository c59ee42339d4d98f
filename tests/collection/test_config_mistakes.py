"""Implausible inputs and config mistakes (issue 14, findings 5 and 10), one regression each.

Before: epoch 0, 1969, year 0001 and 2099 entered events; ``1e308`` was accepted as revenue; a
misspelt optional column became an all-null field without a trace; a day/month-swapped format
silently swapped the rows that still parsed; one malformed line or one 50 MB field rejected a
whole file; a time-zone typo gave a DuckDB error that named no source; quarantine did not keep
the raw text of malformed rows. Expected values are written out by hand from the input rows.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from cjmlib.collection import sources as sources_module
from cjmlib.collection.assembly import collect
from cjmlib.collection.lines import MAX_FIELD_CHARS

RUN_DATE = "2026-11-30"
WEB = {
    "kind": "events", "files": "web.csv", "identifiers": {"crm": "user_id"},
    "fields": {"event_time": {"column": "ts"}, "channel": "web",
               "touchpoint": {"column": "event", "map": {"view": "product_page",
                                                         "buy": "order_confirmation"}},
               "value": {"column": "amount"}},
}
HEADER = "user_id,ts,event,amount"


def run(tmp_path: Path, sources: dict, files: dict, *, plausible: dict | None = None,
        **kwargs):
    """Write raw files and a sources config into tmp_path, then collect on RUN_DATE."""
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    for name, content in files.items():
        (raw / name).write_bytes(content if isinstance(content, bytes)
                                 else content.encode("utf-8"))
    cfg = {"identity": {"salt": "test-salt"}, "sources": sources}
    if plausible is not None:
        cfg["plausible"] = plausible
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    kwargs.setdefault("run_date", RUN_DATE)
    return collect(raw, sources_path=spath, processed_dir=tmp_path / "out", **kwargs)


def quarantined(tmp_path: Path, source: str = "web") -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "out" / "quarantine" / f"{source}.parquet")


def events(tmp_path: Path) -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "out" / "events.parquet")


def csv_text(*rows: str) -> str:
    return "\n".join([HEADER, *rows]) + "\n"


# ---- 5. implausible times -----------------------------------------------------------------


def test_times_outside_the_plausible_window_are_quarantined_with_the_reason(tmp_path):
    epoch = {"kind": "events", "files": "app.csv", "identifiers": {"crm": "id"},
             "fields": {"event_time": {"column": "secs", "unit": "s"}, "channel": "app",
                        "touchpoint": "home_page"}}
    result = run(tmp_path, {"web": WEB, "app": epoch}, {
        "web.csv": csv_text("C1,1969-07-20 20:17:00,view,",      # 1 before 2000
                            "C1,0001-01-01 00:00:00,view,",      # 2 year 1
                            "C1,2099-01-01 00:00:00,view,",      # 3 after the run date
                            "C1,2026-11-30 23:59:59,view,",      # 4 ok: on the run date
                            "C1,2026-12-01 00:00:00,view,",      # 5 the day after
                            "C1,2000-01-01 00:00:00,buy,10"),    # 6 ok: first plausible day
        "app.csv": "id,secs\nC2,0\nC2,1767225600\n"})           # epoch 0; 2026-01-01
    q = quarantined(tmp_path)
    window = "(plausible window of the run: sources config plausible, run_date); read as "
    assert q[["row", "column", "reason", "value", "detail"]].values.tolist() == [
        [1, "ts", "event_time_out_of_range", "1969-07-20 20:17:00",
         f"expected event_time from 2000-01-01 to 2026-11-30 {window}1969-07-20 20:17:00 UTC"],
        [2, "ts", "event_time_out_of_range", "0001-01-01 00:00:00",
         f"expected event_time from 2000-01-01 to 2026-11-30 {window}0001-01-01 00:00:00 UTC"],
        [3, "ts", "event_time_out_of_range", "2099-01-01 00:00:00",
         f"expected event_time from 2000-01-01 to 2026-11-30 {window}2099-01-01 00:00:00 UTC"],
        [5, "ts", "event_time_out_of_range", "2026-12-01 00:00:00",
         f"expected event_time from 2000-01-01 to 2026-11-30 {window}2026-12-01 00:00:00 UTC"]]
    qa = quarantined(tmp_path, "app")
    assert qa[["row", "reason", "value"]].values.tolist() == [
        [1, "event_time_out_of_range", "0"]]
    assert qa["detail"].iloc[0].endswith("read as 1970-01-01 00:00:00 UTC")
    ev = events(tmp_path)
    assert sorted(ev["event_time"].dt.year) == [2000, 2026, 2026]
    assert result.sources["balanced"].all()
    assert result.manifest["plausible_times"]["latest"] == RUN_DATE


def test_the_window_is_configurable_and_the_run_date_is_a_parameter(tmp_path):
    rows = csv_text("C1,1999-06-01 10:00:00,view,", "C1,2027-03-01 10:00:00,view,")
    run(tmp_path, {"web": WEB}, {"web.csv": rows}, plausible={"earliest": "1990-01-01"},
        run_date="2027-12-31")
    assert sorted(events(tmp_path)["raw_row"]) == [1, 2]
    run(tmp_path, {"web": WEB}, {"web.csv": rows},
        plausible={"earliest": "1990-01-01", "latest": "2026-12-31"})
    assert quarantined(tmp_path)["row"].tolist() == [2]
    with pytest.raises(ValueError, match=r"plausible.earliest: expected an ISO date or time "
                                         r"such as 2000-01-01, got 'soon'"):
        run(tmp_path, {"web": WEB}, {"web.csv": rows}, plausible={"earliest": "soon"})


# ---- 10. declared ranges --------------------------------------------------------------------


def test_values_outside_the_declared_range_are_quarantined(tmp_path):
    spec = {**WEB, "fields": {**WEB["fields"], "value": {"column": "amount", "min": 0,
                                                         "max": 5000}}}
    run(tmp_path, {"web": spec}, {"web.csv": csv_text(
        "C1,2026-01-05 10:00:00,buy,120.5",    # ok
        "C1,2026-01-05 10:01:00,buy,-3",       # below min
        "C1,2026-01-05 10:02:00,buy,9999",     # above max
        "C1,2026-01-05 10:03:00,buy,inf")})    # not finite
    q = quarantined(tmp_path)
    detail = "expected value between 0 and 5000 (min/max of the field in the sources config)"
    assert q[["row", "reason", "value", "detail"]].values.tolist() == [
        [2, "value_out_of_range", "-3", detail], [3, "value_out_of_range", "9999", detail],
        [4, "unparseable_number", "inf", None]]
    assert events(tmp_path)["value"].tolist() == [120.5]


def test_revenue_of_1e308_is_refused_by_the_default_money_range(tmp_path):
    run(tmp_path, {"web": WEB}, {"web.csv": csv_text("C1,2026-01-05 10:00:00,buy,1e308",
                                                     "C1,2026-01-05 10:01:00,buy,-250",
                                                     "C1,2026-01-05 10:02:00,buy,999999999")})
    q = quarantined(tmp_path)
    assert q[["row", "reason", "value", "detail"]].values.tolist() == [
        [1, "value_out_of_range", "1e308",
         "expected value between -1e+09 and 1e+09 (min/max of the field in the sources "
         "config)"]]
    assert events(tmp_path)["value"].tolist() == [-250.0, 999999999.0]  # refunds stay


@pytest.mark.parametrize(("option", "message"), [
    ({"min": "zero"}, r"fields.value.min: expected a finite number, got 'zero'"),
    ({"min": 10, "max": 1}, r"fields.value: min \(10.0\) is above max \(1.0\)"),
])
def test_bad_ranges_name_the_source_and_field(tmp_path, option, message):
    spec = {**WEB, "fields": {**WEB["fields"], "value": {"column": "amount", **option}}}
    with pytest.raises(ValueError, match=r"source 'web': " + message):
        run(tmp_path, {"web": spec}, {"web.csv": csv_text()})


# ---- 10. config mistakes surface --------------------------------------------------------------


def test_an_absent_optional_column_is_reported_in_manifest_and_sources_table(tmp_path):
    spec = {**WEB, "fields": {**WEB["fields"],
                              "duration_s": {"column": "dwel_s", "optional": True}}}
    result = run(tmp_path, {"web": spec},
                 {"web.csv": "user_id,ts,event,amount,dwell_s\n"
                             "C1,2026-01-05 10:00:00,view,,12\n"})
    src = result.manifest["sources"][0]
    assert src["absent_columns"] == [{"field": "duration_s", "column": "dwel_s",
                                      "optional": True, "files": ["web.csv"]}]
    assert result.sources["absent_columns"].tolist() == [
        "dwel_s (field duration_s, optional) absent from web.csv"]
    assert events(tmp_path)["duration_s"].isna().all()


def test_a_config_without_absent_columns_reports_none(tmp_path):
    result = run(tmp_path, {"web": WEB}, {"web.csv": csv_text("C1,2026-01-05 10:00:00,view,")})
    assert "absent_columns" not in result.manifest["sources"][0]
    assert result.sources["absent_columns"].tolist() == [""]


def test_a_day_month_swapped_format_is_refused_naming_file_field_and_value(tmp_path):
    spec = {**WEB, "fields": {**WEB["fields"],
                              "event_time": {"column": "ts", "formats": ["%m/%d/%Y %H:%M"]}}}
    rows = csv_text("C1,05/01/2026 10:00,view,",     # parses, but as 1 May
                    "C1,13/01/2026 10:00,view,",     # 13 in the month place
                    "C1,25/01/2026 10:00,view,")
    with pytest.raises(ValueError) as err:
        run(tmp_path, {"web": spec}, {"web.csv": rows})
    assert str(err.value) == (
        "web.csv (source 'web'): field 'event_time' (column 'ts'): value '13/01/2026 10:00' "
        "(row 2) has 13 where format '%m/%d/%Y %H:%M' puts the month; it reads as "
        "'%d/%m/%Y %H:%M'. Day and month look swapped, and the rows that still parse would "
        "be read with the two exchanged (2 row(s) like it); fix fields.event_time.formats in "
        "the sources config")


def test_a_garbage_date_is_quarantined_not_taken_for_a_swap(tmp_path):
    spec = {**WEB, "fields": {**WEB["fields"],
                              "event_time": {"column": "ts", "formats": ["%d/%m/%Y %H:%M"]}}}
    run(tmp_path, {"web": spec}, {"web.csv": csv_text("C1,05/01/2026 10:00,view,",
                                                      "C1,32/01/2026 10:00,view,",
                                                      "C1,00/00/0000 00:00,view,")})
    assert quarantined(tmp_path)["reason"].tolist() == ["unparseable_time"] * 2


def test_one_malformed_line_is_quarantined_with_its_raw_text(tmp_path):
    result = run(tmp_path, {"web": WEB}, {"web.csv": csv_text(
        "C1,2026-01-05 10:00:00,view,",
        "C1,2026-01-05 10:01:00,view,,a.b@example.com,07700 900123",  # 2 columns too many
        "C2,2026-01-05 10:02:00,buy,5")})
    q = quarantined(tmp_path)
    assert q[["row", "reason", "detail", "raw_text"]].values.tolist() == [
        [2, "malformed_row", "expected 4 columns, found 6",
         "C1,2026-01-05 10:01:00,view,,[e-mail],[phone]"]]
    assert sorted(events(tmp_path)["raw_row"]) == [1, 3]
    assert result.sources["balanced"].all()


def test_a_quote_left_open_costs_one_line_not_the_rows_after_it(tmp_path):
    result = run(tmp_path, {"web": WEB}, {"web.csv": csv_text(
        "C1,2026-01-05 10:00:00,view,",
        'C1,2026-01-05 10:01:00,"view,',                      # a quote never closed
        "C2,2026-01-05 10:02:00,view,",
        "C3,2026-01-05 10:03:00,buy,7")})
    q = quarantined(tmp_path)
    assert q[["row", "reason", "raw_text"]].values.tolist() == [
        [2, "malformed_row", 'C1,2026-01-05 10:01:00,"view,']]
    assert q["detail"].iloc[0].startswith("expected 4 columns; a quote opened on this line")
    assert sorted(events(tmp_path)["raw_row"]) == [1, 3, 4]
    assert result.sources[["rows_in", "rows_out", "rows_quarantined"]].values.tolist() == [
        [4, 3, 1]]


def test_one_50_mb_field_quarantines_its_row_and_the_file_loads(tmp_path):
    big = "x" * (50 << 20)
    result = run(tmp_path, {"web": WEB}, {"web.csv": csv_text(
        "C1,2026-01-05 10:00:00,view,",
        f"C1,2026-01-05 10:01:00,{big},",
        "C2,2026-01-05 10:02:00,buy,5")})
    q = quarantined(tmp_path)
    assert q[["row", "reason", "detail"]].values.tolist() == [
        [2, "malformed_row", f"field 'event' holds {50 << 20:,} characters; at most "
                             f"{MAX_FIELD_CHARS:,} are read"]]
    assert q["raw_text"].iloc[0].startswith("C1,2026-01-05 10:01:00,xxx")
    assert q["raw_text"].iloc[0].endswith(f"[cut: {len(big) + 24:,} characters in all]")
    assert sorted(events(tmp_path)["raw_row"]) == [1, 3]
    assert result.sources["balanced"].all()


def test_an_oversized_json_line_is_quarantined_and_the_file_loads(tmp_path):
    spec = {"kind": "events", "files": "mail.jsonl", "identifiers": {"crm": "id"},
            "fields": {"event_time": {"column": "ts"}, "channel": "email",
                       "touchpoint": "email_open"}}
    lines = ['{"id": "C1", "ts": "2026-01-05T10:00:00+00:00"}',
             '{"id": "C1", "ts": "2026-01-05T10:01:00+00:00", "x": "' + "y" * (20 << 20) + '"}',
             '{"id": "C2", "ts": "2026-01-05T10:02:00+00:00"}', '{"id": "C3", "ts": "2026-']
    run(tmp_path, {"mail": spec}, {"mail.jsonl": "\n".join(lines) + "\n"})
    q = quarantined(tmp_path, "mail")
    assert q[["row", "reason"]].values.tolist() == [[2, "unparseable_record"],
                                                    [4, "unparseable_record"]]
    assert q["raw_text"].iloc[1] == '{"id": "C3", "ts": "2026-'
    assert sorted(events(tmp_path)["raw_row"]) == [1, 3]


def test_a_time_zone_typo_names_the_source_and_field(tmp_path):
    spec = {**WEB, "fields": {**WEB["fields"],
                              "event_time": {"column": "ts", "timezone": "Europe/Londn"}}}
    with pytest.raises(ValueError, match=r"source 'web': fields.event_time.timezone: unknown "
                                         r"time zone 'Europe/Londn'; did you mean "
                                         r"'Europe/London'"):
        run(tmp_path, {"web": spec}, {"web.csv": csv_text()})
    with pytest.raises(ValueError, match=r"source 'web': timezone: unknown time zone "
                                         r"'Europe/Londn'"):
        run(tmp_path, {"web": {**WEB, "timezone": "Europe/Londn"}}, {"web.csv": csv_text()})


def test_an_engine_error_is_re_raised_naming_file_source_and_field(tmp_path, monkeypatch):
    # let the typo past the config check to see what the engine's own error becomes
    monkeypatch.setattr(sources_module, "check_time_zone", lambda name, at: name)
    spec = {**WEB, "fields": {**WEB["fields"],
                              "event_time": {"column": "ts", "timezone": "Europe/Londn"}}}
    with pytest.raises(ValueError) as err:
        run(tmp_path, {"web": spec}, {"web.csv": csv_text("C1,2026-01-05 10:00:00,view,")})
    assert str(err.value).startswith(
        "web.csv (source 'web'): field 'event_time' (column 'ts'): the engine could not read "
        "it: ")
    assert "Londn" in str(err.value)
