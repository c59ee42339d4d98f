"""Output tables and figures of 04_pilot_design (sample size, assignment, pre-registration)
and 05_pilot_eval (A/B results, verdicts, SRM, pre-period balance, survival, segments, difference-in-differences).

Intervals of 04 and 05 are at ``1 - alpha``, the notebook's ``alpha`` (0.05 by default).
"""

from __future__ import annotations

from cjmlib.core.schema._spec import FigureSpec, TableSpec, columns

_EFFECT = columns("""
metric | string | metric name (configs/pilot.yaml, the metrics parameter or inferred)
kind | string | proportion, mean, ratio, ordinal, nps or time_to_event
control | string | control arm
treatment | string | treatment arm compared with it
n_control | int | units with a value in the control arm (clusters under cluster randomisation)
n_treatment | int | units with a value in the treatment arm (clusters under cluster randomisation)
control_value | float | metric in the control arm: share 0-1 (proportion, top-2-box), mean, ratio of sums, NPS -100..100, RMST to tau (time_to_event), 0.5 for rank tests; CUPED-adjusted with a covariate
treatment_value | float | the same in the treatment arm (for rank tests P(T>C) + 0.5 P(T=C))
effect | float | treatment_value - control_value in metric units (shares as 0-1 differences, NPS points, RMST difference); rank tests: P(T>C) + 0.5 P(T=C) - 0.5
rel_effect | float | effect / control_value; null for NPS and rank effects
ci_low | float | lower bound of the interval of effect at 1 - alpha, by the method
ci_high | float | upper bound of the interval of effect at 1 - alpha
p_value | float | two-sided p-value of effect = 0, by the method
""")

_RESULTS_EXTRA = columns("""
role | string | primary, guardrail or secondary
better | string | the metric's good direction: higher or lower
se | float | standard error of effect
""")

