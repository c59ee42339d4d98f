"""Collection: raw multi-channel exports to the canonical events, feedback and customers tables.

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
* events.parquet is ordered by ``customer_id``, ``event_time``, ``seq``; ``seq`` numbers a
  customer's events from 1, ties of equal time broken by the source's position in the config,
  then file and row. Given session ids are prefixed with the source (``web_clickstream:...``);
  derived ones read ``<customer_id>/<source>/<n>``.
* customers.parquet: ``channels`` is a comma-separated sorted list, ``revenue`` the sum of
  ``value`` over conversion touchpoints (configs/journey.yaml), ``first_seen``/``last_seen``
  span events and feedback, CRM fields follow (``crm_id``, ``segment``...) and ``tenure_days``
  counts from ``date_joined`` to the last event in the data.
* Re-running on the same inputs, configs and salt gives identical tables and manifest.
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import io
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.collection.identity import (
    IdentityConfig,
    StitchResult,
    hash_identifier,
    resolve_salt,
    stitch,
)
from cjmlib.core.checks import check_columns, check_scalar
from cjmlib.core.config import load_yaml, output_path, resolve_path
from cjmlib.core.engine import as_table
from cjmlib.core.io import atomic_write, file_sha256, write_json
from cjmlib.core.schema import (
    CUSTOMER_COLUMNS,
    FEEDBACK_COLUMNS,
    SCORE_RANGES,
)

# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------

SURVEY_TYPES = ("post_interaction", "relationship", "social", "interview", "market_benchmark")
KINDS = ("events", "feedback", "customers")
FORMATS = ("csv", "tsv", "jsonl", "parquet", "excel", "sql", "transcript")

# field name -> (type, required) per table kind
_EVENT_FIELDS = {"event_time": ("time", True), "channel": ("string", True),
                 "touchpoint": ("touchpoint", True), "session_id": ("string", False),
                 "duration_s": ("duration", False), "value": ("float", False)}
_FEEDBACK_FIELDS = {"response_time": ("time", False), "touchpoint": ("touchpoint", False),
                    "channel": ("string", True), "csat": ("score", False),
                    "nps": ("score", False), "ces": ("score", False), "text": ("string", False),
                    "language": ("string", False), "survey": ("string", True),
                    "response_id": ("string", False), "stage": ("string", False),
                    "brand": ("string", False)}
_PROFILE_TYPES = ("string", "float", "int", "bool", "date", "time")
_SQL_TYPES = {"time": "TIMESTAMPTZ", "date": "DATE", "string": "VARCHAR", "touchpoint": "VARCHAR",
              "float": "DOUBLE", "duration": "DOUBLE", "score": "INTEGER", "int": "BIGINT",
              "bool": "BOOLEAN"}
_DEFAULT_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M", "%Y-%m-%d",
)
_EPOCH_US = {"s": 1_000_000, "ms": 1_000, "us": 1}
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel",
               ".xlsm": "excel"}
_DEFAULT_ENCODINGS = ("utf-8", "gb18030", "cp1251")
_SAMPLE_BYTES = 1 << 20


def _progress_noop(message: str) -> None:
    """Default progress callback: say nothing."""


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """How one canonical field is filled: a constant, or a raw column parsed and mapped."""

    name: str
    column: str | None = None
    value: Any = None
    map: Mapping[str, Any] | None = None
    strict: bool = True
    formats: tuple[str, ...] = ()
    unit: str | None = None
    timezone: str | None = None
    scale: float | None = None
    type: str = "string"
    optional: bool = False


@dataclass(frozen=True)
class SourceSpec:
    """One raw source of ``configs/sources.yaml``."""

    name: str
    kind: str
    files: tuple[str, ...]
    format: str | None
    encoding: str
    encodings: tuple[str, ...]
    delimiter: str
    quote: str
    timezone: str
    identifiers: tuple[tuple[str, str], ...]  # (identifier type, raw column)
    fields: dict[str, FieldSpec]
    items: tuple[dict[str, FieldSpec], ...] = ()
    sessions: str = "none"
    stitch: bool = True
    drop: tuple[str, ...] = ()
    optional: bool = False
    sheet: str | None = None
    url: str | None = None
    query: str | None = None
    transcript: dict[str, str] = field(default_factory=dict)

    @property
    def used_columns(self) -> list[str]:
        """Raw columns the config reads (identifiers and fields), in config order."""
        cols = [c for _, c in self.identifiers]
        for spec in [*self.fields.values(), *(f for it in self.items for f in it.values())]:
            if spec.column is not None:
                cols.append(spec.column)
        return list(dict.fromkeys(cols))

    @property
    def required_columns(self) -> list[str]:
        optional = {f.column for f in self.fields.values() if f.optional}
        return [c for c in self.used_columns if c not in optional]


@dataclass(frozen=True)
class DedupeSpec:
    """Duplicate rules: exact duplicates per source, near duplicates across sources."""

    exact: bool = True
    near_tolerance_s: float = 120.0
    near_touchpoints: tuple[str, ...] | None = None  # None: every touchpoint
    near_enabled: bool = True
    prefer_sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourcesConfig:
    """``configs/sources.yaml`` read and checked against ``configs/journey.yaml``."""

    path: Path
    sources: tuple[SourceSpec, ...]
    identity: IdentityConfig
    dedupe: DedupeSpec
    ignore: tuple[str, ...]
    touchpoint_stage: dict[str, str]
    conversion_touchpoints: tuple[str, ...]
    session_timeout_minutes: float
    engine: dict[str, Any]


def load_sources(sources_path: str | os.PathLike[str] = "configs/sources.yaml",
                 config_path: str | os.PathLike[str] = "configs/journey.yaml") -> SourcesConfig:
    """Read and check the source definitions; every error names the file, source and key."""
    spath = resolve_path(sources_path, must_exist=True)
    jpath = resolve_path(config_path, must_exist=True)
    raw = load_yaml(spath)
    journey = load_yaml(jpath)
    tps = journey.get("touchpoints") or {}
    if not isinstance(tps, Mapping) or not tps:
        raise ValueError(f"{jpath}: 'touchpoints' must map each touchpoint to its stage")
    touchpoint_stage = {}
    for tp, spec in tps.items():
        stage = spec.get("stage") if isinstance(spec, Mapping) else spec
        if not isinstance(stage, str):
            raise ValueError(f"{jpath}: touchpoints.{tp} needs a stage")
        touchpoint_stage[str(tp)] = stage
    conv = tuple(journey.get("conversion_touchpoints") or ())
    timeout = journey.get("session_timeout_minutes", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError(f"{jpath}: session_timeout_minutes must be a positive number, "
                         f"got {timeout!r}")

    where = str(spath)
    known_top = {"defaults", "ignore", "identity", "dedupe", "maps", "sources", "engine"}
    unknown = sorted(set(raw) - known_top)
    if unknown:
        raise ValueError(f"{where}: unknown top-level key(s) {unknown}; expected "
                         f"{sorted(known_top)}")
    defaults = dict(raw.get("defaults") or {})
    maps = dict(raw.get("maps") or {})
    identity = IdentityConfig.from_dict(raw.get("identity"), where=f"{where}: identity")
    dedupe = _read_dedupe(raw.get("dedupe"), where, touchpoint_stage)
    sources_raw = raw.get("sources")
    if not isinstance(sources_raw, Mapping) or not sources_raw:
        raise ValueError(f"{where}: 'sources' must map each source name to its definition")
    sources = tuple(_read_source(str(name), spec, defaults, maps, identity, touchpoint_stage,
                                 where) for name, spec in sources_raw.items())
    ignore = tuple(str(p) for p in (raw.get("ignore") or ()))
    engine = dict(raw.get("engine") or {})
    return SourcesConfig(spath, sources, identity, dedupe, ignore, touchpoint_stage, conv,
                         float(timeout), engine)


def _read_dedupe(data: Any, where: str, touchpoint_stage: dict[str, str]) -> DedupeSpec:
    data = dict(data or {})
    near = data.pop("near", {}) or {}
    exact = bool(data.pop("exact", True))
    if data:
        raise ValueError(f"{where}: dedupe: unknown option(s) {sorted(data)}; expected exact, near")
    if near is False:
        return DedupeSpec(exact=exact, near_enabled=False)
    near = dict(near)
    tol = near.pop("tolerance_seconds", 120)
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or tol < 0:
        raise ValueError(f"{where}: dedupe.near.tolerance_seconds must be a number >= 0, "
                         f"got {tol!r}")
    tps = near.pop("touchpoints", None)
    if tps is not None:
        tps = tuple(str(t) for t in tps)
        bad = [t for t in tps if t not in touchpoint_stage]
        if bad:
            raise ValueError(f"{where}: dedupe.near.touchpoints: unknown touchpoint(s) {bad}; "
                             f"configs/journey.yaml declares {sorted(touchpoint_stage)}")
    prefer = tuple(str(s) for s in (near.pop("prefer", None) or ()))
    if near:
        raise ValueError(f"{where}: dedupe.near: unknown option(s) {sorted(near)}; expected "
                         "tolerance_seconds, touchpoints, prefer")
    return DedupeSpec(exact, float(tol), tps, True, prefer)


_SOURCE_KEYS = {"kind", "files", "format", "encoding", "encodings", "delimiter", "quote",
                "timezone", "identifiers", "fields", "items", "sessions", "stitch", "drop",
                "optional", "sheet", "url", "query", "transcript", "strict_touchpoints"}
_FIELD_KEYS = {"column", "value", "map", "strict", "formats", "unit", "timezone", "scale", "type",
               "optional"}


def _read_source(name: str, spec: Any, defaults: dict[str, Any], maps: dict[str, Any],
                 identity: IdentityConfig, touchpoint_stage: dict[str, str],
                 where: str) -> SourceSpec:
    at = f"{where}: source {name!r}"
    if not isinstance(spec, Mapping):
        raise ValueError(f"{at}: expected a mapping of options")
    spec = {**{k: v for k, v in defaults.items() if k in _SOURCE_KEYS}, **spec}
    unknown = sorted(set(spec) - _SOURCE_KEYS)
    if unknown:
        raise ValueError(f"{at}: unknown option(s) {unknown}; expected {sorted(_SOURCE_KEYS)}")
    kind = spec.get("kind")
    if kind not in KINDS:
        raise ValueError(f"{at}: kind must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    fmt = spec.get("format")
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"{at}: format must be one of {', '.join(map(repr, FORMATS))}, "
                         f"got {fmt!r}")
    files = spec.get("files")
    if fmt == "sql":
        files = files or ()
        if not spec.get("query") or not spec.get("url"):
            raise ValueError(f"{at}: a sql source needs 'url' (sqlite:///file.db or "
                             "duckdb:///file.duckdb) and 'query'")
    elif not files:
        raise ValueError(f"{at}: 'files' (a glob relative to raw_dir) is required")
    files = (files,) if isinstance(files, str) else tuple(str(f) for f in files)
    tz = str(spec.get("timezone", "UTC"))
    strict_tp = bool(spec.get("strict_touchpoints", True))

    ids = spec.get("identifiers") or {}
    if not isinstance(ids, Mapping):
        raise ValueError(f"{at}: identifiers must map identifier type -> raw column")
    identifiers = []
    for t, cols in ids.items():
        identity.type(str(t))  # raises on unknown types
        for c in [cols] if isinstance(cols, str) else list(cols):
            identifiers.append((str(t), str(c)))
    prio = identity.priority
    identifiers.sort(key=lambda tc: prio[tc[0]])
    stitch_ = bool(spec.get("stitch", True))
    if kind == "events" and not stitch_:
        raise ValueError(f"{at}: events must be stitched to customers (stitch: false is only "
                         "for feedback about non-customers, such as a market benchmark)")
    if stitch_ and not identifiers:
        raise ValueError(f"{at}: no identifiers; declare at least one (e.g. crm: customer_no) "
                         "or set stitch: false for rows that are not about customers")

    allowed = (_EVENT_FIELDS if kind == "events" else _FEEDBACK_FIELDS if kind == "feedback"
               else None)
    fields_raw = dict(spec.get("fields") or {})
    fields: dict[str, FieldSpec] = {}
    for fname, fspec in fields_raw.items():
        fname = str(fname)
        if allowed is not None and fname not in allowed:
            raise ValueError(f"{at}: unknown field {fname!r} for {kind}; expected one of "
                             f"{sorted(allowed)}")
        ftype = allowed[fname][0] if allowed is not None else None
        fields[fname] = _read_field(fname, fspec, ftype, tz, maps, f"{at}: fields.{fname}",
                                    touchpoint_stage, strict_tp)
    if allowed is not None:
        items_raw = spec.get("items") or ()
        item_fields = {k for it in items_raw for k in (it or {})}
        missing = [f for f, (_, req) in allowed.items()
                   if req and f not in fields and f not in item_fields]
        if missing:
            raise ValueError(f"{at}: missing required field(s) {missing} for {kind}")
    items = []
    for i, it in enumerate(spec.get("items") or ()):
        if kind != "feedback" or not isinstance(it, Mapping):
            raise ValueError(f"{at}: items[{i}]: items are for wide feedback sources, as "
                             "mappings such as {touchpoint: payment, csat: sat_payment}")
        item = {}
        for fname, val in it.items():
            fname = str(fname)
            if fname not in _FEEDBACK_FIELDS:
                raise ValueError(f"{at}: items[{i}]: unknown field {fname!r}")
            if fname in ("touchpoint", "stage", "survey", "channel", "language", "brand"):
                # in items these name a constant (the item's touchpoint), not a column
                fs = {"value": val}
            else:
                fs = {"column": val} if isinstance(val, str) else val
            item[fname] = _read_field(fname, fs, _FEEDBACK_FIELDS[fname][0], tz, maps,
                                      f"{at}: items[{i}].{fname}", touchpoint_stage, strict_tp)
        items.append(item)
    if kind == "feedback":
        survey = fields.get("survey")
        if survey is not None and survey.column is None and survey.value not in SURVEY_TYPES:
            raise ValueError(f"{at}: fields.survey must be one of "
                             f"{', '.join(map(repr, SURVEY_TYPES))}, got {survey.value!r}")
    sessions = spec.get("sessions")
    if sessions is None:
        sessions = "given" if "session_id" in fields else "none"
    if sessions not in ("given", "derive", "none"):
        raise ValueError(f"{at}: sessions must be 'given', 'derive' or 'none', got {sessions!r}")
    if sessions == "given" and "session_id" not in fields:
        raise ValueError(f"{at}: sessions: given needs fields.session_id")
    if sessions != "none" and kind != "events":
        raise ValueError(f"{at}: sessions are for events sources")
    encodings = tuple(str(e) for e in (spec.get("encodings") or _DEFAULT_ENCODINGS))
    encoding = str(spec.get("encoding", "auto"))
    for enc in (*encodings, *([] if encoding == "auto" else [encoding])):
        try:
            codecs.lookup(enc)
        except LookupError:
            raise ValueError(f"{at}: unknown encoding {enc!r}") from None
    transcript = {"separator": "---", "speaker": "Customer", "prompt": "Interviewer",
                  **{str(k): str(v) for k, v in (spec.get("transcript") or {}).items()}}
    delimiter = str(spec.get("delimiter", "\t" if fmt == "tsv" else ","))
    return SourceSpec(
        name=name, kind=kind, files=files, format=fmt, encoding=encoding, encodings=encodings,
        delimiter=delimiter, quote=str(spec.get("quote", '"')), timezone=tz,
        identifiers=tuple(identifiers), fields=fields, items=tuple(items), sessions=sessions,
        stitch=stitch_, drop=tuple(str(c) for c in (spec.get("drop") or ())),
        optional=bool(spec.get("optional", False)), sheet=spec.get("sheet"),
        url=spec.get("url"), query=spec.get("query"), transcript=transcript)


def _read_field(fname: str, fspec: Any, ftype: str | None, tz: str, maps: dict[str, Any],
                at: str, touchpoint_stage: dict[str, str], strict_tp: bool) -> FieldSpec:
    if fspec is None or not isinstance(fspec, Mapping):
        # a plain scalar is a constant (channel: web); null says "not in this source"
        fspec = {"value": fspec}
    fspec = dict(fspec)
    unknown = sorted(set(fspec) - _FIELD_KEYS)
    if unknown:
        raise ValueError(f"{at}: unknown option(s) {unknown}; expected {sorted(_FIELD_KEYS)}")
    if ("column" in fspec) == ("value" in fspec):
        raise ValueError(f"{at}: give either 'column' (a raw column) or 'value' (a constant)")
    typ = ftype or str(fspec.get("type", "string"))
    if ftype is None and typ not in _PROFILE_TYPES:
        raise ValueError(f"{at}: type must be one of {', '.join(map(repr, _PROFILE_TYPES))}, "
                         f"got {typ!r}")
    mapping = fspec.get("map")
    if isinstance(mapping, str):
        if mapping not in maps:
            raise ValueError(f"{at}: map {mapping!r} is not defined under 'maps'")
        mapping = maps[mapping]
    if mapping is not None:
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{at}: map must be a mapping raw value -> canonical value")
        mapping = {str(k): v for k, v in mapping.items()}
    if typ == "touchpoint":
        targets = list(mapping.values()) if mapping else []
        if "value" in fspec and fspec["value"] is not None:
            targets.append(fspec["value"])
        bad = sorted({str(t) for t in targets if t is not None and t not in touchpoint_stage})
        if bad:
            raise ValueError(f"{at}: unknown touchpoint(s) {bad}; configs/journey.yaml "
                             f"declares {sorted(touchpoint_stage)}")
    unit = fspec.get("unit")
    if unit is not None and unit not in _EPOCH_US:
        raise ValueError(f"{at}: unit must be 's', 'ms' or 'us' (epoch time), got {unit!r}")
    formats = fspec.get("formats") or ()
    formats = (formats,) if isinstance(formats, str) else tuple(str(f) for f in formats)
    scale = fspec.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
        raise ValueError(f"{at}: scale must be a number, got {scale!r}")
    strict = bool(fspec.get("strict", strict_tp if typ == "touchpoint" else True))
    return FieldSpec(name=fname, column=fspec.get("column"), value=fspec.get("value"),
                     map=mapping, strict=strict, formats=formats, unit=unit,
                     timezone=str(fspec.get("timezone", tz)), scale=scale, type=typ,
                     optional=bool(fspec.get("optional", False)))


# --------------------------------------------------------------------------------------------
# Encodings
# --------------------------------------------------------------------------------------------


def detect_encoding(path: str | os.PathLike[str],
                    candidates: tuple[str, ...] = _DEFAULT_ENCODINGS) -> str:
    """Encoding of a text file: a byte-order mark wins, else the first candidate that decodes
    the first megabyte strictly and plausibly.

    A GB18030 decoding counts as plausible when most non-ASCII characters are CJK (Russian
    cp1251 bytes often decode as rare Chinese characters); UTF-8 comes first because other
    multi-byte encodings almost never decode valid UTF-8 text by accident. Returns a Python
    codec name (``utf-8-sig`` when the file starts with a UTF-8 BOM). Raises ``ValueError``
    naming the file and the encodings tried when none fits.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(_SAMPLE_BYTES)
        more = bool(fh.read(1))
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if more:  # cut at the last newline so a character is never split
        cut = head.rfind(b"\n")
        head = head[: cut + 1] if cut > 0 else head
    errors = []
    for enc in candidates:
        try:
            text = head.decode(enc)
        except UnicodeDecodeError as exc:
            errors.append(f"{enc}: byte 0x{head[exc.start]:02x} at offset {exc.start}")
            continue
        if codecs.lookup(enc).name in ("gb18030", "gbk", "gb2312") and not _looks_chinese(text):
            errors.append(f"{enc}: decodes, but not to Chinese text")
            continue
        return enc
    raise ValueError(f"{p}: unreadable encoding; tried {', '.join(candidates)} "
                     f"({'; '.join(errors)}); set 'encoding' for this source in the sources "
                     "config")


