"""Heartbeat lines of a long notebook (cjmlib.workflow.heartbeat), read from the output
notebook papermill writes. Reference: hand-written notebooks in each state."""

from __future__ import annotations

import json
import time
from pathlib import Path

from cjmlib.workflow.heartbeat import Heartbeat, cell_status


def write(path: Path, statuses: list[str]) -> None:
    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# title"}]
    cells += [{"cell_type": "code", "metadata": {"papermill": {"status": s}}, "source": ""}
              for s in statuses]
    path.write_text(json.dumps({"cells": cells}), encoding="utf-8")


def test_cell_status_counts_code_cells_and_finds_the_running_one(tmp_path):
    nb = tmp_path / "out.ipynb"
    write(nb, ["completed", "completed", "running", "pending"])
    assert cell_status(nb) == (2, 4, 2)
    write(nb, ["completed", "completed"])
    assert cell_status(nb) == (2, 2, None)
    nb.write_text("{not json", encoding="utf-8")  # caught mid-write
    assert cell_status(nb) is None
    assert cell_status(tmp_path / "absent.ipynb") is None


def test_lines_come_only_after_the_first_wait_and_name_the_cell(tmp_path):
    nb = tmp_path / "out.ipynb"
    write(nb, ["completed", "running", "pending"])
    heard: list[str] = []
    with Heartbeat(nb, "[2/6] 02_journeys", heard.append, after=0.3, every=0.2):
        time.sleep(0.1)
        assert heard == []  # a quick notebook says nothing
        time.sleep(0.6)
    assert heard and heard[0].startswith("[2/6] 02_journeys ... cell 2 of 3 running (")
    count = len(heard)
    time.sleep(0.4)
    assert len(heard) == count  # silent once the notebook has ended
    quiet: list[str] = []
    with Heartbeat(nb, "x", quiet.append, after=5):
        pass
    assert quiet == []
