"""Which raw data the processed tables were built from, and whether it is still there.

01_collect writes ``manifest.json`` next to the canonical tables, naming every raw file it
read with its size and SHA-256. The notebooks after it read those tables, not the raw data,
so when the raw exports are changed or replaced and only a later notebook runs
(``cjm run --notebooks 02_journeys``), its results would silently describe the old data
while the run folder hashes the new. :func:`raw_lineage` compares the manifest with the raw
folder as it is now; :func:`check_lineage` refuses the mix.

Why refuse rather than go on: a run that mixes raw data of today with tables of last month
gives numbers nobody can trace, and its manifest would name raw files the results do not
come from. Re-running 01_collect is the cure and is cheap next to a wrong report. Where the
old tables are wanted on purpose (raw data since archived, a comparison with an earlier
state), ``allow_stale=True`` (the notebooks' ``allow_stale_processed``, recorded with the
run's parameters in its manifest) goes on and the notebook says which raw data the tables
came from. What cannot be compared is said, never refused, because a run never fails on
data it has no use for: tables without a collect manifest (an events table made elsewhere),
or no raw folder at hand (only processed tables were shipped).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cjmlib.core.config import resolve_path
from cjmlib.core.io import file_sha256

#: The collect manifest's file name in the processed folder.
MANIFEST = "manifest.json"


class StaleProcessedData(ValueError):
    """The processed tables were built from other raw data than the raw folder now holds."""


@dataclass(frozen=True)
class Lineage:
    """The processed tables' raw data against the raw folder now.

    ``processed_dir``: the folder of the tables; ``built_from``: the raw folder 01_collect
    read (as its manifest says), None without a manifest; ``raw_dir``: the folder compared;
    ``files``: the raw files the manifest names that were compared; ``changed`` and
    ``missing``: their relative names whose content differs now, or that are gone;
    ``compared_by``: ``"SHA-256"``, or ``"size"`` for a manifest written without hashes;
    ``not_checked``: why nothing was compared, else None; ``allowed_stale``: the check was
    told to go on with stale tables.
    """

    processed_dir: Path
    built_from: str | None
    raw_dir: Path | None
    files: int = 0
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    compared_by: str = "SHA-256"
    not_checked: str | None = None
    allowed_stale: bool = False

    @property
    def stale(self) -> bool:
        """True when a raw file the tables were built from changed or is gone."""
        return bool(self.changed or self.missing)

    def differences(self) -> str:
        """The differing files in words, e.g. ``changed: a.csv, b.csv; missing: c.csv``."""
        parts = [f"{word} since 01_collect ran: {_listed(names)}"
                 for word, names in (("changed", self.changed), ("missing", self.missing))
                 if names]
        return "; ".join(parts)

    def message(self) -> str:
        """One paragraph for the notebook (and the error when stale)."""
        where = str(self.processed_dir)
        if self.not_checked is not None:
            return f"The tables of {where} were not checked against raw data: {self.not_checked}."
        source = f"{self.files} raw file{'s' if self.files != 1 else ''} of {self.built_from}"
        if not self.stale:
            return (f"The tables of {where} were built by 01_collect from {source}; "
                    f"{self.raw_dir} holds them unchanged (compared by {self.compared_by}).")
        text = (f"The tables of {where} were built by 01_collect from other raw data than "
                f"{self.raw_dir} now holds ({self.differences()}).")
        if self.allowed_stale:
            return (text + f" allow_stale_processed is set: the tables are analysed as they "
                    f"are, built from {source} as its {MANIFEST} names them, not from the raw "
                    "data now present.")
        return (text + " Re-run 01_collect first (`cjm run`, or `cjm run --notebooks "
                "01_collect ...`) so the tables match the raw data, or set the parameter "
                "allow_stale_processed to true to analyse the tables as they are.")


def raw_lineage(processed: str | os.PathLike[str], *,
                raw_dir: str | os.PathLike[str] | None = None) -> Lineage:
    """Compare the raw files of the collect manifest with the raw folder now.

    ``processed`` is the processed folder or one of its tables (``events_path``);
    ``raw_dir`` the raw folder to compare with (None: the one the manifest names). Each raw
    file the manifest names is looked for under ``raw_dir`` by its relative name: gone is
    *missing*; another size, or the same size and another SHA-256, is *changed*. Files added
    to the folder since are not judged: whether a source reads them depends on the sources
    config; re-run 01_collect to take them in. Nothing is compared (``not_checked`` says why)
    when there is no manifest or no raw folder with files.

    >>> raw_lineage("no/such/folder").not_checked
    'no collect manifest (manifest.json) next to them: which raw data they come from is not known'
    """
    path = resolve_path(processed)
    folder = path.parent if path.is_file() else path
    manifest = _read_manifest(folder / MANIFEST)
    if manifest is None:
        return Lineage(folder, None, None, not_checked=(
            f"no collect manifest ({MANIFEST}) next to them: which raw data they come from "
            "is not known"))
    built_from = str(manifest.get("raw_dir") or "")
    if raw_dir is None and not built_from:
        return Lineage(folder, None, None, not_checked=f"its {MANIFEST} names no raw folder")
    raw = resolve_path(raw_dir if raw_dir is not None else built_from)
    if not raw.is_dir() or not any(p.is_file() for p in raw.rglob("*")):
        return Lineage(folder, built_from, raw, not_checked=(
            f"the raw folder {raw} is absent or empty (01_collect read {built_from})"))
    entries = _raw_files(manifest)
    hashed = all("sha256" in e for e in entries.values())
    changed, missing = [], []
    for name, entry in entries.items():
        now = raw / name
        if not now.is_file():
            missing.append(name)
        elif now.stat().st_size != entry["bytes"] or (
                hashed and file_sha256(now) != entry["sha256"]):
            changed.append(name)
    return Lineage(folder, built_from, raw, files=len(entries), changed=tuple(changed),
                   missing=tuple(missing), compared_by="SHA-256" if hashed else "size")


def check_lineage(processed: str | os.PathLike[str], *,
                  raw_dir: str | os.PathLike[str] | None = None,
                  allow_stale: bool = False) -> Lineage:
    """:func:`raw_lineage`, refusing stale tables unless ``allow_stale``.

    Raises :class:`StaleProcessedData` naming the processed folder, the raw folder and every
    changed or missing raw file, and saying how to go on (re-run 01_collect, or set
    ``allow_stale_processed``). With ``allow_stale`` the result is returned and its
    :meth:`Lineage.message` says which raw data the tables were built from.
    """
    lineage = raw_lineage(processed, raw_dir=raw_dir)
    if lineage.stale and not allow_stale:
        raise StaleProcessedData(lineage.message())
    if allow_stale and lineage.stale:
        lineage = replace(lineage, allowed_stale=True)
    return lineage


def _listed(names: tuple[str, ...], shown: int = 10) -> str:
    """Names joined by commas, the first ``shown`` of them and how many more."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """The collect manifest, or None when there is none (or it is not one)."""
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
    is_collect = isinstance(manifest, dict) and isinstance(manifest.get("inputs"), list)
    return manifest if is_collect else None


def _raw_files(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Relative name -> manifest entry of every raw file read (database sources aside: they
    have no file, so no size)."""
    return {str(e["file"]): e for e in manifest["inputs"]
            if isinstance(e, dict) and "file" in e and "bytes" in e}
