"""Run ids and finding earlier runs (cjmlib.core.runs)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cjmlib.core.runs import earlier_runs, find_previous_run, new_run_dir


def test_run_folders_are_never_reused(tmp_path: Path) -> None:
    now = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)
    first, second = new_run_dir(tmp_path, now=now), new_run_dir(tmp_path, now=now)
    assert first.name == "20261122T120000Z" and second.name == "20261122T120000Z-2"


def test_the_previous_run_is_the_latest_earlier_one_with_a_report(tmp_path: Path) -> None:
    for name in ("20260101T000000Z", "20260102T000000Z", "20260102T000000Z-2",
                 "20260102T000000Z-10", "20260103T000000Z"):
        (tmp_path / name).mkdir()
    for name in ("20260101T000000Z", "20260102T000000Z-2", "20260103T000000Z"):
        (tmp_path / name / "report.html").write_text("x")
    current = tmp_path / "20260102T000000Z-10"
    assert find_previous_run(current).name == "20260102T000000Z-2"
    assert find_previous_run(tmp_path / "20260101T000000Z") is None
    assert find_previous_run(current, require="").name == "20260102T000000Z-2"


def test_earlier_runs_are_listed_newest_first_and_skip_other_folders(tmp_path: Path) -> None:
    for name in ("20260101T000000Z", "20260102T000000Z-2", "interactive", "20260103T000000Z"):
        (tmp_path / name).mkdir()
    runs = earlier_runs(tmp_path, tmp_path / "20260103T000000Z")
    assert [p.name for p in runs] == ["20260102T000000Z-2", "20260101T000000Z"]
