"""The executive summary: three to six findings, each with its numbers and intervals.

In this order, each where its tables are there: the most urgent pain point
(:func:`finding_pain`), the pilot's effect and verdict (:func:`finding_pilot`), the KPI shift
seen by monitoring (:func:`finding_monitoring`, the shift chosen by :func:`headline_shift`),
the top of the backlog (:func:`finding_backlog`) and the store pilot (:func:`finding_store`).
:func:`section_summary` writes them as the report's first section.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from cjmlib.report.context import ReportContext
from cjmlib.report.text import (
    effect_text,
    escape,
    finite,
    integer,
    num,
    p_is,
    p_text,
    pct,
    rate_change,
    rate_value,
    value_text,
)
from cjmlib.stats.multiplicity import adjust_p_values


@dataclass
class Finding:
    """One finding of the executive summary: ``key`` (pain_point, pilot, monitoring,
    backlog, store_pilot), its ``html`` sentence and the numbers it states."""

    key: str
    html: str
    numbers: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The sentence without markup."""
        return html.unescape(re.sub(r"<[^>]*>", "", self.html))


def finding_pain(ctx: ReportContext) -> Finding | None:
    tm = ctx.metrics()
    if tm is None or "priority_rank" not in tm.columns or tm["priority_rank"].isna().all():
        return None
    top = tm.iloc[0].to_dict()
    tp = top["touchpoint"]
    csat = ""
    sv = ctx.survey_row(tp)
    numbers: dict[str, Any] = {"touchpoint": tp, "exit_rate": top.get("exit_rate"),
                               "priority_score": top.get("priority_score")}
    if sv is not None and finite(sv.get("csat_mean")):
        lowest = ""
        all_sv = ctx.tables["survey_metrics"]
        tps = all_sv[all_sv["level"] == "touchpoint"]
        if len(tps) > 1 and float(sv["csat_mean"]) <= float(tps["csat_mean"].min()):
            lowest = ctx.t("f_pain_lowest")
        csat = ctx.t("f_pain_csat", csat=f"{sv['csat_mean']:.2f}",
                     lo=f"{sv['csat_ci_low']:.2f}", hi=f"{sv['csat_ci_high']:.2f}",
                     n=integer(sv.get("n_csat", sv.get("n"))), lowest=lowest,
                     **ctx.interval("survey_metrics"))
        numbers.update(csat_mean=sv["csat_mean"], csat_ci=(sv["csat_ci_low"],
                                                           sv["csat_ci_high"]))
    elif finite(top.get("csat_mean")):
        csat = ctx.t("f_pain_csat", csat=f"{top['csat_mean']:.2f}", lo="–", hi="–",
                     n=integer(top.get("feedback_n")), lowest="",
                     **ctx.interval("touchpoint_metrics"))
    ci = (ctx.t("ci_part", lo=pct(top.get("exit_rate_ci_low")),
                hi=pct(top.get("exit_rate_ci_high")), **ctx.interval("touchpoint_metrics"))
          if finite(top.get("exit_rate_ci_low")) else "")
    text = ctx.t("f_pain", tp=escape(ctx.lang.tp(tp)), score=integer(top.get("priority_score")),
                 exit=pct(top.get("exit_rate")), ci=ci,
                 journeys=integer(top.get("journeys")), csat=csat)
    return Finding("pain_point", text, numbers)


def finding_pilot(ctx: ReportContext) -> Finding | None:
    prim, pr = ctx.primary_pilot()
    if prim is None or pr is None:
        return None
    kind, method = str(prim.get("kind")), str(prim.get("method"))
    guards = pr[(pr.get("role") == "guardrail") & (pr["treatment"] == prim["treatment"])] \
        if "role" in pr.columns else pr.iloc[0:0]
    guardrails = ""
    if len(guards):
        bad = guards[guards["decision"] == "guardrail breached"]
        names = ", ".join(ctx.lang.metric(m) for m in (bad if len(bad) else guards)["metric"])
        guardrails = ctx.t("guardrails_bad" if len(bad) else "guardrails_ok", names=escape(names))
    if "trustworthy" in prim and prim["trustworthy"] is not None and not bool(
            prim["trustworthy"]):
        guardrails = ctx.t("untrustworthy") + guardrails
    name = f" <b>{escape(ctx.pilot_name)}</b>" if ctx.pilot_name else ""
    if ctx.lang.code == "zh" and ctx.pilot_name:
        name = f"“{escape(ctx.pilot_name)}”"
    text = ctx.t("f_pilot", name=name, metric=escape(ctx.lang.metric(prim["metric"])),
                 control=value_text(kind, method, prim.get("control_value")),
                 treatment=value_text(kind, method, prim.get("treatment_value")),
                 effect=effect_text(ctx.lang, kind, method, prim.get("effect")),
                 lo=effect_text(ctx.lang, kind, method, prim.get("ci_low")),
                 hi=effect_text(ctx.lang, kind, method, prim.get("ci_high")),
                 p=p_is(prim.get("p_value_adjusted")), n_c=integer(prim.get("n_control")),
                 n_t=integer(prim.get("n_treatment")), guardrails=guardrails,
                 verdict=escape(ctx.lang.verdict(prim.get("decision"))),
                 why=escape(ctx.lang.reason(prim.get("reason", ""))) or "–",
                 **ctx.interval("pilot_results"))
    return Finding("pilot", text, {"metric": prim["metric"], "effect": prim.get("effect"),
                                   "ci": (prim.get("ci_low"), prim.get("ci_high")),
                                   "decision": prim.get("decision")})


