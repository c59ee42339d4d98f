"""Report sections 5 to 8: pilot results, monitoring and the previous run, next steps, about.

:func:`section_pilot` gives the pilot's verdict, its metrics, the pre-period balance of the arms
(:func:`balance_html`), its effects (forest plot) and the
store pilot (difference-in-differences); :func:`section_monitoring` the rollouts, the shifts
and the control charts (:func:`chart_series` picks which), followed by the comparison with the
previous run (:func:`comparison_html`); :func:`next_steps` the recommendations that follow
from the evidence; :func:`section_about` the run folder, the missing tables, the methods and
the privacy rules.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from cjmlib.pilots.plots import forest_plot
from cjmlib.report import plots as figs
from cjmlib.report.context import ReportContext, table_alpha
from cjmlib.report.document import figure_html, table_html
from cjmlib.report.findings import headline_shift
from cjmlib.report.run_tables import TABLE_SOURCES
from cjmlib.report.text import (
    ROLE_TEXT,
    STATUS_TEXT,
    VERDICTS,
    effect_text,
    escape,
    finite,
    integer,
    num,
    p_text,
    pct,
    rate_change,
    rate_value,
    value_text,
)


def section_pilot(ctx: ReportContext) -> str:
    out = []
    prim, pr = ctx.primary_pilot()
    if pr is None:
        out.append(ctx.missing_note("pilot_results"))
    else:
        decision = str(prim.get("decision"))
        out.append(f'<p class="verdict {escape(decision)}">{escape(ctx.t("verdict"))}: '
                   f"<b>{escape(ctx.lang.verdict(decision))}</b> — "
                   f"{escape(ctx.lang.metric(prim['metric']))}: "
                   f"{effect_text(ctx.lang, str(prim['kind']), str(prim['method']), prim['effect'])} "
                   f"({ctx.interval('pilot_results')['ci_label']} "
                   f"{effect_text(ctx.lang, str(prim['kind']), str(prim['method']), prim['ci_low'])} "
                   f"… {effect_text(ctx.lang, str(prim['kind']), str(prim['method']), prim['ci_high'])})</p>")
        rows = []
        for r in pr.to_dict("records"):
            kind, method = str(r["kind"]), str(r["method"])
            rows.append([escape(ctx.lang.metric(r["metric"])),
                         escape(ROLE_TEXT[ctx.lang.code].get(r.get("role"), r.get("role", ""))),
                         value_text(kind, method, r["control_value"]),
                         value_text(kind, method, r["treatment_value"]),
                         effect_text(ctx.lang, kind, method, r["effect"]),
                         f"{effect_text(ctx.lang, kind, method, r['ci_low'])} … "
                         f"{effect_text(ctx.lang, kind, method, r['ci_high'])}",
                         p_text(r.get("p_value_adjusted")),
                         escape(ctx.lang.verdict(r["decision"]))])
        out.append(table_html([ctx.t("metric"), ctx.t("role"), ctx.t("control"),
                               ctx.t("treatment"), ctx.t("change"),
                               ctx.t("ci_header", **ctx.interval("pilot_results")),
                               ctx.t("adjusted_p"), ctx.t("decision")], rows,
                              numeric=(2, 3, 4, 5, 6)))
        out.append(balance_html(ctx))
        rel = pr[pr["rel_effect"].map(finite) & pr["rel_ci_low"].map(finite)] if (
            "rel_ci_low" in pr.columns) else pr.iloc[0:0]
        if len(rel):
            fig = forest_plot(
                rel, names=[f"{ctx.lang.metric(m)} ({ROLE_TEXT[ctx.lang.code].get(r, r)})"
                            for m, r in zip(rel["metric"], rel.get("role", [""] * len(rel)),
                                            strict=True)],
                decision_labels=VERDICTS[ctx.lang.code],
                relative_label=ctx.t("rel_change"),
                title=ctx.t("pilot_title", **ctx.interval("pilot_results")))
            out.append(figure_html(figs.figure_data_uri(fig), alt=ctx.t(
                "pilot_title", **ctx.interval("pilot_results"))))
    dd = ctx.tables.get("did_results")
    if dd is None or dd.empty:
        if TABLE_SOURCES["did_results"] not in ctx.skipped:  # else said once above
            out.append(ctx.missing_note("did_results"))
        ctx.missing.setdefault("did_results", TABLE_SOURCES["did_results"])
    else:
        rows = [[escape(ctx.lang.metric(r["metric"])), escape(r["inference"]),
                 num(r["estimate"], signed=True),
                 f"{num(r['ci_low'], signed=True)} … {num(r['ci_high'], signed=True)}",
                 p_text(r["p_value"]), p_text(r.get("pre_trend_p_value")),
                 p_text(r.get("min_p_value")), pct(r.get("power_observed"), 0)]
                for r in ctx.did_rows().to_dict("records")]
        out.append(f"<h3>{escape(ctx.t('store_title'))}</h3>")
        out.append(table_html([ctx.t("metric"), ctx.t("inference"), ctx.t("estimate"),
                               ctx.t("ci_header", **ctx.interval("did_results")), ctx.t("p"),
                               ctx.t("pre_trend"), ctx.t("min_p"), ctx.t("power_obs")], rows,
                              numeric=(2, 3, 4, 5, 6, 7)))
    return "".join(out)


def balance_html(ctx: ReportContext) -> str:
    """The pre-period balance of the arms in plain words (``pilot_balance``; empty when the
    run has none): flagged when a Holm-adjusted p is below alpha, large SMDs named beside."""
    bal = ctx.tables.get("pilot_balance")
    if bal is None or bal.empty:
        return ""
    alpha = table_alpha(bal) or 0.05

    def items(rows: pd.DataFrame) -> str:
        return ("、" if ctx.lang.code == "zh" else ", ").join(ctx.t("balance_item", covariate=escape(ctx.lang.metric(r["covariate"])),
                               arm=escape(str(r["treatment"])), smd=num(r["smd"], signed=True),
                               p=p_text(r["p_value_adjusted"]))
                         for r in rows.to_dict("records"))

    flagged = bal[bal["imbalanced"].astype(bool)]
    if len(flagged):
        text = f"<b>{ctx.t('balance_bad', items=items(flagged), alpha=f'{alpha:g}')}</b>"
    else:
        text = escape(ctx.t("balance_ok", n=bal["covariate"].nunique(), alpha=f"{alpha:g}"))
        large = bal[bal["large_smd"].astype(bool)]
        if len(large):
            threshold = pd.to_numeric(bal["smd_threshold"], errors="coerce").iloc[0]
            text += ctx.t("balance_large", items=items(large), threshold=f"{threshold:g}")
    return (f'<p class="balance">{text}</p>'
            f'<p class="note">{escape(ctx.t("balance_rule"))}</p>')


def chart_series(ctx: ReportContext) -> list[tuple[str, str, str]]:
    """(level, group, metric) of the charts to draw: the headline first, then the top
    shifts, then the top pain point's exit rate."""
    mon = ctx.monitoring
    chosen: list[tuple[str, str, str]] = []

    def add(level: str, group: str, metric: str) -> None:
        key = (level, group, metric)
        if key not in chosen and len(mon.series(level, group, metric)):
            chosen.append(key)

    head = headline_shift(ctx)
    if head is not None:
        add(head[1]["level"], head[1]["group"], head[1]["metric"])
    tm = ctx.metrics()
    if tm is not None and len(tm) and "priority_rank" in tm.columns:
        top = str(tm.iloc[0]["touchpoint"])
        add("touchpoint", top, "exit_rate")
        add("touchpoint", top, "csat_mean")
    shifts = mon.shifts[mon.shifts["p_value_adjusted"] < 0.05]
    for r in sorted(shifts.to_dict("records"), key=lambda r: r["metric"] != "exit_rate"):
        add(r["level"], r["group"], r["metric"])
    return chosen[: ctx.charts_shown]


