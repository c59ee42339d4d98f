"""Profiling raw exports: what each file is and which column plays which role.

:func:`profile_export` reads the first rows of one raw file (CSV, TSV, JSON lines, Parquet,
Excel; gzip, bz2 or one-file zip compressed) and guesses, from column names, types and values,
the customer id, the time and its format, the event name, the channel, the session, a value,
survey scores and free text -- and from those whether the file holds events, feedback or
customer profiles. Every guess carries the evidence it rests on, and whatever a guess could
not settle is listed in ``to_confirm``: ``cjm init`` (:mod:`cjmlib.workflow.project`) prints
them for the researcher and writes configs from them. Nothing here is sample-specific: the
rules are the column-naming habits of analytics, CRM, survey and process-mining exports.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.collection.landing import COMPRESSIONS, inner_name, open_raw

#: Rows read from each file to profile it.
PROFILE_ROWS = 20_000
#: File name endings of raw exports (compressed ones end in one of COMPRESSIONS too).
EXPORT_SUFFIXES = (".csv", ".tsv", ".txt", ".jsonl", ".ndjson", ".json", ".parquet", ".pq",
                   ".xlsx", ".xlsm")

_ID = re.compile(r"^(?:(?:customer|cust|user|client|visitor|household|member|account|person|"
                 r"case|application|app|ticket|contact|shopper|buyer)[_ -]?(?:id|key|no|nr|"
                 r"number|code|ref)?|id|uid|cid|userid|customerid)$", re.I)
_TIME = re.compile(r"(time|timestamp|date|datetime|^ts$|_ts$|^ts_|_at$|created|occurred|when)",
                   re.I)
_EVENT = re.compile(r"^(event|event[_ ]?(name|type)|action|activity|activity[_ ]?name|"
                    r"concept:name|page|page[_ ]?name|screen|step|touchpoint|interaction|"
                    r"event_action|type)$", re.I)
_CHANNEL = re.compile(r"^(channel|platform|device|device[_ ]?type|medium|os|source[_ ]?"
                      r"channel|touchpoint[_ ]?channel)$", re.I)
_SESSION = re.compile(r"(session|visit)[_ ]?(id|key|no)?$", re.I)
# not "price": the price of a viewed product is no transaction value
_VALUE = re.compile(r"(amount|revenue|value|sales|spend|total|transaction[_ ]?value)", re.I)
#: Calendar parts in separate columns (year, month, day[, hour, minute, second]).
_DATE_PARTS = {"year": re.compile(r"^(year|yr|yyyy)$", re.I),
               "month": re.compile(r"^(month|mon|mm)$", re.I),
               "day": re.compile(r"^(day|dd|day[_ ]?of[_ ]?month)$", re.I),
               "hour": re.compile(r"^(hour|hh)$", re.I),
               "minute": re.compile(r"^(minute|min)$", re.I),
               "second": re.compile(r"^(second|sec|ss)$", re.I)}
_PART_RANGES = {"year": (1900, 2100), "month": (1, 12), "day": (1, 31), "hour": (0, 23),
                "minute": (0, 59), "second": (0, 59)}
_CATEGORY = re.compile(r"categor", re.I)
_DELIMITERS = (",", ";", "\t", "|")
_SCORES = {"csat": re.compile(r"(csat|satisf|rating|stars?$|score$)", re.I),
           "nps": re.compile(r"(nps|recommend|likelihood)", re.I),
           "ces": re.compile(r"(ces|effort)", re.I)}
_TEXT = re.compile(r"(comment|text|review|feedback|verbatim|message|remark|note|body)", re.I)
_TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%m/%d/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M",
                 "%d.%m.%Y %H:%M:%S", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%Y/%m/%d %H:%M:%S",
                 "%Y/%m/%d")


@dataclass
class ExportProfile:
    """What one raw file looks like and what it probably is.

    ``kind``: events, feedback or customers (None: unknown); ``roles``: role -> column
    (customer_id, event_time, touchpoint, channel, session_id, value, csat, nps, ces, text);
    ``time``: how the time column is written (``formats`` for strptime, ``unit`` for epoch
    numbers, or ``date_parts`` when year, month and day are separate columns; whether it
    states its time zone and whether it holds dates only, ``date_only``); ``delimiter``: the
    field separator of a CSV; ``evidence``: why each role was chosen; ``to_confirm``: what the
    researcher must check.
    """

    path: Path
    name: str
    format: str
    rows_read: int
    columns: list[str]
    kind: str | None = None
    roles: dict[str, str] = field(default_factory=dict)
    time: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, str] = field(default_factory=dict)
    to_confirm: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = field(default=None, repr=False)
    delimiter: str = ","

    def values(self, role: str, *, top: int | None = None) -> list[str]:
        """Distinct values of a role's column in the rows read, most frequent first."""
        column = self.roles.get(role)
        if column is None or self.frame is None:
            return []
        counts = self.frame[column].dropna().astype(str).value_counts()
        return list(counts.index[:top] if top else counts.index)


