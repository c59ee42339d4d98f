"""Who changed: the flows that differ between two periods, and the segments that differ most.

* :func:`period_comparison`: the directly-follows transitions of journeys starting before a
  date against those starting from it (default: the middle of the observed span),
  :func:`cjmlib.journeys.transitions.compare_transitions` (Newcombe intervals, score tests,
  Benjamini-Hochberg over all pairs): the flows that changed most come first.
* :func:`segment_differences`: every candidate segment column of the customers table
  (text or boolean, 2 to ``max_levels`` values: platform, tier, acquisition channel,
  lifecycle) with the conversion rate of the journeys in each of its values (Wilson
  intervals), Pearson's chi-square test of homogeneity across the values (scipy
  ``chi2_contingency``), Cramér's V as the size of the difference, and Holm-adjusted p-values
  over the columns; columns are ranked by Cramér's V among those below ``alpha``.

Both describe, they do not explain: a segment that converts less may differ in many ways.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import execute
from cjmlib.journeys.build import Journeys, check_journeys
from cjmlib.journeys.transitions import compare_transitions, transitions
from cjmlib.stats.intervals import MIN_CELL, add_rate
from cjmlib.stats.multiplicity import adjust_p_values

_HALF = "_period_half"
#: customers columns that are measures or ids, never segments
_NOT_SEGMENTS = {"customer_id", "first_seen", "last_seen", "n_events", "channels",
                 "converted", "revenue", "n_channels", "n_feedback", "n_identifiers",
                 "identifier_types", "tenure_days"}


def period_comparison(journeys: Journeys, *, split: Any = None,
                      alpha: float = 0.05) -> pd.DataFrame:
    """Transitions of journeys starting before ``split`` against those starting from it.

    ``split``: a time (UTC) inside the observed span; None: its middle. Returns the table of
    :func:`~cjmlib.journeys.transitions.compare_transitions` with labels ``before`` and
    ``after`` (columns ``count_before``, ``probability_after``, ...), ``difference`` = after
    minus before, and ``split`` (the time as ISO text) on every row.
    """
    import ibis

    check_journeys(journeys)
    lo, hi = journeys.observed_from, journeys.observed_until
    at = lo + (hi - lo) / 2 if split is None else pd.Timestamp(split)
    at = (at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")).floor("us")
    if not lo < at <= hi:
        raise ValueError(f"split {at} is outside the observed span {lo} to {hi}")
    at_us = int(at.value // 1000)
    half = lambda start: ibis.ifelse(start < at_us, "before", "after")  # noqa: E731
    if journeys.is_kept(journeys.precomputed_journeys):
        # kept journeys: each step meets its journey's start, and the window columns kept
        # with the steps stay valid for the steps with the half added
        pre, pj = journeys.precomputed, journeys.precomputed_journeys
        starts = pj.select(_jid=pj.journey_id, _start=pj.start_us)
        pre = pre.join(starts, pre.journey_id == starts._jid)
        pre = pre.mutate(**{_HALF: half(pre._start)}).drop("_jid", "_start")
        halves = dataclasses.replace(
            journeys, steps=pre.select(*journeys.steps.columns, _HALF), precomputed=pre,
            precomputed_journeys=None, segment_col=_HALF)
    else:
        s = journeys.steps
        start = s.time_us.min().over(ibis.window(group_by="journey_id"))
        halves = dataclasses.replace(journeys, steps=s.mutate(**{_HALF: half(start)}),
                                     segment_col=_HALF)
    flows = transitions(halves, by_segment=True, alpha=alpha)
    before = flows[flows[_HALF] == "before"].drop(columns=_HALF)
    after = flows[flows[_HALF] == "after"].drop(columns=_HALF)
    out = compare_transitions(before, after, labels=("before", "after"), alpha=alpha)
    out["split"] = at.isoformat()
    out["alpha"] = alpha
    return out


def candidate_segments(customers: pd.DataFrame, *, max_levels: int = 20) -> list[str]:
    """Columns of ``customers`` that can be segments: text, categorical or boolean, with 2 to
    ``max_levels`` distinct values, not an id or a measure of the collection."""
    out = []
    for c in customers.columns:
        if c in _NOT_SEGMENTS:
            continue
        v = customers[c]
        if not (pd.api.types.is_bool_dtype(v) or pd.api.types.is_object_dtype(v)
                or isinstance(v.dtype, pd.CategoricalDtype)
                or pd.api.types.is_string_dtype(v)):
            continue
        if 2 <= v.dropna().nunique() <= max_levels:
            out.append(str(c))
    return out


def segment_differences(journeys: Journeys, customers: pd.DataFrame, *,
                        columns: Sequence[str] | None = None, max_levels: int = 20,
                        min_journeys: int = MIN_CELL, alpha: float = 0.05
                        ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Which customer segments convert differently (see the module).

    Returns ``(ranking, levels)``. ``ranking``: one row per column tested: ``column``,
    ``levels`` (values with at least ``min_journeys`` journeys; smaller ones are pooled as
    ``(other)`` or left out when even pooled they are too few), ``journeys``,
    ``missing_journeys`` (journeys of customers without a value, not compared), ``chi2``,
    ``dof``, ``p_value``, ``p_value_adjusted`` (Holm over the columns), ``cramers_v``,
    ``lowest`` and ``highest`` (values with the lowest and highest rate), ``spread`` (highest
    minus lowest rate), ``differs`` (adjusted p < alpha) and ``alpha``; sorted by
    ``differs`` then ``cramers_v``. ``levels``: ``column``, ``level``, ``journeys``,
    ``converted``, ``conversion_rate`` with its Wilson interval. Customers without a value
    are left out of the comparison and counted in ``missing_journeys``.
    """
    from scipy.stats import chi2_contingency

    check_journeys(journeys)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    check_scalar(min_journeys, "min_journeys", typ=int, ge=1)
    if "customer_id" not in customers.columns:
        raise ValueError("segment_differences: customers needs a customer_id column")
    columns = list(columns) if columns is not None else candidate_segments(
        customers, max_levels=max_levels)
    unknown = [c for c in columns if c not in customers.columns]
    if unknown:
        raise ValueError(f"segment_differences: columns {unknown} are not in customers; it "
                         f"has {list(customers.columns)}")
    pj = journeys.per_journey()
    per_customer = execute(pj.group_by("customer_id").aggregate(
        journeys=pj.count(), converted=pj.converted.cast("int64").sum()))
    merged = per_customer.merge(customers[["customer_id", *columns]], on="customer_id",
                                how="left")
    ranking, levels = [], []
    for col in columns:
        # customers without a value (no CRM record, say) are not a segment of the column:
        # they are counted (missing_journeys) but kept out of the comparison
        known = merged[merged[col].notna()]
        key = known[col].astype("string")
        table = known.groupby(key)[["journeys", "converted"]].sum()
        small = table["journeys"] < min_journeys
        if small.any():
            pooled = table[small].sum()
            table = table[~small]
            if pooled["journeys"] >= min_journeys:
                table.loc["(other)"] = pooled
        lv = table.reset_index(names="level").assign(column=col)
        add_rate(lv, "conversion_rate", "converted", "journeys", alpha=alpha)
        levels.append(lv)
        row: dict[str, Any] = {"column": col, "levels": len(table),
                               "journeys": int(table["journeys"].sum()),
                               "missing_journeys": int(merged.loc[merged[col].isna(),
                                                                  "journeys"].sum())}
        counts = np.column_stack([table["converted"], table["journeys"] - table["converted"]])
        if len(table) >= 2 and (counts.sum(axis=0) > 0).all():
            chi2, p, dof, _ = chi2_contingency(counts, correction=False)
            n = counts.sum()
            row.update(chi2=float(chi2), dof=int(dof), p_value=float(p),
                       cramers_v=float(np.sqrt(chi2 / (n * (min(counts.shape) - 1)))))
        else:
            row.update(chi2=np.nan, dof=np.nan, p_value=np.nan, cramers_v=np.nan)
        rates = lv.set_index("level")["conversion_rate"]
        row.update(lowest=rates.idxmin() if len(rates) else None,
                   highest=rates.idxmax() if len(rates) else None,
                   spread=float(rates.max() - rates.min()) if len(rates) else np.nan)
        ranking.append(row)
    rank = pd.DataFrame(ranking, columns=["column", "levels", "journeys", "missing_journeys",
                                          "chi2", "dof",
                                          "p_value", "cramers_v", "lowest", "highest",
                                          "spread"])
    rank = rank.astype({"dof": float, "chi2": float, "p_value": float, "cramers_v": float,
                        "spread": float})
    rank["p_value_adjusted"] = np.nan
    tested = rank["p_value"].notna()
    if tested.any():
        rank.loc[tested, "p_value_adjusted"] = adjust_p_values(rank.loc[tested, "p_value"],
                                                               method="holm")
    rank["differs"] = rank["p_value_adjusted"] < alpha
    rank["alpha"] = alpha
    rank = rank.sort_values(["differs", "cramers_v"], ascending=[False, False],
                            na_position="last").reset_index(drop=True)
    level_cols = ["column", "level", "journeys", "converted", "conversion_rate",
                  "conversion_rate_ci_low", "conversion_rate_ci_high"]
    lv_all = (pd.concat(levels, ignore_index=True)[level_cols] if levels
              else pd.DataFrame(columns=level_cols))
    lv_all["alpha"] = alpha
    return rank, lv_all