def _looks_chinese(text: str) -> bool:
    non_ascii = [c for c in text if ord(c) > 127]
    if not non_ascii:
        return True
    cjk = sum(1 for c in non_ascii if "\u4e00" <= c <= "\u9fff" or "\u3000" <= c <= "\u303f"
              or "\uff00" <= c <= "\uffef")
    return cjk / len(non_ascii) >= 0.9


# --------------------------------------------------------------------------------------------
# Landing: stream a raw file into Parquet with row numbers
# --------------------------------------------------------------------------------------------


@dataclass
class _Landed:
    file: str
    path: Path | None  # landing parquet (None when the file has no rows)
    rows: int  # records read, malformed ones included
    malformed: list[tuple[int, str]]  # (row, detail)
    columns: list[str]
    encoding: str | None
    format: str


def _file_format(spec: SourceSpec, path: Path) -> str:
    if spec.format:
        return spec.format
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: cannot tell the format from the extension {path.suffix!r}; "
                         f"set 'format' for source {spec.name!r}")
    return fmt


def _land(spec: SourceSpec, path: Path | None, rel: str, dest: Path, raw_root: Path) -> _Landed:
    """Stream one raw file (or a SQL query) into ``dest`` (Parquet: raw columns + ``_row``)."""
    fmt = _file_format(spec, path) if path is not None else "sql"
    if path is not None and path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (0 bytes) for source {spec.name!r}; expected a "
                         f"header with columns {spec.required_columns}")
    if fmt in ("csv", "tsv"):
        return _land_csv(spec, path, rel, dest, fmt)
    if fmt == "jsonl":
        return _land_jsonl(spec, path, rel, dest)
    if fmt == "parquet":
        return _land_batches(spec, rel, dest, fmt, _parquet_batches(path))
    if fmt == "excel":
        return _land_batches(spec, rel, dest, fmt, _excel_batches(spec, path))
    if fmt == "transcript":
        enc = (detect_encoding(path, spec.encodings) if spec.encoding == "auto"
               else spec.encoding)
        return _land_batches(spec, rel, dest, fmt, _transcript_batches(spec, path, enc),
                             encoding=enc)
    return _land_batches(spec, rel, dest, fmt, _sql_batches(spec, raw_root))


