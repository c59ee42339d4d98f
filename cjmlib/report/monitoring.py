"""Continuous monitoring: KPI trends with control limits, shift rules and rollouts.

KPI series
----------
:func:`rate_trends` counts, per period (day, week or month of the journey's start) and per
touchpoint, stage, channel or touchpoint x channel, the journeys through the group, the
journeys that *exit* there (their last step is in the group and they did not convert, as in
:mod:`cjmlib.journeys.touchpoints`) and the journeys that converted -- inside the engine, from the
same journeys as ``02_journeys`` (:func:`cjmlib.journeys.build.build_journeys`). :func:`score_trends`
averages a survey score (CSAT 1-5, CES 1-7 or NPS -100..100) per period and group.

Control charts (Montgomery, *Introduction to Statistical Quality Control*, 8th ed., 2019)
-----------------------------------------------------------------------------------------
* **p-chart** for rates (sec. 7.2.2, variable sample size): for period ``i`` with ``x_i``
  events in ``n_i`` trials, ``p_i = x_i / n_i``; centre line ``p̄ = Σx / Σn`` over the baseline
  periods; ``σ_i = sqrt(p̄ (1 - p̄) / n_i)``; control limits ``p̄ ± 3 σ_i`` (clipped to 0..1).
* **individuals chart (XmR)** for scores (sec. 6.4): values ``x_i``; centre ``x̄`` = mean of the
  baseline values; moving ranges ``MR_i = |x_i - x_(i-1)|``; ``σ̂ = MR̄ / d2`` with
  ``d2 = 1.128``; limits ``x̄ ± 3 σ̂ = x̄ ± 2.66 MR̄``.

Each point gets a standardised value ``z_i = (value - centre) / σ_i`` and the four Western
Electric rules (Western Electric, *Statistical Quality Control Handbook*, 1956; Nelson's
rules 1, 5, 6 and 2 with run length 8) are applied to the sequence of points:

1. one point beyond 3σ;
2. two of three successive points beyond 2σ on the same side (flagged on the last one, when
   it is itself beyond 2σ);
3. four of five successive points beyond 1σ on the same side (likewise);
4. eight successive points on the same side of the centre line.

Baseline (phase I): the periods before the earliest rollout date when there are at least
``min_baseline`` of them, else the first half of the periods (at least ``min_baseline``).
Limits come from the baseline only, so a shift after it shows as points outside them.
Incomplete periods (cut by the start or end of the data) and periods with fewer than
``min_n`` trials or responses are left out of the charts.

Shifts and rollouts
-------------------
For every series with a signal after the baseline, :func:`control_charts` compares the
periods before the first such signal with the periods from it on: difference of proportions
with the Newcombe hybrid-score interval and the score test (statsmodels
``confint_proportions_2indep`` / ``test_proportions_2indep``) for rates, Welch's t for scores
(from the per-period sums). Because the split point was chosen from the data, those p-values
are descriptive (Holm-adjusted over all shifts). For a configured rollout (name, date and
optional touchpoints / stages / channels it touches) the same comparison at the rollout date
is a pre-specified test.

The run-to-run comparison (:func:`cjmlib.report.comparison.compare_runs`) is in
:mod:`cjmlib.report.comparison`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns, check_scalar
from cjmlib.core.engine import execute
from cjmlib.journeys.build import Journeys, build_journeys
from cjmlib.stats.intervals import add_rate
from cjmlib.stats.multiplicity import adjust_p_values
from cjmlib.voice.surveys import read_feedback, select_surveys

#: Grouping levels of :func:`rate_trends` and their key columns.
RATE_LEVELS: dict[str, tuple[str, ...]] = {
    "touchpoint": ("touchpoint",),
    "stage": ("stage",),
    "channel": ("channel",),
    "touchpoint_channel": ("touchpoint", "channel"),
}
#: Moving-range constant d2 for subgroups of two (Montgomery, Appendix VI).
D2 = 1.128
FREQUENCIES = {"D": "D", "W": "W-SUN", "M": "M"}
RULES = ("rule_1", "rule_2", "rule_3", "rule_4")
RULE_TEXT = {
    "rule_1": "1 point beyond 3σ",
    "rule_2": "2 of 3 beyond 2σ",
    "rule_3": "4 of 5 beyond 1σ",
    "rule_4": "8 in a row on one side",
}
_DAY_US = 86_400_000_000


# --------------------------------------------------------------------------------------------
# Periods
# --------------------------------------------------------------------------------------------
def _period_start(times: pd.Series, freq: str) -> pd.Series:
    """Start (UTC) of the day, week (Monday) or month holding each time."""
    check_scalar(freq, "freq", in_=tuple(FREQUENCIES))
    naive = pd.to_datetime(times, utc=True).dt.tz_localize(None)
    return naive.dt.to_period(FREQUENCIES[freq]).dt.start_time.dt.tz_localize("UTC")


def _period_end(starts: pd.Series, freq: str) -> pd.Series:
    offset = {"D": pd.DateOffset(days=1), "W": pd.DateOffset(weeks=1),
              "M": pd.DateOffset(months=1)}[freq]
    return starts + offset


# --------------------------------------------------------------------------------------------
# KPI series
# --------------------------------------------------------------------------------------------
def rate_trends(
    events: Any,
    *,
    conversion_touchpoints: Sequence[str],
    levels: Sequence[str] = ("touchpoint", "stage", "touchpoint_channel"),
    freq: Literal["D", "W", "M"] = "W",
    journey_unit: Literal["customer", "session"] = "session",
    sessions: Literal["given", "inactivity"] = "inactivity",
    session_timeout_minutes: float = 30.0,
    exclude_touchpoints: Sequence[str] = (),
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Exit and conversion rates per period and group, counted in the engine.

    ``events``: events table (DataFrame, Parquet/CSV path or Ibis table), or journeys built
    already (:class:`~cjmlib.journeys.build.Journeys`, e.g. from
    :func:`cjmlib.journeys.persist.cached_journeys`; the journey options are then theirs and
    the arguments ``conversion_touchpoints`` to ``exclude_touchpoints`` are not used).
    ``levels``: any of :data:`RATE_LEVELS`. A journey belongs to the period of its first event. Returns one row
    per level, group and period: ``level``, ``group`` (``payment`` or ``payment / app``),
    ``touchpoint``, ``stage``, ``channel`` (the keys of the level, others empty),
    ``period`` (start, UTC), ``period_end``, ``complete`` (the data cover the whole period),
    ``journeys`` (through the group: the denominator), ``exits``, ``converted_journeys``,
    ``exit_rate`` and ``conversion_rate`` with Wilson intervals at ``1 - alpha``
    (``*_ci_low``/``_high``) and ``alpha``.
    """
    unknown = [lv for lv in levels if lv not in RATE_LEVELS]
    if unknown:
        raise ValueError(f"rate_trends: unknown level(s) {unknown}; expected any of "
                         f"{list(RATE_LEVELS)}")
    check_scalar(freq, "freq", in_=tuple(FREQUENCIES))
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    if isinstance(events, Journeys):  # built already (e.g. read from the run's cache)
        journeys = events
    else:
        journeys = build_journeys(events, conversion_touchpoints=conversion_touchpoints,
                                  unit=journey_unit, sessions=sessions,
                                  session_timeout_minutes=session_timeout_minutes,
                                  exclude_touchpoints=exclude_touchpoints)
    o = journeys.ordered("next_touchpoint")
    o = o.mutate(_last=o.next_touchpoint.isnull())
    pj = journeys.per_journey().select("journey_id", "converted", "start_us")
    frames = []
    for level in levels:
        keys = list(RATE_LEVELS[level])
        jt = o.group_by([*keys, "journey_id"]).aggregate(_last=o._last.max())
        x = jt.join(pj, "journey_id")
        x = x.mutate(_day=x.start_us // _DAY_US)
        counts = execute(x.group_by([*keys, "_day"]).aggregate(
            journeys=x.count(),
            exits=(x._last & ~x.converted).cast("int64").sum(),
            converted_journeys=x.converted.cast("int64").sum(),
        ))
        counts["level"] = level
        frames.append(counts)
    out = pd.concat(frames, ignore_index=True)
    first_day, last_day = int(out["_day"].min()), int(out["_day"].max())
    days = pd.to_datetime(out["_day"].astype("int64") * 86_400, unit="s", utc=True)
    out["period"] = _period_start(days, freq)
    for key in ("touchpoint", "stage", "channel"):
        if key not in out.columns:
            out[key] = None
    out = (out.groupby(["level", "touchpoint", "stage", "channel", "period"], dropna=False,
                       as_index=False)[["journeys", "exits", "converted_journeys"]].sum())
    out["group"] = [" / ".join(str(v) for v in vals if isinstance(v, str))
                    for vals in out[["touchpoint", "stage", "channel"]].itertuples(index=False)]
    out["period_end"] = _period_end(out["period"], freq)
    window_start = pd.Timestamp(first_day * 86_400, unit="s", tz="UTC")
    window_end = pd.Timestamp((last_day + 1) * 86_400, unit="s", tz="UTC")
    out["complete"] = (out["period"] >= window_start) & (out["period_end"] <= window_end)
    for c in ("journeys", "exits", "converted_journeys"):
        out[c] = out[c].astype("int64")
    add_rate(out, "exit_rate", "exits", "journeys", alpha=alpha)
    add_rate(out, "conversion_rate", "converted_journeys", "journeys", alpha=alpha)
    out["alpha"] = alpha
    cols = ["level", "group", "touchpoint", "stage", "channel", "period", "period_end",
            "complete", "journeys", "exits", "converted_journeys", "exit_rate",
            "exit_rate_ci_low", "exit_rate_ci_high", "conversion_rate",
            "conversion_rate_ci_low", "conversion_rate_ci_high", "alpha"]
    return out[cols].sort_values(["level", "group", "period"]).reset_index(drop=True)


def score_trends(
    feedback: Any,
    *,
    score: Literal["csat", "nps", "ces"] = "csat",
    levels: Sequence[str] = ("touchpoint", "stage"),
    freq: Literal["D", "W", "M"] = "M",
    surveys: Sequence[str] | None = ("post_interaction",),
    observed_until: Any = None,
) -> pd.DataFrame:
    """Mean survey score per period and group (pandas: feedback tables are small).

    ``score``: ``csat`` (1-5), ``ces`` (1-7) or ``nps`` (0-10 answers; the value is the NPS,
    -100..100, of the period). ``levels``: feedback columns to group by (``touchpoint``,
    ``stage``, ``channel``). Returns ``level``, ``group``, ``period``, ``period_end``,
    ``complete``, ``n`` (scored responses), ``mean``, ``sd``, ``sum`` and ``sum_sq`` of the
    per-response values (for NPS the response values are +100 / 0 / -100).
    ``observed_until``: end of observation (default: the last response).
    """
    check_scalar(score, "score", in_=("csat", "nps", "ces"))
    frame = select_surveys(read_feedback(feedback), surveys)
    check_columns(frame, ["response_time", score, *levels], what="feedback table")
    frame = frame[frame[score].notna() & frame["response_time"].notna()].copy()
    if frame.empty:
        raise ValueError(f"feedback table: no response with a {score!r} score")
    values = frame[score].astype(float)
    if score == "nps":
        values = np.where(values >= 9, 100.0, np.where(values <= 6, -100.0, 0.0))
    frame["_v"] = values
    frame["_v2"] = frame["_v"] ** 2
    frame["period"] = _period_start(frame["response_time"], freq)
    rows = []
    for level in levels:
        g = frame[frame[level].notna()].groupby([level, "period"], as_index=False).agg(
            n=("_v", "size"), mean=("_v", "mean"), sd=("_v", "std"), sum=("_v", "sum"),
            sum_sq=("_v2", "sum"))
        g = g.rename(columns={level: "group"})
        g.insert(0, "level", level)
        rows.append(g)
    out = pd.concat(rows, ignore_index=True)
    out["group"] = out["group"].astype(str)
    out["period_end"] = _period_end(out["period"], freq)
    start = frame["response_time"].min()
    end = pd.Timestamp(observed_until) if observed_until is not None else (
        frame["response_time"].max())
    if end.tzinfo is None:
        end = end.tz_localize("UTC")
    out["complete"] = (out["period"] >= _period_start(pd.Series([start]), "D").iloc[0]) & (
        out["period_end"] <= end + pd.Timedelta(days=1))
    out["score"] = score
    cols = ["level", "group", "score", "period", "period_end", "complete", "n", "mean", "sd",
            "sum", "sum_sq"]
    return out[cols].sort_values(["level", "group", "period"]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Control charts and rules
# --------------------------------------------------------------------------------------------
def western_electric(z: Sequence[float]) -> pd.DataFrame:
    """The four Western Electric rules on standardised values (see the module docstring).

    Returns a boolean table with columns ``rule_1`` .. ``rule_4``, one row per value; a
    missing ``z`` breaks no rule and interrupts runs.

    >>> western_electric([0.5, 3.2, 2.1, -0.3, 2.5])["rule_1"].tolist()
    [False, True, False, False, False]
    >>> western_electric([0.1] * 8)["rule_4"].tolist()[-2:]
    [False, True]
    """
    z = pd.Series(np.asarray(z, dtype=float))
    out = pd.DataFrame(index=z.index)
    out["rule_1"] = z.abs() > 3
    r2 = pd.Series(False, index=z.index)
    r3 = pd.Series(False, index=z.index)
    r4 = pd.Series(False, index=z.index)
    for side in (1.0, -1.0):
        s = side * z
        beyond2 = (s > 2).astype(float)
        beyond1 = (s > 1).astype(float)
        same = (s > 0).astype(float)
        r2 |= (beyond2.rolling(3, min_periods=2).sum() >= 2) & (s > 2)
        r3 |= (beyond1.rolling(5, min_periods=4).sum() >= 4) & (s > 1)
        r4 |= same.rolling(8, min_periods=8).sum() >= 8
    out["rule_2"], out["rule_3"], out["rule_4"] = r2, r3, r4
    return out


def _baseline_mask(periods: pd.Series, baseline: Any, *, min_baseline: int) -> np.ndarray:
    """Which periods form the baseline (see the module docstring)."""
    n = len(periods)
    if isinstance(baseline, (int, np.integer)) and not isinstance(baseline, bool):
        k = min(max(int(baseline), 1), n)
        return np.arange(n) < k
    if baseline is not None:
        end = pd.Timestamp(baseline)
        end = end.tz_localize("UTC") if end.tzinfo is None else end
        mask = (periods < end).to_numpy()
        if mask.sum() >= min(min_baseline, n):
            return mask
    k = min(n, max(min_baseline, math.ceil(n / 2)))
    return np.arange(n) < k


def _finish_chart(out: pd.DataFrame) -> pd.DataFrame:
    rules = western_electric(out["z"].to_numpy())
    out = pd.concat([out.reset_index(drop=True), rules], axis=1)
    out["signal"] = rules.any(axis=1).to_numpy()
    out["rules"] = [", ".join(r[-1] for r in RULES if row[r]) for _, row in rules.iterrows()]
    return out


def p_chart(
    series: pd.DataFrame,
    *,
    successes: str,
    trials: str,
    period_col: str = "period",
    baseline: Any = None,
    min_baseline: int = 8,
    sigma: float = 3.0,
) -> pd.DataFrame:
    """p-chart with limits from the baseline periods (variable sample size).

    ``series``: one row per period with ``successes`` and ``trials`` counts, in period order.
    ``baseline``: a number of leading periods, a date (periods before it) or None (see the
    module docstring). Returns the rows with ``value`` (= p), ``n``, ``centre``, ``sigma``,
    ``lcl``, ``ucl``, ``z``, ``baseline`` (bool), ``rule_1`` .. ``rule_4``, ``signal`` and
    ``rules`` (the numbers of the rules broken, e.g. ``"1, 4"``).
    """
    check_columns(series, [successes, trials, period_col], what="p-chart series")
    out = series.sort_values(period_col).reset_index(drop=True).copy()
    x = out[successes].to_numpy(dtype=float)
    n = out[trials].to_numpy(dtype=float)
    if (n <= 0).any():
        raise ValueError(f"p-chart series: column {trials!r} must be positive in every period")
    base = _baseline_mask(out[period_col], baseline, min_baseline=min_baseline)
    centre = x[base].sum() / n[base].sum()
    sd = np.sqrt(centre * (1 - centre) / n)
    out["value"] = x / n
    out["n"] = n.astype("int64")
    out["centre"] = centre
    out["sigma"] = sd
    out["lcl"] = np.clip(centre - sigma * sd, 0, 1)
    out["ucl"] = np.clip(centre + sigma * sd, 0, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["z"] = np.where(sd > 0, (out["value"] - centre) / np.where(sd > 0, sd, 1), np.nan)
    out["baseline"] = base
    out["chart"] = "p"
    return _finish_chart(out)


def individuals_chart(
    series: pd.DataFrame,
    *,
    value: str,
    period_col: str = "period",
    baseline: Any = None,
    min_baseline: int = 8,
    sigma: float = 3.0,
) -> pd.DataFrame:
    """Individuals (XmR) chart with limits from the baseline periods.

    Returns the rows with ``value``, ``moving_range``, ``centre``, ``sigma`` (= MR̄ / 1.128),
    ``lcl``, ``ucl`` (= centre ∓ 3 sigma), ``z``, ``baseline``, the rule columns, ``signal``
    and ``rules``. Needs at least two baseline values.
    """
    check_columns(series, [value, period_col], what="individuals chart series")
    out = series.sort_values(period_col).reset_index(drop=True).copy()
    v = out[value].to_numpy(dtype=float)
    base = _baseline_mask(out[period_col], baseline, min_baseline=min_baseline)
    if base.sum() < 2:
        raise ValueError("individuals chart: needs at least two baseline values, found "
                         f"{int(base.sum())}")
    mr = np.abs(np.diff(v, prepend=np.nan))
    mr_base = mr[base][1:]  # the first baseline value has no moving range
    mr_bar = float(np.nanmean(mr_base)) if np.isfinite(mr_base).any() else float("nan")
    centre = float(np.mean(v[base]))
    sd = mr_bar / D2
    out["value"] = v
    out["moving_range"] = mr
    out["centre"] = centre
    out["sigma"] = sd
    out["lcl"] = centre - sigma * sd
    out["ucl"] = centre + sigma * sd
    out["z"] = (v - centre) / sd if sd > 0 else np.nan
    out["baseline"] = base
    out["chart"] = "XmR"
    return _finish_chart(out)


# --------------------------------------------------------------------------------------------
# Monitoring: all series, shifts, rollouts
# --------------------------------------------------------------------------------------------
@dataclass
class Rollout:
    """A change released on ``date``, touching the given touchpoints / stages / channels
    (empty: everything)."""

    name: str
    date: pd.Timestamp
    touchpoints: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Rollout:
        if "name" not in spec or "date" not in spec:
            raise ValueError(f"rollout {dict(spec)}: needs 'name' and 'date'")
        date = pd.Timestamp(spec["date"])
        date = date.tz_localize("UTC") if date.tzinfo is None else date.tz_convert("UTC")

        def names(key: str) -> tuple[str, ...]:
            v = spec.get(key) or ()
            return (v,) if isinstance(v, str) else tuple(v)

        return cls(str(spec["name"]), date, names("touchpoints"), names("stages"),
                   names("channels"))

    def applies(self, row: Mapping[str, Any]) -> bool:
        """Whether a series (its level, touchpoint, stage, channel, group) is touched."""
        tp, st, ch = row.get("touchpoint"), row.get("stage"), row.get("channel")
        if row.get("level") in ("touchpoint", "stage", "channel") and not isinstance(tp, str):
            tp = row.get("group") if row.get("level") == "touchpoint" else tp
            st = row.get("group") if row.get("level") == "stage" else st
            ch = row.get("group") if row.get("level") == "channel" else ch
        if self.touchpoints and tp not in self.touchpoints:
            return False
        if self.stages and st not in self.stages:
            return False
        return not (self.channels and ch not in self.channels)


def usable_rollouts(rollouts: Sequence[Rollout], rates: pd.DataFrame
                    ) -> tuple[list[Rollout], list[str]]:
    """The rollouts that fit the data, and why each other one was left out.

    A rollout fits when every touchpoint, stage and channel it names occurs in ``rates``
    (from :func:`rate_trends`) and its date falls inside the periods charted: a report config
    written for other data (the sample's app release) must not be applied to this one, and a
    date after the data would turn every period into baseline.
    """
    kept, refused = [], []
    if rates.empty:
        return [], [f"rollout {r.name!r} left out: no KPI series to compare" for r in rollouts]
    first, last = rates["period"].min(), rates["period_end"].max()
    present = {key: set(rates[key].dropna().astype(str)) for key in
               ("touchpoint", "stage", "channel") if key in rates.columns}
    for r in rollouts:
        absent = [f"{key} {name!r}" for key, names in (("touchpoint", r.touchpoints),
                                                        ("stage", r.stages),
                                                        ("channel", r.channels))
                  for name in names if name not in present.get(key, set())]
        if absent:
            refused.append(f"rollout {r.name!r} left out: {', '.join(absent)} not in the data")
        elif not first <= r.date < last:
            refused.append(f"rollout {r.name!r} left out: its date {r.date:%Y-%m-%d} lies outside "
                           f"the data ({first:%Y-%m-%d} to {last:%Y-%m-%d})")
        else:
            kept.append(r)
    return kept, refused


@dataclass
class Monitoring:
    """What :func:`control_charts` found.

    ``charts``: one row per series and period (``level``, ``group``, ``metric``, ``chart``,
    ``period``, ``value``, ``n``, ``centre``, ``lcl``, ``ucl``, ``z``, ``baseline``, rule
    columns, ``signal``, ``rules``); ``signals``: the signalled points after the baseline;
    ``shifts``: one row per series with such a signal, comparing before and after the first
    one (``start``, ``before``, ``after``, ``difference`` with ``ci_low``/``ci_high``,
    ``p_value``, ``p_value_adjusted`` (Holm), ``direction``, ``alpha``); ``rollouts``: the
    pre-specified comparisons at each rollout date; ``baseline``: how the baseline was chosen;
    ``alpha``: the level of the tests (intervals at ``1 - alpha``).
    """

    charts: pd.DataFrame
    signals: pd.DataFrame
    shifts: pd.DataFrame
    rollouts: pd.DataFrame
    baseline: str
    notes: list[str] = field(default_factory=list)
    #: significance level of the shift and rollout tests; their intervals are at 1 - alpha
    alpha: float = 0.05

    def series(self, level: str, group: str, metric: str) -> pd.DataFrame:
        c = self.charts
        return c[(c["level"] == level) & (c["group"] == group) & (c["metric"] == metric)]

    def to_pandas(self) -> pd.DataFrame:
        return self.shifts


def _compare_rates(x1: float, n1: float, x2: float, n2: float, alpha: float
                   ) -> dict[str, float] | None:
    """Before/after difference of proportions; None when both are 0% or both 100% (a
    constant series, e.g. the conversion rate of a conversion touchpoint)."""
    import warnings

    from statsmodels.stats.proportion import confint_proportions_2indep, test_proportions_2indep

    if x1 + x2 == 0 or x1 + x2 == n1 + n2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # odds ratio of a 0% or 100% arm
        low, high = confint_proportions_2indep(x2, n2, x1, n1, method="newcomb", alpha=alpha)
        test = test_proportions_2indep(x2, n2, x1, n1, method="score")
    return {"before": x1 / n1, "after": x2 / n2, "difference": x2 / n2 - x1 / n1,
            "ci_low": float(low), "ci_high": float(high), "p_value": float(test.pvalue),
            "n_before": int(n1), "n_after": int(n2),
            "method": "difference of proportions, Newcombe interval, score test"}


def _compare_means(before: pd.DataFrame, after: pd.DataFrame, alpha: float
                   ) -> dict[str, float] | None:
    from scipy import stats

    def moments(part: pd.DataFrame) -> tuple[float, float, float]:
        n = float(part["n"].sum())
        s, ss = float(part["sum"].sum()), float(part["sum_sq"].sum())
        mean = s / n
        var = (ss - n * mean**2) / (n - 1) if n > 1 else float("nan")
        return n, mean, max(var, 0.0)

    n1, m1, v1 = moments(before)
    n2, m2, v2 = moments(after)
    if n1 < 2 or n2 < 2:
        return None
    se = math.sqrt(v1 / n1 + v2 / n2)
    df = (v1 / n1 + v2 / n2) ** 2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1)) \
        if se > 0 else float("nan")
    t = (m2 - m1) / se if se > 0 else float("nan")
    q = stats.t.ppf(1 - alpha / 2, df) if np.isfinite(df) else float("nan")
    p = 2 * stats.t.sf(abs(t), df) if np.isfinite(t) else float("nan")
    return {"before": m1, "after": m2, "difference": m2 - m1, "ci_low": m2 - m1 - q * se,
            "ci_high": m2 - m1 + q * se, "p_value": float(p), "n_before": int(n1),
            "n_after": int(n2), "method": "difference of means, Welch t"}


def control_charts(
    rates: pd.DataFrame | None = None,
    scores: pd.DataFrame | None = None,
    *,
    rate_metrics: Sequence[str] = ("exit_rate", "conversion_rate"),
    rollouts: Sequence[Mapping[str, Any] | Rollout] = (),
    baseline: Any = None,
    min_baseline: int = 8,
    min_n: int = 10,
    min_responses: int = 10,
    alpha: float = 0.05,
    max_share_in_one_period: float = 0.9,
) -> Monitoring:
    """p-charts of ``rates`` (from :func:`rate_trends`) and XmR charts of ``scores`` (from
    :func:`score_trends`), Western Electric signals, shifts and rollout comparisons.

    ``baseline``: None (the rule of the module docstring), a number of leading periods or a
    date. Incomplete periods are left out; so are, from the charts, periods with fewer than
    ``min_n`` journeys (rates) or ``min_responses`` responses (scores): the small-group
    threshold. Before/after comparisons pool every complete period. Series with fewer than
    four charted periods are skipped, and so are *degenerate* series, where at least
    ``max_share_in_one_period`` of the journeys (or responses) fall in one period -- customer
    journeys that all start in the data's first week -- with a note naming them (the rule of
    :func:`cjmlib.journeys.changes.detect_changes`).
    """
    check_scalar(min_n, "min_n", typ=int, ge=1)
    check_scalar(min_responses, "min_responses", typ=int, ge=1)
    plans = [r if isinstance(r, Rollout) else Rollout.from_dict(r) for r in rollouts]
    if baseline is None and plans:
        baseline = min(r.date for r in plans)
        how = f"periods before the first rollout ({baseline:%Y-%m-%d})"
    elif baseline is None:
        how = f"first half of the periods (at least {min_baseline})"
    else:
        how = f"baseline = {baseline!r}"
    charts, shifts, rollout_rows, notes = [], [], [], []
    # (meta, all complete periods, metric): charts use the periods with enough units,
    # before/after comparisons pool every complete period
    series_specs: list[tuple[dict[str, Any], pd.DataFrame, str]] = []
    if rates is not None and len(rates):
        for keys, whole in rates[rates["complete"]].groupby(["level", "group"], sort=True):
            meta = {"level": keys[0], "group": keys[1],
                    **{k: whole[k].iloc[0] for k in ("touchpoint", "stage", "channel")}}
            for metric in rate_metrics:
                series_specs.append((meta, whole, metric))
    if scores is not None and len(scores):
        for keys, whole in scores[scores["complete"]].groupby(["level", "group", "score"],
                                                             sort=True):
            meta = {"level": keys[0], "group": keys[1], "touchpoint": None, "stage": None,
                    "channel": None}
            series_specs.append((meta, whole, f"{keys[2]}_mean"))
    degenerate: list[str] = []
    for meta, whole, metric in series_specs:
        whole = whole.sort_values("period")
        is_rate = metric in ("exit_rate", "conversion_rate")
        units = whole["journeys" if is_rate else "n"].astype(float)
        share = float(units.max() / units.sum()) if units.sum() > 0 else 1.0
        if share >= max_share_in_one_period:
            # customer journeys that all start in the first week: the later weeks hold a few
            # newcomers, and a 16.7% -> 0% "shift" between them says nothing
            degenerate.append(f"{meta['group']} ({metric})")
            continue
        part = whole[whole["journeys" if is_rate else "n"] >= (min_n if is_rate
                                                               else min_responses)]
        if len(part) < 4:
            continue
        if metric in ("exit_rate", "conversion_rate"):
            count = "exits" if metric == "exit_rate" else "converted_journeys"
            chart = p_chart(part, successes=count, trials="journeys", baseline=baseline,
                            min_baseline=min_baseline)
        else:
            chart = individuals_chart(part, value="mean", baseline=baseline,
                                      min_baseline=min_baseline)
        chart = chart.assign(metric=metric, **{k: v for k, v in meta.items()
                                               if k not in ("level", "group")})
        chart["level"], chart["group"] = meta["level"], meta["group"]
        charts.append(chart)

        def compare(split: pd.Timestamp, whole: pd.DataFrame = whole,
                    metric: str = metric) -> dict[str, Any] | None:
            before, after = whole[whole["period"] < split], whole[whole["period"] >= split]
            if before.empty or after.empty:
                return None
            if metric in ("exit_rate", "conversion_rate"):
                count = "exits" if metric == "exit_rate" else "converted_journeys"
                return _compare_rates(before[count].sum(), before["journeys"].sum(),
                                      after[count].sum(), after["journeys"].sum(), alpha)
            return _compare_means(before, after, alpha)

        late = chart[~chart["baseline"] & chart["signal"]]
        if len(late):
            start = late["period"].iloc[0]
            result = compare(start)
            if result is not None:
                shifts.append({**{k: meta[k] for k in ("level", "group")}, "metric": metric,
                               "start": start, "signals": int(len(late)),
                               "rules": ", ".join(sorted({r for rs in late["rules"]
                                                          for r in rs.split(", ") if r})),
                               **result})
        for plan in plans:
            if not plan.applies(meta):
                continue
            result = compare(plan.date)
            if result is None:
                continue
            after = chart[chart["period"] >= plan.date]
            rollout_rows.append({"rollout": plan.name, "date": plan.date,
                                 **{k: meta[k] for k in ("level", "group")}, "metric": metric,
                                 "signals_after": int(after["signal"].sum()), **result})
    chart_cols = ["level", "group", "touchpoint", "stage", "channel", "metric", "chart",
                  "period", "value", "n", "centre", "sigma", "lcl", "ucl", "z", "baseline",
                  *RULES, "signal", "rules"]
    all_charts = (pd.concat(charts, ignore_index=True)[chart_cols] if charts
                  else pd.DataFrame(columns=chart_cols))
    signals = all_charts[all_charts["signal"].astype(bool) & ~all_charts["baseline"].astype(bool)]
    shift_cols = ["level", "group", "metric", "start", "signals", "rules", "before", "after",
                  "difference", "ci_low", "ci_high", "p_value", "p_value_adjusted",
                  "direction", "n_before", "n_after", "method", "alpha"]
    shift_table = pd.DataFrame(shifts)
    if len(shift_table):
        shift_table["alpha"] = alpha
        shift_table["p_value_adjusted"] = adjust_p_values(shift_table["p_value"].tolist(),
                                                          method="holm")
        shift_table["direction"] = np.where(shift_table["difference"] > 0, "up", "down")
        shift_table = shift_table[shift_cols].sort_values(
            ["p_value_adjusted", "p_value"]).reset_index(drop=True)
    else:
        shift_table = pd.DataFrame(columns=shift_cols)
    rollout_cols = ["rollout", "date", "level", "group", "metric", "before", "after",
                    "difference", "ci_low", "ci_high", "p_value", "signals_after", "n_before",
                    "n_after", "method", "alpha"]
    rollout_table = (pd.DataFrame(rollout_rows).assign(alpha=alpha)[rollout_cols]
                     if rollout_rows else pd.DataFrame(columns=rollout_cols))
    if not charts:
        notes.append("no series had four or more usable periods")
    if degenerate:
        notes.append(
            f"{len(degenerate)} series not charted as degenerate: {max_share_in_one_period:.0%} "
            "or more of their journeys (or responses) fall in one period, as when customer "
            "journeys all start at the beginning of the data; use visits (journey_unit "
            "session) to monitor them: " + ", ".join(degenerate[:8])
            + (" ..." if len(degenerate) > 8 else ""))
    return Monitoring(all_charts, signals.reset_index(drop=True), shift_table, rollout_table,
                      how, notes, alpha)
