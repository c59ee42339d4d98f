"""Landing: each raw file streamed once into a Parquet file with row numbers; encodings.

:func:`land` reads one raw file -- CSV/TSV and JSON lines in blocks, Parquet in row groups, Excel
and SQL query results (SQLite or DuckDB) in chunks, interview transcripts turn by turn -- into a
landing Parquet file of the raw columns plus ``_row`` (the 1-based record number, see
:mod:`cjmlib.collection.assembly` for how rows count) and returns a :class:`LandedFile`: rows
read, malformed rows with their detail and raw text (:func:`~cjmlib.collection.lines.raw_excerpt`), columns, encoding
and format. Whole-file problems (empty file, missing column, unreadable encoding) raise
``ValueError`` naming the file; a bad row never does: when pyarrow cannot split a file row by
row (a field over :data:`~cjmlib.collection.lines.MAX_FIELD_CHARS`, a quote left open over several lines) the file is
read again line by line and only the bad rows are set aside.
:func:`detect_encoding` tells the encoding of a text file when a source says ``encoding: auto``.
Text files may come compressed as exported (``.gz``, ``.bz2``, or a ``.zip`` holding one
file): :func:`open_raw` decompresses while streaming and the format is read from the name
inside (``events.csv.gz`` is CSV).
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import gzip
import io
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.collection.lines import (
    MAX_FIELD_CHARS,
    csv_batches,
    jsonl_batches,
    longest_field,
    raw_excerpt,
)
from cjmlib.collection.sources import DEFAULT_ENCODINGS, SourceSpec
from cjmlib.core.checks import check_columns

_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel",
               ".xlsm": "excel"}
_SAMPLE_BYTES = 1 << 20
#: Compressed exports: suffix -> compression.
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".zip": "zip"}


def compression(path: str | os.PathLike[str]) -> str | None:
    """``gzip``, ``bz2`` or ``zip`` from the file name, or None for a plain file."""
    return COMPRESSIONS.get(Path(path).suffix.lower())


def inner_name(path: str | os.PathLike[str]) -> str:
    """The name of the data inside a compressed file (``a.csv.gz`` -> ``a.csv``; a zip: its
    one member); the name itself for a plain file. A zip with several files is refused."""
    p = Path(path)
    kind = compression(p)
    if kind is None:
        return p.name
    if kind == "zip":
        with zipfile.ZipFile(p) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
        if len(members) != 1:
            raise ValueError(f"{p}: a zip archive must hold exactly one file to be read as a "
                             f"source; found {len(members)} ({', '.join(members[:5])})")
        return Path(members[0]).name
    return p.stem


def open_raw(path: str | os.PathLike[str]) -> Any:
    """A binary file object of the data, decompressed while read for ``.gz``, ``.bz2`` and
    single-file ``.zip`` exports."""
    p = Path(path)
    kind = compression(p)
    if kind == "gzip":
        return gzip.open(p, "rb")
    if kind == "bz2":
        return bz2.open(p, "rb")
    if kind == "zip":
        archive = zipfile.ZipFile(p)
        return _ArchiveMember(archive, inner_name(p))
    return open(p, "rb")


@contextlib.contextmanager
def _arrow_input(path: Path) -> Iterator[Any]:
    """What pyarrow reads: the path itself for plain, gzip and bz2 files (pyarrow reads them
    natively, decompressing by extension, without Python in the loop), a stream for zip."""
    if compression(path) == "zip":
        with open_raw(path) as member:
            yield member
    else:
        yield str(path)


class _ArchiveMember(io.BufferedReader):
    """The one file of a zip archive, read as a stream; closing it closes the archive."""

    def __init__(self, archive: zipfile.ZipFile, name: str) -> None:
        member = next(m for m in archive.namelist() if Path(m).name == name)
        super().__init__(archive.open(member))  # type: ignore[arg-type]
        self._archive = archive

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._archive.close()


# --------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------


def detect_encoding(path: str | os.PathLike[str],
                    candidates: tuple[str, ...] = DEFAULT_ENCODINGS) -> str:
    """Encoding of a text file: a byte-order mark wins, else the first candidate that decodes
    the first megabyte strictly and plausibly.

    A GB18030 decoding counts as plausible when most non-ASCII characters are CJK (Russian
    cp1251 bytes often decode as rare Chinese characters); UTF-8 comes first because other
    multi-byte encodings almost never decode valid UTF-8 text by accident. Returns a Python
    codec name (``utf-8-sig`` when the file starts with a UTF-8 BOM). Raises ``ValueError``
    naming the file and the encodings tried when none fits.
    """
    p = Path(path)
    with open_raw(p) as fh:
        head = fh.read(_SAMPLE_BYTES)
        more = bool(fh.read(1))
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if more:  # cut at the last newline so a character is never split
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut > 0 else head
    errors = []
    for enc in candidates:
        try:
            text = head.decode(enc)
        except UnicodeDecodeError as exc:
            errors.append(f"{enc}: byte 0x{head[exc.start]:02x} at offset {exc.start}")
            continue
        if codecs.lookup(enc).name in ("gb18030", "gbk", "gb2312") and not _looks_chinese(text):
            errors.append(f"{enc}: decodes, but not to Chinese text")
            continue
        return enc
    raise ValueError(f"{p}: unreadable encoding; tried {', '.join(candidates)} "
                     f"({'; '.join(errors)}); set 'encoding' for this source in the sources "
                     "config")


def _looks_chinese(text: str) -> bool:
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return True
    cjk = sum(1 for c in non_ascii if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f"
              or "\uff00" <= c <= "\uffef")
    return cjk / len(non_ascii) >= 0.9


# --------------------------------------------------------------------------------------------
# Landing: stream a raw file into Parquet with row numbers
# --------------------------------------------------------------------------------------------


@dataclass
class LandedFile:
    """One raw file (or SQL query) landed as Parquet: where, how many rows, what was malformed."""

    file: str
    path: Path | None  # landing parquet (None when the file has no rows)
    rows: int  # records read, malformed ones included
    malformed: list[tuple[int, str, str | None]]  # (row, detail, raw text excerpt)
    columns: list[str]
    encoding: str | None
    format: str


def _file_format(spec: SourceSpec, path: Path) -> str:
    if spec.format:
        return spec.format
    suffix = Path(inner_name(path)).suffix.lower()
    fmt = _EXTENSIONS.get(suffix)
    if fmt is None:
        raise ValueError(f"{path}: cannot tell the format from the extension {suffix!r}; "
                         f"set 'format' for source {spec.name!r}")
    if compression(path) and fmt not in ("csv", "tsv", "jsonl"):
        raise ValueError(f"{path}: a compressed {fmt} file cannot be read; decompress it "
                         "(CSV, TSV and JSON lines may stay compressed)")
    return fmt


def land(spec: SourceSpec, path: Path | None, rel: str, dest: Path, raw_root: Path) -> LandedFile:
    """Stream one raw file (or a SQL query) into ``dest`` (Parquet: raw columns + ``_row``)."""
    fmt = _file_format(spec, path) if path is not None else "sql"
    if path is not None and path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes) for source {spec.name!r}; expected a "
                         f"header with columns {spec.required_columns}")
    if fmt in ("csv", "tsv"):
        return _land_csv(spec, path, rel, dest, fmt)
    if fmt == "jsonl":
        return _land_jsonl(spec, path, rel, dest)
    if fmt == "parquet":
        return _land_batches(spec, rel, dest, fmt, _parquet_batches(path))
    if fmt == "excel":
        return _land_batches(spec, rel, dest, fmt, _excel_batches(spec, path))
    if fmt == "transcript":
        enc = (detect_encoding(path, spec.encodings) if spec.encoding == "auto"
               else spec.encoding)
        return _land_batches(spec, rel, dest, fmt, _transcript_batches(spec, path, enc),
                             encoding=enc)
    return _land_batches(spec, rel, dest, fmt, _sql_batches(spec, raw_root))


class _NeedsRowNumbers(Exception):
    """A malformed row met while reading with threads: read again single-threaded."""


class _NeedsLineByLine(Exception):
    """pyarrow cannot split the file row by row (an oversized field, a quote left open over
    several lines): read it again line by line so one bad line never rejects the file."""


def _release_arrow_memory() -> None:
    """Hand pyarrow's cached buffers back to the system between files (peak memory)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _write_batches(dest: Path, batches: Iterator[Any], columns: list[str] | None = None
                   ) -> tuple[int, list[str]]:
    """Write record batches (already numbered) to Parquet; return (rows, columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    rows = 0
    try:
        for batch in batches:
            if writer is None:
                # an intermediate file, always scanned in full: no dictionaries or statistics to
                # build (on raw text columns of distinct values they cost most of the write)
                writer = pq.ParquetWriter(dest, batch.schema, compression="none",
                                          use_dictionary=False, write_statistics=False)
            if batch.num_rows:
                writer.write_batch(batch, row_group_size=1 << 20)
                rows += batch.num_rows
        if writer is None:
            cols = columns or []
            schema = pa.schema([(c, pa.string()) for c in cols] + [("_row", pa.int64())])
            writer = pq.ParquetWriter(dest, schema)
            columns_out = cols
        else:
            columns_out = [n for n in writer.schema.names if n != "_row"]
    finally:
        if writer is not None:
            writer.close()
    return rows, columns_out


def _number(batch: Any, start: int, skip: list[int] | None = None) -> tuple[Any, int]:
    """Append ``_row`` (1-based), skipping row numbers taken by malformed rows."""
    import pyarrow as pa

    n = batch.num_rows
    if skip:
        lo = start
        nums = []
        skip_set = set(skip)
        k = lo
        while len(nums) < n:
            if k not in skip_set:
                nums.append(k)
            k += 1
        arr = np.asarray(nums, dtype=np.int64)
        nxt = k
    else:
        arr = np.arange(start, start + n, dtype=np.int64)
        nxt = start + n
    cols = list(batch.columns) + [pa.array(arr)]
    names = list(batch.schema.names) + ["_row"]
    return pa.RecordBatch.from_arrays(cols, names=names), nxt


def _read_header(path: Path, encoding: str, delimiter: str, quote: str) -> list[str]:
    with open_raw(path) as fh:
        head = fh.read(1 << 16)
    end = head.find(b"\n")
    first = head if end < 0 else head[: end + 1]
    try:
        text = first.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: unreadable encoding: the header is not {encoding} "
                         f"({exc.reason} at byte {exc.start})") from None
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote or None),
                  [])
    header = [h.strip() for h in header]
    if not header or not any(header):
        raise ValueError(f"{path}: empty file (no header line)")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ValueError(f"{path}: duplicate column name(s) {dupes}; found {header}")
    if any(not h for h in header):
        raise ValueError(f"{path}: a column has no name (position "
                         f"{header.index('') + 1}); found {header}")
    return header


def _land_csv(spec: SourceSpec, path: Path, rel: str, dest: Path, fmt: str) -> LandedFile:
    import pyarrow as pa
    import pyarrow.csv as pc

    enc = (detect_encoding(path, spec.encodings) if spec.encoding == "auto"
           else spec.encoding)
    delimiter = "\t" if fmt == "tsv" and spec.delimiter == "," else spec.delimiter
    header = _read_header(path, enc, delimiter, spec.quote)
    check_columns(pd.DataFrame(columns=header), spec.required_columns,
                  what=f"{path} (source {spec.name!r})")
    arrow_enc = "utf8" if codecs.lookup(enc).name in ("utf-8", "utf-8-sig") else enc
    convert = pc.ConvertOptions(column_types={h: pa.string() for h in header},
                                strings_can_be_null=False, quoted_strings_can_be_null=False)

    def attempt(threaded: bool) -> tuple[int, list[str], list[tuple[int, str, str | None]]]:
        bad: list[tuple[int, str, str | None]] = []
        stopped: list[str] = []

        def on_invalid(row: Any) -> str:
            if threaded:  # row numbers are only known single-threaded: start again that way
                stopped.append("threads")
                return "error"
            if "\n" in (row.text or "").rstrip("\r\n"):
                # a quote left open ran several lines into one record: split them line by line
                stopped.append("lines")
                return "error"
            # row.number counts the header as 1 (blank lines skipped): record = number - 1
            bad.append((int(row.number) - 1, f"expected {row.expected_columns} columns, "
                        f"found {row.actual_columns}", raw_excerpt(row.text)))
            return "skip"

        read = pc.ReadOptions(column_names=header, skip_rows=1, encoding=arrow_enc,
                              use_threads=threaded, block_size=8 << 20)
        parse = pc.ParseOptions(delimiter=delimiter, quote_char=spec.quote or False,
                                newlines_in_values=True, invalid_row_handler=on_invalid)

        def batches() -> Iterator[Any]:
            start = 1
            try:
                with _arrow_input(path) as raw:
                    reader = pc.open_csv(raw, read_options=read, parse_options=parse,
                                         convert_options=convert)
                    for batch in reader:
                        if longest_field(batch) > MAX_FIELD_CHARS:
                            raise _NeedsLineByLine
                        skip = [r for r, *_ in bad if r >= start]
                        out, start = _number(batch, start, skip)
                        yield out
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}: unreadable encoding: not valid {enc} "
                                 f"({exc.reason}); set 'encoding' for source {spec.name!r}"
                                 ) from None
            except pa.ArrowInvalid as exc:
                if "lines" in stopped:
                    raise _NeedsLineByLine from None
                if stopped:
                    raise _NeedsRowNumbers from None
                msg = str(exc)
                m = re.search(r"column #(\d+)", msg)
                col = (f" in column {header[int(m.group(1))]!r}"
                       if m and int(m.group(1)) < len(header) else "")
                if "UTF8" in msg or "utf8" in msg or "UTF-8" in msg:
                    raise ValueError(f"{path}: unreadable encoding: invalid {enc} bytes{col}; "
                                     f"set 'encoding' for source {spec.name!r}") from None
                # anything else pyarrow cannot split (a field longer than a block, a quote
                # open at the end of the file) is found line by line
                raise _NeedsLineByLine from None

        rows, cols = _write_batches(dest, batches(), header)
        return rows, cols, bad

    try:
        try:
            rows, cols, bad = attempt(threaded=True)
        except _NeedsRowNumbers:
            dest.unlink(missing_ok=True)
            rows, cols, bad = attempt(threaded=False)
    except _NeedsLineByLine:
        dest.unlink(missing_ok=True)
        bad = []
        rows, cols = _write_batches(dest, csv_batches(
            open_raw(path), path, enc, delimiter, spec.quote, header, bad, spec.name), header)
    _release_arrow_memory()
    return LandedFile(rel, dest, rows + len(bad), sorted(bad), cols, enc, fmt)


def _land_jsonl(spec: SourceSpec, path: Path, rel: str, dest: Path) -> LandedFile:
    import pyarrow as pa
    import pyarrow.csv as pc

    enc = (detect_encoding(path, spec.encodings) if spec.encoding == "auto"
           else spec.encoding)
    arrow_enc = "utf8" if codecs.lookup(enc).name in ("utf-8", "utf-8-sig") else enc
    bad: list[tuple[int, str, str | None]] = []

    def on_invalid(row: Any) -> str:
        bad.append((int(row.number), "control character 0x1f in the line",
                    raw_excerpt(row.text)))
        return "skip"

    # one column per line: JSON text never contains a raw 0x1f, so no line is ever split
    read = pc.ReadOptions(column_names=["_line"], encoding=arrow_enc, use_threads=False,
                          block_size=16 << 20)
    parse = pc.ParseOptions(delimiter="\x1f", quote_char=False, escape_char=False,
                            double_quote=False, newlines_in_values=False,
                            ignore_empty_lines=False, invalid_row_handler=on_invalid)
    convert = pc.ConvertOptions(column_types={"_line": pa.string()}, strings_can_be_null=False)

    def batches() -> Iterator[Any]:
        start = 1
        try:
            with _arrow_input(path) as raw:
                for batch in pc.open_csv(raw, read_options=read, parse_options=parse,
                                         convert_options=convert):
                    if longest_field(batch) > MAX_FIELD_CHARS:
                        raise _NeedsLineByLine
                    skip = [r for r, *_ in bad if r >= start]
                    out, start = _number(batch, start, skip)
                    yield out
        except pa.ArrowInvalid as exc:
            if "straddl" in str(exc) or "block" in str(exc):
                raise _NeedsLineByLine from None  # a line longer than a block
            raise ValueError(f"{path}: unreadable encoding: not valid {enc} ({exc}); set "
                             f"'encoding' for source {spec.name!r}") from None
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path}: unreadable encoding: not valid {enc} ({exc}); set "
                             f"'encoding' for source {spec.name!r}") from None

    try:
        rows, _ = _write_batches(dest, batches(), ["_line"])
    except _NeedsLineByLine:
        dest.unlink(missing_ok=True)
        bad = []
        rows, _ = _write_batches(dest, jsonl_batches(open_raw(path), path, enc, bad,
                                                     spec.name), ["_line"])
    return LandedFile(rel, dest, rows + len(bad), sorted(bad), ["_line"], enc, "jsonl")


def _land_batches(spec: SourceSpec, rel: str, dest: Path, fmt: str, batches: Iterator[Any],
                  encoding: str | None = None) -> LandedFile:
    state = {"start": 1}

    def numbered() -> Iterator[Any]:
        for batch in batches:
            if "_row" in batch.schema.names:  # already numbered (transcripts: line numbers)
                yield batch
            else:
                out, state["start"] = _number(batch, state["start"])
                yield out

    rows, cols = _write_batches(dest, numbered())
    return LandedFile(rel, dest, rows, [], cols, encoding, fmt)


def _parquet_batches(path: Path) -> Iterator[Any]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for a broken file
        raise ValueError(f"{path}: cannot read as Parquet: {exc}") from None
    yielded = False
    for batch in pf.iter_batches(batch_size=1 << 17):
        yielded = True
        yield batch
    if not yielded:
        yield _empty_batch(pf.schema_arrow)


def _empty_batch(schema: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema],
                                      names=schema.names)


def _strings_batch(header: list[str], rows: list[list[Any]]) -> Any:
    import pyarrow as pa

    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in header]
    return pa.RecordBatch.from_arrays(
        [pa.array([_cell_text(v) for v in col], pa.string()) for col in cols], names=header)


def _cell_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
    return str(v)


def _excel_batches(spec: SourceSpec, path: Path) -> Iterator[Any]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise ValueError(f"{path}: cannot open as an Excel workbook: {exc}") from None
    try:
        if spec.sheet is not None and spec.sheet not in wb.sheetnames:
            raise ValueError(f"{path}: no sheet {spec.sheet!r}; found sheets {wb.sheetnames}")
        ws = wb[spec.sheet] if spec.sheet is not None else wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header_row = next(it, None)
        if header_row is None:
            raise ValueError(f"{path}: empty sheet {ws.title!r} (no header row)")
        header = [str(h).strip() if h is not None else "" for h in header_row]
        while header and header[-1] == "":
            header.pop()
        if not header:
            raise ValueError(f"{path}: empty sheet {ws.title!r} (no header row)")
        check_columns(pd.DataFrame(columns=header), spec.required_columns,
                      what=f"{path} (source {spec.name!r})")
        chunk: list[list[Any]] = []
        yielded = False
        for row in it:
            vals = list(row[: len(header)]) + [None] * max(0, len(header) - len(row))
            if all(v is None for v in vals):
                continue  # trailing blank rows of a sheet are not records
            chunk.append(vals)
            if len(chunk) >= 50_000:
                yield _strings_batch(header, chunk)
                yielded = True
                chunk = []
        if chunk or not yielded:
            yield _strings_batch(header, chunk)
    finally:
        wb.close()


def _sql_batches(spec: SourceSpec, raw_root: Path | None) -> Iterator[Any]:
    url = str(spec.url)
    m = re.match(r"^(sqlite|duckdb):///(.+)$", url)
    if not m:
        raise ValueError(f"source {spec.name!r}: url must be sqlite:///path or duckdb:///path, "
                         f"got {url!r}")
    engine, db = m.group(1), Path(m.group(2))
    if not db.is_absolute() and raw_root is not None:
        db = raw_root / db
    if not db.exists():
        raise FileNotFoundError(f"{db}: database of source {spec.name!r} not found")
    if engine == "sqlite":
        import sqlite3

        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            try:
                cur = con.execute(str(spec.query))
            except sqlite3.Error as exc:
                raise ValueError(f"{db}: query of source {spec.name!r} failed: {exc}") from None
            header = [d[0] for d in cur.description]
            check_columns(pd.DataFrame(columns=header), spec.required_columns,
                          what=f"{db} (source {spec.name!r}, query)")
            yielded = False
            while True:
                rows = cur.fetchmany(50_000)
                if not rows and yielded:
                    break
                yield _strings_batch(header, [list(r) for r in rows])
                yielded = True
                if not rows:
                    break
        finally:
            con.close()
    else:
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        try:
            try:
                reader = con.sql(str(spec.query)).to_arrow_reader(1 << 17)
            except duckdb.Error as exc:
                raise ValueError(f"{db}: query of source {spec.name!r} failed: {exc}") from None
            check_columns(pd.DataFrame(columns=reader.schema.names), spec.required_columns,
                          what=f"{db} (source {spec.name!r}, query)")
            yielded = False
            for batch in reader:
                yielded = True
                yield batch
            if not yielded:
                yield _empty_batch(reader.schema)
        finally:
            con.close()


def _transcript_batches(spec: SourceSpec, path: Path, enc: str) -> Iterator[Any]:
    """Interview transcript: ``key: value`` header, a separator line, then speaker turns.

    One record per customer turn: the header keys, ``text``, ``question`` (the interviewer's
    previous turn) and ``turn`` (1-based); the record's row is its line number.
    """
    import pyarrow as pa

    sep, speaker, prompt = (spec.transcript["separator"], spec.transcript["speaker"],
                            spec.transcript["prompt"])
    try:
        lines = path.read_text(encoding=enc).splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: unreadable encoding: not valid {enc} ({exc.reason} at byte "
                         f"{exc.start}); set 'encoding' for source {spec.name!r}") from None
    header: dict[str, str] = {}
    body_start = None
    for i, line in enumerate(lines):
        if line.strip() == sep:
            body_start = i + 1
            break
        if line.strip():
            key, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"{path}: line {i + 1}: expected 'key: value' in the header "
                                 f"block before {sep!r}, found {line!r}")
            header[key.strip()] = value.strip()
    if body_start is None:
        raise ValueError(f"{path}: no {sep!r} line separating the header from the dialogue")
    check_columns(pd.DataFrame(columns=[*header, "text", "question", "turn"]),
                  spec.required_columns, what=f"{path} (source {spec.name!r}, header)")
    recs: list[dict[str, Any]] = []
    question: str | None = None
    current: dict[str, Any] | None = None
    for i in range(body_start, len(lines)):
        line = lines[i]
        who, colon, said = line.partition(":")
        if colon and who.strip() in (speaker, prompt):
            current = None
            if who.strip() == speaker:
                current = {"text": said.strip(), "question": question, "line": i + 1}
                recs.append(current)
            else:
                question = said.strip()
        elif line.strip() and current is not None:
            current["text"] += "\n" + line.strip()  # a turn continued on the next line
    names = [*header, "text", "question", "turn"]
    arrays = [pa.array([header[k]] * len(recs), pa.string()) for k in header]
    arrays += [pa.array([r["text"] for r in recs], pa.string()),
               pa.array([r["question"] for r in recs], pa.string()),
               pa.array([str(k + 1) for k in range(len(recs))], pa.string())]
    batch = pa.RecordBatch.from_arrays(arrays, names=names)
    # rows are line numbers here: number them directly and hand over with _row
    rows = pa.array([r["line"] for r in recs], pa.int64())
    yield pa.RecordBatch.from_arrays([*batch.columns, rows], names=[*names, "_row"])
