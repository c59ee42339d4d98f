"""Privacy: no raw e-mail, phone or name leaves the workbench; small groups stay hidden.

Two tools:

* :func:`personal_data` reads the raw exports of a run and collects the personal data they
  hold: every e-mail address found anywhere in them, the phone numbers of phone-like columns
  (``phone``, ``mobile``, ``caller_number``, ``电话`` ...) and the full names of name columns
  (``first_name`` + ``last_name``, ``name``, ``姓名`` ...). :func:`scan_outputs` then searches
  every output file of a run -- executed notebooks (cell sources and text outputs), HTML
  (text and attributes), CSV/Parquet/JSON tables, Markdown, logs -- for any of them and
  returns the hits *masked* (``g***@icloud.com``, ``***806``, ``G*** W***``), so the scan
  report itself leaks nothing. Images are not searched (their text comes from the tables,
  which are); ``data:`` URIs and base64 image outputs are skipped.

  Matching rules. E-mails: case-insensitive, surrounding spaces ignored (the raw exports
  differ in both). Phones: compared on the national significant number (E.164 without the
  country code, parsed with ``phonenumbers``), so ``+44 7644 808806``, ``07644808806`` and
  ``(07644) 808-806`` are the same number; in the outputs, digit groups joined by at most
  two separators (space, ``-``, ``(``, ``)``, ``/``, ``+``) are read as one number and every
  group boundary is tried as its end. Names: a first and a last name of the same raw row next
  to each other in either order (``George Wood``, ``Wood, George``; case-insensitive, up to a
  few separators or table cell borders between them) or, for CJK names, written together
  (``王伟``). Placeholders (``noemail@example.com``, ``00000000000``, numbers of one repeated
  digit) are not personal data and are ignored.

* :func:`suppress_small_groups` blanks the values of breakdown rows with fewer than
  ``min_size`` units (statistical disclosure control by threshold suppression, as in the
  ONS / Eurostat practice for tabular outputs), keeping the row and saying why.
"""

from __future__ import annotations

import html as html_lib
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib.core.checks import check_scalar

#: Placeholder values that are not personal data.
PLACEHOLDER_EMAILS = frozenset({"noemail@example.com", "none@none.com", "na@na.com"})
#: Raw column names that hold phone numbers.
PHONE_COLUMNS = re.compile(
    r"(phone|mobile|cell|tel(ephone)?$|^tel|caller|msisdn|手机|电话|联系方式)", re.I)
#: Raw column names that hold a first name, a last name or a full name.
FIRST_NAME_COLUMNS = re.compile(r"^(first[ _.-]?name|given[ _.-]?name|forename|名字?)$", re.I)
LAST_NAME_COLUMNS = re.compile(r"^(last[ _.-]?name|surname|family[ _.-]?name|姓氏?)$", re.I)
FULL_NAME_COLUMNS = re.compile(
    r"^((full|customer|contact|display)[ _.-]?name|name|姓名|客户姓名|联系人)$", re.I)

_EMAIL = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}")
_DIGITS = re.compile(r"\d+")
_PHONE_GAP = re.compile(r"[ \u00a0\-()/+]{1,2}")
_LATIN_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ][A-Za-zÀ-ÖØ-öø-ÿ'’\-]*")
_NAME_GAP = re.compile(r"^[\s,.;:|/\"'\\]{1,12}$")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_DATA_URI = re.compile(r"data:[\w/+.\-]+;base64,[A-Za-z0-9+/=\s]+")
_TAG = re.compile(r"<[^>]+>")
#: Text formats read as text; Parquet, notebooks and HTML have their own readers.
TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".md", ".json", ".jsonl", ".log", ".yaml",
                           ".yml", ".svg", ".xml", ".tex"})
#: Formats that cannot carry text (figures): listed as skipped.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"})


