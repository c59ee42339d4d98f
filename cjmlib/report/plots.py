"""Figures of the improvement report and of monitoring, in English or Chinese.

Every function takes a table and the already translated words it draws (titles, axis labels,
legend entries: the report owns the translations) and returns a matplotlib ``Figure``,
never shown or saved here. :func:`report_style` applies the workbench style and a CJK font
so that Chinese text renders (:func:`cjmlib.core.figures.use_cjk_font`); :func:`figure_data_uri` turns a figure
into the ``data:image/png;base64,...`` URI the self-contained report embeds.

The journey map here is the report's compact version of
:func:`cjmlib.journeys.plots.journey_map` (whose cell words are English only): stages as
columns, touchpoints beneath, shaded by priority score, with exit rate and CSAT.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.figures import FULL_WIDTH, plt, use_cjk_font, use_style

_BAD, _GOOD, _NEUTRAL, _INK, _MUTED, _WARN = ("#D55E00", "#009E73", "#0072B2", "#222222",
                                             "#777777", "#E69F00")
STATUS_COLOURS = {"proposed": "#0072B2", "piloting": "#E69F00", "shipped": "#009E73",
                  "rejected": "#999999"}
# --------------------------------------------------------------------------------------------
# Style and fonts
# --------------------------------------------------------------------------------------------
def report_style() -> str | None:
    """The workbench style (:func:`cjmlib.core.figures.use_style`) plus the CJK fallback font."""
    use_style()
    return use_cjk_font()


def figure_data_uri(fig: plt.Figure, *, dpi: int = 110) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (tight bounding box); closes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight",
                metadata={"Software": None})
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _label(name: Any, labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(name, str(name).replace("_", " "))


def _pct(value: float) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{100 * value:.0f}%"


# --------------------------------------------------------------------------------------------
# Journey map and pain points
# --------------------------------------------------------------------------------------------
def journey_map(
    metrics: pd.DataFrame,
    *,
    stages: Sequence[str],
    labels: Mapping[str, str] | None = None,
    stage_labels: Mapping[str, str] | None = None,
    words: Mapping[str, str] | None = None,
    title: str = "",
) -> plt.Figure:
    """Stages as columns, touchpoints beneath (most urgent first), shaded by priority score.

    Each cell: touchpoint label, ``#rank``, exit rate and CSAT. ``words``: translations of
    ``exit``, ``csat``, ``legend`` (the note under the map). Raises ``ValueError`` without a
    ``touchpoint`` / ``stage`` column or without rows.
    """
    words = {"exit": "exit", "csat": "CSAT", "legend": "", **(words or {})}
    m = metrics
    if "channel" in m.columns and (m["channel"] == "all").any():
        m = m[m["channel"] == "all"]
    if m.empty or not {"touchpoint", "stage"} <= set(m.columns):
        raise ValueError("journey_map: needs touchpoint_metrics rows with touchpoint and stage")
    m = m.copy()
    if "priority_rank" not in m.columns:
        m["priority_rank"] = pd.NA
    m = m.sort_values(["priority_rank", "touchpoint"], na_position="last")
    cols = [s for s in stages if s in set(m["stage"])]
    cols += [s for s in dict.fromkeys(m["stage"]) if s not in cols]
    by_stage = {s: m[m["stage"] == s].to_dict("records") for s in cols}
    n_rows = max(len(v) for v in by_stage.values())
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 0.95 * n_rows + 1.3))
    scores = pd.to_numeric(m.get("priority_score"), errors="coerce")
    top = float(np.nanmax(scores)) if scores.notna().any() else 1.0
    cmap = plt.get_cmap("Oranges")
    for ci, stage in enumerate(cols):
        for ri, row in enumerate(by_stage[stage]):
            x0, y0 = ci + 0.04, -(ri + 1) + 0.06
            val = pd.to_numeric(row.get("priority_score"), errors="coerce")
            shade = cmap(0.08 + 0.6 * val / top) if pd.notna(val) and top > 0 else "#f2f2f2"
            ax.add_patch(plt.Rectangle((x0, y0), 0.92, 0.88, facecolor=shade,
                                       edgecolor="#555555", linewidth=0.8))
            ax.text(x0 + 0.05, y0 + 0.8, _label(row["touchpoint"], labels), fontsize=9.5,
                    fontweight="bold", va="top", ha="left", color=_INK)
            rank = row.get("priority_rank")
            if rank is not None and pd.notna(rank):
                ax.text(x0 + 0.88, y0 + 0.06, f"#{int(rank)}", fontsize=9.5, ha="right",
                        va="bottom", fontweight="bold", color=_INK)
            csat = row.get("csat_mean")
            csat_text = f"{csat:.2f}" if csat is not None and pd.notna(csat) else "–"
            ax.text(x0 + 0.05, y0 + 0.45,
                    f"{words['exit']} {_pct(row.get('exit_rate', np.nan))}\n"
                    f"{words['csat']} {csat_text}", fontsize=8.5, va="top", ha="left",
                    color=_INK, linespacing=1.3)
    ax.set_xlim(0, len(cols))
    ax.set_ylim(-n_rows, 0)
    ax.set_xticks(np.arange(len(cols)) + 0.5,
                  [_label(c, stage_labels).capitalize() for c in cols], fontsize=11,
                  fontweight="bold")
    ax.xaxis.tick_top()
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title, loc="left", pad=28)
    if words["legend"]:
        fig.text(0.01, 0.005, words["legend"], fontsize=8.5, color=_MUTED, va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return fig


def pain_point_evidence(
    rows: pd.DataFrame,
    *,
    labels: Mapping[str, str] | None = None,
    exit_label: str = "exit rate",
    csat_label: str = "CSAT (1-5)",
    title: str = "",
) -> plt.Figure:
    """Exit rate and CSAT of the top pain points, each with its 95% interval.

    ``rows``: one row per touchpoint (in the order to draw, most urgent first) with
    ``touchpoint``, ``exit_rate`` and optional ``exit_rate_ci_low``/``_high``,
    ``csat_mean``, ``csat_ci_low``/``_high``.
    """
    r = rows.iloc[::-1].reset_index(drop=True)
    y = np.arange(len(r))
    names = [_label(t, labels) for t in r["touchpoint"]]
    has_csat = "csat_mean" in r.columns and r["csat_mean"].notna().any()
    fig, axes = plt.subplots(1, 2 if has_csat else 1, sharey=True,
                             figsize=(FULL_WIDTH, 0.55 * len(r) + 1.4), squeeze=False)
    ax = axes[0, 0]
    e = r["exit_rate"].to_numpy(dtype=float) * 100
    lo = r.get("exit_rate_ci_low", r["exit_rate"]).to_numpy(dtype=float) * 100
    hi = r.get("exit_rate_ci_high", r["exit_rate"]).to_numpy(dtype=float) * 100
    ax.barh(y, e, color=_BAD, alpha=0.75)
    # an interval that does not hold its estimate (inconsistent input) draws no bar
    ax.errorbar(e, y, xerr=[np.clip(e - lo, 0, None), np.clip(hi - e, 0, None)], fmt="none",
                ecolor=_INK, capsize=3)
    ax.set_yticks(y, names)
    ax.set_xlabel(exit_label + " (%)")
    ax.set_xlim(0, max(100.0, float(np.nanmax(hi)) if np.isfinite(hi).any() else 100.0))
    if has_csat:
        ax2 = axes[0, 1]
        c = r["csat_mean"].to_numpy(dtype=float)
        clo = r.get("csat_ci_low", r["csat_mean"]).to_numpy(dtype=float)
        chi = r.get("csat_ci_high", r["csat_mean"]).to_numpy(dtype=float)
        ok = np.isfinite(c)
        ax2.errorbar(c[ok], y[ok], xerr=[np.clip(c[ok] - clo[ok], 0, None),
                                         np.clip(chi[ok] - c[ok], 0, None)], fmt="o",
                     color=_NEUTRAL, ecolor=_NEUTRAL, capsize=3)
        ax2.axvline(3, color=_MUTED, linestyle=":", linewidth=1)
        ax2.set_xlim(1, 5)
        ax2.set_xlabel(csat_label)
    if title:
        fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Backlog and pilot
# --------------------------------------------------------------------------------------------
def backlog_chart(
    backlog: pd.DataFrame,
    *,
    titles: Sequence[str],
    status_labels: Mapping[str, str] | None = None,
    xlabel: str = "journeys kept",
    title: str = "",
) -> plt.Figure:
    """Estimated impact of each candidate with its interval, coloured by status; the
    effort (person-weeks) is written at the right. ``titles``: one label per row."""
    b = backlog.reset_index(drop=True)
    b = b.assign(_title=list(titles)).iloc[::-1].reset_index(drop=True)
    y = np.arange(len(b))
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 0.45 * len(b) + 1.4))
    for i, r in b.iterrows():
        colour = STATUS_COLOURS.get(r["status"], _MUTED)
        if pd.notna(r["impact"]):
            ax.hlines(i, r["impact_low"], r["impact_high"], color=colour, linewidth=3,
                      alpha=0.6)
            ax.plot(r["impact"], i, "o", color=colour, markersize=7)
        ax.annotate(f"{r['effort_weeks']:g} pw", (1.01, i), xycoords=("axes fraction", "data"),
                    va="center", fontsize=8.5, color=_MUTED)
    ax.set_yticks(y, [f"{t}" for t in b["_title"]], fontsize=9)
    ax.axvline(0, color=_INK, linewidth=0.8)
    ax.set_xlabel(xlabel)
    handles = [plt.Line2D([], [], marker="o", linestyle="-", color=c,
                          label=(status_labels or {}).get(s, s))
               for s, c in STATUS_COLOURS.items() if s in set(b["status"])]
    if handles:
        ax.legend(handles=handles, loc="lower right", fontsize=8.5, frameon=True)
    if title:
        ax.set_title(title, loc="left")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Monitoring
# --------------------------------------------------------------------------------------------
def control_chart(
    chart: pd.DataFrame,
    *,
    title: str = "",
    ylabel: str = "",
    percent: bool = True,
    rollouts: Sequence[tuple[str, Any]] = (),
    words: Mapping[str, str] | None = None,
) -> plt.Figure:
    """One control chart: values per period, centre line, control limits (steps when they
    vary with n), baseline shaded, signalled points in red, rollout dates as dashed lines.

    ``chart``: rows of :func:`cjmlib.report.monitoring.p_chart` / ``individuals_chart`` (or of
    ``Monitoring.charts`` for one series). ``words``: translations of ``centre``,
    ``limits``, ``signal``, ``baseline``.
    """
    words = {"centre": "centre", "limits": "control limits", "signal": "signal",
             "baseline": "baseline", **(words or {})}
    c = chart.sort_values("period").reset_index(drop=True)
    scale = 100.0 if percent else 1.0
    x = pd.to_datetime(c["period"]).dt.tz_localize(None)
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 3.2))
    base = c["baseline"].astype(bool).to_numpy()
    if base.any():
        ax.axvspan(x[base].min(), x[base].max(), color="#eeeeee", zorder=0,
                   label=words["baseline"])
    ax.step(x, c["ucl"] * scale, where="mid", color=_MUTED, linestyle="--", linewidth=1,
            label=words["limits"])
    ax.step(x, c["lcl"] * scale, where="mid", color=_MUTED, linestyle="--", linewidth=1)
    ax.plot(x, c["centre"] * scale, color=_INK, linewidth=1, label=words["centre"])
    ax.plot(x, c["value"] * scale, marker="o", color=_NEUTRAL, linewidth=1.5, markersize=4)
    sig = c["signal"].astype(bool).to_numpy()
    if sig.any():
        ax.plot(x[sig], c["value"][sig] * scale, "o", color=_BAD, markersize=8,
                label=words["signal"])
    for name, date in rollouts:
        d = pd.Timestamp(date).tz_localize(None) if pd.Timestamp(date).tzinfo else (
            pd.Timestamp(date))
        ax.axvline(d, color=_BAD, linestyle=":", linewidth=1.2)
        ax.annotate(name, (d, 1.0), xycoords=("data", "axes fraction"), rotation=0,
                    fontsize=8, color=_BAD, ha="left", va="bottom")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, loc="left", pad=14)
    ax.legend(loc="upper left", fontsize=8, ncol=4, frameon=True)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Changes found over time
# --------------------------------------------------------------------------------------------
def change_chart(
    values: pd.DataFrame,
    finding: Mapping[str, Any],
    *,
    title: str = "",
    ylabel: str | None = None,
    rollouts: Sequence[tuple[str, Any]] = (),
    words: Mapping[str, str] | None = None,
) -> plt.Figure:
    """One change found over time: the series by period, its changed window shaded, the
    level inside and outside the window as flat lines, rollout dates as dashed lines.

    ``values``: :func:`cjmlib.journeys.changes.finding_values` (the finding's series is
    picked by its kpi, level and group); ``finding``: its row of ``journeys_changes``
    (``reference``, ``changed``; for time KPIs ``value_reference`` / ``value_changed`` in
    seconds). Rates are drawn in percent, counts and times as they are. ``words``:
    translations of ``window``, ``outside`` (the level elsewhere), ``inside``, and the
    default axis labels ``seconds`` and ``count`` (``ylabel`` overrides). Rollouts outside
    the series' span are not drawn. Raises ``ValueError`` when ``values`` lacks the series.
    """
    from cjmlib.journeys.changes import COUNT_KPIS

    words = {"window": "change", "outside": "elsewhere", "inside": "in the window",
             "seconds": "seconds", "count": "count", **(words or {})}
    kpi = str(finding.get("kpi", ""))
    v = values[(values["kpi"] == kpi) & (values["level"] == finding["level"])
               & (values["group"] == finding["group"])]
    if v.empty:
        raise ValueError(f"change_chart: no values of {kpi} / {finding['group']}")
    v = v.sort_values("period").reset_index(drop=True)
    x = pd.to_datetime(v["period"]).dt.tz_localize(None)
    timed, count = kpi.startswith("time_"), kpi in COUNT_KPIS
    scale = 1.0 if timed or count else 100.0
    if ylabel is None:
        ylabel = words["seconds"] if timed else words["count"] if count else "%"
    ref, chg = ((finding["value_reference"], finding["value_changed"]) if timed
                else (finding["reference"], finding["changed"]))
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 2.6))
    inside = v["in_window"].astype(bool).to_numpy()
    if inside.any():
        step = (x.iloc[1] - x.iloc[0]) if len(x) > 1 else pd.Timedelta(days=1)
        ax.axvspan(x[inside].min(), x[inside].max() + step, color="#fde3cf", zorder=0,
                   label=words["window"])
    ax.plot(x, v["value"] * scale, marker="o", markersize=3, color=_NEUTRAL, linewidth=1.3)
    ax.axhline(ref * scale, color=_MUTED, linestyle="--", linewidth=1,
               label=f"{words['outside']}: {_fmt(ref, scale, timed)}")
    if inside.any():
        ax.hlines(chg * scale, x[inside].min(), x[inside].max(), color=_BAD, linewidth=2,
                  label=f"{words['inside']}: {_fmt(chg, scale, timed)}")
    lo, hi = x.min(), x.max()
    for name, date in rollouts:
        d = pd.Timestamp(date)
        d = d.tz_convert(None) if d.tzinfo else d
        if lo <= d <= hi:
            ax.axvline(d, color=_INK, linestyle=":", linewidth=1.2)
            ax.annotate(str(name), (d, 1.0), xycoords=("data", "axes fraction"),
                        fontsize=8, color=_INK, ha="left", va="bottom")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, loc="left", pad=14, fontsize=10)
    ax.legend(loc="best", fontsize=8, frameon=True)
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def _fmt(value: float, scale: float, timed: bool) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    if timed:
        return f"{value:,.0f} s"
    return f"{value * scale:.1f}%" if scale == 100.0 else f"{value:,.1f}"
