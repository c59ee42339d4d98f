"""The personal data of the raw exports, and the file readers the scan shares.

:func:`personal_data` reads the raw exports of a run and collects the personal data they
hold: every e-mail address found anywhere in them, the phone numbers of phone-like columns
(``phone``, ``mobile``, ``caller_number``, ``电话`` ...) and the full names of name columns
(``first_name`` + ``last_name``, ``name``, ``姓名`` ...), normalised as the detectors of
:mod:`cjmlib.core.privacy.detect` compare them.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib.core.privacy.detect import (
    _EMAIL_TEXT,
    PersonalData,
    normalise_email,
    normalise_text,
    phone_and_region,
)

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

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
#: Text formats read as text; Parquet, notebooks and HTML have their own readers.
TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".md", ".json", ".jsonl", ".log", ".yaml",
                           ".yml", ".svg", ".xml", ".tex"})
#: Formats that cannot carry text (figures): listed as skipped.
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"})


# --------------------------------------------------------------------------------------------
# Reading files as text
# --------------------------------------------------------------------------------------------
def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


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


# --------------------------------------------------------------------------------------------
# Personal data of the raw exports
# --------------------------------------------------------------------------------------------
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


def personal_data_if_present(raw: str | os.PathLike[str] | None) -> PersonalData | None:
    """:func:`personal_data` of the raw folder, or ``None`` when there is none to read (no
    folder given, missing, or empty): redaction then falls back to its patterns."""
    if raw is None:
        return None
    root = Path(raw)
    if not root.is_dir() or not any(p.is_file() for p in root.rglob("*")):
        return None
    return personal_data(root)
