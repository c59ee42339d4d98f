"""Figures of journeys and touchpoints: journey map (current and future state), experience
curve, transition graph of the top flows, funnel, time to convert, pain-point priorities,
importance-performance grid and channel switching.

Each function takes a table from :mod:`cjmlib.journeys.touchpoints`, :mod:`cjmlib.journeys.transitions`,
:mod:`cjmlib.journeys.funnel` or :mod:`cjmlib.journeys.channels` and returns a matplotlib ``Figure`` (never
shown or saved here), sized for :data:`cjmlib.core.figures.FULL_WIDTH` (10 inches) with fonts that
stay readable in exported HTML. Small cells (``small_cell``) are drawn hatched or marked
with an asterisk, never dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from cjmlib.core.figures import FULL_WIDTH, empty_chart, error_bars

_BAD, _GOOD, _NEUTRAL, _INK, _MUTED = "#D55E00", "#009E73", "#0072B2", "#222222", "#777777"
_START, _END = "(start)", "(end)"

# How each metric reads in a cell: label, format, whether higher is better.
_CELL_METRICS: dict[str, tuple[str, str, bool]] = {
    "reach_share": ("reach", "{:.0%}", True),
    "conversion_rate": ("conv.", "{:.0%}", True),
    "exit_rate": ("exit", "{:.0%}", False),
    "loop_rate": ("loop", "{:.0%}", False),
    "csat_mean": ("CSAT", "{:.2f}", True),
    "nps": ("NPS", "{:+.0f}", True),
    "median_duration_s": ("dwell", "{:.0f} s", False),
    "priority_score": ("priority", "{:.0f}", False),
}


def _label(name: str, labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(name, name.replace("_", " "))


def _grid(metrics: pd.DataFrame, stages: Sequence[str]) -> tuple[list[str], dict[str, list]]:
    """Touchpoints per stage, most urgent first; only stages present are kept in order."""
    m = metrics.copy()
    if "priority_rank" not in m.columns:
        m["priority_rank"] = np.arange(len(m))
    m = m.sort_values(["priority_rank", "touchpoint"], na_position="last")
    known = [s for s in stages if s in set(m["stage"])]
    extra = [s for s in dict.fromkeys(m["stage"]) if s not in known]
    cols = known + extra
    return cols, {s: list(m.loc[m["stage"] == s, "touchpoint"]) for s in cols}


def journey_map(
    metrics: pd.DataFrame,
    *,
    stages: Sequence[str],
    labels: Mapping[str, str] | None = None,
    experience: pd.DataFrame | None = None,
    show: Sequence[str] = ("reach_share", "conversion_rate", "exit_rate", "csat_mean"),
    title: str = "Journey map (current state)",
) -> plt.Figure:
    """The current-state journey map: stages as columns, touchpoints beneath, metrics per cell.

    ``metrics`` is a touchpoint_metrics table (one row per touchpoint, ``channel == "all"``).
    Cells are shaded by ``priority_score`` (darker orange = more urgent) and carry the
    ``show`` metrics; the cell's priority rank is in its corner, small cells are hatched.
    ``experience``: an experience curve per stage (``stage`` and ``emotion`` or
    ``csat_mean``, optional ``..._ci_low``/``_ci_high``, e.g. from
    :func:`cjmlib.voice.surveys.experience_curve`) drawn above the columns; without it the curve is
    the customer-weighted CSAT of each stage's touchpoints when the metrics have CSAT.
    """
    m = _one_row_per_touchpoint(metrics)
    cols, by_stage = _grid(m, stages)
    rows = max(len(v) for v in by_stage.values())
    cell_h = 0.5 + 0.24 * len(show)
    curve_h = 1.7
    fig = plt.figure(figsize=(FULL_WIDTH, curve_h + rows * cell_h + 1.1), layout="constrained")
    gs = fig.add_gridspec(3, 1, height_ratios=[curve_h, rows * cell_h, 0.25])
    ax_curve = fig.add_subplot(gs[0])
    ax = fig.add_subplot(gs[1])
    _experience_axis(ax_curve, m, cols, experience)
    score = m.set_index("touchpoint").get("priority_score", pd.Series(dtype=float))
    top = float(np.nanmax(score.to_numpy())) if score.notna().any() else 1.0
    cmap = plt.get_cmap("Oranges")
    info = m.set_index("touchpoint")
    for ci, stage in enumerate(cols):
        for ri, tp in enumerate(by_stage[stage]):
            row = info.loc[tp]
            x0, y0 = ci + 0.04, -(ri + 1) + 0.04
            val = row.get("priority_score", np.nan)
            shade = cmap(0.08 + 0.55 * (val / top)) if pd.notna(val) and top > 0 else "#f2f2f2"
            box = FancyBboxPatch((x0, y0), 0.92, 0.92, boxstyle="round,pad=0,rounding_size=0.05",
                                 facecolor=shade, edgecolor="#555555", linewidth=0.8,
                                 hatch="///" if bool(row.get("small_cell", False)) else None)
            ax.add_patch(box)
            ax.text(x0 + 0.05, y0 + 0.84, _label(tp, labels), fontsize=9.5, fontweight="bold",
                    va="top", ha="left", color=_INK)
            rank = row.get("priority_rank", pd.NA)
            if pd.notna(rank):
                ax.text(x0 + 0.88, y0 + 0.06, f"#{int(rank)}", fontsize=10, va="bottom",
                        ha="right", color=_INK, fontweight="bold")
            lines = []
            for name in show:
                if name not in _CELL_METRICS or name not in row.index:
                    continue
                short, fmt, _ = _CELL_METRICS[name]
                value = row[name]
                lines.append(f"{short} {fmt.format(value) if pd.notna(value) else '–'}")
            ax.text(x0 + 0.05, y0 + 0.62, "\n".join(lines), fontsize=8.5, va="top", ha="left",
                    color=_INK, linespacing=1.35, family="DejaVu Sans")
    _stage_grid_axes(ax, cols, rows)
    ax_curve.set_title(title, loc="left")
    note = fig.add_subplot(gs[2])
    note.set_axis_off()
    note.text(0, 0.5, "Cells: darker = higher priority score (#rank, 1 = most urgent); "
              "hatched = fewer customers than the small-cell threshold.", fontsize=8.5,
              color=_MUTED, va="center")
    return fig


def _one_row_per_touchpoint(metrics: pd.DataFrame) -> pd.DataFrame:
    m = metrics
    if "channel" in m.columns and (m["channel"] == "all").any():
        m = m[m["channel"] == "all"]
    if m["touchpoint"].duplicated().any():
        raise ValueError("journey_map needs one row per touchpoint (channel 'all', one "
                         "segment); found repeated touchpoints")
    return m.reset_index(drop=True)


def _experience_axis(ax: plt.Axes, m: pd.DataFrame, cols: list[str],
                     experience: pd.DataFrame | None) -> None:
    x = np.arange(len(cols)) + 0.5
    if experience is not None and len(experience):
        e = experience.set_index("stage").reindex(cols)
        col = "emotion" if "emotion" in e.columns else "csat_mean"
        y = e[col].to_numpy(dtype=float)
        low = e.get(f"{col}_ci_low", pd.Series(np.nan, index=e.index)).to_numpy(dtype=float)
        high = e.get(f"{col}_ci_high", pd.Series(np.nan, index=e.index)).to_numpy(dtype=float)
        label = "emotion (−1..1)" if col == "emotion" else "CSAT (1..5)"
        ref = 0.0 if col == "emotion" else 3.0
    elif "csat_mean" in m.columns and m["csat_mean"].notna().any():
        w = m["customers"].where(m["csat_mean"].notna(), 0)
        g = m.assign(_w=w, _wx=w * m["csat_mean"].fillna(0)).groupby("stage")
        stage_mean = (g["_wx"].sum() / g["_w"].sum().replace(0, np.nan)).reindex(cols)
        y = stage_mean.to_numpy(dtype=float)
        low = high = np.full(len(cols), np.nan)
        label, ref = "CSAT (1..5), customer-weighted", 3.0
    else:
        ax.text(0.5, 0.5, "no attitude data: experience curve not drawn", ha="center",
                va="center", transform=ax.transAxes, color=_MUTED)
        ax.set_axis_off()
        return
    ax.axhline(ref, color=_MUTED, linewidth=0.8, linestyle=":")
    ok = ~np.isnan(low) & ~np.isnan(high)
    if ok.any():
        ax.fill_between(x[ok], low[ok], high[ok], color=_NEUTRAL, alpha=0.15, linewidth=0)
    ax.plot(x, y, marker="o", color=_NEUTRAL, linewidth=2)
    for xi, yi in zip(x, y, strict=True):
        if not np.isnan(yi):
            ax.annotate(f"{yi:.2f}", (xi, yi), textcoords="offset points", xytext=(0, 7),
                        ha="center", fontsize=9)
    worst = int(np.nanargmin(y)) if np.isfinite(y).any() else None
    if worst is not None:
        ax.plot(x[worst], y[worst], marker="o", markersize=11, markerfacecolor="none",
                markeredgecolor=_BAD, markeredgewidth=2)
    ax.set_xlim(0, len(cols))
    span = np.nanmax(np.r_[y, high[ok]]) - np.nanmin(np.r_[y, low[ok]])
    pad = max(0.15 * span, 0.1)
    ax.set_ylim(np.nanmin(np.r_[y, low[ok]]) - pad, np.nanmax(np.r_[y, high[ok]]) + 2 * pad)
    ax.set_xticks([])
    ax.set_ylabel(label, fontsize=9)
    ax.text(0.005, 0.04, "experience curve per stage"
            + (" (band: 95% interval; circled: lowest)" if ok.any() else " (circled: lowest)"),
            transform=ax.transAxes, fontsize=8.5, color=_MUTED)


def future_state_map(
    metrics: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    stages: Sequence[str],
    labels: Mapping[str, str] | None = None,
    show: Sequence[str] = ("exit_rate", "conversion_rate", "csat_mean", "median_duration_s"),
    title: str = "Future-state map: measured now → target (gap)",
) -> plt.Figure:
    """The future-state map beside the measured one: per cell, each targeted metric as
    ``now → target`` with the gap, red where the touchpoint misses its target and green where
    it meets it. ``targets``: ``touchpoint`` plus metric columns (from
    :meth:`cjmlib.journeys.model.JourneyConfig.targets`). The cell colour is the share of its
    targets met; cells without targets are grey.
    """
    m = _one_row_per_touchpoint(metrics)
    if "touchpoint" not in targets.columns:
        raise ValueError(f"targets: missing column 'touchpoint'; found {list(targets.columns)}")
    cols, by_stage = _grid(m, stages)
    t = targets.set_index("touchpoint")
    shown = [s for s in show if s in t.columns and s in m.columns]
    rows = max(len(v) for v in by_stage.values())
    cell_h = 0.55 + 0.25 * max(len(shown), 1)
    fig = plt.figure(figsize=(FULL_WIDTH, rows * cell_h + 1.3), layout="constrained")
    gs = fig.add_gridspec(2, 1, height_ratios=[rows * cell_h, 0.25])
    ax = fig.add_subplot(gs[0])
    note = fig.add_subplot(gs[1])
    note.set_axis_off()
    info = m.set_index("touchpoint")
    for ci, stage in enumerate(cols):
        for ri, tp in enumerate(by_stage[stage]):
            row = info.loc[tp]
            x0, y0 = ci + 0.04, -(ri + 1) + 0.04
            lines, met, total = [], 0, 0
            for name in shown:
                target = t[name].get(tp, np.nan) if tp in t.index else np.nan
                now = row.get(name, np.nan)
                if pd.isna(target):
                    continue
                short, fmt, higher_better = _CELL_METRICS[name]
                ok = (now >= target) if higher_better else (now <= target)
                gap = now - target
                gap_txt = _gap_text(name, gap)
                now_txt = fmt.format(now) if pd.notna(now) else "–"
                lines.append((f"{short} {now_txt} → {fmt.format(target)} ({gap_txt})",
                              _GOOD if ok and pd.notna(now) else _BAD))
                total += 1
                met += int(bool(ok) and pd.notna(now))
            share = met / total if total else np.nan
            face = "#f2f2f2" if np.isnan(share) else plt.get_cmap("RdYlGn")(0.2 + 0.6 * share)
            ax.add_patch(FancyBboxPatch((x0, y0), 0.92, 0.92,
                                        boxstyle="round,pad=0,rounding_size=0.05",
                                        facecolor=face, alpha=0.35, edgecolor="#555555",
                                        linewidth=0.8))
            ax.text(x0 + 0.05, y0 + 0.84, _label(tp, labels), fontsize=9.5, fontweight="bold",
                    va="top", ha="left", color=_INK)
            if not lines:
                ax.text(x0 + 0.05, y0 + 0.62, "no target set", fontsize=8.5, va="top",
                        color=_MUTED)
            for k, (text, colour) in enumerate(lines):
                ax.text(x0 + 0.05, y0 + 0.62 - 0.16 * k * (4 / max(len(shown), 4)), text,
                        fontsize=8, va="top", ha="left", color=colour)
    _stage_grid_axes(ax, cols, rows)
    ax.set_title(title, loc="left")
    note.text(0, 0.5, "Orange: misses its target; green: meets it. Gaps of rates in percentage "
              "points, CSAT on 1..5, dwell in seconds. Cell colour: share of targets met.",
              fontsize=8.5, color=_MUTED, va="center")
    return fig


def _gap_text(name: str, gap: float) -> str:
    if pd.isna(gap):
        return "no data"
    if name.endswith("rate"):
        value, unit = 100 * gap, " pt"
        text = f"{value:+.0f}"
    elif name == "csat_mean":
        value, unit, text = gap, "", f"{gap:+.2f}"
    else:
        value, unit, text = gap, "", f"{gap:+.0f}"
    if text.lstrip("+-").strip("0.") == "":
        text = "±0" if name != "csat_mean" else "±0.00"
    return text + unit


def transition_graph(
    transitions: pd.DataFrame,
    *,
    stage_of: Mapping[str, str],
    stages: Sequence[str],
    labels: Mapping[str, str] | None = None,
    top: int = 15,
    title: str | None = None,
) -> plt.Figure:
    """The ``top`` directly-follows flows as a graph laid out by stage (left to right).

    Nodes are placed left to right by their longest path from ``(start)`` (a Sankey-like
    flow), each with its stage; arrow width is proportional to the count and each arrow is
    labelled with its transition probability. Forward flows are straight, backward flows
    (rework, e.g. a loop back to the basket) are curved. Self-transitions are listed under
    the graph instead of drawn.
    """
    t = transitions[transitions["source"] != transitions["target"]]
    t = t.sort_values("count", ascending=False).head(top)
    if t.empty:
        raise ValueError("transition_graph: no transitions to draw")
    nodes = list(dict.fromkeys([*t["source"], *t["target"]]))
    level = _flow_levels(t, nodes)
    n_levels = max(level.values()) + 1
    volume = {n: t.loc[(t["source"] == n) | (t["target"] == n), "count"].sum() for n in nodes}
    pos: dict[str, tuple[float, float]] = {}
    for c in range(n_levels):
        members = sorted([n for n in nodes if level[n] == c], key=lambda n: -volume[n])
        k = len(members)
        for i, n in enumerate(members):
            pos[n] = (float(c), (k - 1) / 2 - i)
    used = list(range(n_levels))
    height = 2.2 + 1.1 * max(len(ys_) for ys_ in [[n for n in nodes if level[n] == c]
                                                   for c in range(n_levels)])
    fig = plt.figure(figsize=(FULL_WIDTH, min(height, 8.0)), layout="constrained")
    gs = fig.add_gridspec(2, 1, height_ratios=[min(height, 8.0) - 0.3, 0.3])
    ax = fig.add_subplot(gs[0])
    note = fig.add_subplot(gs[1])
    note.set_axis_off()
    ys = [p[1] for p in pos.values()]
    ax.set_xlim(-0.6, len(used) - 0.4)
    ax.set_ylim(min(ys) - 0.9, max(ys) + 0.7)
    widest = float(t["count"].max())
    to_px, to_data = ax.transData.transform, ax.transData.inverted().transform
    for r in t.itertuples(index=False):
        (x1, y1), (x2, y2) = pos[r.source], pos[r.target]
        # forward to the next column: straight; skipping columns: arc over the nodes between;
        # backward or within a column (rework): arc the other way
        rad = (0.0 if x2 - x1 == 1 else -0.22 if x2 > x1 else 0.35 if x2 < x1 else 0.5)
        width = 1.0 + 8.0 * r.count / widest
        ax.add_patch(FancyArrowPatch((x1, y1), (x2, y2), connectionstyle=f"arc3,rad={rad}",
                                     arrowstyle="-|>", mutation_scale=10 + width,
                                     linewidth=width, color=_NEUTRAL, alpha=0.4,
                                     shrinkA=26, shrinkB=26, zorder=1))
        # label at the middle of the drawn curve (computed in pixels, as matplotlib does)
        (px1, py1), (px2, py2) = to_px((x1, y1)), to_px((x2, y2))
        mx, my = (px1 + px2) / 2, (py1 + py2) / 2
        cx, cy = mx + rad * (py2 - py1), my - rad * (px2 - px1)
        lx, ly = to_data(((mx + cx) / 2, (my + cy) / 2))
        if rad == 0.0:  # straight: a little towards the target so labels of fans separate
            lx, ly = to_data((0.5 * px1 + 0.5 * px2, 0.5 * py1 + 0.5 * py2))
        ax.text(lx, ly, f"{r.probability:.0%}", fontsize=8.5, ha="center", va="center",
                color=_INK, zorder=5,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85})
    for n, (x, y) in pos.items():
        face = "#eeeeee" if n in (_START, _END) else "white"
        text = n if n in (_START, _END) else f"{_label(n, labels)}\n{stage_of.get(n, '')}"
        ax.text(x, y, text, ha="center", va="center", fontsize=8.5, color=_INK, zorder=4,
                linespacing=1.1, bbox={"boxstyle": "round,pad=0.35", "fc": face,
                                       "ec": "#555555"})
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    repeats = transitions[transitions["source"] == transitions["target"]].sort_values(
        "count", ascending=False)
    repeats = repeats[repeats["probability"] >= 0.01].head(3)
    text = "; ".join(f"{_label(r.source, labels)} → itself {r.probability:.0%}"
                     for r in repeats.itertuples(index=False))
    note.text(0, 0.5, f"Top {len(t)} of {len(transitions)} flows. "
              + (f"Repeats not drawn: {text}." if text else ""), fontsize=8.5, color=_MUTED,
              va="center")
    ax.set_title(title or "Top flows between touchpoints (arrow width = count, label = "
                 "transition probability)", loc="left", fontsize=12)
    return fig


def _flow_levels(t: pd.DataFrame, nodes: list[str]) -> dict[str, int]:
    """Columns for a left-to-right flow layout: the longest path from ``(start)`` over the
    flows, taken by descending count and skipping any flow that would close a cycle (loops
    are drawn as backward arrows). ``(end)`` gets the last column."""
    succ: dict[str, list[str]] = {n: [] for n in nodes}

    def reaches(a: str, b: str) -> bool:
        stack, seen = [a], set()
        while stack:
            x = stack.pop()
            if x == b:
                return True
            if x not in seen:
                seen.add(x)
                stack.extend(succ[x])
        return False

    for r in t.sort_values("count", ascending=False).itertuples(index=False):
        if r.target != _START and r.source != _END and not reaches(r.target, r.source):
            succ[r.source].append(r.target)
    level = {n: 0 for n in nodes}
    for _ in range(len(nodes)):  # relax longest paths over the acyclic flows
        changed = False
        for a, targets in succ.items():
            for b in targets:
                if level[b] < level[a] + 1:
                    level[b] = level[a] + 1
                    changed = True
        if not changed:
            break
    if _END in level:
        level[_END] = max(v for k, v in level.items() if k != _END) + 1
    return level


def funnel_chart(funnel: pd.DataFrame, *, labels: Mapping[str, str] | None = None,
                 title: str = "Funnel") -> plt.Figure:
    """Journeys reaching each step (bars), with conversion from the previous step and its
    95% interval, and the drop-off between steps."""
    f = funnel.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 1.0 + 0.75 * len(f)), layout="constrained")
    y = np.arange(len(f))[::-1]
    count_col = "journeys" if "journeys" in f.columns else "customers"
    widths = f[count_col].to_numpy(dtype=float)
    colours = [_NEUTRAL] * len(f)
    ax.barh(y, widths, color=colours, alpha=0.85, height=0.62,
            hatch=["///" if s else None for s in f.get("small_cell", [False] * len(f))])
    biggest = widths.max() if len(widths) else 1
    for i, r in f.iterrows():
        text = f"{int(r[count_col]):,} {count_col}"
        if i > 0:
            text += (f"   {r['conversion_from_previous']:.0%} of previous "
                     f"[{r['conversion_from_previous_ci_low']:.0%}–"
                     f"{r['conversion_from_previous_ci_high']:.0%}]")
            if "drop_off" in r:
                text += f", −{int(r['drop_off']):,} dropped"
        ax.text(widths[i] + 0.01 * biggest, y[i], text, va="center", fontsize=9.5)
    ax.set_yticks(y)
    ax.set_yticklabels([_label(s, labels) for s in f["step"]], fontsize=10)
    ax.set_xlim(0, biggest * 1.75)
    ax.set_xlabel(count_col)
    ax.set_title(title, loc="left")
    return fig


def time_to_convert_chart(result: Any, *, horizon_s: float | None = None,
                          title: str = "Time to convert (Kaplan-Meier, censored)"
                          ) -> plt.Figure:
    """Cumulative share converted over time with its 95% band, from a
    :class:`cjmlib.journeys.funnel.TimeToConvert`, on a logarithmic time axis (minutes to weeks) so
    that quick and slow conversions both show."""
    curve = result.conversion_curve()
    curve = curve[curve["time_s"] > 0]
    if horizon_s is not None:
        curve = curve[curve["time_s"] <= horizon_s]
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4.2), layout="constrained")
    x = curve["time_s"].clip(lower=1.0)
    ax.step(x, curve["converted_share"], where="post", color=_NEUTRAL, linewidth=2)
    ax.fill_between(x, curve["ci_low"], curve["ci_high"], step="post", color=_NEUTRAL,
                    alpha=0.15, linewidth=0)
    ax.set_xscale("log")
    ticks = [(60, "1 min"), (600, "10 min"), (3600, "1 h"), (6 * 3600, "6 h"),
             (86400, "1 day"), (7 * 86400, "7 days"), (30 * 86400, "30 days")]
    lo, hi = float(x.min()) if len(x) else 1.0, float(x.max()) if len(x) else 86400.0
    shown = [(v, k) for v, k in ticks if lo / 3 <= v <= hi * 3]
    ax.set_xticks([v for v, _ in shown], [k for _, k in shown])
    ax.minorticks_off()
    ax.set_xlabel(f"time since {result.start or 'journey start'} (log scale)")
    ax.set_ylabel("share converted")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    ax.set_title(f"{title}: {result.journeys:,} journeys, {result.conversions:,} conversions, "
                 f"{result.censored:,} censored", loc="left", fontsize=12)
    return fig


def priority_chart(metrics: pd.DataFrame, *, labels: Mapping[str, str] | None = None,
                   weights: Mapping[str, float] | None = None, top: int = 10,
                   title: str = "Pain points by priority score") -> plt.Figure:
    """Top touchpoints by ``priority_score``, each bar split into the weighted contribution
    of its signals (exit, loop, time, CSAT, NPS, sentiment), scaled by its impact factor.
    ``weights``: the weights the score was computed with (default the module's)."""
    from cjmlib.journeys.touchpoints import PRIORITY_WEIGHTS

    m = _one_row_per_touchpoint(metrics).dropna(subset=["priority_score"])
    m = m.sort_values("priority_score", ascending=False).head(top).iloc[::-1]
    if m.empty:  # e.g. one touchpoint that is also the conversion: nothing to rank
        return empty_chart(title, "no touchpoint has a priority score (no exits, loops or "
                                   "feedback to score)")
    names = [n for n in PRIORITY_WEIGHTS if f"signal_{n}" in m.columns]
    weights = pd.Series({**PRIORITY_WEIGHTS, **dict(weights or {})})
    present = m[[f"signal_{n}" for n in names]].notna().to_numpy()
    den = (present * weights[names].to_numpy()).sum(axis=1)
    factor = (0.5 + 0.5 * m["impact"].fillna(0)).to_numpy() if "impact" in m else 1.0
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 1.2 + 0.45 * len(m)), layout="constrained")
    left = np.zeros(len(m))
    palette = dict(zip(["exit", "loop", "time", "csat", "nps", "sentiment"],
                       ["#D55E00", "#E69F00", "#F0E442", "#0072B2", "#56B4E9", "#CC79A7"],
                       strict=True))
    y = np.arange(len(m))
    for n in names:
        part = (100 * m[f"signal_{n}"].fillna(0).to_numpy() * weights[n] / np.where(den > 0, den, 1)
                * factor)
        ax.barh(y, part, left=left, color=palette.get(n, _MUTED), label=n, height=0.65)
        left += part
    for yi, (score, small) in enumerate(zip(m["priority_score"], m.get("small_cell", [False] * len(m)),
                                            strict=True)):
        ax.text(score + 0.5, yi, f"{score:.0f}{' *' if small else ''}", va="center",
                fontsize=9.5)
    ax.set_yticks(y)
    ax.set_yticklabels([_label(t, labels) for t in m["touchpoint"]], fontsize=10)
    ax.set_xlabel("priority score (0–100) = 100 × pain × (0.5 + 0.5 × impact)")
    ax.legend(ncols=len(names), loc="lower right", fontsize=9, frameon=True)
    ax.set_xlim(0, max(float(m["priority_score"].max()) * 1.12, 10))
    ax.set_title(title, loc="left")
    return fig


