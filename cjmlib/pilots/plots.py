"""Figures for pilots: forest plot, Kaplan-Meier curves, event study, synthetic control,
power curves. Each function takes result tables and returns a matplotlib ``Figure``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from cjmlib.core.figures import FULL_WIDTH, plt

#: Colour per decision or guardrail state (colour-blind-safe palette), for every pilot figure.
DECISION_COLOURS = {
    "ship": "#029e73", "better": "#029e73", "guardrail ok": "#0173b2",
    "iterate": "#de8f05", "inconclusive": "#949494", "no clear difference": "#949494",
    "stop": "#d55e00", "worse": "#d55e00", "guardrail breached": "#d55e00",
}


def forest_plot(
    results: pd.DataFrame,
    *,
    title: str = "Effects with intervals",
    names: Sequence[str] | None = None,
    decision_labels: Mapping[str, str] | None = None,
    relative_label: str = "change vs control (%)",
) -> plt.Figure:
    """Relative effects (treatment / control - 1, %) with their intervals, one row per
    metric and arm; rank effects (P(T>C) - 0.5) and NPS are drawn on their own scale in a
    second panel. Colour = decision.

    ``names`` (one per row of ``results``), ``decision_labels`` and ``relative_label``
    replace the default row labels, decision words and axis label (the report translates
    them)."""
    label_of = dict(zip(results.index, names, strict=True)) if names is not None else None
    rel = results[np.isfinite(results["rel_effect"]) & np.isfinite(results["rel_ci_low"])]
    other = results.drop(rel.index)
    panels = [(rel, "relative", relative_label)] if len(rel) else []
    for i in range(len(other)):   # own scale each: NPS points, rank effect, ...
        row = other.iloc[[i]]
        unit = ("NPS points" if row["kind"].iloc[0] == "nps" else
                "P(T>C) + 0.5 P(T=C) - 0.5" if "P(T>C)" in row["method"].iloc[0] else
                "difference (metric units)")
        panels.append((row, "absolute", unit))
    heights = [max(0.9, 0.45 * len(p[0]) + 0.5) for p in panels]
    fig, axes = plt.subplots(len(panels), 1, figsize=(FULL_WIDTH, sum(heights) + 0.6),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    for ax, (frame, scale, label) in zip(axes[:, 0], panels, strict=True):
        frame = frame.iloc[::-1]
        y = np.arange(len(frame))
        multi = frame["treatment"].nunique() > 1
        rows = ([label_of[i] for i in frame.index] if label_of is not None else
                [f"{m} ({r})" + (f" [{t}]" if multi else "")
                 for m, r, t in zip(frame["metric"], frame["role"], frame["treatment"],
                                    strict=True)])
        if scale == "relative":
            est, lo, hi = (100 * frame["rel_effect"], 100 * frame["rel_ci_low"],
                           100 * frame["rel_ci_high"])
        else:
            est, lo, hi = frame["effect"], frame["ci_low"], frame["ci_high"]
        colours = [DECISION_COLOURS.get(d, "#333333") for d in frame["decision"]]
        ax.hlines(y, lo, hi, colors=colours, linewidth=2.5)
        ax.scatter(est, y, color=colours, zorder=3, s=40)
        ax.axvline(0, color="black", linewidth=1)
        ax.set_yticks(y, rows)
        ax.set_xlabel(label)
        for yi, d in enumerate(frame["decision"]):
            ax.annotate((decision_labels or {}).get(d, d), (1.01, yi),
                        xycoords=("axes fraction", "data"), va="center",
                        fontsize=9, color=DECISION_COLOURS.get(d, "#333333"))
    axes[0, 0].set_title(title)
    fig.tight_layout()
    return fig


def kaplan_meier_plot(curves: pd.DataFrame, *, title: str = "Time to complete",
                      xlabel: str = "seconds") -> plt.Figure:
    """Kaplan-Meier curves (share not yet completed) per arm, as steps."""
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4.5))
    for arm, g in curves.groupby("variant", sort=False):
        t = np.concatenate([[0.0], g["time"].to_numpy()])
        s = np.concatenate([[1.0], g["survival"].to_numpy()])
        ax.step(t, s, where="post", label=str(arm))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("share not yet completed")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    return fig


def event_study_plot(coefficients: pd.DataFrame, *, outcome: str,
                     pre_trend_p_value: float | None = None,
                     permutation_p_value: float | None = None) -> plt.Figure:
    """Event-study coefficients with intervals; launch at event time 0."""
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4.5))
    c = coefficients.sort_values("event_time")
    ax.fill_between(c["event_time"], c["ci_low"], c["ci_high"], alpha=0.2, step=None)
    ax.plot(c["event_time"], c["estimate"], marker="o")
    ax.axhline(0, color="black", linewidth=1)
    ax.axvline(-0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("periods since launch (reference: the period before launch)")
    ax.set_ylabel(f"{outcome}: treated minus control")
    sub = []
    if pre_trend_p_value is not None and np.isfinite(pre_trend_p_value):
        sub.append(f"pre-trend p = {pre_trend_p_value:.3g} (cluster-robust)")
    if permutation_p_value is not None and np.isfinite(permutation_p_value):
        sub.append(f"{permutation_p_value:.3g} (permutation)")
    ax.set_title(f"Event study: {outcome}" + (f"  [{', '.join(sub)}]" if sub else ""))
    fig.tight_layout()
    return fig


def synthetic_control_plot(path: pd.DataFrame, placebos_gap: pd.DataFrame | None = None, *,
                           outcome: str) -> plt.Figure:
    """Treated average vs its synthetic control (left) and the gap (right)."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 4))
    x = np.arange(len(path))
    launch = int(np.argmax(path["post"].to_numpy()))
    a1.plot(x, path["treated"], label="pilot units (average)")
    a1.plot(x, path["synthetic"], linestyle="--", label="synthetic control")
    a2.plot(x, path["gap"], color="black")
    for ax in (a1, a2):
        ax.axvline(launch - 0.5, color="grey", linestyle=":")
        ax.set_xlabel("period")
    a2.axhline(0, color="grey", linewidth=1)
    a1.set_ylabel(outcome)
    a1.legend(fontsize=9)
    a1.set_title(f"Synthetic control: {outcome}")
    a2.set_title("gap (pilot - synthetic)")
    fig.tight_layout()
    return fig