class _NeedsRowNumbers(Exception):
    """A malformed row met while reading with threads: read again single-threaded."""


def _release_arrow_memory() -> None:
    """Hand pyarrow's cached buffers back to the system between files (peak memory)."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()


def _write_batches(dest: Path, batches: Iterator[Any], columns: list[str] | None = None
                   ) -> tuple[int, list[str]]:
    """Write record batches (already numbered) to Parquet; return (rows, columns)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    rows = 0
    try:
        for batch in batches:
            if writer is None:
                writer = pq.ParquetWriter(dest, batch.schema, compression="none")
            if batch.num_rows:
                writer.write_batch(batch, row_group_size=1 << 20)
                rows += batch.num_rows
        if writer is None:
            cols = columns or []
            schema = pa.schema([(c, pa.string()) for c in cols] + [("_row", pa.int64())])
            writer = pq.ParquetWriter(dest, schema)
            columns_out = cols
        else:
            columns_out = [n for n in writer.schema.names if n != "_row"]
    finally:
        if writer is not None:
            writer.close()
    return rows, columns_out


def _number(batch: Any, start: int, skip: list[int] | None = None) -> tuple[Any, int]:
    """Append ``_row`` (1-based), skipping row numbers taken by malformed rows."""
    import pyarrow as pa

    n = batch.num_rows
    if skip:
        lo = start
        nums = []
        skip_set = set(skip)
        k = lo
        while len(nums) < n:
            if k not in skip_set:
                nums.append(k)
            k += 1
        arr = np.asarray(nums, dtype=np.int64)
        nxt = k
    else:
        arr = np.arange(start, start + n, dtype=np.int64)
        nxt = start + n
    cols = list(batch.columns) + [pa.array(arr)]
    names = list(batch.schema.names) + ["_row"]
    return pa.RecordBatch.from_arrays(cols, names=names), nxt


def _read_header(path: Path, encoding: str, delimiter: str, quote: str) -> list[str]:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    end = head.find(b"\n")
    first = head if end < 0 else head[: end + 1]
    try:
        text = first.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: unreadable encoding: the header is not {encoding} "
                         f"({exc.reason} at byte {exc.start})") from None
    header = next(csv.reader(io.StringIO(text), delimiter=delimiter, quotechar=quote or None),
                  [])
    header = [h.strip() for h in header]
    if not header or not any(header):
        raise ValueError(f"{path}: empty file (no header line)")
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ValueError(f"{path}: duplicate column name(s) {dupes}; found {header}")
    if any(not h for h in header):
        raise ValueError(f"{path}: a column has no name (position "
                         f"{header.index('') + 1}); found {header}")
    return header


def _land_csv(spec: SourceSpec, path: Path, rel: str, dest: Path, fmt: str) -> _Landed:
    import pyarrow as pa
    import pyarrow.csv as pc

    enc = (detect_encoding(path, spec.encodings) if spec.encoding == "auto"
           else spec.encoding)
    delimiter = "\t" if fmt == "tsv" and spec.delimiter == "," else spec.delimiter
    header = _read_header(path, enc, delimiter, spec.quote)
    check_columns(pd.DataFrame(columns=header), spec.required_columns,
                  what=f"{path} (source {spec.name!r})")
    arrow_enc = "utf8" if codecs.lookup(enc).name in ("utf-8", "utf-8-sig") else enc
    convert = pc.ConvertOptions(column_types={h: pa.string() for h in header},
                                strings_can_be_null=False, quoted_strings_can_be_null=False)

    def attempt(threaded: bool) -> tuple[int, list[str], list[tuple[int, str]]]:
        bad: list[tuple[int, str]] = []
        stopped: list[bool] = []

        def on_invalid(row: Any) -> str:
            if threaded:  # row numbers are only known single-threaded: start again that way
                stopped.append(True)
                return "error"
            # row.number counts the header as 1 (blank lines skipped): record = number - 1
            bad.append((int(row.number) - 1, f"expected {row.expected_columns} columns, "
                        f"found {row.actual_columns}"))
            return "skip"

        read = pc.ReadOptions(column_names=header, skip_rows=1, encoding=arrow_enc,
                              use_threads=threaded, block_size=8 << 20)
        parse = pc.ParseOptions(delimiter=delimiter, quote_char=spec.quote or False,
                                newlines_in_values=True, invalid_row_handler=on_invalid)

        def batches() -> Iterator[Any]:
            start = 1
            try:
                reader = pc.open_csv(path, read_options=read, parse_options=parse,
                                     convert_options=convert)
                for batch in reader:
                    skip = [r for r, _ in bad if r >= start]
                    out, start = _number(batch, start, skip)
                    yield out
            except UnicodeDecodeError as exc:
                raise ValueError(f"{path}: unreadable encoding: not valid {enc} "
                                 f"({exc.reason}); set 'encoding' for source {spec.name!r}"
                                 ) from None
            except pa.ArrowInvalid as exc:
                if stopped:
                    raise _NeedsRowNumbers from None
                msg = str(exc)
                m = re.search(r"column #(\d+)", msg)
                col = (f" in column {header[int(m.group(1))]!r}"
                       if m and int(m.group(1)) < len(header) else "")
                if "UTF8" in msg or "utf8" in msg or "UTF-8" in msg:
                    raise ValueError(f"{path}: unreadable encoding: invalid {enc} bytes{col}; "
                                     f"set 'encoding' for source {spec.name!r}") from None
                raise ValueError(f"{path}: cannot parse as {fmt.upper()}{col}: {msg}") from None

        rows, cols = _write_batches(dest, batches(), header)
        return rows, cols, bad

    try:
        rows, cols, bad = attempt(threaded=True)
    except _NeedsRowNumbers:
        dest.unlink(missing_ok=True)
        rows, cols, bad = attempt(threaded=False)
    _release_arrow_memory()
    return _Landed(rel, dest, rows + len(bad), sorted(bad), cols, enc, fmt)


def _land_jsonl(spec: SourceSpec, path: Path, rel: str, dest: Path) -> _Landed:
    import pyarrow as pa
    import pyarrow.csv as pc

    enc = (detect_encoding(path, spec.encodings) if spec.encoding == "auto"
           else spec.encoding)
    arrow_enc = "utf8" if codecs.lookup(enc).name in ("utf-8", "utf-8-sig") else enc
    bad: list[tuple[int, str]] = []

    def on_invalid(row: Any) -> str:
        bad.append((int(row.number), "control character 0x1f in the line"))
        return "skip"

    # one column per line: JSON text never contains a raw 0x1f, so no line is ever split
    read = pc.ReadOptions(column_names=["_line"], encoding=arrow_enc, use_threads=False,
                          block_size=16 << 20)
    parse = pc.ParseOptions(delimiter="\x1f", quote_char=False, escape_char=False,
                            double_quote=False, newlines_in_values=False,
                            ignore_empty_lines=False, invalid_row_handler=on_invalid)
    convert = pc.ConvertOptions(column_types={"_line": pa.string()}, strings_can_be_null=False)

    def batches() -> Iterator[Any]:
        start = 1
        try:
            for batch in pc.open_csv(path, read_options=read, parse_options=parse,
                                     convert_options=convert):
                skip = [r for r, _ in bad if r >= start]
                out, start = _number(batch, start, skip)
                yield out
        except (UnicodeDecodeError, pa.ArrowInvalid) as exc:
            raise ValueError(f"{path}: unreadable encoding: not valid {enc} ({exc}); set "
                             f"'encoding' for source {spec.name!r}") from None

    rows, _ = _write_batches(dest, batches(), ["_line"])
    return _Landed(rel, dest, rows + len(bad), sorted(bad), ["_line"], enc, "jsonl")


def _land_batches(spec: SourceSpec, rel: str, dest: Path, fmt: str, batches: Iterator[Any],
                  encoding: str | None = None) -> _Landed:
    state = {"start": 1}

    def numbered() -> Iterator[Any]:
        for batch in batches:
            if "_row" in batch.schema.names:  # already numbered (transcripts: line numbers)
                yield batch
            else:
                out, state["start"] = _number(batch, state["start"])
                yield out

    rows, cols = _write_batches(dest, numbered())
    return _Landed(rel, dest, rows, [], cols, encoding, fmt)


def _parquet_batches(path: Path) -> Iterator[Any]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for a broken file
        raise ValueError(f"{path}: cannot read as Parquet: {exc}") from None
    yielded = False
    for batch in pf.iter_batches(batch_size=1 << 17):
        yielded = True
        yield batch
    if not yielded:
        yield _empty_batch(pf.schema_arrow)


