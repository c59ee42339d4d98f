"""The embedded engine: one DuckDB connection (an Ibis backend) for the whole workbench.

Event-log and pilot aggregates run inside the engine through Ibis (``docs/design.md``,
"Engine"). Functions take a pandas DataFrame, a Parquet/CSV path or an Ibis table;
:func:`as_table` turns any of them into an Ibis table, and only aggregates come back.
An Ibis table from another backend (PySpark, BigQuery, ...) is used as it is.
"""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    import ibis.expr.types as ir

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
                return _read_parquet(con, path / "*.parquet" if path.is_dir() else path)
            if suffix in (".csv", ".tsv", ".txt"):
                return con.read_csv(str(path))
        raise ValueError(
            f"{path}: unsupported {what} format {suffix!r}; expected .parquet or .csv")
    raise TypeError(f"{what} must be a pandas DataFrame, a path or an Ibis table, "
                    f"got {type(data).__name__}")


#: DuckDB timestamp types Ibis cannot read, and the microsecond type each is cast to.
_COARSER_TIMES = {"TIMESTAMP_NS": "TIMESTAMP", "TIMESTAMP_MS": "TIMESTAMP",
                  "TIMESTAMP_S": "TIMESTAMP", "TIMESTAMPTZ_NS": "TIMESTAMPTZ",
                  "TIMESTAMP WITH TIME ZONE_NS": "TIMESTAMPTZ"}
_VIEWS: dict[str, str] = {}


def _read_parquet(con: Any, path: Path) -> Any:
    """``con.read_parquet``, except that nanosecond (and second, millisecond) timestamps --
    what ``pandas.DataFrame.to_parquet`` writes -- are cast to microseconds in a view, since
    Ibis has no type for DuckDB's ``TIMESTAMP_NS``/``TIMESTAMPTZ_NS``. Times are rounded to
    the microsecond; nothing else changes."""
    source = f"read_parquet('{path.as_posix()}')"
    columns = con.raw_sql(f"DESCRIBE SELECT * FROM {source}").fetchall()
    casts = {name: _COARSER_TIMES[typ.upper()] for name, typ, *_ in columns
             if typ.upper() in _COARSER_TIMES}
    if not casts:
        return con.read_parquet(str(path))
    replace = ", ".join(f'CAST("{name}" AS {typ}) AS "{name}"' for name, typ in casts.items())
    view = _VIEWS.setdefault(str(path), f"_cjm_parquet_{len(_VIEWS) + 1}")
    con.raw_sql(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * REPLACE ({replace}) "
                f"FROM {source}")
    return con.table(view)


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


@contextmanager
def materialized(table: ir.Table) -> Iterator[ir.Table]:
    """``table`` computed once into a temporary table of its DuckDB connection (the embedded
    one for pandas data), dropped on exit; on other backends ``table`` itself.

    Used before DuckDB's quantile aggregate on large logs: fed straight by a window (journey
    order, sessions) over tens of millions of rows, the aggregate slows down a hundredfold
    (30M events: over 150 s of CPU and 11 GB for the median gap of ~600 transitions, against
    about 1 s on a table of the same rows). Ibis's own ``Table.cache`` cannot release its
    table on DuckDB 2.0 (the ``DROP`` it writes does not parse), hence this.
    """
    backends, _ = table._find_backends()
    con = backends[0] if backends else connection()
    if getattr(con, "name", "") != "duckdb":
        yield table
        return
    name = f"_cjm_{uuid.uuid4().hex}"
    stored = con.create_table(name, table, temp=True)
    try:
        yield stored
    finally:
        con.raw_sql(f'DROP TABLE IF EXISTS "{name}"')


def is_spark(table: ir.Table) -> bool:
    """True when ``table`` lives on a PySpark backend."""
    backends, _ = table._find_backends()
    return any(b.name == "pyspark" for b in backends)



def epoch_microseconds(column: Any, table: ir.Table) -> Any:
    """Microseconds since 1970 as int64, computed the same way on DuckDB and Spark.

    Differences of these integers are exact and cheap; DuckDB's ``date_diff`` on time-zone-
    aware timestamps is several times slower on clickstream volumes.
    """
    if is_spark(table):
        return _spark_unix_micros(column)
    return _duckdb_epoch_us(column)


