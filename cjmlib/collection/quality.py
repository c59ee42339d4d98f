"""Data-quality summaries of a collection, as notebook 01_collect shows them.

:func:`coverage` counts events and customers per period and source (gaps in an export),
:func:`top_reasons` ranks the quarantine reasons, and :func:`stitching_summary` gives the shares
that describe the stitched customer base with Wilson intervals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns, check_scalar
from cjmlib.core.engine import as_table
from cjmlib.stats.intervals import wilson_interval


def coverage(events: Any, *, freq: str = "week", by: str = "source") -> pd.DataFrame:
    """Events and distinct customers per period and ``by`` column (``source`` or ``channel``).

    ``events`` is the events table (path, pandas DataFrame or Ibis table); the counting runs in
    the engine and only the aggregate comes back. ``freq`` is ``day``, ``week`` (weeks start on
    Monday, UTC) or ``month``. Returns ``period``, ``<by>``, ``events``, ``customers`` sorted by
    period; a gap in a source's series is a gap in its export.
    """
    check_scalar(freq, "freq", in_=("day", "week", "month"))
    check_scalar(by, "by", in_=("source", "channel", "touchpoint", "stage"))
    t = as_table(events, what="events table")
    check_columns(t, ["customer_id", "event_time", by], what="events table")
    unit = {"day": "D", "week": "W", "month": "M"}[freq]
    m = t.mutate(period=t.event_time.truncate(unit))
    agg = (m.group_by(["period", by])
           .aggregate(events=m.count(), customers=m.customer_id.nunique())
           .order_by(["period", by]))
    df = agg.to_pandas()
    df["period"] = pd.to_datetime(df["period"], utc=True).dt.tz_convert(None)
    return df.astype({"events": "int64", "customers": "int64"}).reset_index(drop=True)


def top_reasons(quarantine: pd.DataFrame, *, top: int = 10) -> pd.DataFrame:
    """The ``top`` quarantine reasons: ``source``, ``reason``, ``column``, ``rows``, ``share``
    (of all quarantined rows), most frequent first.

    ``quarantine`` is :attr:`CollectionResult.quarantine` or ``quarantine/summary.csv``.
    """
    check_scalar(top, "top", typ=int, ge=1)
    check_columns(quarantine, ["source", "reason", "column", "rows"], what="quarantine summary")
    g = (quarantine.fillna({"column": ""})
         .groupby(["source", "reason", "column"], as_index=False)["rows"].sum()
         .sort_values(["rows", "source", "reason"], ascending=[False, True, True]))
    total = g["rows"].sum()
    g["share"] = g["rows"] / total if total else 0.0
    return g.head(top).reset_index(drop=True)


def stitching_summary(customers: Any, *, alpha: float = 0.05) -> pd.DataFrame:
    """Shares that describe the stitched customer base, each with its denominator and a Wilson
    score interval (Wilson 1927; ``statsmodels.stats.proportion.proportion_confint``).

    Rows (``metric``): customers with more than one identifier; with a CRM profile; seen in
    more than one channel (cross-channel, among customers with events); with feedback only.
    Columns: ``metric``, ``count``, ``denominator``, ``share``, ``ci_low``, ``ci_high``.
    """
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    df = customers if isinstance(customers, pd.DataFrame) else pd.read_parquet(customers)
    check_columns(df, ["customer_id", "n_events", "n_channels", "n_identifiers", "n_feedback"],
                  what="customers table")
    with_events = df["n_events"] > 0
    rows = [
        ("more than one identifier", (df["n_identifiers"] > 1).sum(), len(df)),
        ("CRM profile", df["crm_id"].notna().sum() if "crm_id" in df else 0, len(df)),
        ("cross-channel (2+ channels, among customers with events)",
         (df["n_channels"] > 1).sum(), with_events.sum()),
        ("feedback only (no events)", ((~with_events) & (df["n_feedback"] > 0)).sum(), len(df)),
    ]
    out = pd.DataFrame(rows, columns=["metric", "count", "denominator"]).astype(
        {"count": int, "denominator": int})
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share"] = out["count"] / out["denominator"].where(out["denominator"] > 0)
    out["ci_low"], out["ci_high"] = wilson_interval(out["count"], out["denominator"], alpha=alpha)
    return out
