"""Output tables of 06_report: the improvement backlog, the monitoring of KPI trends with
control charts, shifts and rollouts, and the comparison with the previous run.

Intervals here are at ``1 - alpha``, 06_report's ``alpha`` (every table with intervals has an
``alpha`` column); the backlog's impact ranges carry the level of the evidence they come from
(02_journeys' exit-rate interval, 05_pilot_eval's pilot interval).
"""

from __future__ import annotations

from cjmlib.core.schema._spec import FigureSpec, TableSpec, columns

_COMPARISON = columns("""
before | float | value before: rate 0-1 (exit_rate, conversion_rate) or mean score (csat_mean, 1-5), pooled over the complete periods before
after | float | value pooled over the complete periods from then on
difference | float | after - before
ci_low | float | lower bound of the interval at 1 - alpha of difference (Newcombe hybrid score for rates, Welch t for scores)
ci_high | float | upper bound of the interval at 1 - alpha of difference
p_value | float | two-sided p-value of difference = 0 (score test for rates, Welch t for scores)
""")

_COUNTS = columns("""
n_before | int | journeys (rates) or responses (scores) before
n_after | int | journeys (rates) or responses (scores) after
method | string | difference of proportions, Newcombe interval, score test; or difference of means, Welch t
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")

TABLES: tuple[TableSpec, ...] = (
    TableSpec("backlog", "report", "report_backlog",
              "Candidate improvements of configs/improvements.yaml scored from the run's "
              "evidence and ranked: journeys kept per person-week, weighted by severity "
              "(cjmlib.report.backlog.score_backlog).", columns("""
rank | int | 1 = do first, among the open candidates (proposed, piloting) with a score; null for shipped, rejected or unscored ones
id | string | candidate id (configs/improvements.yaml)
title | string | title in English
title_zh | string | title in Chinese (the English one when none is given)
touchpoints | string | comma-separated touchpoints the improvement changes
status | string | proposed, piloting, shipped or rejected
status_source | string | where the status comes from: config, previous run or default
status_since | string | run id in which the current status was first recorded
reach_customers | int | customers who touched its touchpoints (the largest of them); null without evidence
reach_share | float | reach_customers / all customers, 0-1
journeys | int | journeys through its touchpoints (summed); null without evidence
exits | float | journeys that ended at its touchpoints without converting (summed)
severity | float | how bad the experience is there, 0-1: per touchpoint the mean of exit_rate, (5 - CSAT) / 4 and (100 - NPS) / 200, the worst of its touchpoints
impact | float | journeys kept over the analysed period: exits x the midpoint of the expected exit reduction (modelled), or journeys x the pilot effect (measured)
impact_low | float | low end of impact: journeys x the lower bound of the exit rate's Wilson interval (at 02_journeys' 1 - alpha) x the low exit reduction (modelled), or journeys x the pilot's ci_low at 1 - alpha (measured)
impact_high | float | high end of impact, likewise
impact_basis | string | modelled, measured in pilot, or no evidence
effort_weeks | float | effort in person-weeks (configs/improvements.yaml)
score | float | impact x (0.5 + 0.5 x severity) / effort_weeks: journeys kept per person-week
pilot_metric | string | pilot metric that measured the improvement; null when none
pilot_decision | string | that metric's decision in pilot_results; null when none
recommendation | string | next step, a key the report translates: pilot_next, roll_out, keep_piloting, consider_rejecting, monitor, or empty
note | string | what was missing (touchpoints not in touchpoint_metrics, an untrustworthy pilot, ...); empty otherwise
""")),
    TableSpec("monitoring_trends", "report", "report_monitoring_trends",
              "Exit and conversion rates of journeys per period (a journey counts in the period "
              "of its first event) and touchpoint, stage or touchpoint and channel; groups with "
              "fewer journeys than min_group_size are suppressed "
              "(cjmlib.report.monitoring.rate_trends).", columns("""
