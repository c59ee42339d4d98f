"""Report section "What changed, and for whom", and its executive-summary findings.

Reads 02's ``journeys_changes`` (shifts, episodes, bursts and fade-outs found over time
without dates), ``journeys_period_comparison`` (flows before and after the middle of the data),
``journeys_segment_differences`` and ``journeys_segment_levels`` (segments that convert
differently) and ``journeys_acquisition`` (new and returning customers). Only differences
beyond chance are stated as findings (adjusted p below the table's alpha), strongest first;
every number carries its denominator and interval.
"""

from __future__ import annotations

import pandas as pd

from cjmlib.journeys.changes import BURST_KPIS, COUNT_KPIS, KPI_NAMES
from cjmlib.report.context import ReportContext
from cjmlib.report.document import figure_html, table_html
from cjmlib.report.findings import Finding
from cjmlib.report.text import escape, finite, integer, num, p_text, pct

_UNIT = {"zh": {"day": "天", "week": "周", "month": "月"}}


def _unit(ctx: ReportContext, unit: str) -> str:
    return _UNIT.get(ctx.lang.code, {}).get(unit, unit)


def _split(frame: pd.DataFrame) -> str:
    return f"{pd.Timestamp(frame['split'].iloc[0]):%Y-%m-%d}"


def _flow(ctx: ReportContext, r: dict) -> str:
    return f"{ctx.lang.tp(r['source'])} → {ctx.lang.tp(r['target'])}"


def _significant_flows(pc: pd.DataFrame) -> pd.DataFrame:
    alpha = float(pc["alpha"].iloc[0]) if "alpha" in pc.columns else 0.05
    hits = pc[pc["p_value_adjusted"] < alpha]
    return hits.reindex(hits["difference"].abs().sort_values(ascending=False).index)


def _differing_segments(ranking: pd.DataFrame) -> pd.DataFrame:
    return ranking[ranking["differs"].fillna(False).astype(bool)].sort_values(
        "cramers_v", ascending=False)


_KPI_ZH = {"exit_rate": "退出率", "conversion_rate": "转化率",
           "transition_probability": "流转占比", "time_median": "慢于通常中位数的步骤占比",
           "time_p90": "慢于通常第 90 百分位的步骤占比", "arrivals": "开始的旅程数",
           "channel_share": "事件占比", "new_customers": "每天的新客户数",
           "arrivals_per_day": "每天开始的旅程数",
           "csat_satisfied": "满意回答占比（CSAT 4-5）", "nps_promoters": "推荐者占比（NPS 9-10）",
           "nps_detractors": "贬损者占比（NPS 0-6）"}


def change_sentence(ctx: ReportContext, r: dict) -> str:
    """One change found over time, in the report's language (escaped HTML)."""
    if ctx.lang.code != "zh":
        return escape(str(r["sentence"]))
    count = r["kpi"] in COUNT_KPIS

    def level(v: float) -> str:
        return num(v) if count else pct(v, 2 if 0 < abs(float(v)) < 0.01 else 1)

    def diff(v: float) -> str:
        return num(v, signed=True) if count else ctx.lang.pp(v)

    what = _KPI_ZH.get(str(r["kpi"]), str(r["kpi"]))
    group = "" if count else f"{ctx.lang.tp(r['group'])} 的"
    start = f"{pd.Timestamp(r['start']):%Y-%m-%d}"
    end = r.get("end")
    when = (f"{start} 起" if end is None or pd.isna(end)
            else f"{start} 至 {pd.Timestamp(end) - pd.Timedelta(days=1):%Y-%m-%d}")
    kind = str(r["kind"])
    verb = "升至" if kind.endswith("up") or kind == "burst" else "降至"
    if kind.startswith("shift") or kind == "fade_out":
        head = f"{group}{what}自 {start} 起从 {level(r['reference'])}{verb} {level(r['changed'])}"
        if kind == "fade_out":
            head = f"{ctx.lang.tp(r['group'])} 渠道逐渐消失：{head}"
    else:
        other = "按前后几天预期为" if r["kpi"] in BURST_KPIS else "其余时间为"
        head = f"{when}，{group}{what}{verb} {level(r['changed'])}，{other} {level(r['reference'])}"
    lo, hi = diff(r["ci_low"]), diff(r["ci_high"])
    return escape(f"{head}（{diff(r['difference'])}，{ctx.interval('changes')['ci_label']} {lo} 至 "
                  f"{hi}；校正后 p {float(r['p_adjusted']):.2g}）。")