def finding_store(ctx: ReportContext) -> Finding | None:
    dd = ctx.did_rows()
    if dd is None:
        return None
    def design(r: dict) -> str:
        # what the design could show: stated whenever the test's own limits are known
        if not finite(r.get("min_p_value")) and not finite(r.get("power_observed")):
            return ""
        return ctx.t("f_store_design", min_p=p_text(r.get("min_p_value")),
                     power=pct(r.get("power_observed"), 0))

    parts = [ctx.t("f_store_part", metric=escape(ctx.lang.metric(r["metric"])),
                   estimate=num(r["estimate"], signed=True), lo=num(r["ci_low"]),
                   hi=num(r["ci_high"]), p=p_is(r["p_value"]), design=design(r),
                   **ctx.interval("did_results"))
             for r in dd.to_dict("records")]
    first = dd.iloc[0]
    sep = "；" if ctx.lang.code == "zh" else "; "
    text = ctx.t("f_store", n_t=integer(first.get("n_treated_units")),
                 n_c=integer(first.get("n_control_units")), inference=escape(first["inference"]),
                 parts=sep.join(parts))
    return Finding("store_pilot", text, {"metrics": dd["metric"].tolist()})


def headline_shift(ctx: ReportContext) -> tuple[str, dict[str, Any]] | None:
    """The monitoring result worth a finding: the strongest significant rollout change in
    an exit or conversion rate, else the strongest shift."""
    mon = ctx.monitoring
    if mon is None:
        return None
    ro = mon.rollouts
    if len(ro):
        ro = ro[ro["metric"].isin(["exit_rate", "conversion_rate"]) & ro["p_value"].notna()]
        if len(ro):
            ro = ro.assign(p_adj=adjust_p_values(ro["p_value"].tolist(), method="holm"))
            ro = ro[ro["p_adj"] < 0.05]
            # the exit rate where the customer leaves says more than a conversion rate
            ro = ro.assign(_exit=ro["metric"] != "exit_rate").sort_values(
                ["_exit", "p_value"])
            if len(ro):
                return "rollout", ro.iloc[0].to_dict()
    sh = mon.shifts
    if len(sh):
        sh = sh[sh["p_value_adjusted"] < 0.05]
        if len(sh):
            return "shift", sh.iloc[0].to_dict()
    return None


def finding_monitoring(ctx: ReportContext) -> Finding | None:
    mon = ctx.monitoring
    if mon is None:
        return None
    head = headline_shift(ctx)
    if head is None:
        n = mon.charts.groupby(["level", "group", "metric"]).ngroups if len(
            mon.charts) else 0
        return Finding("monitoring", ctx.t("f_no_shift", n=n), {"shift": None})
    kind, r = head
    metric = r["metric"]
    common = dict(metric=escape(ctx.lang.metric(metric)),
                  group=escape(ctx.lang.group(r["level"], r["group"])),
                  before=rate_value(metric, r["before"]), after=rate_value(metric, r["after"]),
                  diff=rate_change(ctx.lang, metric, r["difference"]),
                  lo=rate_change(ctx.lang, metric, r["ci_low"]),
                  hi=rate_change(ctx.lang, metric, r["ci_high"]), **ctx.interval("monitoring"))
    if kind == "rollout":
        text = ctx.t("f_rollout", rollout=escape(r["rollout"]),
                     date=f"{pd.Timestamp(r['date']):%Y-%m-%d}",
                     signals=integer(r["signals_after"]), **common)
    else:
        text = ctx.t("f_shift", start=f"{pd.Timestamp(r['start']):%Y-%m-%d}",
                     rules=escape(r["rules"]), **common)
    return Finding("monitoring", text, {"kind": kind, "group": r["group"],
                                        "metric": metric, "difference": r["difference"],
                                        "ci": (r["ci_low"], r["ci_high"])})


def finding_backlog(ctx: ReportContext) -> Finding | None:
    b = ctx.backlog
    if b is None or b.empty or b["rank"].isna().all():
        return None
    top = b[b["rank"] == b["rank"].min()].iloc[0]
    text = ctx.t("f_backlog", title=escape(ctx.title_of(top)),
                 touchpoints=escape(", ".join(ctx.lang.tp(x.strip())
                                              for x in str(top["touchpoints"]).split(","))),
                 impact=integer(top["impact"]), lo=integer(top["impact_low"]),
                 hi=integer(top["impact_high"]), basis=_basis(ctx, top["impact_basis"]),
                 effort=f"{float(top['effort_weeks']):g}")
    return Finding("backlog", text, {"id": top["id"], "impact": top["impact"]})


def _basis(ctx: ReportContext, basis: Any) -> str:
    return {"modelled": ctx.t("basis_modelled"),
            "measured in pilot": ctx.t("basis_measured")}.get(str(basis),
                                                              ctx.t("basis_none"))


def summary_findings(ctx: ReportContext) -> list[Finding]:
    found = [f for f in (finding_pain(ctx), finding_pilot(ctx),
                         finding_monitoring(ctx), finding_backlog(ctx),
                         finding_store(ctx)) if f is not None]
    return found[:5]


def section_summary(ctx: ReportContext, findings: list[Finding]) -> str:
    if not findings:
        return f"<p class=missing>{escape(ctx.t('no_findings'))}</p>"
    items = "".join(f"<li>{f.html}</li>" for f in findings)
    return f'<ol class="findings">{items}</ol>'
