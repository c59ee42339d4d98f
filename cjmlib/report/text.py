"""The report's words in English and Chinese, and how it writes numbers.

:data:`TEXT` holds every fixed sentence and heading of the report in both languages;
:data:`VERDICTS`, :data:`REASONS_ZH`, :data:`STATUS_TEXT`, :data:`RECOMMENDATION_TEXT`,
:data:`METRIC_TEXT` and :data:`ROLE_TEXT` translate the values found in the run's tables.
:class:`Language` looks them up for one report language (with the run's own touchpoint, stage
and metric labels first). The formatting functions write percentages, numbers, counts and
p-values as the report shows them ("–" for a missing value) and escape text for HTML.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

LANGUAGES = ("en", "zh")


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
        "changes": "What changed, and for whom",
        "changes_intro": "Found in the data without dates given: the flows that changed most "
                         "between journeys starting before and from {split}, the customer "
                         "segments that convert most differently, and new against returning "
                         "customers. These say where to look, not why.",
        "changes_title": "Changes over time, strongest first",
        "change_window": "changed window", "change_outside": "elsewhere",
        "change_inside": "in the window", "seconds": "seconds", "per_unit": "per {unit}",
        "more_changes": "({n} more changes over time in \"What changed, and for whom\".)",
        "no_changes": "No KPI series changed beyond chance over time (shifts and episodes "
                      "searched without dates, adjusted across all series).",
        "flows_title": "Flows that changed (journeys starting before against from {split})",
        "flow": "Flow", "p_adjusted": "Adjusted p",
        "no_flow_changes": "No flow changed beyond chance between the journeys starting before "
                           "and from {split} (Benjamini-Hochberg over {n} flows).",
        "segments_title": "Segments that convert differently",
        "segment": "Segment", "lowest": "Converts least", "highest": "Converts most",
        "cramers_v": "Cramér's V",
        "no_segment_changes": "No customer column's values convert differently beyond chance "
                              "({n} columns, Holm-adjusted).",
        "acq_title": "New and returning customers",
        "acq_line": "{customers} customers over {periods} {unit}s: the journeys of customers "
                    "in their first {unit} converted {new_rate} ({ci_label} {nlo} to {nhi}; "
                    "{nj} journeys), those of returning customers {ret_rate} ({rlo} to {rhi}; "
                    "{rj} journeys).",
        "acq_customers": "{customers} customers first seen over {periods} {unit}s.",
        "acq_peak": " The most new customers came in the {unit} of {period}: {n} ({share} of "
                    "that {unit}'s customers; median {unit}: {median}).",
        "f_segment": "Customers differ by <b>{column}</b>: {high} converts {high_rate} "
                     "({ci_label} {hlo} to {hhi}; {hn} journeys) against {low_rate} for {low} "
                     "({llo} to {lhi}; {ln} journeys).",
        "f_flow": "<b>{flow}</b> changed from {before} to {after} for journeys starting from "
                  "{split} ({diff}, {ci_label} {lo} to {hi}; adjusted p {p}).",
        "comparison": "Since the previous run",
        "next": "What to do next",
        "about": "About this report",
        "missing": "Not available in this run: {what} is missing (written by {notebook}).",
        "not_run": "Not analysed in this run: {notebook} did not run because {reason}.",
        "about_not_run": "Notebooks that did not run for lack of data: {items}.",
        "skip_no_feedback": "the data hold no survey answers or comments",
        "skip_no_pilot": "the data hold no pilot",
        "skip_no_pilot_plan": "there is no pilot plan (configs/pilot.yaml)",
        "skip_no_events": "the data hold no events",
        "skip_no_raw_data": "there is no raw data",
        "skip_no_input": "its input is missing",
        "no_findings": "No finding could be stated: the run folder holds none of the tables "
                       "the summary needs.",
        "section_failed": "This section could not be built ({error}); the other sections are "
                          "not affected.",
        "f_pain": "<b>{tp}</b> is the most urgent pain point (priority {score} of 100): {exit} "
                  "of the journeys that reach it end there without converting ({ci}{journeys} "
                  "journeys){csat}.",
        "ci_part": "{ci_label} {lo} to {hi}; ",
        "f_pain_csat": " and its CSAT is {csat} of 5 ({ci_label} {lo} to {hi}; n = {n}){lowest}",
        "f_pain_lowest": ", the lowest of all touchpoints",
        "f_pilot": "Pilot{name}: <b>{metric}</b> went from {control} to {treatment}, a change "
                   "of <b>{effect}</b> ({ci_label} {lo} to {hi}; adjusted p {p}; {n_c} control "
                   "vs {n_t} treatment units). {guardrails}Verdict: <b>{verdict}</b> ({why}).",
        "guardrails_ok": "Guardrails held ({names}). ",
        "guardrails_bad": "Guardrail breached: {names}. ",
        "untrustworthy": "Checks failed (sample ratio mismatch): the results are not "
                         "trustworthy. ",
        "f_store": "Store pilot ({n_t} pilot vs {n_c} control units; {inference}): {parts}.",
        "f_store_part": "<b>{metric}</b> {estimate} per unit and period ({ci_label} {lo} to {hi}; "
                        "p {p}{design})",
        "f_store_design": "; smallest attainable p {min_p}, power to detect this size {power}",
        "f_rollout": "Since <b>{rollout}</b> ({date}) the {metric} at <b>{group}</b> moved "
                     "from {before} to {after} ({diff}, {ci_label} {lo} to {hi}; {signals} "
                     "control-chart signals since).",
        "f_shift": "Monitoring: the {metric} at <b>{group}</b> shifted from {before} to "
                   "{after} from the period of {start} on ({diff}, {ci_label} {lo} to {hi}; "
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
        "funnel_title": "Funnel: {name}",
        "outcomes_title": "Outcomes of the journeys",
        "outcome": "Outcome", "reached": "Journeys reaching it",
        "outcome_rate": "Share of journeys ({ci_label})",
        "step": "Step", "customers": "Customers", "from_previous": "From previous step",
        "from_start": "From start",
        "pain_intro": "The three touchpoints with the highest priority score (behaviour and "
                      "attitude, weighted by how many conversions depend on them).",
        "behaviour": "Behaviour", "scores": "Scores", "voice": "What customers say",
        "reach": "reached by {customers} customers ({share})",
        "exit_rate_is": "exit rate {exit} ({ci_label} {lo} to {hi})",
        "conversion_is": "conversion {conv} ({ci_label} {lo} to {hi})",
        "dwell_is": "median time {dwell} s",
        "csat_is": "CSAT {csat} ({ci_label} {lo} to {hi}; n = {n})",
        "nps_is": "NPS {nps} ({ci_label} {lo} to {hi})",
        "sentiment_is": "comment sentiment {s} (−1 to 1)",
        "sentiment_basis": "scored by {scorer}; agreement with CSAT: Spearman ρ {rho} "
                           "({lo} to {hi}; n = {n})",
        "themes_are": "Negative themes: {terms}.",
        "no_scores": "no survey scores for this touchpoint",
        "no_quotes": "no comments about this touchpoint",
        "by_channel": "By channel",
        "channel": "Channel", "journeys": "Journeys", "exit_rate": "Exit rate",
        "ci_header": "{ci_label}",
        "suppressed": "fewer than {k}: not shown",
        "driver": "Strongest driver of {outcome}: <b>{driver}</b> ({share} of the explained "
                  "variance, {ci_label} {lo} to {hi}).",
        "evidence_title": "Exit rate and CSAT of the top pain points ({level} intervals)",
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
        "pilot_title": "Pilot effects relative to control ({level} intervals)",
        "rel_change": "change vs control (%)",
        "store_title": "Store pilot (difference-in-differences)",
        "balance_bad": "Before launch the arms already differed on {items}: more than random "
                       "assignment explains (Holm-adjusted p below {alpha}). Check how units "
                       "were assigned; effects on related metrics may be biased.",
        "balance_ok": "Before launch the arms were alike on {n} pre-period measure(s) (no "
                      "Holm-adjusted p below {alpha}), as random assignment should leave them.",
        "balance_large": " {items} differed by more than {threshold} standard deviations, "
                         "within chance for a pilot of this size; CUPED on these measures "
                         "adjusts for it.",
        "balance_item": "{covariate} ({arm}: SMD {smd}, adjusted p {p})",
        "balance_rule": "Rule: a pre-period measure is flagged when its Holm-adjusted p-value "
                        "(Welch t test; two-proportion z test for yes/no measures) is below "
                        "alpha. The standardised mean difference (SMD) is shown but does not "
                        "flag: small pilots pass 0.1 by chance.",
        "estimate": "Estimate", "inference": "Inference", "p": "p",
        "pre_trend": "Pre-trend p",
        "min_p": "Smallest attainable p",
        "power_obs": "Power at this size",
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
        "n_roll_out": "Roll out <b>{name}</b>: the pilot shows {effect} on {metric} ({ci_label} "
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
        "about_methods": "Rates carry their denominator and a {level} Wilson interval. Pilot "
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
        "changes": "发生了哪些变化、涉及哪些客户",
        "changes_intro": "无需预先给出日期，直接从数据中发现：{split} 前后开始的旅程之间变化最大的"
                         "流转、转化差异最大的客户细分，以及新客户与回头客的对比。这些结果指出该看"
                         "哪里，但不解释原因。",
        "changes_title": "随时间发生的变化（按强度排序）",
        "change_window": "变化区间", "change_outside": "其余时间", "change_inside": "区间内",
        "seconds": "秒", "per_unit": "每{unit}",
        "more_changes": "（另有 {n} 项随时间的变化，见“发生了哪些变化、涉及哪些客户”一节。）",
        "no_changes": "没有任何指标序列随时间发生超出随机波动的变化（无需日期即搜索持续变化与短期事件，"
                      "并对全部序列做多重检验校正）。",
        "flows_title": "发生变化的流转（{split} 之前与之后开始的旅程）",
        "flow": "流转", "p_adjusted": "校正后 p",
        "no_flow_changes": "{split} 前后开始的旅程之间，没有流转的变化超出随机波动"
                           "（对 {n} 个流转做 Benjamini-Hochberg 校正）。",
        "segments_title": "转化存在差异的客户细分",
        "segment": "细分维度", "lowest": "转化最低", "highest": "转化最高",
        "cramers_v": "Cramér's V",
        "no_segment_changes": "没有哪个客户字段的取值之间转化差异超出随机波动（{n} 个字段，Holm 校正）。",
        "acq_title": "新客户与回头客",
        "acq_line": "{periods} 个{unit}内共 {customers} 位客户：客户在首个{unit}内的旅程转化率为 "
                    "{new_rate}（{ci_label} {nlo} 至 {nhi}；{nj} 次旅程），回头客的旅程为 "
                    "{ret_rate}（{rlo} 至 {rhi}；{rj} 次旅程）。",
        "acq_customers": "{periods} 个{unit}内首次出现的客户共 {customers} 位。",
        "acq_peak": "新客户最多的是 {period} 这一{unit}：{n} 位（占该{unit}客户的 {share}；"
                    "各{unit}中位数：{median}）。",
        "f_segment": "客户因<b>{column}</b>而不同：{high} 的转化率为 {high_rate}（{ci_label} {hlo} 至 "
                     "{hhi}；{hn} 次旅程），而 {low} 为 {low_rate}（{llo} 至 {lhi}；{ln} 次旅程）。",
        "f_flow": "对 {split} 起开始的旅程，<b>{flow}</b> 从 {before} 变为 {after}"
                  "（{diff}，{ci_label} {lo} 至 {hi}；校正后 p {p}）。",
        "comparison": "与上次运行相比",
        "next": "下一步行动",
        "about": "关于本报告",
        "missing": "本次运行缺少：{what}（应由 {notebook} 生成）。",
        "not_run": "本次运行未分析：{notebook} 未运行，因为{reason}。",
        "about_not_run": "因缺少数据而未运行的笔记本：{items}。",
        "skip_no_feedback": "数据中没有调查回答或评论",
        "skip_no_pilot": "数据中没有试点",
        "skip_no_pilot_plan": "没有试点方案（configs/pilot.yaml）",
        "skip_no_events": "数据中没有事件",
        "skip_no_raw_data": "没有原始数据",
        "skip_no_input": "缺少输入",
        "no_findings": "无法给出结论：运行文件夹中没有摘要所需的任何数据表。",
        "section_failed": "本节无法生成（{error}）；其他部分不受影响。",
        "f_pain": "<b>{tp}</b>是最需要改进的痛点（优先级 {score}/100）：到达该触点的旅程中有 "
                  "{exit} 在此结束且未转化（{ci}共 {journeys} 段旅程）{csat}。",
        "ci_part": "{ci_label} {lo} 至 {hi}；",
        "f_pain_csat": "；其 CSAT 为 {csat}/5（{ci_label} {lo} 至 {hi}；n = {n}）{lowest}",
        "f_pain_lowest": "，为所有触点中最低",
        "f_pilot": "试点{name}：<b>{metric}</b>从 {control} 变为 {treatment}，变化 "
                   "<b>{effect}</b>（{ci_label} {lo} 至 {hi}；校正后 p {p}；对照组 {n_c} "
                   "个、实验组 {n_t} 个单位）。{guardrails}结论：<b>{verdict}</b>（{why}）。",
        "guardrails_ok": "护栏指标均未恶化（{names}）。",
        "guardrails_bad": "护栏指标恶化：{names}。",
        "untrustworthy": "样本比例检验未通过：结果不可信。",
        "f_store": "门店试点（{n_t} 个试点单位对比 {n_c} 个对照单位；{inference}）：{parts}。",
        "f_store_part": "<b>{metric}</b>每单位每期变化 {estimate}（{ci_label} {lo} 至 {hi}；"
                        "p {p}{design}）",
        "f_store_design": "；最小可达 p {min_p}，检出此效应量的功效 {power}",
        "f_rollout": "自<b>{rollout}</b>（{date}）以来，<b>{group}</b>的{metric}从 {before} "
                     "变为 {after}（{diff}，{ci_label} {lo} 至 {hi}；此后控制图信号 "
                     "{signals} 个）。",
        "f_shift": "持续监测：<b>{group}</b>的{metric}自 {start} 所在期间起从 {before} 变为 "
                   "{after}（{diff}，{ci_label} {lo} 至 {hi}；西电规则 {rules}）。",
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
        "funnel_title": "漏斗：{name}",
        "outcomes_title": "旅程的结果",
        "outcome": "结果", "reached": "达成的旅程数",
        "outcome_rate": "旅程占比（{ci_label}）",
        "step": "步骤", "customers": "客户数", "from_previous": "较上一步",
        "from_start": "较起点",
        "pain_intro": "优先级得分最高的三个触点（综合行为与态度，并按依赖该触点的转化加权）。",
        "behaviour": "行为", "scores": "评分", "voice": "客户原声",
        "reach": "触达 {customers} 位客户（{share}）",
        "exit_rate_is": "退出率 {exit}（{ci_label} {lo} 至 {hi}）",
        "conversion_is": "转化率 {conv}（{ci_label} {lo} 至 {hi}）",
        "dwell_is": "停留时间中位数 {dwell} 秒",
        "csat_is": "CSAT {csat}（{ci_label} {lo} 至 {hi}；n = {n}）",
        "nps_is": "NPS {nps}（{ci_label} {lo} 至 {hi}）",
        "sentiment_is": "评论情感 {s}（−1 至 1）",
        "sentiment_basis": "评分器 {scorer}；与 CSAT 的一致性：Spearman ρ {rho}"
                           "（{lo} 至 {hi}；n = {n}）",
        "themes_are": "负面主题：{terms}。",
        "no_scores": "该触点没有调查评分",
        "no_quotes": "没有关于该触点的评论",
        "by_channel": "按渠道",
        "channel": "渠道", "journeys": "旅程数", "exit_rate": "退出率",
        "ci_header": "{ci_label}",
        "suppressed": "少于 {k}：不显示",
        "driver": "{outcome}的最强驱动因素：<b>{driver}</b>（占可解释方差的 {share}，"
                  "{ci_label} {lo} 至 {hi}）。",
        "evidence_title": "主要痛点的退出率与 CSAT（{level} 区间）",
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
        "pilot_title": "试点效果（相对对照组，{level} 区间）",
        "rel_change": "相对对照组的变化（%）",
        "store_title": "门店试点（双重差分）",
        "balance_bad": "上线前各组在 {items} 上已有差异，超出随机分组所能解释的范围"
                       "（Holm 校正 p 低于 {alpha}）。请核查分组方式；相关指标的效果可能有偏。",
        "balance_ok": "上线前各组在 {n} 项前期指标上相近（Holm 校正 p 均不低于 {alpha}），"
                      "符合随机分组的预期。",
        "balance_large": "{items} 的差异超过 {threshold} 个标准差，但对这一规模的试点仍属偶然；"
                         "以这些指标做 CUPED 调整即可校正。",
        "balance_item": "{covariate}（{arm}：SMD {smd}，校正 p {p}）",
        "balance_rule": "规则：前期指标的 Holm 校正 p 值（Welch t 检验；是/否型指标用两比例 z 检验）"
                        "低于 alpha 时标记为不平衡。标准化均值差（SMD）仅作展示、不触发标记："
                        "小样本试点常偶然超过 0.1。",
        "estimate": "估计值", "inference": "推断方法", "p": "p",
        "pre_trend": "前趋势 p",
        "min_p": "最小可达 p",
        "power_obs": "此效应量的功效",
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
        "n_roll_out": "全面上线<b>{name}</b>：试点显示{metric}变化 {effect}（{ci_label} {lo} "
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
        "about_methods": "所有比率均给出分母和 {level} Wilson 置信区间。试点结果遵循预先登记的方案"
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
SECTION_IDS = ("summary", "journey", "pain", "changes", "backlog", "pilot", "monitoring", "next",
               "about")


# --------------------------------------------------------------------------------------------
# Formatting
# --------------------------------------------------------------------------------------------
def finite(v: Any) -> bool:
    try:
        return v is not None and not pd.isna(v) and bool(np.isfinite(float(v)))
    except (TypeError, ValueError):
        return False


def pct(v: Any, digits: int = 1) -> str:
    return f"{100 * float(v):.{digits}f}%" if finite(v) else "–"


def num(v: Any, signed: bool = False) -> str:
    if not finite(v):
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


def integer(v: Any) -> str:
    return f"{int(round(float(v))):,}" if finite(v) else "–"


def p_text(v: Any) -> str:
    if not finite(v):
        return "–"
    return "&lt; 0.001" if float(v) < 0.001 else f"{float(v):.3f}"


def p_is(v: Any) -> str:
    """``= 0.017`` or ``< 0.001`` (HTML-escaped) for running text."""
    text = p_text(v)
    return text if text.startswith("&lt;") else f"= {text}"


def escape(text: Any) -> str:
    return html.escape("" if text is None else str(text))


@dataclass
class Language:
    """Translation and number formats of one report language."""

    code: str
    labels: Mapping[str, str]
    stage_labels: Mapping[str, str]
    metric_labels: Mapping[str, str]
    #: default level of the intervals the report shows (1 - the results' alpha)
    level: float = 0.95

    def t(self, key: str, **values: Any) -> str:
        """The words of ``key`` with ``values`` filled in. An interval label (``{ci_label}``,
        ``{level}``) not given reads the report's default level (:attr:`level`)."""
        text = TEXT[self.code][key]
        if "{ci_label}" in text or "{level}" in text:
            values = {**self.interval_words(), **values}
        return text.format(**values) if values else text

    def interval_words(self, level: float | None = None) -> dict[str, str]:
        """``ci_label`` ("90% CI", "90% 置信区间") and ``level`` ("90%") for intervals at
        ``level`` (a probability; the report's default level when None)."""
        percent = f"{100 * (self.level if level is None else level):.3g}%"
        label = f"{percent} 置信区间" if self.code == "zh" else f"{percent} CI"
        return {"ci_label": label, "level": percent}

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
                if finite(v) else "–")


def effect_text(lang: Language, kind: str, method: str, v: Any) -> str:
    method = str(method)
    if kind == "proportion" or "top-2-box" in method:
        return lang.pp(v)
    if kind == "nps":
        return f"{num(v, signed=True)}{lang.t('points')}"
    return num(v, signed=True)


def value_text(kind: str, method: str, v: Any) -> str:
    method = str(method)
    if kind == "proportion" or "top-2-box" in method:
        return pct(v)
    if kind == "nps":
        return num(v, signed=True)
    return num(v)


def rate_change(lang: Language, metric: str, v: Any) -> str:
    return lang.pp(v) if metric in ("exit_rate", "conversion_rate") else num(v, signed=True)


def rate_value(metric: str, v: Any) -> str:
    return pct(v) if metric in ("exit_rate", "conversion_rate") else num(v)
