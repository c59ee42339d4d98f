"""Reading and writing tables: one way for every notebook and module.

Writes are atomic (a temporary file in the same folder, then ``os.replace``), so a crash
never leaves a half-written table. Timestamps are written to Parquet with microsecond
precision, which Spark, DuckDB and pandas all read (Spark rejects nanoseconds).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

_UMASK = os.umask(0)
os.umask(_UMASK)


def read_table(path: str | os.PathLike[str], **kwargs: Any) -> pd.DataFrame:
    """Read a Parquet or CSV table into pandas; the error names the file when it is missing.

    CSV timestamps are not parsed here; modules that need them parse and validate them.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: table not found")
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pd.read_parquet(p, **kwargs)
    if suffix in (".csv", ".tsv", ".txt"):
        return pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",", **kwargs)
    raise ValueError(f"{p}: unsupported table format {suffix!r}; expected .parquet or .csv")


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then move the result onto ``path`` in one step."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        # mkstemp creates 0600; give the file the mode any other new file would get
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Arrow table with nanosecond timestamps coarsened to microseconds."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for f in table.schema:
        if pa.types.is_timestamp(f.type) and f.type.unit == "ns":
            f = f.with_type(pa.timestamp("us", tz=f.type.tz))
        fields.append(f)
    return table.cast(pa.schema(fields, metadata=table.schema.metadata), safe=False)


def write_parquet(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Atomic Parquet write with microsecond timestamps."""
    table = to_arrow(frame)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp))


#: First characters that make a spreadsheet read a cell as a formula (OWASP, CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with a single quote
    (``=HYPERLINK(...)`` -> ``'=HYPERLINK(...)``); any other value unchanged (OWASP, "CSV
    Injection").

    >>> neutralise_formula("=1+1"), neutralise_formula("-5 %"), neutralise_formula(-5)
    ("'=1+1", "'-5 %", -5)
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell passed through :func:`neutralise_formula`; numbers,
    times and booleans stay as they are (a copy only when a cell changes)."""
    changed = {}
    for col in frame.columns:
        series = frame[col]
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = series.astype(object)
        elif not (series.dtype == object or pd.api.types.is_string_dtype(series.dtype)):
            continue
        # each distinct value looked at once (a large table repeats its texts); only a
        # column holding a formula is gone through cell by cell
        uniques = pd.unique(series.dropna().to_numpy(dtype=object))
        if not any(isinstance(u, str) and u.startswith(FORMULA_PREFIXES) for u in uniques):
            continue
        changed[col] = series.map(neutralise_formula, na_action="ignore")
    if not changed:
        return frame
    out = frame.copy()
    for col, text in changed.items():
        out[col] = text
    return out


def write_table(frame: pd.DataFrame, folder: str | os.PathLike[str], name: str,
                *, formats: tuple[str, ...] = ("csv", "parquet")) -> dict[str, Path]:
    """Write ``frame`` as ``<folder>/<name>.csv`` and ``.parquet`` (atomically); return paths.

    In the CSV, a text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
    return gets a leading single quote so a spreadsheet shows it as text instead of running
    it (:func:`csv_safe`); the Parquet file keeps the values as they are.
    """
    folder = Path(folder)
    written: dict[str, Path] = {}
    if "parquet" in formats:
        written["parquet"] = write_parquet(frame, folder / f"{name}.parquet")
    if "csv" in formats:
        safe = csv_safe(frame)
        # the csv module quotes a cell holding a character of the line end only: with a
        # carriage return in some cell, end lines with CR LF so that cell is quoted, not split
        end = "\r\n" if _has_carriage_return(safe) else "\n"
        written["csv"] = atomic_write(
            folder / f"{name}.csv", lambda tmp: safe.to_csv(tmp, index=False, lineterminator=end))
    return written


def _has_carriage_return(frame: pd.DataFrame) -> bool:
    """Whether any text cell of ``frame`` holds a carriage return."""
    for col in frame.columns:
        series = frame[col]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            if series.map(lambda v: isinstance(v, str) and "\r" in v).any():
                return True
    return False


def write_json(data: Any, path: str | os.PathLike[str]) -> Path:
    """Atomic, pretty JSON write (non-JSON values such as timestamps become strings)."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def has_rows(path: str | os.PathLike[str] | None) -> bool:
    """Whether ``path`` holds data: a Parquet file (or folder of them) with at least one row,
    a CSV/TSV with a row under its header, a folder with any file, another non-empty file.
    False for None, an empty string or a path that does not exist; cheap (Parquet metadata,
    two lines of text)."""
    if not path:
        return False
    p = Path(path)
    if not p.exists():
        return False
    if p.is_dir():
        parquet = sorted(p.glob("*.parquet"))
        if parquet:
            return any(has_rows(f) for f in parquet)
        return any(f.is_file() and f.name != "README.md" for f in p.rglob("*"))
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        return pq.ParquetFile(p).metadata.num_rows > 0
    if suffix in (".csv", ".tsv", ".txt"):
        with open(p, "rb") as fh:
            lines = [fh.readline(), fh.readline()]
            lines = [line for line in lines if line]
        return len(lines) == 2 and bool(lines[1].strip())
    return p.stat().st_size > 0


def file_sha256(path: str | os.PathLike[str], *, digest: Any = None) -> str:
    """SHA-256 (hex) of a file's bytes, read in 4 MB blocks; with ``digest`` (a hashlib
    object) the bytes are fed into it instead and its hex digest is returned."""
    h = digest if digest is not None else hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def output_folder(path: str | os.PathLike[str]) -> Path:
    """Resolve a notebook's ``output_dir`` parameter (under the workspace) and create it."""
    from cjmlib.core.config import output_path

    folder = output_path(path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