def power_curve_plot(curve: pd.DataFrame, *, metric: str, planned_n: float | None = None,
                     target_power: float = 0.8) -> plt.Figure:
    """Power against control-arm size, one line per effect size."""
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4.5))
    for mde, g in curve.groupby("mde"):
        ax.plot(g["n_control"], g["power"], label=f"effect {mde:g}")
    ax.axhline(target_power, color="grey", linestyle="--", linewidth=1)
    if planned_n:
        ax.axvline(planned_n, color="black", linestyle=":", linewidth=1)
    ax.set_xlabel("units in the control arm")
    ax.set_ylabel("power")
    ax.set_ylim(0, 1)
    ax.set_title(f"Power: {metric}")
    ax.legend()
    fig.tight_layout()
    return fig


def segment_plot(segments: pd.DataFrame, *, metrics: Sequence[str] | None = None
                 ) -> plt.Figure:
    """Effect with interval per segment, one panel per metric."""
    names = list(metrics or segments["metric"].unique())
    fig, axes = plt.subplots(1, len(names), figsize=(FULL_WIDTH, 0.4 * segments[
        "segment"].nunique() + 2.2), squeeze=False)
    for ax, m in zip(axes[0], names, strict=True):
        g = segments[segments["metric"] == m].iloc[::-1]
        y = np.arange(len(g))
        ax.hlines(y, g["ci_low"], g["ci_high"], linewidth=2.5)
        ax.scatter(g["effect"], y, zorder=3)
        ax.axvline(0, color="black", linewidth=1)
        ax.set_yticks(y, [f"{c}={s}" for c, s in zip(g["segment_col"], g["segment"],
                                                      strict=True)])
        p = g["heterogeneity_p_value"].iloc[0] if len(g) else np.nan
        ax.set_title(f"{m}\nheterogeneity p = {p:.3g}", fontsize=10)
    fig.tight_layout()
    return fig
