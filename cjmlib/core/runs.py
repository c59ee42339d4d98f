"""Run folders: their ids, where to find earlier ones, and what a run folder holds.

A run folder is ``reports/<run_id>/`` with ``run_id`` the UTC start time,
``YYYYMMDDTHHMMSSZ``, and a suffix ``-2``, ``-3``, ... when two runs start in the same second.
Run ids sort in time order; :func:`run_key` turns a folder name into that order.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

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
) -> Path | None:
    """The latest run folder before ``run_dir`` (by run id) in the same reports folder that
    holds ``require`` (a finished report by default), or None."""
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
        candidates.append((key, p))
    return max(candidates)[1] if candidates else None