# --------------------------------------------------------------------------------------------
# Personal data of the raw exports
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PersonalData:
    """Personal data found in the raw exports, normalised for matching.

    ``emails``: lower-case addresses; ``phones``: national significant numbers (digits);
    ``names``: ``(first, last)`` pairs, lower-case; ``cjk_names``: CJK full names written
    together, both orders; ``counts``: per raw file, how many values of each kind were read.
    """

    emails: frozenset[str]
    phones: frozenset[str]
    names: frozenset[tuple[str, str]]
    cjk_names: frozenset[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.emails or self.phones or self.names or self.cjk_names)

    def summary(self) -> pd.DataFrame:
        """Distinct values per kind (never the values themselves)."""
        return pd.DataFrame({"kind": ["email", "phone", "name"],
                             "distinct_values": [len(self.emails), len(self.phones),
                                                 len(self.names) + len(self.cjk_names)]})


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def normalise_phone(value: Any, *, default_region: str = "GB") -> str | None:
    """National significant number of a phone (digits), or None for placeholders and
    values that are not phone numbers.

    >>> normalise_phone("+44 7644 808806"), normalise_phone("(07644) 808-806")
    ('7644808806', '7644808806')
    >>> normalise_phone("+86 138 1234 5678"), normalise_phone("00000000000")
    ('13812345678', None)
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    digits = "".join(_DIGITS.findall(text))
    if len(digits) < 7 or len(set(digits)) == 1:
        return None
    import phonenumbers

    try:
        number = phonenumbers.parse(text, default_region)
        national = str(number.national_number)
    except phonenumbers.NumberParseException:
        national = digits.lstrip("0")
    return national if len(national) >= 7 and len(set(national)) > 1 else None


def _wanted(columns: Iterable[Any]) -> list[str]:
    """Columns that may hold a phone or a name."""
    return [str(c) for c in columns
            if PHONE_COLUMNS.search(str(c)) or FIRST_NAME_COLUMNS.match(str(c))
            or LAST_NAME_COLUMNS.match(str(c)) or FULL_NAME_COLUMNS.match(str(c))]


def _records(path: Path) -> Iterator[tuple[list[str], Iterable[Mapping[str, Any]]]]:
    """Phone and name columns of a raw table as (columns, rows); nothing for files without
    such columns or that are not tables (e-mails are read from the text of every file)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        text = _decode(path.read_bytes())
        sep = "\t" if suffix == ".tsv" else ","
        try:
            header = pd.read_csv(io.StringIO(text), dtype=str, sep=sep, nrows=0)
        except Exception:  # not a table
            return
        wanted = _wanted(header.columns)
        if wanted:
            frame = pd.read_csv(io.StringIO(text), dtype=str, sep=sep, usecols=wanted,
                                on_bad_lines="skip")
            yield wanted, frame.to_dict("records")
    elif suffix in (".jsonl", ".ndjson"):
        lines = _decode(path.read_bytes()).splitlines()
        keys: set[str] = set()
        for line in lines[:200]:  # JSON lines share their keys: look at the first ones
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                keys.update(obj)
        wanted = _wanted(sorted(keys))
        if not wanted:
            return
        rows = []
        for line in lines:
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                rows.append({k: obj.get(k) for k in wanted})
        yield wanted, rows
    elif suffix == ".json":
        try:
            obj = json.loads(_decode(path.read_bytes()))
        except ValueError:
            return
        if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
            wanted = _wanted(sorted({k for r in obj for k in r}))
            if wanted:
                yield wanted, obj
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        wanted = _wanted(pq.read_schema(path).names)
        if wanted:
            frame = pd.read_parquet(path, columns=wanted)
            yield wanted, frame.astype("string").to_dict("records")
    elif suffix in (".xlsx", ".xlsm"):
        frames = pd.read_excel(path, sheet_name=None, dtype=str)
        for frame in frames.values():
            wanted = _wanted(frame.columns)
            if wanted:
                yield wanted, frame[wanted].to_dict("records")


