"""The improvement report: one self-contained HTML file a manager reads without a notebook.

:func:`build_report` reads the tables the other notebooks wrote into a run folder
(:data:`TABLE_SOURCES` says which notebook writes which table), takes the backlog
(:mod:`cjmlib.report.backlog`), the monitoring result and the run-to-run comparison
(:mod:`cjmlib.report.monitoring`) and assembles, in English or Chinese (``language``):

1. an executive summary of three to five findings, each with its numbers and intervals: the
   most urgent pain point, the pilot's effect and verdict, a KPI shift seen by monitoring,
   the top of the backlog, the store pilot;
2. the journey map; 3. the top pain points with their evidence (behaviour, scores, themes,
   quotes, a channel breakdown); 4. the prioritised improvement backlog; 5. pilot results and
   verdict; 6. monitoring (control charts, shifts, rollouts) and the comparison with the
   previous run; 7. what to do next; 8. about the data and methods.

A section whose table is missing says so, naming the notebook that should have written it;
no section draws an empty chart. Figures are PNGs embedded as ``data:`` URIs, the CSS is
inline and there is no script, web font or other URL, so the file opens offline; a print
style sheet lays it out for A4. Free text (quotes) is redacted (:func:`cjmlib.core.privacy.redact`)
and breakdown rows with fewer than ``min_group_size`` units are suppressed
(:func:`cjmlib.core.privacy.suppress_small_groups`).
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar

LANGUAGES = ("en", "zh")
#: Tables the report reads from a run folder, and the notebook that writes each one.
TABLE_SOURCES: dict[str, str] = {
    "touchpoint_metrics": "02_journeys",
    "touchpoint_metrics_by_channel": "02_journeys",
    "funnel": "02_journeys",
    "transitions": "02_journeys",
    "survey_metrics": "03_voice",
    "themes": "03_voice",
    "sentiment": "03_voice",
    "drivers": "03_voice",
    "pilot_results": "05_pilot_eval",
    "pilot_summary": "05_pilot_eval",
    "did_results": "05_pilot_eval",
}

# --------------------------------------------------------------------------------------------
# Fixed text, English and Chinese
# --------------------------------------------------------------------------------------------
TEXT: dict[str, dict[str, str]] = {
    "en": {
        "title": "Customer journey improvement report",
        "subtitle": "Run {run_id} · generated {generated} · data {window}",
        "contents": "Contents",
        "summary": "Executive summary",
        "journey": "Journey map",
        "pain": "Top pain points and their evidence",
        "backlog": "Prioritised improvement backlog",
        "pilot": "Pilot results and verdict",
        "monitoring": "Monitoring",
        "comparison": "Since the previous run",
        "next": "What to do next",
        "about": "About this report",
        "missing": "Not available in this run: {what} is missing (written by {notebook}).",
        "no_findings": "No finding could be stated: the run folder holds none of the tables "
                       "the summary needs.",
        "section_failed": "This section could not be built ({error}); the other sections are "
                          "not affected.",
        "f_pain": "<b>{tp}</b> is the most urgent pain point (priority {score} of 100): {exit} "
                  "of the journeys that reach it end there without converting ({ci}{journeys} "
                  "journeys){csat}.",
        "ci_part": "95% CI {lo} to {hi}; ",
        "f_pain_csat": " and its CSAT is {csat} of 5 (95% CI {lo} to {hi}; n = {n}){lowest}",
        "f_pain_lowest": ", the lowest of all touchpoints",
        "f_pilot": "Pilot{name}: <b>{metric}</b> went from {control} to {treatment}, a change "
                   "of <b>{effect}</b> (95% CI {lo} to {hi}; adjusted p {p}; {n_c} control "
                   "vs {n_t} treatment units). {guardrails}Verdict: <b>{verdict}</b> ({why}).",
        "guardrails_ok": "Guardrails held ({names}). ",
        "guardrails_bad": "Guardrail breached: {names}. ",
        "untrustworthy": "Checks failed (sample ratio mismatch): the results are not "
                         "trustworthy. ",
        "f_store": "Store pilot ({n_t} pilot vs {n_c} control units; {inference}): {parts}.",
        "f_store_part": "<b>{metric}</b> {estimate} per unit and period (95% CI {lo} to {hi}; "
                        "p {p})",
        "f_rollout": "Since <b>{rollout}</b> ({date}) the {metric} at <b>{group}</b> moved "
                     "from {before} to {after} ({diff}, 95% CI {lo} to {hi}; {signals} "
                     "control-chart signals since).",
        "f_shift": "Monitoring: the {metric} at <b>{group}</b> shifted from {before} to "
                   "{after} from the period of {start} on ({diff}, 95% CI {lo} to {hi}; "
                   "Western Electric rules {rules}).",
        "f_no_shift": "Monitoring: no KPI moved beyond its control limits after the baseline "
                      "({n} series checked).",
        "f_backlog": "Top of the improvement backlog: <b>{title}</b> ({touchpoints}): an "
                     "estimated {impact} journeys kept over the analysed period (interval "
                     "{lo} to {hi}; {basis}) for {effort} person-weeks.",
        "basis_modelled": "modelled from the exit rate",
        "basis_measured": "measured in the pilot",
        "basis_none": "no evidence",
        "short_modelled": "modelled", "short_measured": "measured in pilot",
        "journey_caption": "Stages from left to right; touchpoints beneath, most urgent "
                           "first. Darker cells have a higher priority score (#rank, 1 = most "
                           "urgent); each cell shows the exit rate and CSAT.",
        "journey_legend": "darker = more urgent (#1 = most urgent)",
        "exit": "exit", "csat": "CSAT",
        "funnel_title": "Checkout funnel",
        "step": "Step", "customers": "Customers", "from_previous": "From previous step",
        "from_start": "From start",
        "pain_intro": "The three touchpoints with the highest priority score (behaviour and "
                      "attitude, weighted by how many conversions depend on them).",
        "behaviour": "Behaviour", "scores": "Scores", "voice": "What customers say",
        "reach": "reached by {customers} customers ({share})",
        "exit_rate_is": "exit rate {exit} (95% CI {lo} to {hi})",
        "conversion_is": "conversion {conv} (95% CI {lo} to {hi})",
        "dwell_is": "median time {dwell} s",
        "csat_is": "CSAT {csat} (95% CI {lo} to {hi}; n = {n})",
        "nps_is": "NPS {nps} (95% CI {lo} to {hi})",
        "sentiment_is": "comment sentiment {s} (−1 to 1)",
        "themes_are": "Negative themes: {terms}.",
        "no_scores": "no survey scores for this touchpoint",
        "no_quotes": "no comments about this touchpoint",
        "by_channel": "By channel",
        "channel": "Channel", "journeys": "Journeys", "exit_rate": "Exit rate",
        "ci95": "95% CI",
        "suppressed": "fewer than {k}: not shown",
        "driver": "Strongest driver of {outcome}: <b>{driver}</b> ({share} of the explained "
                  "variance, 95% CI {lo} to {hi}).",
        "evidence_title": "Exit rate and CSAT of the top pain points (95% intervals)",
        "exit_rate_label": "exit rate", "csat_label": "CSAT (1-5)",
        "backlog_intro": "Each candidate from configs/improvements.yaml, scored from this "
                         "run's evidence. Impact: journeys kept over the analysed period; "
                         "score = impact × (0.5 + 0.5 × severity) / effort.",
        "rank": "Rank", "improvement": "Improvement", "touchpoints": "Touchpoints",
        "status": "Status", "since": "since", "severity": "Severity",
        "impact": "Impact (interval)", "effort": "Effort (pw)", "score": "Score",
        "next_step": "Next step", "basis": "basis",
        "backlog_title": "Estimated impact with interval (journeys kept), by status",
        "journeys_kept": "journeys kept",
        "no_backlog": "No backlog: {reason}.",
        "verdict": "Verdict", "metric": "Metric", "role": "Role", "control": "Control",
        "treatment": "Treatment", "change": "Change", "adjusted_p": "Adjusted p",
        "decision": "Decision",
        "pilot_title": "Pilot effects relative to control (95% intervals)",
        "rel_change": "change vs control (%)",
        "store_title": "Store pilot (difference-in-differences)",
        "estimate": "Estimate", "inference": "Inference", "p": "p",
        "pre_trend": "Pre-trend p",
        "monitor_intro": "KPI trends per touchpoint, stage and channel with control limits "
                         "from the baseline ({baseline}): p-charts for exit and conversion "
                         "rates, individuals (XmR) charts for CSAT. A red point breaks a "
                         "Western Electric rule.",
        "rollouts_title": "Before and after each rollout",
        "rollout": "Rollout", "date": "Date", "group": "Group", "before": "Before",
        "after": "After", "difference": "Difference", "signals": "Signals",
        "shifts_title": "Shifts flagged by the control charts",
        "start": "From", "rules": "Rules",
        "no_signals": "No KPI moved beyond its control limits after the baseline.",
        "centre": "centre", "limits": "control limits", "signal": "signal",
        "baseline": "baseline",
        "no_monitoring": "Monitoring not available: {reason}.",
        "no_previous": "This is the first report in this reports folder: nothing to compare "
                       "with yet.",
        "compared_with": "Compared with run {run} (the previous report in this folder): "
                         "{changed} of {total} tracked values changed{inputs}.",
        "inputs_same": "; the input data are identical",
        "inputs_changed": "; {n} input file(s) differ",
        "previous": "Previous", "current": "Current", "item": "Item",
        "nothing_changed": "No tracked value changed beyond its interval.",
        "n_roll_out": "Roll out <b>{name}</b>: the pilot shows {effect} on {metric} (95% CI "
                      "{lo} to {hi}). Then set its status to shipped in "
                      "configs/improvements.yaml and watch {metric} on the control charts.",
        "n_stop": "Stop <b>{name}</b>: {why}. Consider setting its status to rejected.",
        "n_iterate": "Iterate on <b>{name}</b>: {why}.",
        "n_inconclusive": "Extend or repeat the pilot of <b>{name}</b>: the interval still "
                          "holds both no effect and a worthwhile one ({lo} to {hi}).",
        "n_investigate": "Investigate the {metric} at <b>{group}</b>: {before} → {after} since "
                         "{date}{rollout}.",
        "n_pilot_next": "Pilot next: <b>{title}</b> (backlog rank {rank}; estimated {impact} "
                        "journeys kept, interval {lo} to {hi}; {effort} person-weeks).",
        "n_cover": "Add candidate improvements for <b>{tp}</b>: it is the most urgent pain "
                   "point and no open candidate addresses it.",
        "n_gaps": "Complete the run: {items}.",
        "n_none": "Nothing urgent: keep the monitoring running.",
        "about_run": "Run folder <code>{run}</code>; tables found: {found}.",
        "about_missing": "Missing tables: {missing}.",
        "about_methods": "Rates carry their denominator and a 95% Wilson interval. Pilot "
                         "results follow the pre-registered plan (configs/pilot.yaml; methods "
                         "named in pilot_results). Control charts: p-chart and individuals "
                         "chart (Montgomery 2019) with Western Electric rules. Backlog: "
                         "cjmlib.report.backlog.",
        "about_privacy": "Customers appear only as pseudonymous ids; quotes are redacted of "
                         "e-mail addresses and phone numbers; breakdown rows with fewer than "
                         "{k} units are suppressed.",
        "table_word": "table {name}",
        "events_word": "the events table",
        "not_given": "not given",
        "and": " and ",
        "points": " points",
        "pp": " pp",
        "per_week": "per week",
        "yes": "yes", "no": "no",
    },
    "zh": {
        "title": "客户旅程改进报告",
        "subtitle": "运行 {run_id} · 生成于 {generated} · 数据期间 {window}",
        "contents": "目录",
        "summary": "执行摘要",
        "journey": "客户旅程地图",
        "pain": "主要痛点及证据",
        "backlog": "改进事项优先级清单",
        "pilot": "试点结果与结论",
        "monitoring": "持续监测",
        "comparison": "与上次运行相比",
        "next": "下一步行动",
        "about": "关于本报告",
        "missing": "本次运行缺少：{what}（应由 {notebook} 生成）。",
        "no_findings": "无法给出结论：运行文件夹中没有摘要所需的任何数据表。",
        "section_failed": "本节无法生成（{error}）；其他部分不受影响。",
        "f_pain": "<b>{tp}</b>是最需要改进的痛点（优先级 {score}/100）：到达该触点的旅程中有 "
                  "{exit} 在此结束且未转化（{ci}共 {journeys} 段旅程）{csat}。",
        "ci_part": "95% 置信区间 {lo} 至 {hi}；",
        "f_pain_csat": "；其 CSAT 为 {csat}/5（95% 置信区间 {lo} 至 {hi}；n = {n}）{lowest}",
        "f_pain_lowest": "，为所有触点中最低",
        "f_pilot": "试点{name}：<b>{metric}</b>从 {control} 变为 {treatment}，变化 "
                   "<b>{effect}</b>（95% 置信区间 {lo} 至 {hi}；校正后 p {p}；对照组 {n_c} "
                   "个、实验组 {n_t} 个单位）。{guardrails}结论：<b>{verdict}</b>（{why}）。",
        "guardrails_ok": "护栏指标均未恶化（{names}）。",
        "guardrails_bad": "护栏指标恶化：{names}。",
        "untrustworthy": "样本比例检验未通过：结果不可信。",
        "f_store": "门店试点（{n_t} 个试点单位对比 {n_c} 个对照单位；{inference}）：{parts}。",
        "f_store_part": "<b>{metric}</b>每单位每期变化 {estimate}（95% 置信区间 {lo} 至 {hi}；"
                        "p {p}）",
        "f_rollout": "自<b>{rollout}</b>（{date}）以来，<b>{group}</b>的{metric}从 {before} "
                     "变为 {after}（{diff}，95% 置信区间 {lo} 至 {hi}；此后控制图信号 "
                     "{signals} 个）。",
        "f_shift": "持续监测：<b>{group}</b>的{metric}自 {start} 所在期间起从 {before} 变为 "
                   "{after}（{diff}，95% 置信区间 {lo} 至 {hi}；西电规则 {rules}）。",
        "f_no_shift": "持续监测：基准期之后没有指标超出控制限（共检查 {n} 个序列）。",
        "f_backlog": "改进清单首位：<b>{title}</b>（{touchpoints}）：预计在分析期内挽回 "
                     "{impact} 段旅程（区间 {lo} 至 {hi}；{basis}），投入 {effort} 人周。",
        "basis_modelled": "依据退出率估算",
        "basis_measured": "由试点实测",
        "basis_none": "无证据",
        "short_modelled": "估算", "short_measured": "试点实测",
        "journey_caption": "从左到右为旅程阶段，下方为各触点，最紧迫的排在最上。颜色越深表示"
                           "优先级越高（#排名，1 为最紧迫）；每格显示退出率与 CSAT。",
        "journey_legend": "颜色越深越紧迫（#1 为最紧迫）",
        "exit": "退出率", "csat": "CSAT",
        "funnel_title": "结账漏斗",
        "step": "步骤", "customers": "客户数", "from_previous": "较上一步",
        "from_start": "较起点",
        "pain_intro": "优先级得分最高的三个触点（综合行为与态度，并按依赖该触点的转化加权）。",
        "behaviour": "行为", "scores": "评分", "voice": "客户原声",
        "reach": "触达 {customers} 位客户（{share}）",
        "exit_rate_is": "退出率 {exit}（95% 置信区间 {lo} 至 {hi}）",
        "conversion_is": "转化率 {conv}（95% 置信区间 {lo} 至 {hi}）",
        "dwell_is": "停留时间中位数 {dwell} 秒",
        "csat_is": "CSAT {csat}（95% 置信区间 {lo} 至 {hi}；n = {n}）",
        "nps_is": "NPS {nps}（95% 置信区间 {lo} 至 {hi}）",
        "sentiment_is": "评论情感 {s}（−1 至 1）",
        "themes_are": "负面主题：{terms}。",
        "no_scores": "该触点没有调查评分",
        "no_quotes": "没有关于该触点的评论",
        "by_channel": "按渠道",
        "channel": "渠道", "journeys": "旅程数", "exit_rate": "退出率",
        "ci95": "95% 置信区间",
        "suppressed": "少于 {k}：不显示",
        "driver": "{outcome}的最强驱动因素：<b>{driver}</b>（占可解释方差的 {share}，"
                  "95% 置信区间 {lo} 至 {hi}）。",
        "evidence_title": "主要痛点的退出率与 CSAT（95% 区间）",
        "exit_rate_label": "退出率", "csat_label": "CSAT（1-5）",
        "backlog_intro": "configs/improvements.yaml 中的每个候选改进，依据本次运行的证据评分。"
                         "影响：分析期内挽回的旅程数；得分 = 影响 × (0.5 + 0.5 × 严重度) / 投入。",
        "rank": "排名", "improvement": "改进事项", "touchpoints": "触点",
        "status": "状态", "since": "始于", "severity": "严重度",
        "impact": "影响（区间）", "effort": "投入（人周）", "score": "得分",
        "next_step": "下一步", "basis": "依据",
        "backlog_title": "预计影响及区间（挽回的旅程数），按状态着色",
        "journeys_kept": "挽回的旅程数",
        "no_backlog": "没有改进清单：{reason}。",
        "verdict": "结论", "metric": "指标", "role": "角色", "control": "对照组",
        "treatment": "实验组", "change": "变化", "adjusted_p": "校正后 p",
        "decision": "判定",
        "pilot_title": "试点效果（相对对照组，95% 区间）",
        "rel_change": "相对对照组的变化（%）",
        "store_title": "门店试点（双重差分）",
        "estimate": "估计值", "inference": "推断方法", "p": "p",
        "pre_trend": "前趋势 p",
        "monitor_intro": "按触点、阶段和渠道的关键指标趋势，控制限来自基准期（{baseline}）："
                         "退出率与转化率用 p 控制图，CSAT 用单值-移动极差（XmR）控制图。"
                         "红点表示触发西电规则。",
        "rollouts_title": "各次上线前后对比",
        "rollout": "上线事项", "date": "日期", "group": "分组", "before": "之前",
        "after": "之后", "difference": "差异", "signals": "信号",
        "shifts_title": "控制图发现的偏移",
        "start": "起始", "rules": "规则",
        "no_signals": "基准期之后没有指标超出控制限。",
        "centre": "中心线", "limits": "控制限", "signal": "信号", "baseline": "基准期",
        "no_monitoring": "无法进行持续监测：{reason}。",
        "no_previous": "这是该报告文件夹中的第一份报告：暂无可比较的内容。",
        "compared_with": "与运行 {run}（该文件夹中的上一份报告）相比：在 {total} 个跟踪值中有 "
                         "{changed} 个发生变化{inputs}。",
        "inputs_same": "；输入数据完全相同",
        "inputs_changed": "；有 {n} 个输入文件不同",
        "previous": "上次", "current": "本次", "item": "项目",
        "nothing_changed": "没有跟踪值超出其区间发生变化。",
        "n_roll_out": "全面上线<b>{name}</b>：试点显示{metric}变化 {effect}（95% 置信区间 {lo} "
                      "至 {hi}）。随后在 configs/improvements.yaml 中将其状态设为已上线，并在"
                      "控制图上跟踪{metric}。",
        "n_stop": "停止<b>{name}</b>：{why}。考虑将其状态设为已否决。",
        "n_iterate": "继续改进<b>{name}</b>：{why}。",
        "n_inconclusive": "延长或重做<b>{name}</b>的试点：区间（{lo} 至 {hi}）仍同时包含无效果"
                          "和有价值的效果。",
        "n_investigate": "调查<b>{group}</b>的{metric}：自 {date}{rollout}起从 {before} 变为 "
                         "{after}。",
        "n_pilot_next": "下一个试点：<b>{title}</b>（清单排名 {rank}；预计挽回 {impact} 段旅程，"
                        "区间 {lo} 至 {hi}；投入 {effort} 人周）。",
        "n_cover": "为<b>{tp}</b>补充候选改进：它是最紧迫的痛点，但没有未完成的候选事项针对它。",
        "n_gaps": "补全本次运行：{items}。",
        "n_none": "暂无紧急事项：继续保持监测。",
        "about_run": "运行文件夹 <code>{run}</code>；已找到的数据表：{found}。",
        "about_missing": "缺少的数据表：{missing}。",
        "about_methods": "所有比率均给出分母和 95% Wilson 置信区间。试点结果遵循预先登记的方案"
                         "（configs/pilot.yaml；方法见 pilot_results）。控制图：p 控制图与单值"
                         "控制图（Montgomery 2019），采用西电规则。改进清单方法见 "
                         "cjmlib.report.backlog。",
        "about_privacy": "客户仅以假名编号出现；引用的评论已去除电子邮件地址和电话号码；"
                         "少于 {k} 个单位的细分行不予显示。",
        "table_word": "数据表 {name}",
        "events_word": "事件表",
        "not_given": "未提供",
        "and": "与",
        "points": " 分",
        "pp": " 个百分点",
        "per_week": "每周",
        "yes": "是", "no": "否",
    },
}
VERDICTS = {
    "en": {"ship": "ship", "iterate": "iterate", "stop": "stop",
           "inconclusive": "inconclusive", "better": "better", "worse": "worse",
           "no clear difference": "no clear difference", "guardrail ok": "guardrail ok",
           "guardrail breached": "guardrail breached"},
    "zh": {"ship": "上线", "iterate": "继续迭代", "stop": "停止", "inconclusive": "尚无定论",
           "better": "更好", "worse": "更差", "no clear difference": "无明显差异",
           "guardrail ok": "护栏正常", "guardrail breached": "护栏被突破"},
}
REASONS_ZH = {
    "significant improvement, guardrails ok": "显著改善且护栏正常",
    "adjusted p >= alpha": "校正后 p ≥ α",
    "adjusted p < alpha": "校正后 p < α",
    "no harm beyond the tolerated margin": "未超出可容忍的损害幅度",
}
STATUS_TEXT = {
    "en": {"proposed": "proposed", "piloting": "piloting", "shipped": "shipped",
           "rejected": "rejected"},
    "zh": {"proposed": "待评估", "piloting": "试点中", "shipped": "已上线", "rejected": "已否决"},
}
RECOMMENDATION_TEXT = {
    "en": {"roll_out": "roll out, then mark shipped", "consider_rejecting": "consider rejecting",
           "keep_piloting": "keep piloting", "pilot_next": "pilot next",
           "monitor": "monitor after rollout", "": ""},
    "zh": {"roll_out": "全面上线后标记为已上线", "consider_rejecting": "考虑否决",
           "keep_piloting": "继续试点", "pilot_next": "下一个试点", "monitor": "上线后持续监测",
           "": ""},
}
METRIC_TEXT = {
    "en": {"exit_rate": "exit rate", "conversion_rate": "conversion rate",
           "csat_mean": "mean CSAT", "nps_mean": "NPS", "ces_mean": "mean CES",
           "priority_rank": "priority rank", "effect": "effect", "decision": "decision",
           "estimate": "estimate", "status": "status", "rank": "rank", "nps": "NPS",
           "changed files": "changed files"},
    "zh": {"exit_rate": "退出率", "conversion_rate": "转化率", "csat_mean": "CSAT 均值",
           "nps_mean": "NPS", "ces_mean": "CES 均值", "priority_rank": "优先级排名",
           "effect": "效果", "decision": "判定", "estimate": "估计值", "status": "状态",
           "rank": "排名", "nps": "NPS", "changed files": "变化的文件数",
           "conversion": "转化率", "revenue_per_customer": "人均收入",
           "support_contacts_per_session": "每次会话的客服联系数", "checkout_time": "结账时长",
           "csat_top2box": "CSAT 前两档占比", "csat_rank": "CSAT 秩效应", "sales": "销售额",
           "footfall": "客流量"},
}
ROLE_TEXT = {"en": {"primary": "primary", "guardrail": "guardrail", "secondary": "secondary"},
             "zh": {"primary": "主要指标", "guardrail": "护栏指标", "secondary": "次要指标"}}
SECTION_IDS = ("summary", "journey", "pain", "backlog", "pilot", "monitoring", "next", "about")


# --------------------------------------------------------------------------------------------
# Run tables
# --------------------------------------------------------------------------------------------
def load_run_tables(run_dir: str | os.PathLike[str],
                    names: Sequence[str] = tuple(TABLE_SOURCES)) -> dict[str, pd.DataFrame]:
    """The tables of ``names`` found in ``run_dir`` (Parquet preferred, else CSV); missing
    ones are simply absent from the result."""
    folder = Path(run_dir)
    out: dict[str, pd.DataFrame] = {}
    for name in names:
        for suffix in (".parquet", ".csv"):
            path = folder / f"{name}{suffix}"
            if path.exists():
                out[name] = (pd.read_parquet(path) if suffix == ".parquet"
                             else pd.read_csv(path))
                break
    return out


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------
def _finite(v: Any) -> bool:
    try:
        return v is not None and not pd.isna(v) and bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


def _pct(v: Any, digits: int = 1) -> str:
    return f"{100 * float(v):.{digits}f}%" if _finite(v) else "–"


def _num(v: Any, signed: bool = False) -> str:
    if not _finite(v):
        return "–"
    v = float(v)
    sign = "+" if signed else ""
    a = abs(v)
    if a >= 100:
        return f"{v:{sign},.0f}"
    if a >= 10:
        return f"{v:{sign},.1f}"
    if a >= 1:
        return f"{v:{sign}.2f}"
    return f"{v:{sign}.3g}"


def _int(v: Any) -> str:
    return f"{int(round(float(v))):,}" if _finite(v) else "–"


def _p(v: Any) -> str:
    if not _finite(v):
        return "–"
    return "&lt; 0.001" if float(v) < 0.001 else f"{float(v):.3f}"


def _p_is(v: Any) -> str:
    """``= 0.017`` or ``< 0.001`` (HTML-escaped) for running text."""
    text = _p(v)
    return text if text.startswith("&lt;") else f"= {text}"


def _run_date(run_id: str) -> str:
    """``2026-11-22`` from a run id ``20261122T120000Z``; other text unchanged."""
    try:
        return f"{datetime.strptime(run_id[:16], '%Y%m%dT%H%M%SZ'):%Y-%m-%d}"
    except ValueError:
        return run_id


def _e(text: Any) -> str:
    return html.escape("" if text is None else str(text))


@dataclass
class _Lang:
    """Translation and number formats of one report language."""

    code: str
    labels: Mapping[str, str]
    stage_labels: Mapping[str, str]
    metric_labels: Mapping[str, str]

    def t(self, key: str, **values: Any) -> str:
        text = TEXT[self.code][key]
        return text.format(**values) if values else text

    def tp(self, name: Any) -> str:
        return str(self.labels.get(name, str(name).replace("_", " ")))

    def group(self, level: str, group: str) -> str:
        """A monitoring group in words: ``Payment / app``, a stage name, ..."""
        if level == "stage":
            return str(self.stage_labels.get(group, group))
        parts = str(group).split(" / ")
        if level in ("touchpoint", "touchpoint_channel"):
            parts[0] = self.tp(parts[0])
        return " / ".join(parts)

    def metric(self, name: Any) -> str:
        name = str(name)
        return str(self.metric_labels.get(name) or METRIC_TEXT[self.code].get(name)
                   or METRIC_TEXT["en"].get(name) or name.replace("_", " "))

    def verdict(self, name: Any) -> str:
        return VERDICTS[self.code].get(str(name), str(name))

    def reason(self, text: Any) -> str:
        text = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text)
        return REASONS_ZH.get(text, text) if self.code == "zh" else text

    def pp(self, v: Any, signed: bool = True) -> str:
        return (f"{100 * float(v):{'+' if signed else ''}.1f}{self.t('pp')}"
                if _finite(v) else "–")


def _effect_text(lang: _Lang, kind: str, method: str, v: Any) -> str:
    method = str(method)
    if kind == "proportion" or "top-2-box" in method:
        return lang.pp(v)
    if kind == "nps":
        return f"{_num(v, signed=True)}{lang.t('points')}"
    return _num(v, signed=True)


def _value_text(kind: str, method: str, v: Any) -> str:
    method = str(method)
    if kind == "proportion" or "top-2-box" in method:
        return _pct(v)
    if kind == "nps":
        return _num(v, signed=True)
    return _num(v)


def _rate_change(lang: _Lang, metric: str, v: Any) -> str:
    return lang.pp(v) if metric in ("exit_rate", "conversion_rate") else _num(v, signed=True)


def _rate_value(metric: str, v: Any) -> str:
    return _pct(v) if metric in ("exit_rate", "conversion_rate") else _num(v)


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], *,
           numeric: Sequence[int] = (), cls: str = "") -> str:
    """An HTML table; cells are already escaped HTML; ``numeric`` columns align right."""
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{h}</th>'
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i in numeric else ""}>{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return (f'<div class="table-wrap"><table class="{cls}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


def _figure(uri: str, caption: str = "", alt: str = "") -> str:
    cap = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f'<figure><img src="{uri}" alt="{_e(alt or caption)}">{cap}</figure>'


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------
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
        import re

        return html.unescape(re.sub(r"<[^>]*>", "", self.html))


@dataclass
class Report:
    """A built report: the HTML document, its findings, next steps, what was missing and the
    sections that could not be built (``errors``: section -> exception)."""

    html: str
    language: str
    findings: list[Finding]
    next_steps: list[str]
    missing: dict[str, str]
    run_id: str
    errors: dict[str, str] = field(default_factory=dict)

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the HTML atomically (UTF-8) and return the path."""
        from cjmlib.core.io import atomic_write

        written = atomic_write(path, lambda tmp: tmp.write_text(self.html, encoding="utf-8"))
        written.chmod(0o644)  # a report is for reading: not the temporary file's 0600
        return written

    def summary_markdown(self) -> str:
        """The findings as a Markdown list (for the notebook)."""
        import re

        def md(h: str) -> str:
            return html.unescape(re.sub(r"</?b>", "**", re.sub(r"<(?!/?b>)[^>]+>", "", h)))

        return "\n".join(f"{k}. {md(f.html)}" for k, f in enumerate(self.findings, start=1))

    def _repr_html_(self) -> str:
        items = "".join(f"<li>{f.html}</li>" for f in self.findings)
        return f"<ol>{items}</ol>"


