"""Collection configuration: ``configs/sources.yaml`` read and checked into typed specs.

:func:`load_sources` reads the source definitions (and, from ``configs/journey.yaml``, the
touchpoints with their stages, the conversion touchpoints and the session timeout) into a
:class:`SourcesConfig`: one :class:`SourceSpec` per raw source, one :class:`FieldSpec` per
canonical field it fills, the identity rules and the duplicate rules (:class:`DedupeSpec`). Every
error names the file, the source and the key. The contract of the canonical tables as the config
sees it (table kinds, file formats, the fields of events and feedback, survey types) is here too.
"""

from __future__ import annotations

import codecs
import difflib
import functools
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cjmlib.collection.identity import IdentityConfig
from cjmlib.core.config import load_yaml, resolve_path

# --------------------------------------------------------------------------------------------
# The contract
# --------------------------------------------------------------------------------------------

SURVEY_TYPES = ("post_interaction", "relationship", "social", "interview", "market_benchmark")
#: What a source of configs/sources.yaml feeds: one of the canonical tables.
TABLE_KINDS = ("events", "feedback", "customers")
#: A source that feeds no table: other sources join it (``join:``) to gain its columns.
LOOKUP_KIND = "lookup"
FORMATS = ("csv", "tsv", "jsonl", "parquet", "excel", "sql", "transcript")

# field name -> (type, required) per table kind
EVENT_FIELDS = {"event_time": ("time", True), "channel": ("string", True),
                 "touchpoint": ("touchpoint", True), "session_id": ("string", False),
                 "duration_s": ("duration", False), "value": ("float", False)}
FEEDBACK_FIELDS = {"response_time": ("time", False), "touchpoint": ("touchpoint", False),
                    "channel": ("string", True), "csat": ("score", False),
                    "nps": ("score", False), "ces": ("score", False), "text": ("string", False),
                    "language": ("string", False), "survey": ("string", True),
                    "response_id": ("string", False), "stage": ("string", False),
                    "brand": ("string", False)}
_PROFILE_TYPES = ("string", "float", "int", "bool", "date", "time")
#: How a profile column of customers.parquet is merged over all rows of a customer, and the
#: field types each rule accepts (cjmlib.collection.profiles).
MERGE_RULES: dict[str, tuple[str, ...]] = {
    "first": _PROFILE_TYPES, "last": _PROFILE_TYPES, "most_frequent": _PROFILE_TYPES,
    "min": ("int", "float", "date", "time"), "max": ("int", "float", "date", "time"),
    "any": ("bool",), "all": ("bool",)}
#: A customers field of this name is the time its row's values were observed, not a column.
PROFILE_TIME_FIELD = "as_of"
#: Columns of events and feedback that collection computes: no field may take their names.
COMPUTED_COLUMNS = {
    "events": ("customer_id", "stage", "source", "seq", "attributes", "raw_file", "raw_row"),
    "feedback": ("customer_id", "source", "attributes", "raw_file", "raw_row"),
}
#: How close (difflib ratio) a field name must be to a canonical one to be taken for a typo.
_TYPO_CUTOFF = 0.85
EPOCH_US = {"s": 1_000_000, "ms": 1_000, "us": 1}
#: Event and answer times before this are implausible (``plausible.earliest``).
EARLIEST_TIME = "2000-01-01"
#: ``plausible.latest`` that stands for the run date of :func:`~cjmlib.collection.assembly.collect`.
RUN_DATE = "run_date"
#: Declared range of the money field ``value`` when a source gives none (``min``/``max``):
#: wide enough for any one order in any currency, narrow enough to refuse ``1e308``.
VALUE_RANGE = (-1e9, 1e9)
#: Field types that take a numeric ``min``/``max``, and those that take a date or time.
_NUMBER_TYPES = ("float", "duration", "score", "int")
_TIME_TYPES = ("time", "date")
DEFAULT_ENCODINGS = ("utf-8", "gb18030", "cp1251")


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
    #: (part, raw column) when a time is spread over columns (year, month, day, hour, ...)
    date_parts: tuple[tuple[str, str], ...] = ()
    #: declared range (inclusive): numbers for number fields, ISO dates or times for time and
    #: date fields; None: no bound (time fields of events and feedback default to the
    #: plausible window of the run, ``value`` to :data:`VALUE_RANGE`)
    min: Any = None
    max: Any = None


