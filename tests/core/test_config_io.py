"""Paths resolve the same from JupyterLab, papermill and `cjm run`; writes are atomic."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from cjmlib.core import config
from cjmlib.core.io import atomic_write, read_table, write_json, write_table


def test_relative_paths_prefer_the_workspace(tmp_path, monkeypatch) -> None:
    ws, cwd = tmp_path / "ws", tmp_path / "cwd"
    for folder in (ws, cwd):
        (folder / "data").mkdir(parents=True)
        (folder / "data" / "x.csv").write_text("a\n1\n")
    monkeypatch.setenv("CJM_WORKSPACE", str(ws))
    monkeypatch.chdir(cwd)
    assert config.resolve_path("data/x.csv") == (ws / "data" / "x.csv").resolve()
    (ws / "data" / "x.csv").unlink()
    assert config.resolve_path("data/x.csv") == (cwd / "data" / "x.csv").resolve()
    # project files (configs) are found in the project root
    assert config.resolve_path("configs/journey.yaml") == config.ROOT / "configs" / "journey.yaml"
    # a new output goes under the workspace
    assert config.resolve_path("reports/new") == (ws / "reports" / "new").resolve()


def test_outputs_always_go_to_the_workspace(tmp_path, monkeypatch) -> None:
    """Even when the project root has a folder of that name (data/processed, reports)."""
    monkeypatch.setenv("CJM_WORKSPACE", str(tmp_path))
    assert (config.ROOT / "data" / "processed").exists()
    assert config.output_path("data/processed") == (tmp_path / "data" / "processed").resolve()
    assert config.output_path("/abs/x") == Path("/abs/x")


def test_missing_input_names_every_place_searched(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CJM_WORKSPACE", str(tmp_path))
    with pytest.raises(FileNotFoundError) as info:
        config.resolve_path("nope.csv", must_exist=True)
    assert str(info.value).startswith("nope.csv: no such file or folder (looked in: ")
    assert str(tmp_path) in str(info.value)


def test_load_yaml_names_the_file_on_bad_content(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match=r"bad.yaml: expected a mapping at the top level, "
                                         r"found list"):
        config.load_yaml(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match=r"broken.yaml: not valid YAML"):
        config.load_yaml(broken)


def test_write_table_writes_csv_and_microsecond_parquet(tmp_path: Path) -> None:
    frame = pd.DataFrame({"t": pd.to_datetime(["2026-01-01 10:00:00.123456789"], utc=True)
                          .astype("datetime64[ns, UTC]"), "x": [1.5]})
    paths = write_table(frame, tmp_path, "events")
    schema = pq.read_schema(paths["parquet"])
    assert str(schema.field("t").type) == "timestamp[us, tz=UTC]"
    back = read_table(paths["parquet"])
    assert back["t"].iloc[0] == pd.Timestamp("2026-01-01 10:00:00.123456", tz="UTC")
    assert read_table(paths["csv"])["x"].tolist() == [1.5]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv", "events.parquet"]
    umask = os.umask(0)
    os.umask(umask)
    assert paths["csv"].stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_a_crash_mid_write_leaves_the_old_file_untouched(tmp_path: Path) -> None:
    target = tmp_path / "table.json"
    write_json({"version": 1}, target)

    def crash(tmp: Path) -> None:
        tmp.write_text('{"version": 2, "trunc')
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, crash)
    assert target.read_text().strip().endswith("}")
    assert '"version": 1' in target.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["table.json"]  # no temporary left


def test_read_table_refuses_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="table not found"):
        read_table(tmp_path / "missing.parquet")
    odd = tmp_path / "x.xml"
    odd.write_text("<a/>")
    with pytest.raises(ValueError, match=r"unsupported table format '.xml'"):
        read_table(odd)


def test_the_project_root_is_found_from_any_current_directory(tmp_path) -> None:
    """ROOT comes from the package location, not from where Python was started."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "from cjmlib.core import config; "
                           "print(config.ROOT)"], cwd=tmp_path, capture_output=True, text=True,
                          check=True)
    root = Path(done.stdout.strip())
    assert (root / "pyproject.toml").exists() and (root / "cjmlib" / "core").is_dir()
