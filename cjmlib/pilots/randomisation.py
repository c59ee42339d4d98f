"""Randomisation (permutation) inference for a pilot on a panel with few treated units: the
studentized permutation test of the difference-in-differences and its pre-trend test, and
the assignment, inversion and smallest-p helpers the synthetic control's re-assignment test
shares (:mod:`cjmlib.pilots.quasi_experiments`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from cjmlib.pilots.quasi_experiments import Panel


@dataclass
class PermutationResult:
    """Randomisation inference for the DiD estimate and for parallel pre-launch trends.

    ``distribution``: the raw DiD estimate under every assignment (for the ``se`` column and
    plots); the p-value and interval come from the studentized statistic (see
    :func:`permutation_inference`). ``min_p_value``: the smallest p-value any data could give
    with this design; ``power_observed``: the share of placebo assignments, given an effect
    of the observed size, that the test would detect at alpha.
    """

    outcome: str
    estimate: float
    distribution: np.ndarray
    p_value: float
    ci_low: float
    ci_high: float
    exact: bool
    n_assignments: int
    pre_trend_statistic: float
    pre_trend_p_value: float
    min_p_value: float = math.nan
    power_observed: float = math.nan
    studentized: bool = True
    notes: list[str] = field(default_factory=list)


def _assignments(n_units: int, n_treated: int, observed: np.ndarray, *, max_exact: int,
                 n_permutations: int, seed: int) -> tuple[np.ndarray, bool]:
    """Index sets of treated units: all combinations, or random ones plus the observed."""
    total = math.comb(n_units, n_treated)
    if total <= max_exact:
        combos = np.fromiter(itertools.chain.from_iterable(
            itertools.combinations(range(n_units), n_treated)), dtype=np.int64,
            count=total * n_treated).reshape(total, n_treated)
        return combos, True
    draws = _random_sets(n_units, n_treated, n_permutations, np.random.default_rng(seed))
    return np.vstack([np.flatnonzero(observed)[None, :], draws]), False


def _random_sets(n: int, k: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` random k-subsets of range(n) (sorted rows; repeats possible)."""
    return np.sort(np.argsort(rng.random((count, n)), axis=1)[:, :k], axis=1)


