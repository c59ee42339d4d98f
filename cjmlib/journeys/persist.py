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

Inputs that are not files (a pandas DataFrame, an Ibis table of another engine) and every
input when another engine is selected (:func:`cjmlib.core.engine.use_engine`) are not
cached on this machine's disk: on DuckDB the journeys are built as usual; on PySpark the
steps and the per-journey rows are cached in Spark (``Table.cache``) for the session, where
the cluster keeps them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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
    sessionisation and the event checks of the build.
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
    if not all((entry / name).exists() for name in (_META, _STEPS, _JOURNEYS)):
        save_journeys(build_journeys(events, customers=customers, **options), entry)
        _prune(folder)
    else:
        os.utime(entry)  # most recently used
    return load_journeys(entry, **{k: options[k] for k in _DESCRIPTIVE if k in options})


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
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.mkdir()
    try:  # the steps with every window column, computed in one pass
        steps = journeys.ordered(*ORDERED_COLUMNS).order_by(["journey_id", "event_time", "seq"])
        connection().to_parquet(steps, tmp / _STEPS)
        # one row per journey, grouped from the steps just written (no window again)
        written = _with_precomputed(journeys, as_table(tmp / _STEPS, what="journeys steps"))
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
