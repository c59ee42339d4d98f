"""The same journey functions on an Ibis PySpark table give the DuckDB results.

Reference: the DuckDB results of the same functions on the same events (the generated
sample's truth events, written as microsecond Parquet and read by both engines). Runs on a
small local Spark session (local[2], two shuffle partitions, no UI); skipped only where no
Java runtime is installed.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.spark

CONVERSIONS = ["order_confirmation", "store_purchase"]
EXCLUDE = ["email_sent", "email_open"]


@pytest.fixture(scope="module")
def spark():
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("no Java runtime (java not on PATH, JAVA_HOME unset): PySpark needs a "
                    "JRE 17+, e.g. apt-get install openjdk-17-jre-headless")
    pyspark = pytest.importorskip("pyspark", reason="pyspark not installed (dev extra)")
    del pyspark
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (SparkSession.builder.master("local[2]").appName("cjm-parity")
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "2")
               .config("spark.default.parallelism", "2")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.sql.adaptive.enabled", "false")
               .config("spark.driver.memory", "1g")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def tables(spark, sample_dir, tmp_path_factory):
    import ibis

    from cjmlib.core.io import write_parquet

    truth = pd.read_parquet(sample_dir / "ground_truth" / "events.parquet")
    ev = truth.rename(columns={"person_id": "customer_id"}).assign(source="truth",
                                                                   session_id=None)
    ev["session_id"] = ev["session_id"].astype("string")
    ev["seq"] = ev.groupby("customer_id").cumcount().astype("int64")
    # a fifth of the customers keeps the Spark jobs small; both engines read the same file
    keep = ev["customer_id"].isin(ev["customer_id"].drop_duplicates().iloc[::5])
    path = tmp_path_factory.mktemp("parity") / "events.parquet"
    write_parquet(ev[keep].drop(columns="journey_id"), path)
    persons = pd.read_csv(sample_dir / "ground_truth" / "persons.csv")
    customers = pd.DataFrame({"customer_id": persons["person_id"],
                              "churned": persons["churn_date"].notna().astype("int64")})
    con = ibis.pyspark.connect(spark)
    spark.read.parquet(str(path)).createOrReplaceTempView("events")
    return {"duckdb": path, "spark": con.table("events"), "customers": customers}


@pytest.fixture(scope="module")
def journeys(tables):
    """The same journeys (cross-channel visits) built on each engine."""
    from cjmlib.journeys.build import build_journeys

    return {engine: build_journeys(tables[engine], conversion_touchpoints=CONVERSIONS,
                                   exclude_touchpoints=EXCLUDE, unit="session",
                                   sessions="inactivity")
            for engine in ("duckdb", "spark")}


def both(journeys, fn):
    return fn(journeys["duckdb"]), fn(journeys["spark"])


def same(a: pd.DataFrame, b: pd.DataFrame, keys: list[str]) -> None:
    a = a.sort_values(keys).reset_index(drop=True)
    b = b.sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False, check_exact=False, rtol=1e-9,
                                  atol=1e-9)


def test_journeys_and_transitions_match(journeys, monkeypatch):
    import cjmlib.journeys.build
    from cjmlib.journeys.transitions import transitions

    a, b = both(journeys, lambda j: (j.summary(), transitions(j)))
    same(a[0], b[0], ["unit"])
    same(a[1], b[1], ["source", "target"])
    assert a[1]["count"].sum() > 5000
    # the sort-based quantiles used on large logs give the same medians on Spark
    monkeypatch.setattr(cjmlib.journeys.build, "SORT_QUANTILES_ABOVE", 0)
    big = transitions(journeys["spark"])
    same(a[1], big, ["source", "target"])


def test_touchpoint_metrics_loops_and_removal_effects_match(journeys):
    from cjmlib.journeys.touchpoints import touchpoint_metrics

    a, b = both(journeys, lambda j: touchpoint_metrics(j))
    assert "payment" in set(a["touchpoint"])
    same(a, b, ["touchpoint", "channel"])


def test_funnel_and_paths_match(journeys):
    from cjmlib.journeys.funnel import funnel
    from cjmlib.journeys.transitions import path_variants

    steps = ["product_page", "cart", "delivery_options", "payment", "order_confirmation"]

    def run(j):
        return (funnel(j, steps, window="7 days"),
                funnel(j, steps, mode="open", order="strict"),
                path_variants(j, top=8))

    a, b = both(journeys, run)
    for x, y in zip(a[:2], b[:2], strict=True):
        same(x, y, ["step_number"])
    same(a[2], b[2], ["path"])


def test_channel_switching_matches(tables, journeys):
    from cjmlib.journeys.channels import switching_outcomes

    customers = tables["customers"]
    a, b = both(journeys, lambda j: switching_outcomes(j, customers=customers,
                                                     outcome="churned"))
    same(a, b, ["from_channel", "to_channel"])
    assert np.isfinite(a["difference"]).all()