def _empty_batch(schema: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays([pa.array([], type=f.type) for f in schema],
                                      names=schema.names)


def _strings_batch(header: list[str], rows: list[list[Any]]) -> Any:
    import pyarrow as pa

    cols = list(zip(*rows, strict=True)) if rows else [[] for _ in header]
    return pa.RecordBatch.from_arrays(
        [pa.array([_cell_text(v) for v in col], pa.string()) for col in cols], names=header)


def _cell_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if hasattr(v, "isoformat"):
        return v.isoformat(sep=" ") if hasattr(v, "hour") else v.isoformat()
    return str(v)


def _excel_batches(spec: SourceSpec, path: Path) -> Iterator[Any]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise ValueError(f"{path}: cannot open as an Excel workbook: {exc}") from None
    try:
        if spec.sheet is not None and spec.sheet not in wb.sheetnames:
            raise ValueError(f"{path}: no sheet {spec.sheet!r}; found sheets {wb.sheetnames}")
        ws = wb[spec.sheet] if spec.sheet is not None else wb.worksheets[0]
        it = ws.iter_rows(values_only=True)
        header_row = next(it, None)
        if header_row is None:
            raise ValueError(f"{path}: empty sheet {ws.title!r} (no header row)")
        header = [str(h).strip() if h is not None else "" for h in header_row]
        while header and header[-1] == "":
            header.pop()
        if not header:
            raise ValueError(f"{path}: empty sheet {ws.title!r} (no header row)")
        check_columns(pd.DataFrame(columns=header), spec.required_columns,
                      what=f"{path} (source {spec.name!r})")
        chunk: list[list[Any]] = []
        yielded = False
        for row in it:
            vals = list(row[: len(header)]) + [None] * max(0, len(header) - len(row))
            if all(v is None for v in vals):
                continue  # trailing blank rows of a sheet are not records
            chunk.append(vals)
            if len(chunk) >= 50_000:
                yield _strings_batch(header, chunk)
                yielded = True
                chunk = []
        if chunk or not yielded:
            yield _strings_batch(header, chunk)
    finally:
        wb.close()


def _sql_batches(spec: SourceSpec, raw_root: Path | None) -> Iterator[Any]:
    url = str(spec.url)
    m = re.match(r"^(sqlite|duckdb):///(.+)$", url)
    if not m:
        raise ValueError(f"source {spec.name!r}: url must be sqlite:///path or duckdb:///path, "
                         f"got {url!r}")
    engine, db = m.group(1), Path(m.group(2))
    if not db.is_absolute() and raw_root is not None:
        db = raw_root / db
    if not db.exists():
        raise FileNotFoundError(f"{db}: database of source {spec.name!r} not found")
    if engine == "sqlite":
        import sqlite3

        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            try:
                cur = con.execute(str(spec.query))
            except sqlite3.Error as exc:
                raise ValueError(f"{db}: query of source {spec.name!r} failed: {exc}") from None
            header = [d[0] for d in cur.description]
            check_columns(pd.DataFrame(columns=header), spec.required_columns,
                          what=f"{db} (source {spec.name!r}, query)")
            yielded = False
            while True:
                rows = cur.fetchmany(50_000)
                if not rows and yielded:
                    break
                yield _strings_batch(header, [list(r) for r in rows])
                yielded = True
                if not rows:
                    break
        finally:
            con.close()
    else:
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        try:
            try:
                reader = con.sql(str(spec.query)).to_arrow_reader(1 << 17)
            except duckdb.Error as exc:
                raise ValueError(f"{db}: query of source {spec.name!r} failed: {exc}") from None
            check_columns(pd.DataFrame(columns=reader.schema.names), spec.required_columns,
                          what=f"{db} (source {spec.name!r}, query)")
            yielded = False
            for batch in reader:
                yielded = True
                yield batch
            if not yielded:
                yield _empty_batch(reader.schema)
        finally:
            con.close()


def _transcript_batches(spec: SourceSpec, path: Path, enc: str) -> Iterator[Any]:
    """Interview transcript: ``key: value`` header, a separator line, then speaker turns.

    One record per customer turn: the header keys, ``text``, ``question`` (the interviewer's
    previous turn) and ``turn`` (1-based); the record's row is its line number.
    """
    import pyarrow as pa

    sep, speaker, prompt = (spec.transcript["separator"], spec.transcript["speaker"],
                            spec.transcript["prompt"])
    try:
        lines = path.read_text(encoding=enc).splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: unreadable encoding: not valid {enc} ({exc.reason} at byte "
                         f"{exc.start}); set 'encoding' for source {spec.name!r}") from None
    header: dict[str, str] = {}
    body_start = None
    for i, line in enumerate(lines):
        if line.strip() == sep:
            body_start = i + 1
            break
        if line.strip():
            key, colon, value = line.partition(":")
            if not colon:
                raise ValueError(f"{path}: line {i + 1}: expected 'key: value' in the header "
                                 f"block before {sep!r}, found {line!r}")
            header[key.strip()] = value.strip()
    if body_start is None:
        raise ValueError(f"{path}: no {sep!r} line separating the header from the dialogue")
    check_columns(pd.DataFrame(columns=[*header, "text", "question", "turn"]),
                  spec.required_columns, what=f"{path} (source {spec.name!r}, header)")
    recs: list[dict[str, Any]] = []
    question: str | None = None
    current: dict[str, Any] | None = None
    for i in range(body_start, len(lines)):
        line = lines[i]
        who, colon, said = line.partition(":")
        if colon and who.strip() in (speaker, prompt):
            current = None
            if who.strip() == speaker:
                current = {"text": said.strip(), "question": question, "line": i + 1}
                recs.append(current)
            else:
                question = said.strip()
        elif line.strip() and current is not None:
            current["text"] += "\n" + line.strip()  # a turn continued on the next line
    names = [*header, "text", "question", "turn"]
    arrays = [pa.array([header[k]] * len(recs), pa.string()) for k in header]
    arrays += [pa.array([r["text"] for r in recs], pa.string()),
               pa.array([r["question"] for r in recs], pa.string()),
               pa.array([str(k + 1) for k in range(len(recs))], pa.string())]
    batch = pa.RecordBatch.from_arrays(arrays, names=names)
    # rows are line numbers here: number them directly and hand over with _row
    rows = pa.array([r["line"] for r in recs], pa.int64())
    yield pa.RecordBatch.from_arrays([*batch.columns, rows], names=[*names, "_row"])


# --------------------------------------------------------------------------------------------
# SQL helpers
# --------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    """Quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def _lit(value: Any) -> str:
    """SQL literal of a Python scalar."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return "'" + str(value).replace("'", "''") + "'"


def _path_lit(path: Path | str) -> str:
    return _lit(str(path))


def _txt(expr: str) -> str:
    return f"nullif(trim(CAST({expr} AS VARCHAR)), '')"


class _Compiler:
    """Builds the validation query of one source: parsed fields plus ordered error checks."""

    def __init__(self, spec: SourceSpec, cfg: SourcesConfig, columns: dict[str, str]) -> None:
        self.spec, self.cfg, self.columns = spec, cfg, columns
        self.select: list[tuple[str, str]] = []  # (expression over src, alias) in f
        # (condition, reason, raw column, raw value) in the order they are checked
        self.checks: list[tuple[str, str, str | None, str | None]] = []
        self.joins: list[str] = []
        self._n = 0

    def add(self, expr: str) -> str:
        self._n += 1
        alias = f"_x{self._n}"
        self.select.append((expr, alias))
        return alias

    def raw(self, col: str) -> str:
        return f"src.{_q(col)}" if col in self.columns else "NULL"

    def check(self, cond: str, reason: str, column: str | None, value: str | None) -> None:
        self.checks.append((cond, reason, column, value))

    # ---- fields -------------------------------------------------------------------------

    def field(self, fs: FieldSpec, required: bool) -> str:
        """Alias (in f) of the parsed field; registers its checks."""
        typ = fs.type
        sqlt = _SQL_TYPES[typ]
        if fs.column is None:
            if fs.value is None:
                return self.add(f"CAST(NULL AS {sqlt})")
            if typ == "time":
                return self.add(f"CAST({_lit(fs.value)} AS TIMESTAMPTZ)")
            return self.add(f"CAST({_lit(fs.value)} AS {sqlt})")
        col = fs.column
        if col not in self.columns:  # optional column absent from this file
            return self.add(f"CAST(NULL AS {sqlt})")
        ctype = self.columns[col].upper()
        t = self.add(_txt(self.raw(col)))
        name = fs.name
        if typ == "time":
            p = self.add(self._time(fs, self.raw(col), t, ctype))
            if required:
                self.check(f"{t} IS NULL", "missing_time", col, None)
            self.check(f"{t} IS NOT NULL AND {p} IS NULL", "unparseable_time", col, t)
            return p
        if typ == "date":
            if ctype.startswith(("TIMESTAMP", "DATE")):
                p = self.add(f"CAST({self.raw(col)} AS DATE)")
            else:
                fmts = ", ".join(_lit(f) for f in (fs.formats or ("%Y-%m-%d",)))
                p = self.add(f"CAST(try_strptime({t}, [{fmts}]) AS DATE)")
            self.check(f"{t} IS NOT NULL AND {p} IS NULL", "unparseable_date", col, t)
            return p
        if typ in ("float", "duration", "score", "int"):
            num = (f"CAST({self.raw(col)} AS DOUBLE)" if _is_numeric(ctype)
                   else f"TRY_CAST({t} AS DOUBLE)")
            x = self.add(f"CASE WHEN isfinite({num}) THEN {num} END")
            if fs.scale is not None:
                x = self.add(f"{x} * {_lit(float(fs.scale))}")
            self.check(f"{t} IS NOT NULL AND {x} IS NULL", "unparseable_number", col, t)
            if typ == "duration":
                self.check(f"{x} < 0", "negative_duration", col, t)
                return x
            if typ == "score":
                lo, hi = SCORE_RANGES[name]
                self.check(f"{x} < {lo} OR {x} > {hi}", f"{name}_out_of_range", col, t)
                self.check(f"{x} <> round({x})", f"{name}_not_integer", col, t)
                return self.add(f"CAST({x} AS INTEGER)")
            if typ == "int":
                self.check(f"{x} <> round({x})", "unparseable_number", col, t)
                return self.add(f"CAST({x} AS BIGINT)")
            if required:
                self.check(f"{x} IS NULL", f"missing_{name}", col, None)
            return x
        if typ == "bool":
            if fs.map:
                mapped = self._map(fs, t, "BOOLEAN")
            else:
                mapped = (f"CASE WHEN lower({t}) IN ('true', '1', 'yes', 'y', 't') THEN TRUE "
                          f"WHEN lower({t}) IN ('false', '0', 'no', 'n', 'f') THEN FALSE END")
            p = self.add(mapped)
            self.check(f"{t} IS NOT NULL AND {p} IS NULL", f"unknown_{name}", col, t)
            return p
        # strings and touchpoints
        if fs.map:
            mapped = self.add(self._map(fs, t, "VARCHAR"))
            if fs.strict:
                self.check(f"{t} IS NOT NULL AND {mapped} IS NULL", f"unknown_{name}", col, t)
                p = mapped
            else:
                p = self.add(f"coalesce({mapped}, {t})")
        else:
            p = t
            if typ == "touchpoint" and fs.strict:
                known = ", ".join(_lit(k) for k in self.cfg.touchpoint_stage)
                self.check(f"{t} IS NOT NULL AND {t} NOT IN ({known})", "unknown_touchpoint",
                           col, t)
        if required:
            self.check(f"{t} IS NULL", f"missing_{name}", col, None)
        return p

    def _map(self, fs: FieldSpec, t: str, sqlt: str) -> str:
        whens = " ".join(f"WHEN {_lit(k)} THEN CAST({_lit(v)} AS {sqlt})"
                         for k, v in (fs.map or {}).items())
        return f"CASE {t} {whens} END" if whens else f"CAST(NULL AS {sqlt})"

    def _time(self, fs: FieldSpec, raw: str, t: str, ctype: str) -> str:
        tz = _lit(fs.timezone or self.spec.timezone)
        if ctype.startswith("TIMESTAMP") and ("TIME ZONE" in ctype or "TZ" in ctype):
            return f"CAST({raw} AS TIMESTAMPTZ)"
        if ctype.startswith(("TIMESTAMP", "DATE")):
            return f"timezone({tz}, CAST({raw} AS TIMESTAMP))"
        if fs.unit:
            factor = _EPOCH_US[fs.unit]
            num = (f"CAST({raw} AS DOUBLE)" if _is_numeric(ctype)
                   else f"TRY_CAST({t} AS DOUBLE)")
            limit = 9e15 / factor  # about year 2255; beyond is not a plausible event time
            return (f"CASE WHEN abs({num}) < {limit!r} THEN timezone('UTC', make_timestamp("
                    f"CAST(round({num} * {factor}) AS BIGINT))) END")
        formats = fs.formats or _DEFAULT_TIME_FORMATS
        zoned = [f for f in formats if "%z" in f or "%Z" in f]
        naive = [f for f in formats if f not in zoned]
        parts = []
        if zoned:
            parts.append(f"try_strptime({t}, [{', '.join(_lit(f) for f in zoned)}])")
        if naive:
            fmts = ", ".join(_lit(f) for f in naive)
            parts.append(f"timezone({tz}, try_strptime({t}, [{fmts}]))")
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

    # ---- identifiers --------------------------------------------------------------------

    def identifiers(self, phone_tables: dict[str, str]) -> str:
        """Alias of ``_keys``: the record's identifier keys, highest priority first."""
        keys = []
        for k, (typ, col) in enumerate(self.spec.identifiers):
            it = self.cfg.identity.type(typ)
            t = _txt(self.raw(col))
            if it.normalise == "phone":
                alias = f"_ph{k}"
                self.joins.append(f"LEFT JOIN {phone_tables[col]} {alias} "
                                  f"ON {alias}.raw = CAST({self.raw(col)} AS VARCHAR)")
                keys.append(self.add(f"{alias}.key"))
                continue
            norm = {"email": f"CASE WHEN regexp_full_match(lower({t}), "
                             f"'[^@\\s]+@[^@\\s]+\\.[^@\\s]+') THEN lower({t}) END",
                    "upper": f"upper({t})", "lower": f"lower({t})", "strip": t}[it.normalise]
            ph = sorted(it.placeholder_values)
            if ph:
                norm = (f"CASE WHEN ({norm}) IN ({', '.join(_lit(p) for p in ph)}) THEN NULL "
                        f"ELSE ({norm}) END")
            n = self.add(norm)
            value = (f"sha256(getvariable('cjm_salt') || {_lit('|' + typ + '|')} || {n})"
                     if it.pii else n)
            keys.append(self.add(f"{_lit(typ + ':')} || {value}"))
        if not keys:
            return self.add("CAST([] AS VARCHAR[])")
        return self.add(f"list_filter([{', '.join(keys)}], lambda k: k IS NOT NULL)")


def _is_numeric(ctype: str) -> bool:
    return ctype.split("(")[0] in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                                   "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT",
                                   "DOUBLE", "DECIMAL")


