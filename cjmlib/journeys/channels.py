"""Channel switching: cross-channel transitions, and the outcomes of switchers and stayers.

A *switch* is a directly-follows transition between steps on two different channels
(``web -> call_center`` when a customer on the website picks up the phone next).
:func:`channel_transitions` counts them in the engine; :func:`switching_outcomes` compares,
for every switch, the churn (or conversion, or any 0/1 customer outcome) of the customers
who made it with the customers who did not, with Wilson intervals for both rates and the
Newcombe interval for their difference; :func:`switching_journeys` compares the conversion
of journeys that change channel with single-channel journeys.

Comparisons are observational: switchers differ from stayers in more than the switch
(a customer with a problem calls and may churn because of the problem), so a difference
flags where to look, not what the switch causes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import as_table, execute
from cjmlib.journeys.build import Journeys, check_journeys
from cjmlib.stats.intervals import MIN_CELL, add_rate


def channel_transitions(journeys: Journeys, *, cross_channel_only: bool = False,
                        min_count: int = MIN_CELL, alpha: float = 0.05) -> pd.DataFrame:
    """Directly-follows transitions between channels.

    Returns ``source_channel``, ``target_channel``, ``count``, ``probability`` (of moving to
    ``target_channel`` when leaving a step on ``source_channel`` for another step) with its
    Wilson interval at ``1 - alpha`` and denominator ``source_count``, ``journeys`` and ``customers``
    making the move, ``switch`` (the channels differ) and ``small_cell``, sorted by count.
    """
    check_journeys(journeys)
    check_scalar(min_count, "min_count", typ=int, ge=0)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    o = journeys.ordered("next_channel")
    o = o.filter(o.next_channel.notnull())
    agg = o.group_by([o.channel.name("source_channel"),
                      o.next_channel.name("target_channel")]).aggregate(
        count=o.count(), journeys=o.journey_id.nunique(), customers=o.customer_id.nunique())
    out = execute(agg)
    for c in ("count", "journeys", "customers"):
        out[c] = out[c].astype("int64")
    out["source_count"] = out.groupby("source_channel")["count"].transform("sum")
    add_rate(out, "probability", "count", "source_count", alpha=alpha)
    out["switch"] = out["source_channel"] != out["target_channel"]
    out["small_cell"] = out["source_count"] < min_count
    out["alpha"] = alpha
    if cross_channel_only:
        out = out[out["switch"]]
    cols = ["source_channel", "target_channel", "count", "probability", "source_count",
            "probability_ci_low", "probability_ci_high", "journeys", "customers", "switch",
            "small_cell", "alpha"]
    return out[cols].sort_values(["count", "source_channel", "target_channel"],
                                 ascending=[False, True, True]).reset_index(drop=True)


def switching_outcomes(
    journeys: Journeys,
    *,
    customers: Any = None,
    outcome: str = "converted",
    outcome_value: Any = None,
    min_count: int = MIN_CELL,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Outcome rate of customers who made each channel switch versus those who did not.

    ``outcome``: a column of ``customers`` (0/1, boolean, or compared with
    ``outcome_value``, e.g. ``outcome="status", outcome_value="churned"``), or
    ``"converted"`` (the customer has a converted journey) when the customers table has no
    such column. Customers with a missing outcome (e.g. anonymous visitors without a CRM
    status) are left out of both groups; the counts say how many remain.

    Returns one row per switch ``from_channel -> to_channel`` (sorted by the difference):
    ``switchers`` (customers with at least one such transition), ``switcher_outcomes``,
    ``switcher_rate`` (+95% Wilson interval), ``stayers`` (the other customers),
    ``stayer_outcomes``, ``stayer_rate`` (+interval), ``difference`` (switchers minus
    stayers) with its Newcombe interval ``difference_ci_low``/``_high`` (Newcombe 1998),
    ``risk_ratio``, the score-test ``p_value`` (statsmodels ``test_proportions_2indep``)
    and ``small_cell`` (fewer than ``min_count`` switchers).
    """
    import ibis

    check_journeys(journeys)
    check_scalar(outcome, "outcome", typ=str)
    check_scalar(min_count, "min_count", typ=int, ge=0)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    pj = journeys.per_journey()
    seen = pj.group_by("customer_id").aggregate(_converted=pj.converted.max())
    cust = as_table(customers, what="customers table") if customers is not None else None
    if cust is not None and outcome in cust.columns:
        if "customer_id" not in cust.columns:
            raise ValueError(f"customers table: missing column 'customer_id'; found "
                             f"{list(cust.columns)}")
        col = cust[outcome]
        if outcome_value is not None:
            flag = ibis.ifelse(col.isnull(), ibis.null().cast("int64"),
                               (col == outcome_value).cast("int64"))
        elif col.type().is_boolean() or col.type().is_integer() or col.type().is_floating():
            flag = col.cast("int64")
        else:
            raise ValueError(
                f"customers table: outcome column {outcome!r} is {col.type()}; expected 0/1 "
                f"or boolean, or pass outcome_value (e.g. outcome_value='churned')")
        base = seen.join(cust.select(customer_id=cust.customer_id.cast("string"),
                                     _outcome=flag), "customer_id")
        base = base.filter(base._outcome.notnull()).select("customer_id", "_outcome")
    elif outcome == "converted":
        base = seen.select("customer_id", _outcome=seen._converted.cast("int64"))
    else:
        found = list(cust.columns) if cust is not None else "no customers table"
        raise ValueError(f"outcome column {outcome!r} not found; expected it in the "
                         f"customers table, found {found}")
    o = journeys.ordered("next_channel")
    sw = o.filter(o.next_channel.notnull() & (o.next_channel != o.channel))
    sw = sw.select("customer_id", from_channel=sw.channel, to_channel=sw.next_channel).distinct()
    x = sw.join(base, "customer_id")
    per_switch = execute(x.group_by(["from_channel", "to_channel"]).aggregate(
        switchers=x.count(), switcher_outcomes=x._outcome.sum()))
    totals = execute(base.aggregate(customers=base.count(), outcomes=base._outcome.sum()))
    n_all = int(totals["customers"].iloc[0])
    k_all = int(totals["outcomes"].fillna(0).iloc[0])
    if n_all == 0:
        raise ValueError(f"no customer in the journeys has a value for outcome {outcome!r}")
    out = per_switch.astype({"switchers": "int64", "switcher_outcomes": "int64"})
    out["stayers"] = n_all - out["switchers"]
    out["stayer_outcomes"] = k_all - out["switcher_outcomes"]
    add_rate(out, "switcher_rate", "switcher_outcomes", "switchers", alpha=alpha)
    add_rate(out, "stayer_rate", "stayer_outcomes", "stayers", alpha=alpha)
    out["difference"] = out["switcher_rate"] - out["stayer_rate"]
    low, high, p = [], [], []
    with np.errstate(divide="ignore", invalid="ignore"):  # statsmodels' odds ratio at 0 or 1
        _difference_tests(out, low, high, p, alpha)
    out["difference_ci_low"], out["difference_ci_high"], out["p_value"] = low, high, p
    with np.errstate(divide="ignore", invalid="ignore"):
        out["risk_ratio"] = out["switcher_rate"] / out["stayer_rate"]
    out["outcome"] = outcome if outcome_value is None else f"{outcome} == {outcome_value!r}"
    out["small_cell"] = out["switchers"] < min_count
    out["alpha"] = alpha
    cols = ["from_channel", "to_channel", "outcome", "switchers", "switcher_outcomes",
            "switcher_rate", "switcher_rate_ci_low", "switcher_rate_ci_high", "stayers",
            "stayer_outcomes", "stayer_rate", "stayer_rate_ci_low", "stayer_rate_ci_high",
            "difference", "difference_ci_low", "difference_ci_high", "risk_ratio", "p_value",
            "small_cell", "alpha"]
    return out[cols].sort_values(["small_cell", "difference", "from_channel", "to_channel"],
                                 ascending=[True, False, True, True]).reset_index(drop=True)


