"""Shaping a source before its fields are mapped: joins to lookup sources, and rollups.

:func:`shape_source` takes the raw records of one source (the view staging builds over its
landed files) and, inside DuckDB,

1. joins each ``join:`` lookup source (``kind: lookup``) by key, so the row gains the lookup's
   columns (``campaigns`` joined to ``campaign_descriptions`` on ``campaign_id`` gains the
   campaign's dates). Keys are compared as trimmed text, so ``17`` in a CSV matches the
   integer 17 of a Parquet file. A row whose key is empty (``missing_join_key``), matches no
   lookup row (``unmatched_join``) or matches several different lookup rows
   (``ambiguous_join``) is quarantined with the lookup and the key value in its detail;
   lookup rows repeated identically count once;
2. rolls rows up (``rollup:``) into one row per group of ``by`` values: ``sum`` adds numbers,
   ``min``/``max`` keep the earliest/latest value (as times or dates when a time or date field
   maps the column, as numbers when a numeric field does, else as stored), ``first`` keeps
   the value of the group's first raw row, ``count`` names a new column holding the group's
   raw rows. Every other column is dropped. A rolled-up row carries the file and row of its
   group's first raw row. A row that cannot join the group (empty ``by`` value
   ``missing_rollup_key``, a summed value that is not a number ``unparseable_number``, a
   min/max value that cannot be read as its field, a failed join) is quarantined, and so is
   every other row of its group (``rollup_group_rejected``): a basket total missing a line
   would be wrong. Exact duplicate rows are left out of their group (and quarantined as
   ``exact_duplicate`` as in any source). Groups whose ``first`` columns differ are counted.

It writes the shaped rows (the rows that were rejected before the rollup, raw, and the
rolled-up rows) to Parquet for the field mapping, and the members of each group (every raw row
folded into its group's first row) to a second file, so the assembly can count them among the
rows written or, when the group's row is rejected later, quarantine them too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cjmlib.collection.sources import RollupSpec, SourcesConfig, SourceSpec
from cjmlib.collection.sql import FieldCompiler, _is_numeric, lit, path_lit, q

#: Columns of a shaped row that say why it was rejected before the field mapping.
PRE_COLUMNS = ("_pre_reason", "_pre_column", "_pre_value", "_pre_detail")
#: Columns of a source's view that are not raw columns.
INTERNAL_COLUMNS = frozenset({"_file", "_fidx", "_row", "_record_ok", "_line", *PRE_COLUMNS})


@dataclass
class Lookup:
    """A lookup source read into a DuckDB table (its raw columns, ``_file``, ``_row``)."""

    spec: SourceSpec
    table: str
    columns: dict[str, str]  # raw column -> DuckDB type
    files: list[str]
    rows: int
    malformed: int = 0

    def report(self) -> dict[str, Any]:
        return {"source": self.spec.name, "files": self.files, "rows": self.rows,
                "malformed_rows": self.malformed}


@dataclass
class Shaped:
    """A source after its joins and rollup: the view of its rows, their columns, what
    happened (for the manifest) and the file of rows folded into their group's first row."""

    view: str
    types: dict[str, str]
    members: Path | None = None
    report: dict[str, Any] = field(default_factory=dict)


def _txt(expr: str) -> str:
    return f"nullif(trim(CAST({expr} AS VARCHAR)), '')"


def _case(branches: list[tuple[str, str]]) -> str:
    if not branches:
        return "NULL::VARCHAR"
    return "CASE " + " ".join(f"WHEN {c} THEN {v}" for c, v in branches) + " END"


def _key_text(cols: tuple[str, ...] | list[str], exprs: list[str]) -> str:
    """SQL text ``a = '1', b = '2'`` of key values, for messages."""
    parts = [f"{lit(c + ' = ' + chr(39))} || coalesce({e}, '') || {lit(chr(39))}"
             for c, e in zip(cols, exprs, strict=True)]
    return " || ', ' || ".join(parts)