# --------------------------------------------------------------------------------------------
# Per-source staging: land, find exact duplicates, validate
# --------------------------------------------------------------------------------------------


@dataclass
class _Staged:
    spec: SourceSpec
    landed: list[_Landed]
    stage: Path | None  # validated rows + quarantined rows (Parquet)
    rows_in: int = 0
    exact_duplicates: int = 0


def _land_view(spec: SourceSpec, landed: list[_Landed]) -> str:
    parts = [f"SELECT {_lit(x.file)} AS _file, {k} AS _fidx, * "
             f"FROM read_parquet({_path_lit(x.path)})"
             for k, x in enumerate(landed) if x.path is not None]
    return " UNION ALL BY NAME ".join(parts)


def _json_keys(con: Any, union: str) -> list[str]:
    rows = con.execute(f"""
        SELECT k FROM (
            SELECT unnest(json_keys(l)) AS k, unnest(range(len(json_keys(l)))) AS pos, _row
            FROM (SELECT _row, CASE WHEN _row = 1 THEN ltrim(_line, chr(65279)) ELSE _line END
                  AS l FROM ({union}))
            WHERE CASE WHEN json_valid(l) THEN json_type(l) = 'OBJECT' ELSE FALSE END)
        GROUP BY k ORDER BY min(_row * 100000 + pos), k""").fetchall()
    return [r[0] for r in rows]


def _source_view(con: Any, spec: SourceSpec, landed: list[_Landed]) -> tuple[str, dict[str, str]]:
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
        paths = ", ".join(_lit("$." + json.dumps(k)) for k in keys)
        cols = ", ".join(f"_v[{i + 1}] AS {_q(k)}" for i, k in enumerate(keys))
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
    else:
        view = f"SELECT *, TRUE AS _record_ok FROM ({union})"
    desc = con.execute(f"DESCRIBE SELECT * FROM ({view})").fetchall()
    types = {r[0]: r[1] for r in desc
             if r[0] not in ("_file", "_fidx", "_row", "_record_ok", "_line")}
    if fmt == "jsonl":
        types = {k: "VARCHAR" for k in types}
    return view, types


def _exact_duplicates(con: Any, view: str, raw_cols: list[str], name: str) -> None:
    """Create temp table ``name`` (_file, _row, _dup_file, _dup_row): later copies of a record."""
    if not raw_cols:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT NULL::VARCHAR AS _file, "
                    "NULL::BIGINT AS _row, NULL::VARCHAR AS _dup_file, NULL::BIGINT AS _dup_row "
                    "WHERE FALSE")
        return
    cols = ", ".join(_q(c) for c in raw_cols)
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
            f"SELECT DISTINCT CAST({_q(col)} AS VARCHAR) FROM ({view}) "
            f"WHERE {_q(col)} IS NOT NULL").fetchall()] if col in _describe_cols(con, view) else []
        keys = []
        for value in raw:
            norm = it.clean(value)
            if norm is None:
                keys.append(None)
            elif it.pii:
                keys.append(f"{typ}:{hash_identifier(typ, norm, salt)}")
            else:
                keys.append(f"{typ}:{norm}")
        table = pa.table({"raw": pa.array(raw, pa.string()), "key": pa.array(keys, pa.string())})
        con.register(f"{name}_arrow", table)
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        con.unregister(f"{name}_arrow")
        out[col] = name
    return out