def importance_performance_chart(grid: pd.DataFrame, *,
                                 labels: Mapping[str, str] | None = None,
                                 importance_label: str = "importance: removal effect",
                                 performance_label: str = "performance: CSAT (1..5)",
                                 title: str = "Importance-performance grid") -> plt.Figure:
    """Touchpoints on the importance-performance grid (Martilla & James 1977) from
    :func:`cjmlib.journeys.touchpoints.importance_performance`, quadrants split at the lines drawn."""
    g = grid[grid["quadrant"] != "not rated"]
    if g.empty:
        return empty_chart(title, "no touchpoint has both an importance (removal effect) and a "
                                  "performance")
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 6.5), layout="constrained")
    colours = {"concentrate here": _BAD, "keep up the good work": _GOOD,
               "low priority": _MUTED, "possible overkill": _NEUTRAL}
    for quadrant, part in g.groupby("quadrant"):
        ax.scatter(part["importance"], part["performance"], s=70, color=colours[quadrant],
                   label=quadrant, zorder=3, edgecolor="white")
    for r in g.itertuples(index=False):
        ax.annotate(_label(r.touchpoint, labels), (r.importance, r.performance),
                    textcoords="offset points", xytext=(6, 4), fontsize=9)
    isplit, psplit = float(g["importance_split"].iloc[0]), float(g["performance_split"].iloc[0])
    ax.axvline(isplit, color=_MUTED, linestyle="--", linewidth=1)
    ax.axhline(psplit, color=_MUTED, linestyle="--", linewidth=1)
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    kw = {"fontsize": 10, "color": _MUTED, "fontweight": "bold"}
    ax.text(xmax, ymin, "CONCENTRATE HERE", ha="right", va="bottom", **kw)
    ax.text(xmax, ymax, "KEEP UP THE GOOD WORK", ha="right", va="top", **kw)
    ax.text(xmin, ymin, "LOW PRIORITY", ha="left", va="bottom", **kw)
    ax.text(xmin, ymax, "POSSIBLE OVERKILL", ha="left", va="top", **kw)
    ax.set_xlabel(importance_label)
    ax.set_ylabel(performance_label)
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    ax.set_title(title, loc="left")
    return fig