def _file_text(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return _parquet_text(path)
    if suffix in (".xlsx", ".xlsm"):
        frames = pd.read_excel(path, sheet_name=None, dtype=str)
        return "\n".join(f.to_csv(index=False) for f in frames.values())
    if suffix in IMAGE_SUFFIXES:
        return ""
    return _decode(path.read_bytes())


def personal_data(
    raw: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    placeholder_emails: Iterable[str] = PLACEHOLDER_EMAILS,
    default_region: str = "GB",
) -> PersonalData:
    """Collect the e-mails, phones and names held by the raw exports.

    ``raw``: the raw data folder, a raw file, or several of them. Every file is read
    (CSV/TSV in UTF-8 or GB18030, JSON lines, JSON, Parquet, Excel, text): e-mail addresses
    anywhere in it; phones from columns whose name says phone (see :data:`PHONE_COLUMNS`);
    names from first/last/full name columns. Raises ``FileNotFoundError`` naming a source
    that does not exist.
    """
    sources = [raw] if isinstance(raw, (str, os.PathLike)) else list(raw)
    files: list[tuple[Path, str]] = []
    for source in sources:
        root = Path(source)
        if not root.exists():
            raise FileNotFoundError(f"{root}: raw data not found")
        if root.is_dir():
            files += [(p, str(p.relative_to(root))) for p in sorted(root.rglob("*"))
                      if p.is_file()]
        else:
            files.append((root, root.name))
    skip_emails = {e.strip().lower() for e in placeholder_emails}
    emails: set[str] = set()
    phones: set[str] = set()
    names: set[tuple[str, str]] = set()
    cjk: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    for path, rel in files:
        found = {"email": 0, "phone": 0, "name": 0}
        text = _file_text(path)
        for address in _EMAIL.findall(text.lower()):
            if address not in skip_emails:
                emails.add(address)
                found["email"] += 1
        try:
            tables = list(_records(path))
        except Exception:  # an unreadable table still had its e-mails read above
            tables = []
        for columns, rows in tables:
            phone_cols = [c for c in columns if PHONE_COLUMNS.search(str(c))]
            first_cols = [c for c in columns if FIRST_NAME_COLUMNS.match(str(c))]
            last_cols = [c for c in columns if LAST_NAME_COLUMNS.match(str(c))]
            full_cols = [c for c in columns if FULL_NAME_COLUMNS.match(str(c))]
            if not (phone_cols or first_cols or full_cols):
                continue
            for row in rows:
                for c in phone_cols:
                    number = normalise_phone(row.get(c), default_region=default_region)
                    if number:
                        phones.add(number)
                        found["phone"] += 1
                for fc, lc in zip(first_cols, last_cols, strict=False):
                    if _add_name(row.get(fc), row.get(lc), names, cjk):
                        found["name"] += 1
                for c in full_cols:
                    parts = str(row.get(c) or "").split()
                    if len(parts) >= 2 and _add_name(parts[0], parts[-1], names, cjk):
                        found["name"] += 1
                    elif len(parts) == 1 and _CJK.fullmatch(parts[0]) and len(parts[0]) >= 2:
                        cjk.add(parts[0])
                        found["name"] += 1
        if any(found.values()):
            counts[rel] = found
    return PersonalData(frozenset(emails), frozenset(phones), frozenset(names),
                        frozenset(cjk), counts)


def _add_name(first: Any, last: Any, names: set[tuple[str, str]], cjk: set[str]) -> bool:
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return False
    first, last = str(first).strip(), str(last).strip()
    if not first or not last:
        return False
    if _CJK.search(first) or _CJK.search(last):
        cjk.update({last + first, first + last})
    else:
        names.add((first.lower(), last.lower()))
    return True


# --------------------------------------------------------------------------------------------
# Reading outputs as text
# --------------------------------------------------------------------------------------------
def _parquet_text(path: Path) -> str:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    header = " | ".join(schema.names)
    # text and whole numbers can hold an e-mail, a phone or a name; floats, times cannot
    keep = [f.name for f in schema if pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type) or pa.types.is_integer(f.type)
            or pa.types.is_dictionary(f.type)]
    if not keep:
        return header
    frame = pq.read_table(path, columns=keep).to_pandas()
    if frame.empty:
        return header
    cells = frame.astype("string").fillna("")
    return header + "\n" + "\n".join(" | ".join(row) for row in cells.itertuples(index=False))