def _describe_cols(con: Any, view: str) -> set[str]:
    return {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM ({view})").fetchall()}


_FIELD_ORDER = {
    "events": ("event_time", "touchpoint", "channel", "duration_s", "value", "session_id"),
    "feedback": ("response_time", "touchpoint", "channel", "csat", "nps", "ces", "survey",
                 "response_id", "text", "language", "stage", "brand"),
}


def _stage_source(con: Any, spec: SourceSpec, cfg: SourcesConfig, landed: list[_Landed],
                  dest: Path, salt: str, exact: bool, idx: int) -> int:
    """Validate one source into ``dest``; return the number of exact duplicates."""
    view, types = _source_view(con, spec, landed)
    raw_cols = [c for c in types]
    pii_cols = {c for t, c in spec.identifiers if cfg.identity.type(t).pii}
    id_cols = {c for _, c in spec.identifiers}
    dups = f"_dups_{idx}"
    is_json = bool(landed) and landed[0].format == "jsonl"
    # JSON lines are duplicates when the lines are identical (key order included)
    _exact_duplicates(con, view, (["_line"] if is_json else raw_cols) if exact else [], dups)
    phones = _phone_tables(con, spec, cfg, view, salt, f"_s{idx}")
    comp = _Compiler(spec, cfg, types)
    keys = comp.identifiers(phones)
    if spec.stitch:
        idcols = ", ".join(c for _, c in spec.identifiers)
        comp.check(f"len({keys}) = 0", "missing_id", idcols, None)
    order = _FIELD_ORDER.get(spec.kind, tuple(spec.fields))
    table_fields = (_EVENT_FIELDS if spec.kind == "events" else
                    _FEEDBACK_FIELDS if spec.kind == "feedback" else
                    {f: (fs.type, False) for f, fs in spec.fields.items()})
    base: dict[str, str] = {}
    for fname in order:
        if fname in spec.fields:
            base[fname] = comp.field(spec.fields[fname], table_fields[fname][1])
    items: list[dict[str, str]] = []
    for item in spec.items:
        items.append({f: comp.field(fs, False) for f, fs in item.items()})
    # attributes: unmapped raw columns; record: the raw row for the quarantine (no PII)
    used = set(spec.used_columns) | set(spec.drop) | id_cols
    attr_cols = [c for c in raw_cols if c not in used]
    rec_cols = [c for c in raw_cols if c not in pii_cols and c not in spec.drop]
    passthrough = {c: comp.add(comp.raw(c)) for c in dict.fromkeys(attr_cols + rec_cols)}

    f_select = ",\n".join(f"{e} AS {a}" for e, a in comp.select)
    checks = [("NOT _record_ok", "unparseable_record", None, None), *comp.checks]
    if exact:
        checks.append(("_dup_row IS NOT NULL", "exact_duplicate", None, None))
    # the checks run once, in order: the first that fails numbers the row's problem
    check = "CASE " + " ".join(f"WHEN {c} THEN {i}" for i, (c, _, _, _) in
                               enumerate(checks, start=1)) + " END"
    reason = "CASE _check " + " ".join(f"WHEN {i} THEN {_lit(r)}" for i, (_, r, _, _) in
                                       enumerate(checks, start=1)) + " END"
    column = "CASE _check " + " ".join(f"WHEN {i} THEN {_lit(col)}" for i, (_, _, col, _) in
                                       enumerate(checks, start=1) if col is not None) + " END"
    value = "CASE _check " + " ".join(
        f"WHEN {i} THEN CAST({v} AS VARCHAR)" for i, (_, _, col, v) in
        enumerate(checks, start=1) if v and col not in pii_cols) + " END"
    if column == "CASE _check  END":
        column = "NULL::VARCHAR"
    if value == "CASE _check  END":
        value = "NULL::VARCHAR"
    # an unreadable JSON line may hold personal data: report its length, never its text
    detail = ("CASE WHEN _check = 1 THEN 'not a complete JSON object (' || "
              "coalesce(length(_line), 0) || ' characters)' "
              + (f"WHEN _check = {len(checks)} THEN 'same as ' || CASE WHEN _dup_file <> _file "
                 "THEN _dup_file || ' ' ELSE '' END || 'row ' || _dup_row " if exact else "")
              + "END")

    def jobj(cols: list[str]) -> str:
        if not cols:
            return "'{}'"
        args = ", ".join(f"{_lit(c)}, CAST({passthrough[c]} AS VARCHAR)" for c in cols)
        return f"json_object({args})"

    tp_stage = " ".join(f"WHEN {_lit(tp)} THEN {_lit(st)}" for tp, st in
                        cfg.touchpoint_stage.items())

    def out_select(item_no: int, item: dict[str, str] | None) -> str:
        fields = {**base, **(item or {})}

        def fv(name: str, sqlt: str) -> str:
            return f"CAST({fields[name]} AS {sqlt})" if name in fields else f"CAST(NULL AS {sqlt})"

        common = [f"{_lit(spec.name)} AS _source", f"{idx}::SMALLINT AS _sidx", "_file",
                  "_fidx::INTEGER AS _fidx", "_row", f"{item_no}::INTEGER AS _item",
                  f"{keys} AS _keys"]
        if spec.kind == "events":
            tp = fv("touchpoint", "VARCHAR")
            sess = ("CAST(NULL AS VARCHAR)" if spec.sessions != "given" else
                    f"CASE WHEN {fv('session_id', 'VARCHAR')} IS NOT NULL THEN "
                    f"{_lit(spec.name + ':')} || {fv('session_id', 'VARCHAR')} END")
            body = [f"{fv('event_time', 'TIMESTAMPTZ')} AS event_time",
                    f"{fv('channel', 'VARCHAR')} AS channel", f"{tp} AS touchpoint",
                    f"CASE {tp} {tp_stage} END AS stage", f"{sess} AS session_id",
                    f"{fv('duration_s', 'DOUBLE')} AS duration_s",
                    f"{fv('value', 'DOUBLE')} AS value",
                    f"{_lit(spec.sessions)} AS _session_mode"]
        elif spec.kind == "feedback":
            tp = fv("touchpoint", "VARCHAR")
            rid = (fv("response_id", "VARCHAR") if "response_id" in fields else
                   f"{_lit(spec.name + ':')} || _file || ':' || _row")
            text = fv("text", "VARCHAR")
            body = [f"{fv('response_time', 'TIMESTAMPTZ')} AS response_time",
                    f"{tp} AS touchpoint", f"{fv('channel', 'VARCHAR')} AS channel",
                    f"{fv('csat', 'INTEGER')} AS csat", f"{fv('nps', 'INTEGER')} AS nps",
                    f"{fv('ces', 'INTEGER')} AS ces", f"{text} AS text",
                    f"{fv('language', 'VARCHAR')} AS language",
                    f"{fv('survey', 'VARCHAR')} AS survey", f"{rid} AS response_id",
                    f"coalesce({fv('stage', 'VARCHAR')}, CASE {tp} {tp_stage} END) AS stage",
                    f"{fv('brand', 'VARCHAR')} AS brand", f"{_lit(spec.stitch)} AS _stitch"]
        else:
            body = [f"{fv(n, _SQL_TYPES[fs.type])} AS {_q(n)}" for n, fs in spec.fields.items()]
        tail = [f"CASE WHEN _reason IS NULL THEN {jobj(attr_cols)} END AS attributes",
                "_reason", "_column", "_value", "_detail",
                f"CASE WHEN _reason IS NOT NULL AND _record_ok THEN {jobj(rec_cols)} END "
                "AS _record"]
        where = "" if item_no == 0 else "WHERE _reason IS NULL"
        return f"SELECT {', '.join(common + body + tail)} FROM v {where}"

    selects = ([out_select(j, it) for j, it in enumerate(items)] if items
               else [out_select(0, None)])
    has_dups = con.execute(f"SELECT count(*) FROM {dups}").fetchall()[0][0] > 0
    dup_join = (f"LEFT JOIN {dups} d ON d._file = src._file AND d._row = src._row"
                if has_dups else "")
    dup_cols = ("d._dup_file, d._dup_row" if has_dups else
                "NULL::VARCHAR AS _dup_file, NULL::BIGINT AS _dup_row")
    sql = f"""
        WITH src AS ({view}),
        f AS (SELECT src._file, src._fidx, src._row, src._record_ok, {dup_cols},
                     {'src._line' if is_json else 'NULL'} AS _line,
                     {f_select}
              FROM src {dup_join}
              {' '.join(comp.joins)}),
        c AS (SELECT *, {check} AS _check FROM f),
        v AS (SELECT *, {reason} AS _reason, {column} AS _column, {value} AS _value,
                     {detail} AS _detail FROM c)
        {' UNION ALL '.join(selects)}"""
    con.execute(f"COPY ({sql}) TO {_path_lit(dest)} (FORMAT parquet, COMPRESSION uncompressed)")
    for tbl in [dups, *phones.values()]:
        con.execute(f"DROP TABLE IF EXISTS {tbl}")
    n_dups = con.execute(f"SELECT count(*) FROM read_parquet({_path_lit(dest)}) "
                         "WHERE _reason = 'exact_duplicate'").fetchall()[0][0]
    return int(n_dups)


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass
class CollectionResult:
    """What :func:`collect` wrote and what it found.

    ``paths`` maps ``events``, ``feedback``, ``customers``, ``identity_audit``, ``quarantine``
    (folder) and ``manifest`` to files; ``sources`` has one row per source (``source``,
    ``kind``, ``files``, ``rows_in``, ``rows_out``, ``rows_quarantined``, ``records_written``,
    ``balanced``); ``quarantine`` one row per source, file, reason and column (``rows``);
    ``identity`` and ``dedupe`` hold the stitching and duplicate statistics;
    ``manifest`` is the content of manifest.json. ``elapsed_s`` is wall-clock seconds (not in
    the manifest, which stays identical between re-runs).
    """

    paths: dict[str, Path]
    sources: pd.DataFrame
    quarantine: pd.DataFrame
    identity: dict[str, Any]
    dedupe: dict[str, Any]
    manifest: dict[str, Any]
    elapsed_s: float = 0.0

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


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


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
) -> CollectionResult:
    """Read every configured raw source and write the canonical tables to ``processed_dir``.

    ``raw_dir`` holds the raw exports (never modified); ``sources_path`` and ``config_path``
    are ``configs/sources.yaml`` and ``configs/journey.yaml`` (relative paths resolve against
    the workspace, then the project root). ``salt`` overrides the identifier salt (else the
    environment variable named in the config, else the config's ``salt``). ``threads`` and
    ``memory_limit`` bound DuckDB (defaults: the ``engine`` block of the config, else all cores
    and 1GB; larger data spills to a temporary folder). ``hash_inputs`` records the SHA-256 of
    every raw file in the manifest.

    Raises ``FileNotFoundError`` when a required source has no file and ``ValueError`` naming
    the file, the column and what was expected for whole-file problems (missing column,
    unreadable encoding, empty file). Row-level problems never raise: the rows go to
    ``quarantine/`` with their reason.
    """
    import duckdb

    started = time.perf_counter()
    say = progress or _progress_noop
    raw = resolve_path(raw_dir, must_exist=True)
    if not raw.is_dir():
        raise ValueError(f"{raw}: raw_dir must be a folder of raw exports")
    cfg = load_sources(sources_path, config_path)
    salt_value, salt_source = resolve_salt(salt, cfg.identity)
    out = output_path(processed_dir)
    out.mkdir(parents=True, exist_ok=True)
    threads = threads if threads is not None else cfg.engine.get("threads", os.cpu_count() or 1)
    check_scalar(threads, "threads", typ=int, ge=1)
    memory_limit = memory_limit or str(cfg.engine.get("memory_limit", "1GB"))

    files = _match_files(cfg, raw)
    # no manifest while the tables change: a run that stops half-way cannot look complete
    (out / "manifest.json").unlink(missing_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".collect-", dir=out))
    con = duckdb.connect()
    try:
        con.execute(f"SET threads = {int(threads)}")
        con.execute(f"SET memory_limit = {_lit(memory_limit)}")
        con.execute(f"SET temp_directory = {_path_lit(work / 'spill')}")
        # intermediate files need no order (every output is sorted explicitly): let DuckDB
        # write them in parallel
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET TimeZone = 'UTC'")
        try:
            con.execute("SET enable_progress_bar = false")
        except duckdb.Error:
            pass  # in Jupyter without ipywidgets DuckDB shows no bar and refuses the setting
        con.execute("SET VARIABLE cjm_salt = ?", [salt_value])

        staged: list[_Staged] = []
        for i, spec in enumerate(cfg.sources):
            landed = []
            for k, (path, rel) in enumerate(files[spec.name]):
                say(f"{spec.name}: reading {rel}")
                landed.append(_land(spec, path, rel, work / f"land_{i}_{k}.parquet", raw))
            say(f"{spec.name}: validating {sum(x.rows for x in landed):,} rows")
            st = _Staged(spec, landed, None, sum(x.rows for x in landed))
            if landed:
                st.stage = work / f"stage_{i}.parquet"
                st.exact_duplicates = _stage_source(con, spec, cfg, landed, st.stage, salt_value,
                                                    cfg.dedupe.exact, i)
                for x in landed:  # landing copies are not needed any more
                    if x.path is not None:
                        x.path.unlink(missing_ok=True)
            staged.append(st)

        say("stitching identities")
        ident = _stitch(con, cfg, staged)
        say(f"{ident.stats['customers']:,} customers from {ident.stats['identifiers']:,} "
            "identifiers")
        primary = _primary_sql(ident.blocked)

        say("events: sessions, duplicates, order")
        dedupe = _assemble_events(con, cfg, staged, out, primary)
        say("feedback")
        _assemble_feedback(con, staged, out, primary)
        say("customers")
        _assemble_customers(con, cfg, staged, out, primary)
        _write_audit(con, out)
        say("quarantine and manifest")
        quarantine, sources = _write_quarantine(con, cfg, staged, work, out, primary)
        tables = {name: {"path": f"{name}.parquet",
                         "rows": con.execute(f"SELECT count(*) FROM read_parquet("
                                             f"{_path_lit(out / (name + '.parquet'))})"
                                             ).fetchall()[0][0]}
                  for name in ("events", "feedback", "customers", "identity_audit")}
    finally:
        con.close()
        shutil.rmtree(work, ignore_errors=True)

    ident_stats = {**ident.stats, "giants": ident.giants}
    manifest = _manifest(cfg, raw, files, staged, sources, quarantine, ident_stats, dedupe,
                         tables, salt_source, hash_inputs)
    write_json(manifest, out / "manifest.json")
    paths = {"events": out / "events.parquet", "feedback": out / "feedback.parquet",
             "customers": out / "customers.parquet",
             "identity_audit": out / "identity_audit.parquet",
             "quarantine": out / "quarantine", "manifest": out / "manifest.json"}
    return CollectionResult(paths, sources, quarantine, ident_stats, dedupe, manifest,
                            round(time.perf_counter() - started, 3))


