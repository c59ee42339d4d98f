"""Detail beyond the headline results of a pilot evaluation.

:func:`segment_breakdown` (effects per segment with a heterogeneity test),
:func:`survival_analysis` (Kaplan-Meier curves, log-rank test, RMST and Cox hazard ratio of a
time-to-event metric), :func:`summary_table` (one plain-language line per result, for a
manager) and :func:`segment_columns` (the columns 05_pilot_eval breaks results down by).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.pilots.aggregates import survival_counts
from cjmlib.pilots.comparisons import evaluate_metrics
from cjmlib.pilots.estimators import (
    interval,
    kaplan_meier_from_counts,
    logrank_from_counts,
    rmst_from_counts,
    rmst_horizon,
)
from cjmlib.pilots.evaluation import PILOT_RESULTS_COLUMNS, PilotEvaluation, resolve_split
from cjmlib.pilots.metrics import MetricSpec, parse_metrics
from cjmlib.pilots.units import UnitsData, arms_as_text, load_units, units_per_arm_labels
from cjmlib.pilots.validation import check_units
from cjmlib.stats.multiplicity import adjust_p_values


# --------------------------------------------------------------------------------------
# Segments and survival detail
# --------------------------------------------------------------------------------------
def segment_breakdown(
    units: Any,
    *,
    metrics: Sequence[Mapping[str, Any] | MetricSpec],
    segment_col: str,
    control: str = "control",
    planned_split: Mapping[str, float] | None = None,
    alpha: float = 0.05,
    unit_col: str = "unit_id",
    variant_col: str = "variant",
    min_units: int = 20,
) -> pd.DataFrame:
    """Effects per segment with a heterogeneity test per metric and arm.

    Segments with fewer than ``min_units`` units in any arm are left out (listed in the
    ``note`` column of the other rows). Heterogeneity: Cochran's Q over the segments'
    effects with inverse-variance weights, chi-square with k - 1 df (statsmodels
    ``combine_effects(...).test_homogeneity()``). ``p_value_adjusted`` is
    Benjamini-Hochberg over the segments of one metric and arm.
    """
    from scipy import stats

    data = arms_as_text(load_units(units), variant_col)
    specs = parse_metrics(metrics)
    split = resolve_split(planned_split, units_per_arm_labels(data, variant_col), control,
                          name=data.name, variant_col=variant_col)
    arms = list(split)
    check_units(data, metrics=specs, arms=arms, control=control, unit_col=unit_col,
                variant_col=variant_col)
    t = data.table
    counts = data.execute(t.group_by([segment_col, variant_col]).aggregate(n=t.count()))
    pivot = counts.pivot_table(index=segment_col, columns=variant_col, values="n",
                               fill_value=0)
    pivot = pivot.reindex(columns=arms, fill_value=0)
    keep = [s for s in pivot.index if (pivot.loc[s] >= min_units).all()]
    dropped = [str(s) for s in pivot.index if s not in keep]
    rows = []
    for seg in keep:
        sub = UnitsData(t.filter(t[segment_col] == seg), f"{data.name} [{segment_col}={seg}]")
        for r in evaluate_metrics(sub, specs, arms=arms, control=control, alpha=alpha,
                                  variant_col=variant_col):
            r["segment_col"], r["segment"] = segment_col, seg
            rows.append(r)
    if not rows:
        raise ValueError(f"{data.name}: column {segment_col!r}: no segment has at least "
                         f"{min_units} units in every arm {arms}")
    frame = pd.DataFrame(rows)
    frame["q_statistic"] = math.nan
    frame["q_df"] = math.nan
    frame["heterogeneity_p_value"] = math.nan
    for (_, _), g in frame.groupby(["metric", "treatment"], sort=False):
        frame.loc[g.index, "p_value_adjusted"] = adjust_p_values(g["p_value"], method="bh")
        w = 1 / g["se"].to_numpy() ** 2
        eff = g["effect"].to_numpy()
        if len(g) >= 2:
            q = float(np.sum(w * (eff - np.sum(w * eff) / np.sum(w)) ** 2))
            frame.loc[g.index, "q_statistic"] = q
            frame.loc[g.index, "q_df"] = len(g) - 1
            frame.loc[g.index, "heterogeneity_p_value"] = stats.chi2.sf(q, len(g) - 1)
    frame["note"] = (f"segments left out (fewer than {min_units} units in an arm): "
                     + ", ".join(dropped)) if dropped else ""
    front = ["segment_col", "segment"] + [c for c in PILOT_RESULTS_COLUMNS
                                          if c not in ("srm_p_value", "decision")]
    cols = front + ["role", "better", "se", "q_statistic", "q_df", "heterogeneity_p_value",
                    "note"]
    return frame[cols]


@dataclass
class SurvivalAnalysis:
    """Kaplan-Meier curves, log-rank tests, RMST and Cox hazard ratios of one metric."""

    metric: str
    curves: pd.DataFrame
    tests: pd.DataFrame
    tau: float
    #: why the metric's tau was capped at the follow-up (empty when it was not)
    tau_note: str = ""

    def to_pandas(self) -> pd.DataFrame:
        return self.tests


def survival_analysis(
    units: Any,
    *,
    metric: Mapping[str, Any] | MetricSpec,
    control: str = "control",
    arms: Sequence[str] | None = None,
    alpha: float = 0.05,
    variant_col: str = "variant",
    cox_unit_limit: int = 1_000_000,
) -> SurvivalAnalysis:
    """Kaplan-Meier curves per arm and, per treatment arm: log-rank test, RMST difference
    and the Cox proportional-hazards ratio (treatment vs control).

    Curves, log-rank and RMST come from counts per (arm, time, event) pulled from the
    engine. The Cox model is lifelines ``CoxPHFitter`` (Efron ties) on unit-level rows up to
    ``cox_unit_limit`` units, above that on the counts as frequency weights (lifelines'
    weighted tie handling then differs from the unit-level fit in the 5th digit). A hazard
    ratio above 1 means the treatment completes faster.
    """
    from lifelines import CoxPHFitter

    data = arms_as_text(load_units(units), variant_col)
    spec = MetricSpec.from_dict(metric) if not isinstance(metric, MetricSpec) else metric
    if spec.kind != "time_to_event":
        raise ValueError(f"metric {spec.name!r}: survival analysis needs kind "
                         f"'time_to_event', got {spec.kind!r}")
    times, per = survival_counts(data, spec, variant_col)
    arm_list = list(arms) if arms else sorted(per, key=lambda a: (a != control, a))
    for a in arm_list:
        if a not in per:
            raise ValueError(f"{data.name}: column {variant_col!r}: arm {a!r} has no units")
    tau, tau_note = rmst_horizon(times, per, arm_list, tau=spec.tau)
    curves = []
    for a in arm_list:
        d, c = per[a]
        surv, at_risk = kaplan_meier_from_counts(d, c)
        keep = (d + c) > 0
        curves.append(pd.DataFrame({"variant": a, "time": times[keep],
                                    "survival": surv[keep], "at_risk": at_risk[keep],
                                    "events": d[keep], "censored": c[keep]}))
    curves_df = pd.concat(curves, ignore_index=True)
    rows = []
    for a in arm_list:
        if a == control:
            continue
        d_c, c_c = per[control]
        d_t, c_t = per[a]
        _, r_c = kaplan_meier_from_counts(d_c, c_c)
        _, r_t = kaplan_meier_from_counts(d_t, c_t)
        stat, p = logrank_from_counts(d_c, r_c, d_t, r_t)
        rm_c, v_c = rmst_from_counts(times, d_c, c_c, tau=tau)
        rm_t, v_t = rmst_from_counts(times, d_t, c_t, tau=tau)
        rmst = interval(rm_t - rm_c, math.sqrt(v_c + v_t), np.inf, alpha)
        n_units = d_c.sum() + c_c.sum() + d_t.sum() + c_t.sum()
        if n_units <= cox_unit_limit:
            # unit-level fit: with ties, lifelines' weighted Efron is an approximation
            t_ = data.table
            sub = t_.filter(t_[variant_col].isin([control, a]) & t_[spec.duration].notnull())
            raw = data.execute(sub.select(variant_col, spec.duration, spec.event))
            cox_df = pd.DataFrame({"T": raw[spec.duration].astype(float),
                                   "E": raw[spec.event].astype(int),
                                   "treatment": (raw[variant_col].astype(str) == a).astype(int)})
            cph = CoxPHFitter(alpha=alpha).fit(cox_df, "T", "E")
            cox_method = "Cox PH (Efron ties), unit-level"
        else:
            frame = []
            for arm_value, (d, c) in ((0, (d_c, c_c)), (1, (d_t, c_t))):
                for ev, w in ((1, d), (0, c)):
                    m = w > 0
                    frame.append(pd.DataFrame({"T": times[m], "E": ev, "treatment": arm_value,
                                               "w": w[m]}))
            cox_df = pd.concat(frame, ignore_index=True)
            cph = CoxPHFitter(alpha=alpha).fit(cox_df, "T", "E", weights_col="w")
            cox_method = "Cox PH on counts per (time, event) as frequency weights"
        summ = cph.summary.loc["treatment"]
        rows.append({
            "metric": spec.name, "control": control, "treatment": a,
            "events_control": d_c.sum(), "events_treatment": d_t.sum(),
            "logrank_statistic": float(stat), "logrank_p_value": float(p),
            "rmst_tau": tau, "rmst_control": float(rm_c), "rmst_treatment": float(rm_t),
            "rmst_difference": float(rmst["effect"]), "rmst_ci_low": float(rmst["ci_low"]),
            "rmst_ci_high": float(rmst["ci_high"]), "rmst_p_value": float(rmst["p_value"]),
            "hazard_ratio": float(summ["exp(coef)"]),
            "hazard_ratio_ci_low": float(summ.filter(like="exp(coef) lower").iloc[0]),
            "hazard_ratio_ci_high": float(summ.filter(like="exp(coef) upper").iloc[0]),
            "cox_p_value": float(summ["p"]), "cox_method": cox_method,
        })
    return SurvivalAnalysis(spec.name, curves_df, pd.DataFrame(rows), tau, tau_note)


# --------------------------------------------------------------------------------------
# Plain-language summary
# --------------------------------------------------------------------------------------
def _fmt_value(kind: str, value: float, method: str) -> str:
    if not np.isfinite(value):
        return "n/a"
    if "relative effect" in method or "P(T>C)" in method:
        return f"{value:.3f}"
    if kind in ("proportion",) or "top-2-box" in method:
        return f"{100 * value:.1f}%"
    if kind == "nps":
        return f"{value:+.1f}"
    return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.2f}"


def _fmt_effect(kind: str, value: float, method: str) -> str:
    if "P(T>C)" in method:
        return f"{value:+.3f}"
    if kind == "proportion" or "top-2-box" in method:
        return f"{100 * value:+.1f} pp"
    if kind == "nps":
        return f"{value:+.1f} points"
    return f"{value:+,.3g}" if abs(value) < 1 else f"{value:+,.2f}"


def summary_table(evaluation: PilotEvaluation | pd.DataFrame) -> pd.DataFrame:
    """One line per result a manager can read: what changed, how sure, what to do.

    ``interval`` is the confidence interval of the change at the results' ``1 - alpha``,
    its level written after it (``+1.5 pp to +5.3 pp (95%)``).
    """
    res = evaluation.results if isinstance(evaluation, PilotEvaluation) else evaluation
    level = 1 - float(res["alpha"].iloc[0]) if "alpha" in res else 0.95
    rows = []
    for r in res.itertuples(index=False):
        ci = (f"{_fmt_effect(r.kind, r.ci_low, r.method)} to "
              f"{_fmt_effect(r.kind, r.ci_high, r.method)}")
        rows.append({
            "metric": r.metric, "role": r.role, "arm": r.treatment,
            "control": _fmt_value(r.kind, r.control_value, r.method),
            "treatment": _fmt_value(r.kind, r.treatment_value, r.method),
            "change": _fmt_effect(r.kind, r.effect, r.method)
            + (f" ({100 * r.rel_effect:+.1f}%)" if np.isfinite(r.rel_effect)
               and "P(T>C)" not in r.method else ""),
            "interval": f"{ci} ({level:.0%})",
            "adjusted p": f"{r.p_value_adjusted:.3g}",
            "decision": r.decision,
            "why": r.reason,
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Choosing segments to break down (used by 05_pilot_eval)
# --------------------------------------------------------------------------------------
def segment_columns(units: Any, *, requested: Sequence[str] = (),
                    plan_segments: Sequence[str] = (), unit_col: str = "unit_id",
                    variant_col: str = "variant", max_levels: int = 20) -> list[str]:
    """Segment columns: requested ones (must exist), else the plan's that exist, else text
    columns with 2..``max_levels`` levels."""
    data = load_units(units)
    cols = list(data.table.columns)
    if requested:
        missing = [c for c in requested if c not in cols]
        if missing:
            raise ValueError(f"{data.name}: segment column(s) {missing} not found; found {cols}")
        return list(requested)
    chosen = [c for c in plan_segments if c in cols]
    if chosen:
        return chosen
    schema = data.table.schema()
    out = []
    for c in cols:
        if c in (unit_col, variant_col) or not schema[c].is_string():
            continue
        k = int(data.execute(data.table[c].nunique()))
        if 2 <= k <= max_levels:
            out.append(c)
    return out