def section_monitoring(ctx: ReportContext) -> str:
    mon = ctx.monitoring
    out = []
    if mon is None:
        out.append(f"<p class=missing>{escape(ctx.t('no_monitoring', reason=ctx.monitoring_reason or '–'))}</p>")
    else:
        out.append(f"<p>{escape(ctx.t('monitor_intro', baseline=mon.baseline))}</p>")
        out.extend(f"<p class=muted>{escape(note)}</p>" for note in mon.notes)
        ro = mon.rollouts
        if len(ro):
            out.append(f"<h3>{escape(ctx.t('rollouts_title'))}</h3>")
            for (name, date), part in ro.groupby(["rollout", "date"], sort=False):
                part = part[part["p_value"].notna()].sort_values("p_value").head(8)
                if part.empty:
                    continue
                rows = [[escape(ctx.lang.group(r["level"], r["group"])),
                         escape(ctx.lang.metric(r["metric"])),
                         rate_value(r["metric"], r["before"]),
                         rate_value(r["metric"], r["after"]),
                         rate_change(ctx.lang, r["metric"], r["difference"]),
                         f"{rate_change(ctx.lang, r['metric'], r['ci_low'])} … "
                         f"{rate_change(ctx.lang, r['metric'], r['ci_high'])}",
                         p_text(r["p_value"]), integer(r["signals_after"])]
                        for r in part.to_dict("records")]
                out.append(f"<h4>{escape(name)} ({pd.Timestamp(date):%Y-%m-%d})</h4>")
                out.append(table_html([ctx.t("group"), ctx.t("metric"), ctx.t("before"),
                                       ctx.t("after"), ctx.t("difference"),
                                       ctx.t("ci_header", **ctx.interval("monitoring")),
                                       ctx.t("p"), ctx.t("signals")], rows,
                                      numeric=(2, 3, 4, 5, 6, 7)))
        sh = mon.shifts
        out.append(f"<h3>{escape(ctx.t('shifts_title'))}</h3>")
        if len(sh):
            rows = [[escape(ctx.lang.group(r["level"], r["group"])),
                     escape(ctx.lang.metric(r["metric"])),
                     f"{pd.Timestamp(r['start']):%Y-%m-%d}",
                     rate_value(r["metric"], r["before"]),
                     rate_value(r["metric"], r["after"]),
                     rate_change(ctx.lang, r["metric"], r["difference"]),
                     f"{rate_change(ctx.lang, r['metric'], r['ci_low'])} … "
                     f"{rate_change(ctx.lang, r['metric'], r['ci_high'])}",
                     p_text(r["p_value_adjusted"]), escape(r["rules"])]
                    for r in sh.head(10).to_dict("records")]
            out.append(table_html([ctx.t("group"), ctx.t("metric"), ctx.t("start"),
                                   ctx.t("before"), ctx.t("after"), ctx.t("difference"),
                                   ctx.t("ci_header", **ctx.interval("monitoring")),
                                   ctx.t("adjusted_p"), ctx.t("rules")],
                                  rows, numeric=(3, 4, 5, 6, 7)))
        else:
            out.append(f"<p>{escape(ctx.t('no_signals'))}</p>")
        for level, group, metric in chart_series(ctx):
            series = mon.series(level, group, metric)
            percent = metric in ("exit_rate", "conversion_rate")
            marks = [(r.name, r.date) for r in ctx.rollouts
                     if r.applies({"level": level, "group": group,
                                   "touchpoint": series["touchpoint"].iloc[0],
                                   "stage": series["stage"].iloc[0],
                                   "channel": series["channel"].iloc[0]})]
            title = f"{ctx.lang.metric(metric)}: {ctx.lang.group(level, group)}"
            fig = figs.control_chart(series, title=title,
                                     ylabel=ctx.lang.metric(metric) + (" (%)" if percent
                                                                       else ""),
                                     percent=percent, rollouts=marks,
                                     words={k: ctx.t(k) for k in ("centre", "limits",
                                                                  "signal", "baseline")})
            out.append(figure_html(figs.figure_data_uri(fig), alt=title))
    out.append(f'<h3 id="comparison">{escape(ctx.t("comparison"))}</h3>')
    out.append(comparison_html(ctx))
    return "".join(out)


