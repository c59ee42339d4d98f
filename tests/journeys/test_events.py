"""Reading an events table (cjmlib.journeys.events.read_events) as researchers have them:
Parquet written by pandas (nanosecond timestamps) and exports without a `seq` column."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cjmlib.core.engine import execute
from cjmlib.core.io import write_parquet
from cjmlib.journeys.build import build_journeys
from cjmlib.journeys.events import read_events
from cjmlib.journeys.transitions import transitions

T0 = pd.Timestamp("2026-03-02 10:00:00.123456789", tz="UTC")


def _events() -> pd.DataFrame:
    rows = [("a", 0, "home"), ("a", 60, "cart"), ("a", 60, "basket"), ("a", 120, "pay"),
            ("b", 0, "home"), ("b", 30, "pay")]
    return pd.DataFrame({
        "customer_id": [r[0] for r in rows],
        "event_time": [T0 + pd.Timedelta(seconds=r[1]) for r in rows],
        "channel": "web", "touchpoint": [r[2] for r in rows], "stage": "purchase"})


def test_parquet_written_by_pandas_is_read(tmp_path: Path) -> None:
    """`df.to_parquet()` writes timestamp[ns, tz=UTC], which DuckDB reads as TIMESTAMPTZ_NS
    and Ibis cannot type ('unknown DataType TIMESTAMPTZ_NS' before): it is read to the
    microsecond and gives the same journeys as microsecond Parquet."""
    events = _events().assign(seq=[1, 2, 3, 4, 1, 2])
    ns, us = tmp_path / "ns.parquet", tmp_path / "us.parquet"
    events.to_parquet(ns)
    assert pq.read_schema(ns).field("event_time").type == pa.timestamp("ns", tz="UTC")
    write_parquet(events, us)  # the workbench's own writer: microseconds
    got = transitions(build_journeys(ns, conversion_touchpoints=["pay"]))
    want = transitions(build_journeys(us, conversion_touchpoints=["pay"]))
    pd.testing.assert_frame_equal(got, want)
    times = execute(read_events(ns).select("event_time"))["event_time"]
    assert times.iloc[0] == T0.round("us")  # to the microsecond, nothing else
    from_pandas = execute(read_events(events).select("event_time"))["event_time"]
    assert from_pandas.iloc[0] == times.iloc[0]  # a DataFrame and its Parquet agree


def test_naive_nanosecond_times_are_still_refused_as_naive(tmp_path: Path) -> None:
    events = _events().assign(event_time=lambda d: d["event_time"].dt.tz_localize(None), seq=1)
    events.to_parquet(tmp_path / "naive.parquet")
    with pytest.raises(ValueError, match="naive timestamp"):
        read_events(tmp_path / "naive.parquet")


def test_seq_is_derived_when_the_export_has_none(tmp_path: Path) -> None:
    """Events of equal time are ordered by touchpoint, then channel: basket before cart."""
    events = _events()
    events.to_parquet(tmp_path / "noseq.parquet")
    for source in (events, tmp_path / "noseq.parquet"):
        got = execute(read_events(source).select("customer_id", "touchpoint", "seq")
                      .order_by(["customer_id", "seq"]))
        assert got["touchpoint"].tolist() == ["home", "basket", "cart", "pay", "home", "pay"]
        assert got["seq"].tolist() == [1, 2, 3, 4, 1, 2]
    flows = transitions(build_journeys(events, conversion_touchpoints=["pay"]))
    pairs = set(zip(flows["source"], flows["target"], strict=True))
    assert ("basket", "cart") in pairs and ("cart", "pay") in pairs
