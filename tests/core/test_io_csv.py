"""CSV exports neutralise spreadsheet formulas (issue 14, finding 10; OWASP "CSV Injection").

Before: a quarantined comment ``=HYPERLINK("http://x","click")`` was written into a run's CSV
as is, and a spreadsheet ran it as a formula. Now every text cell starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return gets a leading single quote in the CSV; numbers stay
numbers and the Parquet file keeps the values untouched.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from cjmlib.core.io import neutralise_formula, write_table


def test_text_cells_with_formula_prefixes_are_quoted_numbers_stay_numbers(tmp_path: Path):
    frame = pd.DataFrame({
        "comment": ['=HYPERLINK("http://x","click")', "+1 555", "-minus", "@SUM(A1)",
                    "\tTAB", "\rCR", "plain", None],
        "label": pd.Series(["=1+1", "ok", "ok", "ok", "ok", "ok", "ok", "ok"],
                           dtype="category"),
        "delta": [-5, 3, -1, 0, 2, 1, 7, -8],
        "share": [-0.25, 0.5, 0.1, 0.2, 0.3, 0.4, 0.6, 0.7],
    })
    paths = write_table(frame, tmp_path, "t")
    with open(paths["csv"], newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["comment", "label", "delta", "share"]
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://x\",\"click\")", "'+1 555",
                                        "'-minus", "'@SUM(A1)", "'\tTAB", "'\rCR", "plain", ""]
    assert [r[1] for r in rows[1:3]] == ["'=1+1", "ok"]
    back = pd.read_csv(paths["csv"])
    assert back["delta"].tolist() == frame["delta"].tolist()  # negative numbers untouched
    assert back["share"].tolist() == frame["share"].tolist()
    parquet = pd.read_parquet(paths["parquet"])
    assert parquet["comment"].tolist()[:2] == ['=HYPERLINK("http://x","click")', "+1 555"]
    assert frame["comment"].iloc[0].startswith("=")  # the caller's frame is not changed


def test_neutralise_formula_leaves_other_values_alone():
    assert neutralise_formula("=A1") == "'=A1"
    assert neutralise_formula(-3.5) == -3.5
    assert neutralise_formula("a=b") == "a=b"
    assert neutralise_formula(None) is None
