"""Journeys built once per run: the steps table written to Parquet and read back.

:func:`build_journeys` is lazy: every query on its ``steps`` re-reads the events and, for
session journeys, recomputes the sessions (a window pass over the whole log). A run asks
dozens of questions of the same journeys in 02_journeys and again in 03_voice and
06_report, so :func:`cached_journeys` computes the steps once, writes them to a Parquet
file in a cache folder (by default ``journeys/`` beside the events file), together with
every window column of :meth:`~cjmlib.journeys.build.Journeys.ordered` (neighbouring
steps, gaps, step numbers: the window pass most analyses start with, done once) and one
row per journey (:meth:`~cjmlib.journeys.build.Journeys.journey_table`: outcome, first and
last event, last touchpoint, which funnels, cohorts and summaries group the steps for), and
returns :class:`~cjmlib.journeys.build.Journeys` reading that file; later calls with the same
events file, customers table and options read it back instead of building again.

The cache is keyed, not trusted: the key is a SHA-256 over the events file's path, size
and modification time, the customers table (when a segment column needs it), every build
option, and the source of the modules that build journeys, so a changed input, option or
library version builds afresh. An entry is written to a temporary folder and renamed into
place, so a run that dies leaves no half entry; the least recently used entries beyond
:data:`KEEP` are removed. Results are the same with and without the cache (the tests
compare them); only the time differs.

Customer journeys and sessions split by inactivity are built by one ordered pass: the
engine sorts the events by customer and time once, and every window column is then a shift
or running sum within runs of consecutive rows (a customer, or a session: runs inside a
customer's events), computed with Arrow and numpy as the batches stream by. A session build
writes the customer journeys of the same options into their own entry too, as 02_journeys
asks for both. On 500,000 customers (10.8 million events) this cut the two builds of
02_journeys from about 50 to 15 CPU seconds, with identical files; sessions from given session
ids, which may interleave, are built by the engine's window functions as before.

Inputs that are not files (a pandas DataFrame, an Ibis table of another engine) and every
input when another engine is selected (:func:`cjmlib.core.engine.use_engine`) are not
cached on this machine's disk: on DuckDB the journeys are built as usual; on PySpark the
steps and the per-journey rows are cached in Spark (``Table.cache``) for the session, where
the cluster keeps them.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.engine import as_table, connection, engine, is_spark
from cjmlib.journeys.build import ORDERED_COLUMNS, Journeys, build_journeys

#: The cache folder beside the events (the runner leaves it out of the processed folder's hash).
CACHE_FOLDER = "journeys"
#: Cache entries kept (least recently used beyond this are removed); a run uses two to four.
KEEP = 6
#: The format of an entry; bumped when what is stored changes.
FORMAT = 3
_STEPS, _JOURNEYS, _META = "steps.parquet", "per_journey.parquet", "journeys.json"
_SOURCES = ("build.py", "events.py", "persist.py")
#: Options of :func:`build_journeys` that describe journeys without changing their steps:
#: left out of the cache key and applied when an entry is read.
_DESCRIPTIVE = ("endings", "open_horizon")
#: The order of the rows of a steps file.
_STEP_ORDER = ("journey_id", "event_time", "seq")
#: Rows the ordered pass (:func:`_write_steps_in_one_pass`) reads from the engine at a time.
_PASS_ROWS = 1 << 19


def default_cache_dir(events: Any) -> Path | None:
    """``journeys/`` beside an events file; None for inputs that are not a file or folder."""
    if isinstance(events, (str, os.PathLike)):
        return Path(events).resolve().parent / CACHE_FOLDER
    return None


def cached_journeys(events: Any, *, cache_dir: str | os.PathLike[str] | None | bool = True,
                    customers: Any = None, **options: Any) -> Journeys:
    """:func:`build_journeys` computed once and read back from a Parquet cache.

    ``events``, ``customers`` and ``options`` are those of :func:`build_journeys`.
    ``cache_dir``: a folder, True for :func:`default_cache_dir`, or False/None for no disk
    cache. The returned journeys read the cached steps, so their queries skip the
    sessionisation and the event checks of the build. Building sessions split by inactivity
    keeps the customer journeys of the same options too (see the module docstring).
    """
    if cache_dir is True:
        cache_dir = default_cache_dir(events)
    local = engine() is connection()
    if not cache_dir or not local or not isinstance(events, (str, os.PathLike)):
        journeys = build_journeys(events, customers=customers, **options)
        if is_spark(journeys.steps):  # kept in the engine for the session, not on this disk
            return _with_precomputed(journeys, journeys.ordered(*ORDERED_COLUMNS).cache(),
                                     cache=True)
        return journeys
    folder = Path(cache_dir)
    key = cache_key(events, customers=customers, **options)
    entry = folder / key
    if not _complete(entry):
        _build_entries(events, entry, customers=customers, options=options)
        _prune(folder)
    else:
        os.utime(entry)  # most recently used
    return load_journeys(entry, **{k: options[k] for k in _DESCRIPTIVE if k in options})


def _complete(entry: Path) -> bool:
    return all((entry / name).exists() for name in (_META, _STEPS, _JOURNEYS))


def _build_entries(events: str | os.PathLike[str], entry: Path, *, customers: Any,
                   options: dict[str, Any]) -> None:
    """Build the journeys ``options`` describe into the cache ``entry``.

    Customer journeys and sessions split by inactivity come from one ordered pass over the
    events (:func:`_write_steps_in_one_pass`): sessions are runs inside each customer's
    ordered events, so the pass that orders them for one unit serves the other too, and a
    session build also writes the customer journeys of the same events and options into
    their own entry (02_journeys asks for both). Given session ids may interleave within a
    customer's events: those journeys are built by :func:`build_journeys` as before.
    """
    import dataclasses

    unit = options.get("unit", "customer")
    if unit == "session" and options.get("sessions", "given") != "inactivity":
        save_journeys(build_journeys(events, customers=customers, **options), entry)
        return
    entries = {unit: entry}
    if unit == "session":
        same = {k: v for k, v in options.items() if k != "sessions"}
        companion = entry.parent / cache_key(events, customers=customers,
                                             **{**same, "unit": "customer"})
        if not _complete(companion):
            entries["customer"] = companion
    # the customers' whole journeys, uncut: what every unit's steps are drawn from
    base = build_journeys(events, customers=customers,
                          **{**options, "unit": "customer", "ends_at_conversion": False})
    cut = bool(options.get("ends_at_conversion", False))
    scratch = entry.parent / f".pass.{uuid.uuid4().hex[:8]}.tmp"
    scratch.mkdir(parents=True)
    try:
        files = {u: scratch / f"{u}.parquet" for u in entries}
        # rows per journey from the pass too, unless a segment (which may change within a
        # journey, each part a row) splits them
        rows = None if base.segment_col else {u: scratch / f"{u}_journeys.parquet"
                                              for u in entries}
        in_order = _write_steps_in_one_pass(base, files, ends_at_conversion=cut,
                                            journey_files=rows)
        for u, folder in entries.items():
            journeys = dataclasses.replace(base, unit=u, ends_at_conversion=cut)
            _save_entry(journeys, folder,
                        functools.partial(_place_steps, files[u], sort=u not in in_order),
                        None if rows is None else functools.partial(os.replace, rows[u]))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _place_steps(source: Path, path: Path, *, sort: bool) -> None:
    """Move the steps the pass wrote to ``path``; with ``sort``, write them there in
    :data:`_STEP_ORDER` instead (customer ids that are prefixes of others, ``c1|~1``
    sorting after ``c10|~1``)."""
    if not sort:
        os.replace(source, path)
        return
    steps = as_table(source, what="journeys steps").order_by(list(_STEP_ORDER))
    connection().to_parquet(steps, path)


def _write_steps_in_one_pass(base: Journeys, files: Mapping[str, Path], *,
                             ends_at_conversion: bool,
                             journey_files: Mapping[str, Path] | None = None) -> set[str]:
    """Write the steps of each unit in ``files`` (unit -> Parquet path) with every window
    column of :meth:`Journeys.ordered`, from one sort of ``base``'s steps (customer
    journeys, not cut at conversions) by customer and journey order.

    The engine sorts once and hands the ordered rows over in batches (each customer whole);
    each unit's journeys are then runs of consecutive rows -- a customer, or a session
    starting where a customer starts or more than the session timeout passed since the
    previous event -- and every window column is a shift or running sum within those runs,
    computed with Arrow and numpy. The values are those of the engine's window functions
    (:meth:`Journeys.ordered`, the tests compare them). Each customer's sessions are put
    in the text order of their ids (``~1``, ``~10``, ``~2``), so that the files come out in
    :data:`_STEP_ORDER` unless a customer id is a prefix of another one's; returns the
    units whose file is in that order (checked row by row). ``journey_files`` (unit ->
    path), when given, receive the rows of :meth:`Journeys.journey_table` (no segment
    column), read off each journey's first and last step.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    limit_us = int(round(base.session_timeout_minutes * 60_000_000))
    names = pa.array(base.touchpoint_names, type=pa.string())
    columns = list(base.ordered(*ORDERED_COLUMNS).columns)
    ordered = base.steps.drop("journey_id").order_by(["customer_id", "event_time", "seq"])
    con = connection()
    # DuckDB's own reader: Ibis's to_pyarrow_batches calls a method DuckDB 2.0 dropped
    reader = con.con.sql(con.compile(ordered)).to_arrow_reader(_PASS_ROWS)
    writers: dict[str, Any] = {}
    journey_writers: dict[str, Any] = {}
    last_id: dict[str, Any] = {}
    in_order = set(files)
    carry = None
    try:
        for batch in itertools.chain(reader, [None]):
            if batch is None:  # the end: the last customer is whole
                if carry is None:
                    break
                table, carry = carry, None
            else:
                table = pa.Table.from_batches([batch])
                if carry is not None:
                    table = pa.concat_tables([carry, table])
                # the last customer may go on in the next batch
                last = pc.equal(table["customer_id"], table["customer_id"][-1])
                first_of_last = int(np.argmax(last.to_numpy(zero_copy_only=False)))
                table, carry = table.slice(0, first_of_last), table.slice(first_of_last)
                if table.num_rows == 0:
                    continue
            table = table.combine_chunks()
            customer = table["customer_id"]
            n = table.num_rows
            new_customer = np.ones(n, dtype=bool)
            if n > 1:
                new_customer[1:] = pc.not_equal(customer[1:], customer[:-1]).to_numpy(
                    zero_copy_only=False)
            time_us = table["time_us"].to_numpy()
            customer_number = np.cumsum(new_customer)
            table = table.append_column(
                "touchpoint_code", pc.index_in(table["touchpoint"], value_set=names))
            for unit, path in files.items():
                if unit == "customer":
                    starts, number = new_customer, None
                    journey_id = customer
                else:
                    starts = new_customer.copy()
                    starts[1:] |= np.diff(time_us) > limit_us
                    number = np.cumsum(starts)
                    number = number - number[_run_first(new_customer)] + 1
                    journey_id = pc.binary_join_element_wise(
                        customer, pa.scalar("|~"), pa.array(number).cast(pa.string()), "")
                part, owner = table.append_column("journey_id", journey_id), customer_number
                if ends_at_conversion:  # the steps up to each journey's first conversion
                    conversion = part["is_conversion"].to_numpy(zero_copy_only=False)
                    before = np.cumsum(conversion) - conversion
                    keep = before == before[_run_first(starts)]
                    part, starts, owner = part.filter(pa.array(keep)), starts[keep], owner[keep]
                    number = None if number is None else number[keep]
                part = _window_columns(part, starts).select(columns)
                if journey_files is not None:
                    rows = _journey_rows(part, starts)
                    if unit not in journey_writers:
                        journey_writers[unit] = pq.ParquetWriter(journey_files[unit],
                                                                 rows.schema)
                    journey_writers[unit].write_table(rows, row_group_size=122_880)
                if number is not None and number.max() >= 10:  # "~10" sorts before "~2"
                    part = part.take(_text_order(number, owner))
                if unit in in_order and not _ascending(part["journey_id"], last_id.get(unit)):
                    in_order.discard(unit)
                last_id[unit] = part["journey_id"][-1]
                if unit not in writers:  # few distinct values: dictionary pages pay
                    few = [c for c in part.column_names if c.endswith(("touchpoint", "channel"))
                           or c in ("stage", base.segment_col)]
                    writers[unit] = pq.ParquetWriter(path, _steps_schema(part.schema),
                                                     use_dictionary=few)
                writers[unit].write_table(part.cast(writers[unit].schema),
                                          row_group_size=122_880)
    finally:  # an open result would block every later query of the connection
        reader.close()
        for w in [*writers.values(), *journey_writers.values()]:
            w.close()
    for unit in files:
        if unit not in writers:  # no rows at all (build_journeys refuses that before)
            raise ValueError(f"no steps for the {unit} journeys")
    return in_order


