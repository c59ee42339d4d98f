"""Fast text output for the sample's large files, byte for byte what pandas and json would write.

At half a million customers the exports hold millions of rows, and formatting them one value
at a time in Python (``Series.dt.strftime``, ``DataFrame.to_csv``, ``json.dumps`` per line)
took most of the generator's time. These helpers do the same work column-wise with pyarrow:

- :func:`format_times` formats timestamps like ``Series.dt.strftime`` (missing times stay
  missing);
- :func:`write_csv` writes a frame like ``DataFrame.to_csv(path, index=False)`` (UTF-8,
  ``\\n`` line ends, minimal quoting by Python's :mod:`csv`, missing values as empty fields);
- :func:`json_fields` and :func:`write_lines` build and write JSON lines like ``json.dumps``
  of a dict per line.

The sample's files must not change for a given seed, so tests/sample compare each helper with
the pandas or json call it replaces.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

STRING = pd.ArrowDtype(pa.string())
_ROWS_PER_CHUNK = 1_000_000
# characters that may make Python's csv writer quote a field (a superset: the writer decides)
_QUOTE_CANDIDATES = (",", '"', "\n", "\r")
_QUOTE_PATTERN = '[,"\n\r]'
# characters json.dumps (ensure_ascii) escapes: anything but printable ASCII, quote, backslash
_JSON_ESCAPED = r'[^\x20\x21\x23-\x5b\x5d-\x7e]'


def format_times(times: pd.Series | pd.DatetimeIndex, fmt: str, *, tz: str | None = None,
                 unit: str = "s") -> pd.Series:
    """``times`` (timezone-aware) formatted with ``fmt`` in ``tz`` (default: their own zone).

    ``unit`` is the precision kept before formatting (``"s"``, or ``"ms"`` to get
    ``%S`` as seconds with three decimals, as ``strftime("%S.%f")[:-3]`` gives); sub-unit
    parts are cut off, as strftime does. Returns strings (pyarrow-backed), missing for NaT,
    on the index of ``times`` when it is a Series.

    Formats made of ``%Y %m %d %H %M %S`` and literal text are cut out of the ISO strings
    of the local wall-clock times (pyarrow's cast to text: fast); any other directive goes
    through pyarrow's ``strftime``.
    """
    index = times.index if isinstance(times, pd.Series) else None
    stamps = pd.DatetimeIndex(times)
    if stamps.tz is None:
        raise ValueError("format_times needs timezone-aware times")
    parts = [p for p in re.split(r"(%.)", fmt) if p]
    if all(p in _ISO_SLICES or not p.startswith("%") for p in parts):
        wall = (stamps.tz_convert(tz) if tz else stamps).tz_localize(None)
        # pyarrow writes "2026-01-05 10:11:12[.345]": the fields sit where numpy's ISO has them
        iso = pc.cast(pa.array(wall.to_numpy().astype(f"M8[{unit}]"), mask=wall.isna()),
                      pa.string())
        pieces = []
        for p in parts:
            if p in _ISO_SLICES:
                a, b = _ISO_SLICES[p]
                b = b + 4 if (p == "%S" and unit == "ms") else b
                pieces.append(pc.utf8_slice_codeunits(iso, a, b))
            else:
                pieces.append(p)
        out = pc.binary_join_element_wise(*pieces, "") if len(pieces) > 1 else pieces[0]
        if isinstance(out, str):  # a format without any directive
            out = pa.array(np.where(wall.isna(), None, out), type=pa.string())
    else:
        arr = pa.array(stamps)
        arr = pc.cast(arr, pa.timestamp(unit, tz=tz or arr.type.tz), safe=False)
        out = pc.strftime(arr, format=fmt)
    return pd.Series(out, index=index, dtype=STRING)


# where each directive sits in the ISO string "2026-01-05 10:11:12[.345]"
_ISO_SLICES = {"%Y": (0, 4), "%m": (5, 7), "%d": (8, 10), "%H": (11, 13), "%M": (14, 16),
               "%S": (17, 19)}


def _column_text(values: pd.Series) -> pa.Array:
    """One column as the text ``to_csv`` writes for it (missing values as empty strings)."""
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype) and pa.types.is_string(dtype.pyarrow_dtype):
        arr = _array(values)
    elif pd.api.types.is_object_dtype(dtype):
        try:
            arr = pa.array(values, type=pa.string(), from_pandas=True)
        except (pa.ArrowTypeError, pa.ArrowInvalid):  # not all strings: str() as to_csv does
            obj = values.to_numpy(dtype=object)
            arr = pa.array(obj.astype(str), type=pa.string(), mask=pd.isna(obj))
    elif pd.api.types.is_bool_dtype(dtype) and not isinstance(dtype, pd.ArrowDtype):
        arr = pa.array(np.where(values.to_numpy(dtype=bool, na_value=False), "True", "False"),
                       mask=values.isna().to_numpy())
    elif pd.api.types.is_integer_dtype(dtype):
        arr = pc.cast(_array(values), pa.string())
    else:
        raise TypeError(f"write_csv: column {values.name!r} of dtype {dtype} is not supported "
                        "(write it as strings, or use DataFrame.to_csv)")
    arr = pc.fill_null(arr, "")
    if _may_hold(arr, _QUOTE_CANDIDATES) and pc.any(flagged := _may_need_quotes(arr)).as_py():
        pos = np.flatnonzero(flagged.to_numpy(zero_copy_only=False))
        quoted = [_csv_field(v) for v in arr.take(pa.array(pos)).to_pylist()]
        text = arr.to_numpy(zero_copy_only=False).astype(object)
        text[pos] = quoted
        arr = pa.array(text, type=pa.string())
    return arr


def _may_hold(text: pa.Array, characters: tuple[str, ...]) -> bool:
    """Whether any of the (ASCII) ``characters`` is anywhere in the bytes behind ``text``: a
    quick look before the string-wise search (a UTF-8 character never holds an ASCII byte)."""
    data = text.buffers()[2]
    if data is None:
        return False
    wanted = np.frombuffer("".join(characters).encode("ascii"), dtype=np.uint8)
    return bool(np.isin(np.frombuffer(data, dtype=np.uint8), wanted).any())


def _may_need_quotes(text: pa.Array) -> pa.Array:
    """Whether each string holds a character that may need quoting (one regex pass)."""
    return pc.match_substring_regex(text, _QUOTE_PATTERN)


def _array(values: pd.Series) -> pa.Array:
    """``values`` as one pyarrow array."""
    arr = pa.array(values)
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _csv_field(value: str) -> str:
    """``value`` as Python's csv writer (pandas' defaults) writes it inside a row."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([value, ""])
    return buf.getvalue()[:-2]


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as ``df.to_csv(path, index=False)`` does, column-wise.

    Columns may hold strings (object or pyarrow strings; other objects are written with
    ``str``), integers (nullable too) or booleans; missing values are empty fields.
    """
    if df.shape[1] < 2:  # a lone empty field is quoted by csv: leave that case to pandas
        df.to_csv(path, index=False)
        return
    head = io.StringIO()
    csv.writer(head, lineterminator="\n").writerow([str(c) for c in df.columns])
    with open(path, "wb") as fh:
        fh.write(head.getvalue().encode("utf-8"))
        for lo in range(0, len(df), _ROWS_PER_CHUNK):
            part = df.iloc[lo:lo + _ROWS_PER_CHUNK]
            cols = [_column_text(part.iloc[:, k]) for k in range(part.shape[1])]
            _write_rows(fh, pc.binary_join_element_wise(*cols, ","))


def json_fields(values: pd.Series) -> pa.Array:
    """``json.dumps`` of every value (default settings).

    Strings of printable ASCII without quotes or backslashes are only put in quotes (what
    ``json.dumps`` does to them); every other value goes through ``json.dumps``, once per
    distinct value.
    """
    if _is_text(values):
        text = _array(values)
        plain = pc.fill_null(pc.invert(pc.match_substring_regex(text, _JSON_ESCAPED)), False)
        if pc.all(plain).as_py():
            return pc.binary_join_element_wise('"', text, '"', "")
    codes, uniques = pd.factorize(values)
    # missing values (None, NaN) one by one: factorize would not tell them apart
    missing = np.flatnonzero(codes < 0)
    codes[missing] = len(uniques) + np.arange(missing.size)
    encoded = [json.dumps(_plain(u)) for u in uniques]
    encoded += [json.dumps(_plain(values.iloc[k])) for k in missing]
    return pa.array(encoded, type=pa.string()).take(pa.array(codes))


def _is_text(values: pd.Series) -> bool:
    """Strings only (no missing values)."""
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        return pa.types.is_string(dtype.pyarrow_dtype) and not values.hasnans
    return pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(
        values, skipna=False) == "string"


def _plain(value: object) -> object:
    """A numpy scalar as the Python value json.dumps accepts."""
    return value.item() if isinstance(value, np.generic) else value


def write_lines(lines: pa.Array | pd.Series, path: str | Path) -> None:
    """Each string of ``lines`` followed by a newline, as UTF-8 (``"\\n".join(...) + "\\n"``)."""
    arr = pa.array(lines, type=pa.string())
    if arr.null_count:
        raise ValueError("write_lines: a line is missing")
    with open(path, "wb") as fh:
        for lo in range(0, len(arr), _ROWS_PER_CHUNK):
            _write_rows(fh, arr.slice(lo, _ROWS_PER_CHUNK))


def _write_rows(fh: io.BufferedWriter, rows: pa.Array) -> None:
    """The strings of ``rows``, each followed by ``\\n``, straight from pyarrow's buffer."""
    if len(rows) == 0:
        return
    rows = pc.binary_join_element_wise(rows, pa.scalar(""), "\n")
    if isinstance(rows, pa.ChunkedArray):
        rows = pa.concat_arrays(rows.chunks)
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32,
                            count=len(rows) + 1, offset=rows.offset * 4)
    data = rows.buffers()[2]
    fh.write(memoryview(data)[offsets[0]:offsets[-1]])
