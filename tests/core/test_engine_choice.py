"""Choosing the engine (cjmlib.core.engine.use_engine) and reading tables through it.

References: the embedded DuckDB connection's own reading of the same Parquet file, and a
stand-in backend that records which catalog table was asked for.
"""

from __future__ import annotations

import os
import shutil

import pandas as pd
import pytest

from cjmlib.core import engine
from cjmlib.core.config import resolve_input


@pytest.fixture(autouse=True)
def back_to_duckdb():
    yield
    engine.use_engine("duckdb")


class FakeBackend:
    name = "fake"

    def __init__(self):
        self.asked = []

    def table(self, name, database=None):
        self.asked.append((name, database))
        if name == "missing":
            raise LookupError("no such table")
        return f"table {name}"


def test_duckdb_is_the_default_and_bad_specs_are_refused():
    assert engine.engine() is engine.connection()
    assert engine.engine_name() == "duckdb"
    with pytest.raises(ValueError, match="engine 'spark please'.*pyspark"):
        engine.use_engine("spark please")
    assert engine.engine() is engine.connection()


def test_table_names_are_catalog_tables_only_on_another_engine(tmp_path):
    with pytest.raises(FileNotFoundError, match="analytics.events"):
        resolve_input("analytics.events")  # DuckDB: a missing file is an error
    fake = FakeBackend()
    engine.use_engine(fake)
    assert engine.engine_name() == "fake"
    assert resolve_input("analytics.events") == "analytics.events"
    assert engine.as_table("analytics.events") == "table events"
    assert engine.as_table("events") == "table events"
    assert fake.asked == [("events", "analytics"), ("events", None)]
    with pytest.raises(FileNotFoundError, match="missing: events table is neither a file nor "
                                                "a table of the fake engine"):
        engine.as_table("missing", what="events table")
    with pytest.raises(FileNotFoundError):  # a path-like name is never a table name
        resolve_input("data/no_such.parquet")
    frame = pd.DataFrame({"a": [1, 2]})  # frames stay local
    assert engine.as_table(frame).execute()["a"].tolist() == [1, 2]


@pytest.mark.spark
def test_pyspark_engine_reads_parquet_and_catalog_tables_like_duckdb(tmp_path):
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime: PySpark needs a JRE 17+")
    pytest.importorskip("pyspark")
    from cjmlib.core.io import write_parquet

    frame = pd.DataFrame({"customer_id": ["a", "b", "a"], "n": [1, 2, 3],
                          "event_time": pd.to_datetime(["2026-01-05 10:00", "2026-01-05 11:00",
                                                        "2026-01-06 09:30"], utc=True)})
    path = tmp_path / "t.parquet"
    write_parquet(frame, path)
    want = engine.execute(engine.as_table(path).group_by("customer_id").aggregate(
        n=lambda t: t.n.sum(), last=lambda t: t.event_time.max())).sort_values("customer_id")
    con = engine.use_engine("pyspark:local[1]")
    assert con.name == "pyspark" and engine.engine_name() == "pyspark:local[1]"
    table = engine.as_table(path)
    assert engine.is_spark(table)
    got = engine.execute(table.group_by("customer_id").aggregate(
        n=table.n.sum(), last=table.event_time.max())).sort_values("customer_id")
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True),
                                  check_dtype=False)
    session = engine.spark_session()
    assert session.conf.get("spark.sql.session.timeZone") == "UTC"
    session.read.parquet(str(path)).createOrReplaceTempView("cjm_engine_choice")
    assert resolve_input("cjm_engine_choice") == "cjm_engine_choice"
    assert engine.execute(engine.as_table("cjm_engine_choice").count().as_table()).iloc[0, 0] == 3