def _text_order(number: np.ndarray, customer: np.ndarray) -> np.ndarray:
    """The row order that puts each customer's sessions (``number`` 1, 2, ... within
    ``customer``, rows in customer order) in the text order of their ids, ``~1``, ``~10``,
    ``~11``, ..., ``~2``, and keeps every session's steps in order."""
    top = int(number.max())
    rank = np.zeros(top + 1, dtype=np.int64)
    rank[sorted(range(1, top + 1), key=str)] = np.arange(top)
    return np.lexsort((np.arange(len(number)), rank[number], customer))


def _ascending(ids: Any, previous: Any) -> bool:
    """Whether the text ``ids`` never decrease, starting from ``previous`` (or None)."""
    import pyarrow.compute as pc

    if previous is not None and pc.less(ids[0], previous).as_py():
        return False
    return len(ids) < 2 or not pc.any(pc.less(ids[1:], ids[:-1])).as_py()


def _journey_rows(part: Any, starts: np.ndarray) -> Any:
    """One row per journey of ``part`` (steps with window columns, in journey order;
    ``starts`` flags first steps), the columns of :meth:`Journeys.journey_table` without a
    segment: what its aggregates give, read off the first and last step."""
    import pyarrow as pa

    last = np.flatnonzero(np.append(starts[1:], True))
    first = np.flatnonzero(starts)
    at = pa.array(last)
    time_us = part["time_us"].to_numpy()
    return pa.table({
        "journey_id": part["journey_id"].take(at),
        "customer_id": part["customer_id"].take(at),
        "converted": pa.array(part["conversions_so_far"].to_numpy()[last] > 0),
        "n_steps": part["step"].take(at),
        "start_us": pa.array(time_us[first]),
        "end_us": pa.array(time_us[last]),
        "last_touchpoint": part["touchpoint"].take(at),
    })