def export_format(path: str | os.PathLike[str]) -> str | None:
    """csv, tsv, jsonl, parquet or excel from the file name (inside a compressed one)."""
    suffix = Path(inner_name(path)).suffix.lower()
    return {".csv": "csv", ".txt": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "jsonl", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel",
            ".xlsm": "excel"}.get(suffix)


def list_exports(raw_dir: str | os.PathLike[str]) -> list[Path]:
    """The raw files of a folder that can be read as sources, sorted by relative path."""
    root = Path(raw_dir)
    found = []
    for p in sorted(root.rglob("*")):
        if not p.is_file() or p.name.startswith("."):
            continue
        name = p.name.lower()
        plain = name.rsplit(".", 1)[0] if Path(name).suffix in COMPRESSIONS else name
        if plain.endswith(EXPORT_SUFFIXES) or (name.endswith(".zip") and _zip_export(p)):
            found.append(p)
    return found


def _zip_export(path: Path) -> bool:
    try:
        return export_format(path) is not None
    except ValueError:
        return False


def read_sample(path: str | os.PathLike[str], *, rows: int = PROFILE_ROWS) -> pd.DataFrame:
    """The first ``rows`` rows of a raw file as strings (CSV, TSV, JSON lines, Excel) or with
    their stored types (Parquet)."""
    p = Path(path)
    fmt = export_format(p)
    if fmt in ("csv", "tsv"):
        with open_raw(p) as fh:
            head = fh.readline()
        line = head.decode("utf-8", "replace") if isinstance(head, bytes) else head
        sep = "\t" if fmt == "tsv" else sniff_delimiter(line)
        with open_raw(p) as fh:
            frame = pd.read_csv(fh, sep=sep, nrows=rows, dtype=str, keep_default_na=False,
                                na_values=[""], encoding_errors="replace")
        frame.attrs["delimiter"] = sep
        return frame
    if fmt == "jsonl":
        with open_raw(p) as fh:
            lines = [json.loads(line) for _, line in zip(range(rows), fh, strict=False)
                     if line.strip()]
        return pd.DataFrame(lines)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        handle = pq.ParquetFile(p)
        batch = next(handle.iter_batches(batch_size=rows), None)
        return batch.to_pandas() if batch is not None else handle.schema_arrow.empty_table(
            ).to_pandas()
    if fmt == "excel":
        return pd.read_excel(p, nrows=rows, dtype=str)
    raise ValueError(f"{p}: cannot tell the format from the file name; expected one of "
                     f"{', '.join(EXPORT_SUFFIXES)} (optionally .gz, .bz2 or .zip)")


