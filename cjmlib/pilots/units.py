"""The units table of an A/B pilot (one row per unit) as a table in the engine.

:class:`UnitsData` wraps a pandas DataFrame, a CSV/Parquet path or an Ibis table
(:func:`load_units`); :func:`arms_as_text` reads the variant column as text;
:func:`units_per_arm_labels` lists the variant labels found;
:func:`rows_of` and :func:`fmt_rows` point error messages at 1-based data rows. Validation
against the plan is in :mod:`cjmlib.pilots.validation`, the aggregates pulled from the table in
:mod:`cjmlib.pilots.aggregates`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.engine import connection
from cjmlib.core.io import read_table


@dataclass
class UnitsData:
    """A units table in the engine plus the name used in error messages."""

    table: Any
    name: str

    def execute(self, expr: Any) -> pd.DataFrame:
        return expr.execute()


def load_units(source: Any, *, name: str | None = None) -> UnitsData:
    """Wrap a pandas DataFrame, a CSV/Parquet path or an Ibis table as an engine table.

    Parquet is scanned by DuckDB without loading it into Python; CSV is read by pandas
    (blank cells become missing values) and handed to DuckDB as a memtable.
    """
    import ibis

    if isinstance(source, UnitsData):
        return source
    if isinstance(source, pd.DataFrame):
        return UnitsData(ibis.memtable(source), name or "units table")
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: units table not found")
        label = name or path.name
        if path.suffix.lower() in (".parquet", ".pq"):
            return UnitsData(connection().read_parquet(str(path)), label)
        return UnitsData(ibis.memtable(read_table(path)), label)
    if hasattr(source, "schema") and hasattr(source, "execute"):
        return UnitsData(source, name or "units table")
    raise TypeError(f"units must be a DataFrame, a path or an Ibis table, got "
                    f"{type(source).__name__}")


def arms_as_text(data: UnitsData, variant_col: str) -> UnitsData:
    """The same table with the variant column as text, so that arms coded 0/1 (integers in
    the file) match the arm names of a plan or split, which are always text."""
    t = data.table
    if variant_col not in t.columns or t.schema()[variant_col].is_string():
        return data
    return UnitsData(t.mutate(**{variant_col: t[variant_col].cast("string")}), data.name)


def units_per_arm_labels(data: UnitsData, variant_col: str) -> list[Any]:
    t = data.table
    return data.execute(t.select(variant_col).distinct())[variant_col].tolist()


def rows_of(units: UnitsData, predicate: Any, *, limit: int = 5,
            unit_col: str | None = None) -> list[tuple[int, Any]]:
    """1-based data rows (and unit ids) where ``predicate`` holds, first ``limit`` of them."""
    import ibis

    t = units.table.mutate(_row_number=ibis.row_number() + 1)
    pred = predicate(t)
    cols = ["_row_number"] + ([unit_col] if unit_col else [])
    frame = units.execute(t.filter(pred).select(cols).order_by("_row_number").limit(limit))
    return [(int(r["_row_number"]), r[unit_col] if unit_col else None)
            for _, r in frame.iterrows()]


def fmt_rows(rows: list[tuple[int, Any]]) -> str:
    def plain(u: Any) -> Any:
        return u.item() if isinstance(u, np.generic) else u

    return ", ".join(f"{r}" + (f" (unit {plain(u)!r})" if u is not None else "")
                     for r, u in rows)
