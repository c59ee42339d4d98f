"""Work handed to child processes, and row plans drawn apart from the rows they order.

A row plan must leave a file exactly as ``exact_duplicates`` and ``inject`` leave it when they
act on the file itself (same draws, same rows, same corrupted values); the background runner
must hand back results and files, and report a child's failure with its traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cjmlib.sample.background import Background, BackgroundError
from cjmlib.sample.generator import SampleGenerator
from cjmlib.sample.order import apply_row_plan
from cjmlib.sample.text import STRING


def _generator(tmp_path: Path) -> SampleGenerator:
    return SampleGenerator(n_customers=50, seed=3, start=pd.Timestamp("2026-01-05", tz="UTC"),
                           weeks=8, out=tmp_path, say=lambda message: None)


def _corruptions(rng: np.random.Generator) -> dict:
    def bad_time(r):
        r["time"] = pd.array(rng.choice(["N/A", "yesterday"], size=len(r)), dtype=STRING)
        return r

    def no_id(r):
        r["id"] = ""
        return r

    def negative(r):
        r["ms"] = -rng.integers(100, 5000, len(r))
        return r

    def dash(r):
        r["stamp"] = "-"
        return r

    return {"unparseable_time": bad_time, "missing_id": no_id, "negative_duration": negative,
            "dash": dash}


def test_row_plan_gives_the_rows_duplicates_and_corruptions_drawn_on_the_file(
        tmp_path: Path) -> None:
    n = 2000
    clean = pd.DataFrame({
        "time": pd.array([f"2026-01-{k % 28 + 1:02d}" for k in range(n)], dtype=STRING),
        "id": np.where(np.arange(n) % 3 == 0, None, [f"C{k:05d}" for k in range(n)]),
        "ms": pd.array(np.where(np.arange(n) % 7 == 0, None, np.arange(n)), dtype="Int64"),
        "stamp": np.arange(n, dtype=np.int64) * 1000})
    on_file = _generator(tmp_path)
    expected = on_file.exact_duplicates(clean, "f.csv", 0.01)
    expected = on_file.inject(expected, "f.csv", _corruptions(on_file.rng))
    planned = _generator(tmp_path)
    plan = planned.row_plan(n, "f.csv", duplicates=0.01, corruptions=_corruptions(planned.rng))
    got = apply_row_plan(clean, plan)
    pd.testing.assert_frame_equal(got.astype(str), expected.astype(str))
    assert planned.dirty == on_file.dirty and planned.duplicates == on_file.duplicates
    # the same stream afterwards: the plan drew exactly what the file's own draws drew
    assert planned.rng.random() == on_file.rng.random()


def test_background_returns_results_and_writes_files(tmp_path: Path) -> None:
    with Background(workers=2) as background:
        jobs = [background.run(f"file {k}", (tmp_path / f"{k}.txt").write_text, "x" * k)
                for k in range(1, 5)]
        summed = background.run("a sum", sum, [1, 2, 3])
        assert background.result(summed) == 6
    assert [background.result(job) for job in jobs] == [1, 2, 3, 4]
    assert [(tmp_path / f"{k}.txt").read_text() for k in range(1, 5)] == ["x", "xx", "xxx",
                                                                          "xxxx"]


def _fail() -> None:
    raise ValueError("planted failure")


def test_background_reports_a_failing_child_with_its_traceback() -> None:
    with pytest.raises(BackgroundError, match="(?s)writing x failed.*planted failure"), \
            Background() as background:
        background.run("writing x", _fail)