@dataclass(frozen=True)
class JoinSpec:
    """``join:`` of a source: a lookup source whose columns each row gains by key."""

    source: str  # the lookup source
    left: tuple[str, ...]  # key columns of this source
    right: tuple[str, ...]  # matching key columns of the lookup, in the same order
    columns: tuple[str, ...] | None = None  # lookup columns to bring (None: all but the keys)


@dataclass(frozen=True)
class RollupSpec:
    """``rollup:`` of a source: rows grouped by ``by`` into one row per group."""

    by: tuple[str, ...]
    sum: tuple[str, ...] = ()
    min: tuple[str, ...] = ()
    max: tuple[str, ...] = ()
    first: tuple[str, ...] = ()
    count: str | None = None  # name of a new column holding the rows of the group

    @property
    def inputs(self) -> list[str]:
        """Columns the rollup reads, in config order."""
        return list(dict.fromkeys([*self.by, *self.sum, *self.min, *self.max, *self.first]))

    @property
    def outputs(self) -> list[str]:
        """Columns of a rolled-up row (every other column is dropped)."""
        return [*self.inputs, *([self.count] if self.count else [])]


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
    joins: tuple[JoinSpec, ...] = ()
    rollup: RollupSpec | None = None

    @property
    def used_columns(self) -> list[str]:
        """Raw columns the config reads (identifiers and fields), in config order."""
        cols = [c for _, c in self.identifiers]
        for spec in [*self.fields.values(), *(f for it in self.items for f in it.values())]:
            if spec.column is not None:
                cols.append(spec.column)
            cols += [c for _, c in spec.date_parts]
        return list(dict.fromkeys(cols))

    @property
    def required_columns(self) -> list[str]:
        """Raw columns each file of the source must have.

        With ``join``, other columns may come from the lookup: the files must hold the join
        keys, and the rest is checked after the join. With ``rollup``, the rollup's inputs.
        """
        if self.joins:
            return list(dict.fromkeys(c for j in self.joins for c in j.left))
        if self.rollup is not None:
            return self.rollup.inputs
        return self.mapped_columns

    @property
    def mapped_columns(self) -> list[str]:
        """Columns the identifiers and fields need (optional fields' columns left out)."""
        optional = {f.column for f in self.fields.values() if f.optional}
        return [c for c in self.used_columns if c not in optional]

    @property
    def extra_fields(self) -> dict[str, FieldSpec]:
        """Fields of events and feedback beyond the canonical ones: typed extra columns."""
        canonical = (EVENT_FIELDS if self.kind == "events" else
                     FEEDBACK_FIELDS if self.kind == "feedback" else None)
        if canonical is None:
            return {}
        return {n: f for n, f in self.fields.items() if n not in canonical}


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
    #: every customers profile field -> its merge rule (``profiles.merge``; default first)
    profile_merge: dict[str, str] = field(default_factory=dict)
    lookups: tuple[SourceSpec, ...] = ()
    #: plausible window of event and answer times: earliest (ISO date or time) and latest
    #: (ISO date or time, or :data:`RUN_DATE`: the end of the run date of collect)
    plausible: tuple[str, str] = (EARLIEST_TIME, RUN_DATE)


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
    known_top = {"defaults", "ignore", "identity", "dedupe", "maps", "sources", "engine",
                 "profiles", "plausible"}
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
    lookups = tuple(_read_lookup(str(name), spec, defaults, maps, identity, touchpoint_stage,
                                 where) for name, spec in sources_raw.items()
                    if isinstance(spec, Mapping) and spec.get("kind") == LOOKUP_KIND)
    sources = tuple(_read_source(str(name), spec, defaults, maps, identity, touchpoint_stage,
                                 where) for name, spec in sources_raw.items()
                    if not (isinstance(spec, Mapping) and spec.get("kind") == LOOKUP_KIND))
    _check_shapes(sources, lookups, where)
    for kind in ("events", "feedback"):
        extra_columns(sources, kind, where=where)  # raises on clashing types
    ignore = tuple(str(p) for p in (raw.get("ignore") or ()))
    engine = dict(raw.get("engine") or {})
    profile_merge = _read_profiles(raw.get("profiles"), sources, where)
    plausible = _read_plausible(raw.get("plausible"), where)
    return SourcesConfig(spath, sources, identity, dedupe, ignore, touchpoint_stage, conv,
                         float(timeout), engine, profile_merge, lookups, plausible)


