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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib.core.privacy.detect import (
    PersonalData,
    normalise_email,
    normalise_text,
    phone_and_region,
)
from cjmlib.core.privacy.search import _written_emails_utf8, written_emails
from cjmlib.core.progress import Progress

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
#: Seconds the privacy scan works quietly before it says how far it got, and between two
#: such messages: a quick scan says nothing.
PROGRESS_EVERY = 5.0


def _progress(say: Callable[[str], None] | None) -> Callable[[str], None]:
    """``say``, passed on only when :data:`PROGRESS_EVERY` seconds have gone by since the
    start or the last message (:meth:`cjmlib.core.progress.Progress.note`)."""
    if say is None:
        return lambda message: None
    return Progress(0, "privacy scan", after=PROGRESS_EVERY, every=PROGRESS_EVERY,
                    say=say).note


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
    """The header and the rows of a Parquet table as text, cells joined by `` | ``: its text
    and whole-number columns as pandas writes them (``astype("string")``, missing as "")."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    header = " | ".join(schema.names)
    # text and whole numbers can hold an e-mail, a phone or a name; floats, times cannot
    keep = [f.name for f in schema if pa.types.is_string(f.type)
            or pa.types.is_large_string(f.type) or pa.types.is_integer(f.type)
            or pa.types.is_dictionary(f.type)]
    if not keep:
        return header
    table = pq.read_table(path, columns=keep)
    if table.num_rows == 0:
        return header
    text = pa.large_string()
    if all(_as_pandas_writes(f.type, table.column(k).null_count)
           for k, f in enumerate(table.schema)):
        cells = [pc.fill_null(table.column(k).cast(text), "") for k in range(table.num_columns)]
    else:  # whole numbers with gaps come out of pandas as floats ("7431519152.0")
        frame = table.to_pandas().astype("string").fillna("")
        cells = [pa.array(frame.iloc[:, k], type=text) for k in range(frame.shape[1])]
    rows = pc.binary_join_element_wise(*cells, pa.scalar(" | ", text))
    return header + "\n" + "\n".join(rows.to_pylist())


def _as_pandas_writes(kind: Any, missing: int) -> bool:
    """Whether Arrow's text of a column of type ``kind`` is pandas' (``to_pandas`` then
    ``astype("string")``): text, text categories, whole numbers without gaps (pandas reads
    those with gaps, and whole-number categories with gaps, as floats)."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
        return pa.types.is_string(kind) or pa.types.is_large_string(kind)
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or (
        pa.types.is_integer(kind) and missing == 0)


def _raw_text(path: Path) -> tuple[str | None, bytes | None]:
    """A raw file as ``personal_data`` reads it: ``(text, None)`` as :func:`_file_text`
    reads it ("" for Parquet, read column by column), or ``(None, bytes)`` for a text file
    in ASCII, whose bytes are its text (decoding a large export would only copy it)."""
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return "", None
    if suffix in (".xlsx", ".xlsm") or suffix in IMAGE_SUFFIXES:
        return _file_text(path), None
    data = path.read_bytes()
    return (None, data) if data.isascii() else (_decode(data), None)


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


