"""The events table: reading it from any source and checking it against the contract.

:func:`read_events` accepts a pandas DataFrame, a Parquet/CSV path or an Ibis table (of any
backend), checks it against the events columns of :mod:`cjmlib.core.schema` and returns a
lazy Ibis table; nothing is loaded into pandas.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from cjmlib.core.checks import check_columns
from cjmlib.core.engine import as_table, connection, execute, is_spark
from cjmlib.core.schema import EVENT_COLUMNS, REQUIRED_EVENT_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    import ibis.expr.types as ir

__all__ = ["EVENT_COLUMNS", "REQUIRED_EVENT_COLUMNS", "distinct_touchpoints", "event_span",
           "occurring", "read_events"]

# An ISO-8601 time that states its offset: ...Z, ...+00:00, ...-0500
_OFFSET_PATTERN = r"(?:Z|z|[+-][0-9]{2}(?::?[0-9]{2})?)$"


# --------------------------------------------------------------------------------------------
# Reading and checking the events table
# --------------------------------------------------------------------------------------------


def read_events(data: Any, *, what: str | None = None) -> ir.Table:
    """Return ``data`` as a checked, lazy Ibis table with the events contract columns.

    ``data`` is a pandas DataFrame, a path to a Parquet or CSV file (read by DuckDB, never
    loaded into pandas) or an Ibis table on any backend. Missing optional columns
    (``session_id``, ``duration_s``, ``value``, ``source``) are added as nulls. Without a
    ``seq`` column (an export that is not data/processed/events.parquet) the order of a
    customer's events of equal time is derived: ``seq`` numbers them from 1 by
    ``event_time``, then ``touchpoint`` and ``channel``, so it is the same on every run.
    Timestamps in nanoseconds (``DataFrame.to_parquet``) are rounded to the microsecond.

    Raises ``ValueError`` naming what was expected and what was found when a required column
    is missing, when ``event_time`` is naive (no time zone) or cannot be parsed, or when
    ``customer_id``, ``touchpoint`` or ``event_time`` hold nulls.
    """
    import ibis
    import ibis.expr.types as ir

    if isinstance(data, ir.Table):
        what = what or "events table"
        table = data
    elif isinstance(data, pd.DataFrame):
        what = what or "events table"
        check_columns(data, REQUIRED_EVENT_COLUMNS, what=what)
        frame = data.copy(deep=False)
        frame["event_time"] = _parse_times_pandas(frame["event_time"], what=what)
        table = ibis.memtable(frame)
    elif isinstance(data, (str, os.PathLike)):
        what = what or str(Path(data))
        table = as_table(data, what="events table")
    else:
        raise TypeError(
            "events must be a pandas DataFrame, a Parquet/CSV path or an Ibis table, "
            f"got {type(data).__name__}"
        )
    check_columns(table, REQUIRED_EVENT_COLUMNS, what=what)
    table = _check_time_column(table, "event_time", what=what)
    fills = {"session_id": "string", "duration_s": "float64", "value": "float64",
             "source": "string"}
    table = table.mutate(**{c: ibis.null().cast(t) for c, t in fills.items()
                            if c not in table.columns})
    if "seq" not in table.columns:
        order = ibis.window(group_by="customer_id",
                            order_by=["event_time", "touchpoint", "channel"])
        table = table.mutate(seq=(ibis.row_number().over(order) + 1).cast("int64"))
    table = table.mutate(customer_id=table.customer_id.cast("string"),
                         session_id=table.session_id.cast("string"),
                         touchpoint=table.touchpoint.cast("string"),
                         channel=table.channel.cast("string"),
                         stage=table.stage.cast("string"),
                         duration_s=table.duration_s.cast("float64"),
                         value=table.value.cast("float64"))
    return table


def default_backend() -> Any:
    """The embedded DuckDB connection (an Ibis backend) that runs the journey analysis of
    pandas DataFrames and Parquet/CSV paths (:func:`cjmlib.core.engine.connection`)."""
    return connection()


def _parse_times_pandas(times: pd.Series, *, what: str) -> pd.Series:
    """Parse a pandas time column to UTC, refusing naive or unparseable values."""
    if isinstance(times.dtype, pd.DatetimeTZDtype):
        return _microseconds(times.dt.tz_convert("UTC"))
    if pd.api.types.is_datetime64_any_dtype(times):
        raise ValueError(
            f"{what}: column 'event_time' must be a UTC timestamp with time zone; found naive "
            f"timestamps ({times.dtype}, e.g. row {times.index[0]} = {times.iloc[0]}). "
            "Localise them to their source time zone and convert to UTC first"
        )
    if times.dtype != object and not pd.api.types.is_string_dtype(times):
        raise ValueError(
            f"{what}: column 'event_time' must be a UTC timestamp; found dtype {times.dtype}"
        )
    text = times.astype("string")
    missing = text.isna()
    if missing.any():
        row = missing.idxmax()
        raise ValueError(
            f"{what}: column 'event_time' is empty in {int(missing.sum())} rows "
            f"(first at row {row}); expected an ISO-8601 time with offset"
        )
    parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
    bad = parsed.isna()
    if bad.any():
        row = bad.idxmax()
        raise ValueError(
            f"{what}: column 'event_time' has {int(bad.sum())} unparseable values "
            f"(first at row {row}: {text[row]!r}); expected an ISO-8601 time with offset "
            "such as '2026-01-05T10:00:00Z'"
        )
    naive = ~text.str.strip().str.contains(_OFFSET_PATTERN, regex=True)
    if naive.any():
        row = naive.idxmax()
        raise ValueError(
            f"{what}: column 'event_time' has {int(naive.sum())} naive times without a time "
            f"zone (first at row {row}: {text[row]!r}); expected an offset such as 'Z' or "
            "'+00:00'"
        )
    return _microseconds(parsed)


def _microseconds(times: pd.Series) -> pd.Series:
    """UTC times rounded to the microsecond, the engine's resolution, as DuckDB rounds
    nanosecond Parquet (pandas keeps nanoseconds, which the Arrow hand-off to the engine
    refuses to drop silently)."""
    return times.dt.round("us").dt.as_unit("us")


def _check_time_column(table: ir.Table, column: str, *, what: str) -> ir.Table:
    """Accept a time-zone-aware timestamp, or ISO strings with offsets (cast in the engine)."""
    import ibis

    dtype = table.schema()[column]
    if dtype.is_timestamp():
        if dtype.timezone is None and not is_spark(table):
            raise ValueError(
                f"{what}: column {column!r} must be a UTC timestamp with time zone; found a "
                f"naive timestamp ({dtype}). Localise it to its source time zone and convert "
                "to UTC first"
            )
        if is_spark(table):
            _check_spark_time_zone(table, what=what)
        return table
    if not dtype.is_string():
        raise ValueError(
            f"{what}: column {column!r} must be a UTC timestamp; found {dtype}"
        )
    col = table[column].strip()
    parsed = col.try_cast(ibis.dtype("timestamp('UTC')"))
    checks = table.aggregate(
        empty=col.isnull().sum(),
        bad=(col.notnull() & parsed.isnull()).sum(),
        bad_example=col.min(where=col.notnull() & parsed.isnull()),
        naive=(parsed.notnull() & ~col.re_search(_OFFSET_PATTERN)).sum(),
        naive_example=col.min(where=parsed.notnull() & ~col.re_search(_OFFSET_PATTERN)),
    )
    checks = execute(checks).iloc[0]
    if checks["empty"]:
        raise ValueError(
            f"{what}: column {column!r} is empty in {int(checks['empty'])} rows; expected an "
            "ISO-8601 time with offset"
        )
    if checks["bad"]:
        raise ValueError(
            f"{what}: column {column!r} has {int(checks['bad'])} unparseable values (e.g. "
            f"{checks['bad_example']!r}); expected an ISO-8601 time with offset such as "
            "'2026-01-05T10:00:00Z'"
        )
    if checks["naive"]:
        raise ValueError(
            f"{what}: column {column!r} has {int(checks['naive'])} naive times without a time "
            f"zone (e.g. {checks['naive_example']!r}); expected an offset such as 'Z' or "
            "'+00:00'"
        )
    return table.mutate(**{column: parsed})


def _check_spark_time_zone(table: ir.Table, *, what: str) -> None:
    # Spark's TIMESTAMP is an instant shown in the session time zone; Ibis sees it as naive.
    # Window bounds and returned times are only UTC when the session is.
    session = next(b for b in table._find_backends()[0] if b.name == "pyspark")._session
    tz = session.conf.get("spark.sql.session.timeZone")
    if tz not in ("UTC", "Etc/UTC", "GMT", "Z", "+00:00"):
        raise ValueError(
            f"{what}: the Spark session time zone must be UTC (spark.sql.session.timeZone); "
            f"found {tz!r}"
        )




def event_span(data: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The first and the last ``event_time`` of an events table (UTC), computed in the
    engine: the span the data covers, for a report's header.

    >>> frame = pd.DataFrame({"customer_id": ["a", "b"], "channel": "web",
    ...     "touchpoint": "home", "stage": "s", "event_time": pd.to_datetime(
    ...     ["2026-01-05 10:00", "2026-02-01 09:00"], utc=True)})
    >>> [f"{t:%Y-%m-%d}" for t in event_span(frame)]
    ['2026-01-05', '2026-02-01']
    """
    table = read_events(data)
    row = execute(table.aggregate(first=table.event_time.min(), last=table.event_time.max()))
    return pd.Timestamp(row["first"].iloc[0]), pd.Timestamp(row["last"].iloc[0])


def distinct_touchpoints(data: Any) -> list[str]:
    """The touchpoints that occur in an events table, sorted (computed in the engine)."""
    table = read_events(data)
    found = execute(table.select("touchpoint").distinct())["touchpoint"]
    return sorted(str(t) for t in found.dropna())


def occurring(names: Sequence[str], data: Any) -> tuple[list[str], list[str]]:
    """``names`` split into the touchpoints that occur in the events and those that do not,
    each in the given order: a config written for richer data (a store channel, a survey)
    names conversions an export may lack."""
    found = set(distinct_touchpoints(data))
    return [n for n in names if n in found], [n for n in names if n not in found]