def _html_texts(markup: str) -> list[str]:
    """The markup (attributes included) and its visible text, data URIs removed."""
    markup = _DATA_URI.sub(" ", markup)
    text = html_lib.unescape(_TAG.sub(" | ", markup))
    return [html_lib.unescape(markup), text]


def _notebook_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, text) for every cell source and every text output of a notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    yield "metadata", json.dumps(nb.get("metadata", {}), ensure_ascii=False)
    for k, cell in enumerate(nb.get("cells", [])):
        where = f"cell {k}"
        source = cell.get("source", "")
        yield where, "".join(source) if isinstance(source, list) else str(source)
        for output in cell.get("outputs", []):
            parts: list[str] = []
            if "text" in output:
                text = output["text"]
                parts.append("".join(text) if isinstance(text, list) else str(text))
            for key in ("ename", "evalue"):
                if key in output:
                    parts.append(str(output[key]))
            parts.extend(str(line) for line in output.get("traceback", []))
            for mime, data in (output.get("data") or {}).items():
                if mime.startswith("image/") and mime != "image/svg+xml":
                    continue
                value = "".join(data) if isinstance(data, list) else (
                    data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))
                if "html" in mime or "svg" in mime:
                    parts.extend(_html_texts(value))
                else:
                    parts.append(value)
            yield where, "\n".join(parts)


