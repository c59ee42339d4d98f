"""Collection on small hand-written inputs: every bad-input class with the exact message the
user sees, every source format, encodings, time zones, the giant-component guard and atomic
writes. Expected values are written out by hand from the input rows."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cjmlib.collection import assembly, landing
from cjmlib.collection.assembly import collect

WEB = {
    "kind": "events", "files": "web.csv", "identifiers": {"crm": "user_id"},
    "fields": {"event_time": {"column": "ts"}, "channel": "web",
               "touchpoint": {"column": "event", "map": {"view": "product_page",
                                                         "buy": "order_confirmation"}},
               "duration_s": {"column": "dur"}},
}
SURVEY = {
    "kind": "feedback", "files": "survey.csv", "identifiers": {"crm": "account"},
    "fields": {"response_time": {"column": "at"}, "channel": "web",
               "touchpoint": {"column": "tp", "map": {"Checkout - Payment": "payment"}},
               "csat": {"column": "csat"}, "nps": {"column": "nps"}, "ces": {"column": "ces"},
               "text": {"column": "comment"}, "survey": "post_interaction"},
}


def run(tmp_path: Path, sources: dict, files: dict, *, dedupe=None, **kwargs):
    """Write raw files and a sources config into tmp_path, then collect."""
    raw = tmp_path / "raw"
    raw.mkdir(exist_ok=True)
    for name, content in files.items():
        path = raw / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            content(path)
    cfg = {"identity": {"salt": "test-salt"}, "sources": sources}
    if dedupe is not None:
        cfg["dedupe"] = dedupe
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return collect(raw, sources_path=spath, processed_dir=tmp_path / "out", **kwargs)


def quarantined(tmp_path: Path, source: str) -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "out" / "quarantine" / f"{source}.parquet")


def out(tmp_path: Path, table: str) -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "out" / f"{table}.parquet")


# ---- whole-file problems: the run stops, naming file, column and what was found ----------


def test_missing_column_names_file_column_and_columns_found(tmp_path):
    with pytest.raises(ValueError) as err:
        run(tmp_path, {"web": WEB}, {"web.csv": "user_id,time,event,dur\nC1,x,view,1\n"})
    path = tmp_path / "raw" / "web.csv"
    assert str(err.value) == (
        f"{path} (source 'web'): missing column 'ts'; expected ['user_id', 'ts', 'event', "
        "'dur'], found ['user_id', 'time', 'event', 'dur']")


def test_empty_file_is_refused(tmp_path):
    with pytest.raises(ValueError) as err:
        run(tmp_path, {"web": WEB}, {"web.csv": b""})
    assert str(err.value) == (
        f"{tmp_path / 'raw' / 'web.csv'}: empty file (0 bytes) for source 'web'; expected a "
        "header with columns ['user_id', 'ts', 'event', 'dur']")


def test_header_only_file_is_zero_rows_not_an_error(tmp_path):
    result = run(tmp_path, {"web": WEB}, {"web.csv": "user_id,ts,event,dur\n"})
    assert result.sources[["rows_in", "rows_out", "rows_quarantined"]].values.tolist() == [
        [0, 0, 0]]
    assert len(out(tmp_path, "events")) == 0


def test_undecodable_bytes_name_the_encodings_tried(tmp_path):
    content = b"user_id,ts,event,dur\nC1,2026-01-05 10:00:00,view,\xff\xff\n"
    spec = {**WEB, "encodings": ["utf-8", "gb18030"]}
    with pytest.raises(ValueError) as err:
        run(tmp_path, {"web": spec}, {"web.csv": content})
    at = content.index(b"\xff")
    assert str(err.value) == (
        f"{tmp_path / 'raw' / 'web.csv'}: unreadable encoding; tried utf-8, gb18030 (utf-8: "
        f"byte 0xff at offset {at}; gb18030: byte 0xff at offset {at}); set 'encoding' for "
        "this source in the sources config")


def test_declared_encoding_that_does_not_fit_is_reported(tmp_path):
    content = ("user_id,ts,event,dur\nC1,2026-01-05 10:00:00,view,1\n"
               "C2,2026-01-05 10:00:00,просмотр,1\n")
    spec = {**WEB, "encoding": "utf-8"}
    with pytest.raises(ValueError) as err:
        run(tmp_path, {"web": spec}, {"web.csv": content.encode("cp1251")})
    assert str(err.value) == (
        f"{tmp_path / 'raw' / 'web.csv'}: unreadable encoding: invalid utf-8 bytes in column "
        "'event'; set 'encoding' for source 'web'")


def test_no_matching_file(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        run(tmp_path, {"web": WEB}, {"other.csv": "a\n1\n"})
    assert str(err.value) == (
        f"source 'web': no file in {tmp_path / 'raw'} matches ['web.csv'] (set optional: true "
        "in the sources config when the source may be absent)")


def test_duplicate_header_names(tmp_path):
    with pytest.raises(ValueError) as err:
        run(tmp_path, {"web": WEB}, {"web.csv": "user_id,ts,event,dur,ts\n"})
    assert str(err.value) == (
        f"{tmp_path / 'raw' / 'web.csv'}: duplicate column name(s) ['ts']; found ['user_id', "
        "'ts', 'event', 'dur', 'ts']")


def test_config_errors_name_the_source_and_the_key(tmp_path):
    bad = {**WEB, "fields": {**WEB["fields"], "touchpoint": {"column": "event",
                                                             "map": {"view": "prodpage"}}}}
    with pytest.raises(ValueError, match=r"source 'web': fields.touchpoint: unknown "
                                         r"touchpoint\(s\) \['prodpage'\]; configs/journey.yaml "
                                         r"declares \["):
        run(tmp_path, {"web": bad}, {"web.csv": "user_id,ts,event,dur\n"})
    with pytest.raises(ValueError, match=r"source 'web': unknown option\(s\) \['delimeter'\]"):
        run(tmp_path, {"web": {**WEB, "delimeter": ";"}}, {"web.csv": "user_id,ts,event,dur\n"})
    no_time = {**WEB, "fields": {k: v for k, v in WEB["fields"].items() if k != "event_time"}}
    with pytest.raises(ValueError, match=r"source 'web': missing required field\(s\) "
                                         r"\['event_time'\] for events"):
        run(tmp_path, {"web": no_time}, {"web.csv": "user_id,ts,event,dur\n"})


# ---- row problems: quarantined with file, row, column, reason and value ------------------


def test_each_bad_row_class_is_quarantined_with_its_reason(tmp_path):
    rows = [
        "user_id,ts,event,dur",
        "C1,2026-01-05 10:00:00,view,1.5",       # 1 ok
        ",2026-01-05 10:00:00,view,1",           # 2 no identifier
        "C1,yesterday,view,1",                   # 3 unparseable time
        "C1,,view,1",                            # 4 missing time
        "C1,2026-01-05 10:01:00,debug_ping,1",   # 5 unknown touchpoint (strict by default)
        "C1,2026-01-05 10:02:00,view,-3",        # 6 negative duration
        "C1,2026-01-05 10:03:00,view,abc",       # 7 not a number
        "C1,2026-01-05 10:00:00,view,1.5",       # 8 copy of row 1
        "C1,2026-01-05 10:04:00,view,1,EXTRA",   # 9 one column too many
        "C2,2026-01-05 10:05:00,buy,2",          # 10 ok
    ]
    result = run(tmp_path, {"web": WEB}, {"web.csv": "\n".join(rows) + "\n"})
    q = quarantined(tmp_path, "web")[["row", "column", "reason", "value", "detail"]]
    want = pd.DataFrame([
        (2, "user_id", "missing_id", None, None),
        (3, "ts", "unparseable_time", "yesterday", None),
        (4, "ts", "missing_time", None, None),
        (5, "event", "unknown_touchpoint", "debug_ping", None),
        (6, "dur", "negative_duration", "-3", None),
        (7, "dur", "unparseable_number", "abc", None),
        (8, None, "exact_duplicate", None, "same as row 1"),
        (9, None, "malformed_row", None, "expected 4 columns, found 5"),
    ], columns=["row", "column", "reason", "value", "detail"])
    pd.testing.assert_frame_equal(q.reset_index(drop=True), want, check_dtype=False)
    assert result.sources.iloc[0][["rows_in", "rows_out", "rows_quarantined"]].tolist() == [
        10, 2, 8]
    ev = out(tmp_path, "events")
    assert sorted(ev["raw_row"]) == [1, 10]
    assert (quarantined(tmp_path, "web")["file"] == "web.csv").all()


def test_survey_scores_out_of_range_and_not_integer(tmp_path):
    rows = ["account,at,tp,csat,nps,ces,comment",
            "C1,2026-01-05T10:00:00+00:00,Checkout - Payment,4,9,2,fine",   # ok
            "C1,2026-01-05T10:00:00+00:00,Checkout - Payment,6,9,2,",       # csat > 5
            "C1,2026-01-05T10:00:00+00:00,Checkout - Payment,4,11,2,",      # nps > 10
            "C1,2026-01-05T10:00:00+00:00,Checkout - Payment,4,9,0,",       # ces < 1
            "C1,2026-01-05T10:00:00+00:00,Checkout - Payment,3.5,9,2,",     # not an integer
            "C1,2026-01-05T10:00:00+00:00,Checkout - Pay,4,9,2,",           # unknown label
            "C1,2026-01-05T10:00:00+00:00,Checkout - Payment,,,,no scores"]  # ok: scores optional
    run(tmp_path, {"survey": SURVEY}, {"survey.csv": "\n".join(rows) + "\n"})
    q = quarantined(tmp_path, "survey")
    assert q[["row", "column", "reason", "value"]].values.tolist() == [
        [2, "csat", "csat_out_of_range", "6"], [3, "nps", "nps_out_of_range", "11"],
        [4, "ces", "ces_out_of_range", "0"], [5, "csat", "csat_not_integer", "3.5"],
        [6, "tp", "unknown_touchpoint", "Checkout - Pay"]]
    fb = out(tmp_path, "feedback")
    assert fb["raw_row"].tolist() == [1, 7]
    assert fb["csat"].tolist()[0] == 4 and pd.isna(fb["csat"].tolist()[1])
    assert fb["touchpoint"].tolist() == ["payment", "payment"]
    assert fb["stage"].tolist() == ["purchase", "purchase"]


def test_non_strict_touchpoints_pass_through_without_a_stage(tmp_path):
    spec = {**WEB, "fields": {**WEB["fields"],
                              "touchpoint": {**WEB["fields"]["touchpoint"], "strict": False}}}
    run(tmp_path, {"web": spec}, {"web.csv": "user_id,ts,event,dur\n"
                                             "C1,2026-01-05 10:00:00,new_page,1\n"})
    ev = out(tmp_path, "events")
    assert ev["touchpoint"].tolist() == ["new_page"] and ev["stage"].isna().all()


def test_broken_json_lines_are_quarantined_without_their_text(tmp_path):
    lines = ['{"email": "a@b.com", "event": "open", "ts": "2026-01-05T10:00:00+00:00"}',
             '{"email": "a@b.com", "event": "op',
             '[1, 2]',
             '',
             '{"email": "A@B.COM ", "event": "click", "ts": "2026-01-05T10:01:00+00:00"}']
    spec = {"kind": "events", "files": "mail.jsonl", "identifiers": {"email": "email"},
            "fields": {"event_time": {"column": "ts"}, "channel": "email",
                       "touchpoint": {"column": "event", "map": {"open": "email_open",
                                                                 "click": "email_click"}}}}
    run(tmp_path, {"mail": spec}, {"mail.jsonl": "\n".join(lines) + "\n"})
    q = quarantined(tmp_path, "mail")
    assert q[["row", "reason", "detail"]].values.tolist() == [
        [2, "unparseable_record", "not a complete JSON object (33 characters)"],
        [3, "unparseable_record", "not a complete JSON object (6 characters)"],
        [4, "unparseable_record", "not a complete JSON object (0 characters)"]]
    assert q["record"].isna().all()
    ev = out(tmp_path, "events")
    assert len(ev) == 2 and ev["customer_id"].nunique() == 1  # e-mail case and space ignored


# ---- formats, encodings, time zones -------------------------------------------------------


def test_gbk_encoded_chinese_csv_loads_correctly(tmp_path):
    text = ("会员号,提交时间,触点,满意度,评论\n"
            "C1,2026/03/22 19:01,结算-支付,2,支付失败了两次\n"
            "C2,2026/03/23 08:00,首页,5,整体体验很好\n")
    spec = {"kind": "feedback", "files": "cn.csv", "timezone": "Asia/Shanghai",
            "identifiers": {"crm": "会员号"},
            "fields": {"response_time": {"column": "提交时间", "formats": ["%Y/%m/%d %H:%M"]},
                       "touchpoint": {"column": "触点", "map": {"结算-支付": "payment",
                                                               "首页": "home_page"}},
                       "channel": "web", "csat": {"column": "满意度"},
                       "text": {"column": "评论"}, "language": "zh",
                       "survey": "post_interaction"}}
    result = run(tmp_path, {"cn": spec}, {"cn.csv": text.encode("gbk")})
    fb = out(tmp_path, "feedback")
    assert fb["text"].tolist() == ["支付失败了两次", "整体体验很好"]
    assert fb["touchpoint"].tolist() == ["payment", "home_page"]
    assert fb["response_time"].tolist() == [pd.Timestamp("2026-03-22 11:01", tz="UTC"),
                                            pd.Timestamp("2026-03-23 00:00", tz="UTC")]
    assert result.manifest["inputs"][0]["encoding"] == "gb18030"


def test_cp1251_and_bom_files_are_detected(tmp_path):
    ru = ("account,at,comment\n"
          "C1,2026-01-05 10:00:00,Оплата не прошла два раза\n")
    en = "account,at,comment\nC2,2026-01-05 11:00:00,Fine\n"
    spec = {"kind": "feedback", "identifiers": {"crm": "account"},
            "fields": {"response_time": {"column": "at"}, "channel": "web",
                       "text": {"column": "comment"}, "survey": "post_interaction"}}
    result = run(tmp_path, {"ru": {**spec, "files": "ru.csv"}, "bom": {**spec, "files": "bom.csv"}},
                 {"ru.csv": ru.encode("cp1251"), "bom.csv": en.encode("utf-8-sig")})
    fb = out(tmp_path, "feedback").sort_values("source")
    assert fb["text"].tolist() == ["Fine", "Оплата не прошла два раза"]
    enc = {i["file"]: i["encoding"] for i in result.manifest["inputs"]}
    assert enc == {"ru.csv": "cp1251", "bom.csv": "utf-8-sig"}


def test_detect_encoding_prefers_utf8_and_checks_gb18030_plausibility(tmp_path):
    p = tmp_path / "x.csv"
    p.write_bytes("a\n支付失败\n".encode())
    assert landing.detect_encoding(p) == "utf-8"
    p.write_bytes("a\n支付失败\n".encode("gb18030"))
    assert landing.detect_encoding(p) == "gb18030"
    p.write_bytes("a\nпривет мир\n".encode("cp1251"))
    assert landing.detect_encoding(p) == "cp1251"


def test_mixed_formats_and_zones_become_utc(tmp_path):
    spec = {"kind": "events", "files": "t.csv", "timezone": "Europe/London",
            "identifiers": {"crm": "id"},
            "fields": {"event_time": {"column": "when",
                                      "formats": ["%Y-%m-%dT%H:%M:%S%z", "%d %b %Y %H:%M:%S %z",
                                                  "%d/%m/%Y %H:%M"]},
                       "channel": "web", "touchpoint": "home_page"}}
    rows = ["id,when",
            "C1,2026-03-29T00:30:00+00:00",   # offset given
            "C2,29 Mar 2026 13:00:00 +0100",  # another format, another offset
            "C3,29/03/2026 12:00",            # London local, summer time (UTC+1)
            "C4,15/01/2026 12:00"]            # London local, winter (UTC+0)
    epoch = {"kind": "events", "files": "e.csv", "identifiers": {"crm": "id"},
             "fields": {"event_time": {"column": "ms", "unit": "ms"}, "channel": "app",
                        "touchpoint": "home_page"}}
    run(tmp_path, {"t": spec, "e": epoch},
        {"t.csv": "\n".join(rows) + "\n", "e.csv": "id,ms\nC5,1767225600123\n"})
    ev = out(tmp_path, "events").sort_values("raw_row")
    got = dict(zip(ev["source"] + ev["raw_row"].astype(str), ev["event_time"], strict=True))
    assert got == {"t1": pd.Timestamp("2026-03-29 00:30", tz="UTC"),
                   "t2": pd.Timestamp("2026-03-29 12:00", tz="UTC"),
                   "t3": pd.Timestamp("2026-03-29 11:00", tz="UTC"),
                   "t4": pd.Timestamp("2026-01-15 12:00", tz="UTC"),
                   "e1": pd.Timestamp("2026-01-01 00:00:00.123", tz="UTC")}


def _excel(path: Path) -> None:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["id", "when", "what"])
    ws.append(["C4", datetime(2026, 1, 5, 10, 0, 0), "view"])
    ws.append([None, None, None])  # a blank row at the end of a sheet is not a record
    wb.save(path)


def _sqlite(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE visits (id TEXT, when_ts TEXT, what TEXT)")
    con.execute("INSERT INTO visits VALUES ('C5', '2026-01-05 10:00:00', 'view'),"
                " ('C5', 'bad', 'view')")
    con.commit()
    con.close()


def _parquet(path: Path) -> None:
    pd.DataFrame({"id": ["C3"], "when": pd.to_datetime(["2026-01-05 10:00:00"]).tz_localize(
        "UTC"), "what": ["view"], "secs": [12]}).to_parquet(path)


def _duckdb(path: Path) -> None:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE v AS SELECT 'C6' AS id, TIMESTAMP '2026-01-05 10:00:00' AS "
                "when_ts, 'view' AS what")
    con.close()


def test_every_source_format(tmp_path):
    def spec(files, fmt=None, tcol="when", **extra):
        s = {"kind": "events", "files": files, "identifiers": {"crm": "id"},
             "fields": {"event_time": {"column": tcol}, "channel": "web",
                        "touchpoint": {"column": "what", "map": {"view": "product_page"}}},
             **extra}
        if fmt:
            s["format"] = fmt
        return s

    sources = {
        "csv": spec("a.csv"), "tsv": spec("b.tsv"), "json": spec("c.jsonl"),
        "parquet": spec("d.parquet"), "excel": spec("e.xlsx"),
        "sqlite": {**spec(None, "sql", "when_ts"), "url": "sqlite:///f.db",
                   "query": "SELECT id, when_ts, what FROM visits ORDER BY rowid"},
        "duck": {**spec(None, "sql", "when_ts"), "url": "duckdb:///g.duckdb",
                 "query": "SELECT * FROM v"},
    }
    for s in sources.values():
        if s.get("files") is None:
            s.pop("files")
    files = {"a.csv": "id,when,what\nC1,2026-01-05 10:00:00,view\n",
             "b.tsv": "id\twhen\twhat\nC2\t2026-01-05 10:00:00\tview\n",
             "c.jsonl": '{"id": "C7", "when": "2026-01-05 10:00:00", "what": "view", '
                        '"extra": {"k": 1}}\n',
             "d.parquet": _parquet, "e.xlsx": _excel, "f.db": _sqlite, "g.duckdb": _duckdb}
    result = run(tmp_path, sources, files)
    ev = out(tmp_path, "events")
    assert sorted(ev["source"]) == sorted(sources)
    assert (ev["event_time"] == pd.Timestamp("2026-01-05 10:00", tz="UTC")).all()
    assert (ev["touchpoint"] == "product_page").all()
    # unmapped columns are kept as attributes (JSON), nested values as JSON text
    attrs = dict(zip(ev["source"], ev["attributes"].map(json.loads), strict=True))
    assert attrs["parquet"] == {"secs": "12"} and attrs["json"] == {"extra": '{"k":1}'}
    q = quarantined(tmp_path, "sqlite")
    assert q[["row", "column", "reason", "value"]].values.tolist() == [
        [2, "when_ts", "unparseable_time", "bad"]]
    assert result.sources.set_index("source").loc["sqlite", "rows_in"] == 2
    assert result.sources["balanced"].all()


def test_interview_transcripts_become_one_row_per_customer_turn(tmp_path):
    text = ("interview_id: INT-09\ndate: 2026-05-27\ncustomer: C9\nstage: purchase\n"
            "language: en\n---\nInterviewer: Tell me about it.\nCustomer: Payment failed.\n"
            "It failed twice.\nInterviewer: And then?\nCustomer: I called.\n")
    spec = {"kind": "feedback", "files": "iv/*.txt", "format": "transcript",
            "identifiers": {"crm": "customer"},
            "fields": {"response_time": {"column": "date"}, "channel": "interview",
                       "text": {"column": "text"}, "language": {"column": "language"},
                       "stage": {"column": "stage"}, "survey": "interview",
                       "response_id": {"column": "interview_id"}}}
    run(tmp_path, {"iv": spec}, {"iv/INT-09.txt": text})
    fb = out(tmp_path, "feedback")
    assert fb["text"].tolist() == ["Payment failed.\nIt failed twice.", "I called."]
    assert fb["raw_row"].tolist() == [8, 11]  # line numbers of the customer turns
    assert fb["stage"].tolist() == ["purchase"] * 2
    assert [json.loads(a)["question"] for a in fb["attributes"]] == ["Tell me about it.",
                                                                     "And then?"]


# ---- identity guard, near duplicates, atomic writes ---------------------------------------


def test_shared_email_is_blocked_not_merged(tmp_path):
    crm = "id,email\n" + "".join(f"C{i:03d},family@example.com\n" for i in range(60))
    crm += "".join(f"C{i:03d},own{i}@example.com\n" for i in range(60))
    mail = "".join(json.dumps({"email": e, "event": "open", "ts": "2026-01-05T10:00:00+00:00"})
                   + "\n" for e in ["family@example.com", "own1@example.com"])
    sources = {
        "crm": {"kind": "customers", "files": "crm.csv",
                "identifiers": {"crm": "id", "email": "email"},
                "fields": {"crm_id": {"column": "id"}}},
        "mail": {"kind": "events", "files": "mail.jsonl", "identifiers": {"email": "email"},
                 "fields": {"event_time": {"column": "ts"}, "channel": "email",
                            "touchpoint": {"column": "event", "map": {"open": "email_open"}}}},
    }
    cfg_files = {"crm.csv": crm, "mail.jsonl": mail}
    raw = tmp_path / "raw"
    raw.mkdir()
    for k, v in cfg_files.items():
        (raw / k).write_text(v, encoding="utf-8")
    spath = tmp_path / "sources.yaml"
    spath.write_text(yaml.safe_dump({"identity": {"salt": "t", "max_identifiers_per_customer": 20},
                                     "sources": sources}), encoding="utf-8")
    result = collect(raw, sources_path=spath, processed_dir=tmp_path / "out")
    assert len(out(tmp_path, "customers")) == 60
    assert result.identity["blocked_identifiers"] == 1
    assert result.identity["giants"][0]["top_identifiers"][0]["type"] == "email"
    q = quarantined(tmp_path, "mail")
    assert q[["row", "reason"]].values.tolist() == [[1, "ambiguous_identity"]]
    assert out(tmp_path, "events")["raw_row"].tolist() == [2]
    audit = out(tmp_path, "identity_audit")
    assert (audit["status"] == "blocked_shared_identifier").sum() == 1


def test_near_duplicates_keep_the_row_with_a_value(tmp_path):
    web = ("user_id,ts,event,dur\nC1,2026-01-05 10:00:00,buy,7\n"
           "C1,2026-01-05 12:00:00,buy,8\n")
    orders = "cust,ts,amount\nC1,2026-01-05 10:00:40,25.5\n"
    order_spec = {"kind": "events", "files": "orders.csv", "identifiers": {"crm": "cust"},
                  "fields": {"event_time": {"column": "ts"}, "channel": "web",
                             "touchpoint": "order_confirmation", "value": {"column": "amount"}}}
    result = run(tmp_path, {"web": {**WEB, "sessions": "given", "fields": {
        **WEB["fields"], "session_id": {"column": "user_id"}}}, "orders": order_spec},
        {"web.csv": web, "orders.csv": orders},
        dedupe={"near": {"tolerance_seconds": 60, "touchpoints": ["order_confirmation"]}})
    ev = out(tmp_path, "events").sort_values("event_time")
    # the CRM order is kept (it has the amount); the analytics row's duration and session fill
    # its gaps; the second purchase two hours later is a different event
    assert ev[["source", "value", "duration_s", "session_id"]].fillna(-1).values.tolist() == [
        ["orders", 25.5, 7.0, "web:C1"], ["web", -1, 8.0, "web:C1"]]
    q = quarantined(tmp_path, "web")
    assert q[["row", "reason", "detail"]].values.tolist() == [
        [1, "near_duplicate", "same customer and touchpoint as orders orders.csv row 1 "
                              "(40 s apart)"]]
    assert result.dedupe["near"]["pairs"] == 1


def test_a_crash_leaves_previous_tables_whole(tmp_path, monkeypatch):
    files = {"web.csv": "user_id,ts,event,dur\nC1,2026-01-05 10:00:00,view,1\n"}
    run(tmp_path, {"web": WEB}, files)
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").glob("*.*")}

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(assembly, "_assemble_customers", boom)
    (tmp_path / "raw" / "web.csv").write_text(
        "user_id,ts,event,dur\nC2,2026-01-06 10:00:00,view,1\n", encoding="utf-8")
    with pytest.raises(RuntimeError, match="disk full"):
        run(tmp_path, {"web": WEB}, {})
    outdir = tmp_path / "out"
    # the previous generation stays whole, manifest included; nothing of the new one is left
    assert {p.name: p.read_bytes() for p in outdir.glob("*.*")} == before
    assert not [p for p in outdir.rglob("*") if p.name.startswith(".")]
    assert not list(tmp_path.glob(".out.new-*"))


# ---- compressed exports: read as they come ------------------------------------------------


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".zip"])
def test_compressed_exports_are_read_like_plain_ones(tmp_path, suffix):
    """A `.csv.gz` was refused as 'unreadable encoding'; gzip, bz2 and one-file zip exports
    give the same events as the plain file, with the same row numbers."""
    import bz2
    import gzip
    import zipfile

    text = ("user_id,ts,event,dur\nC1,2026-01-05T10:00:00Z,view,3\n"
            "C1,2026-01-05T10:01:00Z,buy,\nC2,2026-01-05T11:00:00Z,view,oops\n")
    (tmp_path / "plain").mkdir()
    (tmp_path / "packed").mkdir()
    plain = run(tmp_path / "plain", {"web": WEB}, {"web.csv": text})

    def write(path: Path) -> None:
        data = text.encode("utf-8")
        if suffix == ".gz":
            path.write_bytes(gzip.compress(data))
        elif suffix == ".bz2":
            path.write_bytes(bz2.compress(data))
        else:
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("export/web.csv", data)

    name = f"web.csv{suffix}" if suffix != ".zip" else "web.zip"
    packed = run(tmp_path / "packed", {"web": {**WEB, "files": name}}, {name: write})
    assert plain.sources[["rows_in", "rows_out", "rows_quarantined"]].equals(
        packed.sources[["rows_in", "rows_out", "rows_quarantined"]])
    a = out(tmp_path / "plain", "events").drop(columns=["raw_file"])
    b = out(tmp_path / "packed", "events").drop(columns=["raw_file"])
    pd.testing.assert_frame_equal(a, b)
    assert quarantined(tmp_path / "packed", "web")["row"].tolist() == [3]  # the 'oops' row


def test_a_zip_with_several_files_is_refused(tmp_path):
    import zipfile

    def write(path: Path) -> None:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("a.csv", "x\n1\n")
            archive.writestr("b.csv", "x\n2\n")

    with pytest.raises(ValueError, match=r"web.zip: a zip archive must hold exactly one file"):
        run(tmp_path, {"web": {**WEB, "files": "web.zip"}}, {"web.zip": write})


def test_time_from_date_part_columns_with_semicolons_and_spaces(tmp_path):
    """Year, month and day in separate columns (a clickstream export) build the event time;
    an impossible date is quarantined as unparseable, a missing part as missing."""
    rows = ["year;month;day;session ID;page 1 (main category)",
            "2008;4;1;7;1", "2008;4;30;7;3", "2008;4;31;8;2", "2008;;2;8;2"]
    spec = {"kind": "events", "files": "e-shop clicks.csv", "delimiter": ";",
            "identifiers": {"crm": "session ID"},
            "fields": {"event_time": {"date_parts": {"year": "year", "month": "month",
                                                     "day": "day"}},
                       "channel": "web",
                       "touchpoint": {"column": "page 1 (main category)",
                                      "map": {"1": "product_page", "2": "product_page",
                                              "3": "product_page"}}}}
    run(tmp_path, {"clicks": spec}, {"e-shop clicks.csv": "\n".join(rows) + "\n"})
    ev = out(tmp_path, "events")
    assert sorted(ev["event_time"].dt.strftime("%Y-%m-%d %H:%M")) == ["2008-04-01 00:00",
                                                                    "2008-04-30 00:00"]
    q = quarantined(tmp_path, "clicks")[["row", "column", "reason", "value"]]
    assert q.values.tolist() == [[3, "year, month, day", "unparseable_time", "2008-04-31 00:00:00"],
                                 [4, "year, month, day", "missing_time", None]]


def test_date_parts_need_year_month_and_day(tmp_path):
    spec = {"kind": "events", "files": "c.csv", "identifiers": {"crm": "id"},
            "fields": {"event_time": {"date_parts": {"year": "y", "month": "m"}},
                       "channel": "web", "touchpoint": "product_page"}}
    with pytest.raises(ValueError, match="date_parts maps year"):
        run(tmp_path, {"c": spec}, {"c.csv": "id,y,m\n1,2008,4\n"})
