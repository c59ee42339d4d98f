"""The events table: events linked to customers, sessions, near duplicates, ``seq`` and order.

:func:`assemble_events` writes ``events.parquet`` from the staged events sources: it links each
valid event to its stitched customer, derives sessions for sources without session ids (a gap
longer than the timeout starts one), removes near duplicates across sources (same customer and
touchpoint within the tolerance), and streams the rows in one sort by customer, time and origin,
numbering ``seq`` per customer. It returns the de-duplication statistics of the manifest.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from cjmlib.collection.sources import SourcesConfig, extra_columns
from cjmlib.collection.sql import SQL_TYPES, files_sql, lit, q
from cjmlib.collection.staging import StagedSource, stage_files
from cjmlib.core.io import atomic_write


def _empty_events_sql() -> str:
    return ("SELECT NULL::VARCHAR AS _source, 0::SMALLINT AS _sidx, NULL::VARCHAR AS _file, "
            "0 AS _fidx, NULL::BIGINT AS _row, 0 AS _item, []::VARCHAR[] AS _keys, "
            "NULL::TIMESTAMPTZ AS event_time, "
            "NULL::VARCHAR AS channel, NULL::VARCHAR AS touchpoint, NULL::VARCHAR AS stage, "
            "NULL::VARCHAR AS session_id, NULL::DOUBLE AS duration_s, NULL::DOUBLE AS value, "
            "NULL::VARCHAR AS _session_mode, NULL::VARCHAR AS attributes, "
            "NULL::VARCHAR AS _reason WHERE FALSE")


#: Columns of events.parquet with few distinct values per row group (a customer's rows are
#: adjacent): dictionary-encoded. The others (times, sessions, attributes, row numbers) are
#: nearly all distinct, and building a dictionary for them costs a third of the write.
_DICTIONARY_COLUMNS = ["customer_id", "channel", "touchpoint", "stage", "source", "raw_file"]

_EVENT_OUT = ("customer_id", "event_time", "channel", "touchpoint", "stage", "session_id",
              "duration_s", "value", "source", "seq", "attributes", "raw_file", "raw_row")


def assemble_events(con: Any, cfg: SourcesConfig, staged: list[StagedSource], out: Path,
                     primary: str) -> dict[str, Any]:
    """Link events to customers, derive sessions, drop near duplicates, number and order.

    Sessions (derived sources only) and near-duplicate pairs (configured touchpoints only) are
    computed on narrow side tables; the events then pass once through one sort by customer,
    time and origin, and ``seq`` is counted while the sorted rows stream into the Parquet file.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    paths = stage_files(staged, "events")
    src = files_sql(paths) if paths else f"({_empty_events_sql()})"
    # integer sort keys: the customer's rank, the source's and file's positions
    con.execute("""CREATE OR REPLACE TEMP TABLE _id_keyrank AS
                   SELECT k.key, k.customer_id, c._cix FROM _id_keymap k JOIN (
                       SELECT customer_id, row_number() OVER (ORDER BY customer_id) AS _cix
                       FROM _id_customers) c USING (customer_id)""")
    linked = (f"SELECT s.*, m.customer_id, m._cix FROM {src} s "
              f"JOIN _id_keyrank m ON m.key = {primary} WHERE s._reason IS NULL")
    timeout_s = float(cfg.session_timeout_minutes) * 60.0
    order = "event_time, _sidx, _fidx, _row, _item"
    # 1. sessions of sources without session ids: a gap longer than the timeout starts one
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _sessions AS
        WITH l AS (SELECT _source, _sidx, _fidx, _row, _item, customer_id, _cix, event_time
                   FROM ({linked}) WHERE _session_mode = 'derive'),
        g AS (SELECT *, CASE WHEN lag(event_time) OVER w IS NULL
                             OR event_time - lag(event_time) OVER w > to_seconds({timeout_s!r})
                        THEN 1 ELSE 0 END AS _new
              FROM l WINDOW w AS (PARTITION BY _cix, _sidx ORDER BY {order}))
        SELECT _sidx, _fidx, _row, _item,
               CAST(sum(_new) OVER (PARTITION BY _cix, _sidx ORDER BY {order}
                                    ROWS UNBOUNDED PRECEDING) AS BIGINT) AS d_session_no
        FROM g""")
    # a derived session id reads <customer_id>/<source>/<n>: the events carry n, and the text
    # is put together after the sort (strings cost the sort most)
    sess_key = ("x._sidx = s._sidx AND x._fidx = s._fidx AND x._row = s._row "
                "AND x._item = s._item")
    # (session_id computed from both sides, as a bare column list lets the optimizer put the
    # customers' key map on the probe side of the link, building on the wide events)
    linked_sessions = f"""
        SELECT s.* REPLACE (CASE WHEN x.d_session_no IS NULL THEN s.session_id END
                            AS session_id), x.d_session_no
        FROM ({linked}) s LEFT JOIN _sessions x ON {sess_key}"""
    with_sessions = f"""
        SELECT s.* REPLACE (coalesce(s.session_id, s.customer_id || '/' || s._source || '/'
                                     || s.d_session_no) AS session_id)
        FROM ({linked_sessions}) s"""
    # 2. near duplicates among the configured touchpoints
    d = cfg.dedupe
    pairs: list[dict[str, Any]] = []
    if d.near_enabled:
        tp_filter = ("TRUE" if d.near_touchpoints is None else
                     f"touchpoint IN ({', '.join(lit(t) for t in d.near_touchpoints)})")
        con.execute(f"""CREATE OR REPLACE TEMP TABLE _ev AS
                        SELECT _cix, touchpoint, event_time, _source, _sidx, _file, _fidx,
                               _row, _item, value, session_id, duration_s
                        FROM ({with_sessions}) WHERE {tp_filter}""")
        pairs = _near_pairs(con, d.near_tolerance_s)
        con.execute("DROP TABLE IF EXISTS _ev")
    drops, fills = _near_decide(pairs, {s: i for i, s in enumerate(d.prefer_sources)})
    _register_near(con, drops, fills)
    # 3. one ordered pass; seq counts rows within each customer as they stream by
    key = "d._source = e._source AND d._file = e._file AND d._row = e._row AND d._item = e._item"
    # customer ids travel through the sort as their rank, and come back by lookup
    customers = con.sql("SELECT customer_id FROM _id_customers ORDER BY customer_id"
                        ).to_arrow_table().column(0).combine_chunks().cast(pa.string())
    # extra columns (fields of the sources beyond the contract) follow the contract's
    extras = extra_columns(cfg.sources, "events")
    found = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {src}").fetchall()}
    extra_sql = "".join(f", {'e.' + q(n) if n in found else 'NULL'}::{SQL_TYPES[t]} AS {q(n)}"
                        for n, t in extras.items())
    # channel, touchpoint and stage travel through the sort as ENUM codes, decoded below
    enums, origin = _sort_codes(con, src)
    text = {c: (f"e.{c}::{t}" if t else f"e.{c}") for c, t in enums.items()}
    reader = con.sql(f"""
        SELECT NULL::VARCHAR AS customer_id, e.event_time, {text['channel']} AS channel,
               {text['touchpoint']} AS touchpoint, {text['stage']} AS stage,
               coalesce(e.session_id, CASE WHEN e.d_session_no IS NULL THEN f.f_session_id END
                        ) AS session_id,
               coalesce(e.duration_s, f.f_duration_s) AS duration_s,
               coalesce(e.value, f.f_value) AS value, e._sidx AS source,
               0::BIGINT AS seq, e.attributes, e._fidx AS raw_file, e._row AS raw_row, e._cix,
               e.d_session_no {extra_sql}
        FROM ({linked_sessions}) e ANTI JOIN _near_drop d ON {key}
        LEFT JOIN _near_fill f ON {key.replace('d.', 'f.')}
        ORDER BY e._cix, e.event_time, {origin}
        """).to_arrow_reader(1 << 17)
    schema = _events_schema(None, extras)
    at = {name: i for i, name in enumerate(_EVENT_OUT)}
    # source and file names travel through the sort as small integers (cheaper to move)
    names = pa.array([st.spec.name for st in staged], pa.string())
    offsets = np.cumsum([0] + [len(st.landed) for st in staged])
    files = pa.array([x.file for st in staged for x in st.landed] or [""], pa.string())
    last: tuple[int, int] = (-1, 0)

    def write(tmp: Path) -> None:
        nonlocal last
        # batch k is encoded and written on a thread of its own (pyarrow lets go of the GIL)
        # while batch k + 1 is read from the sort and completed here; one write at a time,
        # so the row groups keep their order
        with pq.ParquetWriter(tmp, schema, compression="snappy",
                              use_dictionary=_DICTIONARY_COLUMNS) as writer, \
                ThreadPoolExecutor(1, thread_name_prefix="cjm-events-write") as pool:
            pending: Future[None] | None = None
            for batch in reader:
                cols = list(batch.columns[: len(_EVENT_OUT)])
                cix = batch.column(len(_EVENT_OUT)).to_numpy(zero_copy_only=False)
                seq, last = _seq(cix, last)
                sidx = cols[at["source"]].to_numpy(zero_copy_only=False).astype(np.int64)
                fidx = cols[at["raw_file"]].to_numpy(zero_copy_only=False).astype(np.int64)
                cols[at["customer_id"]] = customers.take(pa.array(cix - 1))
                cols[at["seq"]] = pa.array(seq, pa.int64())
                cols[at["source"]] = names.take(pa.array(sidx))
                cols[at["raw_file"]] = files.take(pa.array(offsets[sidx] + fidx))
                for c in ("channel", "touchpoint", "stage"):
                    if pa.types.is_dictionary(cols[at[c]].type):
                        cols[at[c]] = cols[at[c]].dictionary_decode()
                session_no = batch.column(len(_EVENT_OUT) + 1)
                if session_no.null_count < len(session_no):
                    derived = pc.binary_join_element_wise(
                        cols[at["customer_id"]], cols[at["source"]],
                        pc.cast(session_no, pa.string()), "/")
                    cols[at["session_id"]] = pc.coalesce(cols[at["session_id"]], derived)
                cols += list(batch.columns[len(_EVENT_OUT) + 2:])
                out_batch = pa.RecordBatch.from_arrays(cols, names=list(schema.names))
                if out_batch.schema != schema:
                    out_batch = out_batch.cast(schema)
                if pending is not None:
                    pending.result()
                pending = pool.submit(writer.write_batch, out_batch)
            if pending is not None:
                pending.result()
            writer.write_table(schema.empty_table())

    atomic_write(out / "events.parquet", write)
    by_source: dict[str, int] = {}
    for x in drops:
        by_source[x["_source"]] = by_source.get(x["_source"], 0) + 1
    return {"exact": {s.spec.name: s.exact_duplicates for s in staged if s.exact_duplicates},
            "near": {"pairs": len(drops), "tolerance_seconds": d.near_tolerance_s,
                     "touchpoints": (list(d.near_touchpoints) if d.near_touchpoints is not None
                                     else "all"),
                     "dropped_by_source": dict(sorted(by_source.items())),
                     "rule": "same customer and touchpoint from two sources within the "
                             "tolerance: the row with a value is kept, then the preferred "
                             "source, then the earlier row; its empty session, duration and "
                             "value are filled from the dropped row"}}


#: A text column with more distinct values than this travels through the sort as text.
_MAX_ENUM_VALUES = 4096

#: Bits of the one-number origin (source, file, row, item) of an event, lowest part last.
_ORIGIN_BITS = (("_sidx", 7), ("_fidx", 16), ("_row", 32), ("_item", 8))


def _sort_codes(con: Any, src: str) -> tuple[dict[str, str | None], str]:
    """How the valid events of ``src`` go through the sort cheaply.

    Returns the ENUM type (SQL) of each of channel, touchpoint and stage (None for a column of
    many distinct values, or of none), and the SQL of the ties' order after customer and time:
    source, file, row and item packed into one BIGINT when each fits its bits of
    :data:`_ORIGIN_BITS` (the same order as the four columns), else the four columns.
    """
    cols = ("channel", "touchpoint", "stage")
    row = con.execute("SELECT " + ", ".join(
        [f"list(DISTINCT {c} ORDER BY {c}) FILTER (WHERE {c} IS NOT NULL)" for c in cols]
        + [f"min({c}), max({c}), count(*) - count({c})" for c, _ in _ORIGIN_BITS])
        + f" FROM {src} WHERE _reason IS NULL").fetchall()[0]
    enums = {c: (f"ENUM({', '.join(lit(v) for v in values)})"
                 if values and len(values) <= _MAX_ENUM_VALUES else None)
             for c, values in zip(cols, row[:len(cols)], strict=True)}
    bounds = row[len(cols):]
    fits = all(bounds[3 * k + 2] == 0 and (bounds[3 * k] is None or (
                   bounds[3 * k] >= 0 and bounds[3 * k + 1] < (1 << bits)))
               for k, (_, bits) in enumerate(_ORIGIN_BITS))
    if not fits:
        return enums, ", ".join(f"e.{c}" for c, _ in _ORIGIN_BITS)
    parts, shift = [], 0
    for c, bits in reversed(_ORIGIN_BITS):
        parts.append(f"(e.{c}::BIGINT << {shift})" if shift else f"e.{c}::BIGINT")
        shift += bits
    return enums, " | ".join(reversed(parts))


def _seq(cix: np.ndarray, last: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """1-based position of each row within its customer, for rows sorted by customer rank
    ``cix``; ``last`` carries (rank, count) of the previous batch's final run.

    >>> _seq(np.array([3, 3, 4, 4, 4]), (3, 2))
    (array([3, 4, 1, 2, 3]), (4, 3))
    """
    n = len(cix)
    if n == 0:
        return np.zeros(0, dtype=np.int64), last
    new = np.empty(n, dtype=bool)
    new[0] = cix[0] != last[0]
    new[1:] = cix[1:] != cix[:-1]
    idx = np.arange(n, dtype=np.int64)
    start = np.maximum.accumulate(np.where(new, idx, 0))
    seq = idx - start + 1
    if not new[0]:
        first_break = int(np.argmax(new)) if new.any() else n
        seq[:first_break] += last[1]
    return seq, (int(cix[-1]), int(seq[-1]))


_ARROW_TYPES = {"string": "string", "float": "float64", "int": "int64", "bool": "bool_",
                "date": "date32"}


def _events_schema(found: Any, extras: dict[str, str] | None = None) -> Any:
    """Arrow schema of events.parquet (DuckDB's own types, string views as strings), extra
    columns (name -> type of configs/sources.yaml) last."""
    import pyarrow as pa

    types = {"customer_id": pa.string(), "event_time": pa.timestamp("us", tz="UTC"),
             "channel": pa.string(), "touchpoint": pa.string(), "stage": pa.string(),
             "session_id": pa.string(), "duration_s": pa.float64(), "value": pa.float64(),
             "source": pa.string(), "seq": pa.int64(), "attributes": pa.string(),
             "raw_file": pa.string(), "raw_row": pa.int64()}
    if found is not None and list(found.names) != list(_EVENT_OUT):
        raise RuntimeError(f"unexpected events columns {found.names}")
    extra = [(n, pa.timestamp("us", tz="UTC") if t == "time" else getattr(pa, _ARROW_TYPES[t])())
             for n, t in (extras or {}).items()]
    return pa.schema([(n, types[n]) for n in _EVENT_OUT] + extra)


def _near_pairs(con: Any, tolerance_s: float) -> list[dict[str, Any]]:
    """Pairs of rows (same customer and touchpoint, two sources, within the tolerance) in
    ``_ev``; a run of such rows pairs the 1st with the 2nd, the 3rd with the 4th, ..."""
    return con.sql(f"""
        WITH c AS (SELECT * FROM _ev),
        o AS (SELECT *, lag(_source) OVER w AS p_source, lag(_file) OVER w AS p_file,
                     lag(_row) OVER w AS p_row, lag(_item) OVER w AS p_item,
                     lag(event_time) OVER w AS p_time, lag(value) OVER w AS p_value,
                     lag(session_id) OVER w AS p_session_id,
                     lag(duration_s) OVER w AS p_duration_s
              FROM c WINDOW w AS (PARTITION BY _cix, touchpoint
                                  ORDER BY event_time, _sidx, _fidx, _row, _item)),
        l AS (SELECT *, coalesce(p_source <> _source
                                 AND epoch(event_time - p_time) <= {tolerance_s!r},
                                 FALSE) AS _link FROM o),
        g AS (SELECT *, sum(CASE WHEN _link THEN 0 ELSE 1 END) OVER (
                  PARTITION BY _cix, touchpoint ORDER BY event_time, _sidx, _fidx, _row, _item
                  ROWS UNBOUNDED PRECEDING) AS _grp FROM l),
        r AS (SELECT *, row_number() OVER (PARTITION BY _cix, touchpoint, _grp
                  ORDER BY event_time, _sidx, _fidx, _row, _item) - 1 AS _pos FROM g)
        SELECT _source, _file, _row, _item, event_time, value, session_id, duration_s,
               p_source, p_file, p_row, p_item, p_time, p_value, p_session_id, p_duration_s
        FROM r WHERE _link AND _pos % 2 = 1
        ORDER BY _cix, touchpoint, event_time, _sidx, _fidx, _row, _item
        """).to_arrow_table().to_pylist()


def _near_decide(pairs: list[dict[str, Any]], rank: dict[str, int]
                 ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Which row of each pair to keep: the one with a value, then the preferred source, then
    the earlier; the kept row's empty session, duration and value come from the other."""
    drops, fills = [], []
    for p in pairs:
        a = {"source": p["p_source"], "file": p["p_file"], "row": p["p_row"],
             "item": p["p_item"], "time": p["p_time"], "value": p["p_value"],
             "session_id": p["p_session_id"], "duration_s": p["p_duration_s"]}
        b = {"source": p["_source"], "file": p["_file"], "row": p["_row"], "item": p["_item"],
             "time": p["event_time"], "value": p["value"], "session_id": p["session_id"],
             "duration_s": p["duration_s"]}

        def score(x: dict[str, Any], first: bool) -> tuple[int, int, int]:
            return (0 if x["value"] is not None else 1, rank.get(x["source"], len(rank)),
                    0 if first else 1)

        keep, drop = (a, b) if score(a, True) <= score(b, False) else (b, a)
        gap = abs((b["time"] - a["time"]).total_seconds())
        drops.append({"_source": drop["source"], "_file": drop["file"], "_row": drop["row"],
                      "_item": drop["item"],
                      "_detail": f"same customer and touchpoint as {keep['source']} "
                                 f"{keep['file']} row {keep['row']} ({gap:g} s apart)"})
        fills.append({"_source": keep["source"], "_file": keep["file"], "_row": keep["row"],
                      "_item": keep["item"], "f_session_id": drop["session_id"],
                      "f_duration_s": drop["duration_s"], "f_value": drop["value"]})
    return drops, fills


def _register_near(con: Any, drops: list[dict[str, Any]], fills: list[dict[str, Any]]) -> None:
    import pyarrow as pa

    key = {"_source": pa.string(), "_file": pa.string(), "_row": pa.int64(), "_item": pa.int32()}
    for name, rows, extra in (
            ("_near_drop", drops, {"_detail": pa.string()}),
            ("_near_fill", fills, {"f_session_id": pa.string(), "f_duration_s": pa.float64(),
                                   "f_value": pa.float64()})):
        cols = {**key, **extra}
        table = pa.table({c: pa.array([r[c] for r in rows], t) for c, t in cols.items()})
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        con.unregister(f"{name}_arrow")
