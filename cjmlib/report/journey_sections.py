"""Report sections 2 to 4: the journey map, the top pain points and the improvement backlog.

:func:`section_journey` draws the journey map, the named outcomes and the funnel; :func:`section_pain`
shows the three most urgent touchpoints with their evidence (behaviour, scores, negative
themes, redacted quotes from :func:`negative_quotes`, a channel breakdown with small groups
suppressed, the strongest driver and an evidence chart); :func:`section_backlog` lists the
scored improvement backlog with its impact chart.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from cjmlib.core.privacy import redact, suppress_small_groups
from cjmlib.report import plots as figs
from cjmlib.report.context import ReportContext
from cjmlib.report.document import figure_html, table_html
from cjmlib.report.text import (
    RECOMMENDATION_TEXT,
    STATUS_TEXT,
    escape,
    finite,
    integer,
    num,
    pct,
)


def _run_date(run_id: str) -> str:
    """``2026-11-22`` from a run id ``20261122T120000Z``; other text unchanged."""
    try:
        return f"{datetime.strptime(run_id[:16], '%Y%m%dT%H%M%SZ'):%Y-%m-%d}"
    except ValueError:
        return run_id


def section_journey(ctx: ReportContext) -> str:
    tm = ctx.metrics()
    if tm is None:
        return ctx.missing_note("touchpoint_metrics")
    out = []
    fig = figs.journey_map(tm, stages=ctx.stages, labels=ctx.lang.labels,
                           stage_labels=ctx.lang.stage_labels,
                           words={"exit": ctx.t("exit"), "csat": ctx.t("csat"),
                                  "legend": ctx.t("journey_legend")})
    out.append(figure_html(figs.figure_data_uri(fig), ctx.t("journey_caption"),
                           ctx.t("journey")))
    oc = ctx.tables.get("outcomes")
    if oc is not None and len(oc) > 1:  # one outcome is the conversion the report shows anyway
        rows = []
        for r in oc.to_dict("records"):
            rate = pct(r.get("rate"))
            if finite(r.get("rate_ci_low")):
                rate += f" ({pct(r['rate_ci_low'])}–{pct(r['rate_ci_high'])})"
            rows.append([escape(ctx.lang.tp(r["outcome"])), f"{integer(r.get('reached'))} / "
                         f"{integer(r.get('journeys'))}", rate])
        out.append(f"<h3>{escape(ctx.t('outcomes_title'))}</h3>")
        out.append(table_html([ctx.t("outcome"), ctx.t("reached"),
                               ctx.t("outcome_rate", **ctx.interval("outcomes"))], rows,
                              numeric=(1, 2)))
    fn = ctx.tables.get("funnel")
    if fn is not None and len(fn):
        rows = []
        for r in fn.to_dict("records"):
            prev = pct(r.get("conversion_from_previous"))
            if finite(r.get("conversion_from_previous_ci_low")):
                prev += (f" ({pct(r['conversion_from_previous_ci_low'])}–"
                         f"{pct(r['conversion_from_previous_ci_high'])})")
            rows.append([escape(ctx.lang.tp(r["step"])), integer(r.get("customers")), prev,
                         pct(r.get("conversion_from_start"))])
        out.append(f"<h3>{escape(ctx.t('funnel_title', name=ctx.funnel_name))}</h3>")
        out.append(table_html([ctx.t("step"), ctx.t("customers"), ctx.t("from_previous"),
                               ctx.t("from_start")], rows, numeric=(1, 2, 3)))
    return "".join(out)


def negative_quotes(ctx: ReportContext, touchpoint: str, n: int = 3) -> list[tuple[str, str]]:
    """Up to ``n`` distinct negative comments about a touchpoint: (language, text)."""
    st = ctx.tables.get("sentiment")
    picked: list[tuple[str, str]] = []
    if st is not None and len(st) and "text" in st.columns:
        q = st[(st["touchpoint"] == touchpoint) & st["text"].notna()].copy()
        if "sentiment" in q.columns:
            q = q[q["sentiment"].fillna(0) < 0]
            q = q.sort_values("sentiment", kind="stable")
        lang_col = "language" if "language" in q.columns else None
        if lang_col:
            q["_own"] = q[lang_col] != ctx.lang.code
            q = q.sort_values(["_own"], kind="stable")
        seen: set[str] = set()
        for r in q.to_dict("records"):
            text = redact(str(r["text"]).strip())
            if text and text not in seen:
                seen.add(text)
                picked.append((str(r.get(lang_col, "")) if lang_col else "", text))
            if len(picked) >= n:
                break
    if not picked:
        th = ctx.tables.get("themes")
        if th is not None and len(th) and "examples" in th.columns:
            rows = th[(th["level"] == "touchpoint") & (th["group"] == touchpoint)
                      & (th["direction"] == "negative")]
            for ex in rows["examples"].dropna():
                for text in str(ex).split(" | "):
                    text = redact(text.strip())
                    if text and text not in [p[1] for p in picked]:
                        picked.append(("", text))
            if len(picked) > n:
                picked = picked[:n]
    return picked


def section_pain(ctx: ReportContext) -> str:
    tm = ctx.metrics()
    if tm is None:
        return ctx.missing_note("touchpoint_metrics")
    ranked = tm.dropna(subset=["priority_rank"]) if "priority_rank" in tm.columns else tm
    top = ranked.head(3)
    out = [f"<p>{escape(ctx.t('pain_intro'))}</p>"]
    if ctx.tables.get("survey_metrics") is None:
        out.append(ctx.missing_note("survey_metrics"))
        ctx.table("survey_metrics")
    by_channel = ctx.tables.get("touchpoint_metrics_by_channel")
    themes = ctx.tables.get("themes")
    evidence_rows = []
    rates_level, scores_level = ctx.interval("touchpoint_metrics"), ctx.interval("survey_metrics")
    for r in top.to_dict("records"):
        tp = r["touchpoint"]
        stage = ctx.lang.stage_labels.get(r.get("stage"), r.get("stage") or "")
        rank = f"#{int(r['priority_rank'])} " if finite(r.get("priority_rank")) else ""
        behaviour = [ctx.t("reach", customers=integer(r.get("customers")),
                           share=pct(r.get("reach_share"))),
                     ctx.t("exit_rate_is", exit=pct(r.get("exit_rate")),
                           lo=pct(r.get("exit_rate_ci_low")),
                           hi=pct(r.get("exit_rate_ci_high")), **rates_level),
                     ctx.t("conversion_is", conv=pct(r.get("conversion_rate")),
                           lo=pct(r.get("ci_low")), hi=pct(r.get("ci_high")), **rates_level)]
        if finite(r.get("median_duration_s")):
            behaviour.append(ctx.t("dwell_is", dwell=integer(r["median_duration_s"])))
        sv = ctx.survey_row(tp)
        scores = []
        if sv is not None:
            if finite(sv.get("csat_mean")):
                scores.append(ctx.t("csat_is", csat=f"{sv['csat_mean']:.2f}",
                                    lo=f"{sv['csat_ci_low']:.2f}",
                                    hi=f"{sv['csat_ci_high']:.2f}",
                                    n=integer(sv.get("n_csat", sv.get("n"))), **scores_level))
            if finite(sv.get("nps")):
                scores.append(ctx.t("nps_is", nps=num(sv["nps"], signed=True),
                                    lo=num(sv["nps_ci_low"], signed=True),
                                    hi=num(sv["nps_ci_high"], signed=True), **scores_level))
        elif finite(r.get("csat_mean")):
            scores.append(f"CSAT {r['csat_mean']:.2f}")
        if finite(r.get("sentiment_mean")):
            basis = ctx.sentiment_basis()
            scores.append(ctx.t("sentiment_is", s=num(r["sentiment_mean"], signed=True))
                          + (f" [{basis}]" if basis else ""))
        voice = []
        if themes is not None and len(themes):
            neg = themes[(themes["level"] == "touchpoint") & (themes["group"] == tp)
                         & (themes["direction"] == "negative")]
            if len(neg):
                own = neg[neg["language"] == ctx.lang.code] if "language" in neg else neg
                terms = (own if len(own) else neg).sort_values("rank")["term"].head(5)
                voice.append(f"<p>{escape(ctx.t('themes_are', terms='、'.join(terms) if ctx.lang.code == 'zh' else ', '.join(terms)))}</p>")
        quotes = negative_quotes(ctx, tp)
        if quotes:
            voice.append("".join(f'<blockquote lang="{escape(q[0] or ctx.lang.code)}">'
                                 f"“{escape(q[1])}”</blockquote>" for q in quotes))
        else:
            voice.append(f"<p class=muted>{escape(ctx.t('no_quotes'))}</p>")
        channel_html = ""
        if by_channel is not None and len(by_channel):
            ch = by_channel[by_channel["touchpoint"] == tp]
            if len(ch) > 1:
                ch = suppress_small_groups(
                    ch[["channel", "customers", "journeys", "exit_rate", "exit_rate_ci_low",
                        "exit_rate_ci_high"]].reset_index(drop=True),
                    count_col="customers", min_size=ctx.k)
                rows = []
                for c in ch.to_dict("records"):
                    if c["suppressed"]:
                        rows.append([escape(c["channel"]), escape(ctx.t("suppressed", k=ctx.k)),
                                     "", ""])
                    else:
                        rows.append([escape(c["channel"]), integer(c["journeys"]),
                                     pct(c["exit_rate"]),
                                     f"{pct(c['exit_rate_ci_low'])}–"
                                     f"{pct(c['exit_rate_ci_high'])}"])
                channel_html = (f"<h4>{escape(ctx.t('by_channel'))}</h4>" + table_html(
                    [ctx.t("channel"), ctx.t("journeys"), ctx.t("exit_rate"),
                     ctx.t("ci_header", **ctx.interval("touchpoint_metrics_by_channel"))], rows,
                    numeric=(1, 2, 3), cls="compact"))
        out.append(
            f'<article class="pain"><h3>{escape(rank)}{escape(ctx.lang.tp(tp))} '
            f'<span class="muted">({escape(stage)})</span></h3><div class="cols">'
            f"<div><h4>{escape(ctx.t('behaviour'))}</h4><ul>"
            + "".join(f"<li>{escape(b)}</li>" for b in behaviour) + "</ul>"
            f"<h4>{escape(ctx.t('scores'))}</h4><ul>"
            + ("".join(f"<li>{escape(s)}</li>" for s in scores) if scores else
               f"<li class=muted>{escape(ctx.t('no_scores'))}</li>") + "</ul>"
            + channel_html + "</div>"
            f"<div><h4>{escape(ctx.t('voice'))}</h4>{''.join(voice)}</div></div></article>")
        row = {"touchpoint": tp, "exit_rate": r.get("exit_rate"),
               "exit_rate_ci_low": r.get("exit_rate_ci_low", r.get("exit_rate")),
               "exit_rate_ci_high": r.get("exit_rate_ci_high", r.get("exit_rate"))}
        if sv is not None:
            row.update(csat_mean=sv.get("csat_mean"), csat_ci_low=sv.get("csat_ci_low"),
                       csat_ci_high=sv.get("csat_ci_high"))
        evidence_rows.append(row)
    drivers = ctx.tables.get("drivers")
    if drivers is not None and len(drivers) and {"outcome", "driver", "share"} <= set(
            drivers.columns):
        first = drivers[drivers["outcome"] == drivers["outcome"].iloc[0]].sort_values(
            "share", ascending=False).iloc[0]
        out.append("<p>" + ctx.t(
            "driver", outcome=escape(ctx.lang.metric(first["outcome"])),
            driver=escape(ctx.lang.tp(first["driver"])), share=pct(first["share"], 0),
            lo=pct(first.get("share_ci_low"), 0), hi=pct(first.get("share_ci_high"), 0),
            **ctx.interval("drivers")) + "</p>")
    more = ranked.head(5)
    ev = pd.DataFrame(evidence_rows)
    extra = [{"touchpoint": r["touchpoint"], "exit_rate": r.get("exit_rate"),
              "exit_rate_ci_low": r.get("exit_rate_ci_low", r.get("exit_rate")),
              "exit_rate_ci_high": r.get("exit_rate_ci_high", r.get("exit_rate")),
              **{k: (ctx.survey_row(r["touchpoint"]) or {}).get(k, np.nan)
                 for k in ("csat_mean", "csat_ci_low", "csat_ci_high")}}
             for r in more.iloc[len(ev):].to_dict("records")]
    ev = pd.concat([ev, pd.DataFrame(extra)], ignore_index=True) if extra else ev
    if len(ev) and ev["exit_rate"].notna().any():
        fig = figs.pain_point_evidence(ev, labels=ctx.lang.labels,
                                       exit_label=ctx.t("exit_rate_label"),
                                       csat_label=ctx.t("csat_label"),
                                       title=ctx.t("evidence_title", **rates_level))
        out.append(figure_html(figs.figure_data_uri(fig),
                               alt=ctx.t("evidence_title", **rates_level)))
    return "".join(out)


def section_backlog(ctx: ReportContext) -> str:
    b = ctx.backlog
    if b is None or b.empty:
        if ctx.tables.get("touchpoint_metrics") is None:
            return ctx.missing_note("touchpoint_metrics")
        return (f"<p class=missing>"
                f"{escape(ctx.t('no_backlog', reason=ctx.backlog_reason or '–'))}</p>")
    rows = []
    for r in b.to_dict("records"):
        tps = ", ".join(ctx.lang.tp(x.strip()) for x in str(r["touchpoints"]).split(","))
        status = STATUS_TEXT[ctx.lang.code].get(r["status"], r["status"])
        since = r.get("status_since")
        since = (f'<br><span class="muted">{escape(ctx.t("since"))} {escape(_run_date(since))}'
                 "</span>" if isinstance(since, str) else "")
        short = {"modelled": ctx.t("short_modelled"),
                 "measured in pilot": ctx.t("short_measured")}.get(r["impact_basis"], "")
        impact = (f"{integer(r['impact'])} ({integer(r['impact_low'])}–{integer(r['impact_high'])})"
                  f'<br><span class="muted">{escape(short)}</span>'
                  if finite(r["impact"]) else "–")
        reach = (f"{integer(r.get('reach_customers'))}<br><span class=muted>"
                 f"{pct(r.get('reach_share'), 0)}</span>"
                 if finite(r.get("reach_customers")) else "–")
        rows.append([integer(r["rank"]) if finite(r["rank"]) else "–",
                     f"{escape(ctx.title_of(r))}<br><span class=muted>{escape(tps)}</span>",
                     f'<span class="status {r["status"]}">{escape(status)}</span>{since}',
                     reach, f"{r['severity']:.2f}" if finite(r["severity"]) else "–",
                     impact, f"{float(r['effort_weeks']):g}",
                     num(r["score"]) if finite(r["score"]) else "–",
                     escape(RECOMMENDATION_TEXT[ctx.lang.code].get(r["recommendation"] or "",
                                                                    r["recommendation"]))])
    out = [f"<p>{escape(ctx.t('backlog_intro'))}</p>",
           table_html([ctx.t("rank"), ctx.t("improvement"), ctx.t("status"),
                       ctx.t("customers"), ctx.t("severity"), ctx.t("impact"),
                       ctx.t("effort"), ctx.t("score"), ctx.t("next_step")], rows,
                      numeric=(0, 3, 4, 5, 6, 7), cls="backlog")]
    drawn = b[b["impact"].notna()]
    if len(drawn):
        fig = figs.backlog_chart(drawn, titles=[ctx.title_of(r) for r in
                                                drawn.to_dict("records")],
                                 status_labels=STATUS_TEXT[ctx.lang.code],
                                 xlabel=ctx.t("journeys_kept"),
                                 title=ctx.t("backlog_title"))
        out.append(figure_html(figs.figure_data_uri(fig), alt=ctx.t("backlog_title")))
    return "".join(out)