def output_texts(path: Path) -> Iterator[tuple[str, str]]:
    """(where, text) pieces of one output file to search; nothing for images."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return
    if suffix == ".ipynb":
        yield from _notebook_texts(path)
    elif suffix in (".html", ".htm"):
        for text in _html_texts(_decode(path.read_bytes())):
            yield "html", text
    elif suffix == ".parquet":
        yield "table", _parquet_text(path)
    elif suffix in (".xlsx", ".xlsm"):
        yield "table", _file_text(path)
    else:
        text = _decode(path.read_bytes())
        if suffix in (".json", ".ipynb"):
            try:  # \u escapes would hide CJK names and '@' from the text search
                text = json.dumps(json.loads(text), ensure_ascii=False)
            except ValueError:
                pass
        yield "text", text


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------
def _mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_phone(number: str) -> str:
    return f"***{number[-3:]}"


def _mask_name(a: str, b: str) -> str:
    return f"{a[:1].upper()}*** {b[:1].upper()}***"


def find_personal_data(text: str, personal: PersonalData) -> list[tuple[str, str]]:
    """``(kind, masked value)`` for every personal datum of ``personal`` found in ``text``.

    >>> pd_ = PersonalData(frozenset({"ann.lee@x.org"}), frozenset({"7644808806"}),
    ...                    frozenset({("ann", "lee")}), frozenset({"王伟"}))
    >>> find_personal_data("Mail ANN.LEE@x.org, call 07644 808806; 王伟", pd_)
    [('email', 'a***@x.org'), ('phone', '***806'), ('name', 'A*** L***'), ('name', '王***')]

    (the e-mail address also spells her name, which counts as a second leak)
    """
    hits: list[tuple[str, str]] = []
    if personal.emails and "@" in text:
        for address in _EMAIL.findall(text.lower()):
            if address in personal.emails:
                hits.append(("email", _mask_email(address)))
    if personal.phones:
        lengths = sorted({len(p) for p in personal.phones})
        runs = list(_DIGITS.finditer(text))
        chain = ""
        for k, run in enumerate(runs):
            joined = k > 0 and _PHONE_GAP.fullmatch(text[runs[k - 1].end():run.start()])
            # a decimal point is no phone separator: 0.123456789 is a number
            decimal = (run.start() > 0 and text[run.start() - 1] in ".,"
                       and run.start() > 1 and text[run.start() - 2].isdigit())
            chain = (chain if joined else "") + run.group()
            if decimal:
                chain = ""
                continue
            for n in lengths:
                if len(chain) >= n and chain[-n:] in personal.phones:
                    hits.append(("phone", _mask_phone(chain[-n:])))
                    break
    if personal.names:
        words = list(_LATIN_WORD.finditer(text))
        for a, b in zip(words, words[1:], strict=False):
            if not _NAME_GAP.match(text[a.end():b.start()]):
                continue
            x, y = a.group().lower(), b.group().lower()
            if (x, y) in personal.names or (y, x) in personal.names:
                hits.append(("name", _mask_name(a.group(), b.group())))
    if personal.cjk_names:
        sizes = sorted({len(n) for n in personal.cjk_names})
        for run in _CJK.finditer(text):
            s = run.group()
            for n in sizes:
                for i in range(len(s) - n + 1):
                    if s[i:i + n] in personal.cjk_names:
                        hits.append(("name", s[i] + "***"))
    return hits


# --------------------------------------------------------------------------------------------
# Scanning a run
# --------------------------------------------------------------------------------------------
@dataclass
class PrivacyScan:
    """What :func:`scan_outputs` found: ``hits`` (file, kind, where, value masked, count),
    the files searched and the files skipped (images)."""

    folder: Path
    hits: pd.DataFrame
    files_scanned: list[str]
    files_skipped: list[str]
    personal: PersonalData = field(repr=False)

    @property
    def passed(self) -> bool:
        return self.hits.empty

    def to_pandas(self) -> pd.DataFrame:
        return self.hits

    def message(self) -> str:
        """One sentence: passed, or how many leaks in which files."""
        n_values = (len(self.personal.emails), len(self.personal.phones),
                    len(self.personal.names) + len(self.personal.cjk_names))
        searched = (f"{len(self.files_scanned)} output files searched for {n_values[0]:,} "
                    f"e-mails, {n_values[1]:,} phones and {n_values[2]:,} names of the raw data")
        if self.passed:
            return f"privacy scan passed: {searched}; none found"
        files = sorted(self.hits["file"].unique())
        shown = "; ".join(
            f"{r.file} ({r.kind} {r.value}, {r.where})"
            for r in self.hits.head(8).itertuples(index=False))
        return (f"privacy scan FAILED: {int(self.hits['count'].sum())} personal data item(s) "
                f"in {len(files)} file(s): {shown}; {searched}")

    def _repr_html_(self) -> str:
        return f"<p>{html_lib.escape(self.message())}</p>" + self.hits.to_html(index=False)


def scan_outputs(
    folder: str | os.PathLike[str],
    personal: PersonalData,
    *,
    exclude: Sequence[str] = (),
) -> PrivacyScan:
    """Search every file under ``folder`` for the personal data in ``personal``.

    ``exclude``: file names (relative to ``folder``) not to search. Returns a
    :class:`PrivacyScan`; ``hits`` has one row per file, kind, place (notebook cell, html,
    table, text) and masked value, with how often it occurred.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: output folder not found")
    rows: dict[tuple[str, str, str, str], int] = {}
    scanned: list[str] = []
    skipped: list[str] = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = str(path.relative_to(root))
        if rel in exclude:
            continue
        if path.suffix.lower() in IMAGE_SUFFIXES:
            skipped.append(rel)
            continue
        scanned.append(rel)
        for where, text in output_texts(path):
            piece: dict[tuple[str, str, str, str], int] = {}
            for kind, value in find_personal_data(text, personal):
                key = (rel, kind, where, value)
                piece[key] = piece.get(key, 0) + 1
            for key, n in piece.items():
                # HTML is read twice (markup and visible text): the same value counts once
                rows[key] = max(rows.get(key, 0), n) if where == "html" else (
                    rows.get(key, 0) + n)
    hits = pd.DataFrame([{"file": f, "kind": k, "where": w, "value": v, "count": n}
                         for (f, k, w, v), n in rows.items()],
                        columns=["file", "kind", "where", "value", "count"])
    return PrivacyScan(root, hits, scanned, skipped, personal)


