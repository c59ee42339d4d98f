"""What changed, when and for whom: change detection over KPI series, no dates given.

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

The series are counted by :func:`cjmlib.journeys.kpis.kpi_series` (and
:func:`cjmlib.journeys.kpis.add_feedback`), whose names are re-exported here so that a
notebook needs one module: ``changes.kpi_series(journeys)`` then
``changes.detect_changes(series)``.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar
from cjmlib.journeys.kpis import (
    BURST_KPIS,
    BURST_MAX_DAYS,
    KPI_MODELS,
    SERIES_COLUMNS,
    KpiSeries,
    add_feedback,
    kpi_series,
)
from cjmlib.journeys.periods import choose_period, period_index, period_start
from cjmlib.stats.changes import scan
from cjmlib.stats.intervals import newcombe_interval, poisson_difference_interval
from cjmlib.stats.multiplicity import adjust_p_values

__all__ = ["BURST_KPIS", "COUNT_KPIS", "FINDING_COLUMNS", "KPI_NAMES", "SERIES_COLUMNS",
           "TEMPLATES", "VALUE_COLUMNS", "Changes", "KpiSeries", "add_feedback",
           "choose_period", "describe", "detect_changes", "finding_values", "kpi_series",
           "period_index", "period_start"]

#: Columns of :attr:`Changes.findings`.
FINDING_COLUMNS = (
    "kpi", "level", "group", "kind", "start", "end", "periods", "period_unit", "reference",
    "changed", "difference", "ci_low", "ci_high", "confidence_level", "value_reference",
    "value_changed", "affected", "affected_unit", "excess", "statistic", "dispersion",
    "p_value", "p_adjusted", "p_value_method", "sentence", "alpha")
_UNITS = {"exit_rate": "journeys", "conversion_rate": "journeys",
          "transition_probability": "transitions", "time_median": "gaps", "time_p90": "gaps",
          "arrivals": "journeys", "channel_share": "events", "new_customers": "customers",
          "arrivals_per_day": "journeys", "csat_satisfied": "answers",
          "nps_promoters": "answers", "nps_detractors": "answers"}


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
    notes = []
    findings = []
    for r in out[tested & (out["p_adjusted"] <= alpha)].to_dict("records"):
        step = _at_a_step(r) if r["kpi"] in BURST_KPIS else None
        if step:
            notes.append(step)
            continue
        findings.append(_finding(r, alpha=alpha))
    frame = pd.DataFrame(findings, columns=list(FINDING_COLUMNS))
    if not frame.empty:
        frame = frame.sort_values(["p_adjusted", "statistic"], ascending=[True, False],
                                  kind="stable").reset_index(drop=True)
    keep = [c for c in out.columns if not c.startswith("_")]
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


def _at_a_step(r: dict, days: int = BURST_MAX_DAYS, level: float = 0.01) -> str | None:
    """Why a burst (or dip) window is not one, or None: a burst stands out from the days
    on *both* sides. When the ``days`` days before the window and the ``days`` after it
    differ beyond chance (exact conditional test of two Poisson rates, a binomial test of
    the split of their counts, at ``level``), the window sits at a change of level -- a
    spline expectation rounds off a step, so the days just before a rise look like a dip
    and those just after like a burst -- and the weekly series, not the burst search, is
    the place to report it."""
    from scipy.stats import binomtest

    x, n, starts = r["_x"], r["_n"], r["_starts"]
    s, e = int(r["start_index"]), int(r["end_index"])
    before = [t for t in range(max(0, s - days), s) if n[t] > 0]
    after = [t for t in range(e, min(len(x), e + days)) if n[t] > 0]
    if len(before) < days // 2 or len(after) < days // 2:
        return None
    kb, ka = int(x[before].sum()), int(x[after].sum())
    if kb + ka == 0:
        return None
    p = binomtest(kb, kb + ka, len(before) / (len(before) + len(after))).pvalue
    if p >= level:
        return None
    name = KPI_NAMES[r["kpi"]]
    last = pd.Timestamp(starts[e - 1])
    return (f"{name}: the window {pd.Timestamp(starts[s]):%Y-%m-%d} to {last:%Y-%m-%d} is "
            f"not reported as a burst or dip: it sits at a change of level ({kb:,} in the "
            f"{len(before)} days before, {ka:,} in the {len(after)} days after; p = {p:.2g}), "
            "which the weekly series show")


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