def _read_plausible(data: Any, where: str) -> tuple[str, str]:
    """``plausible: {earliest: 2000-01-01, latest: run_date}``: the window of event and answer
    times; a time outside it is quarantined (``<field>_out_of_range``)."""
    data = dict(data or {})
    earliest = str(data.pop("earliest", EARLIEST_TIME))
    latest = str(data.pop("latest", RUN_DATE))
    if data:
        raise ValueError(f"{where}: plausible: unknown option(s) {sorted(data)}; expected "
                         "earliest, latest")
    lo = _as_time(earliest, f"{where}: plausible.earliest")
    if latest != RUN_DATE and _as_time(latest, f"{where}: plausible.latest") <= lo:
        raise ValueError(f"{where}: plausible.latest ({latest}) must come after "
                         f"plausible.earliest ({earliest})")
    return earliest, latest


def _as_time(value: Any, at: str) -> Any:
    """An ISO date or time of the config as a UTC pandas Timestamp; the error names the key."""
    import pandas as pd

    try:
        stamp = pd.Timestamp(str(value))
    except (ValueError, TypeError):
        stamp = None
    if stamp is None or stamp is pd.NaT:
        raise ValueError(f"{at}: expected an ISO date or time such as 2000-01-01, got "
                         f"{value!r}")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def day_and_month_swapped(fmt: str) -> str | None:
    """``fmt`` with day (``%d``) and month (``%m``) swapped, or None when it does not hold
    both as numbers (``%d/%m/%Y`` -> ``%m/%d/%Y``; ``%d %b %Y`` -> None)."""
    if "%d" not in fmt or "%m" not in fmt:
        return None
    return fmt.replace("%d", "\0").replace("%m", "%d").replace("\0", "%m")


@functools.lru_cache(maxsize=1)
def _engine_time_zones() -> frozenset[str]:
    """Time-zone names the engine (DuckDB, ICU) knows."""
    import duckdb

    con = duckdb.connect()
    try:
        return frozenset(r[0] for r in con.execute("SELECT name FROM pg_timezone_names()"
                                                   ).fetchall())
    finally:
        con.close()


def check_time_zone(name: str, at: str) -> str:
    """``name`` when the engine knows the time zone; else a ``ValueError`` naming ``at`` (the
    file, source and key) with the closest names."""
    zones = _engine_time_zones()
    if name in zones:
        return name
    close = difflib.get_close_matches(name, sorted(zones), n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"{at}: unknown time zone {name!r}{hint} (an IANA name such as "
                     "'Europe/London' or 'UTC')")


def _read_profiles(data: Any, sources: tuple[SourceSpec, ...], where: str) -> dict[str, str]:
    """Every customers profile field -> its merge rule, checked against the fields' types."""
    data = dict(data or {})
    merge = data.pop("merge", None) or {}
    if data:
        raise ValueError(f"{where}: profiles: unknown option(s) {sorted(data)}; expected merge")
    if not isinstance(merge, Mapping):
        raise ValueError(f"{where}: profiles.merge must map a customers field to a rule, one "
                         f"of {', '.join(MERGE_RULES)}")
    types: dict[str, tuple[str, str]] = {}  # field -> (type, first source declaring it)
    for spec in sources:
        if spec.kind != "customers":
            continue
        for name, fs in spec.fields.items():
            if name == PROFILE_TIME_FIELD:
                if fs.type not in ("date", "time"):
                    raise ValueError(
                        f"{where}: source {spec.name!r}: fields.{name} is the time the row's "
                        f"values were observed: give it type date or time, got {fs.type!r}")
                continue
            seen = types.setdefault(name, (fs.type, spec.name))
            if seen[0] != fs.type:
                raise ValueError(
                    f"{where}: customers field {name!r} is {seen[0]} in source {seen[1]!r} "
                    f"but {fs.type} in source {spec.name!r}; declare one type")
    rules = {}
    for name, (typ, src) in types.items():
        rule = str(merge.get(name, "first"))
        at = f"{where}: profiles.merge.{name} (field of source {src!r}, type {typ})"
        if rule not in MERGE_RULES:
            raise ValueError(f"{at}: unknown rule {rule!r}; expected one of "
                             f"{', '.join(MERGE_RULES)}")
        if typ not in MERGE_RULES[rule]:
            fits = [r for r, ok in MERGE_RULES.items() if typ in ok]
            raise ValueError(f"{at}: rule {rule!r} is for {', '.join(MERGE_RULES[rule])} "
                             f"fields; a {typ} field takes {', '.join(fits)}")
        rules[name] = rule
    unknown = sorted(set(map(str, merge)) - set(rules))
    if unknown:
        raise ValueError(f"{where}: profiles.merge: {unknown} not a profile field of any "
                         f"customers source (the observation time {PROFILE_TIME_FIELD!r} is "
                         f"not merged); fields: {sorted(rules)}")
    return rules


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
                "optional", "sheet", "url", "query", "transcript", "strict_touchpoints", "join",
                "rollup"}
