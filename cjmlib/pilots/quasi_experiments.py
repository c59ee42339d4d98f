"""Non-randomised pilots on a panel: difference-in-differences, event study, permutation
inference and synthetic control.

Input: the DESIGN.md ``panel`` table (unit, period, treated, post, outcome columns), one row
per unit and period, balanced, with a common launch (``post`` depends on the period only).

Three estimates per outcome, one row each in ``did_results``:

* ``cluster-robust (CR1)`` -- two-way fixed-effects regression
  ``y_it = a_i + g_t + beta * treated_i * post_t + e_it`` (statsmodels OLS) with standard
  errors clustered by unit: CR1 small-sample correction ``G/(G-1) * (N-1)/(N-K)`` and a t
  distribution with ``G - 1`` degrees of freedom. Its pre-trend column is the joint test of
  the event-study leads (Hotelling-scaled) where both sides have at least
  ``CR1_PRE_TREND_MIN`` units, else the permutation pre-trend test.
* ``permutation`` -- randomisation inference (Fisher 1935; for DiD, Conley & Taber 2011,
  MacKinnon & Webb 2020) over every other set of the same number of units (all of them up
  to ``max_exact`` sets, else ``n_permutations`` random ones), with each unit's change
  studentized by its own pre-launch noise so that a noisier pilot unit does not make the
  test liberal (:func:`permutation_inference`); reject when p <= alpha; the interval inverts
  the test under a constant effect; ``se`` is the standard deviation of the raw permutation
  distribution. Pre-trend test: the same scheme for the units' linear pre-launch trends.
* ``synthetic control`` -- Abadie, Diamond & Hainmueller (2010): non-negative donor weights
  summing to one that best reproduce the treated units' average pre-launch path; estimate =
  mean post-launch gap; tested by re-assigning the pilot to other sets of as many units,
  each fitted from all the others, with the gap studentized by the cross-validated
  pre-launch RMSPE; the interval inverts that test (:func:`synthetic_control`); degenerate
  fits are refused.

Every row states the smallest p-value its design can give and the power to detect an effect
of the estimate's size (``min_p_value``, ``power_observed``); the simulated error rates are in
benchmarks/validity_panels.py.

With few treated units (1-5 by default) cluster-robust errors are unreliable: the variance
of the treated side is estimated from a handful of clusters and tests over-reject badly
(Conley & Taber 2011; MacKinnon & Webb 2017). The ``default`` column then points at the
permutation row, and the synthetic-control row is the robustness check.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns, check_scalar
from cjmlib.core.io import read_table
from cjmlib.core.progress import Progress
from cjmlib.pilots.randomisation import (
    PermutationResult,
    _assignments,
    _inverted_interval,
    _random_sets,
    permutation_inference,
)

#: Column contract of ``did_results`` (DESIGN.md); extra columns follow these.
DID_RESULTS_COLUMNS = [
    "metric", "estimate", "se", "ci_low", "ci_high", "p_value", "inference",
    "n_treated_units", "n_control_units", "pre_trend_p_value",
]
#: Up to this many treated units, permutation inference is the default.
FEW_TREATED = 5
#: The cluster-robust joint pre-trend test is shown only with this many units on each side.
CR1_PRE_TREND_MIN = 20


@dataclass
class Panel:
    """A validated, balanced panel: outcome matrices (units x periods) and the design."""

    frame: pd.DataFrame
    name: str
    unit_col: str
    period_col: str
    outcomes: list[str]
    units: list[Any]
    periods: list[Any]
    treated: np.ndarray          # bool per unit
    post: np.ndarray             # bool per period
    matrices: dict[str, np.ndarray] = field(repr=False)

    @property
    def launch(self) -> int:
        """Index of the first post-launch period."""
        return int(np.argmax(self.post))

    @property
    def n_treated(self) -> int:
        return int(self.treated.sum())

    @property
    def n_control(self) -> int:
        return int((~self.treated).sum())


def load_panel(
    source: Any,
    *,
    outcomes: Sequence[str] | None = None,
    unit_col: str = "unit",
    period_col: str = "period",
    treated_col: str = "treated",
    post_col: str = "post",
    name: str | None = None,
) -> Panel:
    """Read and validate a panel (DataFrame or CSV/Parquet path).

    ``outcomes`` default: every numeric column besides the design columns. Raises
    ``ValueError`` naming the file, column and rows for: missing columns, a unit listed twice
    in a period, ``treated`` changing within a unit, ``post`` differing between units in a
    period (staggered launches are not supported), post periods before pre periods, missing
    unit-periods (the panel must be balanced), missing outcome values, fewer than one
    treated or two control units, no pre or no post period.
    """
    if isinstance(source, (str, os.PathLike)):
        label = name or Path(source).name
        df = read_table(source)
    elif isinstance(source, pd.DataFrame):
        label = name or "panel"
        df = source.copy()
    else:
        raise TypeError(f"panel must be a DataFrame or a path, got {type(source).__name__}")
    check_columns(df, [unit_col, period_col, treated_col, post_col], what=label)
    design = {unit_col, period_col, treated_col, post_col}
    if outcomes is None or len(outcomes) == 0:
        outcomes = [c for c in df.columns if c not in design
                    and pd.api.types.is_numeric_dtype(df[c])
                    and not pd.api.types.is_bool_dtype(df[c])]
        if not outcomes:
            raise ValueError(f"{label}: no numeric outcome column besides {sorted(design)}; "
                             f"found {list(df.columns)}")
    check_columns(df, list(outcomes), what=label)
    rows = pd.Series(np.arange(1, len(df) + 1), index=df.index)

    def where(mask: pd.Series, limit: int = 5) -> str:
        return ", ".join(str(r) for r in rows[mask].head(limit))

    for col in (treated_col, post_col):
        bad = ~df[col].isin([0, 1, True, False]) | df[col].isna()
        if bad.any():
            raise ValueError(f"{label}: column {col!r} must be 0 or 1; rows {where(bad)} "
                             f"hold {df.loc[bad, col].head(3).tolist()}")
    for col in outcomes:
        if not pd.api.types.is_numeric_dtype(df[col]):
            raise ValueError(f"{label}: outcome column {col!r} must be numeric, found "
                             f"{df[col].dtype}")
        if df[col].isna().any():
            raise ValueError(f"{label}: outcome column {col!r} is missing in rows "
                             f"{where(df[col].isna())}; every unit-period needs a value")
    dup = df.duplicated([unit_col, period_col], keep=False)
    if dup.any():
        raise ValueError(f"{label}: columns {unit_col!r}/{period_col!r}: a unit appears twice "
                         f"in the same period (rows {where(dup)}); expected one row per unit "
                         "and period")
    per_unit = df.groupby(unit_col)[treated_col].nunique()
    if (per_unit > 1).any():
        unit = per_unit[per_unit > 1].index[0]
        raise ValueError(f"{label}: column {treated_col!r} changes within unit {unit!r} (rows "
                         f"{where(df[unit_col] == unit)}); 'treated' marks pilot units and "
                         "must be constant per unit")
    per_period = df.groupby(period_col)[post_col].nunique()
    if (per_period > 1).any():
        period = per_period[per_period > 1].index[0]
        raise ValueError(f"{label}: column {post_col!r} differs between units in period "
                         f"{period!r} (rows {where(df[period_col] == period)}); a common launch "
                         "period is expected (staggered launches are not supported)")
    periods = sorted(df[period_col].unique())
    post_of = df.groupby(period_col)[post_col].first().reindex(periods).astype(bool).to_numpy()
    if post_of.all() or not post_of.any():
        raise ValueError(f"{label}: column {post_col!r} must have both pre-launch (0) and "
                         f"post-launch (1) periods; found only {int(post_of[0])}")
    launch = int(np.argmax(post_of))
    if not post_of[launch:].all():
        raise ValueError(f"{label}: column {post_col!r}: period {periods[launch]!r} is post "
                         "launch but a later period is not; post periods must follow all pre "
                         "periods")
    units = sorted(df[unit_col].unique(), key=str)
    counts = df.groupby(unit_col)[period_col].nunique()
    short = counts[counts < len(periods)]
    if len(short):
        unit = short.index[0]
        have = set(df.loc[df[unit_col] == unit, period_col])
        missing = [p for p in periods if p not in have][:5]
        raise ValueError(f"{label}: the panel is not balanced: unit {unit!r} has no row for "
                         f"period(s) {missing} ({len(short)} unit(s) affected); every unit "
                         "needs every period")
    treated = (df.groupby(unit_col)[treated_col].first().reindex(units).astype(bool)
               .to_numpy())
    if treated.sum() < 1 or (~treated).sum() < 2:
        raise ValueError(f"{label}: column {treated_col!r}: need at least 1 treated and 2 "
                         f"control units, found {int(treated.sum())} treated and "
                         f"{int((~treated).sum())} control")
    matrices = {}
    for col in outcomes:
        wide = df.pivot(index=unit_col, columns=period_col, values=col)
        matrices[col] = wide.reindex(index=units, columns=periods).to_numpy(float)
    return Panel(df, label, unit_col, period_col, list(outcomes), units, periods, treated,
                 post_of, matrices)


# --------------------------------------------------------------------------------------
# Two-way fixed effects with cluster-robust errors, event study
# --------------------------------------------------------------------------------------
def _design(panel: Panel, extra: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str],
                                                                   np.ndarray]:
    """Long design matrix: extra regressors, intercept, unit and period dummies (drop first)."""
    n_u, n_p = len(panel.units), len(panel.periods)
    unit_idx = np.repeat(np.arange(n_u), n_p)
    period_idx = np.tile(np.arange(n_p), n_u)
    cols, names = [], []
    for name, values in extra.items():
        cols.append(values.reshape(-1))
        names.append(name)
    cols.append(np.ones(n_u * n_p))
    names.append("const")
    for u in range(1, n_u):
        cols.append((unit_idx == u).astype(float))
        names.append(f"unit[{panel.units[u]}]")
    for p in range(1, n_p):
        cols.append((period_idx == p).astype(float))
        names.append(f"period[{panel.periods[p]}]")
    return np.column_stack(cols), names, unit_idx


def twfe(panel: Panel, outcome: str, *, alpha: float = 0.05) -> dict[str, float]:
    """Two-way fixed-effects DiD with CR1 cluster-robust errors (statsmodels OLS).

    Returns estimate, se, ci_low, ci_high, p_value, df (= G - 1).
    """
    import statsmodels.api as sm

    d = np.outer(panel.treated, panel.post).astype(float)
    x, names, groups = _design(panel, {"did": d})
    y = panel.matrices[outcome].reshape(-1)
    fit = sm.OLS(y, x).fit(cov_type="cluster", use_t=True,
                           cov_kwds={"groups": groups, "use_correction": True,
                                     "df_correction": True})
    ci = fit.conf_int(alpha)[0]
    return {"estimate": float(fit.params[0]), "se": float(fit.bse[0]),
            "ci_low": float(ci[0]), "ci_high": float(ci[1]), "p_value": float(fit.pvalues[0]),
            "df": float(len(panel.units) - 1)}


@dataclass
class EventStudy:
    """Event-study coefficients (relative to the last pre-launch period) and the pre-trend
    test. ``coefficients`` columns: event_time, period, estimate, se, ci_low, ci_high."""

    outcome: str
    coefficients: pd.DataFrame
    pre_trend_statistic: float
    pre_trend_p_value: float
    pre_trend_method: str


def event_study(panel: Panel, outcome: str, *, alpha: float = 0.05,
                min_per_side: int = CR1_PRE_TREND_MIN) -> EventStudy:
    """Dynamic two-way fixed-effects regression with one coefficient per event time
    (treated x period, the period before launch as reference), CR1 cluster-robust errors.

    In a balanced panel with a common launch each coefficient equals
    ``(mean_T[k] - mean_T[ref]) - (mean_C[k] - mean_C[ref])``. The pre-trend test is the joint
    Wald test that every lead (k < -1) is zero, with the Hotelling-type small-sample scaling
    ``F = W (G - q) / (q (G - 1))`` on F(q, G - q) (W: the CR1 Wald statistic, q leads, G
    clusters; cf. Pustejovsky & Tipton 2018). Even so it over-rejects unless both sides have
    many clusters (simulated null, 7 leads: 100% with 1 pilot unit of 20, 11% with 10 of 40,
    2-4% with 20 of 40 and 30 of 60), so its p-value is given only when treated and control
    units both number at least ``min_per_side``; otherwise NaN and ``pre_trend_method`` says
    why (read the permutation pre-trend test instead).
    """
    import statsmodels.api as sm

    launch = panel.launch
    ref = launch - 1
    n_p = len(panel.periods)
    extra = {}
    for p in range(n_p):
        if p == ref:
            continue
        m = np.zeros((len(panel.units), n_p))
        m[panel.treated, p] = 1.0
        extra[f"k={p - launch}"] = m
    x, names, groups = _design(panel, extra)
    y = panel.matrices[outcome].reshape(-1)
    fit = sm.OLS(y, x).fit(cov_type="cluster", use_t=True,
                           cov_kwds={"groups": groups, "use_correction": True,
                                     "df_correction": True})
    k = len(extra)
    ci = fit.conf_int(alpha)[:k]
    event_times = [p - launch for p in range(n_p) if p != ref]
    coef = pd.DataFrame({
        "event_time": event_times,
        "period": [panel.periods[p] for p in range(n_p) if p != ref],
        "estimate": fit.params[:k], "se": fit.bse[:k], "ci_low": ci[:, 0], "ci_high": ci[:, 1],
    })
    ref_row = pd.DataFrame({"event_time": [-1], "period": [panel.periods[ref]],
                            "estimate": [0.0], "se": [0.0], "ci_low": [0.0], "ci_high": [0.0]})
    coef = pd.concat([coef, ref_row]).sort_values("event_time").reset_index(drop=True)
    leads = [i for i, e in enumerate(event_times) if e < -1]
    q, g = len(leads), len(panel.units)
    side = min(panel.n_treated, panel.n_control)
    if not leads:
        return EventStudy(outcome, coef, math.nan, math.nan, "no pre-trend test: a single "
                          "pre-launch period has no lead to test")
    if side < min_per_side or g - q < 1:
        return EventStudy(outcome, coef, math.nan, math.nan,
                          f"no cluster-robust pre-trend test: {panel.n_treated} pilot and "
                          f"{panel.n_control} comparison units; the CR1 joint test of {q} "
                          f"leads over-rejects below {min_per_side} units a side (see the "
                          "permutation pre-trend test)")
    from scipy import stats

    r = np.zeros((q, x.shape[1]))
    for row, i in enumerate(leads):
        r[row, i] = 1.0
    wald = float(np.squeeze(fit.wald_test(r, use_f=False, scalar=True).statistic))
    stat = wald * (g - q) / (q * (g - 1))
    p = float(stats.f.sf(stat, q, g - q))
    return EventStudy(outcome, coef, stat, p,
                      f"joint Wald test of {q} leads, CR1 cluster-robust, Hotelling scaling "
                      f"W (G - q) / (q (G - 1)) on F({q}, {g - q})")


# --------------------------------------------------------------------------------------
# Synthetic control
# --------------------------------------------------------------------------------------
def synthetic_weights(target_pre: np.ndarray, donors_pre: np.ndarray) -> np.ndarray:
    """Donor weights w >= 0, sum(w) = 1 minimising the pre-period squared error
    ||target - donors @ w||^2 (Abadie et al. 2010, outcome path only).

    Solved as non-negative least squares (Lawson-Hanson, scipy ``nnls``) with the adding-up
    constraint as a heavily weighted extra row, then renormalised.
    """
    from scipy.optimize import nnls

    scale = float(np.abs(target_pre).mean()) or 1.0
    a, b = donors_pre / scale, target_pre / scale
    weight = 1e3 * max(1.0, float(np.abs(a).max()))
    a_aug = np.vstack([a, np.full((1, a.shape[1]), weight)])
    b_aug = np.append(b, weight)
    w, _ = nnls(a_aug, b_aug, maxiter=50 * a.shape[1])
    return w / w.sum()


#: A synthetic control whose pre-launch error is below this share of the outcome's level fits
#: perfectly: its placebo comparison rests on rounding noise.
PERFECT_FIT = 1e-9
#: Weights above this count as donors used.
WEIGHT_USED = 1e-6
#: The cross-validated pre-launch RMSPE leaves out one period at a time up to this many
#: pre-launch periods, else this many blocks of neighbouring periods (10-fold: a daily pilot
#: with 60 pre-launch days fits 10 times per placebo set, not 60).
CV_BLOCKS = 10


@dataclass
class SyntheticControl:
    """Synthetic-control fit of the treated units' average and its placebo sets.

    ``placebos``: one row per placebo set of control units (as many units as the pilot):
    estimate (mean post-launch gap), pre_rmspe, post_rmspe, ratio (post / pre RMSPE), scale
    (cross-validated pre-launch RMSPE), statistic (mean gap / scale), degenerate.
    ``cv_rmspe``: the pilot's cross-validated pre-launch RMSPE. ``p_value``, ``ci_low``,
    ``ci_high``, ``se`` are NaN when the pilot's own pre-launch fit is degenerate
    (``degenerate`` says why).
    """

    outcome: str
    weights: pd.Series
    path: pd.DataFrame            # period, treated, synthetic, gap, post
    estimate: float
    pre_rmspe: float
    post_rmspe: float
    placebos: pd.DataFrame
    p_value: float
    se: float
    ci_low: float
    ci_high: float
    min_p_value: float = math.nan
    power_observed: float = math.nan
    degenerate: str = ""
    exact: bool = True
    cv_rmspe: float = math.nan
    notes: list[str] = field(default_factory=list)


def _degenerate_fit(weights: np.ndarray, pre_rmspe: float, level: float, n_pre: int) -> str:
    """Why a synthetic control's pre-launch fit says nothing (empty when it is fine)."""
    used = int((weights > WEIGHT_USED).sum())
    if pre_rmspe <= PERFECT_FIT * max(level, 1e-300):
        return (f"its pre-launch fit is perfect (RMSPE {pre_rmspe:.2g}): the placebo "
                "comparison would divide by rounding noise")
    if used >= n_pre:
        return (f"{used} donors carry weight for {n_pre} pre-launch periods: with as many "
                "weights as periods the fit can reproduce any pre-launch path")
    return ""