def _run_first(starts: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row of its run (``starts`` flags run starts;
    the first row starts one)."""
    index = np.arange(len(starts))
    return np.maximum.accumulate(np.where(starts, index, 0))


def _window_columns(part: Any, starts: np.ndarray) -> Any:
    """``part`` (rows in journey order, ``starts`` flagging each journey's first row) with
    the window columns of :meth:`Journeys.ordered`."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = part.num_rows
    index = np.arange(n)
    ends = np.ones(n, dtype=bool)
    ends[:-1] = starts[1:]
    two_on = ends.copy()
    two_on[:-1] |= ends[1:]  # no step two on: this or the next step ends the journey

    def shifted(name: str, by: int, missing: np.ndarray) -> Any:
        at = pa.array(np.clip(index + by, 0, max(n - 1, 0)), mask=missing)
        return pc.take(part[name], at)

    time_us = part["time_us"].to_numpy()
    prev_us = np.where(starts, 0, np.roll(time_us, 1))
    next_us = np.where(ends, 0, np.roll(time_us, -1))
    conversion = part["is_conversion"].to_numpy(zero_copy_only=False).astype(np.int64)
    so_far = np.cumsum(conversion)
    first = _run_first(starts)
    so_far = so_far - (so_far[first] - conversion[first])
    return part.append_column("step", pa.array(index - first + 1)).append_column(
        "prev_touchpoint", shifted("touchpoint", -1, starts)).append_column(
        "next_touchpoint", shifted("touchpoint", 1, ends)).append_column(
        "after_next_touchpoint", shifted("touchpoint", 2, two_on)).append_column(
        "prev_channel", shifted("channel", -1, starts)).append_column(
        "next_channel", shifted("channel", 1, ends)).append_column(
        "gap_s", pa.array((time_us - prev_us).astype(np.float64) / 1e6, mask=starts)
    ).append_column(
        "next_gap_s", pa.array((next_us - time_us).astype(np.float64) / 1e6, mask=ends)
    ).append_column(
        "next_time_us", pa.array(next_us, mask=ends)).append_column(
        "conversions_so_far", pa.array(so_far.astype(np.float64))).append_column(
        "prev_touchpoint_code", shifted("touchpoint_code", -1, starts))


def _steps_schema(schema: Any) -> Any:
    """The Arrow types the engine writes for the steps: times in UTC microseconds,
    touchpoint codes int32, the running conversion count a double."""
    import pyarrow as pa

    types = {"event_time": pa.timestamp("us", tz="UTC"), "touchpoint_code": pa.int32(),
             "prev_touchpoint_code": pa.int32(), "conversions_so_far": pa.float64(),
             "step": pa.int64(), "next_time_us": pa.int64()}
    return pa.schema([pa.field(f.name, types.get(f.name, f.type)) for f in schema])


def cache_key(events: str | os.PathLike[str], *, customers: Any = None,
              **options: Any) -> str:
    """The cache key of a build (see the module docstring): 32 hex characters. Options that
    do not change the steps (:data:`_DESCRIPTIVE`) are not part of it."""
    import inspect

    from cjmlib.journeys import build

    defaults = {name: p.default for name, p in
                inspect.signature(build.build_journeys).parameters.items()
                if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}
    unknown = sorted(set(options) - set(defaults) - {"conversion_touchpoints"})
    if unknown:
        raise TypeError(f"cached_journeys: unknown build_journeys option(s) {unknown}")
    options = {k: v for k, v in {**defaults, **options}.items()  # omitted = default
               if k not in _DESCRIPTIVE and k != "customers"}
    if isinstance(options.get("conversion_touchpoints"), str):
        options["conversion_touchpoints"] = [options["conversion_touchpoints"]]
    digest = hashlib.sha256()
    digest.update(f"format {FORMAT}\0".encode())
    digest.update(_file_identity(Path(events)).encode())
    if options.get("segment_col") is not None and customers is not None:
        if isinstance(customers, pd.DataFrame):
            digest.update(pd.util.hash_pandas_object(customers, index=False).values.tobytes())
            digest.update(json.dumps(list(map(str, customers.columns))).encode())
        elif isinstance(customers, (str, os.PathLike)):
            digest.update(_file_identity(Path(customers)).encode())
        else:  # an engine table: its query text
            digest.update(str(customers).encode())
    digest.update(json.dumps(options, sort_keys=True, default=_plain).encode())
    here = Path(__file__).parent
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:32]


def save_journeys(journeys: Journeys, folder: str | os.PathLike[str]) -> Path:
    """Write ``journeys``' steps (ordered by journey and time), its rows per journey and
    its description to ``folder`` (created; replaced atomically when it exists)."""
    def write_steps(path: Path) -> None:  # every window column, computed in one pass
        steps = journeys.ordered(*ORDERED_COLUMNS).order_by(list(_STEP_ORDER))
        connection().to_parquet(steps, path)

    return _save_entry(journeys, folder, write_steps)


def _save_entry(journeys: Journeys, folder: str | os.PathLike[str],
                write_steps: Any, write_journeys: Any = None) -> Path:
    """:func:`save_journeys` with the steps file written by ``write_steps(path)``: the
    steps of ``journeys`` with every window column, in :data:`_STEP_ORDER`; and the rows
    per journey by ``write_journeys(path)`` when given, else grouped from those steps."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:
        write_steps(tmp / _STEPS)
        written = _with_precomputed(journeys, as_table(tmp / _STEPS, what="journeys steps"))
        if write_journeys is not None:
            write_journeys(tmp / _JOURNEYS)
        else:  # one row per journey, grouped from the steps just written (no window again)
            connection().to_parquet(written.journey_table(), tmp / _JOURNEYS)
        meta = {
            "format": FORMAT,
            "unit": journeys.unit,
            "conversion_touchpoints": list(journeys.conversion_touchpoints),
            "ends_at_conversion": journeys.ends_at_conversion,
            "session_timeout_minutes": journeys.session_timeout_minutes,
            "window": [_stamp(t) for t in journeys.window],
            "segment_col": journeys.segment_col,
            "observed_from": _stamp(journeys.observed_from),
            "observed_until": _stamp(journeys.observed_until),
            "touchpoint_counts": journeys.touchpoint_counts.to_dict("list"),
            "seq_range": list(journeys.seq_range),
            "endings": list(journeys.endings),
            "open_horizon": (journeys.open_horizon
                             if isinstance(journeys.open_horizon, (str, int, float, type(None)))
                             else _plain(journeys.open_horizon)),
            # resolved on the written steps, whose gaps are kept (no window again)
            "open_horizon_us": written.open_horizon_us,
        }
        (tmp / _META).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return folder


_SAVED = object()


def load_journeys(folder: str | os.PathLike[str], *, endings: Any = _SAVED,
                  open_horizon: Any = _SAVED) -> Journeys:
    """The journeys :func:`save_journeys` wrote to ``folder``, reading its steps lazily.
    ``endings`` and ``open_horizon`` (as in :func:`build_journeys`) replace the saved ones
    when given: they describe the journeys without changing their steps."""
    folder = Path(folder)
    meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder}: journeys cache format {meta.get('format')!r}, "
                         f"expected {FORMAT}; delete the folder to rebuild it")
    counts = pd.DataFrame(meta["touchpoint_counts"]).astype({"events": "int64"})
    saved_horizon = meta["open_horizon"]
    saved_horizon = (pd.Timedelta(saved_horizon["timedelta"]) if isinstance(saved_horizon, dict)
                     else saved_horizon)
    horizon = saved_horizon if open_horizon is _SAVED else open_horizon
    conversions = tuple(meta["conversion_touchpoints"])
    if endings is _SAVED:
        endings = meta["endings"]
    elif isinstance(endings, str):
        endings = [endings]
    table = as_table(folder / _STEPS, what="journeys steps")
    journeys = Journeys(
        steps=table.select(*[c for c in table.columns if c not in ORDERED_COLUMNS]),
        precomputed=table,
        precomputed_journeys=as_table(folder / _JOURNEYS, what="journeys per journey"),
        unit=meta["unit"],
        conversion_touchpoints=conversions,
        ends_at_conversion=bool(meta["ends_at_conversion"]),
        session_timeout_minutes=float(meta["session_timeout_minutes"]),
        window=tuple(_timestamp(t) for t in meta["window"]),  # type: ignore[arg-type]
        segment_col=meta["segment_col"],
        observed_from=_timestamp(meta["observed_from"]),
        observed_until=_timestamp(meta["observed_until"]),
        touchpoint_counts=counts,
        seq_range=tuple(meta["seq_range"]),  # type: ignore[arg-type]
        endings=tuple(e for e in dict.fromkeys(endings) if e not in conversions),
        open_horizon=horizon,
    )
    if open_horizon is _SAVED or _same(horizon, saved_horizon):
        journeys.__dict__["open_horizon_us"] = meta["open_horizon_us"]  # resolved when saved
    return journeys


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):
        return False


def _with_precomputed(journeys: Journeys, table: Any, *, cache: bool = False) -> Journeys:
    """``journeys`` whose steps and window columns read ``table`` (the steps with every
    :data:`~cjmlib.journeys.build.ORDERED_COLUMNS`); with ``cache``, its rows per journey
    computed from ``table`` and cached in the engine (``Table.cache``) too."""
    import dataclasses

    steps = table.select(*[c for c in table.columns if c not in ORDERED_COLUMNS])
    kept = dataclasses.replace(journeys, steps=steps, precomputed=table,
                               precomputed_journeys=None)
    if not cache:
        return kept
    return dataclasses.replace(kept, precomputed_journeys=kept.journey_table().cache())


def _file_identity(path: Path) -> str:
    """Path, size and modification time of a file, or of every file under a folder."""
    path = path.resolve()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    parts = [str(path)]
    for f in files:
        st = f.stat()
        parts.append(f"{f.relative_to(path) if path.is_dir() else f.name}:{st.st_size}:"
                     f"{st.st_mtime_ns}")
    return "\0".join(parts)


def _plain(value: Any) -> Any:
    """JSON for option values: timestamps as ISO text, durations as a tagged dict."""
    if isinstance(value, pd.Timedelta):
        return {"timedelta": value.isoformat()}
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _stamp(value: pd.Timestamp | None) -> str | None:
    return None if value is None else pd.Timestamp(value).isoformat()


def _timestamp(value: str | None) -> pd.Timestamp | None:
    return None if value is None else pd.Timestamp(value)


def _prune(folder: Path, keep: int = KEEP) -> None:
    """Remove the least recently used entries beyond ``keep`` and stale temporary folders."""
    entries = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")]
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for tmp in folder.glob(".*.tmp"):
        if time.time() - tmp.stat().st_mtime > 24 * 3600:
            shutil.rmtree(tmp, ignore_errors=True)
