"""Staging one source: its landed files as one view, exact duplicates, phone keys, validation.

:func:`stage_source` validates the landed files of one source inside DuckDB and writes one
staging Parquet file: every record with its parsed fields, identifier keys and ``attributes``,
or, for a rejected row, its quarantine reason, column, value and detail (exact duplicates are
found here, per source). :class:`StagedSource` carries a source's landed files and staging file
to the assembly, and :func:`stage_files` lists the staging files of some table kinds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib.collection.identity import IdentifierType
from cjmlib.collection.landing import LandedFile
from cjmlib.collection.lines import raw_excerpt
from cjmlib.collection.phone_worker import keys_of, request
from cjmlib.collection.shaping import Lookup, Shaped, shape_source
from cjmlib.collection.sources import (
    EVENT_FIELDS,
    FEEDBACK_FIELDS,
    SourcesConfig,
    SourceSpec,
    day_and_month_swapped,
)
from cjmlib.collection.sql import SQL_TYPES, FieldCompiler, lit, path_lit, q
from cjmlib.core.checks import check_columns


@dataclass
class StagedSource:
    """One source after staging: its spec, landed files and staging Parquet file."""

    spec: SourceSpec
    landed: list[LandedFile]
    stage: Path | None  # validated rows + quarantined rows (Parquet)
    rows_in: int = 0
    exact_duplicates: int = 0
    members: Path | None = None  # rollup: raw rows folded into their group's first row
    shape: dict[str, Any] = field(default_factory=dict)  # joins and rollup, for the manifest
    absent: list[dict[str, Any]] = field(default_factory=list)  # see absent_columns


def stage_files(staged: list[StagedSource], *kinds: str, stitch_only: bool = False) -> list[str]:
    """Staging files of the sources of the given kinds (only stitched sources if asked)."""
    return [str(s.stage) for s in staged if s.stage is not None and s.spec.kind in kinds
            and (s.spec.stitch or not stitch_only)]


def absent_columns(spec: SourceSpec, landed: list[LandedFile],
                   lookups: dict[str, Lookup] | None = None) -> list[dict[str, Any]]:
    """Columns the config declares that some of the source's files lack: one entry per field
    and column with ``field``, ``column``, ``optional`` and ``files`` (the files without it).

    A required column missing from a file stops the run before this; an ``optional: true``
    field whose column is absent is left empty, so a misspelt optional column would otherwise
    become an all-null field without a trace. Columns a joined lookup brings count as present.
    """
    lookups = lookups or {}
    joined = {c for j in spec.joins if j.source in lookups for c in lookups[j.source].columns}
    specs = [*spec.fields.values(), *(f for it in spec.items for f in it.values())]
    out = []
    for fs in specs:
        for col in [c for c in [fs.column] if c is not None] + [c for _, c in fs.date_parts]:
            files = [x.file for x in landed if col not in x.columns and col not in joined]
            if files:
                out.append({"field": fs.name, "column": col, "optional": fs.optional,
                            "files": files})
    return out


def _land_view(spec: SourceSpec, landed: list[LandedFile]) -> str:
    parts = [f"SELECT {lit(x.file)} AS _file, {k} AS _fidx, * "
             f"FROM read_parquet({path_lit(x.path)})"
             for k, x in enumerate(landed) if x.path is not None]
    return " UNION ALL BY NAME ".join(parts)


def _json_keys(con: Any, union: str) -> list[str]:
    """Keys of the JSON objects among the lines, in order of first appearance (line, then
    position in the line).

    Each line is parsed twice (valid? its keys), not four times: a valid line that is no
    object has no keys, and the lines are first grouped by their list of keys, which most
    lines share, so only the few distinct lists are unnested.
    """
    rows = con.execute(f"""
        SELECT k FROM (
            SELECT unnest(ks) AS k, unnest(range(len(ks))) AS pos, _row FROM (
                SELECT ks, min(_row) AS _row FROM (
                    SELECT _row, json_keys(l) AS ks
                    FROM (SELECT _row, CASE WHEN _row = 1 THEN ltrim(_line, chr(65279))
                                 ELSE _line END AS l FROM ({union}))
                    WHERE json_valid(l))
                GROUP BY ks))
        GROUP BY k ORDER BY min(_row * 100000 + pos), k""").fetchall()
    return [r[0] for r in rows]


def _fields_path(landed: list[LandedFile]) -> Path | None:
    """Where the parsed fields of JSON-lines files are kept: beside the first landing file."""
    first = next((x.path for x in landed if x.path is not None), None)
    return None if first is None else first.with_name(first.stem + "_fields.parquet")


def drop_parsed(landed: list[LandedFile]) -> None:
    """Remove the parsed JSON fields written for ``landed`` (see :func:`_source_view`)."""
    path = _fields_path(landed)
    if path is not None:
        path.unlink(missing_ok=True)


def _materialize(con: Any, view: str, landed: list[LandedFile]) -> str:
    """``view`` written once to Parquet beside the landing files, and the SQL that reads it.

    Parsing JSON is the dearest step of a JSON-lines source and staging reads the source
    several times (exact duplicates, the day-and-month check, validation): each line is parsed
    once here instead of on every read.
    """
    path = _fields_path(landed)
    if path is None:
        return view
    if not path.exists():
        tmp = path.with_name(path.name + ".tmp")
        con.execute(f"COPY ({view}) TO {path_lit(tmp)} "
                    "(FORMAT parquet, COMPRESSION uncompressed)")
        tmp.replace(path)
    return f"SELECT * FROM read_parquet({path_lit(path)})"


def _source_view(con: Any, spec: SourceSpec, landed: list[LandedFile]
                 ) -> tuple[str, dict[str, str]]:
    """SQL of the source's raw records (columns + _file, _row, _record_ok) and column types."""
    union = _land_view(spec, landed)
    fmt = landed[0].format if landed else (spec.format or "csv")
    if fmt == "jsonl":
        keys = _json_keys(con, union)
        if not keys:
            # not one line is a JSON object: the columns cannot be checked, and every line is
            # quarantined as unparseable_record
            keys = list(spec.required_columns)
        for lf in landed:
            lf.columns = keys
        missing = [c for c in spec.required_columns if c not in keys]
        if missing:
            check_columns(pd.DataFrame(columns=keys), spec.required_columns,
                          what=f"{', '.join(x.file for x in landed)} (source {spec.name!r}, "
                               "JSON keys)")
        paths = ", ".join(lit("$." + json.dumps(k)) for k in keys)
        cols = ", ".join(f"_v[{i + 1}] AS {q(k)}" for i, k in enumerate(keys))
        view = f"""
            SELECT _file, _fidx, _row, _ok AS _record_ok, _line {', ' + cols if cols else ''}
            FROM (
                SELECT _file, _fidx, _row, _line, _ok,
                       json_extract_string(CASE WHEN _ok THEN l ELSE '{{}}' END,
                                           [{paths or "'$.x'"}]) AS _v
                FROM (SELECT _file, _fidx, _row, _line, l,
                             coalesce(CASE WHEN json_valid(l) THEN json_type(l) = 'OBJECT' END,
                                      FALSE) AS _ok
                      FROM (SELECT _file, _fidx, _row, _line, CASE WHEN _row = 1
                                   THEN ltrim(_line, chr(65279)) ELSE _line END AS l
                            FROM ({union}))))"""
        view = _materialize(con, view, landed)
    else:
        view = f"SELECT *, TRUE AS _record_ok FROM ({union})"
    desc = con.execute(f"DESCRIBE SELECT * FROM ({view})").fetchall()
    types = {r[0]: r[1] for r in desc
             if r[0] not in ("_file", "_fidx", "_row", "_record_ok", "_line")}
    if fmt == "jsonl":
        types = {k: "VARCHAR" for k in types}
    return view, types


