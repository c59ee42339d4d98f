"""Output tables and figures of 02_journeys: touchpoint metrics and pain points, transitions,
paths and loops, funnels, time to convert, removal effects, channel switching.

Every journey rate here has its denominator beside it and a Wilson interval at 1 - alpha (02_journeys
has no ``alpha``); ``small_cell`` marks rates resting on fewer than 30 units.
"""

from __future__ import annotations

from cjmlib.core.schema._spec import Column, FigureSpec, TableSpec, columns

_TOUCHPOINT_METRICS = columns("""
touchpoint | string | the touchpoint
stage | string | its journey stage (configs/journey.yaml)
channel | string | "all" in touchpoint_metrics (and _by_segment); the channel in touchpoint_metrics_by_channel, one row per touchpoint and channel
events | int | events at the touchpoint (on the channel)
customers | int | distinct customers who touched it
reach_share | float | customers / customers_total, 0-1
conversion_rate | float | share of the journeys through the touchpoint that converted, 0-1 (denominator: journeys)
ci_low | float | lower bound of the Wilson interval at 1 - alpha of conversion_rate
ci_high | float | upper bound of the Wilson interval at 1 - alpha of conversion_rate
exit_rate | float | share of the closed journeys through the touchpoint that end there without converting or reaching another ending touchpoint (outcomes, endings of configs/journey.yaml), 0-1 (denominator: closed_journeys; open journeys, still going when the data end, are censored; cjmlib.journeys.touchpoints)
median_duration_s | float | median dwell time at the touchpoint, seconds (events with a duration)
csat_mean | float | mean CSAT (1-5) of the post-interaction answers about the touchpoint; null without feedback
nps | float | NPS (-100..100) of those answers; null without feedback
sentiment_mean | float | mean sentiment (-1..1) of the scored post-interaction comments about the touchpoint; null without feedback
removal_effect | float | first-order Markov removal effect, 0-1: share of the conversion probability lost without the touchpoint (cjmlib.journeys.attribution); null for conversion touchpoints
priority_score | float | 100 x pain x (0.5 + 0.5 x impact), 0-100, higher is more urgent (cjmlib.journeys.touchpoints); null where nothing is ranked (a conversion touchpoint without attitude data)
priority_rank | int | 1 = most urgent, ties share a rank; ranked within each channel (and segment); null where priority_score is null
journeys | int | journeys through the touchpoint: the denominator of the journey rates
converted_journeys | int | journeys through the touchpoint that converted
conversion_lift | float | conversion_rate / base_conversion_rate
base_conversion_rate | float | conversion rate of all journeys (of the segment), 0-1
open_journeys | int | journeys through the touchpoint still open at the end of observation: not ended at an ending touchpoint and last event within the open horizon of the data's end (session timeout for sessions; cjmlib.journeys.build)
closed_journeys | int | journeys - open_journeys: the denominator of exit_rate
exits | int | closed journeys through the touchpoint that end there without converting or reaching an ending touchpoint
exit_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of exit_rate
exit_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of exit_rate
p90_duration_s | float | 90th percentile of the dwell time, seconds
duration_n | int | events with a duration behind median_duration_s and p90_duration_s
loops | int | journeys that left the touchpoint for another one and came straight back (A -> B -> A)
loop_rate | float | loops / journeys, 0-1
loop_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of loop_rate
loop_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of loop_rate
repeats | int | journeys with the touchpoint twice or more
repeat_rate | float | repeats / journeys, 0-1
repeat_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of repeat_rate
repeat_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of repeat_rate
customers_total | int | distinct customers in all journeys (of the segment): the denominator of reach_share
reach_share_ci_low | float | lower bound of the Wilson interval at 1 - alpha of reach_share
reach_share_ci_high | float | upper bound of the Wilson interval at 1 - alpha of reach_share
small_cell | bool | customers below min_customers of configs/journey.yaml (30): shown, read with care
csat_ci_low | float? | lower bound of the score interval at 1 - alpha of csat_mean on the 1-5 scale, never of zero width (with feedback)
csat_ci_high | float? | upper bound of the score interval at 1 - alpha of csat_mean on the 1-5 scale (with feedback)
nps_ci_low | float? | lower bound of the score interval at 1 - alpha of nps (Rocks 2016), within -100..100 (with feedback)
nps_ci_high | float? | upper bound of the score interval at 1 - alpha of nps (with feedback)
sentiment_n | float? | scored comments behind sentiment_mean (a count, stored as float; with feedback)
feedback_n | float? | post-interaction answers with at least one score behind csat_mean and nps (a count, stored as float; with feedback)
pain | float | weighted mean of the available `signal_*` columns (weights: priority_weights of configs/journey.yaml), 0-1
impact | float | removal_effect / the largest removal_effect of the channel (and segment), 0-1; null for conversion touchpoints
signal_exit | float | exit_rate, 0-1; null for conversion touchpoints
signal_loop | float | loop_rate, 0-1
signal_time | float | median_duration_s / target median_duration_s - 1, clipped to 0-1; null without a future-state target
signal_csat | float | (5 - csat_mean) / 4, 0-1
signal_nps | float | (100 - nps) / 200, 0-1
signal_sentiment | float | (1 - sentiment_mean) / 2, 0-1
priority_basis | string | comma-separated signals that entered pain (exit, loop, time, csat, nps, sentiment)
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")
_BY_NAME: dict[str, Column] = {c.name: c for c in _TOUCHPOINT_METRICS}

_FUNNEL = columns("""
step | string | the funnel step (a touchpoint, in the order of configs/journey.yaml)
customers | int | distinct customers whose journey reached the step
conversion_from_previous | float | share of the journeys at the previous step that went on to this one, 0-1 (1 for the first step; denominator: observed_journeys, censored journeys left out)
conversion_from_start | float | share of the journeys that entered the funnel that reached this step, 0-1 (denominator: entered_observed)
median_time_s | float | median seconds from funnel entry to this step, among the journeys reaching it
step_number | int | position of the step, from 1
journeys | int | journeys reaching the step
previous_journeys | int | journeys at the previous step (the step itself for the first)
entered_journeys | int | journeys that entered the funnel
conversion_from_previous_ci_low | float | lower bound of the Wilson interval at 1 - alpha of conversion_from_previous
conversion_from_previous_ci_high | float | upper bound of the Wilson interval at 1 - alpha of conversion_from_previous
conversion_from_start_ci_low | float | lower bound of the Wilson interval at 1 - alpha of conversion_from_start
conversion_from_start_ci_high | float | upper bound of the Wilson interval at 1 - alpha of conversion_from_start
drop_off | int | journeys at the previous step that did not go on to this one, neither censored nor ended
drop_off_rate | float | drop_off / observed_journeys, 0-1 (conversion_from_previous + drop_off_rate = 1 - ended / observed_journeys)
censored | int | journeys at the previous step that have not reached this one but may still: open at the end of observation and, with a funnel window, their window not elapsed by then (cjmlib.journeys.funnel)
ended | int | journeys at the previous step that ended instead at an ending touchpoint that is no funnel step (an outcome such as declined or cancelled): not drop-offs
observed_journeys | int | previous_journeys - censored: the denominator of conversion_from_previous and drop_off_rate
entered_observed | int | entered journeys not censored at this step or an earlier one: the denominator of conversion_from_start
median_time_from_previous_s | float | median seconds from the previous step to this one (0 for the first step)
small_cell | bool | observed_journeys below 30: read with care
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")

TABLES: tuple[TableSpec, ...] = (
    TableSpec("journeys_summary", "journeys", "journeys_summary",
              "Two rows: the journeys of the notebook's journey_unit, then the customer "
              "journeys used for churn and channel switching (Journeys.summary).", columns("""
unit | string | journey unit: session or customer
customers | int | distinct customers
journeys | int | journeys
steps | int | events (steps) in the journeys
converted_journeys | int | journeys that reached a conversion touchpoint
median_steps | float | median steps per journey
conversion_rate | float | converted_journeys / journeys, 0-1
conversion_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of conversion_rate
conversion_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of conversion_rate
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("outcomes", "journeys", "journeys_outcomes",
              "One row per named outcome of the journey config (outcomes:) that occurs in the "
              "events, over the same journeys (cjmlib.journeys.outcomes.outcome_rates).",
              columns("""
outcome | string | outcome name from the journey config (conversion when it names none)
touchpoints | string | the outcome's touchpoints, comma-separated
journeys | int | journeys of the notebook's journey_unit (the denominator)
reached | int | journeys with an event of one of the outcome's touchpoints
customers | int | distinct customers of the journeys
customers_reached | int | distinct customers with a journey that reached the outcome
rate | float | reached / journeys, 0-1
rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of rate
rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of rate
primary | bool | the outcome the notebook converts on (conversion rates, funnel, removal effects)
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("acquisition", "journeys", "journeys_acquisition",
              "New and returning customers per period, and their journeys' conversion "
              "(cjmlib.journeys.cohorts.acquisition).", columns("""
period | timestamp | start of the period (UTC)
period_unit | string | day, week or month
customers | int | customers with a journey starting in the period
new_customers | int | customers whose first journey in the data starts in the period
returning_customers | int | customers - new_customers
journeys | int | journeys starting in the period
new_journeys | int | journeys of customers in their first period
returning_journeys | int | journeys - new_journeys
new_converted | int | converted journeys among new_journeys
returning_converted | int | converted journeys among returning_journeys
new_conversion_rate | float | new_converted / new_journeys, 0-1
new_conversion_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha
new_conversion_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha
returning_conversion_rate | float | returning_converted / returning_journeys, 0-1
returning_conversion_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha
returning_conversion_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha
new_share | float | new_customers / customers, 0-1
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("cohorts", "journeys", "journeys_cohorts",
              "Retention and conversion by cohort (period of the first journey) and age; "
              "ages not yet observed are left out (cjmlib.journeys.cohorts.cohort_retention). "
              "Written for session journeys only.", columns("""
cohort | timestamp | start of the cohort's first period (UTC)
period_unit | string | day, week or month
age | int | periods since the cohort's first period
cohort_customers | int | customers of the cohort (the denominator)
active_customers | int | cohort customers with a journey starting in the period
converted_customers | int | cohort customers converted by the end of the period (cumulative)
retention | float | active_customers / cohort_customers, 0-1
retention_ci_low | float | lower bound of the Wilson interval at 1 - alpha
retention_ci_high | float | upper bound of the Wilson interval at 1 - alpha
conversion | float | converted_customers / cohort_customers, 0-1
conversion_ci_low | float | lower bound of the Wilson interval at 1 - alpha
conversion_ci_high | float | upper bound of the Wilson interval at 1 - alpha
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("new_vs_returning", "journeys", "journeys_new_vs_returning",
              "Conversion of customers' first journeys against their later ones "
              "(cjmlib.journeys.cohorts.new_vs_returning). Written for session journeys "
              "only.", columns("""
first_journeys | int | customers' first journeys
first_converted | int | converted first journeys
later_journeys | int | all later journeys
later_converted | int | converted later journeys
first_rate | float | first_converted / first_journeys, 0-1
first_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha
first_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha
later_rate | float | later_converted / later_journeys, 0-1
later_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha
later_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha
difference | float | later_rate - first_rate
ci_low | float | lower bound of Newcombe's interval at 1 - alpha of the difference
ci_high | float | upper bound of Newcombe's interval at 1 - alpha of the difference
p_value | float | two-sided score test of equal rates (statsmodels test_proportions_2indep)
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("period_comparison", "journeys", "journeys_period_comparison",
              "Directly-follows transitions of journeys starting before the split against "
              "those starting from it, largest change first "
              "(cjmlib.journeys.differences.period_comparison).", columns("""
source | string | touchpoint left, or (start)
target | string | touchpoint reached, or (end)
count_before | int | transitions in journeys starting before the split
source_count_before | int | times source was left before (the denominator)
probability_before | float | count_before / source_count_before, 0-1
count_after | int | transitions in journeys starting from the split
source_count_after | int | times source was left after (the denominator)
probability_after | float | count_after / source_count_after, 0-1
difference | float | probability_after - probability_before
ci_low | float | lower bound of Newcombe's interval at 1 - alpha of the difference
ci_high | float | upper bound of Newcombe's interval at 1 - alpha of the difference
p_value | float | two-sided score test of equal probabilities
p_value_adjusted | float | Benjamini-Hochberg over all pairs
split | string | the split time (UTC, ISO)
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("segment_differences", "journeys", "journeys_segment_differences",
              "Customer columns ranked by how differently their values convert: chi-square "
              "test of homogeneity, Cramér's V, Holm over the columns "
              "(cjmlib.journeys.differences.segment_differences).", columns("""
column | string | customers column
levels | int | values compared (small ones pooled as (other))
journeys | int | journeys of customers with those values
missing_journeys | int | journeys of customers without a value (left out of the comparison)
chi2 | float | Pearson's chi-square of converted x value (no continuity correction)
dof | float | its degrees of freedom
p_value | float | p-value of the chi-square test
cramers_v | float | Cramér's V, 0-1: the size of the difference
lowest | string | value with the lowest conversion rate
highest | string | value with the highest conversion rate
spread | float | highest minus lowest conversion rate
p_value_adjusted | float | Holm-adjusted over the columns
differs | bool | p_value_adjusted < alpha
alpha | float | significance level (the notebook's alpha)
""")),
    TableSpec("segment_levels", "journeys", "journeys_segment_levels",
              "Conversion of the journeys per value of each candidate segment column "
              "(cjmlib.journeys.differences.segment_differences).", columns("""
column | string | customers column
level | string | its value ((other) for pooled small values)
journeys | int | journeys of customers with the value
converted | int | converted journeys among them
conversion_rate | float | converted / journeys, 0-1
conversion_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha
conversion_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("changes", "journeys", "journeys_changes",
              "Changes over time found without dates: one row per significant shift, episode, "
              "burst or fade-out, strongest first (cjmlib.journeys.changes.detect_changes).",
              columns("""
kpi | string | exit_rate, conversion_rate, transition_probability, time_median, time_p90, arrivals, channel_share, new_customers or arrivals_per_day (daily bursts), csat_satisfied, nps_promoters or nps_detractors (with feedback)
level | string | touchpoint, stage, channel, flow, flow_channel (a main flow on one channel), survey, feedback (a touchpoint within a survey) or all
group | string | the touchpoint, stage, channel, flow (source → target, with the channel in brackets for flow_channel), survey or touchpoint (survey)
kind | string | shift_up, shift_down, episode_up, episode_down, burst, dip or fade_out
start | timestamp | first period of the changed window (UTC)
end | timestamp | end of the changed window (exclusive; empty for a shift to the end of the data)
periods | int | periods in the changed window
period_unit | string | day, week or month: the periods of the series (bursts are searched by day)
reference | float | rate (or count per period) outside the window; for daily bursts the count per day expected from the days around
changed | float | rate (or count per period) inside the window
difference | float | changed - reference
ci_low | float | lower bound of the interval at 1 - alpha of the difference (Newcombe for rates, Poisson score for counts; descriptive: the window was chosen from the data)
ci_high | float | upper bound of that interval at 1 - alpha
confidence_level | float | 1 - alpha
value_reference | float | the KPI as read outside the window (seconds for time KPIs)
value_changed | float | the KPI as read inside the window
affected | float | journeys, transitions, gaps or events in the window (see affected_unit)
affected_unit | string | what affected counts
excess | float | changed - expected count in the window at the reference rate
statistic | float | scan likelihood-ratio statistic (divided by the dispersion)
dispersion | float | robust overdispersion factor (>= 1)
p_value | float | Monte Carlo p-value of the series' best window
p_adjusted | float | p_value adjusted across all series searched
p_value_method | string | how the p-value was computed
sentence | string | the finding in plain English
alpha | float | significance level of the search and of the intervals (the notebook's alpha)
""")),
    TableSpec("change_series", "journeys", "journeys_change_series",
              "Every KPI series searched for changes, with its status (tested, degenerate, "
              "constant), the reason, its best window and p-values "
              "(cjmlib.journeys.changes.detect_changes).", columns("""
kpi | string | the KPI (see journeys_changes)
level | string | touchpoint, stage, channel, flow or all
group | string | the touchpoint, stage, channel or flow
model | string | binomial (rates) or poisson (counts)
status | string | tested, degenerate (e.g. all journeys in one period) or constant
reason | string | why a series was not tested (empty when tested)
periods | int | periods of the series
period_unit | string | day, week or month
numerator | float | successes (or counts) over all periods
denominator | float | trials (or exposure) over all periods
start_index | float | first period index of the best window
end_index | float | end period index of the best window (exclusive)
statistic | float | scan statistic of the best window
dispersion | float | overdispersion factor
p_value | float | Monte Carlo p-value of the best window
p_value_method | string | how the p-value was computed
p_adjusted | float | adjusted across all series searched
""")),
    TableSpec("change_values", "journeys", "journeys_change_values",
              "The values by period of every series with a finding in journeys_changes, for "
              "its chart (cjmlib.journeys.changes.finding_values).", columns("""
kpi | string | the KPI (see journeys_changes)
level | string | as in journeys_changes
group | string | as in journeys_changes
period | timestamp | start of the period (UTC)
period_unit | string | day, week or month
numerator | int | successes (or counts) in the period
denominator | float | trials in the period (for counts the exposure; for daily bursts the count expected from the days around)
value | float | the KPI as read in the period (a rate, a count, or seconds for time KPIs)
in_window | bool | the period lies in the finding's changed window
""")),
    TableSpec("touchpoint_metrics", "journeys", "journeys_touchpoint_metrics",
              "One row per touchpoint: reach, conversion, exit, dwell, loops, attitude, removal "
              "effect and the priority score (cjmlib.journeys.touchpoints.touchpoint_metrics).",
              _TOUCHPOINT_METRICS),
    TableSpec("touchpoint_metrics_by_channel", "journeys",
              "journeys_touchpoint_metrics_by_channel",
              "touchpoint_metrics with one row per touchpoint and channel; ranks, impact and "
              "shares are within the channel.", _TOUCHPOINT_METRICS),
    TableSpec("touchpoint_metrics_by_segment", "journeys",
              "journeys_touchpoint_metrics_by_segment",
              "touchpoint_metrics with one row per segment and touchpoint; written only when "
              "the notebook's segment_col is set. Totals, ranks and removal effects are within "
              "the segment; the segment column follows priority_rank.", _TOUCHPOINT_METRICS,
              patterns=(("<segment_col>", "the segment (a column of the events or customers "
                         "named by segment_col), after priority_rank"),)),
    TableSpec("pain_points", "journeys", "journeys_pain_points",
              "The ranked rows of touchpoint_metrics (those with a priority score), most "
              "urgent first, with the evidence behind the score.",
              tuple(_BY_NAME[n] for n in (
                  "priority_rank", "touchpoint", "stage", "priority_score", "pain", "impact",
                  "priority_basis", "exit_rate", "loop_rate", "csat_mean", "nps",
                  "sentiment_mean", "removal_effect", "customers", "small_cell"))),
    TableSpec("transitions", "journeys", "journeys_transitions",
              "Directly-follows transitions between touchpoints, most frequent first; every "
              "journey opens from (start) and closes to (end) "
              "(cjmlib.journeys.transitions.transitions).", columns("""
source | string | touchpoint left, or (start)
target | string | touchpoint that directly followed, or (end)
count | int | times target directly followed source in a journey
probability | float | count / source_count: first-order transition probability, 0-1
median_gap_s | float | median seconds between the two events; null from (start) and to (end)
source_count | int | times source was left: the denominator of probability
probability_ci_low | float | lower bound of the Wilson interval at 1 - alpha of probability
probability_ci_high | float | upper bound of the Wilson interval at 1 - alpha of probability
small_cell | bool | source_count below 30: read with care
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("paths", "journeys", "journeys_paths",
              "The most frequent journeys (path variants; the notebook's top_paths) and one "
              "row for all other variants, so shares add to one "
              "(cjmlib.journeys.transitions.path_variants).", columns("""
path | string | the touchpoints of the journey joined by " > ", cut after 12 steps with " > ..."; "(other variants)" for the rest
n_steps | float | steps of the variant before cutting; null for (other variants)
journeys | int | journeys following the variant
share | float | journeys / all journeys, 0-1
share_ci_low | float | lower bound of the Wilson interval at 1 - alpha of share
share_ci_high | float | upper bound of the Wilson interval at 1 - alpha of share
converted | int | journeys of the variant that converted
conversion_rate | float | converted / journeys, 0-1
conversion_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of conversion_rate
conversion_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of conversion_rate
small_cell | bool | journeys below 30: read with care
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("loops", "journeys", "journeys_loops",
              "Rework: A -> B -> A loops, where a journey goes from touchpoint A to B and "
              "straight back, most frequent first (cjmlib.journeys.transitions.loops).",
              columns("""
touchpoint | string | touchpoint A, where the loop starts and ends
via | string | touchpoint B visited in between
occurrences | int | times the loop was run
journeys | int | journeys that ran the loop at least once
touchpoint_journeys | int | journeys that reached A: the denominator of loop_rate
loop_rate | float | journeys / touchpoint_journeys, 0-1
loop_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of loop_rate
loop_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of loop_rate
small_cell | bool | touchpoint_journeys below 30: read with care
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("rework", "journeys", "journeys_rework",
              "Rework: returns to a touchpoint the journey had already been at, through one or "
              "more other steps (A -> B -> C -> A), per touchpoint with its most frequent "
              "return paths; touchpoints without rework have one row with no path "
              "(cjmlib.journeys.transitions.rework).", columns("""
touchpoint | string | the touchpoint returned to
touchpoint_journeys | int | journeys that reached the touchpoint: the denominator of rework_rate and path_rate
rework_journeys | int | journeys that returned to the touchpoint at least once through other steps (immediate repeats A -> A are not rework)
rework_rate | float | rework_journeys / touchpoint_journeys, 0-1
rework_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of rework_rate
rework_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of rework_rate
returns | int | all returns to the touchpoint (a journey may return several times)
path_rank | int | 1 = the return path most journeys took; the last rank is (other paths); null without rework
path | string | the steps between leaving the touchpoint and coming back, joined by " > ", cut after max_path (4) steps with " > ..."; (other paths) for the paths beyond the top ones; null without rework
path_steps | int | steps between leaving and returning, before cutting (the fewest for (other paths))
path_returns | int | returns by this path (the rows of a touchpoint add up to returns)
path_journeys | int | journeys that returned by this path
path_rate | float | path_journeys / touchpoint_journeys, 0-1
path_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of path_rate
path_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of path_rate
small_cell | bool | touchpoint_journeys below 30: read with care
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("funnel", "journeys", "journeys_funnel",
              "The configured funnel (configs/journey.yaml): closed, steps in order, within the "
              "funnel window; journeys reaching each step and the drop-off between steps "
              "(cjmlib.journeys.funnel.funnel).", _FUNNEL),
    TableSpec("funnel_variants", "journeys", "journeys_funnel_variants",
              "The same funnel counted four ways (closed/sequential, open/sequential, "
              "closed/strict, closed/any), one block of steps each.", _FUNNEL + columns("""
mode | string | closed (enter at the first step only) or open (enter at any step)
order | string | sequential (in order, other events between), strict (directly following) or any (any order)
""")),
    TableSpec("time_to_convert", "journeys", "journeys_time_to_convert",
              "Kaplan-Meier curve of the time from the first to the last funnel step over "
              "customer journeys; journeys not converted by the end of the data are censored "
              "(cjmlib.journeys.funnel.time_to_convert).", columns("""
time_s | float | seconds since the first funnel step (the estimator's steps)
converted_share | float | share of journeys converted by time_s, 0-1 (1 - Kaplan-Meier survival)
ci_low | float | lower bound of the interval at 1 - alpha of converted_share (lifelines, exponential Greenwood)
ci_high | float | upper bound of the interval at 1 - alpha of converted_share
at_risk | int | journeys neither converted nor censored just before time_s
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("removal_effects", "journeys", "journeys_removal_effects",
              "Markov-chain attribution (order: the notebook's markov_order): what each "
              "touchpoint contributes to conversion, largest first; model quantities without "
              "a sampling interval (cjmlib.journeys.attribution.markov_attribution).",
              columns("""
touchpoint | string | the touchpoint (conversion touchpoints are the absorbing state and have no row)
removal_effect | float | 1 - p_without / p, 0-1: share of the conversion probability from (start) lost when the touchpoint leads nowhere
conversion_probability_without | float | conversion probability from (start) without the touchpoint, 0-1
attributed_conversions | float | observed conversions split in proportion to the removal effects
attributed_share | float | removal_effect / sum of removal effects, 0-1
journeys | int | journeys through the touchpoint before their first conversion (the evidence)
""")),
    TableSpec("channel_transitions", "journeys", "journeys_channel_transitions",
              "Moves between channels in customer journeys (cross-channel moves only), most "
              "frequent first (cjmlib.journeys.channels.channel_transitions).", columns("""
source_channel | string | channel of the step left
target_channel | string | channel of the step that directly followed
count | int | times the move was made
probability | float | count / source_count, 0-1
source_count | int | all moves from a step on source_channel, same-channel moves included: the denominator of probability
probability_ci_low | float | lower bound of the Wilson interval at 1 - alpha of probability
probability_ci_high | float | upper bound of the Wilson interval at 1 - alpha of probability
journeys | int | journeys that made the move
customers | int | customers who made the move
switch | bool | the channels differ (always true in this table)
small_cell | bool | source_count below 30: read with care
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("channel_switching", "journeys", "journeys_channel_switching",
              "Outcome (churn when the customers table has the notebook's churn_col, else "
              "conversion) of customers who made each channel switch versus the others; "
              "observational, not causal (cjmlib.journeys.channels.switching_outcomes).",
              columns("""
from_channel | string | channel switched from
to_channel | string | channel switched to (directly next step)
outcome | string | the outcome compared: the churn column's name or converted
switchers | int | customers with a known outcome who made the switch at least once
switcher_outcomes | int | switchers with the outcome
switcher_rate | float | switcher_outcomes / switchers, 0-1
switcher_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of switcher_rate
switcher_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of switcher_rate
stayers | int | the other customers with a known outcome
stayer_outcomes | int | stayers with the outcome
stayer_rate | float | stayer_outcomes / stayers, 0-1
stayer_rate_ci_low | float | lower bound of the Wilson interval at 1 - alpha of stayer_rate
stayer_rate_ci_high | float | upper bound of the Wilson interval at 1 - alpha of stayer_rate
difference | float | switcher_rate - stayer_rate
difference_ci_low | float | lower bound of the Newcombe hybrid-score interval at 1 - alpha of difference
difference_ci_high | float | upper bound of the Newcombe hybrid-score interval at 1 - alpha of difference
risk_ratio | float | switcher_rate / stayer_rate
p_value | float | two-sided score test of difference = 0 (statsmodels test_proportions_2indep)
small_cell | bool | switchers below 30: read with care
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("importance_performance", "journeys", "journeys_importance_performance",
              "Touchpoints in the importance-performance grid (Martilla & James 1977), split "
              "at the means (cjmlib.journeys.touchpoints.importance_performance).", columns("""
touchpoint | string | the touchpoint
importance | float | its removal_effect, 0-1
performance | float | csat_mean (1-5) when at least three touchpoints have CSAT, else 1 - exit_rate (0-1)
stage | string | journey stage of the touchpoint
channel | string | "all"
customers | int | distinct customers who touched it
small_cell | bool | customers below min_customers: read with care
quadrant | string | concentrate here, keep up the good work, low priority, possible overkill, or not rated (a value missing)
importance_split | float | mean importance of the rated touchpoints (the vertical line)
performance_split | float | mean performance of the rated touchpoints (the horizontal line)
""")),
    TableSpec("journeys_findings", "journeys", "journeys_findings",
              "The notebook's headline findings for the report: journey unit, top pain point, "
              "pain-point ranking, top loop, top channel switch with its interval at 1 - alpha, funnel "
              "conversion and the pandas cross-check of the transition counts.", (),
              formats=("json",)),
)

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("journeys_journey_map", "journeys",
               "The current-state journey map: stages as columns, touchpoints as cells shaded "
               "by priority with reach, conversion, exit and CSAT, under the experience curve "
               "per stage with its band at 1 - alpha."),
    FigureSpec("journeys_journey_map_future_state", "journeys",
               "Each touchpoint's measured value beside its future-state target and the gap, "
               "green where the target is met and orange where it is missed; no intervals."),
    FigureSpec("journeys_pain_point_priority", "journeys",
               "The most urgent touchpoints by priority score, each bar split into the part "
               "each signal (exit, loop, time, CSAT, NPS, sentiment) contributes; no "
               "intervals."),
    FigureSpec("journeys_transition_graph", "journeys",
               "The most frequent moves between touchpoints laid out left to right, arrow "
               "width for the count and labels for the transition probability; no "
               "intervals."),
    FigureSpec("journeys_funnel", "journeys",
               "Journeys reaching each funnel step as bars, labelled with the conversion from "
               "the previous step, its interval at 1 - alpha and the drop-off."),
    FigureSpec("journeys_time_to_convert", "journeys",
               "Share of journeys converted over time since the first funnel step (log time "
               "axis), with its band at 1 - alpha, censoring journeys still in progress."),
    FigureSpec("journeys_channel_switching", "journeys",
               "For the most common channel switches, the churn (or conversion) rate of "
               "customers who switched against the others, as points with intervals at 1 - alpha "
               "bars."),
    FigureSpec("journeys_importance_performance", "journeys",
               "Touchpoints placed by removal effect (importance) and CSAT or 1 - exit rate "
               "(performance), coloured by quadrant, with the splitting lines; no intervals."),
    FigureSpec("journeys_change_*", "journeys",
               "One per change of the four strongest in journeys_changes (journeys_change_1 "
               "first): the series by period, the changed window shaded, the level inside and "
               "outside it; the interval of the difference is in the sentence and the table."),
)