#: Changes drawn in the report (strongest first); the rest are listed.
CHARTED_CHANGES = 4


def change_title(ctx: ReportContext, r: dict) -> str:
    """Chart title of one change: the KPI and its group, in the report's language."""
    kpi = str(r["kpi"])
    if ctx.lang.code == "zh":
        what = _KPI_ZH.get(kpi, kpi)
    else:
        what = KPI_NAMES.get(kpi, kpi)
        what = what[0].upper() + what[1:]
    group = "" if kpi in COUNT_KPIS else f": {r['group']}"
    return f"{what}{group}"


def change_figures(ctx: ReportContext, ch: pd.DataFrame) -> list[str]:
    """Charts of the strongest changes: the series by period, the changed window shaded,
    its level inside and outside, and the configured rollouts in its span."""
    values = ctx.tables.get("change_values")
    if values is None or values.empty:
        return []
    from cjmlib.report import plots as figs

    marks = [(r.name, r.date) for r in ctx.rollouts]
    out = []
    for r in ch.head(CHARTED_CHANGES).to_dict("records"):
        words = {"window": ctx.t("change_window"), "outside": ctx.t("change_outside"),
                 "inside": ctx.t("change_inside"), "seconds": ctx.t("seconds"),
                 "count": ctx.t("per_unit", unit=_unit(ctx, str(r.get("period_unit")
                                                               or "week")))}
        title = change_title(ctx, r)
        try:
            fig = figs.change_chart(values, r, title=title, rollouts=marks, words=words)
        except ValueError:  # a run folder whose values table lacks this series
            continue
        out.append(figure_html(figs.figure_data_uri(fig), alt=title))
    return out


def section_changes(ctx: ReportContext) -> str:
    pc, rk = ctx.tables.get("period_comparison"), ctx.tables.get("segment_differences")
    lv, acq = ctx.tables.get("segment_levels"), ctx.tables.get("acquisition")
    ch = ctx.tables.get("changes")
    if all(t is None or t.empty for t in (pc, rk, acq)) and ch is None:
        return ctx.missing_note("period_comparison")
    split = _split(pc) if pc is not None and len(pc) else "–"
    out = [f"<p>{escape(ctx.t('changes_intro', split=split))}</p>"]
    if ch is not None:
        out.append(f"<h3>{escape(ctx.t('changes_title'))}</h3>")
        if ch.empty:
            out.append(f"<p>{escape(ctx.t('no_changes'))}</p>")
        else:
            out.append('<ul class="findings">' + "".join(
                f"<li>{change_sentence(ctx, r)}</li>" for r in ch.head(10).to_dict("records"))
                + "</ul>")
            out.extend(change_figures(ctx, ch))
    level = ctx.interval("period_comparison")
    if pc is not None and len(pc):
        out.append(f"<h3>{escape(ctx.t('flows_title', split=split))}</h3>")
        hits = _significant_flows(pc)
        if hits.empty:
            out.append(f"<p>{escape(ctx.t('no_flow_changes', split=split, n=len(pc)))}</p>")
        else:
            rows = [[escape(_flow(ctx, r)),
                     f"{pct(r['probability_before'])} ({integer(r['source_count_before'])})",
                     f"{pct(r['probability_after'])} ({integer(r['source_count_after'])})",
                     ctx.lang.pp(r["difference"]),
                     f"{ctx.lang.pp(r['ci_low'])} … {ctx.lang.pp(r['ci_high'])}",
                     p_text(r["p_value_adjusted"])]
                    for r in hits.head(8).to_dict("records")]
            out.append(table_html([ctx.t("flow"), ctx.t("before"), ctx.t("after"),
                                   ctx.t("difference"), ctx.t("ci_header", **level),
                                   ctx.t("p_adjusted")], rows, numeric=(1, 2, 3, 4, 5)))
    if rk is not None and len(rk):
        out.append(f"<h3>{escape(ctx.t('segments_title'))}</h3>")
        hits = _differing_segments(rk)
        if hits.empty:
            out.append(f"<p>{escape(ctx.t('no_segment_changes', n=len(rk)))}</p>")
        else:
            rows = []
            for r in hits.head(6).to_dict("records"):
                low = _level(lv, r["column"], r["lowest"])
                high = _level(lv, r["column"], r["highest"])
                rows.append([escape(str(r["column"])),
                             f"{escape(str(r['lowest']))}: {_rate(low)}",
                             f"{escape(str(r['highest']))}: {_rate(high)}",
                             num(r["cramers_v"]), p_text(r["p_value_adjusted"])])
            out.append(table_html([ctx.t("segment"), ctx.t("lowest"), ctx.t("highest"),
                                   ctx.t("cramers_v"), ctx.t("p_adjusted")], rows,
                                  numeric=(3, 4)))
    if acq is not None and len(acq):
        out.append(f"<h3>{escape(ctx.t('acq_title'))}</h3>")
        out.append(f"<p>{acquisition_text(ctx, acq)}</p>")
    return "".join(out)


