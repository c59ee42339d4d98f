"""Funnels over configured steps, and time to convert with censoring (Kaplan-Meier).

:func:`funnel` counts, in the engine, the journeys (and customers) that reach each step of
an ordered list of touchpoints, with the drop-off between steps:

* ``mode="closed"``: a journey enters only through the first step (its first occurrence)
  and counts at a step when it got there through all the steps before it;
  ``mode="open"``: a journey may enter at any step, as in web-analytics "open funnels", so
  every step counts the journeys that reached it; ``conversion_from_previous`` is then the
  share of the journeys at the previous step that went on to this one (by the ``order``
  rule), and times run from the journey's first funnel event.
* ``order="sequential"``: each step must come after the previous one, other events may
  come in between (earliest matching, which finds a match whenever one exists);
  ``order="strict"``: each step must directly follow the previous one, nothing in between;
  ``order="any"``: a step counts once it and all earlier funnel steps have occurred, in
  any order.
* ``window``: every step must happen within this time of the funnel entry
  (for ``order="any"``, within this time of the earliest of the steps).

Censoring and endings. A journey at step k-1 that has not gone on to step k is one of:

* *censored* at step k when it may still get there: it is open (still going when the data
  end, see :mod:`cjmlib.journeys.build`) and, for a funnel with a ``window``, its window has
  not elapsed by the end of observation (entry + window > ``observed_until``). Censored
  journeys are left out of the step's denominator, neither continued nor dropped, as in a
  life table;
* *ended* when its last step is an ending touchpoint (a conversion or one of the journeys'
  ``endings``, such as declined or cancelled) that is not a funnel step: it reached an
  outcome, it did not drop off;
* a *drop-off* otherwise.

So ``conversion_from_previous = continued / observed_journeys`` and ``drop_off_rate =
drop_off / observed_journeys`` with ``observed_journeys = previous_journeys - censored``;
the two add to one less the ended share. ``conversion_from_start`` is over the entered
journeys whose status at the step is known (not censored at it or before it). A journey
that continued before the data ended counts as continued even when it is still open, so
the last window's rates lean to the fast journeys; compare periods whose windows have
elapsed.

:func:`time_to_convert` estimates the distribution of the time from an entry touchpoint
to conversion with the Kaplan-Meier product-limit estimator (Kaplan & Meier 1958;
``lifelines.KaplanMeierFitter``): journeys that have not converted by the end of
observation are *censored* there, not counted as lost, so customers still in progress do
not bias the conversion curve down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import execute
from cjmlib.journeys.build import (
    Journeys,
    check_journeys,
    check_touchpoints_occur,
    duration_us,
    segment_keys,
)
from cjmlib.stats.intervals import MIN_CELL, add_rate

#: Contract columns of the funnel table (DESIGN.md), in order.
FUNNEL_COLUMNS = ("step", "customers", "conversion_from_previous", "conversion_from_start",
                  "median_time_s")


def funnel(
    journeys: Journeys,
    steps: Sequence[str],
    *,
    mode: Literal["closed", "open"] = "closed",
    order: Literal["sequential", "strict", "any"] = "sequential",
    window: Any = None,
    by_segment: bool = False,
    min_count: int = MIN_CELL,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Journeys and customers reaching each funnel step, conversion and drop-off per step.

    Returns one row per step, in the DESIGN.md order: ``step`` (the touchpoint),
    ``customers`` (distinct customers whose journey reached it), ``conversion_from_previous``
    (share of the journeys at the previous step that went on to this one; 1 for the first
    step; denominator ``observed_journeys``), ``conversion_from_start`` (share of the
    journeys that entered the funnel that reached it; denominator ``entered_observed``),
    ``median_time_s`` (median seconds from funnel entry to this step, among journeys
    reaching it), then ``step_number``, ``journeys`` (reaching it: the unit of the
    rates), ``previous_journeys`` and ``entered_journeys`` (the counts before censoring), the
    Wilson intervals ``..._ci_low``/``..._ci_high`` of both rates, ``drop_off`` (journeys at
    the previous step that did not reach this one, neither censored nor ended),
    ``drop_off_rate`` (drop_off / observed_journeys), ``censored``, ``ended`` (see the
    module docstring), ``observed_journeys`` (previous_journeys - censored),
    ``entered_observed`` (entered journeys not censored at this step or before it),
    ``median_time_from_previous_s``, ``small_cell`` (observed_journeys < min_count) and
    ``alpha``. In open funnels a step also counts
    journeys that entered there, so ``journeys`` may exceed the previous step's.
    ``window``: a ``pandas.Timedelta``, a string such as ``"7 days"``, seconds as a
    number, or None for no limit. Raises ``ValueError`` for a step that never occurs.
    """
    check_journeys(journeys)
    steps = _check_steps(journeys, steps)
    check_scalar(mode, "mode", in_=("closed", "open"))
    check_scalar(order, "order", in_=("sequential", "strict", "any"))
    check_scalar(min_count, "min_count", typ=int, ge=0)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    window_us = _window_us(window)
    seg = segment_keys(journeys, by_segment)
    if mode == "open":
        per_journey = _open(journeys, steps, order=order, window_us=window_us, seg=seg)
    elif order == "sequential":
        per_journey = _sequential(journeys, steps, mode=mode, window_us=window_us, seg=seg)
    elif order == "strict":
        per_journey = _strict(journeys, steps, mode=mode, window_us=window_us, seg=seg)
    else:
        per_journey = _any_order(journeys, steps, mode=mode, window_us=window_us, seg=seg)
    per_journey = _censoring(journeys, per_journey, steps, window_us=window_us)
    return _summarise(per_journey, steps, seg=seg, min_count=min_count,
                      one_journey_per_customer=journeys.unit == "customer", alpha=alpha)


