"""Run folders: their ids, their layout, where to find earlier ones and their tables.

A run folder is ``reports/<run_id>/`` with ``run_id`` the UTC start time,
``YYYYMMDDTHHMMSSZ``, and a suffix ``-2``, ``-3``, ... when two runs start in the same second.
Run ids sort in time order; :func:`run_key` turns a folder name into that order.

Inside a run folder::

    report.html        the improvement report (06_report)
    index.html         every output with the notebook that wrote it (cjm run)
    manifest.json      parameters, input hashes, package versions, timings, status
    notebooks/         executed notebooks (.ipynb), their HTML exports, kernel.log
    tables/            tables (CSV and Parquet) and documents (JSON, Markdown), named
                       <step>_<table> (cjmlib.core.schema)
    figures/           figures (PNG), named <step>_<figure>

Run folders written before this layout held everything flat, with the table names of
``TableSpec.legacy``; :func:`find_table` still reads them, so a new run compares itself with
an old one.
"""

from __future__ import annotations

import json
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from cjmlib.core import schema
from cjmlib.core.config import output_path

#: Sub-folders of a run folder.
TABLES_FOLDER, FIGURES_FOLDER, NOTEBOOKS_FOLDER = "tables", "figures", "notebooks"

_RUN_NAME = re.compile(r"^(\d{8}T\d{6}Z)(?:-(\d+))?$")


def run_key(path: str | os.PathLike[str]) -> tuple[str, int] | None:
    """``(timestamp, n)`` of a run folder, which sorts runs in time order; None when the
    folder name is not a run id.

    >>> run_key("reports/20261122T120000Z-3")
    ('20261122T120000Z', 3)
    >>> run_key("reports/interactive") is None
    True
    """
    m = _RUN_NAME.match(Path(path).name)
    return (m.group(1), int(m.group(2) or 1)) if m else None


