"""Estimators of pilot effects on aggregates, vectorised over leading batch dimensions (many
simulated experiments at once).

Tests with their intervals: difference of proportions (:func:`proportion_test`), Welch-type
test of a mean or a ratio of means with optional CUPED (:func:`ratio_of_means_test`), its
small-sample cluster-level version for cluster-randomised pilots (CR2 variance with
Bell-McCaffrey degrees of freedom, :func:`cluster_ratio_test`), NPS
(:func:`nps_test`), rank tests from level counts (:func:`rank_test_from_counts`), and for time
to event Kaplan-Meier, RMST and log-rank from counts per time. Then the Bayesian views
(:func:`beta_binomial_view`, :func:`normal_view`) and the always-valid confidence sequence
(:func:`confidence_sequence_radius`). Which estimator a metric gets is decided in
:mod:`cjmlib.pilots.comparisons`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cjmlib.pilots.aggregates import Aggregates


# --------------------------------------------------------------------------------------
# Estimators on aggregates (vectorised over leading batch dimensions)
# --------------------------------------------------------------------------------------
def interval(effect: Any, se: Any, df: Any, alpha: float) -> dict[str, Any]:
    """Two-sided test of 0 and the (1 - alpha) interval; t with ``df`` or normal (df=inf).

    The t and normal quantiles and tail areas are scipy's special functions ``stdtrit``,
    ``stdtr``, ``ndtri`` and ``ndtr``: exactly what ``scipy.stats.t.ppf`` / ``.sf`` and
    ``scipy.stats.norm.ppf`` / ``.sf`` return, without importing ``scipy.stats`` (half a
    second, paid on the first evaluation of a session).
    """
    from scipy import special

    effect, se, df = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in
                                           (effect, se, df)))
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = effect / se
    finite = np.isfinite(df)
    t_df = np.where(finite, df, 1.0)
    q = np.where(finite, special.stdtrit(t_df, 1 - alpha / 2), special.ndtri(1 - alpha / 2))
    p = np.where(finite, 2 * special.stdtr(t_df, -np.abs(statistic)),
                 2 * special.ndtr(-np.abs(statistic)))
    return {"effect": effect, "se": se, "df": df, "statistic": statistic, "p_value": p,
            "ci_low": effect - q * se, "ci_high": effect + q * se}


def _welch_df(v_c: Any, n_c: Any, v_t: Any, n_t: Any) -> np.ndarray:
    a, b = v_c / n_c, v_t / n_t
    with np.errstate(divide="ignore", invalid="ignore"):
        return (a + b) ** 2 / (a * a / (n_c - 1) + b * b / (n_t - 1))


def proportion_test(x_c: Any, n_c: Any, x_t: Any, n_t: Any, *, alpha: float = 0.05
                    ) -> dict[str, np.ndarray]:
    """Difference of proportions (treatment - control), unpooled Wald z test and interval.

    Same as statsmodels ``test_proportions_2indep`` / ``confint_proportions_2indep`` with
    ``method="wald"``. Returns a dict of arrays: control_value, treatment_value, effect, se,
    df (inf: normal), statistic, p_value, ci_low, ci_high.
    """
    x_c, n_c, x_t, n_t = (np.asarray(v, dtype=float) for v in (x_c, n_c, x_t, n_t))
    p_c, p_t = x_c / n_c, x_t / n_t
    se = np.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    out = interval(p_t - p_c, se, np.inf, alpha)
    out.update(control_value=p_c, treatment_value=p_t, var_c=p_c * (1 - p_c) / n_c,
               var_t=p_t * (1 - p_t) / n_t)
    return out


def ratio_of_means_test(
    control: Aggregates,
    treatment: Aggregates,
    *,
    numerator: str = "y",
    denominator: str | None = None,
    covariate: str | None = None,
    covariate_denominator: str | None = None,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Welch-type t test of a mean or a ratio of means, with optional CUPED.

    With ``denominator=None`` this is Welch's t test of the means (scipy
    ``ttest_ind(equal_var=False)``). With a denominator the per-arm value is the ratio of
    sums and its variance comes from the delta method (Deng, Knoblich & Lu 2018). With a
    covariate (CUPED, Deng et al. 2013) the value is adjusted by
    ``theta * (covariate - pooled covariate mean)``, ``theta`` = pooled covariance /
    pooled covariate variance (both by the delta method for ratios), the formulas of
    tea-tasting's ``RatioOfMeans``. Degrees of freedom: Welch-Satterthwaite.
    """
    total = control + treatment
    if covariate is not None:
        cvar = total.ratio_var(covariate, covariate_denominator)
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.where(cvar > 0, total.ratio_cov(
                numerator, denominator, covariate, covariate_denominator) / cvar, 0.0)
        cmean = total.mean(covariate) / total.mean(covariate_denominator)
    else:
        theta = np.zeros(np.shape(control.n))

    def arm(a: Aggregates) -> tuple[Any, Any, Any]:
        value = a.mean(numerator) / a.mean(denominator)
        var = a.ratio_var(numerator, denominator)
        raw_var = var
        if covariate is not None:
            cval = a.mean(covariate) / a.mean(covariate_denominator)
            value = value - theta * (cval - cmean)
            var = (var + theta * theta * a.ratio_var(covariate, covariate_denominator)
                   - 2 * theta * a.ratio_cov(numerator, denominator, covariate,
                                             covariate_denominator))
        return value, var, raw_var

    m_c, v_c, raw_c = arm(control)
    m_t, v_t, raw_t = arm(treatment)
    se = np.sqrt(v_c / control.n + v_t / treatment.n)
    out = interval(m_t - m_c, se, _welch_df(v_c, control.n, v_t, treatment.n), alpha)
    raw_se2 = raw_c / control.n + raw_t / treatment.n
    with np.errstate(divide="ignore", invalid="ignore"):
        reduction = 1 - se * se / raw_se2
    out.update(control_value=np.asarray(m_c, dtype=float),
               treatment_value=np.asarray(m_t, dtype=float), theta=theta,
               variance_reduction=reduction if covariate is not None else np.zeros_like(se),
               var_c=v_c / control.n, var_t=v_t / treatment.n)
    return out


