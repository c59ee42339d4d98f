"""The embedded engine's helpers."""

from __future__ import annotations

import ibis
import pandas as pd

from cjmlib.core.engine import connection, execute, materialized


def _temp_tables() -> set[str]:
    rows = connection().raw_sql("SELECT table_name FROM duckdb_tables() WHERE temporary")
    return {r[0] for r in rows.fetchall()}


def test_materialized_holds_the_rows_and_drops_its_table():
    frame = pd.DataFrame({"g": ["a", "b", "a"], "v": [1.0, 2.0, 4.0]})
    before = _temp_tables()
    t = ibis.memtable(frame)
    with materialized(t.mutate(w=t.v * 2)) as stored:
        assert len(_temp_tables() - before) == 1
        got = execute(stored.order_by("v"))
    pd.testing.assert_frame_equal(got, frame.assign(w=frame["v"] * 2).sort_values("v")
                                  .reset_index(drop=True))
    assert _temp_tables() == before
