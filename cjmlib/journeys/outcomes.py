"""Several named outcomes of the same journeys.

One conversion definition rarely fits real data: a retailer's households buy, redeem a coupon
or respond to a campaign; a loan application is accepted, cancelled or declined. The journey
config names them (``outcomes:`` in ``configs/journey.yaml``, see
:class:`cjmlib.journeys.model.JourneyConfig`); the analysis runs on one (the conversion), and
:func:`outcome_rates` gives every outcome's rate over the same journeys, so a reader sees all
of them with their denominators and intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import execute
from cjmlib.stats.intervals import add_rate


def outcome_rates(journeys: Any, outcomes: Mapping[str, Sequence[str]], *,
                  primary: str | None = None, alpha: float = 0.05) -> pd.DataFrame:
    """One row per named outcome: ``outcome``, ``touchpoints`` (comma-separated),
    ``journeys`` (all journeys, the denominator), ``reached`` (journeys with an event of one
    of the outcome's touchpoints), ``rate`` with its Wilson interval at ``1 - alpha``
    (``rate_ci_low``, ``rate_ci_high``), ``customers`` and ``customers_reached``, ``primary``
    (the outcome the analysis converts on) and ``alpha``.

    ``journeys``: :class:`cjmlib.journeys.build.Journeys`. Computed in the engine: only one
    row per outcome comes back. Journeys cut at their first conversion
    (``ends_at_conversion``) cannot show an outcome reached after it.
    """
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    if not outcomes:
        raise ValueError("outcome_rates: no outcomes; name at least one, e.g. "
                         "{'purchase': ['order_confirmation']}")
    if primary is not None and primary not in outcomes:
        raise ValueError(f"outcome_rates: primary {primary!r} is not one of {list(outcomes)}")
    names = list(outcomes)
    s = journeys.steps
    flags = {f"o{i}": s.touchpoint.isin(list(outcomes[n])).max() for i, n in enumerate(names)}
    pj = s.group_by("journey_id").aggregate(customer_id=s.customer_id.max(), **flags)
    sums = {f"r{i}": pj[f"o{i}"].cast("int64").sum() for i in range(len(names))}
    custs = {f"c{i}": pj.customer_id.nunique(where=pj[f"o{i}"]) for i in range(len(names))}
    row = execute(pj.aggregate(n=pj.count(), customers=pj.customer_id.nunique(), **sums,
                               **custs)).iloc[0]
    n = int(row["n"])
    frame = pd.DataFrame({
        "outcome": names,
        "touchpoints": [", ".join(outcomes[name]) for name in names],
        "journeys": n,
        "reached": [int(row[f"r{i}"] or 0) for i in range(len(names))],
        "customers": int(row["customers"]),
        "customers_reached": [int(row[f"c{i}"] or 0) for i in range(len(names))],
    })
    add_rate(frame, "rate", "reached", "journeys", alpha=alpha)
    frame["primary"] = [name == primary for name in names]
    frame["alpha"] = alpha
    return frame
