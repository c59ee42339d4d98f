"""SQL building for collection: quoting and literals, and the compiler of a source's fields.

:class:`FieldCompiler` turns the field specs of one source into DuckDB expressions that parse
each raw column (times to UTC, dates, numbers, scores, booleans, mapped values, touchpoints), the
ordered checks whose first failure gives a rejected row its quarantine reason, and the record's
identifier keys. :func:`q`, :func:`lit`, :func:`path_lit` and :func:`files_sql` quote
identifiers, Python scalars, paths and a list of staged Parquet files for DuckDB.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cjmlib.collection.sources import (
    EPOCH_US,
    RUN_DATE,
    FieldSpec,
    SourcesConfig,
    SourceSpec,
    day_and_month_swapped,
)
from cjmlib.core.schema import SCORE_RANGES

SQL_TYPES = {"time": "TIMESTAMPTZ", "date": "DATE", "string": "VARCHAR", "touchpoint": "VARCHAR",
              "float": "DOUBLE", "duration": "DOUBLE", "score": "INTEGER", "int": "BIGINT",
              "bool": "BOOLEAN"}
_DEFAULT_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S.%f%z",
    "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M", "%Y-%m-%d",
)


def q(name: str) -> str:
    """Quoted SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


def lit(value: Any) -> str:
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


def path_lit(path: Path | str) -> str:
    """SQL literal of a file path."""
    return lit(str(path))


def files_sql(paths: list[str]) -> str:
    """SQL that reads the given Parquet files as one table (columns matched by name)."""
    return "read_parquet([" + ", ".join(lit(p) for p in paths) + "], union_by_name = true)"


def _txt(expr: str) -> str:
    return f"nullif(trim(CAST({expr} AS VARCHAR)), '')"