_FIELD_KEYS = {"column", "value", "map", "strict", "formats", "unit", "timezone", "scale", "type",
               "optional", "date_parts", "min", "max"}
DATE_PARTS = ("year", "month", "day", "hour", "minute", "second")


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
    if kind not in TABLE_KINDS:
        raise ValueError(f"{at}: kind must be one of {', '.join(map(repr, TABLE_KINDS))} "
                         f"(or {LOOKUP_KIND!r} for a table other sources join), got {kind!r}")
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
    tz = check_time_zone(str(spec.get("timezone", "UTC")), f"{at}: timezone")
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

    allowed = (EVENT_FIELDS if kind == "events" else FEEDBACK_FIELDS if kind == "feedback"
               else None)
    fields_raw = dict(spec.get("fields") or {})
    fields: dict[str, FieldSpec] = {}
    for fname, fspec in fields_raw.items():
        fname = str(fname)
        if allowed is not None and fname not in allowed:
            _check_extra_name(fname, kind, allowed, at)
        ftype = allowed[fname][0] if allowed is not None and fname in allowed else None
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
            if fname not in FEEDBACK_FIELDS:
                raise ValueError(f"{at}: items[{i}]: unknown field {fname!r}")
            if fname in ("touchpoint", "stage", "survey", "channel", "language", "brand"):
                # in items these name a constant (the item's touchpoint), not a column
                fs = {"value": val}
            else:
                fs = {"column": val} if isinstance(val, str) else val
            item[fname] = _read_field(fname, fs, FEEDBACK_FIELDS[fname][0], tz, maps,
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
    encodings = tuple(str(e) for e in (spec.get("encodings") or DEFAULT_ENCODINGS))
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
        url=spec.get("url"), query=spec.get("query"), transcript=transcript,
        joins=_read_joins(spec.get("join"), at), rollup=_read_rollup(spec.get("rollup"), kind, at))


def _read_field(fname: str, fspec: Any, ftype: str | None, tz: str, maps: dict[str, Any],
                at: str, touchpoint_stage: dict[str, str], strict_tp: bool) -> FieldSpec:
    if fspec is None or not isinstance(fspec, Mapping):
        # a plain scalar is a constant (channel: web); null says "not in this source"
        fspec = {"value": fspec}
    fspec = dict(fspec)
    unknown = sorted(set(fspec) - _FIELD_KEYS)
    if unknown:
        raise ValueError(f"{at}: unknown option(s) {unknown}; expected {sorted(_FIELD_KEYS)}")
    parts = fspec.get("date_parts") or {}
    if sum(k in fspec for k in ("column", "value", "date_parts")) != 1:
        raise ValueError(f"{at}: give either 'column' (a raw column), 'value' (a constant) or "
                         "'date_parts' (columns of year, month, day, ...)")
    typ = ftype or str(fspec.get("type", "string"))
    if parts and (typ not in ("time", "date") or not isinstance(parts, Mapping)
                  or not {"year", "month", "day"} <= set(parts) <= set(DATE_PARTS)):
        raise ValueError(f"{at}: date_parts maps {', '.join(DATE_PARTS)} (year, month and day "
                         f"required) to raw columns, for a time or date field; got {parts!r}")
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
    if unit is not None and unit not in EPOCH_US:
        raise ValueError(f"{at}: unit must be 's', 'ms' or 'us' (epoch time), got {unit!r}")
    formats = fspec.get("formats") or ()
    formats = (formats,) if isinstance(formats, str) else tuple(str(f) for f in formats)
    scale = fspec.get("scale")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, (int, float))):
        raise ValueError(f"{at}: scale must be a number, got {scale!r}")
    strict = bool(fspec.get("strict", strict_tp if typ == "touchpoint" else True))
    field_tz = (check_time_zone(str(fspec["timezone"]), f"{at}.timezone")
                if "timezone" in fspec else tz)
    lo, hi = _read_range(fname, fspec, typ, at)
    return FieldSpec(name=fname, column=fspec.get("column"), value=fspec.get("value"),
                     map=mapping, strict=strict, formats=formats, unit=unit,
                     timezone=field_tz, scale=scale, type=typ,
                     optional=bool(fspec.get("optional", False)),
                     date_parts=tuple((p, str(parts[p])) for p in DATE_PARTS if p in parts),
                     min=lo, max=hi)


