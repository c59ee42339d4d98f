"""Customer profiles: every ``kind: customers`` row of a customer merged column by column.

A customer may have several profile rows: two CRM exports that both know them, a file per
month, a snapshot table. :func:`merge_profiles` merges each profile field over *all* rows of the
customer (every customers source, file and row) by the field's rule from ``profiles.merge`` in
``configs/sources.yaml`` (:data:`~cjmlib.collection.sources.MERGE_RULES`):

* ``first`` (the default) and ``last``: the first or last non-null value in observation order,
  so a column comes from the first source that *has* a value for it, not from the first source
  that has a row;
* ``most_frequent``: the value carried by most rows; a tie goes to the value seen latest in
  observation order;
* ``min``, ``max`` (numbers, dates, times) and ``any``, ``all`` (booleans), over non-null values.

Observation order: the field ``as_of`` of a customers source (type date or time: when the row's
values were observed) first, rows without one before dated rows; then the source's position in
the config, the file and the row. Without any ``as_of`` it is source, file and row.

Nothing is merged silently: :func:`merge_profiles` counts, per field, the customers with a value
and those whose rows carried two or more different non-null values (conflicts between sources or
changes over time), for the manifest; when a source declares ``as_of`` it also writes
``customer_attribute_history.parquet``, each customer's values of each field in order (the first
one and every change).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib.collection.sources import PROFILE_TIME_FIELD, SourcesConfig
from cjmlib.collection.sql import files_sql, lit, path_lit, q
from cjmlib.collection.staging import StagedSource
from cjmlib.core.io import atomic_write

#: The merged profiles, one row per customer with a profile row (a DuckDB temp table).
PROFILES_TABLE = "_profiles"
HISTORY_FILE = "customer_attribute_history.parquet"
_OBS = "_profile_obs"
_PROFILE_COLUMNS = ["field", "rule", "customers_with_value", "customers_with_several_values"]


def _aggregate(rule: str, col: str) -> str:
    """SQL aggregate of one rule over the observations of a customer (nulls never count)."""
    return {"first": f"arg_min({col}, _ord) FILTER (WHERE {col} IS NOT NULL)",
            "last": f"arg_max({col}, _ord) FILTER (WHERE {col} IS NOT NULL)",
            "min": f"min({col})", "max": f"max({col})",
            "any": f"bool_or({col})", "all": f"bool_and({col})"}[rule]


def merge_profiles(con: Any, cfg: SourcesConfig, staged: list[StagedSource], primary: str,
                   out: Path) -> tuple[list[str], pd.DataFrame]:
    """Merge the profile rows into the temp table ``_profiles`` (customer_id, then the fields).

    ``primary`` is the SQL of a staged row's key in ``_id_keymap``. Returns the profile fields
    in config order and one row per field: ``field``, ``rule``, ``customers_with_value`` and
    ``customers_with_several_values`` (two or more different non-null values). Writes
    ``out/customer_attribute_history.parquet`` when a customers source declares ``as_of``, and
    removes a stale one otherwise.
    """
    specs = [s for s in staged if s.spec.kind == "customers" and s.stage is not None]
    rules = cfg.profile_merge
    # a source without files (optional) adds no column, as before
    fields = [f for f in rules if any(f in s.spec.fields for s in specs)]
    history = out / HISTORY_FILE
    timed = any(PROFILE_TIME_FIELD in s.spec.fields for s in specs)
    if not fields:
        history.unlink(missing_ok=True)
        return [], pd.DataFrame(columns=_PROFILE_COLUMNS)
    as_of = (f"CAST(s.{q(PROFILE_TIME_FIELD)} AS TIMESTAMPTZ)" if timed
             else "NULL::TIMESTAMPTZ")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {_OBS} AS
        SELECT m.customer_id, s._source, s._file, s._row, {as_of} AS _as_of,
               {', '.join('s.' + q(f) for f in fields)},
               row_number() OVER (PARTITION BY m.customer_id
                                  ORDER BY {as_of} NULLS FIRST, s._sidx, s._fidx, s._row) AS _ord
        FROM {files_sql([str(s.stage) for s in specs])} s JOIN _id_keymap m ON m.key = {primary}
        WHERE s._reason IS NULL""")
    aggs, joins, sel = [], [], []
    for i, f in enumerate(fields):
        col = q(f)
        aggs.append(f"count(DISTINCT {col}) AS _nd_{i}")
        if rules[f] == "most_frequent":
            # mode over rows; a tie goes to the value whose last row comes later
            joins.append(f"""LEFT JOIN (
                SELECT customer_id, arg_max(v, {{'n': n, 'o': o}}) AS v FROM (
                    SELECT customer_id, {col} AS v, count(*) AS n, max(_ord) AS o
                    FROM {_OBS} WHERE {col} IS NOT NULL GROUP BY customer_id, {col})
                GROUP BY customer_id) mf_{i} ON mf_{i}.customer_id = a.customer_id""")
            sel.append(f"mf_{i}.v AS {col}")
        else:
            aggs.append(f"{_aggregate(rules[f], col)} AS {col}")
            sel.append(f"a.{col}")
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE {PROFILES_TABLE} AS
        SELECT a.customer_id, {', '.join(sel)},
               {', '.join(f'a._nd_{i}' for i in range(len(fields)))}
        FROM (SELECT customer_id, {', '.join(aggs)} FROM {_OBS} GROUP BY customer_id) a
        {' '.join(joins)}""")
    counts = con.execute("SELECT " + ", ".join(
        f"count({q(f)}), count(*) FILTER (WHERE _nd_{i} >= 2)" for i, f in enumerate(fields))
        + f" FROM {PROFILES_TABLE}").fetchall()[0]
    summary = pd.DataFrame([{"field": f, "rule": rules[f],
                             "customers_with_value": int(counts[2 * i]),
                             "customers_with_several_values": int(counts[2 * i + 1])}
                            for i, f in enumerate(fields)], columns=_PROFILE_COLUMNS)
    if timed:
        _write_history(con, fields, history)
    else:
        history.unlink(missing_ok=True)
    con.execute(f"DROP TABLE {_OBS}")
    return fields, summary


def _write_history(con: Any, fields: list[str], path: Path) -> None:
    """Each customer's values of each field in observation order: the first and every change."""
    parts = [f"""SELECT customer_id, {lit(f)} AS attribute, CAST({q(f)} AS VARCHAR) AS value,
                        _as_of AS as_of, _source AS source, _file AS raw_file, _row AS raw_row,
                        _ord FROM {_OBS} WHERE {q(f)} IS NOT NULL""" for f in fields]
    sql = f"""
        SELECT customer_id, attribute, value, as_of, source, raw_file, raw_row FROM (
            SELECT *, lag(value) OVER (PARTITION BY customer_id, attribute ORDER BY _ord)
                          AS _previous
            FROM ({' UNION ALL '.join(parts)}))
        WHERE _previous IS NULL OR _previous <> value
        ORDER BY customer_id, attribute, _ord"""
    atomic_write(path, lambda tmp: con.execute(
        f"COPY ({sql}) TO {path_lit(tmp)} (FORMAT parquet)"))
