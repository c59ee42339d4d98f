"""What changed, when and for whom: KPI series by period and change detection without dates.

:func:`kpi_series` counts, inside the engine and by period (day or week), every KPI of the
journeys -- only the aggregates come back:

* ``exit_rate`` and ``conversion_rate`` of every touchpoint, stage and channel: among the
  journeys reaching the group, those whose last step is in it without converting, and those
  that converted. A journey counts in the period of its *first visit to the group* (so an
  incident at the payment page shows in the weeks customers were at the payment page).
* ``transition_probability`` of the main flows (the ``flows`` most frequent transitions
  A -> B): transitions A -> B out of all transitions leaving A, by the period of the A step.
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
by at most that share. The horizon defaults to the session timeout for sessions and, for
customer journeys, to the 95th percentile of the gaps between consecutive steps (a journey
quiet for less than that has not shown that it ended).

:func:`detect_changes` runs the temporal scan statistic of :mod:`cjmlib.stats.changes` on
every series (the window of periods whose rate differs most from the others, its
Monte-Carlo p-value over all windows), adjusts the p-values over all series searched
(:func:`cjmlib.stats.multiplicity.adjust_p_values`, Benjamini-Hochberg by default) and
describes each significant change: its kind (shift up or down, episode up or down, a burst
of arrivals, a channel fading out), start and end, the level before and during (or after),
the difference with a Newcombe (rates) or Poisson score (counts) interval, the journeys
affected and a sentence. Intervals are computed on counts divided by the series'
dispersion factor (an effective sample size) and, since the window was chosen from the
data, are descriptive. Series that cannot show a change honestly are flagged instead of
tested: ``degenerate`` when nearly all of the denominator falls in one period (customer
journeys that all start in the first week) or in fewer than ``min_periods`` periods,
``constant`` when the rate is 0% or 100% throughout.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.core.engine import execute
from cjmlib.journeys.build import Journeys, check_journeys
from cjmlib.stats.changes import scan
from cjmlib.stats.intervals import newcombe_interval, poisson_difference_interval
from cjmlib.stats.multiplicity import adjust_p_values

_DAY_US = 86_400_000_000
#: Ratio of consecutive gap-bin edges: times between steps are counted in bins
#: ``[r^k - 1, r^(k+1) - 1)`` seconds; medians and p90s are interpolated inside a bin, so
#: within 5% of the exact value.
GAP_BIN_RATIO = 1.05
#: Spans under which ``period="auto"`` chooses days, then weeks; months beyond.
AUTO_DAY_SPAN = pd.Timedelta(days=120)
AUTO_WEEK_SPAN = pd.Timedelta(days=730)
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
#: A burst lasts at most this many days; its baseline is the median of the days within
#: this many days before and after (the day itself left out).
BURST_MAX_DAYS = 7
BASELINE_DAYS = 7
#: Days at the start of the data in which first-seen customers are not counted as new:
#: customers already active before the data began show up there for the first time, and
#: their count falls steeply.
NEW_CUSTOMER_BURN_IN_DAYS = 14
#: Columns of :attr:`KpiSeries.table`.
SERIES_COLUMNS = ("kpi", "level", "group", "period", "period_index", "numerator",
                  "denominator", "value", "threshold_s", "open_excluded", "exposure")
#: Columns of :attr:`Changes.findings`.
FINDING_COLUMNS = (
    "kpi", "level", "group", "kind", "start", "end", "periods", "period_unit", "reference",
    "changed",
    "difference", "ci_low", "ci_high", "confidence_level", "value_reference",
    "value_changed", "affected", "affected_unit", "excess", "statistic", "dispersion",
    "p_value", "p_adjusted", "p_value_method", "sentence", "alpha")
_UNITS = {"exit_rate": "journeys", "conversion_rate": "journeys",
          "transition_probability": "transitions", "time_median": "gaps", "time_p90": "gaps",
          "arrivals": "journeys", "channel_share": "events", "new_customers": "customers",
          "arrivals_per_day": "journeys", "csat_satisfied": "answers",
          "nps_promoters": "answers", "nps_detractors": "answers"}


# --------------------------------------------------------------------------------------------
# KPI series, in the engine
# --------------------------------------------------------------------------------------------
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
    (median of the :data:`BASELINE_DAYS` before and after, scaled by the day's exposure).
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
    day = time_us // _DAY_US
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


def _period_table(journeys: Journeys, period: str) -> pd.DataFrame:
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
    """Quantiles of gaps from their bin counts, interpolated linearly inside the bin."""
    order = np.argsort(bins)
    b, c = bins[order], counts[order]
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


_TEMP_NAMES = itertools.count(1)


@contextmanager
def _materialised(expr: Any) -> Iterator[Any]:
    """``expr`` computed once into a DuckDB temporary table (dropped on exit), so that the
    queries reading it do not repeat its window pass; on other backends ``expr`` itself.
    Raw SQL because Ibis 12's ``create_table``/``cache`` fail on DuckDB 2.0 (``DROP TABLE
    IF EXISTS`` without a name)."""
    from cjmlib.core.engine import connection, is_spark

    backends, _ = expr._find_backends()
    con = backends[0] if backends else connection()
    if is_spark(expr) or getattr(con, "name", "") != "duckdb":
        yield expr
        return
    name = f"_cjm_changes_{next(_TEMP_NAMES)}"
    con._run_pre_execute_hooks(expr)  # registers in-memory tables the SQL refers to
    con.raw_sql(f"CREATE OR REPLACE TEMP TABLE {name} AS {con.compile(expr)}")
    try:
        yield con.table(name)
    finally:
        con.raw_sql(f"DROP TABLE IF EXISTS {name}")


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
    periods = _period_table(journeys, unit)

    # session journeys are cut by window functions: compute them once, not in every query
    with (_materialised(journeys.steps) if journeys.unit == "session"
          else nullcontext(journeys.steps)) as steps:
        frames, horizon, n_open, daily = _kpi_frames(
            replace(journeys, steps=steps), unit=unit, levels=levels, flows=flows,
            timed_flows=timed_flows, open_horizon=open_horizon, max_open_share=max_open_share)
    table = _complete(pd.concat(frames, ignore_index=True), periods)
    days = _period_table(journeys, "day")
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


def _burst_series(daily: pd.DataFrame, days: pd.DataFrame) -> pd.DataFrame:
    """Daily counts (``kpi``, ``_p`` = day index, ``n``) against the days around them."""
    out = []
    exposure = days["exposure"].to_numpy(float)
    for kpi in BURST_KPIS:
        d = daily[daily["kpi"] == kpi]
        counts = days["_raw"].map(d.set_index("_p")["n"]).fillna(0).to_numpy(float)
        use = exposure > 0.5  # the cut first and last day count at their exposure
        if kpi == "new_customers":
            use[:NEW_CUSTOMER_BURN_IN_DAYS] = False
        per_day = np.where(use, counts / exposure, np.nan)
        baseline = np.full(len(counts), np.nan)
        for t in np.flatnonzero(use):
            lo, hi = max(0, t - BASELINE_DAYS), min(len(counts), t + BASELINE_DAYS + 1)
            around = np.r_[per_day[lo:t], per_day[t + 1:hi]]
            around = around[~np.isnan(around)]
            if around.size >= BASELINE_DAYS:
                baseline[t] = float(np.median(around)) * exposure[t]
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
    o = o.mutate(_p=period_index(o.time_us, unit),
                 _bin=((o.next_gap_s + 1).ln() / np.log(GAP_BIN_RATIO)).floor().cast("int64"))
    hist = o.group_by(["touchpoint", "next_touchpoint", "channel", "_p", "_bin"]).aggregate(
        n=o.count())
    with _materialised(hist) as hist:
        horizon = _horizon(journeys, open_horizon)
        cutoff = until_us - int(horizon.value // 1000)
        frames = _flow_frames(journeys, hist, unit=unit, flows=flows, timed_flows=timed_flows,
                              cutoff=cutoff, max_open_share=max_open_share)

    order = journeys.order_key()
    pj = s.group_by("journey_id").aggregate(
        converted=s.is_conversion.max(), start_us=s.time_us.min(), end_us=s.time_us.max(),
        **{f"_last_{lv}": s[lv].argmax(order) for lv in levels})
    pj = pj.mutate(_open=~pj.converted & (pj.end_us > cutoff))
    with _materialised(pj) as pj:
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
        # arrivals: journeys started per period
        a = execute(pj.group_by(_p=period_index(pj.start_us, unit)).aggregate(
            n=pj.count(), _open=pj._open.cast("int64").sum()))
        n_open = int(a["_open"].sum())
        per_day = execute(pj.group_by(_p=period_index(pj.start_us, "day")).aggregate(
            n=pj.count()))
    # customers first seen (their first journey step) per day
    first = s.group_by("customer_id").aggregate(_f=s.time_us.min())
    new = execute(first.group_by(_p=period_index(first._f, "day")).aggregate(n=first.count()))
    daily = pd.concat([per_day.assign(kpi="arrivals_per_day"), new.assign(kpi="new_customers")],
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


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Changes:
    """Changes found by :func:`detect_changes`.

    ``findings``: the significant changes, strongest first (columns
    :data:`FINDING_COLUMNS`); ``series``: one row per series searched, with its ``status``
    (``tested``, ``degenerate``, ``constant``), ``reason``, best window and p-values.
    The options are echoed.
    """

    findings: pd.DataFrame
    series: pd.DataFrame
    period: str
    alpha: float
    adjust: str
    n_simulations: int
    seed: int
    method: str = ("temporal scan statistic (Kulldorff 1997) per series, Monte Carlo "
                   "p-value of the maximum over all windows, adjusted across series")
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_pandas(self) -> pd.DataFrame:
        return self.findings

    def summary(self) -> pd.DataFrame:
        """One row per finding: KPI, group, kind, dates, before and after, adjusted p."""
        cols = ["kpi", "group", "kind", "start", "end", "reference", "changed", "difference",
                "ci_low", "ci_high", "p_adjusted"]
        return self.findings[cols]

    def _repr_html_(self) -> str:
        return self.summary()._repr_html_()  # type: ignore[operator]


def _classify(kpi: str, start: int, end: int, n_periods: int, reference: float,
              changed: float) -> str:
    up = changed > reference
    if kpi in BURST_KPIS:
        return "burst" if up else "dip"
    if start == 0 or end == n_periods:
        if kpi == "channel_share" and not up and changed <= 0.2 * reference:
            return "fade_out"
        return "shift_up" if up else "shift_down"
    if kpi == "arrivals" and up:
        return "burst"
    return "episode_up" if up else "episode_down"


def _screen(x: np.ndarray, n: np.ndarray, model: str, *, min_periods: int,
            max_share: float) -> tuple[str, str]:
    used = n > 0 if model == "binomial" else x > 0
    weight = n if model == "binomial" else x
    total = weight.sum()
    if total <= 0:
        return "degenerate", "no data"
    share = weight.max() / total
    if share >= max_share:
        what = "trials" if model == "binomial" else "counts"
        return "degenerate", f"{share:.0%} of the {what} fall in one period"
    if used.sum() < min_periods:
        return "degenerate", f"data in {int(used.sum())} period(s), fewer than {min_periods}"
    if model == "binomial" and (x.sum() == 0 or x.sum() == n.sum()):
        return "constant", "rate is 0% or 100% in every period"
    return "tested", ""


def detect_changes(
    series: KpiSeries,
    *,
    alpha: float = 0.05,
    adjust: Literal["bh", "holm"] = "bh",
    n_simulations: int = 999,
    seed: int = 0,
    min_periods: int = 4,
    max_share_in_one_period: float = 0.9,
    kpis: Sequence[str] | None = None,
) -> Changes:
    """Shifts and episodes in every series of ``series``, no dates given.

    ``alpha``: level of the adjusted p-values and ``1 - alpha`` the confidence of the
    intervals. ``adjust``: Benjamini-Hochberg (false discovery rate) or Holm (family-wise
    error) across all tested series. ``n_simulations``: most Monte Carlo draws per series;
    ``seed``: each series draws from ``numpy.random.default_rng([seed, crc32(series)])``, so
    results do not depend on which other series are searched. ``min_periods`` and
    ``max_share_in_one_period``: below / above these a series is ``degenerate``.
    ``kpis``: restrict to these KPIs (default: all).
    """
    if not isinstance(series, KpiSeries):
        raise TypeError(f"series must be a KpiSeries from kpi_series(journeys), got "
                        f"{type(series).__name__}")
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    check_scalar(adjust, "adjust", in_=("bh", "holm"))
    check_scalar(n_simulations, "n_simulations", typ=int, ge=19)
    check_scalar(min_periods, "min_periods", typ=int, ge=2)
    check_scalar(max_share_in_one_period, "max_share_in_one_period", typ=float, gt=0, le=1)
    rows = []
    grids = [(series.table, series.periods, series.period, None),
             (series.bursts, series.burst_periods, "day", BURST_MAX_DAYS)]
    for table, periods, unit, max_length in grids:
        if kpis is not None:
            table = table[table["kpi"].isin(list(kpis))]
        rows.extend(_search(table, periods["period"].tolist(), unit, max_length,
                            n_simulations=n_simulations, seed=seed, min_periods=min_periods,
                            max_share=max_share_in_one_period))
    out = pd.DataFrame(rows)
    if out.empty:
        out = pd.DataFrame(columns=["kpi", "level", "group", "model", "status", "reason"])
    if "p_value" not in out.columns:
        out["p_value"] = np.nan
    tested = out["status"].eq("tested") & out["p_value"].notna()
    out["p_adjusted"] = np.nan
    out.loc[tested, "p_adjusted"] = adjust_p_values(out.loc[tested, "p_value"].to_numpy(),
                                                    method=adjust)
    findings = [
        _finding(r, alpha=alpha)
        for r in out[tested & (out["p_adjusted"] <= alpha)].to_dict("records")]
    frame = pd.DataFrame(findings, columns=list(FINDING_COLUMNS))
    if not frame.empty:
        frame = frame.sort_values(["p_adjusted", "statistic"], ascending=[True, False],
                                  kind="stable").reset_index(drop=True)
    keep = [c for c in out.columns if not c.startswith("_")]
    notes = []
    if series.open_journeys:
        notes.append(f"{series.open_journeys} open journeys (last event within "
                     f"{series.open_horizon} of the data's end, not converted) are left out "
                     "of exit and conversion rates")
    return Changes(findings=frame, series=out[keep], period=series.period, alpha=alpha,
                   adjust=adjust, n_simulations=n_simulations, seed=seed,
                   notes=tuple(notes))


def _search(table: pd.DataFrame, starts: list[pd.Timestamp], unit: str,
            max_length: int | None, *, n_simulations: int, seed: int, min_periods: int,
            max_share: float) -> list[dict]:
    """One row per series of ``table`` (every period of ``starts`` present): screened, and
    scanned when it can show a change (windows of at most ``max_length`` periods)."""
    n_periods = len(starts)
    rows: list[dict] = []
    if table.empty or not n_periods:
        return rows
    # every series holds every period (kpi_series completes them): split arrays, no groupby
    table = table.sort_values(["kpi", "level", "group", "period_index"], kind="stable")
    if len(table) % n_periods:
        raise ValueError("series.table must hold every period of every series")
    size = len(table) // n_periods
    keys = table[["kpi", "level", "group"]].to_numpy()[::n_periods]
    nums = table["numerator"].to_numpy(float).reshape(size, n_periods)
    dens = table["denominator"].to_numpy(float).reshape(size, n_periods)
    vals = table["value"].to_numpy(float).reshape(size, n_periods)
    opens = table["open_excluded"].to_numpy(float).reshape(size, n_periods)
    for (kpi, level, group), x, n, v, op in zip(keys, nums, dens, vals, opens, strict=True):
        model = KPI_MODELS[kpi]
        status, reason = _screen(x, n, model, min_periods=min_periods, max_share=max_share)
        if status == "degenerate" and (n == 0).all() and op.sum() > 0:
            reason = ("no period with its journeys closed: open journeys (see open_horizon) "
                      "in every period")
        row: dict[str, Any] = {"kpi": kpi, "level": level, "group": group, "model": model,
                               "status": status, "reason": reason, "periods": n_periods,
                               "period_unit": unit, "numerator": x.sum(),
                               "denominator": n.sum()}
        if status == "tested" and n_periods >= 2:
            key = zlib.crc32(f"{kpi}|{level}|{group}".encode())
            r = scan(x, n, model=model, n_simulations=n_simulations,  # type: ignore[arg-type]
                     rng=np.random.default_rng([seed, key]), max_length=max_length)
            row.update(start_index=r.start, end_index=r.end, statistic=r.statistic,
                       dispersion=r.dispersion, p_value=r.pvalue,
                       p_value_method=r.pvalue_method, _x=x, _n=n, _v=v, _starts=starts)
        rows.append(row)
    return rows


def _finding(r: dict, *, alpha: float) -> dict:
    x, n, v = r["_x"], r["_n"], r["_v"]
    starts, period = r["_starts"], r["period_unit"]
    s, e, t = int(r["start_index"]), int(r["end_index"]), len(x)
    inside = np.zeros(t, dtype=bool)
    inside[s:e] = True
    # a shift from the first period is a change at the window's end: the window is "before"
    changed_mask = ~inside if s == 0 else inside
    ref_mask = ~changed_mask
    xc, nc, xr, nr = x[changed_mask].sum(), n[changed_mask].sum(), x[ref_mask].sum(), \
        n[ref_mask].sum()
    reference, changed = xr / nr, xc / nc
    phi = float(r["dispersion"])
    if r["model"] == "binomial":
        low, high = newcombe_interval(xc / phi, nc / phi, xr / phi, nr / phi, alpha=alpha)
    else:
        low, high = poisson_difference_interval(xc / phi, nc / phi, xr / phi, nr / phi,
                                                alpha=alpha)
    kind = _classify(r["kpi"], s, e, t, reference, changed)
    first = int(np.flatnonzero(changed_mask)[0])
    last = int(np.flatnonzero(changed_mask)[-1])
    start = starts[first]
    end = pd.NaT if last == t - 1 else starts[last + 1]
    days = int(changed_mask.sum())
    if r["kpi"] in ("time_median", "time_p90"):
        value_ref, value_chg = _weighted_median(v[ref_mask], n[ref_mask]), \
            _weighted_median(v[changed_mask], n[changed_mask])
    else:
        value_ref, value_chg = reference, changed
    if r["kpi"] in BURST_KPIS:
        # counts per day against those expected from the days around: observed per day, the
        # expectation scaled by the level elsewhere (observed / expected there), both per day
        scale = nc / days
        reference, changed = reference * scale, changed * scale
        low, high = low * scale, high * scale
        value_ref, value_chg = reference, changed
    out = {
        "kpi": r["kpi"], "level": r["level"], "group": r["group"], "kind": kind,
        "start": start, "end": end, "periods": days, "period_unit": period,
        "reference": reference, "changed": changed, "difference": changed - reference,
        "ci_low": low, "ci_high": high, "confidence_level": 1 - alpha,
        "value_reference": value_ref, "value_changed": value_chg,
        "affected": float(xc if KPI_MODELS[r["kpi"]] == "poisson" else nc),
        "affected_unit": _UNITS[r["kpi"]],
        "excess": float(xc - reference * days if r["kpi"] in BURST_KPIS
                        else xc - (xr / nr) * nc),
        "statistic": float(r["statistic"]), "dispersion": phi, "p_value": r["p_value"],
        "p_adjusted": r["p_adjusted"], "p_value_method": r["p_value_method"],
        "alpha": alpha,
    }
    out["sentence"] = describe(out, period=period)
    return out


#: Columns of :func:`finding_values`.
VALUE_COLUMNS = ("kpi", "level", "group", "period", "period_unit", "numerator", "denominator",
                 "value", "in_window")


def finding_values(found: Changes, series: KpiSeries) -> pd.DataFrame:
    """The values by period of every series with a finding (columns :data:`VALUE_COLUMNS`),
    ``in_window`` marking the finding's changed window: what its chart draws."""
    f = found.findings
    if f.empty:
        return pd.DataFrame(columns=list(VALUE_COLUMNS))
    parts = []
    for table, unit in ((series.table, series.period), (series.bursts, "day")):
        keys = f.loc[f["period_unit"] == unit, ["kpi", "level", "group", "start", "end"]]
        if keys.empty or table.empty:
            continue
        v = table.merge(keys, on=["kpi", "level", "group"])
        end = v["end"].fillna(pd.Timestamp.max.tz_localize("UTC"))
        v["in_window"] = (v["period"] >= v["start"]) & (v["period"] < end)
        v["period_unit"] = unit
        parts.append(v[list(VALUE_COLUMNS)])
    if not parts:
        return pd.DataFrame(columns=list(VALUE_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """Median of per-period values weighted by their gaps (a summary of the period
    medians, not the median of the pooled gaps)."""
    ok = ~np.isnan(values) & (weights > 0)
    if not ok.any():
        return float("nan")
    order = np.argsort(values[ok])
    v, w = values[ok][order], weights[ok][order]
    return float(v[np.searchsorted(np.cumsum(w), w.sum() / 2)])


# --------------------------------------------------------------------------------------------
# Sentences
# --------------------------------------------------------------------------------------------
KPI_NAMES = {"exit_rate": "exit rate", "conversion_rate": "conversion rate",
             "transition_probability": "share of moves", "time_median": "median time",
             "time_p90": "90th percentile of the time", "arrivals": "journeys started",
             "channel_share": "share of events", "new_customers": "new customers",
             "arrivals_per_day": "journeys started",
             "csat_satisfied": "share of satisfied answers (CSAT 4-5)",
             "nps_promoters": "share of promoters (NPS 9-10)",
             "nps_detractors": "share of detractors (NPS 0-6)"}
#: KPIs that are counts per period (shown as numbers, not percentages).
COUNT_KPIS = ("arrivals", *BURST_KPIS)

#: English templates by kind, filled from a finding's columns (the report may supply its own,
#: e.g. Chinese, with the same fields: what, what_lower, group, of_group, start, when (``on`` a day,
#: ``in the week of`` a Monday, or ``from`` .. ``to``), reference, changed, difference, ci,
#: level, affected, unit, p, per).
TEMPLATES = {
    "shift_up": "{what}{of_group} rose from {reference} to {changed}{per_part} from {start} on "
                "({difference}, {level} CI {ci}; {affected} {unit} since; adjusted p {p}).",
    "shift_down": "{what}{of_group} fell from {reference} to {changed}{per_part} from {start} on "
                  "({difference}, {level} CI {ci}; {affected} {unit} since; adjusted p {p}).",
    "episode_up": "{what}{of_group} rose to {changed} {when}, against "
                  "{reference} otherwise ({difference}, {level} CI {ci}; {affected} {unit} "
                  "in that time; adjusted p {p}).",
    "episode_down": "{what}{of_group} fell to {changed} {when}, against "
                    "{reference} otherwise ({difference}, {level} CI {ci}; {affected} {unit} "
                    "in that time; adjusted p {p}).",
    "burst": "Burst of {what_lower}: {changed} per {per} {when}, against "
             "{reference} {otherwise} ({difference}, {level} CI {ci}; adjusted p {p}).",
    "dip": "Dip in {what_lower}: {changed} per {per} {when}, against "
           "{reference} {otherwise} ({difference}, {level} CI {ci}; adjusted p {p}).",
    "fade_out": "The {group} channel faded out: its {what_lower} fell from {reference} to "
                "{changed} from {start} on ({difference}, {level} CI {ci}; adjusted p {p}).",
}


def describe(finding: dict, *, period: str = "week") -> str:
    """A plain-language English sentence for one finding (a row of ``findings`` as a dict).

    Rates are shown in percent and differences in percentage points, arrivals per period;
    for time KPIs the level is the share of gaps above the flow's usual median (or p90) and
    the typical period medians (or p90s) follow in seconds.
    """
    kpi = finding["kpi"]
    count = kpi in COUNT_KPIS
    period = str(finding.get("period_unit") or period)

    def digits(value: float) -> int:  # small shares (a channel's 0.4%) keep two decimals
        return 2 if 0 < abs(value) < 0.01 else 1

    def level(value: float) -> str:
        return (f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}") if count else \
            f"{100 * value:.{digits(value)}f}%"

    def diff(value: float) -> str:
        return (f"{value:+,.0f}" if abs(value) >= 100 else f"{value:+,.1f}") if count else \
            f"{100 * value:+.{digits(value)}f} points"

    what = KPI_NAMES[kpi]
    if kpi in ("time_median", "time_p90"):
        cut = "median" if kpi == "time_median" else "90th percentile"
        what = f"share of steps slower than the usual {cut}"
    start = pd.Timestamp(finding["start"])
    end = finding["end"]
    if pd.isna(end):
        when = f"from {start:%Y-%m-%d} to the end of the data"
    elif finding.get("periods") == 1 or (period != "month" and pd.Timestamp(end) - start
                                         == pd.Timedelta(days=1 if period == "day" else 7)):
        when = {"day": f"on {start:%Y-%m-%d}", "week": f"in the week of {start:%Y-%m-%d}",
                "month": f"in {start:%B %Y}"}[period]
    else:
        when = f"from {start:%Y-%m-%d} to {pd.Timestamp(end) - pd.Timedelta(days=1):%Y-%m-%d}"
    text = TEMPLATES[finding["kind"]].format(
        what=what[0].upper() + what[1:], what_lower=what, group=finding["group"],
        of_group="" if count else f" of {finding['group']}",
        otherwise="expected from the days around" if kpi in BURST_KPIS else "otherwise",
        per_part=f" per {period}" if count else "",
        start=f"{start:%Y-%m-%d}", when=when,
        reference=level(finding["reference"]), changed=level(finding["changed"]),
        difference=diff(finding["difference"]),
        ci=f"{diff(finding['ci_low'])} to {diff(finding['ci_high'])}",
        level=f"{finding['confidence_level']:.0%}", affected=f"{finding['affected']:,.0f}",
        unit=finding["affected_unit"], p=f"{finding['p_adjusted']:.2g}", per=period)
    if kpi in ("time_median", "time_p90"):
        text += (f" Typical period {'median' if kpi == 'time_median' else 'p90'}: "
                 f"{finding['value_reference']:,.0f} s against "
                 f"{finding['value_changed']:,.0f} s.")
    return text