def _read_range(fname: str, fspec: Mapping[str, Any], typ: str, at: str) -> tuple[Any, Any]:
    """A field's declared ``min``/``max``: finite numbers for number fields, ISO dates or
    times for time and date fields (kept as text); the money field ``value`` defaults to
    :data:`VALUE_RANGE`."""
    default = VALUE_RANGE if fname == "value" and typ == "float" else (None, None)
    bounds = [fspec.get("min", default[0]), fspec.get("max", default[1])]
    if all(b is None for b in bounds):
        return None, None
    if typ in _NUMBER_TYPES:
        for k, b in zip(("min", "max"), bounds, strict=True):
            if b is not None and (isinstance(b, bool) or not isinstance(b, (int, float))
                                  or not math.isfinite(b)):
                raise ValueError(f"{at}.{k}: expected a finite number, got {b!r}")
        bounds = [None if b is None else float(b) for b in bounds]
        order = bounds
    elif typ in _TIME_TYPES:
        order = [None if b is None else _as_time(b, f"{at}.{k}")
                 for k, b in zip(("min", "max"), bounds, strict=True)]
        bounds = [None if b is None else str(b) for b in bounds]
    else:
        raise ValueError(f"{at}: min and max are for number, time and date fields; this "
                         f"field is {typ}")
    if None not in order and order[0] > order[1]:
        raise ValueError(f"{at}: min ({bounds[0]}) is above max ({bounds[1]})")
    return bounds[0], bounds[1]


# --------------------------------------------------------------------------------------------
# Extra columns, lookups, joins and rollups
# --------------------------------------------------------------------------------------------


def _check_extra_name(fname: str, kind: str, allowed: Mapping[str, Any], at: str) -> None:
    """A field of events or feedback beyond the canonical ones becomes a typed extra column,
    unless its name is a computed column, internal, or so close to a canonical field that it
    is more likely a typo."""
    computed = COMPUTED_COLUMNS[kind]
    if fname in computed:
        raise ValueError(f"{at}: field {fname!r} clashes with the column {fname!r} that "
                         f"collection computes for {kind}; name the extra column otherwise")
    if fname.startswith("_") or not fname.strip():
        raise ValueError(f"{at}: field name {fname!r}: an extra column needs a name that does "
                         "not start with '_'")
    close = difflib.get_close_matches(fname, [*allowed, *computed], n=1, cutoff=_TYPO_CUTOFF)
    if close:
        raise ValueError(f"{at}: unknown field {fname!r} for {kind}; did you mean {close[0]!r}? "
                         f"(canonical fields: {sorted(allowed)}; any other name becomes an "
                         "extra column)")


def extra_columns(sources: tuple[SourceSpec, ...], kind: str, *, where: str = "sources config"
                  ) -> dict[str, str]:
    """Extra columns of the events or feedback table: name -> type, in config order.

    Several sources may fill the same extra column; they must give it the same type.
    """
    out: dict[str, str] = {}
    first: dict[str, str] = {}
    for spec in sources:
        if spec.kind != kind:
            continue
        for name, fs in spec.extra_fields.items():
            if name in out and out[name] != fs.type:
                raise ValueError(f"{where}: extra {kind} column {name!r} is {out[name]!r} in "
                                 f"source {first[name]!r} but {fs.type!r} in source "
                                 f"{spec.name!r}; give both the same type")
            out.setdefault(name, fs.type)
            first.setdefault(name, spec.name)
    return out


_LOOKUP_KEYS = {"kind", "files", "format", "encoding", "encodings", "delimiter", "quote",
                "timezone", "sheet", "url", "query", "optional", "drop"}


def _read_lookup(name: str, spec: Mapping[str, Any], defaults: dict[str, Any],
                 maps: dict[str, Any], identity: IdentityConfig,
                 touchpoint_stage: dict[str, str], where: str) -> SourceSpec:
    """A ``kind: lookup`` source: read like any source, but feeds no table of its own."""
    at = f"{where}: source {name!r}"
    unknown = sorted(set(spec) - _LOOKUP_KEYS)
    if unknown:
        raise ValueError(f"{at}: option(s) {unknown} do not apply to a lookup (it feeds no "
                         "table; the sources that join it map its columns); expected "
                         f"{sorted(_LOOKUP_KEYS)}")
    # read as a profile source without identifiers, to check files, format and encodings once
    base = _read_source(name, {**spec, "kind": "customers", "stitch": False}, defaults, maps,
                        identity, touchpoint_stage, where)
    return replace(base, kind=LOOKUP_KIND)


