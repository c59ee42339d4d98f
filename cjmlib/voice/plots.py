"""Figures of the voice of the customer: survey metrics, trends, benchmark, sentiment, themes,
experience curve, key drivers and segments.

Each function takes a table from :mod:`cjmlib.voice.surveys`, :mod:`cjmlib.voice.sentiment`,
:mod:`cjmlib.voice.themes`, :mod:`cjmlib.voice.drivers` or :mod:`cjmlib.voice.segments` and returns a
matplotlib ``Figure`` (never shown or saved here), sized for :data:`cjmlib.core.figures.FULL_WIDTH`.
Intervals are drawn as error bars or bands; every panel says its n.

Chinese text needs a CJK font. When none is installed, figures leave Chinese terms out and
say so in the title (the tables still hold them): drawing them would only show empty boxes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from cjmlib.core.figures import FULL_WIDTH, error_bars, find_cjk_font

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
_OURS, _OTHER, _BAD, _GOOD = "#0072B2", "#999999", "#D55E00", "#009E73"


def _text_ok(text: str) -> bool:
    return find_cjk_font() is not None or not _CJK.search(str(text))


def _fontfamily() -> list[str] | None:
    font = find_cjk_font()
    return [plt.rcParams["font.family"][0] if isinstance(plt.rcParams["font.family"], list)
            else plt.rcParams["font.family"], font] if font else None


def _label(name: str, labels: Mapping[str, str] | None) -> str:
    return (labels or {}).get(name, str(name).replace("_", " "))


# --------------------------------------------------------------------------------------------
# Survey metrics
# --------------------------------------------------------------------------------------------


def survey_metrics_plot(metrics: pd.DataFrame, *, level: str = "touchpoint",
                        labels: Mapping[str, str] | None = None,
                        highlight: Sequence[str] = ()) -> plt.Figure:
    """CSAT mean and NPS per group of one ``level`` of :func:`cjmlib.voice.surveys.survey_metrics`,
    with 95% intervals, lowest CSAT at the bottom; ``highlight`` groups are drawn in orange."""
    m = metrics[metrics["level"] == level].sort_values("csat_mean")
    if m.empty:
        raise ValueError(f"survey metrics: no rows of level {level!r}; found levels "
                         f"{sorted(metrics['level'].unique())}")
    height = max(3.5, 0.38 * len(m) + 1.5)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(FULL_WIDTH, height), sharey=True)
    y = np.arange(len(m))
    colours = [_BAD if g in highlight else _OURS for g in m["group"]]
    ax1.errorbar(m["csat_mean"], y, xerr=error_bars(m["csat_mean"], m["csat_ci_low"],
                                                 m["csat_ci_high"]),
                 fmt="none", ecolor="#555555", capsize=3)
    ax1.scatter(m["csat_mean"], y, c=colours, zorder=3)
    ax1.set_yticks(y, [f"{_label(g, labels)} (n={n})" for g, n in zip(m["group"], m["n_csat"],
                                                                      strict=True)])
    ax1.set_xlabel("CSAT mean (1-5), 95% CI")
    ax1.set_xlim(0.9, 5.1)
    ax2.errorbar(m["nps"], y, xerr=error_bars(m["nps"], m["nps_ci_low"], m["nps_ci_high"]),
                 fmt="none", ecolor="#555555", capsize=3)
    ax2.scatter(m["nps"], y, c=colours, zorder=3)
    ax2.axvline(0, color="#333333", lw=0.8)
    ax2.set_xlabel("NPS (-100 to 100), 95% CI")
    ax2.set_xlim(-105, 105)
    fig.suptitle(f"Post-interaction survey by {level}", fontweight="bold")
    fig.tight_layout()
    return fig


def trend_plot(trend: pd.DataFrame, *, title: str = "Survey scores over time") -> plt.Figure:
    """CSAT mean and NPS per period of :func:`cjmlib.voice.surveys.survey_trend` with 95% bands
    (one line per group)."""
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(FULL_WIDTH, 6), sharex=True)
    for group, g in trend.groupby("group", sort=True):
        x = pd.to_datetime(g["period"]).dt.tz_localize(None) \
            if getattr(pd.to_datetime(g["period"]).dt, "tz", None) is not None \
            else pd.to_datetime(g["period"])
        line = ax1.plot(x, g["csat_mean"], marker="o", label=str(group))[0]
        ax1.fill_between(x, g["csat_ci_low"], g["csat_ci_high"], color=line.get_color(),
                         alpha=0.2)
        ax2.plot(x, g["nps"], marker="o", color=line.get_color())
        ax2.fill_between(x, g["nps_ci_low"], g["nps_ci_high"], color=line.get_color(),
                         alpha=0.2)
    ax1.set_ylabel("CSAT mean (95% CI)")
    ax2.set_ylabel("NPS (95% CI)")
    ax2.axhline(0, color="#333333", lw=0.8)
    if trend["group"].nunique() > 1:
        ax1.legend(loc="best")
    ax1.set_title(f"{title} (n per period: {int(trend['n'].min())} to {int(trend['n'].max())})")
    fig.autofmt_xdate()
    fig.tight_layout()
    return fig


def benchmark_plot(bench: pd.DataFrame, *, labels: Mapping[str, str] | None = None,
                   alpha: float = 0.05) -> plt.Figure:
    """CSAT per touchpoint for our brand and each competitor (95% CI), from
    :func:`cjmlib.voice.surveys.benchmark`; a star marks a gap to ours with Holm-adjusted p <
    ``alpha``."""
    b = bench[bench["level"] != "overall"]
    groups = sorted(b["group"].unique())
    brands = list(b.loc[b["is_ours"], "brand"].unique()) + sorted(
        b.loc[~b["is_ours"], "brand"].unique())
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, max(3.5, 0.7 * len(groups) + 1.5)))
    width = 0.8 / len(brands)
    palette = [_OURS, "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#999999"]
    for i, brand in enumerate(brands):
        rows = b[b["brand"] == brand].set_index("group").reindex(groups)
        y = np.arange(len(groups)) + (i - (len(brands) - 1) / 2) * width
        ax.errorbar(rows["csat_mean"], y, xerr=error_bars(rows["csat_mean"], rows["csat_ci_low"],
                                                       rows["csat_ci_high"]),
                    fmt="o", color=palette[i % len(palette)], capsize=3,
                    label=f"{brand}{' (ours)' if brand == brands[0] else ''}")
        for yy, (_, r) in zip(y, rows.iterrows(), strict=True):
            if not r["is_ours"] and r["csat_gap_p_adjusted"] < alpha:
                ax.annotate("*", (r["csat_ci_high"], yy), xytext=(4, -4),
                            textcoords="offset points", fontsize=13)
    n = int(b["n_csat"].min())
    ax.set_yticks(np.arange(len(groups)), [_label(g, labels) for g in groups])
    ax.set_xlabel("CSAT mean (1-5), 95% CI")
    ax.set_title(f"Market benchmark (n >= {n} per brand and touchpoint; * gap to ours, Holm "
                 f"p < {alpha:g})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=len(brands),
              frameon=False)
    ax.invert_yaxis()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Sentiment and themes
# --------------------------------------------------------------------------------------------


def sentiment_calibration_plot(by_score: pd.DataFrame, *, score_col: str = "csat",
                               language_names: Mapping[str, str] | None = None) -> plt.Figure:
    """Mean sentiment (95% CI) per survey score and language: how well sentiment tracks what
    customers scored (``SentimentCalibration.by_score``)."""
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4.5))
    names = {"en": "English", "zh": "Chinese", **dict(language_names or {})}
    langs = sorted(by_score["language"].unique())
    for i, lang in enumerate(langs):
        g = by_score[by_score["language"] == lang]
        x = g[score_col].to_numpy(float) + (i - (len(langs) - 1) / 2) * 0.08
        ax.errorbar(x, g["sentiment_mean"], yerr=error_bars(g["sentiment_mean"],
                                                         g["sentiment_ci_low"],
                                                         g["sentiment_ci_high"]),
                    fmt="o-", capsize=3, label=f"{names.get(lang, lang)} (n={int(g['n'].sum())})")
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_xlabel(f"{score_col.upper()} given with the comment")
    ax.set_ylabel("mean sentiment (-1 to 1), 95% CI")
    ax.set_title("Comment sentiment against the survey score of the same response")
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def themes_plot(themes: pd.DataFrame, *, group: str, level: str | None = None,
                direction: str = "negative", top: int = 10) -> plt.Figure:
    """Share of a group's negative (or positive) comments mentioning each theme term (Wilson
    95% CI), one panel per language, from :func:`cjmlib.voice.themes.themes`."""
    t = themes[(themes["group"] == group) & (themes["direction"] == direction)]
    if level is not None:
        t = t[t["level"] == level]
    if t.empty:
        raise ValueError(f"themes: no {direction} terms for group {group!r}")
    hidden = 0
    if find_cjk_font() is None:
        keep = t["term"].map(_text_ok)
        hidden = int((~keep).sum())
        t = t[keep]
    langs = sorted(t["language"].unique()) or ["(none)"]
    fig, axes = plt.subplots(1, len(langs), figsize=(FULL_WIDTH, max(3.5, 0.4 * top + 1.5)),
                             squeeze=False)
    family = _fontfamily()
    for ax, lang in zip(axes[0], langs, strict=True):
        g = t[t["language"] == lang].sort_values("rank").head(top)
        y = np.arange(len(g))
        colour = _BAD if direction == "negative" else _GOOD
        ax.barh(y, g["share"], color=colour, alpha=0.8,
                xerr=error_bars(g["share"], g["share_ci_low"], g["share_ci_high"]), capsize=3)
        ax.set_yticks(y, g["term"], fontfamily=family)
        ax.invert_yaxis()
        n = int(g["n_comments"].iloc[0]) if len(g) else 0
        ax.set_xlabel(f"share of {direction} comments (n={n}), 95% CI")
        ax.set_title(f"language: {lang}")
    title = f"{direction.capitalize()} themes: {group}"
    if hidden:
        title += f" ({hidden} Chinese terms are in the table; no CJK font installed)"
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def experience_curve_plot(curve: pd.DataFrame) -> plt.Figure:
    """Emotion per journey stage (-1 to 1, 95% band) with CSAT rescaled and sentiment, from
    :func:`cjmlib.voice.surveys.experience_curve`."""
    c = curve.sort_values("order")
    x = np.arange(len(c))
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 4.5))
    ax.plot(x, c["emotion"], marker="o", lw=2.5, color=_OURS, label="emotion (combined)")
    ax.fill_between(x, c["emotion_ci_low"], c["emotion_ci_high"], color=_OURS, alpha=0.2)
    ax.plot(x, (c["csat_mean"] - 3) / 2, marker="s", ls="--", color="#E69F00",
            label="CSAT rescaled (csat - 3) / 2")
    if c["n_sentiment"].sum() > 0:
        ax.plot(x, c["sentiment_mean"], marker="^", ls=":", color="#CC79A7",
                label="comment sentiment")
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_xticks(x, [f"{s}\n(n={n})" for s, n in zip(c["stage"], c["n"], strict=True)])
    ax.set_ylim(-1, 1)
    ax.set_ylabel("negative  <-  emotion  ->  positive")
    ax.set_title("Experience curve by journey stage (95% CI)")
    ax.legend(loc="lower left")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Key drivers
# --------------------------------------------------------------------------------------------


def drivers_plot(table: pd.DataFrame, *, title: str | None = None,
                 labels: Mapping[str, str] | None = None) -> plt.Figure:
    """Share of explained variance per driver with bootstrap 95% intervals
    (``KeyDriverResult.to_pandas()``)."""
    t = table.sort_values("share", ascending=True)
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, max(3.5, 0.45 * len(t) + 1.5)))
    y = np.arange(len(t))
    colours = [_BAD if r == 1 else _OURS for r in t["rank"]]
    ax.barh(y, t["share"], color=colours, alpha=0.85,
            xerr=error_bars(t["share"], t["share_ci_low"], t["share_ci_high"]), capsize=3)
    ax.set_yticks(y, [_label(d, labels) for d in t["driver"]])
    ax.set_xlabel("share of explained variance ($R^2$), bootstrap 95% CI")
    head = t.iloc[0]
    ax.set_title(title or f"Key drivers of {head['outcome']} ({head['method'].replace('_', ' ')}, "
                 f"$R^2$ = {head['r2']:.2f}, n = {int(head['n'])})")
    fig.tight_layout()
    return fig


def importance_performance_plot(ipa: pd.DataFrame, *,
                                labels: Mapping[str, str] | None = None) -> plt.Figure:
    """Importance-performance grid (Martilla & James 1977) from
    :func:`cjmlib.voice.drivers.importance_performance`, with both intervals."""
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 6))
    ax.errorbar(ipa["performance"], ipa["share"],
                xerr=error_bars(ipa["performance"], ipa["performance_ci_low"],
                             ipa["performance_ci_high"]),
                yerr=error_bars(ipa["share"], ipa["share_ci_low"], ipa["share_ci_high"]),
                fmt="o", color=_OURS, ecolor="#777777", capsize=3)
    for _, r in ipa.iterrows():
        ax.annotate(_label(r["driver"], labels), (r["performance"], r["share"]),
                    xytext=(6, 6), textcoords="offset points")
    ax.margins(x=0.15, y=0.1)
    ax.axvline(ipa["performance_cut"].iloc[0], color="#333333", lw=0.8, ls="--")
    ax.axhline(ipa["importance_cut"].iloc[0], color="#333333", lw=0.8, ls="--")
    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    corners = {"concentrate here": (x0, y1, "left", "top"),
               "keep up the good work": (x1, y1, "right", "top"),
               "low priority": (x0, y0, "left", "bottom"),
               "possible overkill": (x1, y0, "right", "bottom")}
    for text, (x, y, ha, va) in corners.items():
        ax.text(x, y, text, ha=ha, va=va, color="#777777", fontsize=10, style="italic")
    ax.set_xlabel("performance: mean satisfaction with the touchpoint (1-5), 95% CI")
    ax.set_ylabel("importance: share of explained variance")
    ax.set_title(f"Importance-performance: {ipa['outcome'].iloc[0]}")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# Segments
# --------------------------------------------------------------------------------------------


def k_selection_plot(table: pd.DataFrame, *, min_stability: float | None = None) -> plt.Figure:
    """Silhouette (+- sd over seeds) and stability (mean ARI between seeds) per k, from
    :func:`cjmlib.voice.segments.choose_k`; the chosen k is marked."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(FULL_WIDTH, 4))
    ax1.errorbar(table["k"], table["silhouette"], yerr=table["silhouette_sd"].fillna(0),
                 marker="o", capsize=3, color=_OURS)
    ax2.plot(table["k"], table["stability"], marker="o", color=_OURS, label="mean")
    ax2.plot(table["k"], table["stability_min"], marker=".", ls=":", color=_OTHER,
             label="worst pair")
    if min_stability is not None:
        ax2.axhline(min_stability, color=_BAD, lw=0.8, ls="--", label="required")
    chosen = table.loc[table["chosen"], "k"]
    for ax in (ax1, ax2):
        for k in chosen:
            ax.axvline(k, color=_BAD, lw=1.2, alpha=0.6)
        ax.set_xlabel("number of segments k")
        ax.set_xticks(table["k"])
    ax1.set_ylabel("mean silhouette")
    ax2.set_ylabel("stability (adjusted Rand index)")
    ax2.set_ylim(0, 1.05)
    ax2.legend(loc="lower left")
    fig.suptitle(f"Choosing k: k = {', '.join(str(int(k)) for k in chosen)}",
                 fontweight="bold")
    fig.tight_layout()
    return fig