def _pre_residuals(pre: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each unit's pre-launch deviations from its own mean and from the period effects of the
    *other* units, and its noise scale (their standard deviation). The period effects are
    precision-weighted means (weights 1 / scale^2 from a first, unweighted pass) over every
    unit but the one at hand, so no unit's noise enters its own residuals or, much, anyone
    else's: the scales of a noisy and a quiet unit then measure the same thing. ``None`` when
    the scales cannot be estimated (fewer than two pre-launch periods, or no unit varies)."""
    k = pre.shape[1]
    if k < 2:
        return None
    own = pre - pre.mean(1, keepdims=True)
    w = np.ones(len(pre))
    for step in range(3):
        total = (w[:, None] * own).sum(0, keepdims=True)
        r = own - (total - w[:, None] * own) / (w.sum() - w)[:, None]
        s = np.sqrt((r * r).sum(1) / (k - 1))
        typical = float(np.median(s))
        if not typical > 0:
            return None
        s = np.maximum(s, 1e-6 * typical)       # a unit on the period effects exactly
        if step == 2:
            return r, s
        w = 1.0 / (s * s)
    raise AssertionError("unreachable")


def _trend_t(residuals: np.ndarray) -> np.ndarray | None:
    """Per unit, the t statistic of a linear time trend in its pre-launch residuals (from
    :func:`_pre_residuals`: its trend relative to the precision-weighted average of the other
    units); ``None`` below three pre-launch periods."""
    k = residuals.shape[1]
    if k < 3:
        return None
    tt = np.arange(k) - (k - 1) / 2
    sxx = float(tt @ tt)
    slope = residuals @ tt / sxx
    resid = residuals - slope[:, None] * tt
    se = np.sqrt((resid * resid).sum(1) / (k - 2) / sxx)
    floor = 1e-9 * (float(np.median(se)) or 1.0)
    return slope / np.maximum(se, floor)


def _others(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """For each unit, the ``w``-weighted mean of ``values`` over all the other units."""
    return ((w * values).sum() - w * values) / (w.sum() - w)


def _difference(values: np.ndarray, combos: np.ndarray, n_t: int) -> np.ndarray:
    """mean over each assignment's treated units minus mean over the rest; ``values`` is
    (units,) or (units, k)."""
    s = values[combos].sum(1)
    return s / n_t - (values.sum(0) - s) / (len(values) - n_t)


def _inverted_interval(p_at: Callable[[float], float], centre: float, step: float,
                       alpha: float) -> tuple[float, float]:
    """{d : p(d) > alpha} of a test inverted under a constant effect d, as an interval: from
    ``centre`` (where p is 1) outwards in steps of ``step`` until p <= alpha, then bisection;
    an end more than 1,000 steps out is infinite."""
    def bound(direction: float) -> float:
        inside, outside = centre, centre + direction * step
        while p_at(outside) > alpha:
            inside, outside = outside, outside + direction * step
            if abs(outside - centre) > 1e3 * step:
                return math.inf * direction
        for _ in range(100):
            mid = (inside + outside) / 2
            if p_at(mid) > alpha:
                inside = mid
            else:
                outside = mid
        return inside

    return bound(-1.0), bound(1.0)


def _min_p(n_units: int, n_treated: int, n_assignments: int, exact: bool) -> float:
    """Smallest attainable two-sided permutation p-value: the observed assignment alone at
    the extreme (with its complement when both sides have the same size)."""
    if not exact:
        return 1.0 / n_assignments
    return (2.0 if 2 * n_treated == n_units else 1.0) / n_assignments


def permutation_inference(panel: Panel, outcome: str, *, alpha: float = 0.05,
                          max_exact: int = 200_000, n_permutations: int = 9_999,
                          seed: int = 0, n_power: int = 200) -> PermutationResult:
    """Randomisation inference for the DiD estimate, valid when the pilot units are noisier.

    In a balanced panel with a common launch the two-way fixed-effects estimate equals
    ``mean_T(delta_i) - mean_C(delta_i)``, delta_i = unit i's post mean minus pre mean. The
    raw difference is not a valid permutation statistic when units differ in noise (one
    pilot store three times as variable as the others is "significant" in 47% of null
    pilots): each unit's delta is therefore studentized by its own pre-launch noise,
    ``z_i = (delta_i - c_i) / s_i`` (:func:`_pre_residuals`; c_i = the mean change of the
    other units weighted by 1 / s_j^2, the same rule for every unit), and the statistic is
    ``mean_T(z) - mean_C(z)`` (a studentized randomisation test in the spirit of
    MacKinnon & Webb 2020 and Ferman & Pinto 2019, who correct for heteroskedasticity with few
    treated groups). Units that differ only in scale have exchangeable z's, so the test keeps
    its level. p-value = share of assignments (all of them up to ``max_exact``, else
    ``n_permutations`` random ones plus the observed) whose |statistic| is at least the
    observed; reject when p <= alpha (size exactly floor(alpha M) / M). The interval inverts
    the test under a constant additive effect: {d : p(d) > alpha}. When the smallest
    attainable p exceeds alpha (one pilot unit among fewer than 20) no effect can be
    declared and the interval is the whole line; a note says so.

    Pre-trend: per unit the t statistic of a linear trend in its double-centred pre-launch
    outcomes; the permutation test of the difference of their treated and control means
    (needs three pre-launch periods).

    ``power_observed``: the estimate is removed from the pilot units, an effect of its size
    added to ``n_power`` random placebo assignments in turn, and each tested against
    ``min(M, 1999)`` assignments; the share detected at alpha.
    """
    y = panel.matrices[outcome]
    post = panel.post
    treated = panel.treated
    n, n_t = len(panel.units), panel.n_treated
    delta = y[:, post].mean(1) - y[:, ~post].mean(1)
    observed = float(delta[treated].mean() - delta[~treated].mean())
    combos, exact = _assignments(n, n_t, treated, max_exact=max_exact,
                                 n_permutations=n_permutations, seed=seed)
    m = len(combos)
    notes: list[str] = []
    dist = _difference(delta, combos, n_t)
    pre_fit = _pre_residuals(y[:, ~post])       # once: the scales and the pre-trend test
    studentized = pre_fit is not None
    if pre_fit is not None:
        scales = pre_fit[1]
    else:
        scales = np.ones(n)
        notes.append(f"{outcome}: the permutation test is not studentized (fewer than two "
                     "pre-launch periods, or no unit varies before launch): it assumes every "
                     "unit is equally noisy")
    t = treated.astype(float)
    # centre: the precision-weighted mean change of the other units, so a noisy unit's
    # noise does not shift every other unit's z (an unweighted mean of all gave 7.5% with 3
    # noisy pilot units) and no unit is centred on itself (3.3% with 1 noisy pilot unit)
    w = 1.0 / (scales * scales)
    a = (delta - _others(delta, w)) / scales    # z at a constant effect d = 0 ...
    b = (t - _others(t, w)) / scales            # ... and z(d) = a - d * b
    big_a, big_b = _difference(a, combos, n_t), _difference(b, combos, n_t)
    a_obs = float(a[treated].mean() - a[~treated].mean())
    b_obs = float(b[treated].mean() - b[~treated].mean())

    def p_at(d: float) -> float:
        obs = abs(a_obs - d * b_obs)
        return float(np.mean(np.abs(big_a - d * big_b) >= obs - 1e-12 * max(1.0, obs)))

    p = p_at(0.0)
    min_p = _min_p(n, n_t, m, exact)
    spread = float(np.std(dist)) or 1.0
    centre = a_obs / b_obs                       # the observed statistic is 0 there: p = 1

    if min_p > alpha:
        lo, hi = -math.inf, math.inf
        notes.append(
            f"{outcome}: with {n_t} pilot unit(s) among {n} the smallest p-value any "
            f"outcome could give is {min_p:.3g} > alpha {alpha:g}: the permutation test "
            "cannot declare an effect and its interval is unbounded. More comparison units "
            "(at least " + str(math.ceil(1 / alpha)) + " in all for one pilot unit) or more "
            "pilot units are needed.")
    else:
        lo, hi = _inverted_interval(p_at, centre, spread, alpha)
    if min_p > alpha:
        power = 0.0
    elif n_power > 0:
        power = _permutation_power(delta - observed * t, scales, n_t, abs(observed),
                                   alpha=alpha, n_placebo=n_power, seed=seed)
    else:
        power = math.nan

    trend = None if pre_fit is None else _trend_t(pre_fit[0])
    if trend is None:
        pre_obs, pre_p = math.nan, math.nan
    else:
        pre_dist = np.abs(_difference(trend, combos, n_t))
        pre_obs = float(abs(trend[treated].mean() - trend[~treated].mean()))
        pre_p = float(np.mean(pre_dist >= pre_obs - 1e-12 * max(1.0, pre_obs)))
    return PermutationResult(outcome, observed, dist, p, lo, hi, exact, m, pre_obs, pre_p,
                             min_p, power, studentized, notes)


def _permutation_power(null_delta: np.ndarray, scales: np.ndarray, n_t: int, effect: float,
                       *, alpha: float, n_placebo: int, seed: int,
                       n_reference: int = 1999) -> float:
    """Share of placebo assignments that the studentized permutation test detects when an
    effect of size ``effect`` is added to their units (``null_delta``: the deltas with the
    estimate removed from the pilot units)."""
    n = len(null_delta)
    rng = np.random.default_rng(seed + 1)
    total = math.comb(n, n_t)
    if total <= max(n_placebo, n_reference):
        every, _ = _assignments(n, n_t, np.zeros(n, bool), max_exact=total,
                                n_permutations=0, seed=seed)
    else:
        every = None
    if every is not None and len(every) <= n_placebo:
        placebos = every
    else:
        placebos = _random_sets(n, n_t, n_placebo, rng)
    hits = 0
    w = 1.0 / (scales * scales)
    for s_prime in placebos:
        d = null_delta.copy()
        d[s_prime] += effect
        z = (d - _others(d, w)) / scales
        if every is not None and len(every) <= n_reference:
            reference = every
        else:
            reference = np.vstack([s_prime[None, :], _random_sets(n, n_t, n_reference, rng)])
        stats_ = np.abs(_difference(z, reference, n_t))
        obs = abs(z[s_prime].mean() - np.delete(z, s_prime).mean())
        hits += float(np.mean(stats_ >= obs - 1e-12 * max(1.0, obs))) <= alpha
    return hits / len(placebos)
