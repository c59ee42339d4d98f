"""Periods of the series by time: one rule for days, weeks and months.

Change detection (:mod:`cjmlib.journeys.kpis`, :mod:`cjmlib.journeys.changes`), acquisition
and cohorts (:mod:`cjmlib.journeys.cohorts`) count by the same periods: days since 1970,
weeks starting on Monday (UTC) or calendar months, chosen from the data's span by
:func:`choose_period` when ``"auto"``.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.journeys.build import Journeys

#: Microseconds in a day.
DAY_US = 86_400_000_000
#: Spans under which ``period="auto"`` chooses days, then weeks; months beyond.
AUTO_DAY_SPAN = pd.Timedelta(days=120)
AUTO_WEEK_SPAN = pd.Timedelta(days=730)


def choose_period(journeys: Journeys, period: str = "auto") -> Literal["day", "week", "month"]:
    """``period``, or for ``"auto"`` the workbench's one rule for every series by period
    (change detection, acquisition, cohorts): days when the data span less than 120 days,
    weeks below two years, months beyond."""
    check_scalar(period, "period", in_=("auto", "day", "week", "month"))
    if period != "auto":
        return period  # type: ignore[return-value]
    span = journeys.observed_until - journeys.observed_from
    return "day" if span < AUTO_DAY_SPAN else "week" if span < AUTO_WEEK_SPAN else "month"


def period_index(time_us: Any, period: str) -> Any:
    """Days since 1970, weeks starting on Monday (1970-01-01 was a Thursday) or months since
    1970-01 of epoch microseconds: an engine expression or integers alike."""
    if period == "month":
        if hasattr(time_us, "as_timestamp"):  # an engine expression
            # DuckDB reads epochs in s or ms only (Ibis: "'us' unit is not supported")
            ts = (time_us.cast("int64") // 1000).as_timestamp("ms")
            return ((ts.year() - 1970) * 12 + ts.month() - 1).cast("int64")
        t = pd.DatetimeIndex(pd.to_datetime(np.atleast_1d(np.asarray(time_us, dtype="int64")),
                                            unit="us"))
        out = np.asarray((t.year - 1970) * 12 + t.month - 1, dtype="int64")
        return int(out[0]) if np.ndim(time_us) == 0 else out
    day = time_us // DAY_US
    return day if period == "day" else (day + 3) // 7


def period_start(index: Any, period: str) -> pd.DatetimeIndex | pd.Series:
    """The UTC start of each :func:`period_index` (a Monday for weeks, the 1st for months)."""
    raw = np.asarray(index, dtype="int64")
    if period == "month":
        start = pd.DatetimeIndex(pd.to_datetime(
            {"year": 1970 + raw // 12, "month": raw % 12 + 1, "day": np.ones_like(raw)},
            utc=True))
    else:
        days = raw if period == "day" else raw * 7 - 3
        start = pd.to_datetime(days * 86_400, unit="s", utc=True)
    return pd.Series(start, index=index.index) if isinstance(index, pd.Series) else start


def period_table(journeys: Journeys, period: str) -> pd.DataFrame:
    """Every period from the journeys' first to last observed instant: ``period_index``
    (0, 1, ...), ``_raw`` (:func:`period_index`), ``period`` (start), ``period_end`` and
    ``exposure`` (the share of the period observed)."""
    first = period_index(int(journeys.observed_from.value // 1000), period)
    last = period_index(int(journeys.observed_until.value // 1000), period)
    raw = np.arange(first, last + 1)
    start = period_start(raw, period)
    end = period_start(raw + 1, period)
    length = (end - start).values
    lo = np.maximum(start.values, journeys.observed_from.to_datetime64())
    hi = np.minimum(end.values, journeys.observed_until.to_datetime64())
    covered = np.clip((hi - lo) / length, 0.0, 1.0)
    return pd.DataFrame({"period_index": np.arange(len(raw)), "_raw": raw, "period": start,
                         "period_end": end, "exposure": np.maximum(covered, 1e-6)})
