"""The tables of a run folder the report reads, and which notebook writes each one.

:data:`TABLE_SOURCES` names the tables and their notebooks; :func:`load_run_tables` reads the
ones a run folder holds (Parquet preferred, else CSV).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

#: Tables the report reads from a run folder, and the notebook that writes each one.
TABLE_SOURCES: dict[str, str] = {
    "touchpoint_metrics": "02_journeys",
    "touchpoint_metrics_by_channel": "02_journeys",
    "funnel": "02_journeys",
    "transitions": "02_journeys",
    "survey_metrics": "03_voice",
    "themes": "03_voice",
    "sentiment": "03_voice",
    "drivers": "03_voice",
    "pilot_results": "05_pilot_eval",
    "pilot_summary": "05_pilot_eval",
    "did_results": "05_pilot_eval",
}


def load_run_tables(run_dir: str | os.PathLike[str],
                    names: Sequence[str] = tuple(TABLE_SOURCES)) -> dict[str, pd.DataFrame]:
    """The tables of ``names`` found in ``run_dir`` (Parquet preferred, else CSV); missing
    ones are simply absent from the result."""
    folder = Path(run_dir)
    out: dict[str, pd.DataFrame] = {}
    for name in names:
        for suffix in (".parquet", ".csv"):
            path = folder / f"{name}{suffix}"
            if path.exists():
                out[name] = (pd.read_parquet(path) if suffix == ".parquet"
                             else pd.read_csv(path))
                break
    return out