class FieldCompiler:
    """Builds the validation query of one source: parsed fields plus ordered error checks."""

    def __init__(self, spec: SourceSpec, cfg: SourcesConfig, columns: dict[str, str]) -> None:
        self.spec, self.cfg, self.columns = spec, cfg, columns
        self.select: list[tuple[str, str]] = []  # (expression over src, alias) in f
        # (condition, reason, raw column, raw value, SQL of the detail) in the order they are
        # checked
        self.checks: list[tuple[str, str, str | None, str | None, str | None]] = []
        #: fields whose column is absent from the source's files: (field, column, optional)
        self.absent: list[tuple[str, str, bool]] = []
        #: time and date fields read with day and month: (field, column, text alias, formats)
        self.day_month: list[tuple[str, str, str, tuple[str, ...]]] = []
        self.joins: list[str] = []
        self._n = 0

    def add(self, expr: str) -> str:
        self._n += 1
        alias = f"_x{self._n}"
        self.select.append((expr, alias))
        return alias

    def raw(self, col: str) -> str:
        return f"src.{q(col)}" if col in self.columns else "NULL"

    def check(self, cond: str, reason: str, column: str | None, value: str | None,
              detail: str | None = None) -> None:
        """Register a check: rows where ``cond`` holds are rejected with ``reason``;
        ``detail`` is SQL (a literal or an expression) saying what was expected."""
        self.checks.append((cond, reason, column, value, detail))

    def _range(self, fs: FieldSpec, x: str, t: str, col: str) -> None:
        """Quarantine a number outside the field's declared ``min``/``max``."""
        lo, hi = fs.min, fs.max
        if lo is None and hi is None:
            return
        conds = ([f"{x} < {lit(lo)}"] if lo is not None else []) + (
            [f"{x} > {lit(hi)}"] if hi is not None else [])
        want = (f"between {lo:g} and {hi:g}" if lo is not None and hi is not None else
                f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        self.check(" OR ".join(conds), f"{fs.name}_out_of_range", col, t,
                   lit(f"expected {fs.name} {want} (min/max of the field in the sources "
                       "config)"))

    def _window(self, fs: FieldSpec) -> tuple[str | None, str | None, str]:
        """The (earliest, latest) bounds of a time or date field and what they are: its own
        ``min``/``max``, else for times of events and feedback the plausible window of the
        run (``plausible`` of the sources config; latest: the run date)."""
        if fs.min is not None or fs.max is not None:
            return fs.min, fs.max, "min/max of the field in the sources config"
        if fs.type != "time" or self.spec.kind not in ("events", "feedback"):
            return None, None, ""
        lo, hi = self.cfg.plausible
        if hi == RUN_DATE:  # collect fixes the run date; a bare config means today
            import datetime as dt

            hi = dt.datetime.now(dt.UTC).date().isoformat()
        return lo, hi, "plausible window of the run: sources config plausible, run_date"

    def _time_range(self, fs: FieldSpec, p: str, t: str, col: str) -> None:
        """Quarantine a time or date outside its window. A bound written as a date covers
        that whole day (UTC); a bound with a time of day is that instant."""
        lo, hi, said = self._window(fs)
        if lo is None and hi is None:
            return
        sqlt = "DATE" if fs.type == "date" else "TIMESTAMPTZ"
        conds = []
        if lo is not None:
            conds.append(f"{p} < CAST({lit(lo)} AS {sqlt})")
        if hi is not None:
            if len(str(hi)) <= 10 and sqlt == "TIMESTAMPTZ":
                conds.append(f"{p} >= CAST({lit(hi)} AS DATE) + INTERVAL 1 DAY")
            else:
                conds.append(f"{p} > CAST({lit(hi)} AS {sqlt})")
        want = (f"from {lo} to {hi}" if lo is not None and hi is not None else
                f"from {lo} on" if lo is not None else f"up to {hi}")
        shown = (f"strftime({p}, '%Y-%m-%d')" if sqlt == "DATE" else
                 f"strftime(timezone('UTC', {p}), '%Y-%m-%d %H:%M:%S UTC')")
        self.check(" OR ".join(conds), f"{fs.name}_out_of_range", col, t,
                   f"{lit(f'expected {fs.name} {want} ({said}); read as ')} || {shown}")

    # ---- fields -------------------------------------------------------------------------

    def field(self, fs: FieldSpec, required: bool) -> str:
        """Alias (in f) of the parsed field; registers its checks."""
        typ = fs.type
        sqlt = SQL_TYPES[typ]
        if fs.date_parts:
            return self._date_parts(fs, required)
        if fs.column is None:
            if fs.value is None:
                return self.add(f"CAST(NULL AS {sqlt})")
            if typ == "time":
                return self.add(f"CAST({lit(fs.value)} AS TIMESTAMPTZ)")
            return self.add(f"CAST({lit(fs.value)} AS {sqlt})")
        col = fs.column
        if col not in self.columns:  # optional column absent from every file: reported
            self.absent.append((fs.name, col, fs.optional))
            return self.add(f"CAST(NULL AS {sqlt})")
        ctype = self.columns[col].upper()
        t = self.add(_txt(self.raw(col)))
        name = fs.name
        if typ == "time":
            p = self.add(self._time(fs, self.raw(col), t, ctype))
            if required:
                self.check(f"{t} IS NULL", "missing_time", col, None)
            self.check(f"{t} IS NOT NULL AND {p} IS NULL", "unparseable_time", col, t)
            self._time_range(fs, p, t, col)
            self._day_month(fs, col, t)
            return p
        if typ == "date":
            if ctype.startswith(("TIMESTAMP", "DATE")):
                p = self.add(f"CAST({self.raw(col)} AS DATE)")
            else:
                fmts = ", ".join(lit(f) for f in (fs.formats or ("%Y-%m-%d",)))
                p = self.add(f"CAST(try_strptime({t}, [{fmts}]) AS DATE)")
            self.check(f"{t} IS NOT NULL AND {p} IS NULL", "unparseable_date", col, t)
            self._time_range(fs, p, t, col)
            if not ctype.startswith(("TIMESTAMP", "DATE")):
                self._day_month(fs, col, t)
            return p
        if typ in ("float", "duration", "score", "int"):
            num = (f"CAST({self.raw(col)} AS DOUBLE)" if _is_numeric(ctype)
                   else f"TRY_CAST({t} AS DOUBLE)")
            x = self.add(f"CASE WHEN isfinite({num}) THEN {num} END")
            if fs.scale is not None:
                x = self.add(f"{x} * {lit(float(fs.scale))}")
            self.check(f"{t} IS NOT NULL AND {x} IS NULL", "unparseable_number", col, t)
            self._range(fs, x, t, col)
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
                known = ", ".join(lit(k) for k in self.cfg.touchpoint_stage)
                self.check(f"{t} IS NOT NULL AND {t} NOT IN ({known})", "unknown_touchpoint",
                           col, t)
        if required:
            self.check(f"{t} IS NULL", f"missing_{name}", col, None)
        return p

    def _day_month(self, fs: FieldSpec, col: str, t: str) -> None:
        """Remember a text time or date read with declared formats that hold both day and
        month in digits, so staging can refuse swapped day and month."""
        if fs.formats and any(day_and_month_swapped(f) for f in fs.formats):
            self.day_month.append((fs.name, col, t, fs.formats))

    def _date_parts(self, fs: FieldSpec, required: bool) -> str:
        """A time (or date) from integer columns of year, month, day[, hour, minute, second],
        read in the field's time zone; an impossible date (31 April) is unparseable."""
        part = {p: self.add(f"TRY_CAST(TRY_CAST({_txt(self.raw(c))} AS DOUBLE) AS BIGINT)")
                for p, c in fs.date_parts}
        text = " || ".join(
            f"lpad(CAST({part[p]} AS VARCHAR), {w}, '0') || {lit(sep)}" if p in part
            else lit("00" + sep)
            for p, w, sep in (("year", 4, "-"), ("month", 2, "-"), ("day", 2, " "),
                              ("hour", 2, ":"), ("minute", 2, ":"), ("second", 2, "")))
        t = self.add(text)
        stamp = f"try_strptime({t}, '%Y-%m-%d %H:%M:%S')"
        tz = lit(fs.timezone or self.spec.timezone)
        p = self.add(f"CAST({stamp} AS DATE)" if fs.type == "date" else
                     f"timezone({tz}, {stamp})")
        cols = ", ".join(c for _, c in fs.date_parts)
        if required:
            self.check(" OR ".join(f"{x} IS NULL" for x in part.values()), "missing_time",
                       cols, None)
        self.check(f"{t} IS NOT NULL AND {p} IS NULL", "unparseable_time", cols, t)
        self._time_range(fs, p, t, cols)
        return p

    def _map(self, fs: FieldSpec, t: str, sqlt: str) -> str:
        whens = " ".join(f"WHEN {lit(k)} THEN CAST({lit(v)} AS {sqlt})"
                         for k, v in (fs.map or {}).items())
        return f"CASE {t} {whens} END" if whens else f"CAST(NULL AS {sqlt})"

    def _time(self, fs: FieldSpec, raw: str, t: str, ctype: str) -> str:
        tz = lit(fs.timezone or self.spec.timezone)
        if ctype.startswith("TIMESTAMP") and ("TIME ZONE" in ctype or "TZ" in ctype):
            return f"CAST({raw} AS TIMESTAMPTZ)"
        if ctype.startswith(("TIMESTAMP", "DATE")):
            return f"timezone({tz}, CAST({raw} AS TIMESTAMP))"
        if fs.unit:
            factor = EPOCH_US[fs.unit]
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
            parts.append(f"try_strptime({t}, [{', '.join(lit(f) for f in zoned)}])")
        if naive:
            fmts = ", ".join(lit(f) for f in naive)
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
                norm = (f"CASE WHEN ({norm}) IN ({', '.join(lit(p) for p in ph)}) THEN NULL "
                        f"ELSE ({norm}) END")
            n = self.add(norm)
            value = (f"sha256(getvariable('cjm_salt') || {lit('|' + typ + '|')} || {n})"
                     if it.pii else n)
            keys.append(self.add(f"{lit(typ + ':')} || {value}"))
        if not keys:
            return self.add("CAST([] AS VARCHAR[])")
        return self.add(f"list_filter([{', '.join(keys)}], lambda k: k IS NOT NULL)")


def _is_numeric(ctype: str) -> bool:
    return ctype.split("(")[0] in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT",
                                   "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT",
                                   "DOUBLE", "DECIMAL")