def synthetic_control(panel: Panel, outcome: str, *, alpha: float = 0.05,
                      max_placebos: int = 1000, seed: int = 0,
                      n_power: int = 200) -> SyntheticControl:
    """Synthetic control for the average of the treated units, tested by re-assignment.

    Every set of as many units as the pilot (all sets when there are at most
    ``max_placebos``, else that many random ones plus the pilot's own) has its average fitted
    from all the other units, the same way as the pilot's is fitted from the controls. Under
    no effect and a pilot drawn at random the pilot's set is one of them, exchangeable with
    the rest, so the test is a randomisation test with the synthetic-control statistic
    (Firpo & Possebom 2018); placebos of single units against an average of three gave the
    smallest possible p in 17.5% of null runs, and placebos drawn from the controls only
    (fitted from fewer donors than the pilot) 7% false positives. Statistic: the mean
    post-launch gap over the fit's leave-one-period-out prediction error before launch (in
    :data:`CV_BLOCKS` blocks of periods when there are more; the cross-validated RMSPE; the
    in-sample RMSPE is shrunk by overfitting, more for a quiet average than a noisy one: 0.7%
    false positives with a noisier pilot unit). p-value =
    share of sets whose |statistic| is at least the pilot's (the pilot's included). The
    interval inverts the test under a constant effect d: the pilot units' post-launch
    outcomes less d, which moves every set's gap linearly (by d times its share of pilot
    units less the weight its synthetic control puts on them), {d : p(d) > alpha}; unbounded
    when the smallest attainable p exceeds alpha. A pilot fit that is degenerate (perfect, or
    as many donors with weight as pre-launch periods) is refused: p-value and interval NaN
    with the reason; degenerate sets are left out of the reference.

    ``power_observed``: the estimate removed from the pilot units and an effect of its size
    given to up to ``n_power`` other sets in turn; the share the test detects at alpha.
    """
    y = panel.matrices[outcome]
    pre, post = ~panel.post, panel.post
    pre_idx = np.flatnonzero(pre)
    n_pre = len(pre_idx)
    n, n_t = len(panel.units), panel.n_treated
    level = float(np.abs(y[:, pre]).mean()) or 1.0
    treated = np.flatnonzero(panel.treated)

    def fit(tgt: np.ndarray, pool: np.ndarray) -> np.ndarray:
        return synthetic_weights(tgt[pre], pool[:, pre].T)

    blocks = np.array_split(pre_idx, min(n_pre, CV_BLOCKS))

    def cv_rmspe(tgt: np.ndarray, pool: np.ndarray) -> float:
        # leave one pre-launch period out (a block of neighbouring periods when there are
        # more than CV_BLOCKS): the fit's honest prediction error
        errors = []
        for block in blocks:
            keep = np.setdiff1d(pre_idx, block)
            wj = synthetic_weights(tgt[keep], pool[:, keep].T)
            errors.extend(tgt[block] - pool[:, block].T @ wj)
        return float(np.sqrt(np.mean(np.square(errors))))

    exact = math.comb(n, n_t) <= max_placebos + 1
    if exact:
        sets, _ = _assignments(n, n_t, panel.treated, max_exact=max_placebos + 1,
                               n_permutations=0, seed=seed)
        own = int(np.flatnonzero((sets == treated).all(1))[0])
        sets = np.vstack([sets[own:own + 1], np.delete(sets, own, axis=0)])
    else:
        sets = np.vstack([treated[None, :],
                          _random_sets(n, n_t, max_placebos, np.random.default_rng(seed))])
    m = len(sets)
    member = np.zeros((m, n), bool)
    member[np.arange(m)[:, None], sets] = True
    weights = np.zeros((m, n))
    gap0 = np.empty(m)
    scale = np.empty(m)
    rows = []
    progress = Progress(m, f"synthetic control of {outcome}: placebo sets fitted")
    for i, s in enumerate(sets):
        progress.step()
        others = np.flatnonzero(~member[i])
        tgt = y[s].mean(0)
        w = fit(tgt, y[others])
        weights[i, others] = w
        g = tgt - y[others].T @ w
        pr = float(np.sqrt(np.mean(g[pre] ** 2)))
        po = float(np.sqrt(np.mean(g[post] ** 2)))
        bad = _degenerate_fit(w, pr, level, n_pre)
        gap0[i] = float(g[post].mean())
        scale[i] = cv_rmspe(tgt, y[others]) if not bad else math.nan
        rows.append({"unit": "+".join(str(panel.units[j]) for j in s),
                     "pilot_units": int(panel.treated[s].sum()), "estimate": gap0[i],
                     "pre_rmspe": pr, "post_rmspe": po, "ratio": po / pr if pr > 0 else math.inf,
                     "scale": scale[i], "statistic": gap0[i] / scale[i],
                     "degenerate": bool(bad), "reason": bad})
        if i == 0:
            path_gap, path_synth, w_pilot, pre_rmspe, post_rmspe = g, tgt - g, w, pr, po
            degenerate = bad
    progress.close()
    placebos = pd.DataFrame(rows[1:])
    estimate = float(gap0[0])
    # under a constant effect d every set's gap moves by -d * (its share of pilot units less
    # the weight its synthetic control puts on pilot units)
    shift = member[:, treated].sum(1) / n_t - weights[:, treated].sum(1)
    valid = np.isfinite(scale)
    notes: list[str] = []
    if (~valid[1:]).any():
        notes.append(f"{outcome}: {int((~valid[1:]).sum())} of {m - 1} placebo sets fit "
                     "their pre-launch path degenerately and are left out of the test")
    g_v, s_v, sh_v = gap0[valid], scale[valid], shift[valid]
    k_sets = int(valid.sum())
    min_p = 1.0 / k_sets if k_sets else math.nan
    p = se = lo = hi = power = math.nan

    def p_at(d: float) -> float:
        stats_ = np.abs(g_v - d * sh_v) / s_v
        obs = abs(estimate - d) / scale[0]
        return float(np.mean(stats_ >= obs * (1 - 1e-12)))

    if degenerate:
        notes.append(f"{outcome}: synthetic control not tested: {degenerate}. Its estimate is "
                     "shown; read the permutation row.")
    elif k_sets > 1:
        p = p_at(0.0)
        null = (g_v - estimate * sh_v) / s_v          # the sets' statistics under d = estimate
        se = float(np.std(null[1:], ddof=1) * scale[0])
        if min_p > alpha:
            lo, hi = -math.inf, math.inf
            notes.append(f"{outcome}: only {k_sets} sets: the smallest attainable p-value is "
                         f"{min_p:.3g} > alpha {alpha:g}, so the synthetic control cannot "
                         "declare an effect and its interval is unbounded")
        else:
            lo, hi = _inverted_interval(p_at, estimate, (se or scale[0]) or 1.0, alpha)
            power = _synthetic_power(g_v - estimate * sh_v, s_v, member[valid],
                                     weights[valid], abs(estimate), alpha=alpha,
                                     n_power=n_power, seed=seed)
    path = pd.DataFrame({"period": panel.periods, "treated": y[treated].mean(0),
                         "synthetic": path_synth, "gap": path_gap, "post": panel.post})
    donors = [u for u, t in zip(panel.units, panel.treated, strict=True) if not t]
    return SyntheticControl(outcome, pd.Series(w_pilot, index=donors, name="weight"), path,
                            estimate, pre_rmspe, post_rmspe, placebos, float(p), se, lo, hi,
                            min_p, power, degenerate, exact, float(scale[0]), notes)


