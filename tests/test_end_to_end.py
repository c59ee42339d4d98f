"""`cjm run` end to end on a small generated sample, in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cjmlib.runner import NOTEBOOKS

pytestmark = pytest.mark.slow


def _cjm(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CJM_WORKSPACE": str(cwd)}
    return subprocess.run([sys.executable, "-m", "cjmlib", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("e2e")
    sample = _cjm("sample", "--out", "data/raw", "--customers", "1200", "--seed", "5", cwd=home)
    assert sample.returncode == 0, sample.stderr
    done = _cjm("run", "--raw", "data/raw", "--processed", "data/processed", "--out", "reports",
                cwd=home)
    assert done.returncode == 0, done.stderr
    return {"home": home, "stdout": done.stdout, "stderr": done.stderr,
            "run_dir": Path(done.stdout.strip().splitlines()[-1])}


def test_run_folder_holds_every_notebook_and_its_html(run: dict) -> None:
    run_dir = run["run_dir"]
    assert run_dir.parent == run["home"] / "reports"
    for name in NOTEBOOKS:
        assert (run_dir / f"{name}.ipynb").exists(), name
        html = (run_dir / f"{name}.html").read_text(encoding="utf-8")
        assert "check_parameters(globals())" not in html, f"{name}.html shows code"
        assert "jp-InputArea-editor" not in html


def test_manifest_records_parameters_inputs_versions_and_timings(run: dict) -> None:
    manifest = json.loads((run["run_dir"] / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert [n["notebook"] for n in manifest["notebooks"]] == list(NOTEBOOKS)
    assert all(n["status"] == "succeeded" and n["seconds"] > 0 for n in manifest["notebooks"])
    raw = run["home"] / "data" / "raw"
    hashed = {Path(p) for p in manifest["inputs"]}
    assert {p for p in raw.rglob("*") if p.is_file()} <= hashed
    assert all(len(v["sha256"]) == 64 for v in manifest["inputs"].values())
    assert manifest["packages"]["papermill"] and manifest["packages"]["ibis-framework"]
    first = manifest["notebooks"][0]["parameters"]
    assert first["output_dir"] == str(run["run_dir"])


def test_progress_is_one_line_per_notebook_and_otherwise_quiet(run: dict) -> None:
    lines = [line for line in run["stderr"].splitlines() if line.strip()]
    assert lines[0].startswith("run folder: ")
    done = [line for line in lines if " done in " in line]
    assert len(done) == len(NOTEBOOKS)
    assert len(lines) == 1 + 2 * len(NOTEBOOKS), "\n".join(lines)


def test_a_second_run_gets_its_own_folder(run: dict) -> None:
    again = _cjm("run", "--raw", "data/raw", "--processed", "data/processed", "--out",
                 "reports", "--notebooks", "04_pilot_design", cwd=run["home"])
    assert again.returncode == 0, again.stderr
    second = Path(again.stdout.strip().splitlines()[-1])
    assert second != run["run_dir"] and (run["run_dir"] / "manifest.json").exists()
