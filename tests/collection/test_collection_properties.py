"""Property: for arbitrary dirty input no row is ever lost.

Hypothesis writes CSV files (any text in any field: commas, quotes, line breaks, Chinese,
Cyrillic, emoji, wrong field counts) and JSON-lines files (valid objects, truncated objects,
arbitrary text, empty lines), and the test checks, record by record, that each raw row is in the
events table or in the quarantine, exactly once, and that the manifest's rows_in equals the number
of records written.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pandas as pd
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cjmlib.collection.assembly import collect

SOURCES = {
    "identity": {"salt": "property"},
    "sources": {
        "web": {"kind": "events", "files": "web.csv", "sessions": "derive",
                "identifiers": {"crm": "user_id", "cookie": "cookie_id"},
                "fields": {"event_time": {"column": "ts"}, "channel": "web",
                           "touchpoint": {"column": "event",
                                          "map": {"view": "product_page", "cart": "cart"}},
                           "duration_s": {"column": "dur"}}},
        "mail": {"kind": "events", "files": "mail.jsonl", "identifiers": {"email": "email"},
                 "fields": {"event_time": {"column": "ts"}, "channel": "email",
                            "touchpoint": {"column": "event", "map": {"open": "email_open"}}}},
    },
}
COLUMNS = ["user_id", "cookie_id", "ts", "event", "dur"]

junk = st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"),
               max_size=12)
cell = {
    "user_id": st.one_of(st.sampled_from(["C1", "C2", " c1 ", ""]), junk),
    "cookie_id": st.one_of(st.sampled_from(["GA1.1", "GA1.2", ""]), junk),
    "ts": st.one_of(st.sampled_from(["2026-01-05 10:00:00", "2026-01-05T10:20:00+01:00",
                                     "2026-02-30 10:00:00", "", "N/A"]), junk),
    "event": st.one_of(st.sampled_from(["view", "cart", "debug", ""]), junk),
    "dur": st.one_of(st.sampled_from(["1.5", "-2", "0", "", "abc", "nan", "1e400"]), junk),
}
good_row = st.fixed_dictionaries(cell).map(lambda d: ("row", [d[c] for c in COLUMNS]))
bad_row = st.lists(st.text(alphabet="abc019:-", min_size=1, max_size=5), min_size=1,
                   max_size=8).filter(lambda f: len(f) != len(COLUMNS)).map(lambda f: ("raw", f))
json_line = st.one_of(
    st.fixed_dictionaries({"email": st.sampled_from(["a@b.com", "A@B.com ", "x", ""]),
                           "event": st.sampled_from(["open", "click"]),
                           "ts": st.sampled_from(["2026-01-05T10:00:00+00:00", "bad"])}
                          ).map(lambda d: json.dumps(d, ensure_ascii=False)),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"],
                                   blacklist_characters="\x00\n\r"), max_size=40),
    st.just('{"email": "a@b.com", "ev'),
)


def _csv_text(records: list[tuple[str, list[str]]]) -> str:
    # CRLF line ends (RFC 4180): the writer then quotes every field holding a CR or LF, which
    # readers take as part of the value; a bare CR outside quotes would be a line break
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for kind, fields in records:
        if kind == "row":
            writer.writerow(fields)
        else:  # a line with the wrong number of fields, written as is
            buf.write(",".join(fields) + "\r\n")
    return buf.getvalue()


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(records=st.lists(st.one_of(good_row, good_row, good_row, bad_row), min_size=1,
                        max_size=25),
       lines=st.lists(json_line, min_size=1, max_size=10))
def test_no_row_is_ever_lost(records, lines):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw = tmp / "raw"
        raw.mkdir()
        (raw / "web.csv").write_bytes(_csv_text(records).encode("utf-8"))
        (raw / "mail.jsonl").write_bytes(("\n".join(lines) + "\n").encode("utf-8"))
        spath = tmp / "sources.yaml"
        spath.write_text(yaml.safe_dump(SOURCES), encoding="utf-8")
        result = collect(raw, sources_path=spath, processed_dir=tmp / "out",
                         hash_inputs=False)
        events = pd.read_parquet(tmp / "out" / "events.parquet")
        counts = result.sources.set_index("source")
        for source, n in (("web", len(records)), ("mail", len(lines))):
            q = pd.read_parquet(tmp / "out" / "quarantine" / f"{source}.parquet")
            kept = events.loc[events["source"] == source, "raw_row"].tolist()
            rows = sorted(kept + q["row"].tolist())
            assert rows == list(range(1, n + 1)), source  # each row exactly once
            assert counts.loc[source, "rows_in"] == n
            assert counts.loc[source, "rows_out"] == len(kept)
            assert counts.loc[source, "rows_quarantined"] == len(q)
            assert q["reason"].notna().all()
        malformed = {i + 1 for i, (kind, _) in enumerate(records) if kind == "raw"}
        q = pd.read_parquet(tmp / "out" / "quarantine" / "web.parquet")
        assert set(q.loc[q["reason"] == "malformed_row", "row"]) == malformed
