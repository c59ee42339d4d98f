"""`cjm run --notebooks 02_journeys` after the raw data changed (issue 14, finding 4): it
succeeded on tables built from other raw data than the manifest's hashes. Now it stops with
the raw files that differ, unless `allow_stale_processed` is set, which the run's manifest
records and the notebook states."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from cjmlib.collection.assembly import collect
from cjmlib.sample.generator import make_sample
from cjmlib.workflow.runner import RunFailed, run_notebooks

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def replaced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Raw sample A collected into processed/, then the raw folder replaced by sample B."""
    home = tmp_path_factory.mktemp("stale")
    raw, processed = home / "raw", home / "processed"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CJM_WORKSPACE", str(home))  # the project's configs, whatever ran before
        make_sample(raw, n_customers=200, seed=3)
        collect(raw, processed_dir=processed)
    shutil.rmtree(raw)
    make_sample(raw, n_customers=200, seed=4)
    return {"home": home, "raw": raw, "processed": processed}


@pytest.fixture(autouse=True)
def _workspace(replaced: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CJM_WORKSPACE", str(replaced["home"]))


def test_a_later_notebook_refuses_tables_of_other_raw_data(replaced: dict[str, Path]) -> None:
    home = replaced["home"]
    with pytest.raises(RunFailed) as info:
        run_notebooks(raw_dir=replaced["raw"], processed_dir=replaced["processed"],
                      reports_dir=home / "reports", notebooks=["02_journeys"],
                      privacy_scan=False)
    message = str(info.value)
    assert "02_journeys failed" in message and "StaleProcessedData" in message
    assert (f"were built by 01_collect from other raw data than {replaced['raw']} now holds "
            "(changed since 01_collect ran: ") in message
    assert "web_clickstream.csv" in message and "crm_customers.csv" in message
    assert "Re-run 01_collect first" in message
    manifest = json.loads((info.value.run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_notebook"] == "02_journeys"


def test_allowed_stale_tables_are_recorded_and_stated(replaced: dict[str, Path]) -> None:
    result = run_notebooks(raw_dir=replaced["raw"], processed_dir=replaced["processed"],
                           reports_dir=replaced["home"] / "reports", notebooks=["02_journeys"],
                           overrides={"allow_stale_processed": True}, privacy_scan=False)
    assert result.ok
    entry = result.manifest["notebooks"][0]
    assert entry["parameters"]["allow_stale_processed"] is True
    assert entry["parameters"]["raw_dir"] == str(replaced["raw"])
    executed = nbformat.read(result.run_dir / "notebooks" / "02_journeys.ipynb", as_version=4)
    said = "\n".join(str(o.get("data", {}).get("text/markdown", "")) for c in executed.cells
                     if c.cell_type == "code" for o in c.get("outputs", []))
    assert "allow_stale_processed is set: the tables are analysed as they are" in said
    assert "web_clickstream.csv" in said


def test_the_runner_refuses_bad_parameter_values_before_a_kernel_starts(
        replaced: dict[str, Path]) -> None:
    """Issue 14, finding 9, at the runner: alpha 2 for 04 stops the run with the notebook,
    parameter and expectation named, and no executed notebook is written."""
    with pytest.raises(RunFailed) as info:
        run_notebooks(raw_dir=replaced["raw"], processed_dir=replaced["processed"],
                      reports_dir=replaced["home"] / "reports", notebooks=["04_pilot_design"],
                      overrides={"alpha": 2.0}, privacy_scan=False)
    assert "04_pilot_design: parameter 'alpha' must be > 0 and < 0.5, got 2" in str(info.value)
    run_dir = info.value.run_dir
    assert not (run_dir / "notebooks" / "04_pilot_design.ipynb").exists()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "failed" and manifest["failed_notebook"] == "04_pilot_design"