def _names(value: Any, at: str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if (isinstance(value, (list, tuple)) and value
            and all(isinstance(v, str) and v for v in value)):
        return tuple(value)
    raise ValueError(f"{at}: {what} must be a column name or a list of column names, "
                     f"got {value!r}")


def _read_joins(data: Any, at: str) -> tuple[JoinSpec, ...]:
    """``join: {source: lookup, on: key | [keys] | {column: lookup column}, columns: [...]}``,
    or a list of them (applied in order)."""
    if data is None:
        return ()
    items = data if isinstance(data, list) else [data]
    out = []
    for i, item in enumerate(items):
        where = f"{at}: join" + (f"[{i}]" if isinstance(data, list) else "")
        if not isinstance(item, Mapping):
            raise ValueError(f"{where}: expected a mapping such as {{source: "
                             "campaign_descriptions, on: campaign_id}")
        unknown = sorted(set(item) - {"source", "on", "columns"})
        if unknown:
            raise ValueError(f"{where}: unknown option(s) {unknown}; expected columns, on, "
                             "source")
        source = item.get("source")
        if not isinstance(source, str) or not source:
            raise ValueError(f"{where}.source: expected the name of a lookup source, "
                             f"got {source!r}")
        on = item.get("on")
        if isinstance(on, Mapping) and on:
            left = tuple(str(k) for k in on)
            right = tuple(str(v) for v in on.values())
        elif on is not None and not isinstance(on, Mapping):
            left = right = _names(on, f"{where}.on", "on")
        else:
            raise ValueError(f"{where}.on: expected a key column, a list of them, or a mapping "
                             f"column -> lookup column, got {on!r}")
        cols = item.get("columns")
        out.append(JoinSpec(source, left, right,
                            None if cols is None else _names(cols, f"{where}.columns",
                                                             "columns")))
    return tuple(out)


_ROLLUP_KEYS = ("by", "sum", "min", "max", "first", "count")


def _read_rollup(data: Any, kind: str, at: str) -> RollupSpec | None:
    """``rollup: {by: [...], sum: [...], min: [...], max: [...], first: [...], count: name}``."""
    if data is None:
        return None
    where = f"{at}: rollup"
    if kind not in ("events", "feedback"):
        raise ValueError(f"{where}: rollup is for events and feedback sources, not {kind}")
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: expected a mapping such as {{by: [basket_id], sum: "
                         "[sales_value], min: [transaction_timestamp], first: [household_id]}")
    unknown = sorted(set(data) - set(_ROLLUP_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown option(s) {unknown}; expected "
                         f"{', '.join(_ROLLUP_KEYS)}")
    if not data.get("by"):
        raise ValueError(f"{where}.by: the columns that identify a group are required")
    parts = {k: _names(data[k], f"{where}.{k}", k) if data.get(k) else ()
             for k in ("by", "sum", "min", "max", "first")}
    seen: dict[str, str] = {}
    for k, cols in parts.items():
        for c in cols:
            if c in seen:
                raise ValueError(f"{where}: column {c!r} is under both {seen[c]} and {k}; a "
                                 "column is rolled up one way")
            seen[c] = k
    count = data.get("count")
    if count is not None and (not isinstance(count, str) or not count or count in seen):
        raise ValueError(f"{where}.count: expected the name of a new column holding the rows "
                         f"of each group, got {count!r}")
    return RollupSpec(parts["by"], parts["sum"], parts["min"], parts["max"], parts["first"],
                      count)


def _check_shapes(sources: tuple[SourceSpec, ...], lookups: tuple[SourceSpec, ...],
                  where: str) -> None:
    """Joins name lookup sources; a rollup keeps every column the fields and identifiers use."""
    names = {s.name for s in lookups}
    for spec in sources:
        at = f"{where}: source {spec.name!r}"
        for j in spec.joins:
            if j.source not in names:
                raise ValueError(f"{at}: join.source {j.source!r} is not a lookup source; "
                                 f"declare it under sources with kind: lookup (lookups: "
                                 f"{sorted(names)})")
        if spec.rollup is not None:
            kept = set(spec.rollup.outputs)
            lost = [c for c in spec.used_columns if c not in kept]
            if lost:
                raise ValueError(f"{at}: rollup drops column(s) {lost} that the fields or "
                                 "identifiers use; list them under rollup (by, sum, min, max "
                                 "or first)")