TABLES: tuple[TableSpec, ...] = (
    TableSpec("pilot_design", "design", "design_sample_size",
              "Sample size, minimum detectable effect and power per pilot metric from the "
              "historical units table, at the notebook's alpha and power "
              "(cjmlib.pilots.design.design_table).", columns("""
metric | string | metric name (configs/pilot.yaml)
kind | string | proportion, mean, ratio, ordinal, nps or time_to_event
role | string | primary, guardrail or secondary
design_kind | string | how the metric is powered: proportion (Cohen's h, normal approximation), mean, ratio (delta method) or nps (two-sample t); null for metrics without closed-form power
baseline | float | historical value (control arm when the table has one): share 0-1, mean, ratio, NPS -100..100
sd | float | per-unit standard deviation (delta method for ratios; NPS on the 0..1 scale)
n | float | historical units with a value
response_rate | float | n / historical units, 0-1 (survey metrics)
variance_reduction | float | CUPED R^2: squared correlation with the pre-period covariate, 0-1
mde | float | minimum detectable effect the pilot is sized for (plan; metric units, NPS points)
n_control | float | units needed in the control arm (after design effect and response rate)
n_treatment | float | units needed in each treatment arm
n_total | float | units needed in all arms
n_total_cuped | float | units needed in all arms with CUPED
days | float? | days to reach n_total at the plan's daily_units (with daily_units)
mde_at_plan | float? | effect detectable with the planned units (daily_units x duration_days), metric units (with planned units)
power_at_plan | float? | power to detect mde with the planned units, 0-1 (with planned units)
design_effect | float | variance inflation of cluster randomisation on the metric's respondents, 1 + ((cv^2 + 1) m r - 1) ICC with m units per cluster and r the response rate (1 for unit randomisation)
alpha_role | float | alpha shared over the metrics of the role (alpha / metrics in the role): the evaluation adjusts each role's family by Holm, which rejects at least what this Bonferroni share does
alpha_per_comparison | float | alpha_role per treatment arm: alpha_role / (arms - 1) (Bonferroni); every size and power of the row is at this level
note | string | why a metric is not powered (time-to-event and rank metrics); empty otherwise
""")),
    TableSpec("pilot_assignment", "design", "design_assignment",
              "Deterministic assignment of every unit of the units table to an arm by salted "
              "SHA-256 hash (cjmlib.pilots.design.assignment_table).", columns("""
unit_id | string | the unit
bucket | float | uniform number in [0, 1) from SHA-256 of `<salt>:<unit_id>`, the id written canonically (1 and 1.0 alike; cjmlib.pilots.design.canonical_unit_id)
variant | string | arm: the slice of [0, 1) holding bucket, the arms' slices consecutive in the alphabetical order of their names
""")),
    TableSpec("preregistration", "design", "design_preregistration",
              "The pre-registration of the pilot (Markdown): question, unit and assignment, "
              "alpha and power, metrics with roles and methods, sample sizes, the verdict rule "
              "(cjmlib.pilots.design.preregistration).", (), formats=("md",)),
    TableSpec("pilot_results", "pilot", "pilot_results",
              "One row per metric and treatment arm of the randomised pilot, each naming its "
              "method, with the verdict (cjmlib.pilots.evaluation.evaluate_pilot).",
              _EFFECT + columns("""
p_value_adjusted | float | Holm step-down adjustment of p_value within the role family (primary, guardrail, secondary) over metrics and arms
method | string | estimator, test and interval used (e.g. Welch t, delta method, Fisher exact, CUPED)
srm_p_value | float | p-value of the sample ratio mismatch check (Pearson chi-square against the planned split)
decision | string | primary: ship, iterate, stop or inconclusive; guardrail: guardrail ok or guardrail breached; secondary: better, worse or no clear difference
""") + _RESULTS_EXTRA + columns("""
statistic | float | test statistic: effect / se (t or z); the treatment's U for Mann-Whitney
df | float | degrees of freedom of the t reference (Welch-Satterthwaite); inf for z tests
alpha | float | significance level (the notebook's alpha)
rel_ci_low | float | lower bound of the interval of rel_effect at 1 - alpha (log-ratio delta method); null for NPS and rank effects, and when an arm's value is not clearly away from 0 (method says why)
rel_ci_high | float | upper bound of the interval of rel_effect at 1 - alpha
p_value_bh | float | Benjamini-Hochberg adjustment of p_value within the role family
significant | bool | p_value_adjusted < alpha
covariate | string | CUPED covariate (numerator/denominator for ratios); null without CUPED
variance_reduction | float | share of the variance of effect removed by CUPED, 0-1 (0 without)
min_effect | float | smallest worthwhile effect from the plan, metric units; null when not set
margin | float | tolerated harm of a guardrail, metric units; null when not set
trustworthy | bool | the SRM check passed (p >= the plan's srm_alpha)
reason | string | why the decision was taken
prob_better | float? | posterior probability that treatment is better (Beta-Binomial for proportions, flat prior on the effect otherwise; with bayesian)
expected_loss | float? | posterior expected loss of shipping treatment, metric units (with bayesian)
prior | string? | prior behind prob_better (with bayesian)
cs_low | float? | lower bound of the always-valid confidence sequence of effect at 1 - alpha (with sequential)
cs_high | float? | upper bound of the always-valid confidence sequence of effect at 1 - alpha (with sequential)
""")),
    TableSpec("pilot_summary", "pilot", "pilot_summary",
              "pilot_results in words a manager reads: one line per metric and arm with what "
              "changed, how sure and what to do (cjmlib.pilots.breakdowns.summary_table).",
              columns("""
metric | string | metric name
role | string | primary, guardrail or secondary
arm | string | treatment arm
control | string | control value as text (shares in %, NPS signed)
treatment | string | treatment value as text
change | string | effect as text (percentage points for shares, NPS points) with the relative change in %
interval | string | interval of the change at 1 - alpha, as text
adjusted p | string | p_value_adjusted, three significant digits
decision | string | the verdict (as decision of pilot_results)
why | string | the reason for it
""")),
    TableSpec("pilot_srm", "pilot", "pilot_srm",
              "The sample ratio mismatch check: units per arm against the planned split "
              "(cjmlib.pilots.evaluation.sample_ratio_mismatch).", columns("""
arm | string | arm
units | int | units in the arm (clusters under cluster randomisation)
observed_share | float | units / all units, 0-1
planned_share | float | share of the planned split, 0-1
expected_units | float | units expected under the planned split
""")),
    TableSpec("pilot_units", "pilot", "pilot_units",
              "The A/B units table 05_pilot_eval built from the events and an assignment table "
              "(the units contract); written only with assignment_path "
              "(cjmlib.pilots.from_events.units_from_events).", columns("""
unit_id | string | the assigned unit (an id of the events' unit column, customer_id by default)
variant | string | arm the unit was assigned to
"""),
              patterns=(("<outcome>", "one column per outcome over [assignment time, + "
                         "window_days): conversion 0/1, revenue (sum of value), count"),
                        ("pre_<outcome>", "the same over [assignment time - pre_days, "
                         "assignment time): the CUPED covariate and balance input"))),
    TableSpec("pilot_panel", "pilot", "pilot_panel",
              "The store/region panel 05_pilot_eval built from the events (the panel "
              "contract); written only with treated_units_path "
              "(cjmlib.pilots.from_events.panel_from_events).", columns("""
unit | string | store or region (the events' panel_unit_col)
period | string | first day of the period, YYYY-MM-DD
treated | int | 1 for pilot units, 0 for comparison units
post | int | 1 in the period holding the launch and after
"""),
              patterns=(("<outcome>", "one column per panel outcome: revenue (sum of value), "
                         "count of events or distinct customers in the unit and period"),)),
    TableSpec("pilot_balance", "pilot", "pilot_balance",
              "Pre-period balance: per pre-period covariate (numeric pre_* columns and CUPED "
              "covariates) and treatment arm, did the arms differ before launch; written only "
              "when the units table has such columns (cjmlib.pilots.balance.check_balance).",
              columns("""
covariate | string | pre-period column of the units table
control | string | control arm
treatment | string | treatment arm compared with it
kind | string | binary (every value 0 or 1) or numeric
n_control | int | units with a value in the control arm
n_treatment | int | units with a value in the treatment arm
mean_control | float | mean of the covariate in the control arm (share 0-1 for binary)
mean_treatment | float | the same in the treatment arm
smd | float | standardised mean difference (mean_treatment - mean_control) / sqrt((s_c^2 + s_t^2) / 2), sample variances, p(1 - p) for binary (Austin 2009)
statistic | float | Welch t (numeric) or pooled two-proportion z (binary); null when not tested
p_value | float | two-sided p-value of the test; null when the covariate is constant in both arms
p_value_adjusted | float | Holm step-down adjustment of p_value over all covariates and arms
method | string | test used (Welch t test, pooled two-proportion z test) or why none
large_smd | bool | abs(smd) > smd_threshold (reported, does not set imbalanced)
imbalanced | bool | p_value_adjusted < alpha: the arms differ before launch beyond chance (the rule of the report's flag)
alpha | float | significance level (the notebook's alpha)
smd_threshold | float | SMD threshold of large_smd (0.1)
""")),
    TableSpec("pilot_survival", "pilot", "pilot_survival",
              "Per time-to-event metric and treatment arm: log-rank test, restricted mean "
              "survival time and Cox hazard ratio; written only with time-to-event metrics "
              "(cjmlib.pilots.breakdowns.survival_analysis).", columns("""
metric | string | time-to-event metric
control | string | control arm
treatment | string | treatment arm
events_control | float | completed events in the control arm
events_treatment | float | completed events in the treatment arm
logrank_statistic | float | log-rank chi-square statistic, 1 df
logrank_p_value | float | p-value of the log-rank test
rmst_tau | float | RMST horizon in the duration's units: the metric's tau, capped at the smallest of the arms' largest times (no extrapolation of a Kaplan-Meier curve); without a tau, that smallest largest time
rmst_control | float | restricted mean survival time to rmst_tau, control arm, duration units
rmst_treatment | float | restricted mean survival time to rmst_tau, treatment arm
rmst_difference | float | rmst_treatment - rmst_control
rmst_ci_low | float | lower bound of the interval of rmst_difference at 1 - alpha (Greenwood-type variance, z)
rmst_ci_high | float | upper bound of the interval of rmst_difference at 1 - alpha
rmst_p_value | float | z-test of rmst_difference = 0
hazard_ratio | float | Cox proportional-hazards ratio, treatment vs control (above 1: treatment completes faster)
hazard_ratio_ci_low | float | lower bound of the interval of hazard_ratio at 1 - alpha
hazard_ratio_ci_high | float | upper bound of the interval of hazard_ratio at 1 - alpha
cox_p_value | float | Wald p-value of the Cox coefficient
cox_method | string | unit-level fit (Efron ties) or counts as frequency weights
""")),
    TableSpec("pilot_segments", "pilot", "pilot_segments",
              "Effects per segment (plan segments, segment_cols or text columns) for the "
              "primary and guardrail metrics, with a heterogeneity test; segments with fewer "
              "than 20 units in an arm are left out; written only with segment columns "
              "(cjmlib.pilots.breakdowns.segment_breakdown).", columns("""
segment_col | string | segment column of the units table
segment | string | segment value
""") + _EFFECT + columns("""
p_value_adjusted | float | Benjamini-Hochberg adjustment of p_value over the segments of one metric and arm
method | string | estimator, test and interval used
""") + _RESULTS_EXTRA + columns("""
q_statistic | float | Cochran's Q of the segments' effects (inverse-variance weights)
q_df | float | degrees of freedom of Q: segments - 1
heterogeneity_p_value | float | chi-square p-value of Q: do the effects differ between segments
note | string | segments left out (fewer than 20 units in an arm); empty otherwise
""")),
    TableSpec("did_results", "pilot", "pilot_did_results",
              "Non-randomised (store) pilot: three difference-in-differences estimates per "
              "outcome of the panel; the default row is the one to read "
              "(cjmlib.pilots.quasi_experiments.difference_in_differences).", columns("""
metric | string | outcome column of the panel
estimate | float | effect of the pilot on the outcome, outcome units per unit and period
se | float | standard error of estimate (permutation: sd of the permutation distribution of the estimate; synthetic control: sd of the placebo sets' studentized gaps times the pilot's cross-validated pre-launch RMSPE; null when the fit is degenerate)
ci_low | float | lower bound of the interval of estimate at 1 - alpha
ci_high | float | upper bound of the interval of estimate at 1 - alpha
p_value | float | two-sided p-value of estimate = 0 (permutation: studentized randomisation test, reject when p <= alpha; synthetic control: placebo sets of the pilot's size; null when the synthetic fit is degenerate)
inference | string | cluster-robust (CR1), permutation or synthetic control
n_treated_units | int | pilot units
n_control_units | int | comparison units
pre_trend_p_value | float | test of parallel pre-launch trends: permutation test of the units' linear pre-launch trend t statistics; in the CR1 row the cluster-robust joint test of the event-study leads (Hotelling-scaled) instead when both sides have at least 20 units; null for synthetic control
default | bool | the row to read: permutation with few (at most 5) treated units, else cluster-robust
df | float | degrees of freedom of the t reference (clusters - 1); null for the other rows
min_p_value | float | smallest p-value the design can give (1 / assignments or 1 / (1 + placebo sets)); above alpha the row cannot declare an effect and its interval is unbounded; null for CR1
power_observed | float | power to detect an effect of the estimate's size at alpha (placebo assignments with that effect added; noncentral t for CR1); a function of the p-value, shown to flag designs that could not have detected this size
method | string | estimator, inference and pre-trend test used
note | string | caveat (unreliable with few treated units; smallest attainable p above alpha; pre-launch RMSPE of the synthetic control, or why it is not tested)
alpha | float | significance level: the intervals of this table are at 1 - alpha (the notebook's alpha)
""")),
    TableSpec("did_event_study", "pilot", "pilot_did_event_study",
              "Event-study coefficients per outcome: the treated-minus-control difference in "
              "each period relative to the period before launch "
              "(cjmlib.pilots.quasi_experiments.event_study).", columns("""
event_time | int | periods since launch (0 = first period after launch; -1 = the reference period)
period | string | period label of the panel
estimate | float | treated-minus-control difference relative to the reference period, outcome units (0 at the reference)
se | float | CR1 cluster-robust standard error
ci_low | float | lower bound of the interval of estimate at 1 - alpha
ci_high | float | upper bound of the interval of estimate at 1 - alpha
metric | string | outcome column of the panel
""")),
)

FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("design_power_curve", "design",
               "Power of the primary metric against the control-arm size for half, the planned "
               "and 1.5 times the planned effect, with the target power and the planned size "
               "marked; no intervals."),
    FigureSpec("pilot_forest", "pilot",
               "Each metric's change against control as a point with its interval at 1 - alpha "
               "as a bar, coloured by the verdict."),
    FigureSpec("pilot_km_*", "pilot",
               "For one time-to-event metric (the star: its name), the share of units not yet "
               "completed over time per arm (Kaplan-Meier steps); no intervals."),
    FigureSpec("pilot_segments_*", "pilot",
               "For one segment column (the star: its name), each segment's effect as a point "
               "with its interval at 1 - alpha, one panel per metric, titled with the "
               "heterogeneity p-value."),
    FigureSpec("pilot_did_event_study_*", "pilot",
               "For one panel outcome (the star: its name), the treated-minus-control "
               "difference per period around launch with its band at 1 - alpha and the "
               "pre-trend p-values."),
    FigureSpec("pilot_did_synthetic_control_*", "pilot",
               "For one panel outcome (the star: its name), the pilot units' average against "
               "its synthetic control, and the gap between them; no intervals."),
)