def comparison_html(ctx: ReportContext) -> str:
    cmp_ = ctx.comparison
    if ctx.previous_run is None or cmp_ is None:
        return f"<p>{escape(ctx.t('no_previous'))}</p>"
    alpha = table_alpha(cmp_)
    comparison_level = None if alpha is None else 1 - alpha
    tracked = cmp_[cmp_["section"] != "inputs"]
    changed = tracked[tracked["changed"].astype(bool)]
    inputs = cmp_[cmp_["section"] == "inputs"]
    note = ""
    if len(inputs):
        n = inputs["current"].iloc[0]
        note = ctx.t("inputs_same") if n == 0 else ctx.t("inputs_changed", n=integer(n))
    out = [f"<p>{escape(ctx.t('compared_with', run=ctx.previous_run, changed=len(changed), total=len(tracked), inputs=note))}</p>"]
    if changed.empty:
        out.append(f"<p>{escape(ctx.t('nothing_changed'))}</p>")
        return "".join(out)

    pr = ctx.tables.get("pilot_results")
    kinds = (dict(zip(pr["metric"], zip(pr["kind"], pr["method"], strict=True),
                      strict=True)) if pr is not None and len(pr) else {})

    def number(r: dict[str, Any], v: Any, *, signed: bool) -> str:
        metric = r["metric"]
        if not finite(v):
            return "–"
        if metric in ("exit_rate", "conversion_rate"):
            return lang.pp(v) if signed else pct(v)
        if metric in ("priority_rank", "rank", "changed files"):
            return f"{int(v):+d}" if signed else integer(v)
        if r["section"] == "pilot" and r["item"] in kinds:
            kind, method = kinds[r["item"]]
            return (effect_text(lang, str(kind), str(method), v) if signed
                    else value_text(str(kind), str(method), v))
        return num(v, signed=signed)

    def show(r: dict[str, Any], which: str) -> str:
        label = r.get(f"{which}_label")
        if isinstance(label, str):
            if r["metric"] == "status":
                return escape(STATUS_TEXT[lang.code].get(label, label))
            if r["metric"] == "decision":
                return escape(lang.verdict(label))
            return escape(label)
        return number(r, r[which], signed=False)

    lang = ctx.lang
    titles = ({r["id"]: ctx.title_of(r) for r in ctx.backlog.to_dict("records")}
              if ctx.backlog is not None else {})
    rows = []
    for r in changed.head(25).to_dict("records"):
        item = r["item"]
        if r["section"] in ("touchpoints", "voice"):
            item = lang.tp(item)
        elif r["section"] in ("pilot", "store pilot"):
            item = lang.metric(item)
        elif r["section"] == "backlog" and item in titles:
            item = titles[item]
        ci = (f"{number(r, r['ci_low'], signed=True)} … "
              f"{number(r, r['ci_high'], signed=True)}" if finite(r["ci_low"]) else "")
        change = number(r, r["change"], signed=True) if finite(r.get("change")) else ""
        rows.append([escape(item), escape(lang.metric(r["metric"])), show(r, "previous"),
                     show(r, "current"), change, ci])
    out.append(table_html([ctx.t("item"), ctx.t("metric"), ctx.t("previous"),
                           ctx.t("current"), ctx.t("change"),
                           ctx.t("ci_header", **ctx.lang.interval_words(comparison_level))], rows,
                          numeric=(2, 3, 4, 5)))
    return "".join(out)