class _Builder:
    """Assembles one report; each section method returns HTML."""

    def __init__(self, run_dir: Path, tables: Mapping[str, pd.DataFrame], lang: _Lang, *,
                 stages: Sequence[str], backlog: pd.DataFrame | None,
                 backlog_reason: str | None, monitoring: Any, monitoring_reason: str | None,
                 comparison: pd.DataFrame | None, previous_run: str | None,
                 min_group_size: int, rollouts: Sequence[Any], pilot_name: str | None,
                 charts_shown: int) -> None:
        self.run_dir = run_dir
        self.tables = dict(tables)
        self.lang = lang
        self.t = lang.t
        self.stages = list(stages)
        self.backlog = backlog
        self.backlog_reason = backlog_reason
        self.monitoring = monitoring
        self.monitoring_reason = monitoring_reason
        self.comparison = comparison
        self.previous_run = previous_run
        self.k = min_group_size
        self.rollouts = list(rollouts)
        self.pilot_name = pilot_name
        self.charts_shown = charts_shown
        self.missing: dict[str, str] = {}

    # -- helpers ------------------------------------------------------------------------------
    def table(self, name: str) -> pd.DataFrame | None:
        df = self.tables.get(name)
        if df is None or df.empty:
            self.missing.setdefault(name, TABLE_SOURCES.get(name, "?"))
            return None
        return df

    def missing_note(self, name: str) -> str:
        return (f'<p class="missing">{_e(self.t("missing", what=self.t("table_word", name=name), notebook=TABLE_SOURCES.get(name, "?")))}'
                "</p>")

    def metrics(self) -> pd.DataFrame | None:
        tm = self.table("touchpoint_metrics")
        if tm is None:
            return None
        if "channel" in tm.columns and (tm["channel"] == "all").any():
            tm = tm[tm["channel"] == "all"]
        return tm.sort_values("priority_rank", na_position="last") if (
            "priority_rank" in tm.columns) else tm

    def survey_row(self, touchpoint: str) -> dict[str, Any] | None:
        sv = self.tables.get("survey_metrics")
        if sv is None or sv.empty:
            return None
        rows = sv[(sv["level"] == "touchpoint") & (sv["group"] == touchpoint)]
        return rows.iloc[0].to_dict() if len(rows) else None

    def primary_pilot(self) -> tuple[dict[str, Any] | None, pd.DataFrame | None]:
        pr = self.table("pilot_results")
        if pr is None:
            return None, None
        prim = pr[pr["role"] == "primary"] if "role" in pr.columns else pr.iloc[:1]
        if prim.empty:
            prim = pr.iloc[:1]
        return prim.iloc[0].to_dict(), pr

    # -- findings -----------------------------------------------------------------------------
    def finding_pain(self) -> Finding | None:
        tm = self.metrics()
        if tm is None or "priority_rank" not in tm.columns or tm["priority_rank"].isna().all():
            return None
        top = tm.iloc[0].to_dict()
        tp = top["touchpoint"]
        csat = ""
        sv = self.survey_row(tp)
        numbers: dict[str, Any] = {"touchpoint": tp, "exit_rate": top.get("exit_rate"),
                                   "priority_score": top.get("priority_score")}
        if sv is not None and _finite(sv.get("csat_mean")):
            lowest = ""
            all_sv = self.tables["survey_metrics"]
            tps = all_sv[all_sv["level"] == "touchpoint"]
            if len(tps) > 1 and float(sv["csat_mean"]) <= float(tps["csat_mean"].min()):
                lowest = self.t("f_pain_lowest")
            csat = self.t("f_pain_csat", csat=f"{sv['csat_mean']:.2f}",
                          lo=f"{sv['csat_ci_low']:.2f}", hi=f"{sv['csat_ci_high']:.2f}",
                          n=_int(sv.get("n_csat", sv.get("n"))), lowest=lowest)
            numbers.update(csat_mean=sv["csat_mean"], csat_ci=(sv["csat_ci_low"],
                                                               sv["csat_ci_high"]))
        elif _finite(top.get("csat_mean")):
            csat = self.t("f_pain_csat", csat=f"{top['csat_mean']:.2f}", lo="–", hi="–",
                          n=_int(top.get("feedback_n")), lowest="")
        ci = (self.t("ci_part", lo=_pct(top.get("exit_rate_ci_low")),
                     hi=_pct(top.get("exit_rate_ci_high")))
              if _finite(top.get("exit_rate_ci_low")) else "")
        text = self.t("f_pain", tp=_e(self.lang.tp(tp)), score=_int(top.get("priority_score")),
                      exit=_pct(top.get("exit_rate")), ci=ci,
                      journeys=_int(top.get("journeys")), csat=csat)
        return Finding("pain_point", text, numbers)

    def finding_pilot(self) -> Finding | None:
        prim, pr = self.primary_pilot()
        if prim is None or pr is None:
            return None
        kind, method = str(prim.get("kind")), str(prim.get("method"))
        guards = pr[(pr.get("role") == "guardrail") & (pr["treatment"] == prim["treatment"])] \
            if "role" in pr.columns else pr.iloc[0:0]
        guardrails = ""
        if len(guards):
            bad = guards[guards["decision"] == "guardrail breached"]
            names = ", ".join(self.lang.metric(m) for m in (bad if len(bad) else guards)["metric"])
            guardrails = self.t("guardrails_bad" if len(bad) else "guardrails_ok", names=_e(names))
        if "trustworthy" in prim and prim["trustworthy"] is not None and not bool(
                prim["trustworthy"]):
            guardrails = self.t("untrustworthy") + guardrails
        name = f" <b>{_e(self.pilot_name)}</b>" if self.pilot_name else ""
        if self.lang.code == "zh" and self.pilot_name:
            name = f"“{_e(self.pilot_name)}”"
        text = self.t("f_pilot", name=name, metric=_e(self.lang.metric(prim["metric"])),
                      control=_value_text(kind, method, prim.get("control_value")),
                      treatment=_value_text(kind, method, prim.get("treatment_value")),
                      effect=_effect_text(self.lang, kind, method, prim.get("effect")),
                      lo=_effect_text(self.lang, kind, method, prim.get("ci_low")),
                      hi=_effect_text(self.lang, kind, method, prim.get("ci_high")),
                      p=_p_is(prim.get("p_value_adjusted")), n_c=_int(prim.get("n_control")),
                      n_t=_int(prim.get("n_treatment")), guardrails=guardrails,
                      verdict=_e(self.lang.verdict(prim.get("decision"))),
                      why=_e(self.lang.reason(prim.get("reason", ""))) or "–")
        return Finding("pilot", text, {"metric": prim["metric"], "effect": prim.get("effect"),
                                       "ci": (prim.get("ci_low"), prim.get("ci_high")),
                                       "decision": prim.get("decision")})

    def did_rows(self) -> pd.DataFrame | None:
        dd = self.tables.get("did_results")
        if dd is None or dd.empty:
            return None
        if "default" in dd.columns and dd["default"].astype(bool).any():
            return dd[dd["default"].astype(bool)]
        return dd.groupby("metric", sort=False).head(1)

    def finding_store(self) -> Finding | None:
        dd = self.did_rows()
        if dd is None:
            return None
        parts = [self.t("f_store_part", metric=_e(self.lang.metric(r["metric"])),
                        estimate=_num(r["estimate"], signed=True), lo=_num(r["ci_low"]),
                        hi=_num(r["ci_high"]), p=_p_is(r["p_value"]))
                 for r in dd.to_dict("records")]
        first = dd.iloc[0]
        sep = "；" if self.lang.code == "zh" else "; "
        text = self.t("f_store", n_t=_int(first.get("n_treated_units")),
                      n_c=_int(first.get("n_control_units")), inference=_e(first["inference"]),
                      parts=sep.join(parts))
        return Finding("store_pilot", text, {"metrics": dd["metric"].tolist()})

    def headline_shift(self) -> tuple[str, dict[str, Any]] | None:
        """The monitoring result worth a finding: the strongest significant rollout change in
        an exit or conversion rate, else the strongest shift."""
        mon = self.monitoring
        if mon is None:
            return None
        ro = mon.rollouts
        if len(ro):
            from cjmlib.stats.multiplicity import adjust_p_values

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

    def finding_monitoring(self) -> Finding | None:
        mon = self.monitoring
        if mon is None:
            return None
        head = self.headline_shift()
        if head is None:
            n = mon.charts.groupby(["level", "group", "metric"]).ngroups if len(
                mon.charts) else 0
            return Finding("monitoring", self.t("f_no_shift", n=n), {"shift": None})
        kind, r = head
        metric = r["metric"]
        common = dict(metric=_e(self.lang.metric(metric)),
                      group=_e(self.lang.group(r["level"], r["group"])),
                      before=_rate_value(metric, r["before"]), after=_rate_value(metric, r["after"]),
                      diff=_rate_change(self.lang, metric, r["difference"]),
                      lo=_rate_change(self.lang, metric, r["ci_low"]),
                      hi=_rate_change(self.lang, metric, r["ci_high"]))
        if kind == "rollout":
            text = self.t("f_rollout", rollout=_e(r["rollout"]),
                          date=f"{pd.Timestamp(r['date']):%Y-%m-%d}",
                          signals=_int(r["signals_after"]), **common)
        else:
            text = self.t("f_shift", start=f"{pd.Timestamp(r['start']):%Y-%m-%d}",
                          rules=_e(r["rules"]), **common)
        return Finding("monitoring", text, {"kind": kind, "group": r["group"],
                                            "metric": metric, "difference": r["difference"],
                                            "ci": (r["ci_low"], r["ci_high"])})

    def finding_backlog(self) -> Finding | None:
        b = self.backlog
        if b is None or b.empty or b["rank"].isna().all():
            return None
        top = b[b["rank"] == b["rank"].min()].iloc[0]
        text = self.t("f_backlog", title=_e(self.title_of(top)),
                      touchpoints=_e(", ".join(self.lang.tp(x.strip())
                                               for x in str(top["touchpoints"]).split(","))),
                      impact=_int(top["impact"]), lo=_int(top["impact_low"]),
                      hi=_int(top["impact_high"]), basis=self.basis(top["impact_basis"]),
                      effort=f"{float(top['effort_weeks']):g}")
        return Finding("backlog", text, {"id": top["id"], "impact": top["impact"]})

    def title_of(self, row: Mapping[str, Any]) -> str:
        if self.lang.code == "zh" and isinstance(row.get("title_zh"), str):
            return row["title_zh"]
        return str(row.get("title") or row.get("id"))

    def basis(self, basis: Any) -> str:
        return {"modelled": self.t("basis_modelled"),
                "measured in pilot": self.t("basis_measured")}.get(str(basis),
                                                                   self.t("basis_none"))

    def findings(self) -> list[Finding]:
        found = [f for f in (self.finding_pain(), self.finding_pilot(),
                             self.finding_monitoring(), self.finding_backlog(),
                             self.finding_store()) if f is not None]
        return found[:5]

    # -- sections -----------------------------------------------------------------------------
    def section_summary(self, findings: list[Finding]) -> str:
        if not findings:
            return f"<p class=missing>{_e(self.t('no_findings'))}</p>"
        items = "".join(f"<li>{f.html}</li>" for f in findings)
        return f'<ol class="findings">{items}</ol>'

    def section_journey(self) -> str:
        from cjmlib.report import plots as figs

        tm = self.metrics()
        if tm is None:
            return self.missing_note("touchpoint_metrics")
        out = []
        fig = figs.journey_map(tm, stages=self.stages, labels=self.lang.labels,
                               stage_labels=self.lang.stage_labels,
                               words={"exit": self.t("exit"), "csat": self.t("csat"),
                                      "legend": self.t("journey_legend")})
        out.append(_figure(figs.figure_data_uri(fig), self.t("journey_caption"),
                           self.t("journey")))
        fn = self.tables.get("funnel")
        if fn is not None and len(fn):
            rows = []
            for r in fn.to_dict("records"):
                prev = _pct(r.get("conversion_from_previous"))
                if _finite(r.get("conversion_from_previous_ci_low")):
                    prev += (f" ({_pct(r['conversion_from_previous_ci_low'])}–"
                             f"{_pct(r['conversion_from_previous_ci_high'])})")
                rows.append([_e(self.lang.tp(r["step"])), _int(r.get("customers")), prev,
                             _pct(r.get("conversion_from_start"))])
            out.append(f"<h3>{_e(self.t('funnel_title'))}</h3>")
            out.append(_table([self.t("step"), self.t("customers"), self.t("from_previous"),
                               self.t("from_start")], rows, numeric=(1, 2, 3)))
        return "".join(out)

    def quotes(self, touchpoint: str, n: int = 3) -> list[tuple[str, str]]:
        """Up to ``n`` distinct negative comments about a touchpoint: (language, text)."""
        from cjmlib.core.privacy import redact

        st = self.tables.get("sentiment")
        picked: list[tuple[str, str]] = []
        if st is not None and len(st) and "text" in st.columns:
            q = st[(st["touchpoint"] == touchpoint) & st["text"].notna()].copy()
            if "sentiment" in q.columns:
                q = q[q["sentiment"].fillna(0) < 0]
                q = q.sort_values("sentiment", kind="stable")
            lang_col = "language" if "language" in q.columns else None
            if lang_col:
                q["_own"] = q[lang_col] != self.lang.code
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
            th = self.tables.get("themes")
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

    def section_pain(self) -> str:
        from cjmlib.core.privacy import suppress_small_groups
        from cjmlib.report import plots as figs

        tm = self.metrics()
        if tm is None:
            return self.missing_note("touchpoint_metrics")
        ranked = tm.dropna(subset=["priority_rank"]) if "priority_rank" in tm.columns else tm
        top = ranked.head(3)
        out = [f"<p>{_e(self.t('pain_intro'))}</p>"]
        if self.tables.get("survey_metrics") is None:
            out.append(self.missing_note("survey_metrics"))
            self.table("survey_metrics")
        by_channel = self.tables.get("touchpoint_metrics_by_channel")
        themes = self.tables.get("themes")
        evidence_rows = []
        for r in top.to_dict("records"):
            tp = r["touchpoint"]
            stage = self.lang.stage_labels.get(r.get("stage"), r.get("stage") or "")
            rank = f"#{int(r['priority_rank'])} " if _finite(r.get("priority_rank")) else ""
            behaviour = [self.t("reach", customers=_int(r.get("customers")),
                                share=_pct(r.get("reach_share"))),
                         self.t("exit_rate_is", exit=_pct(r.get("exit_rate")),
                                lo=_pct(r.get("exit_rate_ci_low")),
                                hi=_pct(r.get("exit_rate_ci_high"))),
                         self.t("conversion_is", conv=_pct(r.get("conversion_rate")),
                                lo=_pct(r.get("ci_low")), hi=_pct(r.get("ci_high")))]
            if _finite(r.get("median_duration_s")):
                behaviour.append(self.t("dwell_is", dwell=_int(r["median_duration_s"])))
            sv = self.survey_row(tp)
            scores = []
            if sv is not None:
                if _finite(sv.get("csat_mean")):
                    scores.append(self.t("csat_is", csat=f"{sv['csat_mean']:.2f}",
                                         lo=f"{sv['csat_ci_low']:.2f}",
                                         hi=f"{sv['csat_ci_high']:.2f}",
                                         n=_int(sv.get("n_csat", sv.get("n")))))
                if _finite(sv.get("nps")):
                    scores.append(self.t("nps_is", nps=_num(sv["nps"], signed=True),
                                         lo=_num(sv["nps_ci_low"], signed=True),
                                         hi=_num(sv["nps_ci_high"], signed=True)))
            elif _finite(r.get("csat_mean")):
                scores.append(f"CSAT {r['csat_mean']:.2f}")
            if _finite(r.get("sentiment_mean")):
                scores.append(self.t("sentiment_is", s=_num(r["sentiment_mean"], signed=True)))
            voice = []
            if themes is not None and len(themes):
                neg = themes[(themes["level"] == "touchpoint") & (themes["group"] == tp)
                             & (themes["direction"] == "negative")]
                if len(neg):
                    own = neg[neg["language"] == self.lang.code] if "language" in neg else neg
                    terms = (own if len(own) else neg).sort_values("rank")["term"].head(5)
                    voice.append(f"<p>{_e(self.t('themes_are', terms='、'.join(terms) if self.lang.code == 'zh' else ', '.join(terms)))}</p>")
            quotes = self.quotes(tp)
            if quotes:
                voice.append("".join(f'<blockquote lang="{_e(q[0] or self.lang.code)}">'
                                     f"“{_e(q[1])}”</blockquote>" for q in quotes))
            else:
                voice.append(f"<p class=muted>{_e(self.t('no_quotes'))}</p>")
            channel_html = ""
            if by_channel is not None and len(by_channel):
                ch = by_channel[by_channel["touchpoint"] == tp]
                if len(ch) > 1:
                    ch = suppress_small_groups(
                        ch[["channel", "customers", "journeys", "exit_rate", "exit_rate_ci_low",
                            "exit_rate_ci_high"]].reset_index(drop=True),
                        count_col="customers", min_size=self.k)
                    rows = []
                    for c in ch.to_dict("records"):
                        if c["suppressed"]:
                            rows.append([_e(c["channel"]), _e(self.t("suppressed", k=self.k)),
                                         "", ""])
                        else:
                            rows.append([_e(c["channel"]), _int(c["journeys"]),
                                         _pct(c["exit_rate"]),
                                         f"{_pct(c['exit_rate_ci_low'])}–"
                                         f"{_pct(c['exit_rate_ci_high'])}"])
                    channel_html = (f"<h4>{_e(self.t('by_channel'))}</h4>" + _table(
                        [self.t("channel"), self.t("journeys"), self.t("exit_rate"),
                         self.t("ci95")], rows, numeric=(1, 2, 3), cls="compact"))
            out.append(
                f'<article class="pain"><h3>{_e(rank)}{_e(self.lang.tp(tp))} '
                f'<span class="muted">({_e(stage)})</span></h3><div class="cols">'
                f"<div><h4>{_e(self.t('behaviour'))}</h4><ul>"
                + "".join(f"<li>{_e(b)}</li>" for b in behaviour) + "</ul>"
                f"<h4>{_e(self.t('scores'))}</h4><ul>"
                + ("".join(f"<li>{_e(s)}</li>" for s in scores) if scores else
                   f"<li class=muted>{_e(self.t('no_scores'))}</li>") + "</ul>"
                + channel_html + "</div>"
                f"<div><h4>{_e(self.t('voice'))}</h4>{''.join(voice)}</div></div></article>")
            row = {"touchpoint": tp, "exit_rate": r.get("exit_rate"),
                   "exit_rate_ci_low": r.get("exit_rate_ci_low", r.get("exit_rate")),
                   "exit_rate_ci_high": r.get("exit_rate_ci_high", r.get("exit_rate"))}
            if sv is not None:
                row.update(csat_mean=sv.get("csat_mean"), csat_ci_low=sv.get("csat_ci_low"),
                           csat_ci_high=sv.get("csat_ci_high"))
            evidence_rows.append(row)
        drivers = self.tables.get("drivers")
        if drivers is not None and len(drivers) and {"outcome", "driver", "share"} <= set(
                drivers.columns):
            first = drivers[drivers["outcome"] == drivers["outcome"].iloc[0]].sort_values(
                "share", ascending=False).iloc[0]
            out.append("<p>" + self.t(
                "driver", outcome=_e(self.lang.metric(first["outcome"])),
                driver=_e(self.lang.tp(first["driver"])), share=_pct(first["share"], 0),
                lo=_pct(first.get("share_ci_low"), 0), hi=_pct(first.get("share_ci_high"), 0))
                + "</p>")
        more = ranked.head(5)
        ev = pd.DataFrame(evidence_rows)
        extra = [{"touchpoint": r["touchpoint"], "exit_rate": r.get("exit_rate"),
                  "exit_rate_ci_low": r.get("exit_rate_ci_low", r.get("exit_rate")),
                  "exit_rate_ci_high": r.get("exit_rate_ci_high", r.get("exit_rate")),
                  **{k: (self.survey_row(r["touchpoint"]) or {}).get(k, np.nan)
                     for k in ("csat_mean", "csat_ci_low", "csat_ci_high")}}
                 for r in more.iloc[len(ev):].to_dict("records")]
        ev = pd.concat([ev, pd.DataFrame(extra)], ignore_index=True) if extra else ev
        if len(ev) and ev["exit_rate"].notna().any():
            fig = figs.pain_point_evidence(ev, labels=self.lang.labels,
                                           exit_label=self.t("exit_rate_label"),
                                           csat_label=self.t("csat_label"),
                                           title=self.t("evidence_title"))
            out.append(_figure(figs.figure_data_uri(fig), alt=self.t("evidence_title")))
        return "".join(out)

    def section_backlog(self) -> str:
        from cjmlib.report import plots as figs

        b = self.backlog
        if b is None or b.empty:
            if self.tables.get("touchpoint_metrics") is None:
                return self.missing_note("touchpoint_metrics")
            return (f"<p class=missing>"
                    f"{_e(self.t('no_backlog', reason=self.backlog_reason or '–'))}</p>")
        rows = []
        for r in b.to_dict("records"):
            tps = ", ".join(self.lang.tp(x.strip()) for x in str(r["touchpoints"]).split(","))
            status = STATUS_TEXT[self.lang.code].get(r["status"], r["status"])
            since = r.get("status_since")
            since = (f'<br><span class="muted">{_e(self.t("since"))} {_e(_run_date(since))}'
                     "</span>" if isinstance(since, str) else "")
            short = {"modelled": self.t("short_modelled"),
                     "measured in pilot": self.t("short_measured")}.get(r["impact_basis"], "")
            impact = (f"{_int(r['impact'])} ({_int(r['impact_low'])}–{_int(r['impact_high'])})"
                      f'<br><span class="muted">{_e(short)}</span>'
                      if _finite(r["impact"]) else "–")
            reach = (f"{_int(r.get('reach_customers'))}<br><span class=muted>"
                     f"{_pct(r.get('reach_share'), 0)}</span>"
                     if _finite(r.get("reach_customers")) else "–")
            rows.append([_int(r["rank"]) if _finite(r["rank"]) else "–",
                         f"{_e(self.title_of(r))}<br><span class=muted>{_e(tps)}</span>",
                         f'<span class="status {r["status"]}">{_e(status)}</span>{since}',
                         reach, f"{r['severity']:.2f}" if _finite(r["severity"]) else "–",
                         impact, f"{float(r['effort_weeks']):g}",
                         _num(r["score"]) if _finite(r["score"]) else "–",
                         _e(RECOMMENDATION_TEXT[self.lang.code].get(r["recommendation"] or "",
                                                                     r["recommendation"]))])
        out = [f"<p>{_e(self.t('backlog_intro'))}</p>",
               _table([self.t("rank"), self.t("improvement"), self.t("status"),
                       self.t("customers"), self.t("severity"), self.t("impact"),
                       self.t("effort"), self.t("score"), self.t("next_step")], rows,
                      numeric=(0, 3, 4, 5, 6, 7), cls="backlog")]
        drawn = b[b["impact"].notna()]
        if len(drawn):
            fig = figs.backlog_chart(drawn, titles=[self.title_of(r) for r in
                                                    drawn.to_dict("records")],
                                     status_labels=STATUS_TEXT[self.lang.code],
                                     xlabel=self.t("journeys_kept"),
                                     title=self.t("backlog_title"))
            out.append(_figure(figs.figure_data_uri(fig), alt=self.t("backlog_title")))
        return "".join(out)

    def section_pilot(self) -> str:
        from cjmlib.pilots.plots import forest_plot
        from cjmlib.report import plots as figs

        out = []
        prim, pr = self.primary_pilot()
        if pr is None:
            out.append(self.missing_note("pilot_results"))
        else:
            decision = str(prim.get("decision"))
            out.append(f'<p class="verdict {_e(decision)}">{_e(self.t("verdict"))}: '
                       f"<b>{_e(self.lang.verdict(decision))}</b> — "
                       f"{_e(self.lang.metric(prim['metric']))}: "
                       f"{_effect_text(self.lang, str(prim['kind']), str(prim['method']), prim['effect'])} "
                       f"(95% CI {_effect_text(self.lang, str(prim['kind']), str(prim['method']), prim['ci_low'])} "
                       f"… {_effect_text(self.lang, str(prim['kind']), str(prim['method']), prim['ci_high'])})</p>")
            rows = []
            for r in pr.to_dict("records"):
                kind, method = str(r["kind"]), str(r["method"])
                rows.append([_e(self.lang.metric(r["metric"])),
                             _e(ROLE_TEXT[self.lang.code].get(r.get("role"), r.get("role", ""))),
                             _value_text(kind, method, r["control_value"]),
                             _value_text(kind, method, r["treatment_value"]),
                             _effect_text(self.lang, kind, method, r["effect"]),
                             f"{_effect_text(self.lang, kind, method, r['ci_low'])} … "
                             f"{_effect_text(self.lang, kind, method, r['ci_high'])}",
                             _p(r.get("p_value_adjusted")),
                             _e(self.lang.verdict(r["decision"]))])
            out.append(_table([self.t("metric"), self.t("role"), self.t("control"),
                               self.t("treatment"), self.t("change"), self.t("ci95"),
                               self.t("adjusted_p"), self.t("decision")], rows,
                              numeric=(2, 3, 4, 5, 6)))
            rel = pr[pr["rel_effect"].map(_finite) & pr["rel_ci_low"].map(_finite)] if (
                "rel_ci_low" in pr.columns) else pr.iloc[0:0]
            if len(rel):
                fig = forest_plot(
                    rel, names=[f"{self.lang.metric(m)} ({ROLE_TEXT[self.lang.code].get(r, r)})"
                                for m, r in zip(rel["metric"], rel.get("role", [""] * len(rel)),
                                                strict=True)],
                    decision_labels=VERDICTS[self.lang.code],
                    relative_label=self.t("rel_change"), title=self.t("pilot_title"))
                out.append(_figure(figs.figure_data_uri(fig), alt=self.t("pilot_title")))
        dd = self.tables.get("did_results")
        if dd is None or dd.empty:
            out.append(self.missing_note("did_results"))
            self.missing.setdefault("did_results", TABLE_SOURCES["did_results"])
        else:
            rows = [[_e(self.lang.metric(r["metric"])), _e(r["inference"]),
                     _num(r["estimate"], signed=True),
                     f"{_num(r['ci_low'], signed=True)} … {_num(r['ci_high'], signed=True)}",
                     _p(r["p_value"]), _p(r.get("pre_trend_p_value"))]
                    for r in self.did_rows().to_dict("records")]
            out.append(f"<h3>{_e(self.t('store_title'))}</h3>")
            out.append(_table([self.t("metric"), self.t("inference"), self.t("estimate"),
                               self.t("ci95"), self.t("p"), self.t("pre_trend")], rows,
                              numeric=(2, 3, 4, 5)))
        return "".join(out)

    def chart_series(self) -> list[tuple[str, str, str]]:
        """(level, group, metric) of the charts to draw: the headline first, then the top
        shifts, then the top pain point's exit rate."""
        mon = self.monitoring
        chosen: list[tuple[str, str, str]] = []

        def add(level: str, group: str, metric: str) -> None:
            key = (level, group, metric)
            if key not in chosen and len(mon.series(level, group, metric)):
                chosen.append(key)

        head = self.headline_shift()
        if head is not None:
            add(head[1]["level"], head[1]["group"], head[1]["metric"])
        tm = self.metrics()
        if tm is not None and len(tm) and "priority_rank" in tm.columns:
            top = str(tm.iloc[0]["touchpoint"])
            add("touchpoint", top, "exit_rate")
            add("touchpoint", top, "csat_mean")
        shifts = mon.shifts[mon.shifts["p_value_adjusted"] < 0.05]
        for r in sorted(shifts.to_dict("records"), key=lambda r: r["metric"] != "exit_rate"):
            add(r["level"], r["group"], r["metric"])
        return chosen[: self.charts_shown]

    def section_monitoring(self) -> str:
        from cjmlib.report import plots as figs

        mon = self.monitoring
        out = []
        if mon is None:
            out.append(f"<p class=missing>{_e(self.t('no_monitoring', reason=self.monitoring_reason or '–'))}</p>")
        else:
            out.append(f"<p>{_e(self.t('monitor_intro', baseline=mon.baseline))}</p>")
            ro = mon.rollouts
            if len(ro):
                out.append(f"<h3>{_e(self.t('rollouts_title'))}</h3>")
                for (name, date), part in ro.groupby(["rollout", "date"], sort=False):
                    part = part[part["p_value"].notna()].sort_values("p_value").head(8)
                    if part.empty:
                        continue
                    rows = [[_e(self.lang.group(r["level"], r["group"])),
                             _e(self.lang.metric(r["metric"])),
                             _rate_value(r["metric"], r["before"]),
                             _rate_value(r["metric"], r["after"]),
                             _rate_change(self.lang, r["metric"], r["difference"]),
                             f"{_rate_change(self.lang, r['metric'], r['ci_low'])} … "
                             f"{_rate_change(self.lang, r['metric'], r['ci_high'])}",
                             _p(r["p_value"]), _int(r["signals_after"])]
                            for r in part.to_dict("records")]
                    out.append(f"<h4>{_e(name)} ({pd.Timestamp(date):%Y-%m-%d})</h4>")
                    out.append(_table([self.t("group"), self.t("metric"), self.t("before"),
                                       self.t("after"), self.t("difference"), self.t("ci95"),
                                       self.t("p"), self.t("signals")], rows,
                                      numeric=(2, 3, 4, 5, 6, 7)))
            sh = mon.shifts
            out.append(f"<h3>{_e(self.t('shifts_title'))}</h3>")
            if len(sh):
                rows = [[_e(self.lang.group(r["level"], r["group"])),
                         _e(self.lang.metric(r["metric"])),
                         f"{pd.Timestamp(r['start']):%Y-%m-%d}",
                         _rate_value(r["metric"], r["before"]),
                         _rate_value(r["metric"], r["after"]),
                         _rate_change(self.lang, r["metric"], r["difference"]),
                         f"{_rate_change(self.lang, r['metric'], r['ci_low'])} … "
                         f"{_rate_change(self.lang, r['metric'], r['ci_high'])}",
                         _p(r["p_value_adjusted"]), _e(r["rules"])]
                        for r in sh.head(10).to_dict("records")]
                out.append(_table([self.t("group"), self.t("metric"), self.t("start"),
                                   self.t("before"), self.t("after"), self.t("difference"),
                                   self.t("ci95"), self.t("adjusted_p"), self.t("rules")],
                                  rows, numeric=(3, 4, 5, 6, 7)))
            else:
                out.append(f"<p>{_e(self.t('no_signals'))}</p>")
            for level, group, metric in self.chart_series():
                series = mon.series(level, group, metric)
                percent = metric in ("exit_rate", "conversion_rate")
                marks = [(r.name, r.date) for r in self.rollouts
                         if r.applies({"level": level, "group": group,
                                       "touchpoint": series["touchpoint"].iloc[0],
                                       "stage": series["stage"].iloc[0],
                                       "channel": series["channel"].iloc[0]})]
                title = f"{self.lang.metric(metric)}: {self.lang.group(level, group)}"
                fig = figs.control_chart(series, title=title,
                                         ylabel=self.lang.metric(metric) + (" (%)" if percent
                                                                            else ""),
                                         percent=percent, rollouts=marks,
                                         words={k: self.t(k) for k in ("centre", "limits",
                                                                       "signal", "baseline")})
                out.append(_figure(figs.figure_data_uri(fig), alt=title))
        out.append(f'<h3 id="comparison">{_e(self.t("comparison"))}</h3>')
        out.append(self.comparison_html())
        return "".join(out)

    def comparison_html(self) -> str:
        cmp_ = self.comparison
        if self.previous_run is None or cmp_ is None:
            return f"<p>{_e(self.t('no_previous'))}</p>"
        tracked = cmp_[cmp_["section"] != "inputs"]
        changed = tracked[tracked["changed"].astype(bool)]
        inputs = cmp_[cmp_["section"] == "inputs"]
        note = ""
        if len(inputs):
            n = inputs["current"].iloc[0]
            note = self.t("inputs_same") if n == 0 else self.t("inputs_changed", n=_int(n))
        out = [f"<p>{_e(self.t('compared_with', run=self.previous_run, changed=len(changed), total=len(tracked), inputs=note))}</p>"]
        if changed.empty:
            out.append(f"<p>{_e(self.t('nothing_changed'))}</p>")
            return "".join(out)

        pr = self.tables.get("pilot_results")
        kinds = (dict(zip(pr["metric"], zip(pr["kind"], pr["method"], strict=True),
                          strict=True)) if pr is not None and len(pr) else {})

        def number(r: dict[str, Any], v: Any, *, signed: bool) -> str:
            metric = r["metric"]
            if not _finite(v):
                return "–"
            if metric in ("exit_rate", "conversion_rate"):
                return lang.pp(v) if signed else _pct(v)
            if metric in ("priority_rank", "rank", "changed files"):
                return f"{int(v):+d}" if signed else _int(v)
            if r["section"] == "pilot" and r["item"] in kinds:
                kind, method = kinds[r["item"]]
                return (_effect_text(lang, str(kind), str(method), v) if signed
                        else _value_text(str(kind), str(method), v))
            return _num(v, signed=signed)

        def show(r: dict[str, Any], which: str) -> str:
            label = r.get(f"{which}_label")
            if isinstance(label, str):
                if r["metric"] == "status":
                    return _e(STATUS_TEXT[lang.code].get(label, label))
                if r["metric"] == "decision":
                    return _e(lang.verdict(label))
                return _e(label)
            return number(r, r[which], signed=False)

        lang = self.lang
        titles = ({r["id"]: self.title_of(r) for r in self.backlog.to_dict("records")}
                  if self.backlog is not None else {})
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
                  f"{number(r, r['ci_high'], signed=True)}" if _finite(r["ci_low"]) else "")
            change = number(r, r["change"], signed=True) if _finite(r.get("change")) else ""
            rows.append([_e(item), _e(lang.metric(r["metric"])), show(r, "previous"),
                         show(r, "current"), change, ci])
        out.append(_table([self.t("item"), self.t("metric"), self.t("previous"),
                           self.t("current"), self.t("change"), self.t("ci95")], rows,
                          numeric=(2, 3, 4, 5)))
        return "".join(out)

    def next_steps(self) -> list[str]:
        steps: list[str] = []
        prim, pr = self.primary_pilot()
        name = self.pilot_name or (prim["metric"] if prim else "")
        b = self.backlog
        if prim is not None and b is not None and len(b):
            piloted = b[(b["status"] == "piloting") & (b["pilot_metric"] == prim["metric"])]
            if len(piloted):
                name = self.title_of(piloted.iloc[0].to_dict())
        if prim is not None:
            kind, method = str(prim["kind"]), str(prim["method"])
            fmt = dict(name=_e(name), metric=_e(self.lang.metric(prim["metric"])),
                       effect=_effect_text(self.lang, kind, method, prim["effect"]),
                       lo=_effect_text(self.lang, kind, method, prim["ci_low"]),
                       hi=_effect_text(self.lang, kind, method, prim["ci_high"]),
                       why=_e(self.lang.reason(prim.get("reason", ""))))
            key = {"ship": "n_roll_out", "stop": "n_stop", "iterate": "n_iterate"}.get(
                str(prim.get("decision")), "n_inconclusive")
            steps.append(self.t(key, **fmt))
        head = self.headline_shift()
        if head is not None:
            kind, r = head
            date = pd.Timestamp(r["date"] if kind == "rollout" else r["start"])
            rollout = f" ({_e(r['rollout'])})" if kind == "rollout" else ""
            steps.append(self.t("n_investigate", metric=_e(self.lang.metric(r["metric"])),
                                group=_e(self.lang.group(r["level"], r["group"])),
                                before=_rate_value(r["metric"], r["before"]),
                                after=_rate_value(r["metric"], r["after"]),
                                date=f"{date:%Y-%m-%d}", rollout=rollout))
        if b is not None and len(b):
            nxt = b[b["recommendation"] == "pilot_next"]
            if len(nxt):
                r = nxt.iloc[0]
                steps.append(self.t("n_pilot_next", title=_e(self.title_of(r)),
                                    rank=_int(r["rank"]), impact=_int(r["impact"]),
                                    lo=_int(r["impact_low"]), hi=_int(r["impact_high"]),
                                    effort=f"{float(r['effort_weeks']):g}"))
            tm = self.metrics()
            if tm is not None and len(tm) and "priority_rank" in tm.columns:
                top = str(tm.iloc[0]["touchpoint"])
                open_ = b[b["status"].isin(["proposed", "piloting"])]
                covered = {x.strip() for tps in open_["touchpoints"] for x in str(tps).split(",")}
                if top not in covered:
                    steps.append(self.t("n_cover", tp=_e(self.lang.tp(top))))
        gaps = sorted(set(self.missing.items()), key=lambda kv: kv[1])
        if gaps:
            items = "; ".join(f"{name} ({nb})" for name, nb in gaps)
            steps.append(self.t("n_gaps", items=_e(items)))
        return steps or [self.t("n_none")]

    def section_about(self) -> str:
        found = sorted(n for n in TABLE_SOURCES if self.tables.get(n) is not None
                       and not self.tables[n].empty)
        out = [f"<p>{self.t('about_run', run=_e(self.run_dir.name), found=_e(', '.join(found) or '–'))}</p>"]
        if self.missing:
            missing = ", ".join(f"{n} ({nb})" for n, nb in sorted(self.missing.items()))
            out.append(f"<p>{_e(self.t('about_missing', missing=missing))}</p>")
        out.append(f"<p>{_e(self.t('about_methods'))}</p>")
        out.append(f"<p>{_e(self.t('about_privacy', k=self.k))}</p>")
        return "".join(out)