def read_lookup(con: Any, spec: SourceSpec, landed: list[LandedFile], idx: int) -> Lookup:
    """Read a ``kind: lookup`` source into temp table ``_lookup_<idx>`` (its raw columns, but
    ``drop``, with ``_file`` and ``_row``); unreadable records are counted, not joined."""
    table = f"_lookup_{idx}"
    files = [x.file for x in landed]
    malformed = sum(len(x.malformed) for x in landed)
    rows = sum(x.rows for x in landed)
    if not any(x.path is not None for x in landed):
        cols = [c for c in dict.fromkeys(c for x in landed for c in x.columns)
                if c not in spec.drop and c != "_row"]
        empty = "".join(f", NULL::VARCHAR AS {q(c)}" for c in cols)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT NULL::VARCHAR AS _file, "
                    f"NULL::BIGINT AS _row{empty} WHERE FALSE")
        return Lookup(spec, table, {c: "VARCHAR" for c in cols}, files, rows, malformed)
    view, types = _source_view(con, spec, landed)
    cols = [c for c in types if c not in spec.drop]
    con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT _file, _row"
                f"{''.join(', ' + q(c) for c in cols)} FROM ({view}) WHERE _record_ok")
    bad = con.execute(f"SELECT count(*) FROM ({view}) WHERE NOT _record_ok").fetchall()[0][0]
    return Lookup(spec, table, {c: types[c] for c in cols}, files, rows, malformed + int(bad))