def shape_source(con: Any, spec: SourceSpec, cfg: SourcesConfig, view: str,
                 types: dict[str, str], lookups: dict[str, Lookup], *, dups: str | None,
                 pii: set[str], work: Path, idx: int, what: str) -> Shaped:
    """Join and roll up one source's raw rows; see the module docstring.

    ``view``/``types``: the source's records (``_file``, ``_fidx``, ``_row``, ``_record_ok``,
    raw columns) and raw column types; ``dups``: temp table of exact duplicate rows (left out
    of groups) or None; ``pii``: raw columns whose values never appear in a message; ``what``:
    the source's files, for messages. Raises ``ValueError`` naming the file(s), the source
    and the option when a key or rolled-up column is missing or a lookup column clashes.
    """
    at = f"{cfg.path}: source {spec.name!r}"
    has_line = "_line" in {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM ({view})"
                                                      ).fetchall()}
    cols = dict(types)
    line = ", _line" if has_line else ""
    pre_null = ", ".join(f"NULL::VARCHAR AS {c}" for c in PRE_COLUMNS)
    sql = (f"SELECT _file, _fidx, _row, _record_ok{line}, "
           f"{''.join(q(c) + ', ' for c in cols)}{pre_null} FROM ({view})")
    report: dict[str, Any] = {}
    status_cols = []
    for k, j in enumerate(spec.joins):
        sql, brought = _join_sql(sql, spec, j, k, cols, lookups[j.source], pii, at, what)
        cols.update(brought)
        status_cols.append(f"_js{k}")
    rows = f"_shape_rows_{idx}"
    con.execute(f"CREATE OR REPLACE TEMP TABLE {rows} AS {sql}")
    if spec.joins:
        report["joins"] = []
        for k, j in enumerate(spec.joins):
            counts = dict(con.execute(f"SELECT _js{k}, count(*) FROM {rows} "
                                      f"WHERE _js{k} IS NOT NULL GROUP BY ALL").fetchall())
            report["joins"].append({
                "source": j.source, "on": dict(zip(j.left, j.right, strict=True)),
                **{s: int(counts.get(s, 0)) for s in ("matched", "unmatched", "ambiguous",
                                                      "missing_key")}})
    shaped_path = work / f"shaped_{idx}.parquet"
    members = None
    try:
        if spec.rollup is None:
            keep = ", ".join(["_file", "_fidx", "_row", "_record_ok", *(["_line"] if has_line
                                                                         else []),
                              *(q(c) for c in cols), *PRE_COLUMNS])
            con.execute(f"COPY (SELECT {keep} FROM {rows}) TO {path_lit(shaped_path)} "
                        "(FORMAT parquet)")
            out_types = cols
        else:
            members = work / f"members_{idx}.parquet"
            out_types, report["rollup"] = _rollup(con, spec, spec.rollup, cfg, rows, cols,
                                                  dups, pii, has_line, shaped_path, members,
                                                  idx, what)
    finally:
        for t in (rows, f"_shape_chk_{idx}", f"_shape_marked_{idx}", f"_shape_groups_{idx}"):
            con.execute(f"DROP TABLE IF EXISTS {t}")
    return Shaped(f"SELECT * FROM read_parquet({path_lit(shaped_path)})", out_types, members,
                  report)


