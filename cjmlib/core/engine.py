"""The embedded engine: one DuckDB connection (an Ibis backend) for the whole workbench.

Event-log and pilot aggregates run inside the engine through Ibis (``docs/design.md``,
"Engine"). Functions take a pandas DataFrame, a Parquet/CSV path or an Ibis table;
:func:`as_table` turns any of them into an Ibis table, and only aggregates come back.
An Ibis table from another backend (PySpark, BigQuery, ...) is used as it is.
"""

from __future__ import annotations

import os
import sys
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
#: DuckDB's memory limit in the analysis notebooks (01_collect sets its own, 1GB).
MEMORY_LIMIT = "2GB"


def _settings() -> list[str]:
    spill = Path(tempfile.gettempdir()) / "cjm-duckdb"
    return [f"SET temp_directory = '{spill.as_posix()}'",
            f"SET memory_limit = '{os.environ.get('CJM_DUCKDB_MEMORY', MEMORY_LIMIT)}'"]


def duckdb_connection() -> Any:
    """A plain ``duckdb`` connection with the library's spill folder and memory limit and no
    progress bar: for SQL written by hand (benchmarks, data generators). A bare
    ``duckdb.connect()`` would spill into ``./.tmp`` of the current folder."""
    import duckdb

    con = duckdb.connect()
    for setting in [*_settings(), "SET enable_progress_bar = false"]:
        con.execute(setting)
    return con


def connection() -> Any:
    """The embedded DuckDB connection, created on first use (about half a second).

    Spill files go to the system temporary folder (DuckDB's default ``./.tmp`` would land in
    the project checkout), the progress bar is off, and ``lag``/``lead``/``row_number`` compile
    without a window frame (see :func:`_lean_window_compiler`). DuckDB's memory is capped at
    :data:`MEMORY_LIMIT` (``CJM_DUCKDB_MEMORY`` overrides it, e.g. ``8GB``): its default,
    80% of the machine, let a notebook's kernel grow past 4 GB on 11 million events, where
    spilling the rest to disk costs little.
    """
    global _CONNECTION
    if _CONNECTION is None:
        import ibis

        con = ibis.duckdb.connect()
        con.compiler = _lean_window_compiler(con.compiler)
        for setting in _settings():
            con.raw_sql(setting)
        try:  # quiet in logs; inside Jupyter DuckDB draws no bar and refuses the setting
            con.raw_sql("SET enable_progress_bar = false")
        except Exception:  # any refusal leaves the default, which is harmless
            pass
        _CONNECTION = con
    return _CONNECTION


def as_table(data: Any, *, what: str = "table") -> Any:
    """An Ibis table from a pandas DataFrame, a Parquet/CSV path (file or folder of Parquet
    files) or an Ibis table (of any backend, used as it is); ``what`` names the table in
    errors. Paths are read by the engine :func:`use_engine` selected (embedded DuckDB by
    default); with another engine a name that is not a path, such as ``events`` or
    ``analytics.events``, is a table of that engine's catalog. DataFrames stay local
    (DuckDB): they are already in this process's memory."""
    import ibis
    import ibis.expr.types as ir

    if isinstance(data, ir.Table):
        return data
    if isinstance(data, pd.DataFrame):
        return ibis.memtable(data)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        selected = engine()
        if not path.exists():
            if selected is not connection() and isinstance(data, str) and is_table_name(data):
                return _catalog_table(selected, data, what)
            raise FileNotFoundError(f"{path}: {what} not found")
        suffix = path.suffix.lower()
        with warnings.catch_warnings():  # ibis 12 on duckdb 2.0 calls a deprecated fetch
            warnings.simplefilter("ignore", DeprecationWarning)
            if suffix in (".parquet", ".pq") or path.is_dir():
                if selected is not connection():  # another engine reads the file itself
                    return selected.read_parquet(str(path))
                return _read_parquet(selected, path / "*.parquet" if path.is_dir() else path)
            if suffix in (".csv", ".tsv", ".txt"):
                return selected.read_csv(str(path))
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




