"""Run-to-run comparison: what changed beyond its interval, ranks, verdicts, statuses and
input files between two run folders."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from cjmlib.report.comparison import compare_runs


def _run(folder: Path, *, exits: int, decision: str, status: str, sha: str) -> Path:
    folder.mkdir(parents=True)
    pd.DataFrame({"touchpoint": ["payment", "cart"], "channel": "all",
                  "journeys": [1000, 1000], "exits": [exits, 300],
                  "converted_journeys": [400, 300],
                  "exit_rate": [exits / 1000, 0.3], "conversion_rate": [0.4, 0.3],
                  "priority_rank": [1, 2]}).to_parquet(folder / "touchpoint_metrics.parquet")
    pd.DataFrame({"metric": ["conversion"], "treatment": ["t"], "role": ["primary"],
                  "effect": [0.05], "ci_low": [0.01], "ci_high": [0.09],
                  "decision": [decision]}).to_parquet(folder / "pilot_results.parquet")
    pd.DataFrame({"id": ["a"], "status": [status], "rank": [1]}).to_parquet(
        folder / "backlog.parquet")
    (folder / "manifest.json").write_text(json.dumps(
        {"inputs": {"/raw/a.csv": {"sha256": sha}, "/raw/b.csv": {"sha256": "same"}}}))
    return folder


def test_compare_runs_flags_what_changed_beyond_its_interval(tmp_path: Path) -> None:
    before = _run(tmp_path / "20260101T000000Z", exits=400, decision="inconclusive",
                  status="proposed", sha="x")
    after = _run(tmp_path / "20260108T000000Z", exits=480, decision="ship", status="piloting",
                 sha="y")
    cmp_ = compare_runs(after, before).set_index(["section", "item", "metric"])
    exit_payment = cmp_.loc[("touchpoints", "payment", "exit_rate")]
    assert exit_payment["change"] == pytest.approx(0.08)
    assert exit_payment["ci_low"] < 0.08 < exit_payment["ci_high"]
    assert bool(exit_payment["changed"])  # 40% -> 48% of 1000 each: the interval excludes 0
    assert not bool(cmp_.loc[("touchpoints", "cart", "exit_rate"), "changed"])
    assert bool(cmp_.loc[("pilot", "conversion", "decision"), "changed"])
    assert not bool(cmp_.loc[("pilot", "conversion", "effect"), "changed"])
    status = cmp_.loc[("backlog", "a", "status")]
    assert (status["previous_label"], status["current_label"]) == ("proposed", "piloting")
    compare_runs(after, before).to_parquet(tmp_path / "comparison.parquet")  # writable
    assert cmp_.loc[("inputs", "input files", "changed files"), "current"] == 1