def _records(path: Path, text: str | None = None, data: bytes | None = None
             ) -> Iterator[tuple[list[str], Callable[[str], list[Any]]]]:
    """Phone and name columns of a raw table as (columns, the values of a column by its
    name); nothing for files without such columns or that are not tables (e-mails are read
    from the text of every file). ``text``: the file's text when already read (CSV, JSON);
    ``data``: instead, its bytes when they are ASCII (then they are its text), decoded only
    when the table has such columns."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv", ".jsonl", ".ndjson", ".json") and text is None and (
            data is None):
        text = _decode(path.read_bytes())

    def whole() -> str:
        return text if text is not None else data.decode("ascii")

    if suffix in (".csv", ".tsv"):
        sep = "\t" if suffix == ".tsv" else ","
        # the header is the first line when it is not blank and no quote can carry it on
        first = _head(text, data, 1)
        head = first if first.strip() and '"' not in first else whole()
        try:
            header = pd.read_csv(io.StringIO(head), dtype=str, sep=sep, nrows=0)
        except Exception:  # not a table
            return
        wanted = _wanted(header.columns)
        if wanted:
            frame = pd.read_csv(io.StringIO(whole()), dtype=str, sep=sep, usecols=wanted,
                                on_bad_lines="skip")
            yield wanted, _column_of(frame)
    elif suffix in (".jsonl", ".ndjson"):
        keys: set[str] = set()
        # JSON lines share their keys: the first ones
        for line in _first_lines(_head(text, data, 201), 200):
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
        for line in whole().splitlines():
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict):
                rows.append({k: obj.get(k) for k in wanted})
        yield wanted, _column_of_rows(rows)
    elif suffix == ".json":
        try:
            obj = json.loads(whole())
        except ValueError:
            return
        if isinstance(obj, list) and obj and all(isinstance(r, dict) for r in obj):
            wanted = _wanted(sorted({k for r in obj for k in r}))
            if wanted:
                yield wanted, _column_of_rows(obj)
    elif suffix == ".parquet":
        import pyarrow.parquet as pq

        wanted = _wanted(pq.read_schema(path).names)
        if wanted:
            yield wanted, _column_of(pd.read_parquet(path, columns=wanted).astype("string"))
    elif suffix in (".xlsx", ".xlsm"):
        frames = pd.read_excel(path, sheet_name=None, dtype=str)
        for frame in frames.values():
            wanted = _wanted(frame.columns)
            if wanted:
                yield wanted, _column_of_rows(frame[wanted].to_dict("records"))


def _column_of(frame: pd.DataFrame) -> Callable[[str], list[Any]]:
    """The values of a column of ``frame`` by its name (None for each row of a column it
    does not have), as its rows as records would give them."""
    return lambda name: (frame[name].tolist() if name in frame.columns
                         else [None] * len(frame))


def _column_of_rows(rows: list[Mapping[str, Any]]) -> Callable[[str], list[Any]]:
    return lambda name: [row.get(name) for row in rows]


def _head(text: str | None, data: bytes | None, lines: int) -> str:
    """The first ``lines`` lines of ``text`` (or of the ASCII ``data``) with their line
    feeds; all of it when it has fewer."""
    whole = text if text is not None else data
    feed = "\n" if text is not None else b"\n"
    end = -1
    for _ in range(lines):
        end = whole.find(feed, end + 1)
        if end < 0:
            break
    head = whole if end < 0 else whole[:end + 1]
    return head if text is not None else head.decode("ascii")


def _first_lines(text: str, n: int) -> list[str]:
    """``text.splitlines()[:n]`` without splitting the rest of a long text."""
    end = -1
    for _ in range(n + 1):
        end = text.find("\n", end + 1)
        if end < 0:
            return text.splitlines()[:n]
    return text[:end + 1].splitlines()[:n]


def _written_emails(path: Path, text: str | None, data: bytes | None = None
                    ) -> Counter[str]:
    """How often each e-mail address is written in a raw file (its text as
    :func:`_file_text` reads it, normalised): Parquet tables column by column; ``data``
    instead of ``text``: the file's bytes when they are ASCII (its text, normalised)."""
    if path.suffix.lower() != ".parquet":
        if text is None:
            return _written_emails_utf8(data)
        return written_emails(normalise_text(text))
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    found = written_emails(normalise_text(" | ".join(schema.names)))
    # the cells of _parquet_text are never written across (" | " and line feeds hold no
    # address), and only text cells can hold an '@' (or a character NFKC makes one)
    text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(
        f.type) or (pa.types.is_dictionary(f.type) and (pa.types.is_string(
            f.type.value_type) or pa.types.is_large_string(f.type.value_type)))]
    if not text:
        return found
    # as categories: the few distinct values of most columns are looked at, not every cell
    table = pq.read_table(path, columns=text, read_dictionary=text)
    cells = []
    for chunk in (c for column in table.columns for c in column.chunks):
        if pa.types.is_dictionary(chunk.type):
            if not pc.any(_with_at_sign(chunk.dictionary)).as_py():
                continue
            chunk = chunk.dictionary_decode()
        cells.append(chunk.filter(_with_at_sign(chunk)).cast(pa.large_string()))
    if not cells:
        return found
    counts = pc.value_counts(pa.chunked_array(cells, pa.large_string()))
    for value, n in zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(),
                        strict=True):
        for written, k in written_emails(normalise_text(value)).items():
            found[written] += k * n
    return found


def _with_at_sign(cells: Any) -> Any:
    """Which of Arrow's text ``cells`` hold an ``@`` or a character NFKC makes one."""
    import pyarrow.compute as pc

    signs = [pc.match_substring(cells, sign) for sign in ("@", "\ufe6b", "\uff20")]
    return pc.or_(pc.or_(signs[0], signs[1]), signs[2])