def _censoring(journeys: Journeys, per_journey: Any, steps: list[str], *,
               window_us: int | None) -> Any:
    """Adds ``_incomplete`` (the journey may still reach a step it has not reached: it is
    open, and its window, if any, has not elapsed by the end of observation) and ``_ended``
    (its last step is an ending touchpoint that is no funnel step)."""
    import ibis

    status = journeys.journey_status()
    p = per_journey.join(status.select("journey_id", _open=status.open,
                                       _last_tp=status.last_touchpoint), "journey_id")
    incomplete = p._open
    if window_us is not None:
        until_us = int(journeys.observed_until.value // 1000)
        incomplete = incomplete & (p.e_us + window_us > ibis.literal(until_us, type="int64"))
    others = [e for e in journeys.ending_touchpoints if e not in steps]
    ended = p._last_tp.isin(others) if others else ibis.literal(False)
    return p.mutate(_incomplete=incomplete, _ended=ended).drop("_open", "_last_tp")


def _check_steps(journeys: Journeys, steps: Sequence[str]) -> list[str]:
    if isinstance(steps, str):
        steps = [steps]
    steps = list(steps)
    if len(steps) < 2:
        raise ValueError(f"a funnel needs at least two steps, got {steps}")
    if len(set(steps)) != len(steps):
        raise ValueError(f"funnel steps must be different touchpoints, got {steps}")
    check_touchpoints_occur(journeys, steps, what="funnel step(s)")
    return steps


def _window_us(window: Any) -> int | None:
    return None if window is None else duration_us(window, "window")


def _funnel_events(journeys: Journeys, steps: list[str], seg: list[str]) -> Any:
    """Events at funnel steps with ``k``, their position (1-based) in the funnel."""
    import ibis

    s = journeys.steps
    f = s.filter(s.touchpoint.isin(steps))
    k = ibis.cases(*[(f.touchpoint == name, i) for i, name in enumerate(steps, start=1)],
                   else_=0)
    return f.select("journey_id", "customer_id", *seg, "time_us", "seq", k=k)


def _sequential(journeys: Journeys, steps: list[str], *, mode: str, window_us: int | None,
                seg: list[str]) -> Any:
    """Closed, in order: per entering journey ``d1..dK``, microseconds from entry (the first
    occurrence of step 1) to the earliest event completing steps 1..k in order.

    Earliest matching, level by level: step k is reached at the first step-k event after
    the event that reached step k-1. Each level meets only the events of its own step with
    one row per journey (the previous level's position), and keeps the minimum per journey:
    a grouping, no window over the funnel events, so the query grows linearly with the
    number of steps on every engine. Positions are the kept step numbers when the journeys
    were kept (:mod:`cjmlib.journeys.persist`), else one row number per journey.
    """
    import ibis

    del mode  # open funnels are handled by _open
    n = len(steps)
    if journeys.is_kept(journeys.precomputed):
        o = journeys.ordered("step")
        f = o.filter(o.touchpoint.isin(steps))
        f = f.select("journey_id", "customer_id", *seg, "time_us", _pos=f.step,
                     k=_step_index(f, steps))
    else:
        f = _funnel_events(journeys, steps, seg)
        w = ibis.window(group_by="journey_id", order_by=[f.time_us, f.seq])
        f = f.mutate(_pos=ibis.row_number().over(w))
    first = f.filter(f.k == 1)
    per = first.group_by(["journey_id", *seg]).aggregate(
        customer_id=first.customer_id.max(), _p1=first._pos.min(), e_us=first.time_us.min())
    per = per.mutate(_t1=per.e_us)
    # Each level reads only the previous level's reached journeys (one reference each), and
    # the levels are joined to the entries at the end: chaining the joins through the
    # entries table would reference it twice per level, 2^(K-1) copies of the query.
    prev = per.select(_jid=per.journey_id, _prev=per._p1, _e=per.e_us)
    levels = []
    for k in range(2, n + 1):
        at = f.filter(f.k == k).select(_aid=f.journey_id, _kpos=f._pos, _kus=f.time_us)
        x = at.join(prev, at._aid == prev._jid)
        hit = x._kpos > x._prev
        if window_us is not None:
            hit = hit & (x._kus - x._e <= window_us)
        x = x.filter(hit)
        reached = x.group_by("_jid").aggregate(_prev=x._kpos.min(), _kus=x._kus.min(),
                                               _e=x._e.min())
        levels.append(reached.select("_jid", **{f"_t{k}": reached._kus}))
        prev = reached.select("_jid", "_prev", "_e")
    for reached in levels:
        per = per.left_join(reached, per.journey_id == reached._jid).drop("_jid")
    per = per.select("journey_id", "customer_id", *seg, "e_us",
                     **{f"d{k}": per[f"_t{k}"] - per.e_us for k in range(1, n + 1)})
    return per.mutate(**{f"v{k}": per[f"d{k}"].notnull() for k in range(2, n + 1)})


def _step_index(f: Any, steps: list[str]) -> Any:
    """``k``, the position (1-based) of each funnel event's touchpoint in the funnel."""
    import ibis

    return ibis.cases(*[(f.touchpoint == name, i) for i, name in enumerate(steps, start=1)],
                      else_=0)


def _strict(journeys: Journeys, steps: list[str], *, mode: str, window_us: int | None,
            seg: list[str]) -> Any:
    """Strict order: steps j..k as consecutive events of the journey, within the window."""
    import ibis

    n = len(steps)
    if journeys.is_kept(journeys.precomputed):
        # kept journeys carry each step's number: a run of consecutive funnel events whose
        # numbers follow each other is a run of consecutive steps, so the window needs only
        # the funnel events, ordered by one integer
        s = journeys.ordered("step")
        s = s.filter(s.touchpoint.isin(steps))
        w = ibis.window(group_by="journey_id", order_by=s.step)
        leads = {0: (s.touchpoint, s.time_us)}
        for m in range(1, n):
            adjacent = s.step.lead(m).over(w) == s.step + m
            leads[m] = (ibis.ifelse(adjacent, s.touchpoint.lead(m).over(w),
                                    ibis.null().cast("string")),
                        ibis.ifelse(adjacent, s.time_us.lead(m).over(w),
                                    ibis.null().cast("int64")))
    else:
        s = journeys.steps
        w = ibis.window(group_by="journey_id", order_by=[s.event_time, s.seq])
        leads = {0: (s.touchpoint, s.time_us)}
        for m in range(1, n):
            leads[m] = (s.touchpoint.lead(m).over(w), s.time_us.lead(m).over(w))
    cols = {}
    for m in range(n):
        cols[f"_tp{m}"] = leads[m][0]
        cols[f"_us{m}"] = leads[m][1]
    o = s.mutate(**cols)
    entries = [1] if mode == "closed" else list(range(1, n + 1))
    # For each entry step j and each step k >= j: a run starting at this row reaches k when
    # the events here and after are steps j, j+1, ..., k (and k is within the window).
    reach: dict[int, list[Any]] = {k: [] for k in range(1, n + 1)}
    for j in entries:
        ok = o["_tp0"] == steps[j - 1]
        for k in range(j, n + 1):
            m = k - j
            if m > 0:
                ok = ok & (o[f"_tp{m}"] == steps[k - 1])
                if window_us is not None:
                    ok = ok & (o[f"_us{m}"] - o["_us0"] <= window_us)
            elapsed = o[f"_us{m}"] - o["_us0"]
            reach[k].append((ok.fill_null(False), elapsed, j))
    # The journey enters when one of its events starts a run (closed: at step 1).
    starts = [ok for k in range(1, n + 1) for ok, _, j in reach[k] if k == j]
    is_start = starts[0]
    for x in starts[1:]:
        is_start = is_start | x
    o = o.mutate(_start=is_start)
    # Time to a step: from the journey's entry to the first run that reaches it.
    aggs = {"_e_us": o._us0.min(where=o._start)}
    for k in range(1, n + 1):
        at = None
        for ok, elapsed, _ in reach[k]:
            reached_at = ibis.ifelse(ok, o._us0 + elapsed, ibis.null().cast("int64"))
            at = reached_at if at is None else ibis.coalesce(
                ibis.least(at, reached_at), at, reached_at)
        aggs[f"_at{k}"] = at.min()
        if k > 1:
            via = [ok for ok, _, j in reach[k] if j < k]
            hit = via[0]
            for x in via[1:]:
                hit = hit | x
            aggs[f"v{k}"] = hit.max()
    per = o.group_by(["journey_id", *seg]).aggregate(customer_id=o.customer_id.max(), **aggs)
    per = per.filter(per._e_us.notnull())
    return per.select("journey_id", "customer_id", *seg, e_us=per._e_us,
                      **{f"d{k}": per[f"_at{k}"] - per._e_us for k in range(1, n + 1)},
                      **{f"v{k}": per[f"v{k}"] for k in range(2, n + 1)})


def _any_order(journeys: Journeys, steps: list[str], *, mode: str, window_us: int | None,
               seg: list[str]) -> Any:
    """Any order: step k counts when steps 1..k (closed) or its own run (open) occurred."""
    import ibis

    n = len(steps)
    s = journeys.steps
    f = s.filter(s.touchpoint.isin(steps))
    firsts = f.group_by(["journey_id", *seg]).aggregate(
        customer_id=f.customer_id.max(),
        **{f"f{k}": f.time_us.min(where=f.touchpoint == name)
           for k, name in enumerate(steps, start=1)})
    out = {}
    for k in range(1, n + 1):
        needed = [firsts[f"f{i}"] for i in range(1, k + 1)] if mode == "closed" else \
            [firsts[f"f{k}"]]
        if mode == "open":
            # entered anywhere: reached k when step k occurred (the entry counts itself)
            earliest = ibis.least(*[firsts[f"f{i}"] for i in range(1, n + 1)])
            latest = firsts[f"f{k}"]
        else:
            earliest = ibis.least(*needed) if len(needed) > 1 else needed[0]
            latest = ibis.greatest(*needed) if len(needed) > 1 else needed[0]
        reached = needed[0].notnull()
        for x in needed[1:]:
            reached = reached & x.notnull()
        if window_us is not None:
            reached = reached & (latest - earliest <= window_us)
        out[f"d{k}"] = ibis.ifelse(reached, latest - earliest, ibis.null().cast("int64"))
    via = {f"v{k}": out[f"d{k - 1}"].notnull() & out[f"d{k}"].notnull()
           for k in range(2, n + 1)}
    entered = firsts["f1"].notnull() if mode == "closed" else ibis.literal(True)
    e_us = ibis.least(*[firsts[f"f{i}"] for i in range(1, n + 1)])  # least skips nulls
    firsts = firsts.filter(entered)
    return firsts.select("journey_id", "customer_id", *seg, e_us=e_us, **out, **via)


def _open(journeys: Journeys, steps: list[str], *, order: str, window_us: int | None,
          seg: list[str]) -> Any:
    """Open funnel: reached = the step occurs (within the window of the first funnel event);
    continued = it follows the previous step by the order rule."""
    import ibis

    n = len(steps)
    s = journeys.ordered("step", "next_touchpoint", "next_time_us")
    f = s.filter(s.touchpoint.isin(steps))
    k = ibis.cases(*[(f.touchpoint == name, i) for i, name in enumerate(steps, start=1)],
                   else_=0)
    f = f.mutate(k=k)
    firsts = f.group_by(["journey_id", *seg]).aggregate(
        customer_id=f.customer_id.max(), _entry=f.time_us.min(),
        **{f"_t{i}": f.time_us.min(where=f.k == i) for i in range(1, n + 1)},
        **{f"_p{i}": f.step.min(where=f.k == i) for i in range(1, n + 1)})
    x = f.join(firsts.select("journey_id", "_entry",
                             *[f"_p{i}" for i in range(1, n)]), "journey_id")
    in_window = (lambda t: t - x._entry <= window_us) if window_us is not None else \
        (lambda t: ibis.literal(True))
    via = {}
    for i in range(2, n + 1):
        if order == "sequential":
            hit = (x.k == i) & (x.step > x[f"_p{i - 1}"]) & in_window(x.time_us)
        elif order == "strict":
            hit = ((x.k == i - 1) & (x.next_touchpoint == steps[i - 1])
                   & in_window(x.next_time_us))
        else:
            hit = None
        if hit is not None:
            via[f"_v{i}"] = hit.fill_null(False).max()
    cont = x.group_by("journey_id").aggregate(**via) if via else None
    per = firsts.left_join(cont, firsts.journey_id == cont.journey_id).drop(
        "journey_id_right") if cont is not None else firsts
    out = {}
    for i in range(1, n + 1):
        reached = per[f"_t{i}"].notnull()
        if window_us is not None:
            reached = reached & (per[f"_t{i}"] - per._entry <= window_us)
        out[f"d{i}"] = ibis.ifelse(reached, per[f"_t{i}"] - per._entry,
                                   ibis.null().cast("int64"))
    flags = {}
    for i in range(2, n + 1):
        if order == "any":
            flags[f"v{i}"] = out[f"d{i - 1}"].notnull() & out[f"d{i}"].notnull()
        else:
            flags[f"v{i}"] = per[f"_v{i}"].fill_null(False) & out[f"d{i}"].notnull()
    return per.select("journey_id", "customer_id", *seg, e_us=per._entry, **out, **flags)


def _summarise(per_journey: Any, steps: list[str], *, seg: list[str],
               min_count: int, one_journey_per_customer: bool, alpha: float) -> pd.DataFrame:
    import ibis

    n = len(steps)
    p = per_journey
    aggs: dict[str, Any] = {"entered_journeys": p.count()}
    censored_any = ibis.literal(False)
    for k in range(1, n + 1):
        reached = p[f"d{k}"].notnull()
        aggs[f"journeys_{k}"] = reached.cast("int64").sum()
        if not one_journey_per_customer:  # distinct counts are costly: only when needed
            aggs[f"customers_{k}"] = p.customer_id.nunique(where=reached)
        aggs[f"median_{k}"] = p[f"d{k}"].median()
        if k > 1:
            before = p[f"d{k - 1}"].notnull()
            via = p[f"v{k}"].fill_null(False) & before
            aggs[f"previous_{k}"] = before.cast("int64").sum()
            aggs[f"both_{k}"] = via.cast("int64").sum()
            censored = before & ~via & p._incomplete
            aggs[f"censored_{k}"] = censored.cast("int64").sum()
            aggs[f"ended_{k}"] = (before & ~via & ~p._incomplete & p._ended).cast("int64").sum()
            censored_any = censored_any | censored
            # median of a masked value, not median(where=...): ibis on Spark would mask the
            # percentile's fraction too, which Spark refuses
            aggs[f"step_median_{k}"] = ibis.ifelse(via, p[f"d{k}"] - p[f"d{k - 1}"],
                                                   ibis.null().cast("int64")).median()
        # entered journeys whose status at step k is unknown: censored at it or before it
        aggs[f"unknown_{k}"] = (censored_any & ~reached).cast("int64").sum()
    wide = execute(p.group_by(seg).aggregate(**aggs) if seg else p.aggregate(**aggs))
    rows = []
    for _, r in wide.iterrows():
        for k, name in enumerate(steps, start=1):
            entered = int(r["entered_journeys"])
            journeys_k = int(r[f"journeys_{k}"])
            prev = int(r[f"previous_{k}"]) if k > 1 else journeys_k
            both = int(r[f"both_{k}"]) if k > 1 else journeys_k
            censored = int(r[f"censored_{k}"]) if k > 1 else 0
            row = {**{c: r[c] for c in seg}, "step": name, "step_number": k,
                   "customers": (journeys_k if one_journey_per_customer
                                 else int(r[f"customers_{k}"])), "journeys": journeys_k,
                   "previous_journeys": prev, "continued": both, "censored": censored,
                   "ended": int(r[f"ended_{k}"]) if k > 1 else 0,
                   "observed_journeys": prev - censored,
                   "entered_journeys": entered,
                   "entered_observed": entered - int(r[f"unknown_{k}"]),
                   "median_time_s": _seconds(r[f"median_{k}"]),
                   "median_time_from_previous_s": (
                       _seconds(r[f"step_median_{k}"]) if k > 1 else 0.0)}
            rows.append(row)
    out = pd.DataFrame(rows)
    if out["entered_journeys"].max() == 0:
        raise ValueError(f"no journey enters the funnel {steps}: none reaches its first step"
                         + (" in this segment" if seg else ""))
    add_rate(out, "conversion_from_previous", "continued", "observed_journeys", alpha=alpha)
    add_rate(out, "conversion_from_start", "journeys", "entered_observed", alpha=alpha)
    out["drop_off"] = (out["previous_journeys"] - out["continued"] - out["censored"]
                       - out["ended"])
    with np.errstate(invalid="ignore", divide="ignore"):
        out["drop_off_rate"] = np.where(out["observed_journeys"] > 0, out["drop_off"]
                                        / out["observed_journeys"].clip(lower=1), np.nan)
    out["small_cell"] = out["observed_journeys"] < min_count
    out["alpha"] = alpha
    cols = [*seg, *FUNNEL_COLUMNS, "step_number", "journeys", "previous_journeys",
            "entered_journeys", "conversion_from_previous_ci_low",
            "conversion_from_previous_ci_high", "conversion_from_start_ci_low",
            "conversion_from_start_ci_high", "drop_off", "drop_off_rate", "censored", "ended",
            "observed_journeys", "entered_observed", "median_time_from_previous_s",
            "small_cell", "alpha"]
    return out[cols]


def _seconds(us: Any) -> float:
    return float(us) / 1e6 if us is not None and not pd.isna(us) else np.nan


# --------------------------------------------------------------------------------------------
# Time to convert
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeToConvert:
    """Result of :func:`time_to_convert`.

    ``durations``: the aggregated data the estimator was fitted on (``duration_s``,
    ``converted`` 1/0, ``journeys``: how many journeys share that time and outcome);
    ``fitter``: the fitted ``lifelines.KaplanMeierFitter`` (of time to conversion);
    ``journeys``, ``conversions``, ``censored``: counts; ``start``/``end``: what was timed.
    """

    durations: pd.DataFrame
    fitter: Any
    journeys: int
    conversions: int
    censored: int
    start: str | None
    end: tuple[str, ...]
    method: str = "Kaplan-Meier (lifelines.KaplanMeierFitter), right-censored"

    @property
    def median_time_s(self) -> float:
        """Median time to convert in seconds (inf when fewer than half ever convert)."""
        return float(self.fitter.median_survival_time_)

    def conversion_curve(self) -> pd.DataFrame:
        """Cumulative conversion probability ``1 - S(t)`` with its interval at
        ``1 - alpha`` (lifelines' exponential Greenwood), by ``time_s`` (the estimator's own
        steps), and ``alpha``."""
        sf = self.fitter.survival_function_.iloc[:, 0]
        ci = self.fitter.confidence_interval_survival_function_
        return pd.DataFrame({
            "time_s": sf.index.to_numpy(dtype=float),
            "converted_share": 1 - sf.to_numpy(),
            "ci_low": 1 - ci.iloc[:, 1].to_numpy(),
            "ci_high": 1 - ci.iloc[:, 0].to_numpy(),
            "at_risk": self.fitter.event_table["at_risk"].reindex(sf.index).to_numpy(),
            "alpha": float(self.fitter.alpha),
        })

    def at(self, times_s: Sequence[float]) -> pd.DataFrame:
        """Conversion probability by each of ``times_s`` (seconds) with its interval at
        ``1 - alpha``."""
        times = np.asarray(list(times_s), dtype=float)
        sf = self.fitter.survival_function_at_times(times).to_numpy()
        ci = self.fitter.confidence_interval_survival_function_
        idx = ci.index.to_numpy(dtype=float)
        pos = np.searchsorted(idx, times, side="right") - 1
        low = np.where(pos >= 0, 1 - ci.iloc[np.clip(pos, 0, None), 1].to_numpy(), 0.0)
        high = np.where(pos >= 0, 1 - ci.iloc[np.clip(pos, 0, None), 0].to_numpy(), 0.0)
        return pd.DataFrame({"time_s": times, "converted_share": 1 - sf,
                             "ci_low": low, "ci_high": high})

    def summary(self) -> pd.DataFrame:
        """One row: journeys, conversions, censored, median time to convert (s)."""
        return pd.DataFrame([{"start": self.start or "(journey start)",
                              "end": ", ".join(self.end), "journeys": self.journeys,
                              "conversions": self.conversions, "censored": self.censored,
                              "median_time_s": self.median_time_s, "method": self.method}])


def time_to_convert(journeys: Journeys, *, start: str | None = None,
                    end: Sequence[str] | None = None, window: Any = None,
                    resolution_s: float = 1.0, alpha: float = 0.05) -> TimeToConvert:
    """Time from ``start`` to the first ``end`` touchpoint after it, with censoring.

    ``start``: the touchpoint that starts the clock (its first occurrence in the journey);
    None for the journey's first step. ``end``: touchpoints that stop it (default: the
    conversion touchpoints). A journey that has not reached ``end`` is censored at the end
    of observation: for ``unit="customer"`` journeys at ``journeys.observed_until`` (the
    customer may still convert), for sessions at their last event (the session is over);
    with a ``window``, at most at the window. Durations are aggregated in the engine to
    ``resolution_s`` (1 s by default) and fitted with ``lifelines.KaplanMeierFitter``
    using the counts as weights, which is the same estimate as fitting every journey.
    """
    import ibis
    from lifelines import KaplanMeierFitter

    check_journeys(journeys)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    check_scalar(resolution_s, "resolution_s", typ=float, gt=0)
    ends = tuple(end) if end is not None else journeys.conversion_touchpoints
    if isinstance(end, str):
        ends = (end,)
    check_touchpoints_occur(journeys, [*ends, *([start] if start else [])],
                            what="time_to_convert touchpoint(s)")
    window_us = _window_us(window)
    s = journeys.steps
    if start is None:
        origin = s.group_by("journey_id").aggregate(o_us=s.time_us.min(),
                                                    last_us=s.time_us.max())
    else:
        origin = s.group_by("journey_id").aggregate(
            o_us=s.time_us.min(where=s.touchpoint == start), last_us=s.time_us.max())
        origin = origin.filter(origin.o_us.notnull())
    stop = s.filter(s.touchpoint.isin(list(ends)))
    j = stop.join(origin, "journey_id")
    j = j.filter(j.time_us >= j.o_us)
    first_end = j.group_by("journey_id").aggregate(c_us=j.time_us.min())
    x = origin.left_join(first_end, "journey_id")
    until_us = int(journeys.observed_until.value // 1000)
    censor_at = (x.last_us if journeys.unit == "session"
                 else ibis.literal(until_us, type="int64"))
    converted = x.c_us.notnull()
    duration = ibis.ifelse(converted, x.c_us - x.o_us, censor_at - x.o_us)
    if window_us is not None:
        converted = converted & (duration <= window_us)
        duration = ibis.least(duration, ibis.literal(window_us, type="int64"))
    res_us = int(round(resolution_s * 1e6))
    binned = ((duration + res_us // 2) // res_us).cast("int64")
    y = x.select(_bin=binned, converted=converted.cast("int64"))
    agg = execute(y.group_by(["_bin", "converted"]).aggregate(journeys=y.count()))
    if agg.empty:
        raise ValueError(f"time_to_convert: no journey reaches the start touchpoint {start!r}")
    agg["duration_s"] = agg["_bin"].astype(float) * resolution_s
    agg = agg.drop(columns="_bin").sort_values(["duration_s", "converted"]).reset_index(
        drop=True)
    agg = agg[["duration_s", "converted", "journeys"]].astype(
        {"converted": "int64", "journeys": "int64"})
    kmf = KaplanMeierFitter(label="not yet converted", alpha=alpha)
    kmf.fit(agg["duration_s"], event_observed=agg["converted"], weights=agg["journeys"])
    conversions = int(agg.loc[agg["converted"] == 1, "journeys"].sum())
    total = int(agg["journeys"].sum())
    return TimeToConvert(durations=agg, fitter=kmf, journeys=total, conversions=conversions,
                         censored=total - conversions, start=start, end=ends)