def persona_profile_plot(profile: pd.DataFrame, features: Sequence[str]) -> plt.Figure:
    """Heat map of segment means in standard deviations from all customers (z), with the
    mean in original units written in each cell (``Segmentation.profile``)."""
    import textwrap

    from cjmlib.voice.segments import feature_label

    z = profile.set_index("persona")[[f"z_{f}" for f in features]]
    z.columns = [feature_label(f) for f in features]
    raw = profile.set_index("persona")[list(features)]
    fig, ax = plt.subplots(figsize=(FULL_WIDTH, 0.6 * len(features) + 2.6))
    lim = max(1.0, float(np.nanmax(np.abs(z.to_numpy()))))
    im = ax.imshow(z.T.to_numpy(), cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    width = max(12, int(70 / max(len(z), 1)))
    ax.set_xticks(range(len(z)), [textwrap.fill(f"{n} ({c} customers)", width) for n, c in zip(
        profile["persona_name"], profile["customers"], strict=True)], fontsize=9)
    ax.set_yticks(range(len(features)), z.columns)
    for i in range(len(z)):
        for j, f in enumerate(features):
            v = raw.iloc[i][f]
            dark = abs(z.iloc[i, j]) > 0.6 * lim
            ax.text(i, j, f"{v:.2f}" if abs(v) < 10 else f"{v:.0f}", ha="center", va="center",
                    fontsize=9, color="white" if dark else "black")
    fig.colorbar(im, ax=ax, label="z-score of the segment mean")
    ax.set_title("Segment profiles (cell: segment mean; colour: z against all customers)")
    ax.grid(False)
    fig.tight_layout()
    return fig