def personal_data(
    raw: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    *,
    placeholder_emails: Iterable[str] = PLACEHOLDER_EMAILS,
    default_region: str = "GB",
    progress: Callable[[str], None] | None = None,
    emails: bool = True,
) -> PersonalData:
    """Collect the e-mails, phones and names held by the raw exports.

    ``raw``: the raw data folder, a raw file, or several of them. Every file is read
    (CSV/TSV in UTF-8 or GB18030, JSON lines, JSON, Parquet, Excel, text): e-mail addresses
    anywhere in it; phones from columns whose name says phone (see :data:`PHONE_COLUMNS`);
    names from first/last/full name columns. Phones without a country code are read in
    ``default_region``; the regions of the raw phones become :attr:`PersonalData.regions`.
    ``progress``: called with a line saying how far the reading got, every
    :data:`PROGRESS_EVERY` seconds when it takes longer than that. ``emails=False`` leaves
    the e-mails out (:attr:`PersonalData.emails` empty) and spares searching every byte of
    every file for them: :func:`~cjmlib.core.privacy.redaction.redact` finds every e-mail
    address by its pattern and needs only the phones, names and regions.
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
    found_emails: set[str] = set()
    phones: set[str] = set()
    names: set[tuple[str, str]] = set()
    cjk: set[str] = set()
    counts: dict[str, dict[str, int]] = {}
    regions: Counter[str] = Counter()
    # a phone or a name recurs in every row it has: each distinct value is read once
    read: dict[Any, Any] = {}
    addresses: dict[str, str] = {}
    read_phone = partial(phone_and_region, default_region=default_region)
    add_name = partial(_add_name, names=names, cjk=cjk)
    add_full_name = partial(_add_full_name, names=names, cjk=cjk)
    report = _progress(progress)
    for k, (path, rel) in enumerate(files, start=1):
        found = {"email": 0, "phone": 0, "name": 0}
        text, data = _raw_text(path)
        # an address recurs in every event it has: normalise each distinct spelling once
        for written, n in (_written_emails(path, text, data) if emails else {}).items():
            address = addresses.get(written) or addresses.setdefault(
                written, normalise_email(written))
            if address not in skip_emails:
                found_emails.add(address)
                found["email"] += n
        try:
            tables = list(_records(path, text or None, data))
        except Exception:  # an unreadable table still had its e-mails read above
            tables = []
        for columns, column in tables:
            phone_cols = [c for c in columns if PHONE_COLUMNS.search(str(c))]
            first_cols = [c for c in columns if FIRST_NAME_COLUMNS.match(str(c))]
            last_cols = [c for c in columns if LAST_NAME_COLUMNS.match(str(c))]
            full_cols = [c for c in columns if FULL_NAME_COLUMNS.match(str(c))]
            if not (phone_cols or first_cols or full_cols):
                continue
            # phones row by row (ties between regions go to the one read first)
            numbers = [n for n in chain.from_iterable(zip(*(
                _each(read, read_phone, column(c)) for c in phone_cols), strict=True)) if n]
            phones.update(n[0] for n in numbers)
            regions.update(n[1] for n in numbers)
            found["phone"] += len(numbers)
            for fc, lc in zip(first_cols, last_cols, strict=False):
                found["name"] += sum(_each(read, add_name, column(fc), column(lc)))
            for c in full_cols:
                found["name"] += sum(_each(read, add_full_name, column(c)))
        if any(found.values()):
            counts[rel] = found
        report(f"privacy scan: personal data read from {k} of {len(files)} raw files ({rel})")
    ordered = (default_region, *(r for r, _ in regions.most_common() if r != default_region))
    return PersonalData(frozenset(found_emails), frozenset(phones), frozenset(names),
                        frozenset(cjk), counts, ordered)


def _each(read: dict[Any, Any], reading: Callable[..., Any], *columns: list[Any]
          ) -> list[Any]:
    """``reading(*values)`` for the values of each row of ``columns``; rows of text are read
    once per distinct values, remembered in ``read`` (other values, rare in raw exports, are
    read each time: ``-0.0`` equals ``0.0`` but reads differently). Reading a name adds it
    to the set of names: adding it again changes nothing."""
    memo = read.setdefault(reading, {})
    if len(columns) == 1:
        for value in dict.fromkeys(v for v in columns[0] if type(v) is str):
            if value not in memo:
                memo[value] = reading(value)
        return [memo[v] if type(v) is str else reading(v) for v in columns[0]]
    rows = list(zip(*columns, strict=True))
    text = [all(type(v) is str for v in row) for row in rows]
    for row in dict.fromkeys(r for r, t in zip(rows, text, strict=True) if t):
        if row not in memo:
            memo[row] = reading(*row)
    return [memo[r] if t else reading(*r) for r, t in zip(rows, text, strict=True)]


def _add_full_name(value: Any, names: set[tuple[str, str]], cjk: set[str]) -> bool:
    """Add the name in a full-name cell (first and last word, or a CJK name written
    together); whether there was one."""
    parts = normalise_text(str(value or "")).split()
    if len(parts) >= 2 and _add_name(parts[0], parts[-1], names, cjk):
        return True
    if len(parts) == 1 and _CJK.fullmatch(parts[0]) and len(parts[0]) >= 2:
        cjk.add(parts[0])
        return True
    return False


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


def personal_data_if_present(raw: str | os.PathLike[str] | None, *, emails: bool = True
                             ) -> PersonalData | None:
    """:func:`personal_data` of the raw folder (``emails``: see there), or ``None`` when
    there is none to read (no folder given, missing, or empty): redaction then falls back to
    its patterns."""
    if raw is None:
        return None
    root = Path(raw)
    if not root.is_dir() or not any(p.is_file() for p in root.rglob("*")):
        return None
    return personal_data(root, emails=emails)