def _level(levels: pd.DataFrame | None, column: str, level: str) -> dict | None:
    if levels is None:
        return None
    rows = levels[(levels["column"] == column) & (levels["level"].astype(str) == str(level))]
    return rows.iloc[0].to_dict() if len(rows) else None


def _rate(r: dict | None) -> str:
    if r is None:
        return "–"
    return (f"{pct(r['conversion_rate'])} ({pct(r['conversion_rate_ci_low'])}–"
            f"{pct(r['conversion_rate_ci_high'])}; n = {integer(r['journeys'])})")


def acquisition_text(ctx: ReportContext, acq: pd.DataFrame) -> str:
    """New and returning customers in one or two sentences (escaped HTML)."""
    unit = str(acq["period_unit"].iloc[0])
    new, ret = acq["new_converted"].sum(), acq["returning_converted"].sum()
    nj, rj = acq["new_journeys"].sum(), acq["returning_journeys"].sum()
    from cjmlib.stats.intervals import wilson_interval

    alpha = float(acq["alpha"].iloc[0]) if "alpha" in acq.columns else 0.05
    nlo, nhi = wilson_interval(float(new), float(nj), alpha=alpha)
    rlo, rhi = wilson_interval(float(ret), float(rj), alpha=alpha)
    if not rj:  # customer journeys: one per customer, nobody returns within the data
        text = ctx.t("acq_customers", customers=integer(acq["new_customers"].sum()),
                     periods=integer(len(acq)), unit=_unit(ctx, unit))
    else:
        text = ""
    text = text or ctx.t("acq_line", customers=integer(acq["new_customers"].sum()),
                 nj=integer(nj), rj=integer(rj),
                 periods=integer(len(acq)), unit=_unit(ctx, unit),
                 new_rate=pct(new / nj) if nj else "–", nlo=pct(nlo), nhi=pct(nhi),
                 ret_rate=pct(ret / rj) if rj else "–", rlo=pct(rlo), rhi=pct(rhi),
                 **ctx.interval("acquisition"))
    if len(acq) >= 4:
        peak = acq.loc[acq["new_customers"].idxmax()]
        text += ctx.t("acq_peak", unit=_unit(ctx, unit),
                      period=f"{pd.Timestamp(peak['period']):%Y-%m-%d}",
                      n=integer(peak["new_customers"]), share=pct(peak["new_share"]),
                      median=num(acq["new_customers"].median()))
    return escape(text)


