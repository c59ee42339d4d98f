"""The fast privacy scan (issue 15) finds exactly what the detectors find.

:mod:`cjmlib.core.privacy.search` runs the detectors only on the lines of a long text where
they can match; the raw data's e-mails are counted once per distinct run of characters
around an ``@``, in Parquet tables column by column; long texts are normalised a block of
lines at a time; each distinct raw phone or name is read once. Each shortcut is checked
here against the straightforward way: the detectors over the whole text, the text
normalised whole, the table printed row by row with pandas, every value read. The planted
values come from the fuzz test's generator.
"""

from __future__ import annotations

import itertools
import json
import random
import unicodedata
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjmlib.core import privacy
from cjmlib.core.privacy import detect, search, sources
from cjmlib.core.privacy.scan import output_texts
from tests.core.test_privacy_fuzz import (
    CONTEXTS,
    email_forms,
    make_customers,
    name_forms,
    personal_of,
    phone_forms,
)


# --------------------------------------------------------------------------------------------
# The straightforward reference
# --------------------------------------------------------------------------------------------
def whole_normalised(text: str) -> str:
    """NFKC of the whole text with straight apostrophes, in one go."""
    text = unicodedata.normalize("NFKC", text)
    for curly in ("\u2019", "\u2018", "\u02bc"):
        text = text.replace(curly, "'")
    return text


def parquet_rows(path: Path) -> str:
    """A Parquet table as the scan prints it, row by row with pandas."""
    schema = pq.read_schema(path)
    header = " | ".join(schema.names)
    keep = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(
        f.type) or pa.types.is_integer(f.type) or pa.types.is_dictionary(f.type)]
    if not keep:
        return header
    frame = pq.read_table(path, columns=keep).to_pandas()
    if frame.empty:
        return header
    cells = frame.astype("string").fillna("")
    return header + "\n" + "\n".join(" | ".join(row) for row in cells.itertuples(index=False))


def reference_hits(folder: Path, personal: privacy.PersonalData) -> list[tuple]:
    """What scan_outputs reports, from the detectors run over each whole text."""
    rows: dict[tuple[str, str, str, str], int] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = str(path.relative_to(folder))
        texts = ([("table", parquet_rows(path))] if path.suffix == ".parquet"
                 else list(output_texts(path)))
        for where, text in texts:
            spans = detect._personal_spans(whole_normalised(text), personal)
            for (kind, value), n in Counter((s.kind, s.masked) for s in spans).items():
                key = (rel, kind, where, value)
                rows[key] = max(rows.get(key, 0), n) if where == "html" else (
                    rows.get(key, 0) + n)
    return sorted((*key, n) for key, n in rows.items())


# --------------------------------------------------------------------------------------------
# A large table with personal data planted all over it
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def planted() -> tuple[list, privacy.PersonalData]:
    rng = random.Random(15)
    customers = make_customers(rng, 40)
    return customers, personal_of(customers, 20_000, rng)