# --------------------------------------------------------------------------------------------
# Choosing the engine
# --------------------------------------------------------------------------------------------
_ENGINE: Any = None  # the engine use_engine selected; None: the embedded DuckDB connection
_ENGINE_SPEC = "duckdb"


def engine() -> Any:
    """The Ibis backend that reads paths and catalog tables: what :func:`use_engine` chose,
    else the embedded DuckDB connection."""
    return _ENGINE if _ENGINE is not None else connection()


def engine_name() -> str:
    """The specification of the selected engine (``"duckdb"`` by default)."""
    return _ENGINE_SPEC


def use_engine(spec: Any = "duckdb") -> Any:
    """Select the engine that reads events, feedback and customers and computes the
    aggregates; returns its Ibis backend. ``spec``:

    - ``"duckdb"`` (default): the embedded DuckDB connection;
    - ``"pyspark"``: a local Spark session using every core (``local[*]``);
      ``"pyspark:<master>"`` or a master URL (``local[2]``, ``spark://host:7077``,
      ``yarn``, ``k8s://...``): a Spark session on that master, or the session already
      active in the process (e.g. on Databricks) when one is running;
    - any other Ibis connection string (``postgres://...``, ``bigquery://project/dataset``,
      ``trino://...``), opened with ``ibis.connect``;
    - an Ibis backend object, used as it is.

    Spark sessions run in UTC (``spark.sql.session.timeZone``), as the workbench's times are.
    """
    global _ENGINE, _ENGINE_SPEC
    import ibis

    if not isinstance(spec, str):
        _ENGINE, _ENGINE_SPEC = spec, getattr(spec, "name", type(spec).__name__)
        return _ENGINE
    text = spec.strip()
    if text in ("", "duckdb"):
        _ENGINE, _ENGINE_SPEC = None, "duckdb"
        return connection()
    master = _spark_master(text)
    if master is not None:
        _ENGINE = ibis.pyspark.connect(spark_session(master))
    elif "://" in text:
        _ENGINE = ibis.connect(text)
    else:
        raise ValueError(f"engine {spec!r}: expected 'duckdb', 'pyspark', 'pyspark:<master>', "
                         "a Spark master URL (local[2], spark://host:7077, yarn, k8s://...) "
                         "or an Ibis connection string such as 'postgres://user@host/db'")
    _ENGINE_SPEC = text
    return _ENGINE


def _spark_master(text: str) -> str | None:
    if text == "pyspark":
        return "local[*]"
    if text.startswith("pyspark:"):
        return text.split(":", 1)[1] or "local[*]"
    if text.startswith(("local", "spark://", "k8s://", "mesos://")) or text == "yarn":
        return text
    return None


def spark_session(master: str = "local[*]") -> Any:
    """The active Spark session, or a new one on ``master`` with the workbench's settings:
    UTC session time zone, no UI, quiet logs, and for local masters a loopback address,
    a small number of shuffle partitions and 2 GB of driver memory."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.conf.set("spark.sql.session.timeZone", "UTC")
        return active
    builder = (SparkSession.builder.master(master).appName("cjm-workbench")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false"))
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (builder.config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.sql.shuffle.partitions", "4")
                   .config("spark.default.parallelism", "4")
                   .config("spark.driver.memory", "2g"))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def is_table_name(text: str) -> bool:
    """A catalog table name (``events``, ``db.events``), not a file path."""
    import re

    return re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}", text) is not None


def _catalog_table(con: Any, name: str, what: str) -> Any:
    parts = name.split(".")
    try:
        if len(parts) == 1:
            return con.table(name)
        return con.table(parts[-1], database=tuple(parts[:-1]) if len(parts) > 2 else parts[0])
    except Exception as exc:
        raise FileNotFoundError(f"{name}: {what} is neither a file nor a table of the "
                                f"{engine_name()} engine ({type(exc).__name__}: {exc})") from exc