def new_run_dir(reports_dir: Path, *, now: datetime | None = None) -> Path:
    """Create and return a fresh ``reports/<run_id>`` folder; never reuse an existing one."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    reports_dir.mkdir(parents=True, exist_ok=True)
    for k in range(1000):
        candidate = reports_dir / (stamp if k == 0 else f"{stamp}-{k + 1}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RuntimeError(f"could not create a new run folder under {reports_dir}")


def earlier_runs(reports_dir: Path, run_dir: Path) -> list[Path]:
    """Run folders of ``reports_dir`` older than ``run_dir`` (by run id), newest first."""
    own = run_key(run_dir)
    runs = [(key, p) for p in reports_dir.iterdir()
            if p.is_dir() and p != run_dir and (key := run_key(p)) is not None
            and (own is None or key < own)]
    return [p for _, p in sorted(runs, reverse=True)]


def find_previous_run(
    run_dir: str | os.PathLike[str],
    *,
    reports_dir: str | os.PathLike[str] | None = None,
    require: str = "report.html",
    status: str | None = "succeeded",
) -> Path | None:
    """The latest run folder before ``run_dir`` (by run id) in the same reports folder that
    holds ``require`` (a finished report by default) and whose manifest says ``status``
    (``succeeded`` by default: a failed, aborted or still running run is no baseline to
    compare with; None: any), or None."""
    run_dir = Path(run_dir)
    parent = Path(reports_dir) if reports_dir else run_dir.parent
    own = run_key(run_dir)
    candidates = []
    if not parent.is_dir():
        return None
    for p in parent.iterdir():
        key = run_key(p)
        if key is None or not p.is_dir() or p.resolve() == run_dir.resolve():
            continue
        if own is not None and key >= own:
            continue
        if require and not (p / require).exists():
            continue
        if status is not None and run_status(p) != status:
            continue
        candidates.append((key, p))
    return max(candidates)[1] if candidates else None


def run_status(run_dir: str | os.PathLike[str]) -> str | None:
    """``status`` of a run's manifest.json (running, succeeded, failed, aborted), None when
    it has no readable manifest."""
    manifest = read_manifest(run_dir)
    return None if manifest is None else manifest.get("status")


def read_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A run folder's manifest.json as a dict, None when missing or unreadable."""
    try:
        manifest = json.loads((Path(run_dir) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def run_lock_path(run_dir: str | os.PathLike[str]) -> Path:
    """The lock file of a run folder, ``reports/.locks/<run_id>.lock``: held by the ``cjm
    run`` writing it (:mod:`cjmlib.core.locks`), outside the folder so that a copied run
    folder carries no lock."""
    run_dir = Path(run_dir)
    return run_dir.parent / ".locks" / f"{run_dir.name}.lock"


def mark_abandoned_runs(reports_dir: str | os.PathLike[str], *, by: str) -> list[Path]:
    """Record ``aborted`` in the manifest of every run of ``reports_dir`` that says
    ``running`` but whose ``cjm run`` is gone (killed, even by ``kill -9``, or its machine
    restarted): nobody holds its lock, and its pid (on this host) is not alive or the lock
    file shows it was locked. ``by``: the run id that noticed. Returns the runs marked."""
    from cjmlib.core.io import write_json
    from cjmlib.core.locks import is_held

    marked = []
    root = Path(reports_dir)
    if not root.is_dir():
        return marked
    for run in sorted(p for p in root.iterdir() if p.is_dir() and run_key(p) is not None):
        manifest = read_manifest(run)
        if manifest is None or manifest.get("status") != "running":
            continue
        lock = run_lock_path(run)
        if is_held(lock) or (not lock.exists() and _alive_here(manifest)):
            continue  # still running (or a run of an older version that kept no lock)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for entry in manifest.get("notebooks", []):
            if entry.get("status", "running") == "running":
                entry["status"] = "aborted"
        manifest.update(status="aborted", finished_at=manifest.get("finished_at") or now,
                        aborted=(f"its cjm run (pid {manifest.get('pid')} on "
                                 f"{manifest.get('host')}) ended without finishing, "
                                 f"found by run {by} at {now}"))
        write_json(manifest, run / "manifest.json")
        lock.unlink(missing_ok=True)
        marked.append(run)
    return marked


def _alive_here(manifest: dict[str, Any]) -> bool:
    """Whether the manifest's pid is a live process of this host."""
    pid = manifest.get("pid")
    if not isinstance(pid, int) or manifest.get("host") != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class RunFolder:
    """A run folder and its sub-folders (created on :func:`open_run_folder`)."""

    path: Path

    @property
    def tables(self) -> Path:
        """``<run>/tables``: CSV and Parquet tables, JSON and Markdown documents."""
        return self.path / TABLES_FOLDER

    @property
    def figures(self) -> Path:
        """``<run>/figures``: PNG figures."""
        return self.path / FIGURES_FOLDER

    @property
    def notebooks(self) -> Path:
        """``<run>/notebooks``: executed notebooks and their HTML exports."""
        return self.path / NOTEBOOKS_FOLDER

    @property
    def name(self) -> str:
        return self.path.name


def open_run_folder(path: str | os.PathLike[str]) -> RunFolder:
    """Resolve a notebook's ``output_dir``/``run_dir`` parameter (relative paths under the
    workspace, :func:`cjmlib.core.config.output_path`) and create the folder with its
    ``tables/`` and ``figures/`` sub-folders."""
    run = RunFolder(output_path(path))
    for folder in (run.path, run.tables, run.figures):
        folder.mkdir(parents=True, exist_ok=True)
    return run


def skipped_notebooks(run_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Notebooks the run skipped for lack of data, with the code of the reason (``no_pilot``,
    ``no_feedback``, ...), from its ``manifest.json``; empty when there is none."""
    manifest = read_manifest(run_dir)
    if manifest is None:
        return {}
    return {str(e.get("notebook")): str(e.get("skip_code") or "no_input")
            for e in manifest.get("notebooks", []) if e.get("status") == "skipped"}


def find_table(run_dir: str | os.PathLike[str], name: str,
               suffixes: tuple[str, ...] = (".parquet", ".csv")) -> Path | None:
    """The file of table ``name`` (a :data:`cjmlib.core.schema.TABLES` name) in a run
    folder: ``tables/<file>`` of this layout, else ``<legacy name>`` of a flat run folder
    written before it; the first suffix found wins; None when the run has no such table."""
    spec = schema.table(name)
    root = Path(run_dir)
    for folder, stem in ((root / TABLES_FOLDER, spec.file), (root, spec.legacy or spec.name)):
        for suffix in suffixes:
            path = folder / f"{stem}{suffix}"
            if path.exists():
                return path
    return None


def read_run_table(run_dir: str | os.PathLike[str], name: str) -> pd.DataFrame | None:
    """Table ``name`` of a run folder (Parquet preferred, else CSV; see :func:`find_table`),
    or None when the run does not have it."""
    path = find_table(run_dir, name)
    if path is None:
        return None
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