def _difference_tests(out: pd.DataFrame, low: list, high: list, p: list,
                      alpha: float) -> None:
    from statsmodels.stats.proportion import (
        confint_proportions_2indep,
        test_proportions_2indep,
    )

    for r in out.itertuples(index=False):
        if r.switchers > 0 and r.stayers > 0:
            ci = confint_proportions_2indep(r.switcher_outcomes, r.switchers,
                                            r.stayer_outcomes, r.stayers,
                                            method="newcomb", compare="diff", alpha=alpha)
            low.append(ci[0])
            high.append(ci[1])
            degenerate = (r.switcher_outcomes + r.stayer_outcomes) in (
                0, r.switchers + r.stayers)
            p.append(1.0 if degenerate else float(test_proportions_2indep(
                r.switcher_outcomes, r.switchers, r.stayer_outcomes, r.stayers,
                method="score", compare="diff").pvalue))
        else:
            low.append(np.nan)
            high.append(np.nan)
            p.append(np.nan)


def switching_journeys(journeys: Journeys, *, alpha: float = 0.05) -> pd.DataFrame:
    """Conversion of journeys that change channel versus journeys on one channel.

    Returns two rows, ``journey_type`` ``"switches channel"`` and ``"single channel"``,
    with ``journeys``, ``converted``, ``conversion_rate`` and its 95% Wilson interval.
    """
    check_journeys(journeys)
    o = journeys.ordered("next_channel")
    per = o.group_by("journey_id").aggregate(
        _switch=(o.next_channel.notnull() & (o.next_channel != o.channel)).max(),
        _converted=o.is_conversion.max())
    agg = execute(per.group_by("_switch").aggregate(
        journeys=per.count(), converted=per._converted.cast("int64").sum()))
    agg["journey_type"] = np.where(agg["_switch"].astype(bool), "switches channel",
                                   "single channel")
    agg = agg.astype({"journeys": "int64", "converted": "int64"})
    add_rate(agg, "conversion_rate", "converted", "journeys", alpha=alpha)
    return agg.drop(columns="_switch").sort_values("journey_type", ascending=False)[
        ["journey_type", "journeys", "converted", "conversion_rate", "conversion_rate_ci_low",
         "conversion_rate_ci_high"]].reset_index(drop=True)