def cr2_arm(totals: Any, sizes: Any, *, icc: Any = 0.0, units: Any = None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One arm of a cluster-randomised pilot: ratio of cluster sums, its CR2 variance and
    degrees of freedom (last axis: clusters).

    The arm's value ``R = sum(Y_c) / sum(N_c)`` is the weighted least squares mean of the
    cluster means ``Y_c / N_c`` with weights ``N_c``, so cluster ``c`` has leverage
    ``h_c = N_c / sum(N_c)`` and residual ``e_c = Y_c - R N_c``. The bias-reduced
    linearisation (CR2; Bell & McCaffrey 2002, Pustejovsky & Tipton 2018 with a working
    model ``Phi`` of the cluster totals) scales each squared residual so that it is unbiased
    for ``Var(Y_c)`` under the working model: ``Var(e_c) = phi_c (1 - 2 h_c) + h_c^2 sum(phi)``
    and ``var = sum(phi_c e_c^2 / Var(e_c)) / sum(N_c)^2``. The working model is the
    random-intercept one, ``phi_c = N_c (1 + (m_c - 1) icc)`` with ``m_c`` the cluster's
    ``units`` (default ``N_c``) and ``icc`` the intra-cluster correlation (see
    :func:`anova_icc`); ``icc = 0`` gives ``phi_c = N_c``, the inverse of the regression
    weights, and ``var = sum(e_c^2 / (1 - h_c)) / sum(N_c)^2`` (statsmodels' HC2 of the
    weighted regression of cluster means). With a real cluster effect, ``phi_c = N_c``
    under-states the variance of large clusters and the variance is biased down.

    The degrees of freedom are Bell and McCaffrey's Satterthwaite ``nu = 2 E[v]^2 / Var[v]``
    of the independence working model (``icc = 0``), in closed form
    ``1 / (sum h^2 + (sum w)^2 - sum w^2)`` with ``w_c = h_c^2 / (1 - h_c)``: ``G - 1`` for
    equal sizes, 1 for two clusters, fewer than ``G - 1`` when a few large clusters carry the
    arm. (The same formula under the random-intercept model gives fewer degrees of freedom
    still, and a test that rejects 3-4% of A/A pilots instead of 5%: the t reference ignores
    that the estimate and its variance are carried by the same large clusters;
    benchmarks/validity_clusters.py.) Returns (R, var, nu).
    """
    y = np.asarray(totals, dtype=float)
    n = np.asarray(sizes, dtype=float)
    m = n if units is None else np.asarray(units, dtype=float)
    rho = np.asarray(icc, dtype=float)[..., None] if np.ndim(icc) else float(icc)
    total = n.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = y.sum(-1) / total
        h = n / total[..., None]
        e = y - value[..., None] * n
        phi = n * (1 + (m - 1) * rho)
        var_e = phi * (1 - 2 * h) + h * h * phi.sum(-1)[..., None]
        var = (phi * e * e / var_e).sum(-1) / (total * total)
        w = h * h / (1 - h)
        sw = w.sum(-1)
        nu = 1 / ((h * h).sum(-1) + sw * sw - (w * w).sum(-1))
    return value, var, nu


def anova_icc(*arms: tuple[Any, Any, Any]) -> np.ndarray:
    """Intra-cluster correlation by one-way analysis of variance, pooled within arms.

    Each arm is (cluster totals ``Y_c``, units ``m_c``, within-cluster sum of squares
    ``W_c = sum_i (y_i - Y_c / m_c)^2``), clusters on the last axis. With ``G`` clusters in
    ``A`` arms and ``M`` units, ``MSW = sum W / (M - G)``, ``MSB = sum m_c (ybar_c -
    ybar_arm)^2 / (G - A)``, ``m0 = (M - sum_arms sum m_c^2 / M_arm) / (G - A)`` (the
    unbalanced-design coefficient; Donner 1986, Searle, Casella & McCulloch 1992 sec. 3.6);
    ``icc = s_b^2 / (s_b^2 + MSW)`` with ``s_b^2 = max(0, (MSB - MSW) / m0)``: in [0, 1).
    """
    ssb = ssw = big_m = m0 = 0.0
    g = 0
    for totals, units, within in arms:
        y, m = np.asarray(totals, dtype=float), np.asarray(units, dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            ssb = ssb + (y * y / m).sum(-1) - y.sum(-1) ** 2 / m.sum(-1)
            m0 = m0 - (m * m).sum(-1) / m.sum(-1)
        ssw = ssw + np.asarray(within, dtype=float).sum(-1)
        big_m = big_m + m.sum(-1)
        g += y.shape[-1]
    a = len(arms)
    with np.errstate(divide="ignore", invalid="ignore"):
        msw = ssw / (big_m - g)
        msb = ssb / (g - a)
        sb = np.maximum(0.0, (msb - msw) / ((big_m + m0) / (g - a)))
        icc = np.where(sb > 0, sb / (sb + msw), 0.0)
    return np.nan_to_num(icc, nan=0.0)


def cluster_ratio_test(
    y_c: Any, n_c: Any, y_t: Any, n_t: Any, *,
    cov_c: tuple[Any, Any] | None = None,
    cov_t: tuple[Any, Any] | None = None,
    icc: Any = 0.0,
    units_c: Any = None,
    units_t: Any = None,
    alpha: float = 0.05,
) -> dict[str, np.ndarray]:
    """Small-sample test of a ratio of cluster sums in a cluster-randomised pilot.

    ``y_*`` are the clusters' numerator totals and ``n_*`` their denominator totals (units,
    or the denominator of a ratio metric), one entry per cluster on the last axis (leading
    axes: batches of simulated pilots). Each arm's value and variance come from
    :func:`cr2_arm` (CR2, Bell & McCaffrey 2002; Pustejovsky & Tipton 2018) with the
    random-intercept working model of intra-cluster correlation ``icc`` (scalar or one per
    batch, e.g. :func:`anova_icc` of both arms; 0, the default, is the independence working
    model) and clusters of ``units_*`` units (default ``n_*``); the effect is
    treatment - control with a t reference whose degrees of freedom combine the arms'
    Bell-McCaffrey ``nu`` the Welch-Satterthwaite way,
    ``df = (v_c + v_t)^2 / (v_c^2 / nu_c + v_t^2 / nu_t)`` (the Satterthwaite
    approximation of a working model whose scale may differ between arms). With equal
    cluster sizes this is exactly Welch's t test of the cluster means.

    ``cov_*`` = (covariate totals, covariate denominator totals) per cluster adds CUPED
    (Deng et al. 2013): ``theta`` from both arms by the delta method over clusters (as
    :func:`ratio_of_means_test`), treated as known; each arm's value is
    ``R - theta (R_cov - pooled R_cov)`` and its CR2 variance is that of the adjusted cluster
    totals ``Y_c - theta (sum N / sum D) (C_c - R_cov D_c)``, with the leverages and ``nu``
    of the outcome's sizes (exact when the covariate's denominators are the outcome's, as for
    mean and proportion metrics). Returns the keys of :func:`ratio_of_means_test` and
    ``nu_c``, ``nu_t``.
    """
    y_c, n_c, y_t, n_t = (np.asarray(v, dtype=float) for v in (y_c, n_c, y_t, n_t))
    r_c, raw_c, nu_c = cr2_arm(y_c, n_c, icc=icc, units=units_c)
    r_t, raw_t, nu_t = cr2_arm(y_t, n_t, icc=icc, units=units_t)
    theta = np.zeros(np.shape(r_c))
    v_c, v_t, m_c, m_t = raw_c, raw_t, r_c, r_t
    if cov_c is not None and cov_t is not None:
        c_c, d_c = (np.asarray(v, dtype=float) for v in cov_c)
        c_t, d_t = (np.asarray(v, dtype=float) for v in cov_t)
        arms = [Aggregates.from_arrays({"y": y, "x": n, "cy": c, "cx": d})
                for y, n, c, d in ((y_c, n_c, c_c, d_c), (y_t, n_t, c_t, d_t))]
        pooled = arms[0] + arms[1]
        cvar = pooled.ratio_var("cy", "cx")
        with np.errstate(divide="ignore", invalid="ignore"):
            theta = np.where(cvar > 0, pooled.ratio_cov("y", "x", "cy", "cx") / cvar, 0.0)
            cmean = pooled.sums["cy"] / pooled.sums["cx"]

        def adjusted(y: np.ndarray, n: np.ndarray, c: np.ndarray, d: np.ndarray, r: Any,
                     m: Any) -> tuple[Any, Any]:
            with np.errstate(divide="ignore", invalid="ignore"):
                rc = c.sum(-1) / d.sum(-1)
                scale = (theta * n.sum(-1) / d.sum(-1))[..., None]
                ya = y - scale * (c - rc[..., None] * d)
            return r - theta * (rc - cmean), cr2_arm(ya, n, icc=icc, units=m)[1]

        m_c, v_c = adjusted(y_c, n_c, c_c, d_c, r_c, units_c)
        m_t, v_t = adjusted(y_t, n_t, c_t, d_t, r_t, units_t)
    se = np.sqrt(v_c + v_t)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (v_c + v_t) ** 2 / (v_c * v_c / nu_c + v_t * v_t / nu_t)
        reduction = 1 - (v_c + v_t) / (raw_c + raw_t)
    out = interval(m_t - m_c, se, df, alpha)
    out.update(control_value=np.asarray(m_c, dtype=float),
               treatment_value=np.asarray(m_t, dtype=float), theta=theta,
               variance_reduction=reduction if cov_c is not None else np.zeros_like(se),
               var_c=v_c, var_t=v_t, nu_c=nu_c, nu_t=nu_t,
               n_control=np.full(np.shape(r_c), n_c.shape[-1], dtype=float),
               n_treatment=np.full(np.shape(r_t), n_t.shape[-1], dtype=float))
    return out


def nps_test(counts_c: Any, counts_t: Any, *, alpha: float = 0.05) -> dict[str, np.ndarray]:
    """NPS difference from (detractors, passives, promoters) counts per arm (last axis).

    NPS = p_pro - p_det (mean of +1/0/-1 codes), variance (p_pro + p_det - NPS^2) / n,
    Welch-type t interval on the difference with Welch-Satterthwaite degrees of freedom.
    Values on the -100..100 scale.
    """
    def arm(c: Any) -> tuple[Any, Any, Any]:
        c = np.asarray(c, dtype=float)
        n = c.sum(-1)
        p_det, p_pro = c[..., 0] / n, c[..., 2] / n
        nps = p_pro - p_det
        return nps, p_pro + p_det - nps * nps, n

    m_c, v_c, n_c = arm(counts_c)
    m_t, v_t, n_t = arm(counts_t)
    se = np.sqrt(v_c / n_c + v_t / n_t)
    out = interval(100 * (m_t - m_c), 100 * se, _welch_df(v_c, n_c, v_t, n_t), alpha)
    out.update(control_value=100 * m_c, treatment_value=100 * m_t, n_control=n_c,
               n_treatment=n_t)
    return out


def rank_test_from_counts(counts_c: Any, counts_t: Any, *, method: str = "brunner_munzel",
                          alpha: float = 0.05) -> dict[str, np.ndarray]:
    """Rank tests from counts per ordered level (last axis; levels ascending).

    Effect: the relative effect ``theta = P(T > C) + 0.5 P(T = C)`` minus 0.5 (0 = no
    difference), with the Brunner-Munzel (2000) standard error and t interval. The p-value
    is Brunner-Munzel's (scipy ``brunnermunzel``) or, for ``method="mann_whitney"``, the
    tie-corrected asymptotic Mann-Whitney U test with continuity correction (scipy
    ``mannwhitneyu(method="asymptotic")``).
    """
    from scipy import stats

    c = np.asarray(counts_c, dtype=float)
    t = np.asarray(counts_t, dtype=float)
    nx, ny = c.sum(-1), t.sum(-1)
    m = c + t
    mid = np.cumsum(m, -1) - m + (m + 1) / 2            # pooled midrank of each level
    midx = np.cumsum(c, -1) - c + (c + 1) / 2           # midrank within control
    midy = np.cumsum(t, -1) - t + (t + 1) / 2
    rx = (c * mid).sum(-1) / nx
    ry = (t * mid).sum(-1) / ny
    e = (..., None)   # broadcast per-experiment numbers over the levels
    sx = (c * (mid - midx - rx[e] + (nx[e] + 1) / 2) ** 2).sum(-1) / (nx - 1)
    sy = (t * (mid - midy - ry[e] + (ny[e] + 1) / 2) ** 2).sum(-1) / (ny - 1)
    theta = (ry - (ny + 1) / 2) / nx
    se = np.sqrt(nx * sx + ny * sy) / (nx * ny)
    df = (nx * sx + ny * sy) ** 2 / ((nx * sx) ** 2 / (nx - 1) + (ny * sy) ** 2 / (ny - 1))
    out = interval(theta - 0.5, se, df, alpha)
    if method == "mann_whitney":
        n = nx + ny
        u_t = theta * nx * ny
        u = np.maximum(u_t, nx * ny - u_t)
        tie = (m ** 3 - m).sum(-1)
        s = np.sqrt(nx * ny / 12 * ((n + 1) - tie / (n * (n - 1))))
        z = (u - nx * ny / 2 - 0.5) / s
        out["p_value"] = np.clip(2 * stats.norm.sf(z), 0, 1)
        out["statistic"] = u_t
    out.update(control_value=np.full_like(theta, 0.5), treatment_value=theta,
               n_control=nx, n_treatment=ny)
    return out


def kaplan_meier_from_counts(events: Any, censored: Any) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan-Meier survival just after each distinct time, and the numbers at risk.

    ``events`` and ``censored`` hold counts per distinct time (last axis, ascending).
    """
    d = np.asarray(events, dtype=float)
    c = np.asarray(censored, dtype=float)
    removed = d + c
    at_risk = removed.sum(-1, keepdims=True) - np.cumsum(removed, -1) + removed
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.where(at_risk > 0, d / at_risk, 0.0)
    return np.cumprod(1 - hazard, -1), at_risk