def _join_sql(prev: str, spec: SourceSpec, j: Any, k: int, cols: dict[str, str],
              lk: Lookup, pii: set[str], at: str, what: str) -> tuple[str, dict[str, str]]:
    """SQL of ``prev`` joined to one lookup, with the join's rejections in the _pre columns."""
    where = f"{at}: join with lookup {j.source!r}"
    missing = [c for c in j.left if c not in cols]
    if missing:
        raise ValueError(f"{what} (source {spec.name!r}): missing join key column(s) {missing} "
                         f"for lookup {j.source!r}; found {list(cols)}")
    missing = [c for c in j.right if c not in lk.columns]
    if missing:
        raise ValueError(f"{', '.join(lk.files)} (lookup {j.source!r}): missing key column(s) "
                         f"{missing} that source {spec.name!r} joins on; found "
                         f"{list(lk.columns)}")
    bring = (list(j.columns) if j.columns is not None
             else [c for c in lk.columns if c not in j.right])
    missing = [c for c in bring if c not in lk.columns]
    if missing:
        raise ValueError(f"{where}: join.columns {missing} are not columns of "
                         f"{', '.join(lk.files)}; found {list(lk.columns)}")
    clash = [c for c in bring if c in cols]
    if clash:
        raise ValueError(f"{where}: the lookup brings column(s) {clash} that the source "
                         "already has; choose the lookup columns to bring with join.columns")
    n = len(j.left)
    keys = [_txt(f"p.{q(c)}") for c in j.left]
    lk_keys = ", ".join(f"{_txt(q(r))} AS _k{i}" for i, r in enumerate(j.right))
    lk_cols = "".join(f", {q(c)}" for c in bring)
    one = "".join(f", CASE WHEN count(*) = 1 THEN any_value({q(c)}) END AS {q(c)}"
                  for c in bring)
    group = ", ".join(f"_k{i}" for i in range(n))
    not_null = " AND ".join(f"_k{i} IS NOT NULL" for i in range(n))
    lk_sql = (f"SELECT {group}, count(*) AS _n{one} FROM (SELECT DISTINCT {lk_keys}{lk_cols} "
              f"FROM {lk.table}) WHERE {not_null} GROUP BY {group}")
    on = " AND ".join(f"{keys[i]} = l._k{i}" for i in range(n))
    any_null = " OR ".join(f"{e} IS NULL" for e in keys)
    status = (f"CASE WHEN NOT p._record_ok OR p._pre_reason IS NOT NULL THEN NULL "
              f"WHEN {any_null} THEN 'missing_key' WHEN l._n IS NULL THEN 'unmatched' "
              f"WHEN l._n > 1 THEN 'ambiguous' ELSE 'matched' END")
    secret = any(c in pii for c in j.left)
    lk_name = f"lookup {j.source!r} ({', '.join(lk.files)})"
    shown = "" if not secret else " (personal data: value not shown)"
    inner = f"""
        SELECT p.*{''.join(f', l.{q(c)}' for c in bring)}, l._n AS _jn, {status} AS _js{k}
        FROM ({prev}) p LEFT JOIN ({lk_sql}) l ON {on}"""
    # outside the join the key columns are the row's own again
    keys_out = [_txt(q(c)) for c in j.left]
    kt_out = _key_text(j.left, keys_out)
    value_out = ("NULL::VARCHAR" if secret else keys_out[0] if n == 1 else kt_out)
    first_empty = _case([(f"{e} IS NULL", lit(c)) for c, e in zip(j.left, keys_out,
                                                                   strict=True)])
    detail = _case([
        (f"_js{k} = 'missing_key'", lit(f"empty key: nothing to look up in {lk_name}")),
        (f"_js{k} = 'unmatched'",
         lit(f"no row of {lk_name} has this key{shown}") if secret else
         f"{lit(f'no row of {lk_name} has ')} || {kt_out}"),
        (f"_js{k} = 'ambiguous'",
         f"_jn || {lit(f' different rows of {lk_name} have this key{shown}')}" if secret else
         f"_jn || {lit(f' different rows of {lk_name} have ')} || {kt_out} || "
         f"{lit('; a key must identify one row')}")])
    reason = _case([(f"_js{k} = 'missing_key'", "'missing_join_key'"),
                    (f"_js{k} = 'unmatched'", "'unmatched_join'"),
                    (f"_js{k} = 'ambiguous'", "'ambiguous_join'")])
    column = _case([(f"_js{k} = 'missing_key'", first_empty),
                    (f"_js{k} IN ('unmatched', 'ambiguous')", lit(", ".join(j.left)))])
    value = _case([(f"_js{k} IN ('unmatched', 'ambiguous')", value_out)])
    sql = f"""
        SELECT * EXCLUDE (_jn) REPLACE (
            coalesce(_pre_reason, {reason}) AS _pre_reason,
            CASE WHEN _pre_reason IS NULL THEN {column} ELSE _pre_column END AS _pre_column,
            CASE WHEN _pre_reason IS NULL THEN {value} ELSE _pre_value END AS _pre_value,
            CASE WHEN _pre_reason IS NULL THEN {detail} ELSE _pre_detail END AS _pre_detail)
        FROM ({inner})"""
    return sql, {c: lk.columns[c] for c in bring}


def _order_expr(spec: SourceSpec, cfg: SourcesConfig, col: str, ctype: str,
                comp: FieldCompiler) -> tuple[str, str | None]:
    """How ``min``/``max`` compare a column: (SQL value to order by, reason when a value
    cannot be read that way, or None when every value can)."""
    raw = q(col)
    if ctype.upper().startswith(("TIMESTAMP", "DATE")) or _is_numeric(ctype.upper()):
        return raw, None
    fs = next((f for f in spec.fields.values() if f.column == col), None)
    t = _txt(raw)
    if fs is not None and fs.type == "time":
        return comp._time(fs, raw, t, ctype.upper()), "unparseable_time"
    if fs is not None and fs.type == "date":
        fmts = ", ".join(lit(f) for f in (fs.formats or ("%Y-%m-%d",)))
        return f"CAST(try_strptime({t}, [{fmts}]) AS DATE)", "unparseable_date"
    if fs is not None and fs.type in ("float", "int", "duration", "score"):
        return (f"CASE WHEN isfinite(TRY_CAST({t} AS DOUBLE)) THEN TRY_CAST({t} AS DOUBLE) END",
                "unparseable_number")
    return raw, None


