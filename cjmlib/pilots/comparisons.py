"""Comparison of every treatment arm with control, metric by metric: one result row per
metric and treatment arm, each naming its method (:func:`evaluate_metrics`, used by
:func:`cjmlib.pilots.evaluation.evaluate_pilot` and
:func:`cjmlib.pilots.breakdowns.segment_breakdown`). Multiplicity adjustment and verdicts
are added in :mod:`cjmlib.pilots.evaluation`.

Moments (counts, sums, sums of squares and cross-products) are computed inside the engine
(Ibis, DuckDB by default) and only those aggregates come back; methods that need more pull
only what they need: value counts for rank tests (Mann-Whitney, Brunner-Munzel), counts per
(time, event) for Kaplan-Meier / log-rank / RMST, raw values only for the bootstrap.

Methods (each result's ``method`` column says which one was used):

* proportion -- difference of proportions with the unpooled Wald z interval and test
  (statsmodels ``confint_proportions_2indep(method="wald")``); small counts (an expected
  cell below 5) switch to Fisher's exact test with the Newcombe hybrid-score interval; an
  arm at 0% or 100% (where the Wald interval has no width) to the Miettinen-Nurminen score
  test (statsmodels ``test_proportions_2indep(method="score")``) with the Newcombe
  interval; Barnard's exact test on request, up to :data:`BARNARD_MAX_N` units per arm.
* mean -- Welch t with Welch-Satterthwaite degrees of freedom; Mann-Whitney U,
  Brunner-Munzel (Brunner & Munzel 2000) or a studentized (bootstrap-t) test on request
  (at least BOOTSTRAP_MIN_N units per arm).
* ratio -- ratio of sums (e.g. support contacts per session) by the delta method
  (Deng, Knoblich & Lu 2018), Welch-type t interval.
* ordinal (CSAT 1-5) -- top-2-box proportion (default), Brunner-Munzel or Mann-Whitney on
  the ranks (effect = P(T > C) + 0.5 P(T = C) - 0.5), or the mean (Welch).
* nps -- respondents coded promoter +1 / passive 0 / detractor -1; NPS = mean code, its
  variance (p_pro + p_det - NPS^2) / n; Welch-type t interval on the difference; reported
  on the -100..100 scale.
* time_to_event -- Kaplan-Meier, restricted mean survival time (RMST) difference to
  ``tau`` with the Greenwood-type variance (Klein & Moeschberger 2003, sec. 4.5; as in
  survRM2, Uno et al. 2014), z test; log-rank test and Cox hazard ratio in
  :func:`cjmlib.pilots.breakdowns.survival_analysis`.
* CUPED (Deng, Xu, Kohavi & Walker 2013) for proportion, mean, ordinal and ratio metrics:
  ``theta`` from the pooled sample, ratio covariates by the delta method as in tea-tasting.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cjmlib.pilots.aggregates import (
    Aggregates,
    arm_keys,
    moment_aggregates,
    survival_counts,
    top_box,
    value_counts,
)
from cjmlib.pilots.estimators import (
    interval,
    nps_test,
    proportion_test,
    rank_test_from_counts,
    ratio_of_means_test,
    rmst_from_counts,
    rmst_horizon,
)
from cjmlib.pilots.metrics import MetricSpec
from cjmlib.pilots.units import UnitsData
from cjmlib.stats.intervals import newcombe_interval

#: Largest arm (units) given Barnard's exact test. It enumerates every table of the two
#: binomials at each nuisance value: 0.03 s at 100 units per arm, 0.2 s at 500, 3.6 s at
#: 1,000 and about a minute at 5,000 (scipy 1.17, one shared core), for each metric and
#: arm. Above it the asymptotic Miettinen-Nurminen (1985) score test is run, or Fisher's
#: exact test when an expected cell is below 5; the method column says which.
BARNARD_MAX_N = 500


def evaluate_metrics(data: UnitsData, specs: Sequence[MetricSpec], *, arms: Sequence[str],
                     control: str, alpha: float, variant_col: str, n_resamples: int = 9999,
                     seed: int = 0, moments: Mapping[str, Mapping[tuple, Aggregates]] | None
                     = None) -> list[dict[str, Any]]:
    """One result row per metric and treatment arm. ``moments`` (per metric name, as
    :func:`moment_aggregates` by ``[variant_col]`` returns them) saves their query when
    already computed with other aggregates of the same scan."""
    treatments = [a for a in arms if a != control]
    moment_specs = [s for s in specs if uses_moments(s)]
    if moments is None:
        moments = (moment_aggregates(data, moment_specs, [variant_col]) if moment_specs
                   else {})
    rows: list[dict[str, Any]] = []
    for spec in specs:
        if uses_moments(spec):
            per = moments[spec.name]
            results = [_moment_result(spec, per, control, arm, alpha, data.name)
                       for arm in treatments]
        elif spec.kind == "time_to_event":
            results = _survival_rows(data, spec, control, treatments, alpha, variant_col)
        elif spec.method in ("brunner_munzel", "mann_whitney"):
            results = _rank_rows(data, spec, control, treatments, alpha, variant_col)
        elif spec.method == "bootstrap":
            results = _bootstrap_rows(data, spec, control, treatments, alpha, variant_col,
                                      n_resamples, seed)
        else:  # pragma: no cover - METHODS is exhaustive
            raise AssertionError(spec)
        for arm, res in zip(treatments, results, strict=True):
            rows.append(_row(spec, control, arm, res, alpha))
    return rows


def uses_moments(spec: MetricSpec) -> bool:
    return (spec.kind in ("proportion", "ratio", "nps")
            or (spec.kind == "mean" and spec.method == "welch")
            or (spec.kind == "ordinal" and spec.method in ("top2box", "mean")))


def _need_two(spec: MetricSpec, arm: str, n: float, name: str, col: str) -> None:
    if n < 2:
        raise ValueError(f"{name}: arm {arm!r} has {int(n)} unit(s) with a value of {col!r} "
                         f"(metric {spec.name!r}); at least 2 per arm are needed")


def _zero_variance(spec: MetricSpec, name: str, col: str, detail: str) -> ValueError:
    return ValueError(f"{name}: column {col!r} (metric {spec.name!r}) has no variation "
                      f"{detail}; a test needs values that vary within at least one arm")


def _one_value_per_arm(spec: MetricSpec, name: str, col: str, per_arm: Mapping[str, float],
                       *, what: str = "value") -> ValueError:
    """The error for a metric with no variation within either arm: one value in both arms,
    or one value per arm that differs between the arms (which is not "no difference")."""
    values = list(per_arm.values())
    if len(set(values)) == 1:
        return _zero_variance(spec, name, col, f"(every unit has the {what} {values[0]:g} "
                                               "in both arms)")
    shown = ", ".join(f"{v:g} in {a!r}" for a, v in per_arm.items())
    return ValueError(
        f"{name}: column {col!r} (metric {spec.name!r}) has one {what} per arm ({shown}): "
        "the arms differ, but with no variation within either arm there is no variance to "
        "test the difference against. A column constant within each arm is rarely an "
        "outcome: check that it is not a code of the arm")


def _moment_result(spec: MetricSpec, per: Mapping[tuple, Aggregates], control: str, arm: str,
                   alpha: float, name: str) -> dict[str, Any]:
    col = spec.column or spec.numerator
    empty = Aggregates(np.asarray(0.0), {}, {})
    a_c, a_t = per.get((control,), empty), per.get((arm,), empty)
    for a, label in ((a_c, control), (a_t, arm)):
        _need_two(spec, label, float(a.n), name, col)
    if spec.kind == "nps":
        # counts of detractors/passives/promoters from n, sum(code), sum(code^2)
        def counts(a: Aggregates) -> np.ndarray:
            n, s, ss = float(a.n), float(a.sums["y"]), float(a.cross[("y", "y")])
            pro, det = (ss + s) / 2, (ss - s) / 2
            return np.array([det, n - pro - det, pro])
        res = nps_test(counts(a_c), counts(a_t), alpha=alpha)
        if not res["se"] > 0:
            raise _one_value_per_arm(spec, name, col, {control: float(res["control_value"]),
                                                       arm: float(res["treatment_value"])},
                                     what="NPS")
        res["method"] = ("NPS (promoter +1 / passive 0 / detractor -1), variance "
                         "(p_pro + p_det - NPS^2)/n, Welch-type t interval; -100..100 scale")
        res["n_control"], res["n_treatment"] = float(a_c.n), float(a_t.n)
        return res
    if spec.kind == "proportion" and spec.covariate is None:
        x_c, x_t = float(a_c.sums["y"]), float(a_t.sums["y"])
        n_c, n_t = float(a_c.n), float(a_t.n)
        return _proportion_result(spec, x_c, n_c, x_t, n_t, alpha, name, col)
    if spec.kind == "ordinal" and spec.method == "top2box" and spec.covariate is None:
        x_c, x_t = float(a_c.sums["y"]), float(a_t.sums["y"])
        res = _proportion_result(spec, x_c, float(a_c.n), x_t, float(a_t.n), alpha, name, col)
        res["method"] = f"top-2-box share (>= {top_box(spec):g}), " + res["method"]
        return res
    den = "x" if spec.kind == "ratio" else None
    cov = "cy" if spec.covariate else None
    cov_den = "cx" if spec.covariate_denominator else None
    if spec.kind == "ratio":
        for a, label in ((a_c, control), (a_t, arm)):
            if not float(a.sums["x"]) > 0:
                raise ValueError(f"{name}: column {spec.denominator!r} (denominator of "
                                 f"{spec.name!r}) sums to 0 in arm {label!r}; a ratio needs "
                                 "a positive denominator")
    if cov is not None:
        total = a_c + a_t
        if not float(total.ratio_var("cy", cov_den)) > 0:
            raise ValueError(f"{name}: column {spec.covariate!r} (CUPED covariate of "
                             f"{spec.name!r}) has no variation; no usable pre-period data "
                             "for CUPED: drop 'covariate'")
    res = ratio_of_means_test(a_c, a_t, numerator="y", denominator=den, covariate=cov,
                              covariate_denominator=cov_den, alpha=alpha)
    if not float(res["se"]) > 0:
        if cov is not None and float(a_c.ratio_var("y", den) + a_t.ratio_var("y", den)) > 0:
            raise _zero_variance(spec, name, col, f"left after the CUPED adjustment (covariate "
                                                  f"{spec.covariate!r} predicts it exactly)")
        raw = ratio_of_means_test(a_c, a_t, numerator="y", denominator=den, alpha=alpha)
        raise _one_value_per_arm(spec, name, col, {control: float(raw["control_value"]),
                                                   arm: float(raw["treatment_value"])})
    if spec.kind == "ratio":
        method = (f"ratio of sums {spec.numerator}/{spec.denominator}, delta method "
                  "(Deng et al. 2018), Welch-type t")
    elif spec.kind == "ordinal" and spec.method == "top2box":
        method = f"top-2-box share (>= {top_box(spec):g}), Welch t"
    else:
        method = "Welch t (Welch-Satterthwaite df)"
    if cov is not None:
        label = spec.covariate + (f"/{spec.covariate_denominator}" if cov_den else "")
        method = (f"CUPED (Deng et al. 2013; covariate {label}, theta = "
                  f"{float(res['theta']):.4g}) + " + method)
        if spec.kind == "ordinal" and spec.method == "top2box":
            method = method.replace("Welch t", "Welch t on the top-box indicator")
    res["method"] = method
    res["n_control"], res["n_treatment"] = float(a_c.n), float(a_t.n)
    return res


def _proportion_result(spec: MetricSpec, x_c: float, n_c: float, x_t: float, n_t: float,
                       alpha: float, name: str, col: str) -> dict[str, Any]:
    if (x_c + x_t) in (0, n_c + n_t):
        raise _zero_variance(spec, name, col, f"(every value is {int(x_c > 0)} in both arms)")
    pooled = (x_c + x_t) / (n_c + n_t)
    expected_min = min(n_c, n_t) * min(pooled, 1 - pooled)
    method = "z" if spec.method in ("z", "top2box") else spec.method
    why = ""
    if method == "barnard" and max(n_c, n_t) > BARNARD_MAX_N:
        method = "score"
        why = (f" (Barnard's exact test is run up to {BARNARD_MAX_N} units per arm; "
               f"{int(max(n_c, n_t))} here)")
    if method in ("z", "score") and expected_min < 5:
        method, why = "fisher", why + " (small counts: expected cell < 5)"
    elif method == "z" and (x_c in (0, n_c) or x_t in (0, n_t)):
        # an arm at 0% or 100% has Wald variance 0: the interval collapses, p becomes 0
        method, why = "score", " (an arm at 0% or 100%, where the Wald interval has no width)"
    res = proportion_test(x_c, n_c, x_t, n_t, alpha=alpha)
    if method == "z":
        res["method"] = "difference of proportions, unpooled Wald z test and interval"
    else:
        # imported here: the Wald z test of large pilots needs neither (half a second)
        from scipy import stats
        from statsmodels.stats.proportion import test_proportions_2indep

        table = [[int(x_t), int(n_t - x_t)], [int(x_c), int(n_c - x_c)]]
        if method == "barnard":
            p, label = stats.barnard_exact(table).pvalue, "Barnard exact test"
        elif method == "fisher":
            p, label = stats.fisher_exact(table).pvalue, "Fisher exact test"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # 0% or 100% in an arm
                score = test_proportions_2indep(x_t, n_t, x_c, n_c, method="score",
                                                compare="diff")
            p, label = score.pvalue, "Miettinen-Nurminen score test"
            statistic = float(score.statistic)
            res["statistic"] = np.asarray(statistic)
            if statistic != 0:  # the se the score statistic implies (effect / statistic)
                res["se"] = np.asarray(float(res["effect"]) / statistic)
        lo, hi = newcombe_interval(x_t, n_t, x_c, n_c, alpha=alpha)
        res.update(p_value=np.asarray(p), ci_low=np.asarray(lo), ci_high=np.asarray(hi),
                   df=np.asarray(np.inf))
        res["method"] = (f"difference of proportions, {label}{why}, Newcombe hybrid score "
                         "interval")
    res["n_control"], res["n_treatment"] = n_c, n_t
    return res


def _rank_rows(data: UnitsData, spec: MetricSpec, control: str, treatments: Sequence[str],
               alpha: float, variant_col: str) -> list[dict[str, Any]]:
    col = spec.column
    counts = value_counts(data, [col], [variant_col])
    levels = np.sort(counts[col].astype(float).unique())
    table = (counts.assign(_arm=arm_keys(counts, variant_col), _lvl=counts[col].astype(float))
             .pivot_table(index="_arm", columns="_lvl", values="count", aggfunc="sum",
                          fill_value=0).reindex(columns=levels, fill_value=0))
    out = []
    for arm in treatments:
        c = table.loc[control].to_numpy(float) if control in table.index else np.zeros(0)
        t = table.loc[arm].to_numpy(float) if arm in table.index else np.zeros(0)
        _need_two(spec, control, c.sum(), data.name, col)
        _need_two(spec, arm, t.sum(), data.name, col)
        if (c > 0).sum() == 1 and (t > 0).sum() == 1:
            raise _one_value_per_arm(spec, data.name, col, {control: levels[c > 0][0],
                                                            arm: levels[t > 0][0]})
        res = rank_test_from_counts(c, t, method=spec.method, alpha=alpha)
        what = ("Brunner-Munzel test" if spec.method == "brunner_munzel" else
                "Mann-Whitney U test (asymptotic, tie-corrected, continuity correction)")
        res["method"] = (f"{what}; effect P(T>C)+0.5P(T=C)-0.5 with Brunner-Munzel interval")
        out.append(res)
    return out


def _survival_rows(data: UnitsData, spec: MetricSpec, control: str, treatments: Sequence[str],
                   alpha: float, variant_col: str) -> list[dict[str, Any]]:
    times, per = survival_counts(data, spec, variant_col)
    for arm in (control, *treatments):
        n = per[arm][0].sum() + per[arm][1].sum() if arm in per else 0
        _need_two(spec, arm, n, data.name, spec.duration)
        if arm in per and per[arm][0].sum() == 0:
            raise ValueError(f"{data.name}: column {spec.event!r} (metric {spec.name!r}) has "
                             f"no completed events in arm {arm!r}; Kaplan-Meier needs events")
    tau, capped = rmst_horizon(times, per, [control, *treatments], tau=spec.tau)
    out = []
    for arm in treatments:
        r_c, v_c = rmst_from_counts(times, *per[control], tau=tau)
        r_t, v_t = rmst_from_counts(times, *per[arm], tau=tau)
        if not v_c + v_t > 0:
            raise _zero_variance(spec, data.name, spec.duration, "(no spread in the times)")
        res = interval(r_t - r_c, np.sqrt(v_c + v_t), np.inf, alpha)
        res.update(control_value=r_c, treatment_value=r_t,
                   n_control=per[control][0].sum() + per[control][1].sum(),
                   n_treatment=per[arm][0].sum() + per[arm][1].sum(), tau=tau,
                   var_c=v_c, var_t=v_t)
        horizon = f"tau = {tau:g}" + (f" ({capped})" if capped else "")
        res["method"] = (f"RMST to {horizon} (Kaplan-Meier), difference with Greenwood-type "
                         "variance, z test")
        out.append(res)
    return out


#: Fewest units per arm the bootstrap is run on (below, it is refused with a clear error):
#: with a handful of units the resamples take too few distinct values (at 2 per arm the
#: percentile bootstrap gave p = 0 and "better").
BOOTSTRAP_MIN_N = 20


def bootstrap_t(x_t: np.ndarray, x_c: np.ndarray, *, n_resamples: int, alpha: float,
                rng: np.random.Generator, batch: int = 250) -> dict[str, Any]:
    """Studentized (bootstrap-t) test and interval of ``mean(x_t) - mean(x_c)``.

    Each arm is resampled on its own; each replicate's ``t* = (d* - d) / se*`` uses the
    Welch standard error of the replicate (Efron & Tibshirani 1993, ch. 12 and 16; Hall
    1992). Symmetric: ``p = (1 + #{|t*| >= |d / se|}) / (B + 1)`` and the interval
    ``d +- q se`` with ``q`` the ``1 - alpha`` quantile of ``|t*|``, so test and interval
    agree. Simulated A/A false-positive rate with lognormal (sigma 1.2) outcomes: 2.0% at 30
    and 3.2% at 200 units per arm (1,000 runs, MC SE 0.7%; the percentile bootstrap it
    replaces gave 9.5% at 200): conservative for strongly skewed outcomes, not liberal.
    """
    n_t, n_c = len(x_t), len(x_c)
    d = float(x_t.mean() - x_c.mean())
    se = float(np.sqrt(x_t.var(ddof=1) / n_t + x_c.var(ddof=1) / n_c))
    stats_: list[np.ndarray] = []
    done = 0
    while done < n_resamples:
        b = min(batch, n_resamples - done)
        xt = x_t[rng.integers(0, n_t, (b, n_t))]
        xc = x_c[rng.integers(0, n_c, (b, n_c))]
        d_star = xt.mean(1) - xc.mean(1)
        se_star = np.sqrt(xt.var(1, ddof=1) / n_t + xc.var(1, ddof=1) / n_c)
        with np.errstate(divide="ignore", invalid="ignore"):
            stats_.append(np.where(se_star > 0, np.abs(d_star - d) / se_star, np.inf))
        done += b
    t_abs = np.concatenate(stats_)
    t_obs = abs(d) / se if se > 0 else np.inf
    p = float((1 + np.sum(t_abs >= t_obs)) / (t_abs.size + 1))
    q = float(np.quantile(t_abs, 1 - alpha))
    return {"effect": d, "se": se, "statistic": d / se if se > 0 else np.nan, "p_value": p,
            "ci_low": d - q * se, "ci_high": d + q * se}


def _bootstrap_rows(data: UnitsData, spec: MetricSpec, control: str, treatments: Sequence[str],
                    alpha: float, variant_col: str, n_resamples: int, seed: int
                    ) -> list[dict[str, Any]]:

    t = data.table
    col = spec.column
    values = data.execute(t.filter(t[col].notnull()).select(variant_col, col))
    arm_of = arm_keys(values, variant_col)
    x_c = values.loc[arm_of == control, col].to_numpy(float)
    out = []
    for k, arm in enumerate(treatments):
        x_t = values.loc[arm_of == arm, col].to_numpy(float)
        _need_two(spec, control, len(x_c), data.name, col)
        _need_two(spec, arm, len(x_t), data.name, col)
        if np.ptp(x_c) == 0 and np.ptp(x_t) == 0:
            raise _one_value_per_arm(spec, data.name, col, {control: x_c[0], arm: x_t[0]})

        if min(len(x_c), len(x_t)) < BOOTSTRAP_MIN_N:
            raise ValueError(
                f"{data.name}: column {col!r} (metric {spec.name!r}): a bootstrap needs at "
                f"least {BOOTSTRAP_MIN_N} units per arm ({len(x_c)} in {control!r}, "
                f"{len(x_t)} in {arm!r}); with fewer it resamples too few distinct values to "
                "stand for the population. Use the default Welch t (method: welch) or a "
                "rank test")
        res = bootstrap_t(x_t, x_c, n_resamples=n_resamples, alpha=alpha,
                          rng=np.random.default_rng(seed + k))
        res.update(control_value=x_c.mean(), treatment_value=x_t.mean(), df=np.inf,
                   n_control=len(x_c), n_treatment=len(x_t),
                   method=(f"difference of means, studentized (bootstrap-t) test and interval, "
                           f"symmetric ({n_resamples} resamples, seed {seed + k})"))
        out.append(res)
    return out


def _row(spec: MetricSpec, control: str, arm: str, res: Mapping[str, Any],
         alpha: float) -> dict[str, Any]:
    def f(key: str) -> float:
        return float(np.asarray(res[key]))

    effect, cv, tv, se = f("effect"), f("control_value"), f("treatment_value"), f("se")
    rank = spec.method in ("brunner_munzel", "mann_whitney")
    # relative change of an NPS (a difference of shares) or of a rank effect means nothing
    rel = effect / cv if cv != 0 and not rank and spec.kind != "nps" else math.nan
    var_c = float(np.asarray(res.get("var_c", np.nan)))
    var_t = float(np.asarray(res.get("var_t", np.nan)))
    rel_lo = rel_hi = math.nan
    method = res["method"]
    if np.isfinite(rel) and np.isfinite(var_c) and np.isfinite(var_t):
        rel_lo, rel_hi, why_not = _relative_interval(
            cv, tv, var_c, var_t, df=f("df"), n_c=f("n_control"), n_t=f("n_treatment"),
            alpha=alpha, control=control, arm=arm)
        if why_not:
            method += "; " + why_not
    covariate = (spec.covariate + (f"/{spec.covariate_denominator}"
                                   if spec.covariate_denominator else "")
                 if spec.covariate else None)
    return {
        "metric": spec.name, "kind": spec.kind, "control": control, "treatment": arm,
        "n_control": int(f("n_control")), "n_treatment": int(f("n_treatment")),
        "control_value": cv, "treatment_value": tv, "effect": effect, "rel_effect": rel,
        "ci_low": f("ci_low"), "ci_high": f("ci_high"), "p_value": f("p_value"),
        "p_value_adjusted": math.nan, "method": method, "srm_p_value": math.nan,
        "decision": "", "role": spec.role, "better": spec.better, "se": se,
        "statistic": f("statistic"), "df": f("df"), "alpha": alpha,
        "rel_ci_low": rel_lo, "rel_ci_high": rel_hi, "p_value_bh": math.nan,
        "significant": False, "covariate": covariate,
        "variance_reduction": float(np.asarray(res.get("variance_reduction", 0.0))),
        "min_effect": spec.min_effect, "margin": spec.margin, "trustworthy": True,
        "reason": "",
    }


def _relative_interval(cv: float, tv: float, var_c: float, var_t: float, *, df: float,
                       n_c: float, n_t: float, alpha: float, control: str, arm: str
                       ) -> tuple[float, float, str]:
    """Interval of treatment/control - 1 on the log scale (delta method, as tea-tasting),
    or NaN and the reason it is not given.

    ``var_c`` and ``var_t`` are the variances of the arm values. The log ratio needs both
    values on the same side of 0 and clearly away from it (beyond the critical value times
    their standard error): near 0 the delta method's interval is meaningless (a control mean
    of 1e-3 gave [-1, 3e39]), and a ratio whose control is not clearly away from 0 has no
    bounded interval at all (Fieller 1954).
    """
    from scipy import special  # stdtrit / ndtri are scipy.stats' t.ppf / norm.ppf

    if not cv * tv > 0:
        return math.nan, math.nan, (
            f"no relative interval: the values {cv:.3g} ({control!r}) and {tv:.3g} ({arm!r}) "
            "are not both on the same side of 0, so they have no log ratio")
    a, b = var_c / cv ** 2, var_t / tv ** 2
    if np.isfinite(df) and a + b > 0:
        df = (a + b) ** 2 / (a * a / (n_c - 1) + b * b / (n_t - 1))
    q = float(special.stdtrit(df, 1 - alpha / 2) if np.isfinite(df)
              else special.ndtri(1 - alpha / 2))
    for label, value, var in ((control, cv, var_c), (arm, tv, var_t)):
        if not abs(value) > q * math.sqrt(var):
            return math.nan, math.nan, (
                f"no relative interval: the value of arm {label!r} ({value:.3g}) lies within "
                f"{q:.3g} standard errors of 0; the log-ratio interval needs both values "
                "clearly away from 0" + (" (with the control there, a ratio has no bounded "
                                         "interval at all: Fieller 1954)"
                                         if label == control else ""))
    log_se = math.sqrt(a + b)
    ratio = tv / cv
    return ratio * math.exp(-q * log_se) - 1, ratio * math.exp(q * log_se) - 1, ""