def planted_table(customers: list, personal: privacy.PersonalData, rng: random.Random,
                  rows: int = 3_000) -> tuple[pd.DataFrame, list[int]]:
    """A sentiment-like table whose ids end in listed phones' digits, with a customer's
    e-mail, phone or name in one of its written forms in about one comment in twenty and
    in the first and last three rows, first and last names in neighbouring cells and one
    name across two rows (the last cell of a row, the first of the next). Returns the
    table and the rows planted."""
    phones = sorted(personal.phones)
    latin = [c for c in customers if not c.cjk]
    tails = [rng.choice(phones) for _ in range(rows)]
    comments = [rng.choice(["Payment failed twice, order 2026 was late",
                            "支付页面很卡，体验很差，等了45分钟", "Great app £1,234.56",
                            "Waited 3.5 hours on 2026-05-25 10:30"]) for _ in range(rows)]
    at = sorted({*rng.sample(range(rows), rows // 20), 0, rows - 3, rows - 2, rows - 1})
    for k in at:
        c = rng.choice(customers)
        forms = rng.choice([phone_forms, name_forms, email_forms])(c)
        comments[k] = rng.choice(CONTEXTS).format(x=rng.choice(list(forms.values())))
    family, given = [""] * rows, [""] * rows
    for k in rng.sample(range(rows - 1), 30):
        c = rng.choice(latin)
        family[k], given[k] = c.last, c.first  # neighbours: ... | given \n family | ...
    c = latin[0]
    given[rows // 2], family[rows // 2 + 1] = c.first, c.last  # across two rows
    table = pd.DataFrame({
        "family": family,
        "response_id": [int(f"{k + 100_001}{t}") for k, t in enumerate(tails)],
        "customer_id": [f"cu_{rng.randrange(16**10):010x}{t[-6:]}" for t in tails],
        "score": [round(rng.uniform(-1, 1), 10) for _ in range(rows)],
        "when": [f"2026-0{1 + k % 9}-1{k % 10} 0{k % 10}:30:00+00:00" for k in range(rows)],
        "comment": comments, "given": given})
    return table, at


def test_the_scan_finds_what_the_detectors_find_in_a_large_planted_table(
        tmp_path: Path, planted) -> None:
    customers, personal = planted
    table, at = planted_table(customers, personal, random.Random(1))
    run = tmp_path / "run"
    run.mkdir()
    table.to_csv(run / "voice_sentiment.csv", index=False)
    table.to_parquet(run / "voice_sentiment.parquet")
    table.to_json(run / "voice_sentiment.jsonl", orient="records", lines=True,
                  force_ascii=False)
    (run / "report.html").write_text(
        "<html><body><h1>Report</h1>" + table.to_html(index=False) + "</body></html>",
        encoding="utf-8")
    for path in run.iterdir():  # every file is long enough for the line-by-line search
        assert all(len(t) >= search._LONG_TEXT for _, t in output_texts(path)), path

    scan = privacy.scan_outputs(run, personal)
    hits = sorted(scan.hits.itertuples(index=False, name=None))
    assert hits == reference_hits(run, personal)
    # and they are the planted ones: in every file, in the last rows too, names across cells
    found = {(file, kind) for file, kind, *_ in hits}
    assert {f for f, _ in found} == {"voice_sentiment.csv", "voice_sentiment.parquet",
                                     "voice_sentiment.jsonl", "report.html"}
    assert {k for _, k in found} == {"email", "phone", "name"}
    last = detect.find_personal_data(table["comment"].iloc[-1], personal)
    assert last, table["comment"].iloc[-1]
    for file in ("voice_sentiment.csv", "voice_sentiment.parquet", "report.html"):
        in_file = {(kind, value) for f, kind, _, value, _ in hits if f == file}
        assert set(last) <= in_file, (file, last)
    across = ("name", f"{customers[0].first[0]}*** {customers[0].last[0]}***")
    assert any((k, v) == across for f, k, _, v, _ in hits if f == "voice_sentiment.csv")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_line_by_line_search_gives_the_detectors_spans(planted, seed: int) -> None:
    """Random long texts mixing planted values, digit runs ending in listed phones, table
    borders, CJK names across lines and e-mails: the same spans, at the same places."""
    customers, personal = planted
    rng = random.Random(seed)
    phones = sorted(personal.phones)
    pieces = []
    while sum(map(len, pieces)) < 2 * search._LONG_TEXT:
        c = rng.choice(customers)
        forms = rng.choice([phone_forms, name_forms, email_forms])(c)
        d = rng.choice(phones)
        pieces.append(rng.choice([
            rng.choice(CONTEXTS).format(x=rng.choice(list(forms.values()))),
            f"id {rng.randrange(10**5)}{d} | 0.{d} | 0{d[:4]} {d[4:]}",
            f"{c.first}\n{c.last}", f"{c.last},\n {c.first}", "李\n静", "王 \n 伟",
            f"{rng.choice(customers).email_local}@{c.domain[0]}\n@@ x@y",
            "| " * rng.randrange(8), str(rng.random())]))
    text = whole_normalised(rng.choice(["\n", " ", " | "]).join(pieces))
    assert search._spans(text, personal) == detect._personal_spans(text, personal)
    # phones written otherwise than in plain digits: every line is searched
    odd = privacy.PersonalData(personal.emails, personal.phones | {"+44"}, personal.names,
                               personal.cjk_names, regions=personal.regions)
    assert odd.phone_numbers is None
    assert search._spans(text, odd) == detect._personal_spans(text, odd)


def test_written_emails_counts_what_the_detector_reads() -> None:
    rng = random.Random(4)
    alphabet = 'ab.@-_%+ ,\n"xé中。Z9'
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 400)))
             for _ in range(300)]
    texts += ["q" * 700 + "@ab.cd" + t for t in texts[:20]]  # runs longer than 256 bytes
    for text in texts:
        assert search.written_emails(text) == Counter(detect._EMAIL_TEXT.findall(text))
    text = "\n".join(texts * 40)
    assert len(text) > search._LONG_TEXT
    assert search.written_emails(text) == Counter(detect._EMAIL_TEXT.findall(text))
    text += "\nz\ud800 q@r.st\n"  # a lone surrogate (from a JSON escape) cannot be encoded
    assert search.written_emails(text) == Counter(detect._EMAIL_TEXT.findall(text))


