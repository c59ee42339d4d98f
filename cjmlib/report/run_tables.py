"""The tables of a run folder the report reads, and which notebook writes each one.

:data:`TABLE_SOURCES` names the tables and their notebooks (from :mod:`cjmlib.core.schema`);
:func:`load_run_tables` reads the ones a run folder holds, in the ``tables/`` layout or in a
flat run folder of earlier versions (:func:`cjmlib.core.runs.read_run_table`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pandas as pd

from cjmlib.core import schema
from cjmlib.core.runs import read_run_table

#: Tables the report reads from a run folder, and the notebook that writes each one.
TABLE_SOURCES: dict[str, str] = {
    name: schema.STEPS[schema.TABLES[name].step] for name in (
        "touchpoint_metrics", "touchpoint_metrics_by_channel", "outcomes", "funnel", "transitions",
        "survey_metrics", "themes", "sentiment", "sentiment_agreement", "drivers",
        "pilot_results", "pilot_summary",
        "pilot_balance", "did_results", "period_comparison", "segment_differences",
        "segment_levels", "acquisition", "changes", "change_values")}


def load_run_tables(run_dir: str | os.PathLike[str],
                    names: Sequence[str] = tuple(TABLE_SOURCES)) -> dict[str, pd.DataFrame]:
    """The tables of ``names`` found in ``run_dir`` (Parquet preferred, else CSV); missing
    ones are simply absent from the result."""
    found = {name: read_run_table(run_dir, name) for name in names}
    return {name: frame for name, frame in found.items() if frame is not None}