def _exact_duplicates(con: Any, view: str, raw_cols: list[str], name: str) -> None:
    """Create temp table ``name`` (_file, _row, _dup_file, _dup_row): later copies of a record."""
    if not raw_cols:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT NULL::VARCHAR AS _file, "
                    "NULL::BIGINT AS _row, NULL::VARCHAR AS _dup_file, NULL::BIGINT AS _dup_row "
                    "WHERE FALSE")
        return
    cols = ", ".join(q(c) for c in raw_cols)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {name} AS
        WITH h AS (SELECT _file, _row, hash({cols}) AS _h FROM ({view})),
             c AS (SELECT _h FROM h GROUP BY _h HAVING count(*) > 1),
             r AS (SELECT s.* FROM ({view}) s SEMI JOIN
                   (SELECT _file, _row FROM h SEMI JOIN c USING (_h)) k USING (_file, _row))
        SELECT _file, _row, _dup_file, _dup_row FROM (
            SELECT _file, _row,
                   first_value(_file) OVER w AS _dup_file, first_value(_row) OVER w AS _dup_row,
                   row_number() OVER w AS _rn
            FROM r WINDOW w AS (PARTITION BY {cols} ORDER BY _file, _row))
        WHERE _rn > 1""")


def _phone_tables(con: Any, spec: SourceSpec, cfg: SourcesConfig, view: str, salt: str,
                  prefix: str) -> dict[str, str]:
    """Normalise the distinct raw phone values of each phone column with ``phonenumbers``."""
    import pyarrow as pa

    out = {}
    for k, (typ, col) in enumerate(spec.identifiers):
        it = cfg.identity.type(typ)
        if it.normalise != "phone":
            continue
        name = f"{prefix}_phones_{k}"
        raw = [r[0] for r in con.execute(
            f"SELECT DISTINCT CAST({q(col)} AS VARCHAR) FROM ({view}) "
            f"WHERE {q(col)} IS NOT NULL").fetchall()] if col in _describe_cols(con, view) else []
        keys = phone_keys(it, raw, salt, workers=_threads(con))
        table = pa.table({"raw": pa.array(raw, pa.string()), "key": pa.array(keys, pa.string())})
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        con.unregister(f"{name}_arrow")
        out[col] = name
    return out


#: Distinct phone values from which normalising them (pure Python, ``phonenumbers``: about
#: 20 microseconds a value) is shared with worker processes; DuckDB waits meanwhile, so the
#: other cores would idle. Below it, starting a process costs more than it saves.
PARALLEL_PHONES = 100_000


def phone_keys(it: IdentifierType, raw: list[str], salt: str, *, workers: int
               ) -> list[str | None]:
    """:func:`~cjmlib.collection.phone_worker.keys_of` of ``raw``, in its order.

    From :data:`PARALLEL_PHONES` values on, the list is cut into ``workers`` contiguous parts;
    all but the first go to worker processes (``python -m cjmlib.collection.phone_worker``)
    while this one does the first: the same function on the same values, so the same keys.
    """
    if workers < 2 or len(raw) < PARALLEL_PHONES:
        return keys_of(it, raw, salt)
    import os
    import subprocess
    import sys
    import tempfile

    import cjmlib

    size = -(-len(raw) // workers)
    parts = [raw[i:i + size] for i in range(0, len(raw), size)]
    # the workers import this copy of cjmlib, wherever it was imported from
    root = str(Path(cjmlib.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [root, *filter(None, [os.environ.get("PYTHONPATH")])])}
    procs = []
    try:
        for part in parts[1:]:
            # stderr to a file: a pipe of it nobody reads while stdout is read would block a
            # worker that writes more than the pipe holds
            err_file = tempfile.TemporaryFile()
            proc = subprocess.Popen([sys.executable, "-m", "cjmlib.collection.phone_worker"],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err_file, env=env)
            procs.append((proc, request(it, part, salt), err_file))
        # each worker gets its values on a thread of its own, as a pipe holds only 64 kB
        import threading

        feeders = [threading.Thread(target=_feed, args=(proc, job), daemon=True)
                   for proc, job, _ in procs]
        for t in feeders:
            t.start()
        keys = keys_of(it, parts[0], salt)
        for (proc, _, err_file), t in zip(procs, feeders, strict=True):
            out = proc.stdout.read() if proc.stdout else b""
            t.join()
            if proc.wait() != 0:
                err_file.seek(0)
                err = err_file.read()
                raise RuntimeError("phone normalisation failed in its worker process: "
                                   + err.decode(errors="replace").strip()[-2000:])
            keys += json.loads(out)
    finally:
        for proc, _, err_file in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            err_file.close()
    if len(keys) != len(raw):
        raise RuntimeError(f"phone normalisation returned {len(keys)} keys for {len(raw)} "
                           "values")
    return keys


def _feed(proc: Any, job: bytes) -> None:
    if proc.stdin is not None:
        try:
            proc.stdin.write(job)
        except BrokenPipeError:
            pass  # the worker died: its exit status says why
        finally:
            proc.stdin.close()


def _threads(con: Any) -> int:
    """The engine's thread limit (collect's ``threads``), which Python work honours too."""
    return int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])


def _describe_cols(con: Any, view: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM ({view})").fetchall()}


_FIELD_ORDER = {
    "events": ("event_time", "touchpoint", "channel", "duration_s", "value", "session_id"),
    "feedback": ("response_time", "touchpoint", "channel", "csat", "nps", "ces", "survey",
                 "response_id", "text", "language", "stage", "brand"),
}


def stage_source(con: Any, spec: SourceSpec, cfg: SourcesConfig, landed: list[LandedFile],
                  dest: Path, salt: str, exact: bool, idx: int, *,
                  lookups: dict[str, Lookup] | None = None) -> tuple[int, Shaped | None]:
    """Validate one source into ``dest``; return the number of exact duplicates and, for a
    source with ``join`` or ``rollup``, what shaping did (:mod:`~cjmlib.collection.shaping`).

    An engine (DuckDB) error is re-raised as ``ValueError`` naming the files, the source and,
    when one field alone reproduces it, that field and its column.
    """
    import duckdb

    try:
        return _stage_source(con, spec, cfg, landed, dest, salt, exact, idx, lookups=lookups)
    except duckdb.Error as exc:
        raise _engine_error(con, spec, cfg, landed, exc) from exc


def _engine_error(con: Any, spec: SourceSpec, cfg: SourcesConfig, landed: list[LandedFile],
                  exc: Exception) -> ValueError:
    """The engine's error with the files, the source and the field that reproduces it."""
    import duckdb

    what = f"{', '.join(x.file for x in landed) or spec.name} (source {spec.name!r})"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        view, types = _source_view(con, spec, landed)
    except duckdb.Error:
        return ValueError(f"{what}: the engine could not read the landed files: {first}")
    specs = [*spec.fields.values(), *(f for it in spec.items for f in it.values())]
    for fs in specs:
        comp = FieldCompiler(spec, cfg, types)
        alias = comp.field(fs, False)
        sel = ", ".join(f"{e} AS {a}" for e, a in comp.select)
        try:
            con.execute(f"SELECT count({alias}) FROM (SELECT {sel} FROM ({view}) src)")
        except duckdb.Error:
            col = fs.column or ", ".join(c for _, c in fs.date_parts) or "a constant"
            return ValueError(f"{what}: field {fs.name!r} (column {col!r}): the engine could "
                              f"not read it: {first}; check the field's options (formats, "
                              "timezone, unit, map) in the sources config")
    return ValueError(f"{what}: the engine failed while validating the source: {first}")


