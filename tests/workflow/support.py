"""Helpers shared by the workflow tests."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd


def write_notebook(path: Path, params: str, body: str) -> Path:
    """A tiny notebook: a title, the `parameters` cell, the validation cell, one body cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    p = nbformat.v4.new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    check = nbformat.v4.new_code_cell(
        "from cjmlib.workflow.parameters import check_parameters\nparams = check_parameters(globals())")
    nb.cells = [nbformat.v4.new_markdown_cell("# tiny"), p, check,
                nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, path)
    return path


#: The notebooks' statuses (and skip codes) on exports without feedback and without a pilot.
WITHOUT_FEEDBACK_OR_PILOT = {"01_collect": ("succeeded", None),
                             "02_journeys": ("succeeded", None),
                             "03_voice": ("skipped", "no_feedback"),
                             "04_pilot_design": ("skipped", "no_pilot"),
                             "05_pilot_eval": ("skipped", "no_pilot"),
                             "06_report": ("succeeded", None)}


def notebook_statuses(run_dir: Path) -> dict[str, tuple[str, str | None]]:
    """notebook -> (status, skip_code) from a run folder's manifest.json."""
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {n["notebook"]: (n["status"], n.get("skip_code")) for n in manifest["notebooks"]}


def sessionise(clicks: pd.DataFrame, *, user: str = "user_id", time: str = "timestamp",
               timeout_minutes: float = 30) -> pd.DataFrame:
    """Raw clicks in pandas with ``t`` (microseconds) and ``journey``: a new visit after
    ``timeout_minutes`` without a click, as a proposed config derives sessions (an independent
    reference for the engine's sessionising)."""
    ev = clicks.assign(t=pd.to_datetime(clicks[time]).dt.floor("us"))
    ev = ev.sort_values([user, "t"], kind="stable")
    gap = ev.groupby(user)["t"].diff()
    new_visit = gap.isna() | (gap > pd.Timedelta(minutes=timeout_minutes))
    visit = new_visit.astype(int).groupby(ev[user]).cumsum()
    return ev.assign(journey=ev[user] + "|" + visit.astype(str))


def directly_follows(ev: pd.DataFrame, *, event: str = "event") -> pd.Series:
    """(source, target) -> count within each ``journey`` of :func:`sessionise`, with the
    ``(start)`` and ``(end)`` pseudo-steps."""
    prev = ev.groupby("journey")[event].shift(1).fillna("(start)")
    nxt = ev.groupby("journey")[event].shift(-1)
    return pd.concat([pd.DataFrame({"source": prev, "target": ev[event]}),
                      pd.DataFrame({"source": ev.loc[nxt.isna(), event],
                                    "target": "(end)"})]).value_counts()
