"""Privacy: no raw e-mail, phone or name leaves the workbench; small groups stay hidden.

Three tools:

* :func:`personal_data` reads the raw exports of a run and collects the personal data they
  hold: every e-mail address found anywhere in them, the phone numbers of phone-like columns
  (``phone``, ``mobile``, ``caller_number``, ``电话`` ...) and the full names of name columns
  (``first_name`` + ``last_name``, ``name``, ``姓名`` ...). :func:`scan_outputs` then searches
  every output file of a run -- executed notebooks (cell sources and text outputs), HTML
  (text and attributes), CSV/Parquet/JSON tables, Markdown, logs -- for any of them and
  returns the hits *masked* (``g***@icloud.com``, ``***806``, ``G*** W***``), so the scan
  report itself leaks nothing. Images are not searched (their text comes from the tables,
  which are); ``data:`` URIs and base64 image outputs are skipped.

  Matching rules (one set of detectors, used by the scan and by :func:`redact`). Text is
  read in Unicode NFKC, so full-width digits and letters, ``＠``, non-breaking and
  ideographic spaces read as ASCII. E-mails: case-folded, domains compared in their ASCII
  (punycode) form, so ``Anna@MÜLLER.de`` is ``anna@xn--mller-kva.de``. Phones: whole tokens
  only -- digit groups joined by spaces, dots, slashes, brackets, hyphens and the Unicode
  dashes (``07431.519.152``, ``07883 - 358 - 928``, ``+44 (0)7431 519152``), never a part of
  a digit run, never glued to a word or number (``cu_…60718293``, ``ORD-0743…``), never a
  side of a decimal point -- read by ``phonenumbers`` in the raw data's regions and
  compared on the national significant number (E.164 without the country code). Names: a
  first and a last name of the same raw row next to each other in either order, with up to
  two middle initials (``Ella J. Jackson``, ``Jackson, Ella``; case-insensitive whole words,
  up to a few separators or table cell borders between them) or, for CJK names, written
  together or with spaces (``王伟``, ``王 伟``). Placeholders (``noemail@example.com``,
  ``00000000000``, numbers of one repeated digit) are not personal data and are ignored.
  Recall and precision are measured in tests/core/test_privacy_fuzz.py, speed in
  benchmarks/bench_privacy.py.

* :func:`redact` masks e-mails, phones and (given the raw data's personal data) names in
  free text before it is written or shown.

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
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib.core.checks import check_scalar

#: Regions whose phones may be written without a country code (UK and China, the sample's).
DEFAULT_REGIONS = ("GB", "CN")
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

_DIGITS = re.compile(r"\d+")
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

    ``emails``: addresses as :func:`normalise_email` writes them (case-folded, punycode
    domains); ``phones``: national significant numbers (digits); ``names``: ``(first,
    last)`` pairs, case-folded; ``cjk_names``: CJK full names written together, both orders;
    ``counts``: per raw file, how many values of each kind were read; ``regions``: the
    regions (ISO 3166 codes) phones without a country code are read in, the default first,
    then those of the raw phones by frequency.
    """

    emails: frozenset[str]
    phones: frozenset[str]
    names: frozenset[tuple[str, str]]
    cjk_names: frozenset[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    regions: tuple[str, ...] = DEFAULT_REGIONS

    @cached_property
    def phone_lengths(self) -> tuple[int, ...]:
        """The lengths of the phones' national numbers."""
        return tuple(sorted({len(p) for p in self.phones}))

    @cached_property
    def cjk_sizes(self) -> tuple[int, ...]:
        """The lengths of the CJK names."""
        return tuple(sorted({len(n) for n in self.cjk_names}))

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
    values that are not phone numbers (:func:`phone_and_region` without the region).

    >>> normalise_phone("+44 7644 808806"), normalise_phone("(07644) 808-806")
    ('7644808806', '7644808806')
    >>> normalise_phone("+86 138 1234 5678"), normalise_phone("00000000000")
    ('13812345678', None)
    """
    found = phone_and_region(value, default_region=default_region)
    return found[0] if found else None


def phone_and_region(value: Any, *, default_region: str = "GB") -> tuple[str, str] | None:
    """``(national significant number, region)`` of a phone as ``phonenumbers`` reads it
    (full-width digits allowed); the region is ``default_region`` for a number written
    without a country code or that does not parse; None for placeholders (fewer than 7
    digits, one repeated digit).

    >>> phone_and_region("+86 138 1234 5678"), phone_and_region("０７６４４ ８０８８０６")
    (('13812345678', 'CN'), ('7644808806', 'GB'))
    """
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = normalise_text(str(value)).strip()
    digits = "".join(_DIGITS.findall(text))
    if len(digits) < 7 or len(set(digits)) == 1:
        return None
    import phonenumbers

    try:
        number = phonenumbers.parse(text, default_region)
        national = str(number.national_number)
        region = phonenumbers.region_code_for_country_code(number.country_code)
    except phonenumbers.NumberParseException:
        national, region = digits.lstrip("0"), default_region
    if len(national) < 7 or len(set(national)) == 1:
        return None
    return national, region if region != "ZZ" else default_region


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
    names from first/last/full name columns. Phones without a country code are read in
    ``default_region``; the regions of the raw phones become :attr:`PersonalData.regions`.
    Raises ``FileNotFoundError`` naming a source that does not exist.
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
    skip_emails = {normalise_email(e) for e in placeholder_emails}
    emails: set[str] = set()
    phones: set[str] = set()
    names: set[tuple[str, str]] = set()
    cjk: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    regions: Counter[str] = Counter()
    for path, rel in files:
        found = {"email": 0, "phone": 0, "name": 0}
        text = _file_text(path)
        # an address recurs in every event it has: normalise each distinct spelling once
        for written, n in Counter(_EMAIL_TEXT.findall(normalise_text(text))).items():
            address = normalise_email(written)
            if address not in skip_emails:
                emails.add(address)
                found["email"] += n
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
                    number = phone_and_region(row.get(c), default_region=default_region)
                    if number:
                        phones.add(number[0])
                        regions[number[1]] += 1
                        found["phone"] += 1
                for fc, lc in zip(first_cols, last_cols, strict=False):
                    if _add_name(row.get(fc), row.get(lc), names, cjk):
                        found["name"] += 1
                for c in full_cols:
                    parts = normalise_text(str(row.get(c) or "")).split()
                    if len(parts) >= 2 and _add_name(parts[0], parts[-1], names, cjk):
                        found["name"] += 1
                    elif len(parts) == 1 and _CJK.fullmatch(parts[0]) and len(parts[0]) >= 2:
                        cjk.add(parts[0])
                        found["name"] += 1
        if any(found.values()):
            counts[rel] = found
    ordered = (default_region, *(r for r, _ in regions.most_common() if r != default_region))
    return PersonalData(frozenset(emails), frozenset(phones), frozenset(names),
                        frozenset(cjk), counts, ordered)


def _add_name(first: Any, last: Any, names: set[tuple[str, str]], cjk: set[str]) -> bool:
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return False
    first, last = normalise_text(str(first)).strip(), normalise_text(str(last)).strip()
    if not first or not last:
        return False
    if _CJK.search(first) or _CJK.search(last):
        first, last = "".join(first.split()), "".join(last.split())
        cjk.update({last + first, first + last})
    else:
        names.add((first.casefold(), last.casefold()))
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
# Matching: one set of detectors for the scan and for redaction
# --------------------------------------------------------------------------------------------
_APOSTROPHES = ("\u2019", "\u2018", "\u02bc")


def normalise_text(text: str) -> str:
    """``text`` in Unicode NFKC with straight apostrophes: full-width digits, letters, ``＠``
    and ``．`` become ASCII, non-breaking, thin and ideographic spaces become spaces, so a
    number or an address reads the same however it was typed.

    >>> normalise_text("０７４３１\u3000５１９１５２ O\u2019Brien")
    "07431 519152 O'Brien"
    """
    text = unicodedata.normalize("NFKC", text)
    for curly in _APOSTROPHES:
        text = text.replace(curly, "'")
    return text


def _normalise_with_offsets(text: str) -> tuple[str, list[tuple[int, int]] | None]:
    """:func:`normalise_text` of ``text`` and, for redaction, the ``(start, end)`` in
    ``text`` of the character each character of the result comes from; None when every
    character stays in its place. Each base character is normalised with the combining
    marks that follow it, so a decomposed accent composes as it does in
    :func:`normalise_text`."""
    norm = normalise_text(text)
    # without marks that compose, NFKC can only widen a character: equal lengths mean
    # a character for a character
    if len(norm) == len(text) and not _composing().search(text):
        return norm, None
    out: list[str] = []
    origin: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        j = i + 1
        while j < len(text) and unicodedata.combining(text[j]):
            j += 1
        piece = normalise_text(text[i:j])
        out.append(piece)
        origin += [(i, j)] * len(piece)
        i = j
    return "".join(out), origin


@lru_cache(maxsize=1)
def _composing() -> re.Pattern[str]:
    """Characters NFKC may merge with the one before: combining marks, Hangul vowel and
    final jamo."""
    marks = "".join(chr(c) for c in range(0x300, 0x30000) if unicodedata.combining(chr(c)))
    return re.compile("[" + re.escape(marks) + "\u1160-\u11ff\ud7b0-\ud7ff]")


def _is_cjk(char: str) -> bool:
    return "\u2e80" <= char <= "\u9fff" or "\uf900" <= char <= "\ufaff" or (
        "\u3400" <= char <= "\u4dbf")


def _glues(char: str) -> bool:
    """Whether ``char`` next to a digit makes it part of a word or a number (an id such as
    ``cu_0a1b60718293``, ``ORD7431519152``): a digit, ``_`` or a letter of an alphabet.
    CJK characters do not glue: Chinese is written without spaces (``电话07431519152``)."""
    return char.isdigit() or char == "_" or (char.isalpha() and not _is_cjk(char))


# Phones ------------------------------------------------------------------------------------
#: Characters that may separate the digit groups of one phone number (after NFKC):
#: spaces, hyphen-minus, the Unicode hyphens and dashes (‐ ‑ ‒ – — ― −), dots, slashes,
#: brackets; up to four in a row (``07883 - 358 - 928``, ``+44 (0)7431``).
_PHONE_SEPARATORS = " \\-\u2010-\u2015\u2212./()"
_PHONE_RUN = re.compile(rf"\+?\(?\d(?:[{_PHONE_SEPARATORS}]{{0,4}}\d){{6,}}")
_DIGIT_GROUP = re.compile(r"\d+")
#: Joiners that glue a number to a word or number before or after it (``ORD-0743...``,
#: ``12.0743...``, ``0743...-A``).
_JOINERS = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015_/.#@")
#: Digits a phone number can have: 7 (short national numbers) to 15 (E.164) plus an
#: international prefix (``00``) or a trunk prefix (``0``).
_PHONE_DIGITS = (7, 17)


@dataclass(frozen=True)
class _Span:
    kind: str
    start: int
    end: int
    masked: str


def _glued(text: str, at: int, step: int) -> bool:
    """Whether the character at ``at`` (a neighbour of a digit run, looking away from it by
    ``step``) glues the run to a word or a number."""
    if not 0 <= at < len(text):
        return False
    char = text[at]
    if _glues(char):
        return True
    after = at + step
    return char in _JOINERS and 0 <= after < len(text) and _glues(text[after])


def _phone_groups(text: str, run: re.Match[str]) -> Iterator[tuple[int, list[re.Match[str]]]]:
    """The digit groups of a run of digits and separators, with where each part begins
    (a leading ``+`` or ``(`` included), cut where only spaces -- two or more: the columns of
    a printed table -- stand between two groups."""
    lead, part = run.start(), []
    for group in _DIGIT_GROUP.finditer(text, run.start(), run.end()):
        if part and group.start() - part[-1].end() >= 2 and not text[
                part[-1].end():group.start()].strip(" "):
            yield lead, part
            lead, part = group.start(), []
        part.append(group)
    yield lead, part


def _is_decimal(text: str, groups: Sequence[re.Match[str]]) -> bool:
    """Two digit groups joined by one dot read as a decimal number (``0.7644808806``,
    ``1234.56``, ``07431519152.5``) unless both have three digits or more and the first
    starts with the trunk prefix 0 (``07431.519152``, a phone)."""
    if len(groups) != 2 or text[groups[0].end():groups[1].start()] != ".":
        return False
    first, second = groups[0].group(), groups[1].group()
    return not (first.startswith("0") and len(first) >= 3 and len(second) >= 3)


def _phone_spans(text: str, is_phone: Any) -> Iterator[tuple[int, int, str]]:
    """``(start, end, national number)`` of the phone numbers written in normalised ``text``.

    A phone is a whole token: a run of digit groups and separators (:data:`_PHONE_RUN`),
    never a part of a digit group, never glued to a word or a number (:func:`_glued`), never
    one side of a decimal point. Within a run, spans of whole groups with 7 to 17 digits are
    tried, longest first, left to right; ``is_phone(written, digits)`` decides, returning
    the national number or None.
    """
    high = _PHONE_DIGITS[1]
    for run in _PHONE_RUN.finditer(text):
        written = run.group()
        if written.isdigit():  # the common case in tables: one group, no separators
            if len(written) <= high and not _glued(text, run.start() - 1, -1) and not _glued(
                    text, run.end(), 1) and (national := is_phone(written, written)):
                yield run.start(), run.end(), national
            continue
        for lead, groups in _phone_groups(text, run):
            yield from _spans_of_groups(text, lead, groups, is_phone)


def _spans_of_groups(text: str, lead: int, groups: list[re.Match[str]],
                     is_phone: Any) -> Iterator[tuple[int, int, str]]:
    def dot_after(k: int) -> bool:  # 12.07431519152: no phone starts or ends at that dot
        return text[groups[k].end():groups[k + 1].start()] == "."

    last = len(groups) - 1
    first_free = not _glued(text, lead - 1, -1)
    last_free = not _glued(text, groups[last].end(), 1)
    i = 0
    while i <= last:
        found = None
        if (first_free if i == 0 else not dot_after(i - 1)):
            for j in range(last, i - 1, -1):
                if not (last_free if j == last else not dot_after(j)):
                    continue
                digits = "".join(g.group() for g in groups[i:j + 1])
                if not _PHONE_DIGITS[0] <= len(digits) <= _PHONE_DIGITS[1] or _is_decimal(
                        text, groups[i:j + 1]):
                    continue
                start = lead if i == 0 else groups[i].start()
                national = is_phone(text[start:groups[j].end()], digits)
                if national:
                    found = (start, groups[j].end(), national)
                    break
        if found:
            yield found
            i = j + 1
        else:
            i += 1


def _parse_national(written: str, regions: Sequence[str]) -> list[Any]:
    """The numbers ``phonenumbers`` reads in ``written`` in each region (in order).

    Dialling prefixes count only as ``+`` or ``00`` and the trunk prefix 0: China's carrier
    prefixes (``17951``, ``11xx00``, ...) would make the tail of any long id a phone."""
    import phonenumbers

    numbers = []
    for region in regions:
        try:
            number = phonenumbers.parse(written, region, keep_raw_input=True)
        except phonenumbers.NumberParseException:
            continue
        carrier = number.preferred_domestic_carrier_code
        idd = number.country_code_source == phonenumbers.CountryCodeSource.FROM_NUMBER_WITH_IDD
        if not carrier and (not idd or written.lstrip("(").startswith("00")):
            numbers.append(number)
    return numbers


def _dialling_prefix(digits: str) -> bool:
    """Whether ``digits`` may stand before a national number: nothing, the trunk prefix 0,
    or a country code (``44``, ``+44``, ``0044``) followed or not by the trunk prefix in
    brackets (``+44 (0)7431 ...``)."""
    if digits in ("", "0"):
        return True
    if digits.startswith("00"):
        digits = digits[2:]
    return digits in _country_codes() or (
        digits.endswith("0") and digits[:-1] in _country_codes())


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    import phonenumbers

    return frozenset(str(c) for c in phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _listed_phone(personal: PersonalData) -> Any:
    """``is_phone`` for :func:`_phone_spans`: the national number when a whole token reads,
    in one of the raw data's regions, as a phone of the raw data (compared on the national
    significant number, E.164 without the country code). The digits must be a listed
    number after a :data:`_DIALLING_PREFIX` before ``phonenumbers`` is asked, which keeps a
    scan of large tables fast."""
    phones, lengths, regions = personal.phones, personal.phone_lengths, personal.regions

    def is_phone(written: str, digits: str) -> str | None:
        if not any(digits[-n:] in phones and _dialling_prefix(digits[:-n])
                   for n in lengths if n <= len(digits)):
            return None
        for number in _parse_national(written, regions):
            national = str(number.national_number)
            if national in phones:
                return national
        return None

    return is_phone


def _any_phone(personal: PersonalData | None, regions: Sequence[str]) -> Any:
    """``is_phone`` for redaction: a listed phone (as the scan finds it), or a token that
    ``phonenumbers`` reads, in one of ``regions``, as a possible number when it is written
    with an international prefix (``+``, ``00``) or a trunk prefix (``0``, 9 digits or
    more), else as a valid number (``13812345678``; an order number ``2026`` or a date is
    neither)."""
    import phonenumbers

    listed = _listed_phone(personal) if personal is not None and personal.phones else None

    def is_phone(written: str, digits: str) -> str | None:
        if listed is not None and (national := listed(written, digits)):
            return national
        prefixed = written.lstrip("(").startswith("+") or digits.startswith("0") and (
            len(digits) >= 9)
        check = phonenumbers.is_possible_number if prefixed else phonenumbers.is_valid_number
        for number in _parse_national(written, regions):
            if check(number):
                return str(number.national_number)
        return None

    return is_phone


# E-mails -----------------------------------------------------------------------------------
#: An e-mail address in normalised text: a Latin local part (CJK before it is not part of
#: it: ``联系ann@x.org``) and a domain of letters of any script (IDN), dots or ``。``.
_EMAIL_TEXT = re.compile(
    r"[A-Za-z0-9\u00c0-\u024f._%+\-]+@(?:[^\W_]|-)+(?:[.\u3002](?:[^\W_]|-)+)*"
    r"[.\u3002](?:[^\W_]|-){2,}")


def normalise_email(address: str) -> str:
    """An e-mail address as it is compared: NFKC, case-folded, the domain in its ASCII
    (punycode, IDNA 2003) form, so ``Anna@MÜLLER.de``, ``anna@xn--mller-kva.de`` and
    ``ａｎｎａ＠müller．de`` are one address.

    >>> normalise_email(" Anna@MÜLLER.de "), normalise_email("anna@xn--mller-kva.DE")
    ('anna@xn--mller-kva.de', 'anna@xn--mller-kva.de')
    """
    local, _, domain = normalise_text(str(address)).strip().rpartition("@")
    domain = domain.replace("\u3002", ".").strip(".")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:  # not a valid IDN: compared as written
        pass
    return f"{local.casefold()}@{domain.casefold()}"


def _email_spans(text: str, wanted: frozenset[str] | None) -> Iterator[tuple[int, int, str]]:
    """``(start, end, address)`` of the e-mail addresses in normalised ``text`` (only those
    in ``wanted`` when given). Chinese is written without spaces, so a listed address may
    be followed by text that reads as more of its domain (``ann@x.org谢谢``,
    ``li@例子.中国的包裹``): the non-ASCII end of the last label is cut back one character at
    a time until the address is found."""
    for match in _EMAIL_TEXT.finditer(text):
        written = match.group()
        address = normalise_email(written)
        if wanted is not None:
            last_dot = max(written.rfind("."), written.rfind("\u3002"))
            while address not in wanted and len(written) > last_dot + 2 and (
                    not written[-1].isascii()):
                written = written[:-1]
                address = normalise_email(written)
            if address not in wanted:
                continue
        yield match.start(), match.start() + len(written), address


# Names -------------------------------------------------------------------------------------
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]"
                         r"[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff'\-]*")
_NAME_GAP = re.compile(r"[\s,.;:|/\"'\\]{1,12}")
_CJK_SPACED = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]"
                         r"(?:\s{0,2}[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])*")
#: Middle initials that may stand between a first and a last name (``Ella J. K. Jackson``).
_MAX_INITIALS = 2


def _name_key(word: str) -> str:
    return normalise_text(word).casefold()


def _latin_name_spans(text: str, names: frozenset[tuple[str, str]]
                      ) -> Iterator[tuple[int, int, str]]:
    """``(start, end, masked)`` of first and last names of one raw row written next to
    each other in normalised ``text``, in either order, as whole words, case-insensitive,
    with up to :data:`_MAX_INITIALS` middle initials between them (``Ella J. Jackson``,
    ``Jackson, Ella``)."""
    words = list(_LATIN_WORD.finditer(text))
    keys = [w.group().casefold() for w in words]
    for i in range(len(words) - 1):
        j = i + 1
        while j < len(words) and _NAME_GAP.fullmatch(text[words[j - 1].end():words[j].start()]):
            x, y = keys[i], keys[j]
            if (x, y) in names or (y, x) in names:
                yield words[i].start(), words[j].end(), _mask_name(words[i].group(),
                                                                   words[j].group())
                break
            if len(keys[j]) != 1 or j - i > _MAX_INITIALS:
                break
            j += 1


def _cjk_name_spans(text: str, cjk_names: frozenset[str], sizes: Sequence[int]
                    ) -> Iterator[tuple[int, int, str]]:
    """``(start, end, masked)`` of CJK full names in normalised ``text``, written together or
    with spaces between the characters (``李静``, ``李 静``, ``李　静``)."""
    for run in _CJK_SPACED.finditer(text):
        where = [run.start() + k for k, c in enumerate(run.group()) if not c.isspace()]
        chars = "".join(text[k] for k in where)
        for n in sizes:
            for i in range(len(chars) - n + 1):
                if chars[i:i + n] in cjk_names:
                    yield where[i], where[i + n - 1] + 1, chars[i] + "***"


def _mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}***@{domain}"


def _mask_phone(number: str) -> str:
    return f"***{number[-3:]}"


def _mask_name(a: str, b: str) -> str:
    return f"{a[:1].upper()}*** {b[:1].upper()}***"


def _personal_spans(text: str, personal: PersonalData) -> list[_Span]:
    """Every personal datum of ``personal`` in normalised ``text``: e-mails, phones, Latin
    names, CJK names (in that order)."""
    spans: list[_Span] = []
    if personal.emails and "@" in text:
        spans += [_Span("email", s, e, _mask_email(a))
                  for s, e, a in _email_spans(text, personal.emails)]
    if personal.phones:
        spans += [_Span("phone", s, e, _mask_phone(n))
                  for s, e, n in _phone_spans(text, _listed_phone(personal))]
    if personal.names:
        spans += [_Span("name", s, e, m) for s, e, m in _latin_name_spans(text, personal.names)]
    if personal.cjk_names:
        spans += [_Span("name", s, e, m) for s, e, m in
                  _cjk_name_spans(text, personal.cjk_names, personal.cjk_sizes)]
    return spans


def find_personal_data(text: str, personal: PersonalData) -> list[tuple[str, str]]:
    """``(kind, masked value)`` for every personal datum of ``personal`` found in ``text``.

    The text is read in Unicode NFKC (full-width digits, non-breaking spaces); phones are
    whole tokens read by ``phonenumbers`` in the raw data's regions and compared on the
    national number, so ``07431.519.152``, ``07883 - 358 - 928`` and ``+44 (0)7431 519152``
    are found and the digits inside an id or a score never are; names may carry middle
    initials, CJK names spaces; e-mails may have internationalised domains.

    >>> pd_ = PersonalData(frozenset({"ann.lee@x.org"}), frozenset({"7644808806"}),
    ...                    frozenset({("ann", "lee")}), frozenset({"王伟"}))
    >>> find_personal_data("Mail ANN.LEE@x.org, call 07644 808806; 王伟", pd_)
    [('email', 'a***@x.org'), ('phone', '***806'), ('name', 'A*** L***'), ('name', '王***')]

    (the e-mail address also spells her name, which counts as a second leak)
    """
    return [(s.kind, s.masked) for s in _personal_spans(normalise_text(text), personal)]


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
_LABELS = {"email": "[e-mail]", "phone": "[phone]", "name": "[name]"}


def redact(text: Any, *, personal: PersonalData | None = None,
           regions: Sequence[str] = DEFAULT_REGIONS) -> Any:
    """Free text with personal data replaced by ``[e-mail]``, ``[phone]`` and ``[name]``,
    for customers' words kept in a table or quoted in a report; other values come back
    unchanged.

    Uses the detectors of the privacy scan on the NFKC-normalised text: every e-mail address
    (internationalised domains too); every whole token ``phonenumbers`` reads as a valid
    number of ``regions`` (or of the country its ``+``/``00`` prefix names); and, with
    ``personal`` (:func:`personal_data` of the raw data), everything the scan would find:
    the raw phones in any written form and the raw names (middle initials, CJK with
    spaces). Without ``personal`` names cannot be told from other words and stay.

    >>> redact("Call me on 07644.808.806 or mail a.b@c.com; order 2026 was late")
    'Call me on [phone] or mail [e-mail]; order 2026 was late'
    """
    if not isinstance(text, str):
        return text
    norm, origin = _normalise_with_offsets(text)
    spans = [_Span("email", s, e, "") for s, e, _ in _email_spans(norm, None)]
    spans += [_Span("phone", s, e, "") for s, e, _ in
              _phone_spans(norm, _any_phone(personal, regions))]
    if personal is not None:
        spans += [s for s in _personal_spans(norm, personal) if s.kind == "name"]
    if not spans:
        return text
    out, at = [], 0
    for kind, start, end in _merged(spans):
        if origin is not None:
            start, end = origin[start][0], origin[end - 1][1]
        out += [text[at:start], _LABELS[kind]]
        at = end
    return "".join(out) + text[at:]


def _merged(spans: Sequence[_Span]) -> list[tuple[str, int, int]]:
    """Overlapping spans joined into one, named by the kind of the first (an e-mail
    address that spells a name is one ``[e-mail]``)."""
    merged: list[tuple[str, int, int]] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if merged and span.start < merged[-1][2]:
            kind, start, end = merged[-1]
            merged[-1] = (kind, start, max(end, span.end))
        else:
            merged.append((span.kind, span.start, span.end))
    return merged


def redact_column(table: pd.DataFrame, column: str, *,
                  personal: PersonalData | None = None) -> pd.DataFrame:
    """A copy of ``table`` with the free text of ``column`` passed through :func:`redact`
    (with ``personal``, names too), for showing or writing customers' words (absent columns
    are left alone).

    >>> redact_column(pd.DataFrame({"quote": ["mail me at a.b@c.com"]}), "quote")["quote"][0]
    'mail me at [e-mail]'
    """
    if column not in table.columns:
        return table
    return table.assign(**{column: table[column].map(lambda t: redact(t, personal=personal))})


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


def personal_data_if_present(raw: str | os.PathLike[str] | None) -> PersonalData | None:
    """:func:`personal_data` of the raw folder, or ``None`` when there is none to read (no
    folder given, missing, or empty): redaction then falls back to its patterns."""
    if raw is None:
        return None
    root = Path(raw)
    if not root.is_dir() or not any(p.is_file() for p in root.rglob("*")):
        return None
    return personal_data(root)
