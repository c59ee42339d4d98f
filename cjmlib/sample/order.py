"""Row order of the sample's large tables: a stable multi-key sort on integer keys.

``DataFrame.sort_values`` on string keys factorises every string of every key; the sample
sorts millions of events by person id (``P0001234``), time and a few small keys, so
:func:`sort_rows` turns person ids into their numbers (same order: equal length) and other
strings into their rank among the distinct values, and sorts with :func:`numpy.lexsort`
(stable), or with one stable argsort when the keys pack into one 64-bit integer
(:func:`stable_order`). The result is the one ``sort_values(keys, kind="stable")`` gives.

:func:`apply_row_plan` puts a file's clean rows in the order (with the duplicates and
corrupted copies) the generator drew for them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def sort_rows(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``df.sort_values(keys, kind="stable").reset_index(drop=True)``, faster on big tables."""
    columns = []
    for key in keys:
        values = df[key]
        if values.hasnans:  # missing keys go last in sort_values: leave those to pandas
            return df.sort_values(keys, kind="stable").reset_index(drop=True)
        columns.append(sort_key(values))
    order = stable_order(columns) if columns else np.arange(len(df))
    out = df.iloc[order]
    out.index = pd.RangeIndex(len(out))  # reset_index(drop=True) without a copy
    return out


def stable_order(keys: list[np.ndarray]) -> np.ndarray:
    """``np.lexsort(keys[::-1])``: the row order sorting by ``keys[0]``, then ``keys[1]``, ...
    (stable). Integer keys that fit into 63 bits together (each less its minimum, divided by
    the largest step all its values share) are packed into one int64 and sorted with one
    stable argsort, several times faster than ``lexsort``, fastest on rows nearly in order."""
    packed = _packed(keys)
    if packed is None:
        return np.lexsort(keys[::-1])
    return np.argsort(packed, kind="stable")


def _packed(keys: list[np.ndarray]) -> np.ndarray | None:
    """One int64 per row ordering like the tuple of ``keys``, or ``None`` if they do not
    fit (or are not all integers)."""
    if not keys or len(keys[0]) == 0:
        return None
    parts, bits = [], 0
    for key in keys:
        if not np.issubdtype(key.dtype, np.integer):
            return None
        low, high = int(key.min()), int(key.max())
        if high >= 2**63 or high - low >= 2**63:
            return None
        part = key.astype(np.int64) - low
        step = int(np.gcd.reduce(part)) if high > low else 1
        if step > 1:
            part //= step
        width = ((high - low) // step).bit_length()
        bits += width
        if bits > 63:
            return None
        parts.append((part, width))
    packed = np.zeros(len(keys[0]), dtype=np.int64)
    for part, width in parts:
        packed <<= width
        packed |= part
    return packed


def sort_key(values: pd.Series) -> np.ndarray:
    """Integers (or floats) that order like ``values`` (no missing values), as
    :func:`sort_rows` sorts by them."""
    if isinstance(values.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(
            values.dtype):
        return pd.DatetimeIndex(values).asi8
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
            values.dtype):
        return values.to_numpy()
    numbers = _id_numbers(values)
    if numbers is not None:
        return numbers
    return pd.factorize(values, sort=True)[0]


def _id_numbers(values: pd.Series) -> np.ndarray | None:
    """The numbers of ids made of one letter and digits, all of one length (``P0001234``);
    ``None`` for anything else."""
    if not pd.api.types.is_object_dtype(values.dtype) or len(values) == 0:
        return None
    first = values.iloc[0]  # a quick look at one value before converting them all
    if not (isinstance(first, str) and len(first) > 1 and first[1:].isascii()
            and first[1:].isdigit()):
        return None
    try:
        text = pa.array(values, type=pa.string())
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        return None
    length = pc.binary_length(text)
    first = pc.utf8_slice_codeunits(text, 0, 1)
    digits = pc.utf8_slice_codeunits(text, 1)
    if (pc.min(length).as_py() != pc.max(length).as_py() or pc.count_distinct(first).as_py() != 1
            or not pc.all(pc.ascii_is_decimal(digits)).as_py()):
        return None
    return pc.cast(digits, pa.int64()).to_numpy()


def apply_row_plan(df: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``df`` (a file's clean rows) as ``plan`` orders, duplicates and corrupts
    them (``plan`` from :meth:`~cjmlib.sample.generator.SampleGenerator.row_plan`): what the
    generator's ``exact_duplicates`` and ``inject`` would have made of ``df``."""
    out = df.take(plan["row"].to_numpy())
    out.index = pd.RangeIndex(len(out))
    for col in plan.columns.drop("row"):
        at = plan[col].notna().to_numpy()
        values = plan.loc[at, col]
        try:
            values = values.astype(out[col].dtype)
        except (TypeError, ValueError):  # e.g. "-" among numbers: the column becomes objects
            out[col] = out[col].astype(object)
            values = values.astype(object)
        out.loc[at, col] = values.to_numpy()
    return out
