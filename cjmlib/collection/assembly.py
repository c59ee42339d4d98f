"""Collection entry point: :func:`collect` from raw exports to the canonical tables.

:func:`collect` reads every source declared in ``configs/sources.yaml`` (a researcher adds a
source by editing YAML, not code), validates every row, stitches identities
(:mod:`cjmlib.collection.identity`), removes duplicates, derives sessions and writes

* ``events.parquet``, ``feedback.parquet``, ``customers.parquet`` -- the canonical tables of
  DESIGN.md (contract columns first, then ``attributes``, ``raw_file``, ``raw_row``),
* ``identity_audit.parquet`` -- which (hashed) identifiers formed each customer,
* ``quarantine/<source>.parquet`` -- every rejected row with file, row, column and reason, and
  ``quarantine/summary.csv``,
* ``manifest.json`` -- inputs (with SHA-256), counts per source (``rows_in = rows_out +
  rows_quarantined``), stitching and de-duplication statistics.

This module holds :func:`collect` and its :class:`CollectionResult`, the feedback and customers
tables, the identity audit, the quarantine and the manifest. The steps before live in
:mod:`~cjmlib.collection.sources` (the config), :mod:`~cjmlib.collection.landing` (raw files to
Parquet), :mod:`~cjmlib.collection.sql` (the field compiler), :mod:`~cjmlib.collection.shaping`
(joins and rollups), :mod:`~cjmlib.collection.staging`
(validation per source) and :mod:`~cjmlib.collection.events` (events.parquet: sessions, near
duplicates, ``seq``); :mod:`~cjmlib.collection.quality` summarises the result.

How it scales: each raw file is streamed once with pyarrow (CSV/TSV/JSON lines in blocks,
Parquet in row groups, Excel and SQL in chunks) into a landing Parquet file with a row number;
everything after that runs inside DuckDB (``COPY (...) TO`` Parquet, spilling to disk under a
memory limit), so a file of hundreds of millions of rows is never held in pandas. Only integer
edge arrays of the identity graph come back to Python (for scipy), and the events pass once
through a single sort, streamed into events.parquet in Arrow batches.
``benchmarks/bench_ingest.py`` measures this on 10 million rows. Collection talks to DuckDB
directly rather than through Ibis because it needs streaming Arrow ingestion and
``COPY ... TO``; the tables it writes are read through Ibis by the later steps.

Conventions:

* ``row`` is the 1-based record number within its file: the header is not counted and blank
  lines of CSV files are skipped (so in a plain CSV, line = row + 1); JSON lines and interview
  transcripts count lines (row = line number); Excel rows count from the first data row.
* Times become UTC (microseconds). A time written without an offset is read in the source's
  ``timezone``.
* ``attributes`` is a JSON object (string) of the source's unmapped columns, so nothing the
  export carried is dropped; identifier columns and ``drop`` columns (names) never appear there.
  Fields of events and feedback beyond the canonical ones are typed columns after the contract
  columns (listed in the manifest under ``extra_columns``).
* ``join`` and ``rollup`` (:mod:`~cjmlib.collection.shaping`): lookup sources feed no table
  (their files are inputs, listed under ``lookups``); a rolled-up row stands for its group, so
  ``rows_out`` counts the group's raw rows and a rejected rolled-up row quarantines them all.
* events.parquet is ordered by ``customer_id``, ``event_time``, ``seq``; ``seq`` numbers a
  customer's events from 1, ties of equal time broken by the source's position in the config,
  then file and row. Given session ids are prefixed with the source (``web_clickstream:...``);
  derived ones read ``<customer_id>/<source>/<n>``.
* customers.parquet: ``channels`` is a comma-separated sorted list, ``revenue`` the sum of
  ``value`` over conversion touchpoints (configs/journey.yaml), ``first_seen``/``last_seen``
  span events and feedback, CRM fields follow (``crm_id``, ``segment``...), each merged over all
  customers rows of the customer by its rule (:mod:`~cjmlib.collection.profiles`), and
  ``tenure_days`` counts from ``date_joined`` to the last event in the data.
* Re-running on the same inputs, configs and salt gives identical tables and manifest.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib import __version__
from cjmlib.collection.events import assemble_events
from cjmlib.collection.identity import StitchResult, resolve_salt, stitch
from cjmlib.collection.landing import land
from cjmlib.collection.profiles import HISTORY_FILE, PROFILES_TABLE, merge_profiles
from cjmlib.collection.shaping import Lookup
from cjmlib.collection.sources import (
    RUN_DATE,
    TABLE_KINDS,
    SourcesConfig,
    extra_columns,
    load_sources,
)
from cjmlib.collection.sql import SQL_TYPES, files_sql, lit, path_lit, q
from cjmlib.collection.staging import (
    StagedSource,
    absent_columns,
    drop_parsed,
    read_lookup,
    stage_files,
    stage_source,
)
from cjmlib.core.checks import check_scalar
from cjmlib.core.config import output_path, resolve_path
from cjmlib.core.generations import commit, new_generation, recover
from cjmlib.core.io import atomic_write, file_sha256, write_json
from cjmlib.core.locks import acquire, lock_path_for
from cjmlib.core.schema import CUSTOMER_COLUMNS, FEEDBACK_COLUMNS


def _progress_noop(message: str) -> None:
    """Default progress callback: say nothing."""


@dataclass
class CollectionResult:
    """What :func:`collect` wrote and what it found.

    ``paths`` maps ``events``, ``feedback``, ``customers``, ``identity_audit``, ``quarantine``
    (folder) and ``manifest`` to files; ``sources`` has one row per source (``source``,
    ``kind``, ``files``, ``rows_in``, ``rows_out``, ``rows_quarantined``, ``records_written``,
    ``balanced``); ``quarantine`` one row per source, file, reason and column (``rows``);
    ``identity`` and ``dedupe`` hold the stitching and duplicate statistics; ``profiles`` one
    row per profile field of customers.parquet (``field``, ``rule``, ``customers_with_value``,
    ``customers_with_several_values``: customers whose rows carried two or more different
    non-null values); ``manifest`` is the content of manifest.json. ``elapsed_s`` is wall-clock seconds (not in
    the manifest, which stays identical between re-runs).
    """

    paths: dict[str, Path]
    sources: pd.DataFrame
    quarantine: pd.DataFrame
    identity: dict[str, Any]
    dedupe: dict[str, Any]
    manifest: dict[str, Any]
    elapsed_s: float = 0.0
    profiles: pd.DataFrame = field(default_factory=pd.DataFrame)

    def to_pandas(self) -> pd.DataFrame:
        """Rows in, out and quarantined per source."""
        return self.sources.copy()

    def __repr__(self) -> str:
        return (f"CollectionResult({self.identity.get('customers', 0):,} customers, "
                f"{self.manifest['tables']['events']['rows']:,} events, "
                f"{self.manifest['tables']['feedback']['rows']:,} feedback rows, "
                f"{int(self.sources['rows_quarantined'].sum()):,} rows quarantined, "
                f"in {self.paths['manifest'].parent})")

    def _repr_html_(self) -> str:
        return (f"<p><b>Collection</b>: {self.identity.get('customers', 0):,} customers, "
                f"{self.manifest['tables']['events']['rows']:,} events, "
                f"{self.manifest['tables']['feedback']['rows']:,} feedback rows</p>"
                + self.sources.to_html(index=False))


def collect(
    raw_dir: str | os.PathLike[str],
    *,
    sources_path: str | os.PathLike[str] = "configs/sources.yaml",
    config_path: str | os.PathLike[str] = "configs/journey.yaml",
    processed_dir: str | os.PathLike[str] = "data/processed",
    salt: str | None = None,
    progress: Callable[[str], None] | None = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    hash_inputs: bool = True,
    run_date: str | dt.date | None = None,
) -> CollectionResult:
    """Read every configured raw source and write the canonical tables to ``processed_dir``.

    ``raw_dir`` holds the raw exports (never modified); ``sources_path`` and ``config_path``
    are ``configs/sources.yaml`` and ``configs/journey.yaml`` (relative paths resolve against
    the workspace, then the project root). ``salt`` overrides the identifier salt (else the
    environment variable named in the config, else the config's ``salt``). ``threads`` and
    ``memory_limit`` bound DuckDB (defaults: the ``engine`` block of the config, else all cores
    and 1GB; larger data spills to a temporary folder). ``hash_inputs`` records the SHA-256 of
    every raw file in the manifest. ``run_date`` (ISO date; default today, UTC) is the latest
    plausible day of an event or answer when the config's ``plausible.latest`` is
    ``run_date``: times outside the plausible window are quarantined
    (``<field>_out_of_range``); pass it to make a run reproducible on another day.

    Raises ``FileNotFoundError`` when a required source has no file and ``ValueError`` naming
    the file, the column and what was expected for whole-file problems (missing column,
    unreadable encoding, empty file). Row-level problems never raise: the rows go to
    ``quarantine/`` with their reason. The tables are written aside and swapped in as one
    generation (:mod:`cjmlib.core.generations`) under the processed folder's lock
    (:mod:`cjmlib.core.locks`): a second writer gets ``LockHeld``, and a failure or a kill
    leaves the previous tables whole.
    """
    started = time.perf_counter()
    say = progress or _progress_noop
    raw = resolve_path(raw_dir, must_exist=True)
    if not raw.is_dir():
        raise ValueError(f"{raw}: raw_dir must be a folder of raw exports")
    cfg = _with_run_date(load_sources(sources_path, config_path), run_date)
    salt_value, salt_source = resolve_salt(salt, cfg.identity)
    processed = output_path(processed_dir)
    threads = threads if threads is not None else cfg.engine.get("threads", os.cpu_count() or 1)
    check_scalar(threads, "threads", typ=int, ge=1)
    memory_limit = memory_limit or str(cfg.engine.get("memory_limit", "1GB"))

    files = _match_files(cfg, raw)
    # one writer at a time; the tables are written as a new generation aside and swapped in
    # whole at the end, so a failure or a kill leaves the previous generation as it was
    lock = acquire(lock_path_for(processed), what=f"the processed data {processed}")
    # the manifest's SHA-256 of the raw files is read on a thread of its own (hashlib lets go
    # of the GIL) while the files are landed and validated, instead of after the tables
    hashing = ThreadPoolExecutor(1, thread_name_prefix="cjm-sha256")
    try:
        digests = (hashing.submit(_hash_files, [p for listed in files.values()
                                                for p, _ in listed if p is not None])
                   if hash_inputs else None)
        recover(processed)
        out = new_generation(processed)
        try:
            return _collect_into(out, processed, raw, cfg, files, salt_value, salt_source,
                                 threads, memory_limit, digests, say, started)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)  # an unfinished generation is never used
            raise
    finally:
        hashing.shutdown(wait=True, cancel_futures=True)
        lock.release()


def _hash_files(paths: list[Path]) -> dict[Path, str]:
    """SHA-256 of each file (for the manifest); a file that cannot be read is left out, and
    is hashed again, raising, where the manifest needs it."""
    out = {}
    for path in paths:
        try:
            out[path] = file_sha256(path)
        except OSError:
            pass
    return out


#: What collect writes into the processed folder; anything else there is carried over.
COLLECTION_OUTPUTS = frozenset({"events.parquet", "feedback.parquet", "customers.parquet",
                                "identity_audit.parquet", HISTORY_FILE, "quarantine",
                                "manifest.json"})


def _collect_into(out: Path, processed: Path, raw: Path, cfg: SourcesConfig,
                  files: dict[str, list[tuple[Path | None, str]]], salt_value: str,
                  salt_source: str, threads: int, memory_limit: str,
                  digests: Future[dict[Path, str]] | None, say: Callable[[str], None],
                  started: float) -> CollectionResult:
    """The body of :func:`collect`: write every table into the new generation ``out``, its
    manifest last, then make it the current ``processed``. ``digests`` holds the SHA-256 of
    the raw files (None: not recorded)."""
    import duckdb

    work = Path(tempfile.mkdtemp(prefix=".collect-", dir=out))
    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = {lit(memory_limit)}")
        con.execute(f"SET temp_directory = {path_lit(work / 'spill')}")
        # intermediate files need no order (every output is sorted explicitly): let DuckDB
        # write them in parallel
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET TimeZone = 'UTC'")
        try:
            con.execute("SET enable_progress_bar = false")
        except duckdb.Error:
            pass  # in Jupyter without ipywidgets DuckDB shows no bar and refuses the setting
        con.execute("SET VARIABLE cjm_salt = ?", [salt_value])

        # lookups first: the sources that join them are staged against these tables
        def land_all(spec: Any, prefix: str) -> list[Any]:
            landed = []
            for k, (path, rel) in enumerate(files[spec.name]):
                say(f"{spec.name}: reading {rel}")
                landed.append(land(spec, path, rel, work / f"{prefix}_{k}.parquet", raw))
            return landed

        lookups: dict[str, Lookup] = {}
        lookup_landed: list[StagedSource] = []
        for j, lspec in enumerate(cfg.lookups):
            landed = land_all(lspec, f"lookup_{j}")
            lookups[lspec.name] = read_lookup(con, lspec, landed, j)
            lookup_landed.append(StagedSource(lspec, landed, None, sum(x.rows for x in landed)))
            drop_parsed(landed)
            for x in landed:
                if x.path is not None:
                    x.path.unlink(missing_ok=True)

        staged: list[StagedSource] = []
        for i, spec in enumerate(cfg.sources):
            landed = land_all(spec, f"land_{i}")
            say(f"{spec.name}: validating {sum(x.rows for x in landed):,} rows")
            st = StagedSource(spec, landed, None, sum(x.rows for x in landed))
            if landed:
                st.stage = work / f"stage_{i}.parquet"
                st.exact_duplicates, shaped = stage_source(
                    con, spec, cfg, landed, st.stage, salt_value, cfg.dedupe.exact, i,
                    lookups=lookups)
                if shaped is not None:
                    st.members, st.shape = shaped.members, shaped.report
                st.absent = absent_columns(spec, landed, lookups)
                drop_parsed(landed)  # landing copies and parsed fields are not needed any more
                for x in landed:
                    if x.path is not None:
                        x.path.unlink(missing_ok=True)
            staged.append(st)

        say("stitching identities")
        ident = _stitch(con, cfg, staged)
        say(f"{ident.stats['customers']:,} customers from {ident.stats['identifiers']:,} "
            "identifiers")
        primary = _primary_sql(ident.blocked)

        say("events: sessions, duplicates, order")
        dedupe = assemble_events(con, cfg, staged, out, primary)
        say("feedback")
        _assemble_feedback(con, staged, out, primary, extra_columns(cfg.sources, "feedback"))
        say("customers")
        profiles = _assemble_customers(con, cfg, staged, out, primary)
        _write_audit(con, out)
        say("quarantine and manifest")
        quarantine, sources = _write_quarantine(con, cfg, staged, work, out, primary,
                                                blocked=bool(ident.blocked))
        tables = {name: {"path": f"{name}.parquet",
                         "rows": con.execute(f"SELECT count(*) FROM read_parquet("
                                             f"{path_lit(out / (name + '.parquet'))})"
                                             ).fetchall()[0][0]}
                  for name in ("events", "feedback", "customers", "identity_audit")}
        if (out / HISTORY_FILE).exists():
            tables["customer_attribute_history"] = {"path": HISTORY_FILE, "rows": con.execute(
                f"SELECT count(*) FROM read_parquet({path_lit(out / HISTORY_FILE)})"
            ).fetchall()[0][0]}
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)

    ident_stats = {**ident.stats, "giants": ident.giants}
    manifest = _manifest(cfg, raw, files, staged, sources, quarantine, ident_stats, dedupe,
                         tables, salt_source, digests is not None, profiles, lookups,
                         lookup_landed, digests=None if digests is None else digests.result())
    write_json(manifest, out / "manifest.json")
    commit(processed, out, owned=COLLECTION_OUTPUTS)
    out = processed
    paths = {"events": out / "events.parquet", "feedback": out / "feedback.parquet",
             "customers": out / "customers.parquet",
             "identity_audit": out / "identity_audit.parquet",
             "quarantine": out / "quarantine", "manifest": out / "manifest.json"}
    if "customer_attribute_history" in tables:
        paths["customer_attribute_history"] = out / HISTORY_FILE
    return CollectionResult(paths, sources, quarantine, ident_stats, dedupe, manifest,
                            round(time.perf_counter() - started, 3), profiles)


def _with_run_date(cfg: SourcesConfig, run_date: str | dt.date | None) -> SourcesConfig:
    """The config with its plausible window fixed: ``plausible.latest: run_date`` becomes the
    run date (``run_date``, default today in UTC), so the window is a parameter of the run."""
    lo, hi = cfg.plausible
    if hi != RUN_DATE:
        return cfg
    if run_date is None:
        day = dt.datetime.now(dt.UTC).date()
    else:
        try:
            day = (run_date if isinstance(run_date, dt.date)
                   else dt.date.fromisoformat(str(run_date)))
        except ValueError:
            raise ValueError(f"run_date: expected an ISO date such as 2026-11-30, got "
                             f"{run_date!r}") from None
    return replace(cfg, plausible=(lo, day.isoformat()))


def _match_files(cfg: SourcesConfig, raw: Path) -> dict[str, list[tuple[Path | None, str]]]:
    everything = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file())
    out: dict[str, list[tuple[Path | None, str]]] = {}
    for spec in (*cfg.sources, *cfg.lookups):
        if spec.format == "sql":
            out[spec.name] = [(None, str(spec.url))]
            continue
        rels = sorted({r for pat in spec.files for r in everything if fnmatch.fnmatch(r, pat)})
        if not rels and not spec.optional:
            raise FileNotFoundError(
                f"source {spec.name!r}: no file in {raw} matches {list(spec.files)} (set "
                "optional: true in the sources config when the source may be absent)")
        out[spec.name] = [(raw / r, r) for r in rels]
    return out


def _unconfigured(cfg: SourcesConfig, raw: Path, files: dict[str, list[tuple[Path | None, str]]]
                  ) -> list[str]:
    used = {rel for lst in files.values() for _, rel in lst}
    rest = []
    for p in sorted(raw.rglob("*")):
        if not p.is_file():
            continue
        rel = p.relative_to(raw).as_posix()
        if rel in used or any(fnmatch.fnmatch(rel, pat) for pat in cfg.ignore):
            continue
        rest.append(rel)
    return rest


def _stitch(con: Any, cfg: SourcesConfig, staged: list[StagedSource]) -> StitchResult:
    paths = stage_files(staged, *TABLE_KINDS, stitch_only=True)
    if paths:
        records = (f"SELECT _source, _keys FROM {files_sql(paths)} "
                   "WHERE _reason IS NULL AND _item = 0")
    else:
        records = "SELECT NULL::VARCHAR AS _source, []::VARCHAR[] AS _keys WHERE FALSE"
    return stitch(con, records, cfg.identity)


def _primary_sql(blocked: list[str]) -> str:
    """The record's key used to find its customer: first identifier not blocked."""
    if not blocked:
        return "s._keys[1]"
    lst = "[" + ", ".join(lit(b) for b in blocked) + "]"
    return f"list_filter(s._keys, lambda k: NOT list_contains({lst}, k))[1]"


def _copy_atomic(con: Any, sql: str, path: Path) -> None:
    atomic_write(path, lambda tmp: con.execute(
        f"COPY ({sql}) TO {path_lit(tmp)} (FORMAT parquet)"))


def _assemble_feedback(con: Any, staged: list[StagedSource], out: Path, primary: str,
                       extras: dict[str, str]) -> None:
    paths = stage_files(staged, "feedback")
    cols = ", ".join(FEEDBACK_COLUMNS[1:9])
    # extra columns follow the contract's; NULL where no staged source has them
    found = (set() if not paths else
             {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {files_sql(paths)}").fetchall()})
    extra = "".join(f", {'s.' + q(n) if n in found else 'NULL'}::{SQL_TYPES[t]} AS {q(n)}"
                    for n, t in extras.items())
    if not paths:
        sql = ("SELECT NULL::VARCHAR AS customer_id, NULL::TIMESTAMPTZ AS response_time, "
               "NULL::VARCHAR AS touchpoint, NULL::VARCHAR AS channel, NULL::INTEGER AS csat, "
               "NULL::INTEGER AS nps, NULL::INTEGER AS ces, NULL::VARCHAR AS text, "
               "NULL::VARCHAR AS language, NULL::VARCHAR AS source, NULL::VARCHAR AS survey, "
               "NULL::VARCHAR AS response_id, NULL::VARCHAR AS stage, NULL::VARCHAR AS brand, "
               "NULL::VARCHAR AS attributes, NULL::VARCHAR AS raw_file, "
               f"NULL::BIGINT AS raw_row{extra} WHERE FALSE")
    else:
        sql = f"""
            SELECT CASE WHEN s._stitch THEN m.customer_id END AS customer_id,
                   {', '.join('s.' + c for c in cols.split(', '))},
                   s._source AS source, s.survey, s.response_id, s.stage, s.brand, s.attributes,
                   s._file AS raw_file, s._row AS raw_row{extra}
            FROM {files_sql(paths)} s LEFT JOIN _id_keymap m ON s._stitch AND m.key = {primary}
            WHERE s._reason IS NULL AND NOT (s._stitch AND m.customer_id IS NULL)
            ORDER BY s.survey, s._source, s._file, s._row, s._item"""
    _copy_atomic(con, sql, out / "feedback.parquet")


def _assemble_customers(con: Any, cfg: SourcesConfig, staged: list[StagedSource], out: Path,
                        primary: str) -> pd.DataFrame:
    """Write customers.parquet; return the profile fields' merge counts (profiles.py)."""
    conv = ", ".join(lit(t) for t in cfg.conversion_touchpoints) or "NULL"
    reserved = set(CUSTOMER_COLUMNS) | {"tenure_days"}
    clash = sorted(set(cfg.profile_merge) & reserved)
    if clash:
        raise ValueError(f"{cfg.path}: customers fields {clash} clash with computed columns "
                         f"{sorted(reserved)}; rename them")
    # every profile row of a customer merged field by field, never "first row wins"
    prof_fields, profiles = merge_profiles(con, cfg, staged, primary, out)
    ev = path_lit(out / "events.parquet")
    fb = path_lit(out / "feedback.parquet")
    if prof_fields:
        prof_sel = ", ".join(f"p.{q(n)}" for n in prof_fields)
        join = f"LEFT JOIN {PROFILES_TABLE} p ON p.customer_id = c.customer_id"
    else:
        prof_sel, join = "", ""
    date_joined = next((s.spec.fields["date_joined"].type for s in staged
                        if s.spec.kind == "customers" and "date_joined" in s.spec.fields), None)
    tenure = ""
    if "date_joined" in prof_fields and date_joined == "date":
        tenure = (", date_diff('day', p.date_joined, (SELECT CAST(max(event_time) AS DATE) "
                  f"FROM read_parquet({ev}))) AS tenure_days")
    # revenue by fsum (compensated): a plain sum of doubles depends on the order DuckDB's
    # threads meet the rows, and two runs gave 205.77 and 205.76999999999998
    sql = f"""
        WITH evc AS (SELECT customer_id, channel, min(event_time) AS first_ev,
                            max(event_time) AS last_ev, count(*) AS n_events,
                            bool_or(touchpoint IN ({conv})) AS converted,
                            fsum(value) FILTER (WHERE touchpoint IN ({conv})) AS revenue
                     FROM read_parquet({ev}) GROUP BY customer_id, channel),
        ev AS (SELECT customer_id, min(first_ev) AS first_ev, max(last_ev) AS last_ev,
                      sum(n_events) AS n_events,
                      string_agg(channel, ',' ORDER BY channel) AS channels,
                      count(channel) AS n_channels, bool_or(converted) AS converted,
                      fsum(revenue) AS revenue
               FROM evc GROUP BY customer_id),
        fb AS (SELECT customer_id, min(response_time) AS first_fb, max(response_time) AS last_fb,
                      count(*) AS n_feedback
               FROM read_parquet({fb}) WHERE customer_id IS NOT NULL GROUP BY customer_id),
        base AS (SELECT c.customer_id, least(ev.first_ev, fb.first_fb) AS first_seen,
                        greatest(ev.last_ev, fb.last_fb) AS last_seen,
                        coalesce(ev.n_events, 0)::BIGINT AS n_events,
                        coalesce(ev.channels, '') AS channels,
                        coalesce(ev.converted, FALSE) AS converted,
                        coalesce(ev.revenue, 0.0) AS revenue,
                        coalesce(ev.n_channels, 0) AS n_channels,
                        coalesce(fb.n_feedback, 0) AS n_feedback,
                        c.n_identifiers, c.identifier_types
                        {', ' + prof_sel if prof_sel else ''} {tenure}
                 FROM _id_customers c LEFT JOIN ev ON ev.customer_id = c.customer_id
                 LEFT JOIN fb ON fb.customer_id = c.customer_id {join})
        SELECT * FROM base ORDER BY customer_id"""
    _copy_atomic(con, sql, out / "customers.parquet")
    return profiles


def _write_audit(con: Any, out: Path) -> None:
    _copy_atomic(con, "SELECT * FROM _id_audit ORDER BY customer_id NULLS LAST, "
                      "identifier_type, identifier_hash", out / "identity_audit.parquet")


def _write_quarantine(con: Any, cfg: SourcesConfig, staged: list[StagedSource], work: Path,
                      out: Path, primary: str, *, blocked: bool = True
                      ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write ``quarantine/`` and its summary; return (summary, rows per source).

    ``blocked`` says whether stitching blocked any identifier. When it blocked none, every
    accepted record of a stitched source has its first key in the identity graph, so no row
    is ``ambiguous_identity`` and every accepted customers row has a customer: the joins with
    the key map that would find them are skipped.
    """
    import pyarrow as pa

    qdir = out / "quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    mal: dict[str, list[Any]] = {"source": [], "file": [], "row": [], "detail": [],
                                 "raw_text": []}
    for s in staged:
        for x in s.landed:
            for row, detail, raw_text in x.malformed:
                mal["source"].append(s.spec.name)
                mal["file"].append(x.file)
                mal["row"].append(row)
                mal["detail"].append(detail)
                mal["raw_text"].append(raw_text)
    con.register("_malformed_arrow", pa.table({
        "source": pa.array(mal["source"], pa.string()), "file": pa.array(mal["file"], pa.string()),
        "row": pa.array(mal["row"], pa.int64()), "detail": pa.array(mal["detail"], pa.string()),
        "raw_text": pa.array(mal["raw_text"], pa.string())}))
    ev_out = path_lit(out / "events.parquet")
    fb_out = path_lit(out / "feedback.parquet")
    ev_counts = dict(con.execute(f"SELECT source, count(*) FROM read_parquet({ev_out}) "
                                 "GROUP BY source").fetchall())
    fb_counts = {r[0]: (r[1], r[2]) for r in con.execute(
        f"SELECT source, count(DISTINCT (raw_file, raw_row)), count(*) "
        f"FROM read_parquet({fb_out}) GROUP BY source").fetchall()}
    summary_rows = []
    source_rows = []
    written = set()
    for s in staged:
        name = s.spec.name
        is_json = bool(s.landed) and s.landed[0].format == "jsonl"
        parts = [f"""SELECT source, file, row, NULL::VARCHAR AS "column",
                            {lit('unparseable_record' if is_json else 'malformed_row')} AS reason,
                            NULL::VARCHAR AS value, detail, NULL::VARCHAR AS record, raw_text
                     FROM _malformed_arrow WHERE source = {lit(name)}"""]
        if s.stage is not None:
            st = path_lit(s.stage)
            parts.append(f"""SELECT _source, _file, _row, _column, _reason, _value, _detail,
                                    _record, _raw_text FROM read_parquet({st})
                             WHERE _reason IS NOT NULL AND _item = 0""")
            if s.spec.kind == "events":
                parts.append(f"""SELECT _source, _file, _row, NULL, 'near_duplicate', NULL,
                                        _detail, NULL, NULL FROM _near_drop
                                 WHERE _source = {lit(name)}""")
            if s.spec.stitch and blocked:
                parts.append(f"""SELECT DISTINCT s._source, s._file, s._row, NULL,
                                        'ambiguous_identity', NULL,
                                        'every identifier of the row is blocked as shared',
                                        NULL, NULL
                                 FROM read_parquet({st}) s LEFT JOIN _id_keymap m
                                      ON m.key = {primary}
                                 WHERE s._reason IS NULL AND m.customer_id IS NULL""")
        union = (f"SELECT * FROM ({' UNION ALL '.join(parts)}) "
                 "q(source, file, \"row\", \"column\", reason, value, detail, record, raw_text)")
        if s.members is not None:
            # the raw rows rolled up into a rejected row share its fate and its reason
            union = f"""
                WITH b AS ({union})
                SELECT * FROM b UNION ALL
                SELECT f.source, m._file, m._row, NULL, f.reason, NULL,
                       'rolled up into ' || f.file || ' row ' || f."row" || ', which was '
                       || 'rejected: ' || f.reason, NULL, NULL
                FROM read_parquet({path_lit(s.members)}) m
                JOIN (SELECT DISTINCT ON (file, "row") * FROM b ORDER BY file, "row", reason) f
                  ON f.file = m._first_file AND f."row" = m._first_row"""
        sql = f"SELECT * FROM ({union}) ORDER BY file, \"row\", reason"
        _copy_atomic(con, sql, qdir / f"{name}.parquet")
        written.add(f"{name}.parquet")
        qpath = path_lit(qdir / f"{name}.parquet")
        for r in con.execute(f"""SELECT file, reason, "column", count(*) FROM read_parquet({qpath})
                                 GROUP BY ALL ORDER BY ALL""").fetchall():
            summary_rows.append({"source": name, "file": r[0], "reason": r[1], "column": r[2],
                                 "rows": int(r[3])})
        n_quar = con.execute(f"SELECT count(*) FROM (SELECT DISTINCT file, \"row\" FROM "
                             f"read_parquet({qpath}))").fetchall()[0][0]
        if s.spec.kind == "events":
            out_rows = written_rows = ev_counts.get(name, 0)
        elif s.spec.kind == "feedback":
            out_rows, written_rows = fb_counts.get(name, (0, 0))
        else:
            join = (f"JOIN _id_keymap m ON m.key = {primary} " if blocked or not s.spec.stitch
                    else "")
            out_rows = 0 if s.stage is None else con.execute(
                f"SELECT count(*) FROM read_parquet({path_lit(s.stage)}) s {join}"
                "WHERE s._reason IS NULL").fetchall()[0][0]
            written_rows = out_rows
        if s.members is not None and s.spec.kind in ("events", "feedback"):
            # a rolled-up row stands for its group: its other raw rows were written too
            table = ev_out if s.spec.kind == "events" else fb_out
            out_rows += con.execute(f"""
                SELECT count(*) FROM read_parquet({path_lit(s.members)}) m SEMI JOIN (
                    SELECT DISTINCT raw_file, raw_row FROM read_parquet({table})
                    WHERE source = {lit(name)}) e
                ON e.raw_file = m._first_file AND e.raw_row = m._first_row""").fetchall()[0][0]
        source_rows.append({
            "source": name, "kind": s.spec.kind, "files": len(s.landed),
            "rows_in": int(s.rows_in), "rows_out": int(out_rows),
            "rows_quarantined": int(n_quar), "records_written": int(written_rows),
            "balanced": int(s.rows_in) == int(out_rows) + int(n_quar),
            "absent_columns": "; ".join(
                f"{a['column']} (field {a['field']}{', optional' if a['optional'] else ''}) "
                f"absent from {', '.join(a['files'])}" for a in s.absent)})
    con.unregister("_malformed_arrow")
    for stale in qdir.glob("*.parquet"):
        if stale.name not in written:
            stale.unlink()
    summary = pd.DataFrame(summary_rows, columns=["source", "file", "reason", "column", "rows"])
    atomic_write(qdir / "summary.csv", lambda tmp: summary.to_csv(tmp, index=False))
    sources = pd.DataFrame(source_rows)
    bad = sources[~sources["balanced"]]
    if len(bad):
        raise RuntimeError("rows do not reconcile (rows_in != rows_out + rows_quarantined) for "
                           f"{bad['source'].tolist()}: {bad.to_dict('records')}")
    return summary, sources


def _manifest(cfg: SourcesConfig, raw: Path, files: dict[str, list[tuple[Path | None, str]]],
              staged: list[StagedSource], sources: pd.DataFrame, quarantine: pd.DataFrame,
              identity: dict[str, Any], dedupe: dict[str, Any], tables: dict[str, Any],
              salt_source: str, hash_inputs: bool, profiles: pd.DataFrame,
              lookups: dict[str, Lookup] | None = None,
              lookup_landed: list[StagedSource] | None = None,
              digests: dict[Path, str] | None = None) -> dict[str, Any]:
    digests = digests or {}
    inputs = []
    for s in [*staged, *(lookup_landed or [])]:
        for x in s.landed:
            entry: dict[str, Any] = {"source": s.spec.name, "file": x.file, "format": x.format,
                                     "encoding": x.encoding, "rows": x.rows}
            path = raw / x.file if s.spec.format != "sql" else None
            if path is not None and path.exists():
                entry["bytes"] = path.stat().st_size
                if hash_inputs:
                    entry["sha256"] = digests.get(path) or file_sha256(path)
            inputs.append(entry)
    per_source = []
    shapes = {s.spec.name: s.shape for s in staged}  # joins and rollup counts, when declared
    # declared columns missing from files (optional ones included), when there are any
    absent = {s.spec.name: {"absent_columns": s.absent} for s in staged if s.absent}
    for rec in sources.to_dict("records"):
        q = quarantine[quarantine["source"] == rec["source"]]
        reasons = q.groupby("reason")["rows"].sum().sort_index()
        per_source.append({**{k: (bool(v) if k == "balanced" else v) for k, v in rec.items()
                              if k != "absent_columns"},
                           "quarantine_reasons": {k: int(v) for k, v in reasons.items()},
                           **shapes.get(rec["source"], {}),
                           **absent.get(rec["source"], {})})
    config_hash = {"sources": file_sha256(cfg.path)}
    # keys only present when a source declares them, so other manifests stay as they were
    optional: dict[str, Any] = {}
    if lookups:
        optional["lookups"] = [lk.report() for lk in lookups.values()]
    extras = {kind: extra_columns(cfg.sources, kind) for kind in ("events", "feedback")}
    if any(extras.values()):
        optional["extra_columns"] = {k: v for k, v in extras.items() if v}
    return {
        "created_by": f"cjmlib.collection.assembly.collect {__version__}",
        "raw_dir": str(raw),
        "configs": config_hash,
        "salt_source": salt_source,
        "rule": "rows_in = rows_out + rows_quarantined for every source",
        "plausible_times": {"earliest": cfg.plausible[0], "latest": cfg.plausible[1],
                            "rule": "event and answer times outside this window (days in "
                                    "UTC, both included) are quarantined as "
                                    "<field>_out_of_range"},
        "sources": per_source,
        "inputs": inputs,
        "unconfigured_files": _unconfigured(cfg, raw, files),
        "tables": tables,
        "identity": identity,
        "dedupe": dedupe,
        "profiles": {
            "rule": "each profile field merged over all customers rows of a customer by its "
                    "rule (profiles.merge; default first: the first non-null value in "
                    "observation order: as_of, then source, file, row)",
            "fields": {r["field"]: {k: (int(v) if k.startswith("customers") else v)
                                    for k, v in r.items() if k != "field"}
                       for r in profiles.to_dict("records")}},
        **optional,
    }