def _rollup(con: Any, spec: SourceSpec, r: RollupSpec, cfg: SourcesConfig, rows: str,
            cols: dict[str, str], dups: str | None, pii: set[str], has_line: bool,
            shaped_path: Path, members_path: Path, idx: int, what: str
            ) -> tuple[dict[str, str], dict[str, Any]]:
    missing = [c for c in r.inputs if c not in cols]
    if missing:
        raise ValueError(f"{what} (source {spec.name!r}): rollup needs column(s) {missing}; "
                         f"found {list(cols)}")
    comp = FieldCompiler(spec, cfg, cols)
    gkeys = [f"_g{i}" for i in range(len(r.by))]
    sel = [f"{_txt(q(c))} AS _g{i}" for i, c in enumerate(r.by)]
    checks: list[tuple[str, str, str, str | None, str]] = []  # cond, reason, col, value, detail
    for c in r.by:
        checks.append((f"{_txt(q(c))} IS NULL", "missing_rollup_key", c, None,
                       f"rollup.by: empty {c}, so the row belongs to no group"))
    for i, c in enumerate(r.sum):
        t = _txt(q(c))
        num = (f"CAST({q(c)} AS DOUBLE)" if _is_numeric(cols[c].upper()) else
               f"CASE WHEN isfinite(TRY_CAST({t} AS DOUBLE)) THEN TRY_CAST({t} AS DOUBLE) END")
        sel.append(f"{num} AS _s{i}")
        checks.append((f"{t} IS NOT NULL AND ({num}) IS NULL", "unparseable_number", c, t,
                       f"rollup.sum: {c} must be a number"))
    for kind, names in (("min", r.min), ("max", r.max)):
        for i, c in enumerate(names):
            order, bad = _order_expr(spec, cfg, c, cols[c], comp)
            sel.append(f"{order} AS _o{kind}{i}")
            if bad is not None:
                checks.append((f"{_txt(q(c))} IS NOT NULL AND ({order}) IS NULL", bad, c,
                               _txt(q(c)), f"rollup.{kind}: {c} cannot be compared"))
    ok = "_record_ok AND _pre_reason IS NULL"

    def case(pick: int) -> str:
        out = []
        for cond, reason, col, value, detail in checks:
            v = (reason, col, None if col in pii else value, detail)[pick]
            out.append((f"{ok} AND {cond}", "NULL::VARCHAR" if v is None else
                        (v if pick == 2 else lit(v))))
        return _case(out)

    dup_join = (f"LEFT JOIN {dups} d ON d._file = r._file AND d._row = r._row" if dups
                else "")
    dup = "d._row IS NOT NULL" if dups else "FALSE"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _shape_chk_{idx} AS
        SELECT * REPLACE (
            coalesce(_pre_reason, {case(0)}) AS _pre_reason,
            CASE WHEN _pre_reason IS NULL THEN {case(1)} ELSE _pre_column END AS _pre_column,
            CASE WHEN _pre_reason IS NULL THEN {case(2)} ELSE _pre_value END AS _pre_value,
            CASE WHEN _pre_reason IS NULL THEN {case(3)} ELSE _pre_detail END AS _pre_detail)
        FROM (SELECT r.*, {', '.join(sel)}, {dup} AS _dup FROM {rows} r {dup_join})""")
    gtext = (_key_text(r.by, [f"c.{g}" for g in gkeys]) if not any(c in pii for c in r.by)
             else lit(", ".join(r.by) + " not shown: personal data"))
    gon = " AND ".join(f"c.{g} = b.{g}" for g in gkeys)
    all_keys = " AND ".join(f"{g} IS NOT NULL" for g in gkeys)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _shape_marked_{idx} AS
        WITH b AS (SELECT {', '.join(gkeys)},
                          first(_pre_reason ORDER BY _fidx, _row) AS _br,
                          first(_file ORDER BY _fidx, _row) AS _bf,
                          first(_row ORDER BY _fidx, _row) AS _bw
                   FROM _shape_chk_{idx}
                   WHERE _record_ok AND _pre_reason IS NOT NULL AND {all_keys}
                   GROUP BY ALL)
        SELECT c.* REPLACE (
            CASE WHEN c._pre_reason IS NULL AND c._record_ok AND NOT c._dup
                      AND b._br IS NOT NULL THEN 'rollup_group_rejected'
                 ELSE c._pre_reason END AS _pre_reason,
            CASE WHEN c._pre_reason IS NULL AND c._record_ok AND NOT c._dup
                      AND b._br IS NOT NULL THEN 'row ' || b._bw || ' of ' || b._bf
                      || ' in the same group (' || {gtext} || ') was rejected: ' || b._br
                 ELSE c._pre_detail END AS _pre_detail),
            c._record_ok AND c._pre_reason IS NULL AND NOT c._dup AND b._br IS NULL AS _good
        FROM _shape_chk_{idx} c LEFT JOIN b ON {gon}""")
    first = "ORDER BY _fidx, _row"
    aggs = [f"first({q(c)} {first}) AS {q(c)}" for c in r.by]
    aggs += [f"sum(_s{i}) AS {q(c)}" for i, c in enumerate(r.sum)]
    aggs += [f"arg_min({q(c)}, _omin{i}) AS {q(c)}" for i, c in enumerate(r.min)]
    aggs += [f"arg_max({q(c)}, _omax{i}) AS {q(c)}" for i, c in enumerate(r.max)]
    aggs += [f"first({q(c)} {first}) AS {q(c)}" for c in r.first]
    differs = [f"(count(DISTINCT {q(c)}) > 1 OR count({q(c)}) BETWEEN 1 AND count(*) - 1) "
               f"AS _d{i}" for i, c in enumerate(r.first)]
    if r.count:
        aggs.append(f"count(*) AS {q(r.count)}")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _shape_groups_{idx} AS
        SELECT {', '.join(gkeys)}, first(_file {first}) AS _file, min(_fidx) AS _fidx,
               first(_row {first}) AS _row, count(*) AS _n, {', '.join(aggs + differs)}
        FROM _shape_marked_{idx} WHERE _good GROUP BY {', '.join(gkeys)}""")
    out_cols = r.outputs
    raw_side = [f"_s{r.sum.index(c)} AS {q(c)}" if c in r.sum else q(c) for c in r.inputs]
    if r.count:
        raw_side.append(f"NULL::BIGINT AS {q(r.count)}")
    line_raw, line_grp = ((", _line", ", NULL::VARCHAR AS _line") if has_line else ("", ""))
    pre_null = ", ".join(f"NULL::VARCHAR AS {c}" for c in PRE_COLUMNS)
    con.execute(f"""
        COPY (SELECT _file, _fidx, _row, _record_ok{line_raw}, {', '.join(raw_side)},
                     {', '.join(PRE_COLUMNS)}
              FROM _shape_marked_{idx} WHERE NOT _good
              UNION ALL BY NAME
              SELECT _file, _fidx, _row, TRUE AS _record_ok{line_grp},
                     {', '.join(q(c) for c in out_cols)}, {pre_null}
              FROM _shape_groups_{idx})
        TO {path_lit(shaped_path)} (FORMAT parquet)""")
    gon = " AND ".join(f"m.{g} = g.{g}" for g in gkeys)
    con.execute(f"""
        COPY (SELECT g._file AS _first_file, g._row AS _first_row, m._file, m._row
              FROM _shape_marked_{idx} m JOIN _shape_groups_{idx} g ON {gon}
              WHERE m._good AND NOT (m._file = g._file AND m._row = g._row))
        TO {path_lit(members_path)} (FORMAT parquet)""")
    stats = con.execute(f"""
        SELECT count(*), coalesce(sum(_n), 0)
               {''.join(f', count(*) FILTER (WHERE _d{i})' for i in range(len(r.first)))}
        FROM _shape_groups_{idx}""").fetchall()[0]
    rejected = con.execute(f"""SELECT count(*) FILTER (WHERE _pre_reason
                                                       = 'rollup_group_rejected')
                               FROM _shape_marked_{idx}""").fetchall()[0][0]
    types = {d[0]: d[1] for d in con.execute(
        f"DESCRIBE SELECT * FROM read_parquet({path_lit(shaped_path)})").fetchall()
        if d[0] not in INTERNAL_COLUMNS}
    report = {"by": list(r.by), "rows_grouped": int(stats[1]), "groups": int(stats[0]),
              "rows_with_rejected_group": int(rejected),
              "first_differs": {c: int(stats[2 + i]) for i, c in enumerate(r.first)},
              "rule": "one row per group, with the file and row of its first raw row; "
                      "columns not under rollup are dropped; first keeps the first raw row's "
                      "value (first_differs: groups where the values differed)"}
    return {c: types[c] for c in out_cols}, report