def _builtin(name: str, input_type: Any) -> Any:
    import ibis
    import ibis.expr.datatypes as dt

    def fn(x):  # pragma: no cover - body never runs: the engine's builtin does
        ...

    fn.__annotations__ = {"x": input_type, "return": dt.int64}
    fn.__name__ = f"_{name}"
    return ibis.udf.scalar.builtin(name=name)(fn)


class _LazyBuiltin:
    def __init__(self, name: str, timezone: str | None) -> None:
        self.name, self.timezone, self.fn = name, timezone, None

    def __call__(self, column: Any) -> Any:
        import ibis.expr.datatypes as dt

        if self.fn is None:
            self.fn = _builtin(self.name, dt.Timestamp(timezone=self.timezone))
        return self.fn(column)


_duckdb_epoch_us = _LazyBuiltin("epoch_us", "UTC")
_spark_unix_micros = _LazyBuiltin("unix_micros", None)



SORT_QUANTILES_ABOVE = 20_000_000


def group_quantiles(table: ir.Table, keys: list[str], value: str,
                    quantiles: dict[str, float], *, by_sorting: bool = False,
                    extra: dict[str, Any] | None = None) -> ir.Table:
    """Exact per-group quantiles of ``value`` (linear interpolation, as numpy's default,
    DuckDB's ``quantile_cont`` and Spark's ``percentile``), plus ``_rows`` (rows) and
    ``_n`` (non-null values) per group, and any ``extra`` aggregates (name -> expression on
    ``table``).

    ``quantiles`` maps output names to fractions. With ``by_sorting=False`` the engine's
    quantile aggregate does the work; with ``True`` the values are ranked within their
    group by a window sort and the two order statistics around each quantile are
    interpolated. Both give the same numbers; the sort spills to disk gracefully on
    hundreds of millions of rows, where DuckDB 2.0's holistic aggregate state grows
    without bound.
    """
    import ibis

    v = table[value]
    extra = dict(extra or {})
    if not by_sorting:
        return table.group_by(keys).aggregate(
            _rows=table.count(), _n=v.count(), **extra,
            **{name: v.quantile(q) for name, q in quantiles.items()})
    present = table.filter(v.notnull()).select(*keys, _v=v)
    counts = table.group_by(keys).aggregate(_rows=table.count(), _n=v.count(), **extra)
    w = ibis.window(group_by=keys, order_by=present._v)
    ranked = present.mutate(_rn=ibis.row_number().over(w))
    # ranked rows meet their group size; only the order statistics needed are kept
    c = counts.rename({f"_k_{k}": k for k in keys})
    x = ranked.join(c, [ranked[k] == c[f"_k_{k}"] for k in keys])
    pos = {name: (x._n - 1) * q for name, q in quantiles.items()}
    lo = {name: p.floor().cast("int64") for name, p in pos.items()}
    hi = {name: p.ceil().cast("int64") for name, p in pos.items()}
    wanted = None
    for name in quantiles:
        hit = (x._rn == lo[name]) | (x._rn == hi[name])
        wanted = hit if wanted is None else wanted | hit
    x = x.filter(wanted)
    stats = {}
    for name in quantiles:
        stats[f"_lo_{name}"] = x._v.max(where=x._rn == lo[name])
        stats[f"_hi_{name}"] = x._v.max(where=x._rn == hi[name])
        stats[f"_f_{name}"] = (pos[name] - lo[name]).max()
    picked = x.group_by(keys).aggregate(**stats)
    p = picked.rename({f"_k_{k}": k for k in keys})
    out = counts.left_join(p, [counts[k] == p[f"_k_{k}"] for k in keys])
    return out.select(*keys, "_rows", "_n", *extra, **{
        name: out[f"_lo_{name}"] + out[f"_f_{name}"] * (out[f"_hi_{name}"] - out[f"_lo_{name}"])
        for name in quantiles})



def execute(expr: Any) -> pd.DataFrame:
    """Run an Ibis expression on its backend and return pandas, times in UTC."""
    backends, _ = expr._find_backends()
    backend = backends[0] if backends else connection()  # memtables only: embedded DuckDB
    frame = backend.to_pandas(expr)
    for col in frame.columns:
        s = frame[col]
        if pd.api.types.is_datetime64_any_dtype(s) and not isinstance(s.dtype,
                                                                       pd.DatetimeTZDtype):
            frame[col] = s.dt.tz_localize("UTC")  # Spark returns UTC instants as naive
    return frame


