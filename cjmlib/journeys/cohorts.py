"""Acquisition and cohorts: who is new, who comes back, and how their journeys differ.

A customer is *new* in the period of their first journey (the first journey in the data: a
customer already active before the data starts looks new in its first period, so the first
period's new customers are an upper bound) and *returning* afterwards. From the journeys
(:class:`cjmlib.journeys.build.Journeys`), aggregated in the engine:

* :func:`acquisition`: per period, new and returning customers and journeys, and the
  conversion rate of new and of returning customers' journeys with Wilson intervals;
* :func:`cohort_retention`: per cohort (period of the first journey) and age (periods since),
  the cohort's customers with a journey in that period (retention) and the share of the
  cohort converted by then, with Wilson intervals; cohorts too young to be observed at an age
  have no row for it (right censoring, not a drop to zero);
* :func:`new_vs_returning`: the conversion of customers' first journeys against their later
  ones, difference with Newcombe's interval and the score test (statsmodels).

Periods are ``day``, ``week`` (Monday) or ``month``, or ``auto``: the workbench's one rule
(:func:`cjmlib.journeys.periods.choose_period`: day when the data span less than 120 days,
week below two years, month beyond), so cohorts and the change search share their periods.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import execute
from cjmlib.journeys.build import Journeys, check_journeys
from cjmlib.journeys.periods import choose_period, period_index, period_start
from cjmlib.stats.intervals import add_rate

Period = Literal["auto", "day", "week", "month"]


def _first_journeys(journeys: Journeys) -> Any:
    """Per journey: customer, converted, start (µs) and the customer's first start (µs)."""
    import ibis

    pj = journeys.per_journey()
    w = ibis.window(group_by="customer_id")
    return pj.mutate(first_us=pj.start_us.min().over(w))


def _period_key(t: Any, period: str) -> Any:
    """An engine expression: the period index of a microsecond column."""
    return period_index(t, period).cast("int64")


def _key_start(keys: pd.Series, period: str) -> pd.Series:
    """The UTC start of each period index of :func:`_period_key`."""
    return period_start(keys.astype("int64"), period)


def acquisition(journeys: Journeys, *, period: Period = "auto",
                alpha: float = 0.05) -> pd.DataFrame:
    """New and returning customers per period (see the module).

    Columns: ``period`` (start, UTC), ``period_unit``, ``customers``, ``new_customers``,
    ``returning_customers``, ``journeys``, ``new_journeys`` (journeys of customers in their
    first period), ``returning_journeys``, ``new_converted``, ``returning_converted``,
    ``new_conversion_rate`` and ``returning_conversion_rate`` with Wilson intervals at
    ``1 - alpha`` (``*_ci_low``, ``*_ci_high``), ``new_share`` (new / all customers) and
    ``alpha``. Every period from the first to the last journey has a row.
    """
    check_journeys(journeys)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    unit = choose_period(journeys, period)
    j = _first_journeys(journeys)
    j = j.mutate(p=_period_key(j.start_us, unit), first_p=_period_key(j.first_us, unit))
    j = j.mutate(new=j.p == j.first_p, conv=j.converted.cast("int64"))
    agg = execute(j.group_by("p").aggregate(
        customers=j.customer_id.nunique(),
        new_customers=j.customer_id.nunique(where=j.new),
        journeys=j.count(),
        new_journeys=j.new.cast("int64").sum(),
        new_converted=(j.conv * j.new.cast("int64")).sum(),
        converted=j.conv.sum(),
    ))
    if agg.empty:
        return pd.DataFrame()
    full = pd.DataFrame({"p": np.arange(int(agg["p"].min()), int(agg["p"].max()) + 1)})
    out = full.merge(agg, on="p", how="left").fillna(0)
    for c in ("customers", "new_customers", "journeys", "new_journeys", "new_converted",
              "converted"):
        out[c] = out[c].astype("int64")
    out["returning_customers"] = out["customers"] - out["new_customers"]
    out["returning_journeys"] = out["journeys"] - out["new_journeys"]
    out["returning_converted"] = out["converted"] - out["new_converted"]
    add_rate(out, "new_conversion_rate", "new_converted", "new_journeys", alpha=alpha)
    add_rate(out, "returning_conversion_rate", "returning_converted", "returning_journeys",
             alpha=alpha)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["new_share"] = np.where(out["customers"] > 0,
                                    out["new_customers"] / out["customers"].clip(lower=1),
                                    np.nan)
    out.insert(0, "period", _key_start(out["p"], unit))
    out.insert(1, "period_unit", unit)
    out["alpha"] = alpha
    cols = ["period", "period_unit", "customers", "new_customers", "returning_customers",
            "journeys", "new_journeys", "returning_journeys", "new_converted",
            "returning_converted", "new_conversion_rate", "new_conversion_rate_ci_low",
            "new_conversion_rate_ci_high", "returning_conversion_rate",
            "returning_conversion_rate_ci_low", "returning_conversion_rate_ci_high",
            "new_share", "alpha"]
    return out[cols]