def _day_month_check(con: Any, spec: SourceSpec, view: str,
                     fields: list[tuple[str, str, str, tuple[str, ...]]]) -> None:
    """Refuse a time or date field whose values have a number above 12 where the declared
    format puts the month: day and month are swapped in the config (or the export), and the
    rows that still parse would be silently read with the two exchanged."""
    for fname, col, _, formats in fields:
        t = f"nullif(trim(CAST({q(col)} AS VARCHAR)), '')"
        swapped = [day_and_month_swapped(f) for f in formats]
        pairs = [(f, w) for f, w in zip(formats, swapped, strict=True) if w is not None]
        declared = ", ".join(lit(f) for f in formats)
        month_place = "coalesce(" + ", ".join(
            f"day(try_strptime(_t, {lit(w)}))" for _, w in pairs) + ")"
        which = "coalesce(" + ", ".join(
            f"CASE WHEN try_strptime(_t, {lit(w)}) IS NOT NULL THEN {lit(f)} END"
            for f, w in pairs) + ")"
        found = con.execute(f"""
            SELECT _file, _row, _t, {month_place}, {which}, count(*) OVER ()
            FROM (SELECT _file, _row, {t} AS _t FROM ({view}) WHERE _record_ok)
            WHERE _t IS NOT NULL AND try_strptime(_t, [{declared}]) IS NULL
              AND {month_place} > 12
            ORDER BY _file, _row LIMIT 1""").fetchall()
        if found:
            file, row, value, month, fmt, n = found[0]
            raise ValueError(
                f"{file} (source {spec.name!r}): field {fname!r} (column {col!r}): value "
                f"{value!r} (row {row}) has {month} where format {fmt!r} puts the month; it "
                f"reads as {day_and_month_swapped(fmt)!r}. Day and month look swapped, and "
                f"the rows that still parse would be read with the two exchanged ({n:,} "
                f"row(s) like it); fix fields.{fname}.formats in the sources config")


