"""The embedded engine: one DuckDB connection (an Ibis backend) for the whole workbench.

Event-log and pilot aggregates run inside the engine through Ibis (``../shared/DESIGN.md``,
"Engine"). Functions take a pandas DataFrame, a Parquet/CSV path or an Ibis table;
:func:`as_table` turns any of them into an Ibis table, and only aggregates come back.
An Ibis table from another backend (PySpark, BigQuery, ...) is used as it is.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

_CONNECTION: Any = None


def connection() -> Any:
    """The embedded DuckDB connection, created on first use (about half a second).

    Spill files go to the system temporary folder (DuckDB's default ``./.tmp`` would land in
    the project checkout), the progress bar is off, and ``lag``/``lead``/``row_number`` compile
    without a window frame (see :func:`_lean_window_compiler`).
    """
    global _CONNECTION
    if _CONNECTION is None:
        import ibis

        con = ibis.duckdb.connect()
        con.compiler = _lean_window_compiler(con.compiler)
        spill = Path(tempfile.gettempdir()) / "cjm-duckdb"
        con.raw_sql(f"SET temp_directory = '{spill.as_posix()}'")
        try:  # quiet in logs; inside Jupyter DuckDB draws no bar and refuses the setting
            con.raw_sql("SET enable_progress_bar = false")
        except Exception:  # any refusal leaves the default, which is harmless
            pass
        _CONNECTION = con
    return _CONNECTION


def as_table(data: Any, *, what: str = "table") -> Any:
    """An Ibis table from a pandas DataFrame, a Parquet/CSV path (file or folder of Parquet
    files) or an Ibis table (of any backend, used as it is); ``what`` names the table in
    errors."""
    import ibis
    import ibis.expr.types as ir

    if isinstance(data, ir.Table):
        return data
    if isinstance(data, pd.DataFrame):
        return ibis.memtable(data)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.exists():
            raise FileNotFoundError(f"{path}: {what} not found")
        suffix = path.suffix.lower()
        con = connection()
        with warnings.catch_warnings():  # ibis 12 on duckdb 2.0 calls a deprecated fetch
            warnings.simplefilter("ignore", DeprecationWarning)
            if suffix in (".parquet", ".pq") or path.is_dir():
                return con.read_parquet(str(path / "*.parquet") if path.is_dir() else str(path))
            if suffix in (".csv", ".tsv", ".txt"):
                return con.read_csv(str(path))
        raise ValueError(
            f"{path}: unsupported {what} format {suffix!r}; expected .parquet or .csv")
    raise TypeError(f"{what} must be a pandas DataFrame, a path or an Ibis table, "
                    f"got {type(data).__name__}")


def _lean_window_compiler(compiler: Any) -> Any:
    """A DuckDB compiler that writes ``lag``, ``lead`` and ``row_number`` without a frame.

    Ibis 12 writes ``ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING`` into every
    window; these functions ignore frames in standard SQL, but DuckDB 2.0 then takes a
    slower path (about 20% on a 10-million-event log). Ibis's Impala and MSSQL compilers drop
    the frame the same way, through the same ``_minimize_spec`` hook; results are unchanged.
    The subclass is set on the workbench's own connection only, so other Ibis code in the
    process is unaffected; if a future Ibis lacks the hook, the default compiler is kept.
    """
    import ibis.expr.operations as ops

    base = type(compiler)
    if not hasattr(base, "_minimize_spec"):
        return compiler

    class _LeanWindowCompiler(base):  # type: ignore[misc, valid-type]
        @staticmethod
        def _minimize_spec(op: Any, spec: Any) -> Any:
            if isinstance(op.func, (ops.Lag, ops.Lead, ops.RowNumber)):
                return None
            return base._minimize_spec(op, spec)

    return _LeanWindowCompiler()