def scan_run(run_dir: str | os.PathLike[str], raw_dir: str | os.PathLike[str], *,
             exclude: Sequence[str] = ()) -> PrivacyScan:
    """:func:`personal_data` of ``raw_dir`` searched for in every output of ``run_dir``."""
    return scan_outputs(run_dir, personal_data(raw_dir), exclude=exclude)


# --------------------------------------------------------------------------------------------
# Redaction and small-group suppression
# --------------------------------------------------------------------------------------------
_PHONE_LIKE = re.compile(r"(?<![\w.])\+?\(?\d[\d \-()]{7,}\d(?![\w.])")


def redact(text: Any) -> Any:
    """Replace e-mail addresses and phone-like numbers in free text by ``[e-mail]`` and
    ``[phone]`` (for quotes shown in a report); other values come back unchanged.

    >>> redact("Call me on 07644 808806 or mail a.b@c.com")
    'Call me on [phone] or mail [e-mail]'
    """
    if not isinstance(text, str):
        return text
    text = re.sub(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}",
                  "[e-mail]", text)
    return _PHONE_LIKE.sub("[phone]", text)


def redact_column(table: pd.DataFrame, column: str) -> pd.DataFrame:
    """A copy of ``table`` with the free text of ``column`` passed through :func:`redact`, for
    showing customers' words in a notebook or report (absent columns are left alone).

    >>> redact_column(pd.DataFrame({"quote": ["mail me at a.b@c.com"]}), "quote")["quote"][0]
    'mail me at [e-mail]'
    """
    if column not in table.columns:
        return table
    return table.assign(**{column: table[column].map(redact)})


def suppress_small_groups(
    table: pd.DataFrame,
    *,
    count_col: str = "n",
    min_size: int = 10,
    value_cols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Blank the values of rows counting fewer than ``min_size`` units.

    Returns a copy with ``value_cols`` (default: every numeric column except ``count_col``)
    set to missing and ``count_col`` set to missing where ``count_col < min_size``, plus a
    boolean column ``suppressed``. Rows are kept, so a reader sees that the group exists
    and why its numbers are not shown. Raises ``ValueError`` when ``count_col`` is missing.

    >>> t = pd.DataFrame({"group": ["a", "b"], "n": [50, 4], "rate": [0.2, 0.5]})
    >>> suppress_small_groups(t, min_size=10)
      group     n  rate  suppressed
    0     a    50   0.2       False
    1     b  <NA>   NaN        True
    """
    check_scalar(min_size, "min_size", typ=int, ge=1)
    if count_col not in table.columns:
        raise ValueError(f"suppress_small_groups: count column {count_col!r} not found; "
                         f"columns: {list(table.columns)}")
    out = table.copy()
    small = out[count_col].fillna(0).to_numpy() < min_size
    if value_cols is None:
        # alpha is the level of the table's intervals, not a value of the group
        value_cols = [c for c in out.select_dtypes("number").columns
                      if c not in (count_col, "alpha")]
    for c in value_cols:
        if c in out.columns:
            if pd.api.types.is_integer_dtype(out[c]) and not pd.api.types.is_extension_array_dtype(
                    out[c]):
                out[c] = out[c].astype("Int64")
            out.loc[small, c] = pd.NA if pd.api.types.is_extension_array_dtype(out[c]) else (
                float("nan"))
    out[count_col] = out[count_col].astype("Int64")
    out.loc[small, count_col] = pd.NA
    out["suppressed"] = small
    return out