def sniff_delimiter(header: str) -> str:
    """The field separator of a CSV header line: the most frequent of , ; tab | outside quotes
    (a comma when none occurs).

    >>> sniff_delimiter("year;month;session ID;page"), sniff_delimiter('a,"b;c",d')
    (';', ',')
    """
    bare = re.sub(r'"[^"]*"', "", header)
    counts = {d: bare.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def profile_export(path: str | os.PathLike[str], raw_dir: str | os.PathLike[str] | None = None,
                   *, rows: int = PROFILE_ROWS) -> ExportProfile:
    """Profile one raw file: its roles, its kind and what to confirm (see the module)."""
    p = Path(path)
    frame = read_sample(p, rows=rows)
    name = str(p.relative_to(raw_dir)) if raw_dir is not None else p.name
    prof = ExportProfile(p, name, export_format(p) or "?", len(frame),
                         [str(c) for c in frame.columns], frame=frame,
                         delimiter=frame.attrs.get("delimiter", ","))
    if frame.empty:
        prof.to_confirm.append(f"{name}: no rows; left out")
        return prof
    _guess_roles(prof, frame)
    _guess_kind(prof, frame)
    return prof


def _guess_roles(prof: ExportProfile, frame: pd.DataFrame) -> None:
    columns = list(frame.columns)
    text_cols = [c for c in columns if _is_texty(frame[c])]
    # customer id: a name that says so, else the most id-like text column
    ids = [c for c in columns if _ID.match(str(c).strip())]
    if ids:
        prof.roles["customer_id"] = ids[0]
        prof.evidence["customer_id"] = f"column name {ids[0]!r}"
    # time: columns whose values parse as times, preferring time-like names and resolution
    times = []
    for c in columns:
        how = _time_reading(frame[c])
        if how is not None:
            times.append((bool(_TIME.search(str(c))), how.pop("distinct"), c, how))
    parts = {} if times else _date_parts(frame)
    if parts:
        prof.roles["event_time"] = parts["year"]
        prof.time = {"date_parts": parts, "zone": False, "date_only": "hour" not in parts}
        prof.evidence["event_time"] = "date parts " + ", ".join(map(repr, parts.values()))
        prof.to_confirm.append(
            f"{prof.name}: event time built from the columns {list(parts.values())}"
            + ("" if "hour" in parts else ": no time of day, so events of one day keep the "
               "order of the file's rows") + "; read as UTC")
    if times:
        named, _, column, how = max(times, key=lambda t: (t[0], t[1]))
        prof.roles["event_time"] = column
        prof.time = how
        prof.evidence["event_time"] = (f"{column!r} parses as times"
                                       + (" and is named like one" if named else ""))
        if not how.get("zone") and "unit" not in how:
            prof.to_confirm.append(f"{prof.name}: {column!r} has no time zone: read as UTC; set "
                                   "the source's timezone if the export is local time")
        if how.get("ambiguous"):
            prof.to_confirm.append(f"{prof.name}: {column!r} could be day/month or month/day; "
                                   f"guessed {how['formats'][0]!r}")
    taken = set(prof.time.get("date_parts", {}).values())
    for role, pattern in (("touchpoint", _EVENT), ("channel", _CHANNEL),
                          ("session_id", _SESSION)):
        hits = [c for c in columns if pattern.search(str(c).strip())
                and c not in prof.roles.values() and c not in taken]
        if hits:
            prof.roles[role] = hits[0]
            prof.evidence[role] = f"column name {hits[0]!r}"
    _prefer_category(prof, frame, taken)
    if "customer_id" not in prof.roles and "session_id" in prof.roles:
        # clickstreams without log-in: the session is the only unit to follow
        prof.roles["customer_id"] = prof.roles["session_id"]
        prof.evidence["customer_id"] = f"no customer column; the session {prof.roles['session_id']!r}"
        prof.to_confirm.append(f"{prof.name}: no customer id column: each session "
                               f"({prof.roles['session_id']!r}) is read as one customer")
    id_col = prof.roles.get("customer_id")
    repeats = id_col is not None and frame[id_col].nunique() < frame[id_col].notna().sum()
    if "touchpoint" not in prof.roles and repeats:  # events: a few repeating names per customer
        candidates = [c for c in text_cols if c not in prof.roles.values()
                      and 2 <= frame[c].nunique() <= 200 and frame[c].nunique() < len(frame) / 3]
        if candidates and "event_time" in prof.roles:
            best = min(candidates, key=lambda c: frame[c].nunique())
            prof.roles["touchpoint"] = best
            prof.evidence["touchpoint"] = (f"{best!r} repeats {frame[best].nunique()} values "
                                           "like event names")
            prof.to_confirm.append(f"{prof.name}: event names guessed from {best!r}")
    numeric = [c for c in columns if c not in prof.roles.values() and _is_number(frame[c])]
    values = [c for c in numeric if _VALUE.search(str(c))]
    if values:
        prof.roles["value"] = values[0]
        prof.evidence["value"] = f"numeric column named {values[0]!r}"
    for score, pattern in _SCORES.items():
        hits = [c for c in numeric if pattern.search(str(c)) and c not in prof.roles.values()]
        for c in hits:
            low, high = _range(frame[c])
            scale = {"csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}[score]
            if scale[0] <= low and high <= scale[1]:
                prof.roles[score] = c
                prof.evidence[score] = f"{c!r} holds {low:g}..{high:g}"
                break
    texts = [c for c in text_cols if _TEXT.search(str(c)) and c not in prof.roles.values()]
    if texts:
        prof.roles["text"] = texts[0]
        prof.evidence["text"] = f"free text in {texts[0]!r}"


def _date_parts(frame: pd.DataFrame) -> dict[str, str]:
    """part -> column when year, month and day (and perhaps hour, minute, second) are separate
    integer columns named so; empty otherwise."""
    found: dict[str, str] = {}
    for part, pattern in _DATE_PARTS.items():
        for c in frame.columns:
            if pattern.match(str(c).strip()) and _is_number(frame[c]):
                x = pd.to_numeric(frame[c], errors="coerce").dropna()
                low, high = _PART_RANGES[part]
                if len(x) and (x == x.round()).all() and x.between(low, high).all():
                    found[part] = str(c)
                    break
    return found if {"year", "month", "day"} <= set(found) else {}


def _prefer_category(prof: ExportProfile, frame: pd.DataFrame, taken: set[str]) -> None:
    """An event column that holds only numbers (a page number, a position) says where on a
    page, not what was visited: a category column, when there is one, names the step."""
    column = prof.roles.get("touchpoint")
    if column is None or not _is_number(frame[column]):
        return
    categories = [c for c in frame.columns if _CATEGORY.search(str(c)) and c != column
                  and c not in prof.roles.values() and c not in taken
                  and 2 <= frame[c].nunique() <= 200]
    if categories:
        prof.roles["touchpoint"] = categories[0]
        prof.evidence["touchpoint"] = (f"{column!r} holds numbers only; {categories[0]!r} "
                                       "names the category visited")
        prof.to_confirm.append(f"{prof.name}: touchpoints taken from {categories[0]!r}, not "
                               f"{column!r} (numbers: a page or position)")


def _guess_kind(prof: ExportProfile, frame: pd.DataFrame) -> None:
    roles = prof.roles
    has_id = "customer_id" in roles
    unique_ids = has_id and frame[roles["customer_id"]].nunique() == len(
        frame.dropna(subset=[roles["customer_id"]]))
    if any(s in roles for s in ("csat", "nps", "ces")) or ("text" in roles and has_id
                                                          and "touchpoint" not in roles):
        prof.kind = "feedback"
    elif unique_ids and "touchpoint" not in roles:
        prof.kind = "customers"  # one row per customer and no events: a profile
        for role in ("event_time", "channel", "session_id", "value"):
            roles.pop(role, None)
        prof.time = {}
        prof.to_confirm = [c for c in prof.to_confirm if "time zone" not in c]
    elif has_id and "event_time" in roles:
        prof.kind = "events"
        if "touchpoint" not in roles:
            what = ("'purchase' (a transaction)" if "value" in roles
                    else "event named after the file")
            prof.to_confirm.append(f"{prof.name}: no event column; every row is read as one "
                                   f"{what}")
    if prof.kind is None:
        found = ", ".join(f"{r}={c!r}" for r, c in roles.items()) or "nothing"
        prof.to_confirm.append(f"{prof.name}: not read (found {found}); add it to "
                               "configs/sources.yaml by hand if it is a source")
    elif not has_id:
        prof.to_confirm.append(f"{prof.name}: no customer id column found; name it under "
                               "identifiers")


def _is_texty(values: pd.Series) -> bool:
    return values.dtype == object or pd.api.types.is_string_dtype(values)


def _is_number(values: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(values):
        return False
    if pd.api.types.is_numeric_dtype(values):
        return True
    parsed = pd.to_numeric(values.dropna(), errors="coerce")
    return len(parsed) > 0 and parsed.notna().mean() >= 0.99


def _range(values: pd.Series) -> tuple[float, float]:
    parsed = pd.to_numeric(values, errors="coerce").dropna()
    return (float(parsed.min()), float(parsed.max())) if len(parsed) else (np.nan, np.nan)


def _time_reading(values: pd.Series) -> dict[str, Any] | None:
    """How a column is written if it holds times (ISO text, a known strptime format or epoch
    numbers), with ``distinct`` values for ranking; None otherwise."""
    v = values.dropna()
    if v.empty:
        return None
    if pd.api.types.is_datetime64_any_dtype(v):
        return {"formats": [], "zone": isinstance(v.dtype, pd.DatetimeTZDtype),
                "distinct": int(v.nunique()), "date_only": bool((v == v.dt.normalize()).all())}
    if pd.api.types.is_numeric_dtype(v) or _is_number(v):
        x = pd.to_numeric(v, errors="coerce").dropna()
        for unit, low, high in (("s", 9.0e8, 4.1e9), ("ms", 9.0e11, 4.1e12)):
            if len(x) and x.between(low, high).all():
                return {"unit": unit, "distinct": int(x.nunique())}
        return None
    text = v.astype(str).str.strip()
    if not text.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True).all():
        return None
    iso = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=True)
    if iso.notna().all():
        zone = bool(text.str.contains(r"(?:Z|[+-]\d{2}:?\d{2})$", regex=True).all())
        return {"formats": [], "zone": zone, "distinct": int(text.nunique()),
                "date_only": bool((iso == iso.dt.normalize()).all())}
    fits = [f for f in _TIME_FORMATS
            if pd.to_datetime(text, errors="coerce", format=f).notna().all()]
    if not fits:
        return None
    ambiguous = any(a.replace("%d", "#").replace("%m", "%d").replace("#", "%m") == b
                    for a in fits for b in fits if a != b)
    return {"formats": fits[:1], "zone": False, "ambiguous": ambiguous,
            "distinct": int(text.nunique()), "date_only": "%H" not in fits[0]}