def build_report(
    run_dir: str | os.PathLike[str],
    *,
    language: Literal["en", "zh"] = "en",
    stages: Sequence[str] = ("awareness", "consideration", "purchase", "service", "loyalty"),
    labels: Mapping[str, str] | None = None,
    stage_labels: Mapping[str, str] | None = None,
    metric_labels: Mapping[str, str] | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    backlog: pd.DataFrame | None = None,
    backlog_reason: str | None = None,
    monitoring: Any = None,
    monitoring_reason: str | None = None,
    comparison: pd.DataFrame | None = None,
    previous_run: str | None = None,
    rollouts: Sequence[Any] = (),
    pilot_name: str | None = None,
    min_group_size: int = 10,
    charts_shown: int = 4,
    generated_at: datetime | None = None,
    data_window: str | None = None,
) -> Report:
    """Build the report of the run in ``run_dir`` (see the module docstring).

    ``labels`` / ``stage_labels``: touchpoint and stage names in the report's language.
    ``tables``: the run's tables (default: :func:`load_run_tables`). ``backlog``: from
    :func:`cjmlib.report.backlog.score_backlog` (``backlog_reason`` says why there is none).
    ``monitoring``: a :class:`cjmlib.report.monitoring.Monitoring` (``monitoring_reason`` says why
    there is none). ``comparison``: :func:`cjmlib.report.monitoring.compare_runs` against
    ``previous_run`` (its run id). ``rollouts``: :class:`cjmlib.report.monitoring.Rollout` marked on
    the charts. ``pilot_name``: the experiment's name (configs/pilot.yaml). Never raises for
    a missing table: the section says what is missing; a table of an unexpected shape costs
    only its own section (listed in ``Report.errors``).
    """
    from cjmlib.report import plots as figs

    check_scalar(language, "language", in_=LANGUAGES)
    check_scalar(min_group_size, "min_group_size", typ=int, ge=1)
    run = Path(run_dir)
    lang = _Lang(language, dict(labels or {}), dict(stage_labels or {}), dict(metric_labels or {}))
    tables = dict(tables) if tables is not None else load_run_tables(run)
    b = _Builder(run, tables, lang, stages=stages, backlog=backlog,
                 backlog_reason=backlog_reason, monitoring=monitoring,
                 monitoring_reason=monitoring_reason, comparison=comparison,
                 previous_run=previous_run, min_group_size=min_group_size, rollouts=rollouts,
                 pilot_name=pilot_name, charts_shown=charts_shown)
    figs.report_style()
    errors: dict[str, str] = {}

    def safely(key: str, build: Callable[[], Any], fallback: Any) -> Any:
        # a table that breaks one section (an unexpected shape) must not cost the whole
        # report: the section says what went wrong and the others are built as usual
        try:
            return build()
        except Exception as exc:
            errors[key] = f"{type(exc).__name__}: {exc}"
            return fallback

    findings = []
    for name in ("finding_pain", "finding_pilot", "finding_monitoring", "finding_backlog",
                 "finding_store"):
        found = safely(f"summary ({name[8:]})", getattr(b, name), None)
        if found is not None:
            findings.append(found)
    findings = findings[:5]
    sections: list[tuple[str, Callable[[], str]]] = [
        ("summary", lambda: b.section_summary(findings)),
        ("journey", b.section_journey),
        ("pain", b.section_pain),
        ("backlog", b.section_backlog),
        ("pilot", b.section_pilot),
        ("monitoring", b.section_monitoring),
        ("next", lambda: '<ol class="steps">' + "".join(f"<li>{x}</li>" for x in steps)
         + "</ol>"),
        ("about", b.section_about),
    ]
    steps: list[str] = []
    bodies = []
    for key, body in sections:
        if key == "next":
            steps = safely("next", b.next_steps, None)
            if steps is None:
                body, steps = (lambda: None), []
        html_body = safely(key, body, None)
        if html_body is None:
            html_body = ('<p class="missing">'
                         f'{_e(lang.t("section_failed", error=errors.get(key, "?")))}</p>')
        bodies.append((key, html_body))
    generated = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    if data_window is None and monitoring is not None and len(monitoring.charts):
        periods = pd.to_datetime(monitoring.charts["period"])
        data_window = f"{periods.min():%Y-%m-%d} – {periods.max():%Y-%m-%d}"
    html_text = _document(lang, run.name, generated, data_window or "–", bodies)
    return Report(html_text, language, findings, steps, dict(b.missing), run.name, errors)


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------
CSS = """
:root { --ink: #1f2328; --muted: #667085; --line: #d0d7de; --bad: #b54708; --good: #067647;
  --accent: #0b5cad; --bg-soft: #f6f8fa; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; color: var(--ink); background: #fff; line-height: 1.55; font-size: 16px;
  font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Noto Sans", "Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", sans-serif; }
header, main, footer { max-width: 1080px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 28px; border-bottom: 3px solid var(--accent); }
h1 { font-size: 1.9rem; margin: 0 0 4px; }
h2 { font-size: 1.45rem; margin: 2.2rem 0 0.8rem; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
h3 { font-size: 1.15rem; margin: 1.4rem 0 0.5rem; }
h4 { font-size: 0.95rem; margin: 0.9rem 0 0.3rem; color: var(--muted); text-transform: none; }
.subtitle { color: var(--muted); margin: 0 0 14px; }
nav { background: var(--bg-soft); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 16px; margin: 18px 0; }
nav ol { margin: 4px 0; padding-left: 22px; columns: 2; }
nav a { color: var(--accent); text-decoration: none; }
ol.findings { padding-left: 1.4rem; }
ol.findings li { margin: 0.55rem 0; padding: 8px 12px; background: var(--bg-soft);
  border-left: 4px solid var(--accent); border-radius: 4px; }
figure { margin: 1rem 0; }
figure img { max-width: 100%; height: auto; display: block; border: 1px solid var(--line);
  border-radius: 6px; }
figcaption { color: var(--muted); font-size: 0.88rem; margin-top: 4px; }
.table-wrap { overflow-x: auto; margin: 0.6rem 0 1rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left;
  vertical-align: top; }
th { background: var(--bg-soft); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.compact { width: auto; font-size: 0.85rem; }
table.backlog td:nth-child(2) { min-width: 13em; }
.muted { color: var(--muted); font-weight: normal; }
.missing { color: var(--bad); background: #fff6ed; border: 1px solid #f9dbaf; padding: 8px 12px;
  border-radius: 6px; }
article.pain { border: 1px solid var(--line); border-radius: 8px; padding: 4px 16px 10px;
  margin: 1rem 0; }
.cols { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.cols ul { margin: 0.2rem 0; padding-left: 1.1rem; }
blockquote { margin: 0.4rem 0; padding: 4px 12px; border-left: 3px solid var(--line);
  color: #344054; font-style: italic; }
.status { padding: 1px 7px; border-radius: 10px; font-size: 0.82rem; white-space: nowrap; }
.status.proposed { background: #e0efff; } .status.piloting { background: #fff1d6; }
.status.shipped { background: #dcfae6; } .status.rejected { background: #eaecf0; }
.verdict { font-size: 1.05rem; padding: 10px 14px; border-radius: 8px; background: #eaecf0; }
.verdict.ship { background: #dcfae6; } .verdict.stop { background: #fee4e2; }
.verdict.iterate { background: #fff1d6; }
ol.steps li { margin: 0.45rem 0; }
code { font-size: 0.88em; background: var(--bg-soft); padding: 1px 4px; border-radius: 4px; }
footer { color: var(--muted); font-size: 0.85rem; border-top: 1px solid var(--line);
  margin-top: 2.5rem; padding-top: 10px; padding-bottom: 30px; }
@media (max-width: 760px) { .cols { grid-template-columns: 1fr; } nav ol { columns: 1; } }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { font-size: 10.5pt; line-height: 1.4; }
  header, main, footer { max-width: none; padding: 0; }
  nav { display: none; }
  h2 { break-before: page; margin-top: 0; }
  #summary h2, h2:first-of-type { break-before: auto; }
  h2, h3, h4 { break-after: avoid; }
  figure, table, article.pain, blockquote, ol.findings li { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 8pt; }
  th, td { padding: 3px 4px; }
  td.num, th.num { white-space: normal; }
  table.backlog td:nth-child(2) { min-width: 0; }
  figure img { border: none; max-height: 230mm; }
  a { color: inherit; text-decoration: none; }
  ol.findings li, .verdict, .status, th { -webkit-print-color-adjust: exact;
    print-color-adjust: exact; }
}
"""


def _document(lang: _Lang, run_id: str, generated: str, window: str,
              bodies: Sequence[tuple[str, str]]) -> str:
    t = lang.t
    toc = "".join(f'<li><a href="#{key}">{_e(t(key))}</a></li>' for key, _ in bodies)
    sections = "".join(f'<section id="{key}"><h2>{_e(t(key))}</h2>{body}</section>'
                       for key, body in bodies)
    html_lang = "zh-CN" if lang.code == "zh" else "en"
    return (
        f'<!DOCTYPE html>\n<html lang="{html_lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(t('title'))} · {_e(run_id)}</title>\n<style>{CSS}</style>\n</head>\n"
        f"<body>\n<header><h1>{_e(t('title'))}</h1><p class=\"subtitle\">"
        f"{_e(t('subtitle', run_id=run_id, generated=generated, window=window))}</p></header>\n"
        f'<main>\n<nav aria-label="{_e(t("contents"))}"><b>{_e(t("contents"))}</b><ol>{toc}'
        f"</ol></nav>\n{sections}\n</main>\n"
        f"<footer>cjm-workbench · {_e(run_id)} · {_e(generated)}</footer>\n</body>\n</html>\n")