def cohort_retention(journeys: Journeys, *, period: Period = "auto", max_age: int = 12,
                     alpha: float = 0.05) -> pd.DataFrame:
    """Retention and conversion by cohort (see the module).

    One row per cohort and age 0..``max_age`` observed: ``cohort`` (start of the first
    period, UTC), ``period_unit``, ``age`` (periods since the first), ``cohort_customers``,
    ``active_customers`` (with a journey starting in that period), ``retention`` =
    active / cohort with its Wilson interval, ``converted_customers`` (converted by the end of
    that period, cumulative), ``conversion`` = converted / cohort with its interval, and
    ``alpha``. Ages beyond the end of observation are left out, not counted as lost.
    """
    check_journeys(journeys)
    check_scalar(max_age, "max_age", typ=int, ge=0)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    unit = choose_period(journeys, period)
    import ibis

    j = _first_journeys(journeys)
    j = j.mutate(p=_period_key(j.start_us, unit), first_p=_period_key(j.first_us, unit))
    j = j.mutate(age=j.p - j.first_p)
    per_cust = j.group_by(["customer_id", "first_p", "age"]).aggregate(
        conv=j.converted.cast("int64").max())
    # the age at which each customer first converted: counted once there, and cumulated
    # over the ages below (converted by the end of that period)
    w = ibis.window(group_by="customer_id")
    per_cust = per_cust.mutate(conv_age=per_cust.age.min(where=per_cust.conv == 1).over(w))
    cells = execute(per_cust.group_by(["first_p", "age"]).aggregate(
        active=per_cust.count(),
        first_converted=(per_cust.age == per_cust.conv_age).fill_null(False)
        .cast("int64").sum()))
    if cells.empty:
        return pd.DataFrame()
    cells = cells.astype("int64")
    last_p = int((cells["first_p"] + cells["age"]).max())
    cells = cells[cells["age"] <= max_age]
    out = []
    for cohort, part in cells.groupby("first_p"):
        by_age = part.set_index("age")
        ages = np.arange(0, min(max_age, last_p - int(cohort)) + 1)
        active = by_age["active"].reindex(ages, fill_value=0).to_numpy()
        converted = by_age["first_converted"].reindex(ages, fill_value=0).cumsum().to_numpy()
        out.append(pd.DataFrame({"p": int(cohort), "age": ages,
                                 "cohort_customers": int(by_age.loc[0, "active"]),
                                 "active_customers": active,
                                 "converted_customers": converted}))
    frame = pd.concat(out, ignore_index=True).astype("int64")
    add_rate(frame, "retention", "active_customers", "cohort_customers", alpha=alpha)
    add_rate(frame, "conversion", "converted_customers", "cohort_customers", alpha=alpha)
    frame.insert(0, "cohort", _key_start(frame["p"], unit))
    frame.insert(1, "period_unit", unit)
    frame["alpha"] = alpha
    return frame.drop(columns="p")


def new_vs_returning(journeys: Journeys, *, alpha: float = 0.05) -> pd.DataFrame:
    """Conversion of customers' first journeys against their later journeys: one row with
    the counts, both rates with Wilson intervals, the difference (later minus first) with
    Newcombe's hybrid-score interval and the score-test p-value (statsmodels
    ``confint_proportions_2indep`` / ``test_proportions_2indep``), and ``alpha``. With
    customer journeys (one per customer) there are no later journeys: the difference is NaN.
    """
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        test_proportions_2indep,
    )

    check_journeys(journeys)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    j = _first_journeys(journeys)
    j = j.mutate(first=j.start_us == j.first_us, conv=j.converted.cast("int64"))
    row = execute(j.aggregate(
        first_journeys=j.first.cast("int64").sum(),
        first_converted=(j.conv * j.first.cast("int64")).sum(),
        journeys=j.count(), converted=j.conv.sum())).iloc[0]
    out = pd.DataFrame([{
        "first_journeys": int(row["first_journeys"]),
        "first_converted": int(row["first_converted"]),
        "later_journeys": int(row["journeys"] - row["first_journeys"]),
        "later_converted": int(row["converted"] - row["first_converted"])}])
    add_rate(out, "first_rate", "first_converted", "first_journeys", alpha=alpha)
    add_rate(out, "later_rate", "later_converted", "later_journeys", alpha=alpha)
    r = out.iloc[0]
    diff = low = high = p = np.nan
    if r["first_journeys"] > 0 and r["later_journeys"] > 0:
        args = (r["later_converted"], r["later_journeys"], r["first_converted"],
                r["first_journeys"])
        diff = r["later_rate"] - r["first_rate"]
        with np.errstate(divide="ignore", invalid="ignore"):
            low, high = confint_proportions_2indep(*args, method="newcomb", compare="diff",
                                                   alpha=alpha)
            p = float(test_proportions_2indep(*args, method="score", compare="diff").pvalue)
    out["difference"], out["ci_low"], out["ci_high"], out["p_value"] = diff, low, high, p
    out["alpha"] = alpha
    return out