def _match_files(cfg: SourcesConfig, raw: Path) -> dict[str, list[tuple[Path | None, str]]]:
    everything = sorted(p.relative_to(raw).as_posix() for p in raw.rglob("*") if p.is_file())
    out: dict[str, list[tuple[Path | None, str]]] = {}
    for spec in cfg.sources:
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


def _stage_files(staged: list[_Staged], *kinds: str, stitch_only: bool = False) -> list[str]:
    return [str(s.stage) for s in staged if s.stage is not None and s.spec.kind in kinds
            and (s.spec.stitch or not stitch_only)]


def _files_sql(paths: list[str]) -> str:
    return "read_parquet([" + ", ".join(_lit(p) for p in paths) + "], union_by_name = true)"


def _stitch(con: Any, cfg: SourcesConfig, staged: list[_Staged]) -> StitchResult:
    paths = _stage_files(staged, *KINDS, stitch_only=True)
    if paths:
        records = (f"SELECT _source, _keys FROM {_files_sql(paths)} "
                   "WHERE _reason IS NULL AND _item = 0")
    else:
        records = "SELECT NULL::VARCHAR AS _source, []::VARCHAR[] AS _keys WHERE FALSE"
    return stitch(con, records, cfg.identity)


def _primary_sql(blocked: list[str]) -> str:
    """The record's key used to find its customer: first identifier not blocked."""
    if not blocked:
        return "s._keys[1]"
    lst = "[" + ", ".join(_lit(b) for b in blocked) + "]"
    return f"list_filter(s._keys, lambda k: NOT list_contains({lst}, k))[1]"


def _copy_atomic(con: Any, sql: str, path: Path) -> None:
    atomic_write(path, lambda tmp: con.execute(
        f"COPY ({sql}) TO {_path_lit(tmp)} (FORMAT parquet)"))


def _empty_events_sql() -> str:
    return ("SELECT NULL::VARCHAR AS _source, 0::SMALLINT AS _sidx, NULL::VARCHAR AS _file, "
            "0 AS _fidx, NULL::BIGINT AS _row, 0 AS _item, []::VARCHAR[] AS _keys, "
            "NULL::TIMESTAMPTZ AS event_time, "
            "NULL::VARCHAR AS channel, NULL::VARCHAR AS touchpoint, NULL::VARCHAR AS stage, "
            "NULL::VARCHAR AS session_id, NULL::DOUBLE AS duration_s, NULL::DOUBLE AS value, "
            "NULL::VARCHAR AS _session_mode, NULL::VARCHAR AS attributes, "
            "NULL::VARCHAR AS _reason WHERE FALSE")


_EVENT_OUT = ("customer_id", "event_time", "channel", "touchpoint", "stage", "session_id",
              "duration_s", "value", "source", "seq", "attributes", "raw_file", "raw_row")


def _assemble_events(con: Any, cfg: SourcesConfig, staged: list[_Staged], out: Path,
                     primary: str) -> dict[str, Any]:
    """Link events to customers, derive sessions, drop near duplicates, number and order.

    Sessions (derived sources only) and near-duplicate pairs (configured touchpoints only) are
    computed on narrow side tables; the events then pass once through one sort by customer,
    time and origin, and ``seq`` is counted while the sorted rows stream into the Parquet file.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    paths = _stage_files(staged, "events")
    src = _files_sql(paths) if paths else f"({_empty_events_sql()})"
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
               customer_id || '/' || _source || '/' || sum(_new) OVER (
                   PARTITION BY _cix, _sidx ORDER BY {order}
                   ROWS UNBOUNDED PRECEDING) AS d_session_id
        FROM g""")
    sess_key = ("x._sidx = s._sidx AND x._fidx = s._fidx AND x._row = s._row "
                "AND x._item = s._item")
    with_sessions = f"""
        SELECT s.* REPLACE (coalesce(s.session_id, x.d_session_id) AS session_id)
        FROM ({linked}) s LEFT JOIN _sessions x ON {sess_key}"""
    # 2. near duplicates among the configured touchpoints
    d = cfg.dedupe
    pairs: list[dict[str, Any]] = []
    if d.near_enabled:
        tp_filter = ("TRUE" if d.near_touchpoints is None else
                     f"touchpoint IN ({', '.join(_lit(t) for t in d.near_touchpoints)})")
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
    reader = con.sql(f"""
        SELECT NULL::VARCHAR AS customer_id, e.event_time, e.channel, e.touchpoint, e.stage,
               coalesce(e.session_id, f.f_session_id) AS session_id,
               coalesce(e.duration_s, f.f_duration_s) AS duration_s,
               coalesce(e.value, f.f_value) AS value, e._sidx AS source,
               0::BIGINT AS seq, e.attributes, e._fidx AS raw_file, e._row AS raw_row, e._cix
        FROM ({with_sessions}) e ANTI JOIN _near_drop d ON {key}
        LEFT JOIN _near_fill f ON {key.replace('d.', 'f.')}
        ORDER BY e._cix, e.event_time, e._sidx, e._fidx, e._row, e._item
        """).to_arrow_reader(1 << 17)
    schema = _events_schema(None)
    at = {name: i for i, name in enumerate(_EVENT_OUT)}
    # source and file names travel through the sort as small integers (cheaper to move)
    names = pa.array([st.spec.name for st in staged], pa.string())
    offsets = np.cumsum([0] + [len(st.landed) for st in staged])
    files = pa.array([x.file for st in staged for x in st.landed] or [""], pa.string())
    last: tuple[int, int] = (-1, 0)

    def write(tmp: Path) -> None:
        nonlocal last
        with pq.ParquetWriter(tmp, schema, compression="snappy") as writer:
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
                out_batch = pa.RecordBatch.from_arrays(cols, names=list(_EVENT_OUT))
                writer.write_batch(out_batch.cast(schema) if out_batch.schema != schema
                                   else out_batch)
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


def _events_schema(found: Any) -> Any:
    """Arrow schema of events.parquet (DuckDB's own types, string views as strings)."""
    import pyarrow as pa

    types = {"customer_id": pa.string(), "event_time": pa.timestamp("us", tz="UTC"),
             "channel": pa.string(), "touchpoint": pa.string(), "stage": pa.string(),
             "session_id": pa.string(), "duration_s": pa.float64(), "value": pa.float64(),
             "source": pa.string(), "seq": pa.int64(), "attributes": pa.string(),
             "raw_file": pa.string(), "raw_row": pa.int64()}
    if found is not None and list(found.names) != list(_EVENT_OUT):
        raise RuntimeError(f"unexpected events columns {found.names}")
    return pa.schema([(n, types[n]) for n in _EVENT_OUT])


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


def _assemble_feedback(con: Any, staged: list[_Staged], out: Path, primary: str) -> None:
    paths = _stage_files(staged, "feedback")
    cols = ", ".join(FEEDBACK_COLUMNS[1:9])
    if not paths:
        sql = ("SELECT NULL::VARCHAR AS customer_id, NULL::TIMESTAMPTZ AS response_time, "
               "NULL::VARCHAR AS touchpoint, NULL::VARCHAR AS channel, NULL::INTEGER AS csat, "
               "NULL::INTEGER AS nps, NULL::INTEGER AS ces, NULL::VARCHAR AS text, "
               "NULL::VARCHAR AS language, NULL::VARCHAR AS source, NULL::VARCHAR AS survey, "
               "NULL::VARCHAR AS response_id, NULL::VARCHAR AS stage, NULL::VARCHAR AS brand, "
               "NULL::VARCHAR AS attributes, NULL::VARCHAR AS raw_file, "
               "NULL::BIGINT AS raw_row WHERE FALSE")
    else:
        sql = f"""
            SELECT CASE WHEN s._stitch THEN m.customer_id END AS customer_id,
                   {', '.join('s.' + c for c in cols.split(', '))},
                   s._source AS source, s.survey, s.response_id, s.stage, s.brand, s.attributes,
                   s._file AS raw_file, s._row AS raw_row
            FROM {_files_sql(paths)} s LEFT JOIN _id_keymap m ON s._stitch AND m.key = {primary}
            WHERE s._reason IS NULL AND NOT (s._stitch AND m.customer_id IS NULL)
            ORDER BY s.survey, s._source, s._file, s._row, s._item"""
    _copy_atomic(con, sql, out / "feedback.parquet")


