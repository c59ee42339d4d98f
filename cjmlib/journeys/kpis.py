"""KPI series by period, counted in the engine: what the change search reads.

:func:`kpi_series` counts, inside the engine and by period (day, week or month:
:func:`cjmlib.journeys.periods.choose_period`), every KPI of the journeys -- only the
aggregates come back:

* ``exit_rate`` and ``conversion_rate`` of every touchpoint, stage and channel: among the
  journeys reaching the group, those whose last step is in it without converting, and those
  that converted. A journey counts in the period of its *first visit to the group* (so an
  incident at the payment page shows in the weeks customers were at the payment page).
* ``transition_probability`` of the main flows (the ``flows`` most frequent transitions
  A -> B): transitions A -> B out of all transitions leaving A, by the period of the A step;
  also by the channel of the A step (level ``flow_channel``) where A is seen on more than one
  channel, so that a bug on one platform shows as that platform's change.
* ``time_median`` and ``time_p90`` of the ``timed_flows`` main flows between two different
  steps: the gap from A to the next step B. The series tested is the share of gaps at or
  above the flow's usual median (respectively 90th percentile) over all periods, Mood's
  median test (Mood 1950, *Introduction to the Theory of Statistics*, ch. 16) per period,
  which makes a slowdown a binomial rate like the others; the period's median and p90 in
  seconds are the values shown. Gaps are counted in the engine in log-spaced bins
  (:data:`GAP_BIN_RATIO`, 5% wide), one pass for every flow: quantiles are interpolated
  inside a bin (within 5%), and the usual median is the bin edge nearest the pooled
  median (``threshold_s``), so the counts tested are exact for that threshold.
* ``arrivals``: journeys started per period (a Poisson count, with the share of the period
  the data cover as its exposure, so the cut first and last periods are not dips).
* ``channel_share``: each channel's share of the events of the period.

Right censoring: a journey whose last event lies within ``open_horizon`` of the end of the
data and that has not converted may still go on; whether it exits, and where, is unknown.
Such *open* journeys are left out of the numerator **and** the denominator of exit and
conversion rates (their count is kept as ``open_excluded``), so the last periods are not
read as an exit surge. Leaving them out is not enough on its own: a conversion is seen the
moment it happens while an exit is only known once the horizon has passed, so the closed
journeys of the last periods over-represent conversions (a process log would show exits
falling to 0% at its end). A period's exit and conversion counts for a group are therefore
dropped (no data) where more than ``max_open_share`` (2%) of the journeys reaching the
group then are still open; in the periods kept, the open journeys left out can move a rate
by at most that share. The horizon is the journeys' own rule
(:attr:`cjmlib.journeys.build.Journeys.open_horizon_us`, the one funnels and exit rates
use): the session timeout for sessions and, for customer journeys, the 95th percentile of
the gaps between consecutive steps (a journey quiet for less than that has not shown that
it ended).

Bursts (``bursts``, searched by day whatever the period): journeys started per day
(``arrivals_per_day``) and customers first seen per day (``new_customers``, the first
:data:`NEW_CUSTOMER_BURN_IN_DAYS` days left out: customers active before the data began are
first seen there), each against the count expected from the other days -- a Poisson
regression on the weekday and a smooth trend (:func:`expected_daily`: a weekly rhythm is
not a burst, nor is a trend) -- so that a viral day stands out from a trend or
from the slow decline of first-seen customers.

Satisfaction (:func:`add_feedback`, with the canonical feedback table): the share of CSAT
answers at 4-5 and of NPS promoters and detractors, per survey and per touchpoint within a
survey, on the same periods.

The search itself is :func:`cjmlib.journeys.changes.detect_changes`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import execute, materialized
from cjmlib.journeys.build import Journeys, check_journeys
from cjmlib.journeys.periods import DAY_US, choose_period, period_index, period_table

#: Ratio of consecutive gap-bin edges: times between steps are counted in bins
#: ``[r^k - 1, r^(k+1) - 1)`` seconds; medians and p90s are interpolated inside a bin, so
#: within 5% of the exact value.
GAP_BIN_RATIO = 1.05
LEVELS = ("touchpoint", "stage", "channel")
#: Each KPI and the model its series is tested with.
KPI_MODELS: dict[str, str] = {
    "exit_rate": "binomial", "conversion_rate": "binomial",
    "transition_probability": "binomial", "time_median": "binomial",
    "time_p90": "binomial", "arrivals": "poisson", "channel_share": "binomial",
    "new_customers": "poisson", "arrivals_per_day": "poisson",
    "csat_satisfied": "binomial", "nps_promoters": "binomial", "nps_detractors": "binomial",
}
#: Feedback KPIs (:func:`add_feedback`): answers at or above / at or below a cut.
FEEDBACK_KPIS = {"csat_satisfied": ("csat", ">=", 4), "nps_promoters": ("nps", ">=", 9),
                 "nps_detractors": ("nps", "<=", 6)}
#: Daily count series searched for bursts against the days around them (see the module).
BURST_KPIS = ("new_customers", "arrivals_per_day")
#: A burst lasts at most this many days; its baseline is a Poisson regression on the
#: weekday and a spline of time with a knot every BASELINE_KNOT_DAYS days, refitted without
#: the days beyond BASELINE_OUTLIER_Z standard deviations (:func:`expected_daily`).
BURST_MAX_DAYS = 7
BASELINE_KNOT_DAYS = 28
BASELINE_OUTLIER_Z = 4.0
#: Days at the start of the data in which first-seen customers are not counted as new:
#: customers already active before the data began show up there for the first time, and
#: their count falls steeply.
NEW_CUSTOMER_BURN_IN_DAYS = 14
#: Columns of :attr:`KpiSeries.table`.
SERIES_COLUMNS = ("kpi", "level", "group", "period", "period_index", "numerator",
                  "denominator", "value", "threshold_s", "open_excluded", "exposure")


@dataclass(frozen=True)
class KpiSeries:
    """KPI series by period, counted in the engine by :func:`kpi_series`.

    ``table``: one row per KPI, level, group and period (all periods from the first to the
    last of the data, zeros included), columns :data:`SERIES_COLUMNS`: ``numerator`` and
    ``denominator`` are what is tested (successes and trials; for ``arrivals`` journeys
    started and ``exposure``, the share of the period observed), ``value`` is the KPI as
    read (a rate, journeys started, or the period's median / p90 gap in seconds),
    ``threshold_s`` the usual median or p90 of a time series (seconds), ``open_excluded``
    the open journeys left out of exit and conversion rates.
    ``periods``: ``period_index``, ``period`` (start, UTC), ``period_end``, ``exposure``.
    ``bursts`` and ``burst_periods``: the same for the daily series of :data:`BURST_KPIS`
    whatever ``period`` is, ``denominator`` the count expected from the days around
    (:func:`expected_daily`).
    """

    table: pd.DataFrame
    periods: pd.DataFrame
    period: Literal["day", "week", "month"]
    unit: str
    observed_from: pd.Timestamp
    observed_until: pd.Timestamp
    open_horizon: pd.Timedelta
    open_journeys: int
    journeys: int
    bursts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=list(SERIES_COLUMNS)))
    burst_periods: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["period_index", "period", "period_end", "exposure"]))

    def to_pandas(self) -> pd.DataFrame:
        return self.table


def _horizon(journeys: Journeys, open_horizon: Any) -> pd.Timedelta:
    """The open horizon by the journeys' own rule (:attr:`Journeys.open_horizon_us`: the
    session timeout for sessions, the 95th percentile of the gaps between steps for
    customer journeys), for ``open_horizon`` ("auto", a duration, or None: none open)."""
    if open_horizon is None:
        return pd.Timedelta(0)
    same = isinstance(open_horizon, str) and open_horizon == journeys.open_horizon
    us = (journeys if same else replace(journeys, open_horizon=open_horizon)).open_horizon_us
    return pd.Timedelta(microseconds=us or 0)


def _bin_edge(k: Any) -> Any:
    """Lower edge (seconds) of gap bin ``k``: bins are ``[r^k - 1, r^(k+1) - 1)``."""
    return np.power(GAP_BIN_RATIO, np.asarray(k, dtype=float)) - 1.0


def _hist_quantiles(bins: np.ndarray, counts: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Quantiles of gaps from their bin counts, interpolated linearly inside the bin. A bin
    may come in several rows (one per channel): they are added up first, so the result does
    not depend on the order the engine returns them in."""
    b, where = np.unique(np.asarray(bins), return_inverse=True)
    c = np.bincount(where.ravel(), weights=np.asarray(counts, dtype=float), minlength=len(b))
    cum = np.cumsum(c)
    total = cum[-1] if cum.size else 0.0
    out = []
    for q in qs:
        if total <= 0:
            out.append(np.nan)
            continue
        target = q * total
        i = int(np.searchsorted(cum, target, side="left"))
        i = min(i, len(b) - 1)
        below = cum[i] - c[i]
        frac = (target - below) / c[i] if c[i] > 0 else 0.0
        lo, hi = _bin_edge(b[i]), _bin_edge(b[i] + 1)
        out.append(float(lo + frac * (hi - lo)))
    return np.asarray(out)