def rmst_from_counts(times: Any, events: Any, censored: Any, *, tau: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Restricted mean survival time to ``tau`` and its variance from counts per time.

    RMST = integral of the Kaplan-Meier curve from 0 to ``tau`` (as lifelines
    ``restricted_mean_survival_time``); variance by the Greenwood-type formula
    sum_j A_j^2 d_j / (n_j (n_j - d_j)), A_j the area under the curve from t_j to ``tau``
    (Klein & Moeschberger 2003, eq. 4.5.2; survRM2).
    """
    times = np.asarray(times, dtype=float)
    surv, at_risk = kaplan_meier_from_counts(events, censored)
    d = np.asarray(events, dtype=float)
    inside = times <= tau
    # step function: S = 1 on [0, t_1), S_j on [t_j, t_{j+1}); integrate up to tau
    right = np.append(times[1:], np.inf)
    width = np.clip(np.minimum(right, tau) - times, 0, None) * inside
    first = min(times[0], tau) if times.size else tau
    pieces = surv * width
    rmst = first + pieces.sum(-1)
    # area from t_j to tau: tail sums of the pieces
    area = np.cumsum(pieces[..., ::-1], -1)[..., ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(inside & (at_risk > d), area ** 2 * d / (at_risk * (at_risk - d)), 0.0)
    return rmst, term.sum(-1)


def default_tau(times: np.ndarray, per: Mapping[str, tuple[np.ndarray, np.ndarray]],
                arms: Sequence[str]) -> float:
    """Default RMST horizon: the smallest of the arms' largest observed times (survRM2)."""
    last = []
    for a in arms:
        d, c = per[a]
        last.append(times[(d + c) > 0].max())
    return float(min(last))


def rmst_horizon(times: np.ndarray, per: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 arms: Sequence[str], *, tau: float | None = None) -> tuple[float, str]:
    """The RMST horizon to use and, when the asked ``tau`` had to be capped, a sentence why.

    ``tau=None`` gives :func:`default_tau`. A ``tau`` beyond an arm's last observed time is
    capped there, the horizon :func:`default_tau` would choose: the Kaplan-Meier curve is
    unknown after an arm's last time, and carrying its last value on would extrapolate.

    >>> times = np.array([1.0, 2.0, 3.0])
    >>> per = {"a": (np.array([1.0, 1, 0]), np.array([0.0, 0, 1])),
    ...        "b": (np.array([1.0, 1, 0]), np.array([0.0, 0, 0]))}
    >>> rmst_horizon(times, per, ["a", "b"], tau=10)
    (2.0, "capped: tau = 10 lies beyond the follow-up of arm 'b', whose last time is 2")
    """
    follow_up = default_tau(times, per, arms)
    if tau is None or tau <= follow_up:
        return (follow_up if tau is None else float(tau)), ""
    last = {a: times[(per[a][0] + per[a][1]) > 0].max() for a in arms}
    short = min(last, key=lambda a: last[a])
    return follow_up, (f"capped: tau = {tau:g} lies beyond the follow-up of arm {short!r}, "
                       f"whose last time is {follow_up:g}")


def logrank_from_counts(d_c: Any, r_c: Any, d_t: Any, r_t: Any) -> tuple[np.ndarray, np.ndarray]:
    """Log-rank chi-square statistic (1 df) and p-value from events and numbers at risk
    per distinct time (last axis), as lifelines ``logrank_test``."""
    from scipy import stats

    d_c, r_c, d_t, r_t = (np.asarray(v, dtype=float) for v in (d_c, r_c, d_t, r_t))
    d, r = d_c + d_t, r_c + r_t
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.where(r > 0, d * r_t / r, 0.0)
        var = np.where(r > 1, d * (r_t / r) * (1 - r_t / r) * (r - d) / (r - 1), 0.0)
    stat = (d_t - expected).sum(-1) ** 2 / var.sum(-1)
    return stat, stats.chi2.sf(stat, 1)


# --------------------------------------------------------------------------------------
# Bayesian view, confidence sequences
# --------------------------------------------------------------------------------------
def beta_binomial_view(x_c: int, n_c: int, x_t: int, n_t: int, *, better: str = "higher",
                       prior: tuple[float, float] = (1.0, 1.0)) -> dict[str, float]:
    """Posterior probability that treatment is better and the expected loss of shipping it.

    Independent Beta(prior) priors (default Beta(1, 1), uniform) updated with the binomial
    counts; ``prob_better`` = P(p_t > p_c) (or < for ``better="lower"``) and
    ``expected_loss`` = E[max(harm, 0)] where harm is the shortfall of treatment in the
    good direction, both by one-dimensional numerical integration (scipy ``quad``).
    """
    from scipy import integrate, stats

    a_c, b_c = prior[0] + x_c, prior[1] + n_c - x_c
    a_t, b_t = prior[0] + x_t, prior[1] + n_t - x_t
    pc, pt = stats.beta(a_c, b_c), stats.beta(a_t, b_t)
    pt_up = stats.beta(a_t + 1, b_t)
    pc_up = stats.beta(a_c + 1, b_c)
    mean_t, mean_c = a_t / (a_t + b_t), a_c / (a_c + b_c)
    lo = max(0.0, min(pc.ppf(1e-12), pt.ppf(1e-12)))
    hi = min(1.0, max(pc.isf(1e-12), pt.isf(1e-12)))
    points = [pc.mean(), pt.mean()]
    opts = {"limit": 200, "epsabs": 1e-13, "epsrel": 1e-11, "points": points}
    # P(p_t > x) integrated over the control posterior
    p_t_greater = integrate.quad(lambda x: pc.pdf(x) * pt.sf(x), lo, hi, **opts)[0]
    # E[(p_c - p_t)+] = E_c[ x F_t(x) - mean_t F_{t+1}(x) ]
    loss_higher = integrate.quad(
        lambda x: pc.pdf(x) * (x * pt.cdf(x) - mean_t * pt_up.cdf(x)), lo, hi, **opts)[0]
    # E[(p_t - p_c)+] = E_t[ x F_c(x) - mean_c F_{c+1}(x) ]
    loss_lower = integrate.quad(
        lambda x: pt.pdf(x) * (x * pc.cdf(x) - mean_c * pc_up.cdf(x)), lo, hi, **opts)[0]
    if better == "higher":
        return {"prob_better": p_t_greater, "expected_loss": loss_higher}
    return {"prob_better": 1 - p_t_greater, "expected_loss": loss_lower}


def normal_view(effect: Any, se: Any, *, better: str = "higher") -> dict[str, np.ndarray]:
    """Bayesian view under a flat prior on the effect: the posterior is N(effect, se^2).

    ``prob_better`` = P(effect in the good direction); ``expected_loss`` =
    E[max(-good effect, 0)] = se * phi(m / se) - m * Phi(-m / se), m the good-direction mean.
    """
    from scipy import stats

    m = np.asarray(effect, dtype=float) * (1 if better == "higher" else -1)
    se = np.asarray(se, dtype=float)
    return {"prob_better": stats.norm.cdf(m / se),
            "expected_loss": se * stats.norm.pdf(m / se) - m * stats.norm.cdf(-m / se)}


def confidence_sequence_radius(se: Any, n: Any, *, alpha: float = 0.05,
                               n_planned: Any = None) -> np.ndarray:
    """Half-width of the always-valid (1 - alpha) asymptotic confidence sequence.

    Normal-mixture boundary (Robbins 1970; Howard et al. 2021; asymptotic form of
    Waudby-Smith et al. 2023, Thm 2.2): ``se * sqrt(2 (n rho^2 + 1) / (n rho^2) *
    log(sqrt(n rho^2 + 1) / alpha))``, ``se`` the fixed-horizon standard error at ``n``
    units and ``rho`` tuned so the sequence is tightest at ``n_planned``. Checking the
    interval after every batch of units keeps the error rate below alpha *because* ``rho``
    is fixed before the data: ``n_planned`` is required (tuned to the ``n`` of each look,
    the boundary moved with the data and rejected 18% of null pilots over 5,000 looks).
    """
    if n_planned is None:
        raise ValueError("confidence_sequence_radius: n_planned (the planned number of units, "
                         "fixed before the data) is required; a boundary tuned to the units "
                         "seen at each look is not always valid")
    se = np.asarray(se, dtype=float)
    n = np.asarray(n, dtype=float)
    n_opt = np.asarray(n_planned, dtype=float)
    la = -2 * math.log(alpha)
    rho2 = (la + math.log(la + 1)) / n_opt
    u = n * rho2
    return se * np.sqrt(2 * (u + 1) / u * np.log(np.sqrt(u + 1) / alpha))