def channel_switch_chart(outcomes: pd.DataFrame, *, top: int = 8,
                         title: str | None = None) -> plt.Figure:
    """Outcome rate of switchers versus stayers for the ``top`` channel switches (by number
    of switchers), with their Wilson intervals (at the table's ``1 - alpha``); from
    :func:`cjmlib.journeys.channels.switching_outcomes`. Rates of exactly 0 or 1 draw an
    interval on one side only."""
    o = outcomes.sort_values("switchers", ascending=False).head(top).iloc[::-1]
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 1.2 + 0.5 * len(o)), layout="constrained")
    y = np.arange(len(o))
    for off, prefix, colour, name in ((0.15, "switcher", _BAD, "made the switch"),
                                      (-0.15, "stayer", _MUTED, "did not")):
        rate = o[f"{prefix}_rate"].to_numpy()
        err = error_bars(rate, o[f"{prefix}_rate_ci_low"], o[f"{prefix}_rate_ci_high"])
        ax.errorbar(rate, y + off, xerr=err, fmt="o", color=colour, label=name, capsize=3)
    ax.set_yticks(y)
    ax.set_yticklabels([f"{a} → {b} (n={n:,}){' *' if s else ''}" for a, b, n, s in
                        zip(o["from_channel"], o["to_channel"], o["switchers"], o["small_cell"],
                            strict=True)], fontsize=9.5)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
    outcome = str(o["outcome"].iloc[0]) if len(o) else "outcome"
    alpha = float(o["alpha"].iloc[0]) if "alpha" in o.columns and len(o) else 0.05
    ax.set_xlabel(f"share of customers with {outcome} ({100 * (1 - alpha):.3g}% Wilson "
                  "interval)")
    ax.legend(loc="lower right", fontsize=9)
    ax.set_title(title or f"Channel switches: {outcome} of switchers vs the other customers",
                 loc="left", fontsize=12)
    return fig


def _stage_grid_axes(ax: plt.Axes, cols: Sequence[str], rows: int) -> None:
    """Axes of a journey-map grid: stages as column headings on top, no frame or y ticks."""
    ax.set_xlim(0, len(cols))
    ax.set_ylim(-rows, 0)
    ax.set_xticks(np.arange(len(cols)) + 0.5)
    ax.set_xticklabels([c.capitalize() for c in cols], fontsize=11, fontweight="bold")
    ax.xaxis.tick_top()
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
