"""`cjm run` end to end on a small generated sample, in a temporary folder."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cjmlib.workflow.runner import NOTEBOOKS

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
        # no code editor element, and every code cell rendered without its input
        assert not re.search(r'class="[^"]*jp-InputArea-editor', html), f"{name}.html"
        code_cells = re.findall(r'class="([^"]*jp-CodeCell[^"]*)"', html)
        assert code_cells and all("jp-mod-noInput" in c for c in code_cells), name


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


def test_report_states_pain_point_pilot_effect_and_verdict(run: dict) -> None:
    truth = json.loads((run["home"] / "data" / "raw" / "ground_truth.json").read_text())
    report = (run["run_dir"] / "report.html").read_text(encoding="utf-8")
    start = report.index('<section id="summary">')
    summary = report[start: report.index("</section>", start)]
    assert "Payment" in summary or truth["pain_point_touchpoint"] in summary
    results = pd.read_csv(run["run_dir"] / "pilot_results.csv")
    primary = results[results["decision"].isin(["ship", "iterate", "stop", "inconclusive"])]
    row = primary.iloc[0]
    assert f"{100 * row.ci_low:+.1f} pp to {100 * row.ci_high:+.1f} pp" in summary
    assert f"Verdict: <b>{row.decision}</b>" in summary


def test_no_personal_data_in_any_output(run: dict) -> None:
    manifest = json.loads((run["run_dir"] / "manifest.json").read_text())
    assert manifest["privacy_scan"]["passed"] is True


def test_new_pilot_data_reruns_only_what_depends_on_it(run: dict) -> None:
    # a new export from the experimentation platform: a week more of data, so new values
    units = pd.read_csv(run["home"] / "data" / "raw" / "pilot" / "ab_units.csv")
    units["sessions"] = units["sessions"] + 1
    pilot = run["home"] / "new_pilot.csv"
    units.to_csv(pilot, index=False)
    again = _cjm("run", "--raw", "data/raw", "--processed", "data/processed", "--out",
                 "reports", "--pilot", str(pilot), cwd=run["home"])
    assert again.returncode == 0, again.stderr
    second = Path(again.stdout.strip().splitlines()[-1])
    assert second != run["run_dir"] and (run["run_dir"] / "manifest.json").exists()
    manifest = json.loads((second / "manifest.json").read_text())
    status = {n["notebook"]: n["status"] for n in manifest["notebooks"]}
    assert [status[n] for n in NOTEBOOKS[:3]] == ["reused"] * 3
    assert status["05_pilot_eval"] == "succeeded" and status["06_report"] == "succeeded"
    report = (second / "report.html").read_text(encoding="utf-8")
    assert f"Compared with run {run['run_dir'].name}" in report
