"""The chain on data with less in it than the sample: one channel (the web clickstream and
the CRM only), no survey answers or comments, no pilot. Nothing fails; what cannot be done is
said in the manifest, the index and the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cjmlib.core.config import CONFIGS_DIR
from tests.workflow.support import WITHOUT_FEEDBACK_OR_PILOT, notebook_statuses
from tests.workflow.test_end_to_end import _cjm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> dict:
    home = tmp_path_factory.mktemp("lean")
    sample = _cjm("sample", "--out", "data/raw", "--customers", "1200", "--seed", "8", cwd=home)
    assert sample.returncode == 0, sample.stderr
    shutil.rmtree(home / "data" / "raw" / "pilot")
    shutil.copytree(CONFIGS_DIR, home / "configs")
    sources = yaml.safe_load((home / "configs" / "sources.yaml").read_text(encoding="utf-8"))
    sources["sources"] = {k: v for k, v in sources["sources"].items()
                          if k in ("web_clickstream", "crm_customers")}
    (home / "configs" / "sources.yaml").write_text(
        yaml.safe_dump(sources, sort_keys=False, allow_unicode=True), encoding="utf-8")
    done = _cjm("run", cwd=home)
    assert done.returncode == 0, done.stderr
    return {"home": home, "run_dir": Path(done.stdout.strip().splitlines()[-1]),
            "stderr": done.stderr}


def test_notebooks_without_data_are_skipped_with_their_reason(lean: dict) -> None:
    manifest = json.loads((lean["run_dir"] / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert notebook_statuses(lean["run_dir"]) == WITHOUT_FEEDBACK_OR_PILOT
    assert "03_voice skipped: no feedback" in lean["stderr"]
    index = (lean["run_dir"] / "index.html").read_text(encoding="utf-8")
    assert index.count("Not run: no pilot data") == 2


def test_the_report_says_what_was_not_analysed(lean: dict) -> None:
    report = (lean["run_dir"] / "report.html").read_text(encoding="utf-8")
    assert ("Not analysed in this run: 05_pilot_eval did not run because the data hold no "
            "pilot.") in report
    assert "Notebooks that did not run for lack of data: 03_voice: the data hold no survey " \
        "answers or comments" in report
    assert "is missing (written by 05_pilot_eval)" not in report
    # said once, and not listed as a gap a rerun could fill ("Complete the run: pilot_results")
    assert report.count("05_pilot_eval did not run because") == 1
    assert "pilot_results (05_pilot_eval)" not in report


def test_journeys_run_on_one_channel_without_feedback(lean: dict) -> None:
    tables = lean["run_dir"] / "tables"
    events = pd.read_parquet(lean["home"] / "data" / "processed" / "events.parquet")
    assert set(events["channel"]) == {"web"}
    metrics = pd.read_parquet(tables / "journeys_touchpoint_metrics.parquet")
    assert metrics["csat_mean"].isna().all()  # no feedback: the priority uses behaviour only
    summary = pd.read_parquet(tables / "journeys_summary.parquet")
    assert summary["customers"].max() == events["customer_id"].nunique()
    switching = pd.read_parquet(tables / "journeys_channel_switching.parquet")
    assert switching.empty  # one channel: nobody switches
    html = (lean["run_dir"] / "notebooks" / "02_journeys.html").read_text(encoding="utf-8")
    assert "Conversion touchpoints not in these events, left out: [&#x27;store_purchase&#x27;]" \
        in html or "left out: ['store_purchase']" in html