def _assemble_customers(con: Any, cfg: SourcesConfig, staged: list[_Staged], out: Path,
                        primary: str) -> None:
    conv = ", ".join(_lit(t) for t in cfg.conversion_touchpoints) or "NULL"
    profile_specs = [s for s in staged if s.spec.kind == "customers" and s.stage is not None]
    prof_fields: dict[str, str] = {}
    for s in profile_specs:
        for n, fs in s.spec.fields.items():
            prof_fields.setdefault(n, fs.type)
    reserved = set(CUSTOMER_COLUMNS) | {"tenure_days"}
    clash = sorted(set(prof_fields) & reserved)
    if clash:
        raise ValueError(f"{cfg.path}: customers fields {clash} clash with computed columns "
                         f"{sorted(reserved)}; rename them")
    ev = _path_lit(out / "events.parquet")
    fb = _path_lit(out / "feedback.parquet")
    if profile_specs:
        paths = [str(s.stage) for s in profile_specs]
        order = " ".join(f"WHEN {_lit(s.spec.name)} THEN {i}" for i, s in enumerate(profile_specs))
        prof = f"""prof AS (
            SELECT m.customer_id, {', '.join('s.' + _q(n) for n in prof_fields)},
                   row_number() OVER (PARTITION BY m.customer_id
                                      ORDER BY CASE s._source {order} END, s._file, s._row)
                       AS _rn
            FROM {_files_sql(paths)} s JOIN _id_keymap m ON m.key = {primary}
            WHERE s._reason IS NULL),"""
        prof_sel = ", ".join(f"p.{_q(n)}" for n in prof_fields)
        join = "LEFT JOIN prof p ON p.customer_id = c.customer_id AND p._rn = 1"
    else:
        prof, prof_sel, join = "", "", ""
    tenure = ""
    if prof_fields.get("date_joined") == "date":
        tenure = (", date_diff('day', p.date_joined, (SELECT CAST(max(event_time) AS DATE) "
                  f"FROM read_parquet({ev}))) AS tenure_days")
    sql = f"""
        WITH evc AS (SELECT customer_id, channel, min(event_time) AS first_ev,
                            max(event_time) AS last_ev, count(*) AS n_events,
                            bool_or(touchpoint IN ({conv})) AS converted,
                            sum(value) FILTER (WHERE touchpoint IN ({conv})) AS revenue
                     FROM read_parquet({ev}) GROUP BY customer_id, channel),
        ev AS (SELECT customer_id, min(first_ev) AS first_ev, max(last_ev) AS last_ev,
                      sum(n_events) AS n_events,
                      string_agg(channel, ',' ORDER BY channel) AS channels,
                      count(channel) AS n_channels, bool_or(converted) AS converted,
                      sum(revenue) AS revenue
               FROM evc GROUP BY customer_id),
        fb AS (SELECT customer_id, min(response_time) AS first_fb, max(response_time) AS last_fb,
                      count(*) AS n_feedback
               FROM read_parquet({fb}) WHERE customer_id IS NOT NULL GROUP BY customer_id),
        {prof}
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


def _write_audit(con: Any, out: Path) -> None:
    _copy_atomic(con, "SELECT * FROM _id_audit ORDER BY customer_id NULLS LAST, "
                      "identifier_type, identifier_hash", out / "identity_audit.parquet")


def _write_quarantine(con: Any, cfg: SourcesConfig, staged: list[_Staged], work: Path,
                      out: Path, primary: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    import pyarrow as pa

    qdir = out / "quarantine"
    qdir.mkdir(parents=True, exist_ok=True)
    mal: dict[str, list[Any]] = {"source": [], "file": [], "row": [], "detail": []}
    for s in staged:
        for x in s.landed:
            for row, detail in x.malformed:
                mal["source"].append(s.spec.name)
                mal["file"].append(x.file)
                mal["row"].append(row)
                mal["detail"].append(detail)
    con.register("_malformed_arrow", pa.table({
        "source": pa.array(mal["source"], pa.string()), "file": pa.array(mal["file"], pa.string()),
        "row": pa.array(mal["row"], pa.int64()), "detail": pa.array(mal["detail"], pa.string())}))
    ev_out = _path_lit(out / "events.parquet")
    fb_out = _path_lit(out / "feedback.parquet")
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
                            {_lit('unparseable_record' if is_json else 'malformed_row')} AS reason,
                            NULL::VARCHAR AS value, detail, NULL::VARCHAR AS record
                     FROM _malformed_arrow WHERE source = {_lit(name)}"""]
        if s.stage is not None:
            st = _path_lit(s.stage)
            parts.append(f"""SELECT _source, _file, _row, _column, _reason, _value, _detail,
                                    _record FROM read_parquet({st})
                             WHERE _reason IS NOT NULL AND _item = 0""")
            if s.spec.kind == "events":
                parts.append(f"""SELECT _source, _file, _row, NULL, 'near_duplicate', NULL,
                                        _detail, NULL FROM _near_drop
                                 WHERE _source = {_lit(name)}""")
            if s.spec.stitch:
                parts.append(f"""SELECT DISTINCT s._source, s._file, s._row, NULL,
                                        'ambiguous_identity', NULL,
                                        'every identifier of the row is blocked as shared', NULL
                                 FROM read_parquet({st}) s LEFT JOIN _id_keymap m
                                      ON m.key = {primary}
                                 WHERE s._reason IS NULL AND m.customer_id IS NULL""")
        sql = (f"SELECT * FROM ({' UNION ALL '.join(parts)}) "
               "q(source, file, \"row\", \"column\", reason, value, detail, record) "
               "ORDER BY file, \"row\", reason")
        _copy_atomic(con, sql, qdir / f"{name}.parquet")
        written.add(f"{name}.parquet")
        qpath = _path_lit(qdir / f"{name}.parquet")
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
            out_rows = 0 if s.stage is None else con.execute(
                f"SELECT count(*) FROM read_parquet({_path_lit(s.stage)}) s "
                f"JOIN _id_keymap m ON m.key = {primary} "
                "WHERE s._reason IS NULL").fetchall()[0][0]
            written_rows = out_rows
        source_rows.append({
            "source": name, "kind": s.spec.kind, "files": len(s.landed),
            "rows_in": int(s.rows_in), "rows_out": int(out_rows),
            "rows_quarantined": int(n_quar), "records_written": int(written_rows),
            "balanced": int(s.rows_in) == int(out_rows) + int(n_quar)})
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
              staged: list[_Staged], sources: pd.DataFrame, quarantine: pd.DataFrame,
              identity: dict[str, Any], dedupe: dict[str, Any], tables: dict[str, Any],
              salt_source: str, hash_inputs: bool) -> dict[str, Any]:
    from cjmlib import __version__

    inputs = []
    for s in staged:
        for x in s.landed:
            entry: dict[str, Any] = {"source": s.spec.name, "file": x.file, "format": x.format,
                                     "encoding": x.encoding, "rows": x.rows}
            path = raw / x.file if s.spec.format != "sql" else None
            if path is not None and path.exists():
                entry["bytes"] = path.stat().st_size
                if hash_inputs:
                    entry["sha256"] = file_sha256(path)
            inputs.append(entry)
    per_source = []
    for rec in sources.to_dict("records"):
        q = quarantine[quarantine["source"] == rec["source"]]
        reasons = q.groupby("reason")["rows"].sum().sort_index()
        per_source.append({**{k: (bool(v) if k == "balanced" else v) for k, v in rec.items()},
                           "quarantine_reasons": {k: int(v) for k, v in reasons.items()}})
    config_hash = {"sources": file_sha256(cfg.path)}
    return {
        "created_by": f"cjmlib.collection.collection.collect {__version__}",
        "raw_dir": str(raw),
        "configs": config_hash,
        "salt_source": salt_source,
        "rule": "rows_in = rows_out + rows_quarantined for every source",
        "sources": per_source,
        "inputs": inputs,
        "unconfigured_files": _unconfigured(cfg, raw, files),
        "tables": tables,
        "identity": identity,
        "dedupe": dedupe,
    }


# --------------------------------------------------------------------------------------------
# Data-quality summaries (what 01_collect shows)
# --------------------------------------------------------------------------------------------


def coverage(events: Any, *, freq: str = "week", by: str = "source") -> pd.DataFrame:
    """Events and distinct customers per period and ``by`` column (``source`` or ``channel``).

    ``events`` is the events table (path, pandas DataFrame or Ibis table); the counting runs in
    the engine and only the aggregate comes back. ``freq`` is ``day``, ``week`` (weeks start on
    Monday, UTC) or ``month``. Returns ``period``, ``<by>``, ``events``, ``customers`` sorted by
    period; a gap in a source's series is a gap in its export.
    """
    check_scalar(freq, "freq", in_=("day", "week", "month"))
    check_scalar(by, "by", in_=("source", "channel", "touchpoint", "stage"))
    t = as_table(events, what="events table")
    check_columns(t, ["customer_id", "event_time", by], what="events table")
    unit = {"day": "D", "week": "W", "month": "M"}[freq]
    m = t.mutate(period=t.event_time.truncate(unit))
    agg = (m.group_by(["period", by])
           .aggregate(events=m.count(), customers=m.customer_id.nunique())
           .order_by(["period", by]))
    df = agg.to_pandas()
    df["period"] = pd.to_datetime(df["period"], utc=True).dt.tz_convert(None)
    return df.astype({"events": "int64", "customers": "int64"}).reset_index(drop=True)


def top_reasons(quarantine: pd.DataFrame, *, top: int = 10) -> pd.DataFrame:
    """The ``top`` quarantine reasons: ``source``, ``reason``, ``column``, ``rows``, ``share``
    (of all quarantined rows), most frequent first.

    ``quarantine`` is :attr:`CollectionResult.quarantine` or ``quarantine/summary.csv``.
    """
    check_scalar(top, "top", typ=int, ge=1)
    check_columns(quarantine, ["source", "reason", "column", "rows"], what="quarantine summary")
    g = (quarantine.fillna({"column": ""})
         .groupby(["source", "reason", "column"], as_index=False)["rows"].sum()
         .sort_values(["rows", "source", "reason"], ascending=[False, True, True]))
    total = g["rows"].sum()
    g["share"] = g["rows"] / total if total else 0.0
    return g.head(top).reset_index(drop=True)


def stitching_summary(customers: Any, *, alpha: float = 0.05) -> pd.DataFrame:
    """Shares that describe the stitched customer base, each with its denominator and a Wilson
    score interval (Wilson 1927; ``statsmodels.stats.proportion.proportion_confint``).

    Rows (``metric``): customers with more than one identifier; with a CRM profile; seen in
    more than one channel (cross-channel, among customers with events); with feedback only.
    Columns: ``metric``, ``count``, ``denominator``, ``share``, ``ci_low``, ``ci_high``.
    """
    from cjmlib.stats.intervals import wilson_interval

    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    df = customers if isinstance(customers, pd.DataFrame) else pd.read_parquet(customers)
    check_columns(df, ["customer_id", "n_events", "n_channels", "n_identifiers", "n_feedback"],
                  what="customers table")
    with_events = df["n_events"] > 0
    rows = [
        ("more than one identifier", (df["n_identifiers"] > 1).sum(), len(df)),
        ("CRM profile", df["crm_id"].notna().sum() if "crm_id" in df else 0, len(df)),
        ("cross-channel (2+ channels, among customers with events)",
         (df["n_channels"] > 1).sum(), with_events.sum()),
        ("feedback only (no events)", ((~with_events) & (df["n_feedback"] > 0)).sum(), len(df)),
    ]
    out = pd.DataFrame(rows, columns=["metric", "count", "denominator"]).astype(
        {"count": int, "denominator": int})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share"] = out["count"] / out["denominator"].where(out["denominator"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out["count"], out["denominator"], alpha=alpha)
    return out