def kpi_series(
    journeys: Journeys,
    *,
    period: Literal["auto", "day", "week", "month"] = "auto",
    levels: Sequence[str] = LEVELS,
    flows: int = 10,
    timed_flows: int = 5,
    open_horizon: Any = "auto",
    max_open_share: float = 0.02,
) -> KpiSeries:
    """Every KPI series of the journeys by period, counted in the engine (see the module
    docstring for the definitions).

    ``period``: ``"day"``, ``"week"`` (Monday to Sunday, UTC), ``"month"`` or ``"auto"``
    (:func:`choose_period`). ``levels``: any of ``touchpoint``, ``stage``,
    ``channel`` for exit and conversion rates. ``flows``: main flows (most frequent
    transitions) whose probability is followed; ``timed_flows``: main flows between two
    different touchpoints whose time is followed. ``open_horizon``: ``"auto"``, a duration
    (``"3 days"``) or None (no censoring). ``max_open_share``: a period's exit and
    conversion counts of a group are left out (no data) when more than this share of the
    journeys reaching the group then are still open.
    """
    check_journeys(journeys)
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown:
        raise ValueError(f"kpi_series: unknown level(s) {unknown}; expected any of {LEVELS}")
    check_scalar(flows, "flows", typ=int, ge=0)
    check_scalar(timed_flows, "timed_flows", typ=int, ge=0)
    check_scalar(max_open_share, "max_open_share", typ=float, ge=0, le=1)
    unit = choose_period(journeys, period)
    periods = period_table(journeys, unit)

    # session journeys are cut by window functions: compute them once, not in every query
    # (journeys kept by cjmlib.journeys.persist are stored already)
    stored = journeys.precomputed is not None
    with (materialized(journeys.steps) if journeys.unit == "session" and not stored
          else nullcontext(journeys.steps)) as steps:
        frames, horizon, n_open, daily = _kpi_frames(
            journeys if stored else replace(journeys, steps=steps), unit=unit, levels=levels,
            flows=flows,
            timed_flows=timed_flows, open_horizon=open_horizon, max_open_share=max_open_share)
    table = _complete(pd.concat(frames, ignore_index=True), periods)
    days = period_table(journeys, "day")
    bursts = _burst_series(daily, days)
    return KpiSeries(table=table, periods=periods.drop(columns="_raw"), period=unit,
                     unit=journeys.unit, observed_from=journeys.observed_from,
                     observed_until=journeys.observed_until, open_horizon=horizon,
                     open_journeys=n_open,
                     journeys=int(table.loc[table["kpi"] == "arrivals", "numerator"].sum()),
                     bursts=bursts, burst_periods=days.drop(columns="_raw"))