level | string | touchpoint, stage, channel or touchpoint_channel (configs/report.yaml monitoring levels)
group | string | the touchpoint, stage or channel; "touchpoint / channel" for touchpoint_channel
touchpoint | string | touchpoint of the group; null when the level has none
stage | string | stage of the group; null when the level has none
channel | string | channel of the group; null when the level has none
period | timestamp | start of the period (day, week from Monday or month: rate_freq of configs/report.yaml), UTC
period_end | timestamp | end of the period (exclusive), UTC
complete | bool | the data cover the whole period
journeys | int | journeys through the group: the denominator; null when suppressed
exits | int | journeys whose last step is in the group without converting; null when suppressed
converted_journeys | int | journeys that converted; null when suppressed
exit_rate | float | exits / journeys, 0-1; null when suppressed
exit_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of exit_rate
exit_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of exit_rate
conversion_rate | float | converted_journeys / journeys, 0-1; null when suppressed
conversion_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of conversion_rate
conversion_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of conversion_rate
suppressed | bool | fewer journeys than min_group_size: the numbers are blanked
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("monitoring_charts", "report", "report_monitoring_charts",
              "Control charts: one row per series and charted period, p-charts of the rates "
              "and individuals (XmR) charts of the monthly CSAT, with Western Electric rules; "
              "limits come from the baseline periods (Montgomery 2019; "
              "cjmlib.report.monitoring.control_charts).", columns("""
level | string | grouping level of the series: touchpoint, stage or touchpoint_channel (rates); touchpoint or stage (scores)
group | string | the touchpoint, stage or "touchpoint / channel"
touchpoint | string | touchpoint of a rate series; null for scores and levels without one
stage | string | stage of a rate series; null for scores and levels without one
channel | string | channel of a rate series; null for scores and levels without one
metric | string | exit_rate, conversion_rate or csat_mean
chart | string | p (p-chart of a rate) or XmR (individuals chart of a mean score)
period | timestamp | start of the period, UTC (only complete periods with at least min_group_size units)
value | float | the rate (0-1) or the mean CSAT (1-5) of the period
n | int | journeys (rates) or responses (scores) in the period
centre | float | centre line: baseline rate (sum of events / sum of trials) or mean of the baseline values
sigma | float | standard deviation of the point: sqrt(centre (1 - centre) / n) for p-charts, mean moving range / 1.128 for XmR
lcl | float | lower control limit, centre - 3 sigma (clipped to 0 for rates)
ucl | float | upper control limit, centre + 3 sigma (clipped to 1 for rates)
z | float | (value - centre) / sigma
baseline | bool | the period belongs to the baseline (phase I): before the first rollout, else the first half of the periods
rule_1 | bool | Western Electric rule 1: one point beyond 3 sigma
rule_2 | bool | rule 2: two of three successive points beyond 2 sigma on the same side
rule_3 | bool | rule 3: four of five successive points beyond 1 sigma on the same side
rule_4 | bool | rule 4: eight successive points on the same side of the centre line
signal | bool | any rule is broken at this point
rules | string | numbers of the rules broken, e.g. "1, 4"; empty when none
""")),
    TableSpec("monitoring_shifts", "report", "report_monitoring_shifts",
              "One row per charted series with a signal after the baseline: the periods before "
              "the first such signal against the periods from it on; descriptive, because the "
              "split point was chosen from the data.", columns("""
level | string | grouping level of the series
group | string | the touchpoint, stage or "touchpoint / channel"
metric | string | exit_rate, conversion_rate or csat_mean
start | timestamp | start of the period of the first signal after the baseline, UTC
signals | int | signalled points after the baseline
rules | string | numbers of the Western Electric rules broken after the baseline, e.g. "1, 2"
""") + _COMPARISON + columns("""
p_value_adjusted | float | p_value, Holm-adjusted over all shifts
direction | string | up or down (sign of difference)
""") + _COUNTS),
    TableSpec("monitoring_rollouts", "report", "report_monitoring_rollouts",
              "Pre-specified before/after comparisons at each rollout date of "
              "configs/report.yaml, for every series the rollout touches.", columns("""
rollout | string | rollout name
date | timestamp | rollout date, UTC
level | string | grouping level of the series
group | string | the touchpoint, stage or "touchpoint / channel"
metric | string | exit_rate, conversion_rate or csat_mean
""") + _COMPARISON + columns("""
signals_after | int | signalled chart points from the rollout date on
""") + _COUNTS),
    TableSpec("run_comparison", "report", "report_run_comparison",
              "What changed since the previous run in the same reports folder: touchpoint "
              "rates and ranks, CSAT and NPS, pilot effects and verdicts, the store pilot, the "
              "backlog and the inputs; written only when there is a previous run "
              "(cjmlib.report.comparison.compare_runs).", columns("""
section | string | touchpoints, voice, pilot, store pilot, backlog or inputs
item | string | the touchpoint, metric, backlog id, or input files
metric | string | what is compared: exit_rate, conversion_rate, priority_rank, csat_mean, nps, effect, decision, estimate, status, rank or changed files
previous | float | value in the previous run; null for words or when absent
current | float | value in this run; null for words or when absent
change | float | current - previous
ci_low | float | lower bound of the interval at 1 - alpha of change (Newcombe for rates; from the two runs' own intervals, read at the level their alpha states, as independent normal estimates otherwise); null where either run has no interval
ci_high | float | upper bound of the interval at 1 - alpha of change
previous_label | string | status or verdict in the previous run (words); null for numbers
current_label | string | status or verdict in this run (words); null for numbers
changed | bool | the interval excludes 0, or a number without interval, a rank, status or verdict differs
note | string | new candidate, no longer in the config, or what an inputs row counts; empty otherwise
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
)

FIGURES: tuple[FigureSpec, ...] = ()
