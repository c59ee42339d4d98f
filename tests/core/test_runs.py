"""Run ids and finding earlier runs (cjmlib.core.runs)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from cjmlib.core.runs import earlier_runs, find_previous_run, new_run_dir


def test_run_folders_are_never_reused(tmp_path: Path) -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    first, second = new_run_dir(tmp_path, now=now), new_run_dir(tmp_path, now=now)
    assert first.name == "20261122T120000Z" and second.name == "20261122T120000Z-2"


def _run(folder: Path, status: str, *, report: bool = True) -> Path:
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps({"status": status}))
    if report:
        (folder / "report.html").write_text("x")
    return folder


def test_the_previous_run_is_the_latest_earlier_one_with_a_report(tmp_path: Path) -> None:
    for name in ("20260101T000000Z", "20260102T000000Z-2", "20260103T000000Z"):
        _run(tmp_path / name, "succeeded")
    for name in ("20260102T000000Z", "20260102T000000Z-10"):
        _run(tmp_path / name, "succeeded", report=False)
    current = tmp_path / "20260102T000000Z-10"
    assert find_previous_run(current).name == "20260102T000000Z-2"
    assert find_previous_run(tmp_path / "20260101T000000Z") is None
    assert find_previous_run(current, require="").name == "20260102T000000Z-2"


def test_earlier_runs_are_listed_newest_first_and_skip_other_folders(tmp_path: Path) -> None:
    for name in ("20260101T000000Z", "20260102T000000Z-2", "interactive", "20260103T000000Z"):
        (tmp_path / name).mkdir()
    runs = earlier_runs(tmp_path, tmp_path / "20260103T000000Z")
    assert [p.name for p in runs] == ["20260102T000000Z-2", "20260101T000000Z"]


def test_only_a_run_that_succeeded_is_the_baseline_of_the_next(tmp_path: Path) -> None:
    """Issue 14, finding 7: a failed, aborted or still running run (or one without a
    manifest) with a report.html was taken as the baseline of the run comparison."""
    _run(tmp_path / "20260101T000000Z", "succeeded")
    _run(tmp_path / "20260102T000000Z", "failed")
    _run(tmp_path / "20260103T000000Z", "aborted")
    _run(tmp_path / "20260104T000000Z", "running")
    (tmp_path / "20260105T000000Z").mkdir()
    (tmp_path / "20260105T000000Z" / "report.html").write_text("x")  # no manifest
    current = tmp_path / "20260106T000000Z"
    assert find_previous_run(current).name == "20260101T000000Z"
    assert find_previous_run(current, status=None).name == "20260105T000000Z"