def _register_excerpt(con: Any) -> None:
    """``cjm_raw_excerpt(text)``: a raw line cut short with e-mails and phones masked."""
    import duckdb

    try:
        con.create_function("cjm_raw_excerpt", raw_excerpt, ["VARCHAR"], "VARCHAR",
                            null_handling="special")
    except duckdb.Error:
        pass  # already registered on this connection


def _stage_source(con: Any, spec: SourceSpec, cfg: SourcesConfig, landed: list[LandedFile],
                  dest: Path, salt: str, exact: bool, idx: int, *,
                  lookups: dict[str, Lookup] | None = None) -> tuple[int, Shaped | None]:
    view, types = _source_view(con, spec, landed)
    raw_cols = [c for c in types]
    pii_cols = {c for t, c in spec.identifiers if cfg.identity.type(t).pii}
    id_cols = {c for _, c in spec.identifiers}
    dups = f"_dups_{idx}"
    is_json = bool(landed) and landed[0].format == "jsonl"
    # JSON lines are duplicates when the lines are identical (key order included)
    _exact_duplicates(con, view, (["_line"] if is_json else raw_cols) if exact else [], dups)
    shaped = None
    if spec.joins or spec.rollup is not None:
        what = ", ".join(x.file for x in landed)
        shaped = shape_source(con, spec, cfg, view, types, lookups or {}, dups=dups,
                              pii=pii_cols, work=dest.parent, idx=idx, what=what)
        view, types = shaped.view, shaped.types
        raw_cols = list(types)
        missing = [c for c in spec.mapped_columns if c not in types]
        if missing:
            raise ValueError(f"{what} (source {spec.name!r}): missing column(s) {missing} "
                             f"after join and rollup; found {raw_cols}")
    phones = _phone_tables(con, spec, cfg, view, salt, f"_s{idx}")
    comp = FieldCompiler(spec, cfg, types)
    keys = comp.identifiers(phones)
    if spec.stitch:
        idcols = ", ".join(c for _, c in spec.identifiers)
        comp.check(f"len({keys}) = 0", "missing_id", idcols, None)
    order = _FIELD_ORDER.get(spec.kind, tuple(spec.fields))
    table_fields = (EVENT_FIELDS if spec.kind == "events" else
                    FEEDBACK_FIELDS if spec.kind == "feedback" else
                    {f: (fs.type, False) for f, fs in spec.fields.items()})
    base: dict[str, str] = {}
    for fname in order:
        if fname in spec.fields:
            base[fname] = comp.field(spec.fields[fname], table_fields[fname][1])
    extras = {n: comp.field(fs, False) for n, fs in spec.extra_fields.items()}
    items: list[dict[str, str]] = []
    for item in spec.items:
        items.append({f: comp.field(fs, False) for f, fs in item.items()})
    # attributes: unmapped raw columns; record: the raw row for the quarantine (no PII)
    used = set(spec.used_columns) | set(spec.drop) | id_cols
    attr_cols = [c for c in raw_cols if c not in used]
    rec_cols = [c for c in raw_cols if c not in pii_cols and c not in spec.drop]
    passthrough = {c: comp.add(comp.raw(c)) for c in dict.fromkeys(attr_cols + rec_cols)}

    _day_month_check(con, spec, view, comp.day_month)
    f_select = ",\n".join(f"{e} AS {a}" for e, a in comp.select)
    checks = [("NOT _record_ok", "unparseable_record", None, None, None), *comp.checks]
    if exact:
        checks.append(("_dup_row IS NOT NULL", "exact_duplicate", None, None, None))
    # the checks run once, in order: the first that fails numbers the row's problem; a row
    # that joins and rollups rejected (check 0) carries its reason in the _pre columns
    whens = [f"WHEN {c} THEN {i}" for i, (c, *_) in enumerate(checks, start=1)]
    pre = shaped is not None
    if pre:
        whens.insert(1, "WHEN _pre_reason IS NOT NULL THEN 0")
    check = "CASE " + " ".join(whens) + " END"
    reason = ("CASE _check " + ("WHEN 0 THEN _pre_reason " if pre else "")
              + " ".join(f"WHEN {i} THEN {lit(r)}" for i, (_, r, *_) in
                         enumerate(checks, start=1)) + " END")
    column = ("CASE _check " + ("WHEN 0 THEN _pre_column " if pre else "")
              + " ".join(f"WHEN {i} THEN {lit(col)}" for i, (_, _, col, *_) in
                         enumerate(checks, start=1) if col is not None) + " END")
    value = ("CASE _check " + ("WHEN 0 THEN _pre_value " if pre else "") + " ".join(
        f"WHEN {i} THEN CAST({v} AS VARCHAR)" for i, (_, _, col, v, _) in
        enumerate(checks, start=1) if v and col not in pii_cols) + " END")
    if column == "CASE _check  END":
        column = "NULL::VARCHAR"
    if value == "CASE _check  END":
        value = "NULL::VARCHAR"
    # an unreadable JSON line may hold personal data: its length here, and in raw_text an
    # excerpt with e-mails and phone numbers masked
    detail = ("CASE WHEN _check = 1 THEN 'not a complete JSON object (' || "
              "coalesce(length(_line), 0) || ' characters)' "
              + ("WHEN _check = 0 THEN _pre_detail " if pre else "")
              + (f"WHEN _check = {len(checks)} THEN 'same as ' || CASE WHEN _dup_file <> _file "
                 "THEN _dup_file || ' ' ELSE '' END || 'row ' || _dup_row " if exact else "")
              + "".join(f"WHEN _check = {i} THEN {d} " for i, (*_, d) in
                        enumerate(checks, start=1) if d is not None)
              + "END")
    if is_json:
        _register_excerpt(con)
    # the raw text of a line that is no record, for the researcher to see what went wrong
    raw_text = ("CASE WHEN _check = 1 THEN cjm_raw_excerpt(_line) END" if is_json
                else "NULL::VARCHAR")

    def jobj(cols: list[str]) -> str:
        if not cols:
            return "'{}'"
        args = ", ".join(f"{lit(c)}, CAST({passthrough[c]} AS VARCHAR)" for c in cols)
        return f"json_object({args})"

    tp_stage = " ".join(f"WHEN {lit(tp)} THEN {lit(st)}" for tp, st in
                        cfg.touchpoint_stage.items())

    def out_select(item_no: int, item: dict[str, str] | None) -> str:
        fields = {**base, **(item or {})}

        def fv(name: str, sqlt: str) -> str:
            return f"CAST({fields[name]} AS {sqlt})" if name in fields else f"CAST(NULL AS {sqlt})"

        common = [f"{lit(spec.name)} AS _source", f"{idx}::SMALLINT AS _sidx", "_file",
                  "_fidx::INTEGER AS _fidx", "_row", f"{item_no}::INTEGER AS _item",
                  f"{keys} AS _keys"]
        if spec.kind == "events":
            tp = fv("touchpoint", "VARCHAR")
            sess = ("CAST(NULL AS VARCHAR)" if spec.sessions != "given" else
                    f"CASE WHEN {fv('session_id', 'VARCHAR')} IS NOT NULL THEN "
                    f"{lit(spec.name + ':')} || {fv('session_id', 'VARCHAR')} END")
            body = [f"{fv('event_time', 'TIMESTAMPTZ')} AS event_time",
                    f"{fv('channel', 'VARCHAR')} AS channel", f"{tp} AS touchpoint",
                    f"CASE {tp} {tp_stage} END AS stage", f"{sess} AS session_id",
                    f"{fv('duration_s', 'DOUBLE')} AS duration_s",
                    f"{fv('value', 'DOUBLE')} AS value",
                    f"{lit(spec.sessions)} AS _session_mode"]
        elif spec.kind == "feedback":
            tp = fv("touchpoint", "VARCHAR")
            rid = (fv("response_id", "VARCHAR") if "response_id" in fields else
                   f"{lit(spec.name + ':')} || _file || ':' || _row")
            text = fv("text", "VARCHAR")
            body = [f"{fv('response_time', 'TIMESTAMPTZ')} AS response_time",
                    f"{tp} AS touchpoint", f"{fv('channel', 'VARCHAR')} AS channel",
                    f"{fv('csat', 'INTEGER')} AS csat", f"{fv('nps', 'INTEGER')} AS nps",
                    f"{fv('ces', 'INTEGER')} AS ces", f"{text} AS text",
                    f"{fv('language', 'VARCHAR')} AS language",
                    f"{fv('survey', 'VARCHAR')} AS survey", f"{rid} AS response_id",
                    f"coalesce({fv('stage', 'VARCHAR')}, CASE {tp} {tp_stage} END) AS stage",
                    f"{fv('brand', 'VARCHAR')} AS brand", f"{lit(spec.stitch)} AS _stitch"]
        else:
            body = [f"{fv(n, SQL_TYPES[fs.type])} AS {q(n)}" for n, fs in spec.fields.items()]
        # extra columns follow the canonical ones
        body += [f"CAST({extras[n]} AS {SQL_TYPES[fs.type]}) AS {q(n)}"
                 for n, fs in spec.extra_fields.items()]
        tail = [f"CASE WHEN _reason IS NULL THEN {jobj(attr_cols)} END AS attributes",
                "_reason", "_column", "_value", "_detail", f"{raw_text} AS _raw_text",
                f"CASE WHEN _reason IS NOT NULL AND _record_ok THEN {jobj(rec_cols)} END "
                "AS _record"]
        where = "" if item_no == 0 else "WHERE _reason IS NULL"
        return f"SELECT {', '.join(common + body + tail)} FROM v {where}"

    selects = ([out_select(j, it) for j, it in enumerate(items)] if items
               else [out_select(0, None)])
    # a wide survey reads v once per item: computed once, not re-derived per item (inlined,
    # DuckDB re-evaluates the nested checks in every item's filter: 20 s per item at 15k rows)
    materialized = "MATERIALIZED " if len(selects) > 1 else ""
    has_dups = con.execute(f"SELECT count(*) FROM {dups}").fetchall()[0][0] > 0
    dup_join = (f"LEFT JOIN {dups} d ON d._file = src._file AND d._row = src._row"
                if has_dups else "")
    dup_cols = ("d._dup_file, d._dup_row" if has_dups else
                "NULL::VARCHAR AS _dup_file, NULL::BIGINT AS _dup_row")
    sql = f"""
        WITH src AS ({view}),
        f AS (SELECT src._file, src._fidx, src._row, src._record_ok, {dup_cols},
                     {'src._pre_reason, src._pre_column, src._pre_value, src._pre_detail,'
                      if pre else ''}
                     {'src._line' if is_json else 'NULL'} AS _line,
                     {f_select}
              FROM src {dup_join}
              {' '.join(comp.joins)}),
        c AS (SELECT *, {check} AS _check FROM f),
        v AS {materialized}(SELECT *, {reason} AS _reason, {column} AS _column, {value} AS _value,
                     {detail} AS _detail FROM c)
        {' UNION ALL '.join(selects)}"""
    con.execute(f"COPY ({sql}) TO {path_lit(dest)} (FORMAT parquet, COMPRESSION uncompressed)")
    for tbl in [dups, *phones.values()]:
        con.execute(f"DROP TABLE IF EXISTS {tbl}")
    n_dups = con.execute(f"SELECT count(*) FROM read_parquet({path_lit(dest)}) "
                         "WHERE _reason = 'exact_duplicate'").fetchall()[0][0]
    return int(n_dups), shaped