def test_parquet_emails_and_text_are_those_of_the_rows(tmp_path: Path) -> None:
    frames = {
        "ints_with_gaps": pd.DataFrame({"a": pd.array([1, None, 7431519152], dtype="Int64"),
                                        "b": ["x", None, "ann@x.org"]}),
        "arrow_ints_with_gaps": pa.table({"a": pa.array([1, None, 2**62]),
                                          "b": pa.array(["x", None, "é"])}),
        "categories": pd.DataFrame({"c": pd.Categorical(["a＠b.com", None, "b"]),
                                    "i": [1, 2, 3], "u": pd.array([1, 2, 2**63], "uint64")}),
        "whole_number_categories": pa.table({"d": pa.array([1, None, 3]).dictionary_encode(),
                                             "s": pa.array(["Li@例子.中国", "b", None])}),
        "empty": pd.DataFrame({"a": pd.Series([], dtype=str)}),
        "floats": pd.DataFrame({"f": [1.5]}),
    }
    for name, frame in frames.items():
        path = tmp_path / f"{name}.parquet"
        if isinstance(frame, pa.Table):
            pq.write_table(frame, path)
        else:
            frame.to_parquet(path)
        rows = parquet_rows(path)
        assert sources._parquet_text(path) == rows, name
        assert sources._written_emails(path, "") == Counter(
            detect._EMAIL_TEXT.findall(whole_normalised(rows))), name


def test_long_texts_are_normalised_as_a_whole() -> None:
    rng = random.Random(5)
    alphabet = ("ab Z9\n\n\u0301\u0308\u0327e\u1100\u1161\u11a8\uac00０＠．\u3000\u00a0"
                "\uf900\ufb01\u2019\u00b4\u2126")
    for _ in range(3):
        text = "".join(rng.choice(alphabet) for _ in range(3 * detect._NFKC_BLOCK + 5_000))
        assert detect.normalise_text(text) == whole_normalised(text)
    assert detect.normalise_text("plain ascii\n" * 10_000) == "plain ascii\n" * 10_000