def next_steps(ctx: ReportContext) -> list[str]:
    steps: list[str] = []
    prim, pr = ctx.primary_pilot()
    name = ctx.pilot_name or (prim["metric"] if prim else "")
    b = ctx.backlog
    if prim is not None and b is not None and len(b):
        piloted = b[(b["status"] == "piloting") & (b["pilot_metric"] == prim["metric"])]
        if len(piloted):
            name = ctx.title_of(piloted.iloc[0].to_dict())
    if prim is not None:
        kind, method = str(prim["kind"]), str(prim["method"])
        fmt = dict(name=escape(name), metric=escape(ctx.lang.metric(prim["metric"])),
                   effect=effect_text(ctx.lang, kind, method, prim["effect"]),
                   lo=effect_text(ctx.lang, kind, method, prim["ci_low"]),
                   hi=effect_text(ctx.lang, kind, method, prim["ci_high"]),
                   why=escape(ctx.lang.reason(prim.get("reason", ""))))
        key = {"ship": "n_roll_out", "stop": "n_stop", "iterate": "n_iterate"}.get(
            str(prim.get("decision")), "n_inconclusive")
        steps.append(ctx.t(key, **fmt, **ctx.interval("pilot_results")))
    head = headline_shift(ctx)
    if head is not None:
        kind, r = head
        date = pd.Timestamp(r["date"] if kind == "rollout" else r["start"])
        rollout = f" ({escape(r['rollout'])})" if kind == "rollout" else ""
        steps.append(ctx.t("n_investigate", metric=escape(ctx.lang.metric(r["metric"])),
                           group=escape(ctx.lang.group(r["level"], r["group"])),
                           before=rate_value(r["metric"], r["before"]),
                           after=rate_value(r["metric"], r["after"]),
                           date=f"{date:%Y-%m-%d}", rollout=rollout))
    if b is not None and len(b):
        nxt = b[b["recommendation"] == "pilot_next"]
        if len(nxt):
            r = nxt.iloc[0]
            steps.append(ctx.t("n_pilot_next", title=escape(ctx.title_of(r)),
                               rank=integer(r["rank"]), impact=integer(r["impact"]),
                               lo=integer(r["impact_low"]), hi=integer(r["impact_high"]),
                               effort=f"{float(r['effort_weeks']):g}"))
        tm = ctx.metrics()
        if tm is not None and len(tm) and "priority_rank" in tm.columns:
            top = str(tm.iloc[0]["touchpoint"])
            open_ = b[b["status"].isin(["proposed", "piloting"])]
            covered = {x.strip() for tps in open_["touchpoints"] for x in str(tps).split(",")}
            if top not in covered:
                steps.append(ctx.t("n_cover", tp=escape(ctx.lang.tp(top))))
    # tables of notebooks skipped for lack of data are not gaps a rerun could fill
    gaps = sorted({kv for kv in ctx.missing.items() if kv[1] not in ctx.skipped},
                  key=lambda kv: kv[1])
    if gaps:
        items = "; ".join(f"{name} ({nb})" for name, nb in gaps)
        steps.append(ctx.t("n_gaps", items=escape(items)))
    return steps or [ctx.t("n_none")]


def section_about(ctx: ReportContext) -> str:
    found = sorted(n for n in TABLE_SOURCES if ctx.tables.get(n) is not None
                   and not ctx.tables[n].empty)
    out = [f"<p>{ctx.t('about_run', run=escape(ctx.run_dir.name), found=escape(', '.join(found) or '–'))}</p>"]
    if ctx.skipped:
        items = "; ".join(f"{nb}: {ctx.t(f'skip_{code}')}" for nb, code in
                          sorted(ctx.skipped.items()))
        out.append(f"<p>{escape(ctx.t('about_not_run', items=items))}</p>")
    missing = {n: nb for n, nb in ctx.missing.items() if nb not in ctx.skipped}
    if missing:
        listed = ", ".join(f"{n} ({nb})" for n, nb in sorted(missing.items()))
        out.append(f"<p>{escape(ctx.t('about_missing', missing=listed))}</p>")
    out.append(f"<p>{escape(ctx.t('about_methods'))}</p>")
    out.append(f"<p>{escape(ctx.t('about_privacy', k=ctx.k))}</p>")
    return "".join(out)