def finding_segment(ctx: ReportContext) -> Finding | None:
    """The segment column whose values convert most differently, beyond chance."""
    rk, lv = ctx.tables.get("segment_differences"), ctx.tables.get("segment_levels")
    if rk is None or lv is None or rk.empty:
        return None
    hits = _differing_segments(rk)
    if hits.empty:
        return None
    r = hits.iloc[0].to_dict()
    low, high = _level(lv, r["column"], r["lowest"]), _level(lv, r["column"], r["highest"])
    if low is None or high is None:
        return None
    html = ctx.t("f_segment", column=escape(str(r["column"])), high=escape(str(r["highest"])),
                 high_rate=pct(high["conversion_rate"]),
                 hlo=pct(high["conversion_rate_ci_low"]),
                 hhi=pct(high["conversion_rate_ci_high"]), hn=integer(high["journeys"]),
                 low=escape(str(r["lowest"])), low_rate=pct(low["conversion_rate"]),
                 llo=pct(low["conversion_rate_ci_low"]), lhi=pct(low["conversion_rate_ci_high"]),
                 ln=integer(low["journeys"]), **ctx.interval("segment_levels"))
    return Finding("segment", html, {"column": r["column"], "cramers_v": r["cramers_v"],
                                     "highest": r["highest"], "lowest": r["lowest"]})


def finding_flow(ctx: ReportContext) -> Finding | None:
    """The flow that changed most between the halves of the data, beyond chance."""
    pc = ctx.tables.get("period_comparison")
    if pc is None or pc.empty:
        return None
    hits = _significant_flows(pc)
    if hits.empty:
        return None
    r = hits.iloc[0].to_dict()
    if not finite(r.get("difference")):
        return None
    html = ctx.t("f_flow", flow=escape(_flow(ctx, r)), before=pct(r["probability_before"]),
                 after=pct(r["probability_after"]), split=_split(pc),
                 diff=ctx.lang.pp(r["difference"]), lo=ctx.lang.pp(r["ci_low"]),
                 hi=ctx.lang.pp(r["ci_high"]), p=p_text(r["p_value_adjusted"]),
                 **ctx.interval("period_comparison"))
    return Finding("flow", html, {"source": r["source"], "target": r["target"],
                                  "difference": r["difference"]})


#: Changes over time stated in the executive summary (one per story, strongest first).
SUMMARY_CHANGES = 3


def _story(r: dict) -> tuple[str, str]:
    """What a change is about, so that one story is told once in the summary: the median
    and the p90 of one flow's time, a flow on one channel and overall, or the rates of one
    episode at several touchpoints are one story (the strongest row tells it)."""
    group = str(r["group"]).split(" (")[0]
    if str(r["kpi"]).startswith("time_"):
        return "time", group
    if r["kpi"] in ("exit_rate", "conversion_rate") and not str(r["kind"]).startswith("shift"):
        return "episode", f"{pd.Timestamp(r['start']):%Y-%m}"
    return str(r["kpi"]), group


def finding_changes(ctx: ReportContext) -> list[Finding]:
    """The strongest changes over time beyond chance, one per story (up to
    :data:`SUMMARY_CHANGES`), for the summary; the last says how many more the section
    lists."""
    ch = ctx.tables.get("changes")
    if ch is None or ch.empty:
        return []
    told: set[tuple[str, str]] = set()
    chosen = []
    for r in ch.to_dict("records"):
        story = _story(r)
        if story not in told:
            told.add(story)
            chosen.append(r)
        if len(chosen) == SUMMARY_CHANGES:
            break
    out = [Finding("change", change_sentence(ctx, r),
                   {"kpi": r["kpi"], "group": r["group"], "kind": r["kind"],
                    "start": str(r["start"]), "difference": r["difference"]})
           for r in chosen]
    more = len(ch) - len(chosen)
    if more > 0 and out:
        out[-1] = Finding("change", out[-1].html + " " + escape(ctx.t("more_changes", n=more)),
                          out[-1].numbers)
    return out