def test_each_distinct_raw_value_is_read_once_as_it_would_be_each_time(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    values = [7431519152, "07431 519152", 7431519152.0, "07431 519152", None, "+86 138 1234 5678",
              "+86 138 1234 5678", True, "07431 519153"]
    names = [["Ella", "Wood"], ["Ella", "Wood"], ["李", "静"], [None, "Wood"], [-0.0, "x"],
             [0.0, "x"], ["Ella", "Wood"], ["Ann", "Lee"], ["Ella", "Wood"]]
    (raw / "contacts.jsonl").write_text("\n".join(
        json.dumps({"phone": v, "first_name": f, "last_name": s})
        for v, (f, s) in zip(values, names, strict=True)), encoding="utf-8")
    personal = privacy.personal_data(raw)
    read = [privacy.phone_and_region(v) for v in values]
    assert personal.phones == {r[0] for r in read if r}
    assert personal.counts["contacts.jsonl"]["phone"] == sum(1 for r in read if r)
    assert personal.names == {("ella", "wood"), ("-0.0", "x"), ("0.0", "x"), ("ann", "lee")}
    assert personal.cjk_names == {"李静", "静李"}
    assert personal.counts["contacts.jsonl"]["name"] == 8


def test_a_slow_scan_says_how_far_it_got_and_a_quick_one_is_quiet(
        tmp_path: Path, planted, monkeypatch) -> None:
    customers, personal = planted
    run = tmp_path / "run"
    run.mkdir()
    for k in range(3):
        (run / f"t{k}.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    said: list[str] = []
    assert privacy.scan_outputs(run, personal, progress=said.append).passed
    assert said == []
    monkeypatch.setattr(sources, "PROGRESS_EVERY", 0.0)
    privacy.scan_outputs(run, personal, progress=said.append)
    assert said == [f"privacy scan: {k} of 3 output files searched (next: t{k}.csv)"
                    for k in range(3)]



def test_the_dialling_prefixes_are_those_the_detector_takes() -> None:
    # up to six digits: 00, a country code of up to three digits, a trunk 0
    assert max(map(len, detect._country_codes())) <= 3
    taken = {(len(s), int(s or 0)) for w in range(7)
             for s in ("".join(t) for t in itertools.product("0123456789", repeat=w))
             if detect._dialling_prefix(s)}
    assert {(w, int(v)) for w, a in search._dialling_prefixes().items() for v in a} == taken


def parsed_phone(value: str, region: str) -> tuple[str, str] | None:
    """What phone_and_region reads, with phonenumbers.parse asked for every value."""
    import phonenumbers

    text = whole_normalised(value).strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) < 7 or len(set(digits)) == 1:
        return None
    try:
        number = phonenumbers.parse(text, region)
        national = str(number.national_number)
        found = phonenumbers.region_code_for_country_code(number.country_code)
    except phonenumbers.NumberParseException:
        national, found = digits.lstrip("0"), region
    if len(national) < 7 or len(set(national)) == 1:
        return None
    return national, found if found != "ZZ" else region


def test_phones_in_digits_and_punctuation_are_read_as_phonenumbers_reads_them() -> None:
    # the digits alone decide: a + or not, country codes (one to three digits, unknown
    # ones, 0 first), 00 and the default region's code first, China's carrier prefixes,
    # trunk prefixes, non-geographic codes, numbers too long; in several regions
    rng = random.Random(6)
    heads = ["", "+", "0", "00", "+0", "(", "+(", "+ ", "-", "0086", "86", "44", "+44 (0)",
             "011", "+1", "1", "+800 ", "+39 0", "+54 9", "+55 0", "17951", "1200", "11",
             "+86 1179", "+86 12", "+7 8", "+44", "+86 ", "+999"]
    values = ["+44 7644 808806", "(07644) 808-806", "07644 808806", "+86 138 1234 5678",
              "+86-138-1234-5678", "008613812345678", "+44 0000 000000", "7644808806"]
    for _ in range(1500):
        value = rng.choice(heads)
        for digit in rng.choices("0123456789", k=rng.randint(5, 18)):
            value += digit + (rng.choice([" ", "-", " - ", "(", ")", "  "])
                              if rng.random() < 0.25 else "")
        values.append(value)
    for region in ("GB", "CN", "US", "AR", "IT", "gb", "XX"):
        for value in values if region in ("GB", "CN") else values[:400]:
            assert privacy.phone_and_region(value, default_region=region) == parsed_phone(
                value, region), (value, region)


def test_ascii_files_are_read_as_their_text(tmp_path: Path) -> None:
    rng = random.Random(7)
    alphabet = 'ab.@-_%+ ,\n"xZ9'
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 300)))
             for _ in range(200)]
    texts += ["q" * 700 + "@ab.cd" + t for t in texts[:10]]  # long runs
    texts.append("\n".join(texts * 30))
    for text in texts:
        assert search._written_emails_utf8(text.encode("ascii")) == Counter(
            detect._EMAIL_TEXT.findall(text))
    # the columns of a CSV or JSON-lines export, from its bytes or from its text
    files = {"a.csv": "id,phone,first_name,last_name\n1,07644 808806,Ella,Wood\n2,,Ann,\n",
             "b.csv": '"id","mobile"\n1,"+44 7644 808806"\n',
             "c.jsonl": '{"phone": "07644 808806", "name": "Ella Wood"}\nnot json\n{"x": 1}\n',
             "d.csv": "no,header,here\n", "e.jsonl": '{"email": "a@b.cd"}\n', "f.csv": ""}
    for name, text in files.items():
        path = tmp_path / name
        path.write_text(text, encoding="ascii")
        from_text = [(w, {c: column(c) for c in w})
                     for w, column in sources._records(path, text=text)]
        from_bytes = [(w, {c: column(c) for c in w})
                      for w, column in sources._records(path, data=text.encode("ascii"))]
        assert from_bytes == from_text, name