def _synthetic_power(null_gap: np.ndarray, scale: np.ndarray, member: np.ndarray,
                     weights: np.ndarray, effect: float, *, alpha: float, n_power: int,
                     seed: int) -> float:
    """Share of sets (other than the pilot's, row 0) the synthetic-control test detects when
    an effect of size ``effect`` is given to their units (``null_gap``: every set's post gap
    with the estimate removed from the pilot units)."""
    m = len(null_gap)
    if m < 2 or n_power <= 0:
        return math.nan
    rng = np.random.default_rng(seed + 2)
    chosen = np.arange(1, m) if m - 1 <= n_power else rng.choice(np.arange(1, m), n_power,
                                                                   replace=False)
    k = member[0].sum()
    given = member[chosen].T.astype(float)                     # units x chosen
    moved = member.astype(float) @ given / k - weights @ given  # sets x chosen
    stats_ = np.abs(null_gap[:, None] + effect * moved) / scale[:, None]
    own = stats_[chosen, np.arange(len(chosen))]
    p_each = (stats_ >= own[None, :] * (1 - 1e-12)).mean(0)
    return float(np.mean(p_each <= alpha))


# --------------------------------------------------------------------------------------
# The did_results table
# --------------------------------------------------------------------------------------
@dataclass
class DiDResult:
    """``results`` follows the did_results contract; details per outcome alongside."""

    results: pd.DataFrame
    event_studies: dict[str, EventStudy]
    permutations: dict[str, PermutationResult]
    synthetic: dict[str, SyntheticControl]
    panel: Panel
    notes: list[str]

    def to_pandas(self) -> pd.DataFrame:
        return self.results

    def _repr_html_(self) -> str:
        notes = "".join(f"<p>{n}</p>" for n in self.notes)
        return notes + self.results.to_html(index=False)