def add_feedback(series: KpiSeries, feedback: Any, *, time_column: str = "response_time",
                 touchpoint_column: str = "touchpoint",
                 survey_column: str = "survey") -> KpiSeries:
    """``series`` with the satisfaction series of ``feedback`` (a DataFrame, a path or an
    Ibis table of the canonical feedback table) on the same periods, counted in the engine:
    the share of CSAT answers at 4-5 (``csat_satisfied``), of NPS answers at 9-10
    (``nps_promoters``) and at 0-6 (``nps_detractors``), each over the answers with that
    score, per survey (level ``survey``: a wave of a yearly survey is not a change in
    another's scores) and per touchpoint answered about within a survey (level
    ``feedback``, group ``touchpoint (survey)``). Answers outside the journeys' observed span are left out. Series with no
    answers at all are not added; a feedback table without ``csat`` or ``nps`` adds none of
    that score's series.
    """
    if not isinstance(series, KpiSeries):
        raise TypeError(f"series must be a KpiSeries from kpi_series(journeys), got "
                        f"{type(series).__name__}")
    import ibis

    from cjmlib.core.engine import as_table, epoch_microseconds

    t = as_table(feedback, what="feedback")
    if time_column not in t.columns:
        raise ValueError(f"feedback: column {time_column!r} (answer time) is missing; "
                         f"columns are {list(t.columns)}")
    scores = [c for c in ("csat", "nps") if c in t.columns]
    if not scores:
        return series
    unit = series.period
    lo, hi = (int(ts.value // 1000) for ts in (series.observed_from, series.observed_until))
    t = t.mutate(_us=epoch_microseconds(t[time_column], t))
    t = t.filter((t._us >= lo) & (t._us <= hi))
    t = t.mutate(_p=period_index(t._us, unit).cast("int64"),
                 _tp=(t[touchpoint_column].cast("string") if touchpoint_column in t.columns
                      else None))
    aggs = {}
    for kpi, (col, op, cut) in FEEDBACK_KPIS.items():
        if col not in scores:
            continue
        hit = t[col] >= cut if op == ">=" else t[col] <= cut
        aggs[f"{kpi}__n"] = t[col].notnull().cast("int64").sum()
        aggs[f"{kpi}__x"] = (t[col].notnull() & hit).cast("int64").sum()
    if not aggs:
        return series
    # a survey's answers as one series, and per touchpoint within a survey: a wave of
    # another survey (a yearly relationship survey) must not read as a change in CSAT
    survey = (t[survey_column].cast("string").fill_null("(no survey)")
              if survey_column in t.columns else ibis.literal("all"))
    t = t.mutate(_survey=survey)
    parts = [execute(t.group_by(["_survey", "_p"]).aggregate(**aggs)).assign(level="survey")]
    parts[0]["_tp"] = parts[0]["_survey"]
    if touchpoint_column in t.columns:
        by_tp = t.filter(t._tp.notnull())
        part = execute(by_tp.group_by(["_survey", "_tp", "_p"]).aggregate(**aggs))
        part["_tp"] = part["_tp"] + " (" + part["_survey"] + ")"
        parts.append(part.assign(level="feedback"))
    c = pd.concat(parts, ignore_index=True)
    frames = []
    for kpi in FEEDBACK_KPIS:
        if f"{kpi}__n" not in c.columns:
            continue
        f = pd.DataFrame({"kpi": kpi, "level": c["level"], "group": c["_tp"].astype(str),
                          "_p": c["_p"], "numerator": c[f"{kpi}__x"],
                          "denominator": c[f"{kpi}__n"], "open_excluded": 0})
        answered = f.groupby("group")["denominator"].transform("sum") > 0
        frames.append(f[answered])
    frames = [f for f in frames if len(f)]
    if not frames:
        return series
    periods = series.periods.assign(_raw=period_index(
        (series.periods["period"].astype("int64") // 1000).to_numpy(), unit))
    added = _complete(pd.concat(frames, ignore_index=True), periods)
    table = pd.concat([series.table, added], ignore_index=True)
    return replace(series, table=table)


def expected_daily(counts: np.ndarray, exposure: np.ndarray, use: np.ndarray,
                   weekdays: np.ndarray) -> np.ndarray:
    """Counts expected per day from the other days: a Poisson regression (statsmodels GLM)
    of the days in ``use`` on the weekday and a cubic B-spline of time with a knot every
    :data:`BASELINE_KNOT_DAYS` days (patsy ``bs``), offset by the log of the day's exposure;
    fitted twice, the second time without the days the first fit leaves more than
    :data:`BASELINE_OUTLIER_Z` Pearson standard deviations above or below (a burst must not
    raise its own baseline). NaN outside ``use`` or with too few days to fit.

    Pooling every day of the weekday and the weeks around, the expectation has little noise
    of its own (a median of a few neighbouring days had enough to make the scan reject 8%
    of null series); weekly rhythms and trends are the model's, not bursts. All NaN when
    the counts cannot be fitted (all zero, or zero but on a few days).
    """
    import patsy
    import statsmodels.api as sm

    out = np.full(len(counts), np.nan)
    idx = np.flatnonzero(use)
    if idx.size < 3 * 7:
        return out
    frame = pd.DataFrame({"t": idx.astype(float), "dow": weekdays[idx]})
    df = max(3, int(round(idx.size / BASELINE_KNOT_DAYS)) + 3)
    design = np.asarray(patsy.dmatrix(f"C(dow) + bs(t, df={df})", frame))
    y, offset = counts[idx], np.log(exposure[idx])
    keep = np.ones(idx.size, dtype=bool)
    fitted = None
    for _ in range(2):
        if y[keep].sum() <= 0 or keep.sum() <= design.shape[1]:
            return out  # nothing to expect from: no data (the series is degenerate)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit = sm.GLM(y[keep], design[keep], family=sm.families.Poisson(),
                             offset=offset[keep]).fit()
        except (ValueError, np.linalg.LinAlgError):  # counts a Poisson fit cannot take
            return out
        fitted = np.exp(design @ fit.params + offset)
        scale = max(1.0, float(np.sum((y[keep] - fitted[keep]) ** 2 / fitted[keep]))
                    / max(int(keep.sum()) - design.shape[1], 1))
        z = (y - fitted) / np.sqrt(fitted * scale)
        keep = np.abs(z) <= BASELINE_OUTLIER_Z
    out[idx] = fitted
    return out


def _burst_series(daily: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """Daily counts (``kpi``, ``_p`` = day index, ``n``) against the count expected from
    the other days (:func:`expected_daily`)."""
    out = []
    exposure = days["exposure"].to_numpy(float)
    weekdays = pd.DatetimeIndex(days["period"]).dayofweek.to_numpy()
    for kpi in BURST_KPIS:
        d = daily[daily["kpi"] == kpi]
        counts = days["_raw"].map(d.set_index("_p")["n"]).fillna(0).to_numpy(float)
        use = exposure > 0.5  # a day cut short by the data's start or end is left out
        if kpi == "new_customers":
            use[:NEW_CUSTOMER_BURN_IN_DAYS] = False
        baseline = expected_daily(counts, exposure, use, weekdays)
        ok = ~np.isnan(baseline) & (baseline > 0)
        frame = pd.DataFrame({
            "kpi": kpi, "level": "all",
            "group": "customers" if kpi == "new_customers" else "journeys",
            "period_index": days["period_index"], "period": days["period"],
            "numerator": np.where(ok, counts, 0).astype("int64"),
            "denominator": np.where(ok, baseline, 0.0), "value": counts,
            "threshold_s": np.nan, "open_excluded": 0, "exposure": exposure})
        out.append(frame)
    return pd.concat(out, ignore_index=True)[list(SERIES_COLUMNS)]


def _kpi_frames(journeys: Journeys, *, unit: str, levels: Sequence[str], flows: int,
                timed_flows: int, open_horizon: Any, max_open_share: float
                ) -> tuple[list[pd.DataFrame], pd.Timedelta, int, pd.DataFrame]:
    """The raw series (engine queries) behind :func:`kpi_series`."""
    until_us = int(journeys.observed_until.value // 1000)
    s = journeys.steps
    # the one window pass: moves and their gaps, aggregated in the engine into a histogram
    # by (touchpoint, next touchpoint, period, log-spaced gap bin) kept there for the queries
    o = journeys.ordered("next_touchpoint", "next_gap_s")
    # a gap on a bin edge (0.05 s is 1.05 - 1) must fall in the same bin on every engine:
    # their logarithms differ in the last bit, so the edge is nudged by 1e-9 of a bin
    o = o.mutate(_p=period_index(o.time_us, unit),
                 _bin=((o.next_gap_s + 1).ln() / np.log(GAP_BIN_RATIO) + 1e-9).floor()
                 .cast("int64"))
    hist = o.group_by(["touchpoint", "next_touchpoint", "channel", "_p", "_bin"]).aggregate(
        n=o.count())
    with materialized(hist) as hist:
        horizon = _horizon(journeys, open_horizon)
        cutoff = until_us - int(horizon.value // 1000)
        frames = _flow_frames(journeys, hist, unit=unit, flows=flows, timed_flows=timed_flows,
                              cutoff=cutoff, max_open_share=max_open_share)

    order = journeys.order_key()
    pj = s.group_by("journey_id").aggregate(
        converted=s.is_conversion.max(), start_us=s.time_us.min(), end_us=s.time_us.max(),
        **{f"_last_{lv}": s[lv].argmax(order) for lv in levels})
    pj = pj.mutate(_open=~pj.converted & (pj.end_us > cutoff))
    with materialized(pj) as pj:
        # exit and conversion rates: each journey once per group, in the period of its
        # first visit; exit = the journey's last step is in the group and it did not convert
        for level in levels:
            jt = s.group_by([level, "journey_id"]).aggregate(_first=s.time_us.min())
            x = jt.join(pj, "journey_id")
            x = x.mutate(_p=period_index(x._first, unit), _closed=~x._open,
                         _exit=(x[f"_last_{level}"] == x[level]) & ~x.converted)
            c = execute(x.group_by([level, "_p"]).aggregate(
                trials=x._closed.cast("int64").sum(),
                exits=(x._closed & x._exit).cast("int64").sum(),
                conversions=(x._closed & x.converted).cast("int64").sum(),
                open_excluded=x._open.cast("int64").sum()))
            # immature cells: too many journeys still open to trust those that are closed
            immature = c["open_excluded"] > max_open_share * (c["trials"] + c["open_excluded"])
            for kpi, num in (("exit_rate", "exits"), ("conversion_rate", "conversions")):
                frames.append(pd.DataFrame({
                    "kpi": kpi, "level": level, "group": c[level].astype(str),
                    "_p": c["_p"], "numerator": c[num].where(~immature, 0),
                    "denominator": c["trials"].where(~immature, 0),
                    "open_excluded": c["open_excluded"]}))
        # arrivals: journeys started per day, summed into the periods below
        per_day = execute(pj.group_by(_p=period_index(pj.start_us, "day")).aggregate(
            n=pj.count(), _open=pj._open.cast("int64").sum()))
        n_open = int(per_day["_open"].sum())
    a = (per_day.assign(_p=period_index(per_day["_p"].to_numpy("int64") * DAY_US, unit))
         .groupby("_p", as_index=False)["n"].sum())
    # customers first seen (their first journey step) per day
    first = s.group_by("customer_id").aggregate(_f=s.time_us.min())
    new = execute(first.group_by(_p=period_index(first._f, "day")).aggregate(n=first.count()))
    daily = pd.concat([per_day[["_p", "n"]].assign(kpi="arrivals_per_day"),
                       new.assign(kpi="new_customers")],
                      ignore_index=True)
    frames.append(pd.DataFrame({"kpi": "arrivals", "level": "all", "group": "journeys",
                                "_p": a["_p"], "numerator": a["n"], "denominator": np.nan}))
    # channel mix: each channel's share of the period's events
    m = execute(s.group_by(["channel", period_index(s.time_us, unit).name("_p")])
                .aggregate(n=s.count()))
    m = m.pivot_table(index="_p", columns="channel", values="n", fill_value=0, aggfunc="sum")
    total = m.sum(axis=1)
    m = m.stack().rename("n").reset_index()
    m["total"] = m["_p"].map(total)
    frames.append(pd.DataFrame({"kpi": "channel_share", "level": "channel",
                                "group": m["channel"].astype(str), "_p": m["_p"],
                                "numerator": m["n"], "denominator": m["total"]}))
    return frames, horizon, n_open, daily

def _flow_frames(journeys: Journeys, hist: Any, *, unit: str, flows: int, timed_flows: int,
                 cutoff: int, max_open_share: float) -> list[pd.DataFrame]:
    """Transition probabilities of the main flows and the time between their steps, by the
    period of the departing step. Steps within the horizon of the data's end may not have
    shown their next step yet (long gaps and far moves would look rarer at the end), so a
    period of a departing touchpoint is left out where more than ``max_open_share`` of its
    steps are that recent."""
    if not flows:
        return []
    tc = execute(hist.group_by(["touchpoint", "next_touchpoint", "channel", "_p"]).aggregate(
        n=hist.n.sum()))
    t = tc.groupby(["touchpoint", "next_touchpoint", "_p"], as_index=False, dropna=False)[
        "n"].sum()
    s = journeys.steps
    late = s.filter(s.time_us > cutoff)
    recent = execute(late.group_by(["touchpoint", period_index(late.time_us, unit)
                                    .name("_p")]).aggregate(recent=late.count()))
    cells = t.groupby(["touchpoint", "_p"], as_index=False)["n"].sum().rename(
        columns={"n": "steps"})
    moves = t[t["next_touchpoint"].notna()]
    departures = moves.groupby(["touchpoint", "_p"], as_index=False)["n"].sum().rename(
        columns={"n": "departures"})
    cells = (cells.merge(departures, on=["touchpoint", "_p"], how="left")
             .merge(recent, on=["touchpoint", "_p"], how="left")
             .fillna({"departures": 0, "recent": 0}))
    cells["immature"] = cells["recent"] > max_open_share * cells["steps"]
    volume = moves.groupby(["touchpoint", "next_touchpoint"])["n"].sum().sort_values(
        ascending=False, kind="stable")
    top = list(volume.head(flows).index)
    # every period with departures from A, zero moves to B included
    wanted = pd.DataFrame(top, columns=["touchpoint", "next_touchpoint"])
    x = (wanted.merge(cells, on="touchpoint")
         .merge(moves, on=["touchpoint", "next_touchpoint", "_p"], how="left")
         .fillna({"n": 0}))
    keep = ~x["immature"]
    frames = [pd.DataFrame({
        "kpi": "transition_probability", "level": "flow",
        "group": x["touchpoint"].astype(str) + " → " + x["next_touchpoint"].astype(str),
        "_p": x["_p"], "numerator": x["n"].where(keep, 0),
        "denominator": x["departures"].where(keep, 0)})]
    frames.extend(_channel_flow_frames(tc, top, cells))
    timed = [f for f in volume.index if f[0] != f[1]][:timed_flows]
    if timed:
        frames.extend(_time_frames(hist, timed, cells.loc[cells["immature"],
                                                          ["touchpoint", "_p"]]))
    return frames


def _channel_flow_frames(tc: pd.DataFrame, top: list[tuple[str, str]],
                         cells: pd.DataFrame) -> list[pd.DataFrame]:
    """The main flows by the channel of the departing step (a bug on one platform), for
    flows whose departing touchpoint is seen on more than one channel; periods left out
    as for the flow as a whole."""
    steps = tc.groupby(["touchpoint", "channel", "_p"], as_index=False)["n"].sum()
    moves = tc[tc["next_touchpoint"].notna()]
    departures = moves.groupby(["touchpoint", "channel", "_p"], as_index=False)["n"].sum(
        ).rename(columns={"n": "departures"})
    multi = steps.groupby("touchpoint")["channel"].nunique()
    wanted = pd.DataFrame([f for f in top if multi.get(f[0], 0) > 1],
                          columns=["touchpoint", "next_touchpoint"])
    if wanted.empty:
        return []
    x = (wanted.merge(departures, on="touchpoint")
         .merge(moves, on=["touchpoint", "next_touchpoint", "channel", "_p"], how="left")
         .merge(cells[["touchpoint", "_p", "immature"]], on=["touchpoint", "_p"], how="left")
         .fillna({"n": 0, "immature": False}))
    keep = ~x["immature"].astype(bool)
    return [pd.DataFrame({
        "kpi": "transition_probability", "level": "flow_channel",
        "group": x["touchpoint"].astype(str) + " → " + x["next_touchpoint"].astype(str)
        + " (" + x["channel"].astype(str) + ")",
        "_p": x["_p"], "numerator": x["n"].where(keep, 0),
        "denominator": x["departures"].where(keep, 0)})]


def _time_frames(hist: Any, timed: list[tuple[str, str]], immature: pd.DataFrame
                 ) -> list[pd.DataFrame]:
    """Per flow and period: gaps, median and p90 (from the gap histogram), and how many
    reach the flow's usual median and p90 (the bin edges nearest the pooled quantiles):
    Mood's median test as a binomial series."""
    cond = None
    for a, b in timed:
        hit = (hist.touchpoint == a) & (hist.next_touchpoint == b)
        cond = hit if cond is None else cond | hit
    h = execute(hist.filter(cond))
    drop = set(map(tuple, immature.to_numpy().tolist()))
    frames: dict[str, list[pd.DataFrame]] = {"time_median": [], "time_p90": []}
    for (a, b), flow in h.groupby(["touchpoint", "next_touchpoint"]):
        pooled = flow.groupby("_bin")["n"].sum()
        group = f"{a} → {b}"
        for kpi, q in (("time_median", 0.5), ("time_p90", 0.9)):
            value = _hist_quantiles(pooled.index.to_numpy(), pooled.to_numpy(float), [q])[0]
            # the bin edge nearest the pooled quantile: the threshold the periods are held to
            k = int(np.round(np.log(value + 1) / np.log(GAP_BIN_RATIO)))
            rows = []
            for p, cell in flow.groupby("_p"):
                n = float(cell["n"].sum())
                above = float(cell.loc[cell["_bin"] >= k, "n"].sum())
                v = _hist_quantiles(cell["_bin"].to_numpy(), cell["n"].to_numpy(float),
                                    [q])[0]
                if (a, p) in drop:
                    n, above, v = 0.0, 0.0, np.nan
                rows.append((p, above, n, v))
            part = pd.DataFrame(rows, columns=["_p", "numerator", "denominator", "value"])
            part.insert(0, "group", group)
            part.insert(0, "level", "flow")
            part.insert(0, "kpi", kpi)
            part["threshold_s"] = float(_bin_edge(k))
            frames[kpi].append(part)
    return [pd.concat(f, ignore_index=True) for f in frames.values() if f]


def _complete(raw: pd.DataFrame, periods: pd.DataFrame) -> pd.DataFrame:
    """Every series on every period (zeros where nothing happened), in period positions."""
    raw = raw.merge(periods[["_raw", "period_index"]], left_on="_p", right_on="_raw",
                    how="inner").drop(columns=["_p", "_raw"])
    keys = raw[["kpi", "level", "group"]].drop_duplicates()
    grid = keys.merge(periods[["period_index", "period", "exposure"]], how="cross")
    out = grid.merge(raw, on=["kpi", "level", "group", "period_index"], how="left")
    out["numerator"] = out["numerator"].fillna(0).astype("int64")
    arrivals = out["kpi"] == "arrivals"
    out.loc[arrivals, "denominator"] = out.loc[arrivals, "exposure"]
    out["denominator"] = out["denominator"].fillna(0.0).astype(float)
    out["open_excluded"] = out["open_excluded"].fillna(0).astype("int64")
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(out["denominator"] > 0, out["numerator"] / out["denominator"], np.nan)
    for col in ("value", "threshold_s"):
        if col not in out.columns:
            out[col] = np.nan
    timed = out["kpi"].isin(["time_median", "time_p90"])
    out["value"] = np.where(timed, out["value"],
                            np.where(arrivals, out["numerator"], rate))
    return (out[list(SERIES_COLUMNS)].sort_values(["kpi", "level", "group", "period_index"])
            .reset_index(drop=True))