def _check_estimable(panel: Panel, outcome: str) -> None:
    """Raise when an outcome leaves nothing to estimate: constant, or exactly a unit effect
    plus a period effect. Either way the estimate is 0 by construction and every p-value
    and interval would come from rounding noise."""
    y = panel.matrices[outcome]
    where = f"{panel.name}: outcome column {outcome!r}"
    if np.ptp(y) == 0:
        raise ValueError(f"{where} is constant ({y.flat[0]:g} in every unit and period): "
                         "there is nothing to estimate")
    residual = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
    if np.abs(residual).max() <= 1e-12 * np.abs(y).max():
        raise ValueError(f"{where} is exactly a unit effect plus a period effect (no "
                         "unit-by-period variation): the difference-in-differences is 0 by "
                         "construction and there is nothing to estimate")


def difference_in_differences(
    panel: Any,
    *,
    outcomes: Sequence[str] | None = None,
    alpha: float = 0.05,
    inference: Literal["auto", "cluster", "permutation"] = "auto",
    few_treated: int = FEW_TREATED,
    max_exact: int = 200_000,
    n_permutations: int = 9_999,
    max_placebos: int = 1000,
    seed: int = 0,
    **panel_columns: str,
) -> DiDResult:
    """Difference-in-differences for a non-randomised pilot, three ways per outcome.

    ``panel`` is a :class:`Panel`, a DataFrame or a path (column names via ``unit_col``,
    ``period_col``, ``treated_col``, ``post_col``). ``inference="auto"`` makes permutation
    inference the default row when there are at most ``few_treated`` treated units and the
    cluster-robust row otherwise. An outcome that is constant, or exactly a unit effect plus
    a period effect, raises ``ValueError``: there is nothing to estimate. Returns a
    :class:`DiDResult` whose ``results`` has the did_results columns, then: default (bool),
    df, min_p_value (the smallest p-value the design can give; NaN for the t test),
    power_observed (power to detect an effect of the estimate's size: by placebo
    assignments for the permutation and synthetic-control rows, the noncentral t for CR1;
    like any power at the observed size it follows from the p-value, and is there to show a
    design that could not have detected this size), method, note, alpha.
    """
    from scipy import stats

    check_scalar(alpha, "alpha", typ=float, gt=0, lt=0.5)
    check_scalar(inference, "inference", in_=("auto", "cluster", "permutation"))
    p = panel if isinstance(panel, Panel) else load_panel(panel, outcomes=outcomes,
                                                          **panel_columns)
    outs = list(outcomes) if outcomes else p.outcomes
    few = p.n_treated <= few_treated
    chosen = ("permutation" if (inference == "permutation" or (inference == "auto" and few))
              else "cluster")
    notes = []
    if few:
        notes.append(
            f"Only {p.n_treated} treated unit(s): cluster-robust standard errors rely on the "
            "variation of a handful of treated clusters and over-reject (Conley & Taber 2011; "
            "MacKinnon & Webb 2017), so the default inference is randomisation (permutation) "
            "over all assignments of the pilot to the same number of units, studentized by "
            "each unit's pre-launch noise, with a synthetic control (Abadie et al. 2010) and "
            "its placebo test as a check.")
    for y in outs:
        _check_estimable(p, y)
    rows = []
    studies, perms, synths = {}, {}, {}
    for y in outs:
        tw = twfe(p, y, alpha=alpha)
        es = event_study(p, y, alpha=alpha)
        pm = permutation_inference(p, y, alpha=alpha, max_exact=max_exact,
                                   n_permutations=n_permutations, seed=seed)
        sc = synthetic_control(p, y, alpha=alpha, max_placebos=max_placebos, seed=seed)
        studies[y], perms[y], synths[y] = es, pm, sc
        notes.extend(pm.notes + sc.notes)
        base = {"metric": y, "n_treated_units": p.n_treated, "n_control_units": p.n_control}
        ncp = tw["estimate"] / tw["se"] if tw["se"] > 0 else math.inf
        crit = stats.t.ppf(1 - alpha / 2, tw["df"])
        with np.errstate(all="ignore"):
            cr1_power = float(stats.nct.sf(crit, tw["df"], abs(ncp))
                              + stats.nct.cdf(-crit, tw["df"], abs(ncp)))
        if not np.isfinite(cr1_power):        # scipy's nct fails far in the tail
            cr1_power = float(stats.norm.sf(crit - abs(ncp)) + stats.norm.cdf(-crit - abs(ncp)))
        cr1_pre = es.pre_trend_p_value
        pre_text = es.pre_trend_method
        if not np.isfinite(cr1_pre):
            cr1_pre = pm.pre_trend_p_value
            pre_text += "; the column holds the permutation pre-trend test"
        rows.append({**base, "estimate": tw["estimate"], "se": tw["se"], "ci_low": tw["ci_low"],
                     "ci_high": tw["ci_high"], "p_value": tw["p_value"],
                     "inference": "cluster-robust (CR1)",
                     "pre_trend_p_value": cr1_pre, "default": chosen == "cluster",
                     "df": tw["df"], "min_p_value": math.nan, "power_observed": cr1_power,
                     "method": ("two-way fixed effects OLS (unit and period), SE clustered by "
                                "unit, CR1 correction G/(G-1)*(N-1)/(N-K), t with G-1 df; "
                                "pre-trend: " + pre_text),
                     "note": ("unreliable with few treated units" if few else "")})
        kind = "exact, all" if pm.exact else "Monte Carlo,"
        rows.append({**base, "estimate": pm.estimate, "se": float(np.std(pm.distribution)),
                     "ci_low": pm.ci_low, "ci_high": pm.ci_high, "p_value": pm.p_value,
                     "inference": "permutation", "pre_trend_p_value": pm.pre_trend_p_value,
                     "default": chosen == "permutation", "df": math.nan,
                     "min_p_value": pm.min_p_value, "power_observed": pm.power_observed,
                     "method": (("studentized " if pm.studentized else "")
                                + f"randomisation inference ({kind} {pm.n_assignments} "
                                "assignments of the treatment to units; each unit's change "
                                "divided by its pre-launch noise); reject when p <= alpha; "
                                "interval by test inversion under a constant effect; "
                                "pre-trend: permutation test of the units' linear pre-launch "
                                "trend t statistics"),
                     "note": ("cannot reject at this alpha: smallest attainable p "
                              f"{pm.min_p_value:.3g}" if pm.min_p_value > alpha else "")})
        used = int((sc.weights > WEIGHT_USED).sum())
        sets = (f"re-assignment to {len(sc.placebos)} other sets of {p.n_treated} unit(s), "
                "each fitted from all other units")
        rows.append({**base, "estimate": sc.estimate, "se": sc.se, "ci_low": sc.ci_low,
                     "ci_high": sc.ci_high, "p_value": sc.p_value,
                     "inference": "synthetic control", "pre_trend_p_value": math.nan,
                     "default": False, "df": math.nan, "min_p_value": sc.min_p_value,
                     "power_observed": sc.power_observed,
                     "method": (f"synthetic control of the treated average (Abadie et al. "
                                f"2010), {used} donors with weight; p-value by {sets} "
                                "(mean post-launch gap over the cross-validated pre-launch "
                                "RMSPE); interval by "
                                "inverting that test under a constant effect"),
                     "note": (f"not tested: {sc.degenerate}" if sc.degenerate
                              else f"pre-launch RMSPE {sc.pre_rmspe:.3g}")})
    results = pd.DataFrame(rows)
    results["alpha"] = alpha  # every interval of the table is at 1 - alpha
    extra = [c for c in results.columns if c not in DID_RESULTS_COLUMNS]
    return DiDResult(results[DID_RESULTS_COLUMNS + extra], studies, perms, synths, p, notes)
