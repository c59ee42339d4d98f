"""Non-randomised pilots on a panel: difference-in-differences, event study, permutation
inference and synthetic control.

Input: the DESIGN.md ``panel`` table (unit, period, treated, post, outcome columns), one row
per unit and period, balanced, with a common launch (``post`` depends on the period only).

Three estimates per outcome, one row each in ``did_results``:

* ``cluster-robust (CR1)`` -- two-way fixed-effects regression
  ``y_it = a_i + g_t + beta * treated_i * post_t + e_it`` (statsmodels OLS) with standard
  errors clustered by unit: CR1 small-sample correction ``G/(G-1) * (N-1)/(N-K)`` and a t
  distribution with ``G - 1`` degrees of freedom. ``pre_trend_p_value``: joint Wald F test of
  the event-study leads (periods before the last pre-launch period) with the same covariance.
* ``permutation`` -- randomisation inference (Fisher 1935; for DiD, Conley & Taber 2011,
  MacKinnon & Webb 2020): the same estimate is recomputed with the treatment given to every
  other set of the same number of units (all of them when there are at most
  ``max_exact`` sets, else ``n_permutations`` random ones); p-value = share of estimates at
  least as large in absolute value; the interval inverts the test under a constant effect;
  ``se`` is the standard deviation of the permutation distribution. Pre-trend test: the
  same permutation scheme for the sum of squared event-study leads.
* ``synthetic control`` -- Abadie, Diamond & Hainmueller (2010): non-negative donor weights
  summing to one that best reproduce the treated units' average pre-launch path; estimate =
  mean post-launch gap; p-value from in-space placebos (each control unit in turn), ranked by
  post/pre RMSPE ratio; interval = estimate minus the central (1 - alpha) range of placebo
  gaps; ``se`` = standard deviation of placebo gaps.

With few treated units (1-5 by default) cluster-robust errors are unreliable: the variance
of the treated side is estimated from a handful of clusters and tests over-reject badly
(Conley & Taber 2011; MacKinnon & Webb 2017). The ``default`` column then points at the
permutation row, and the synthetic-control row is the robustness check.
"""

from __future__ import annotations

import itertools
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

#: Column contract of ``did_results`` (DESIGN.md); extra columns follow these.
DID_RESULTS_COLUMNS = [
    "metric", "estimate", "se", "ci_low", "ci_high", "p_value", "inference",
    "n_treated_units", "n_control_units", "pre_trend_p_value",
]
#: Up to this many treated units, permutation inference is the default.
FEW_TREATED = 5


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


def event_study(panel: Panel, outcome: str, *, alpha: float = 0.05) -> EventStudy:
    """Dynamic two-way fixed-effects regression with one coefficient per event time
    (treated x period, the period before launch as reference), CR1 cluster-robust errors.

    In a balanced panel with a common launch each coefficient equals
    ``(mean_T[k] - mean_T[ref]) - (mean_C[k] - mean_C[ref])``. The pre-trend test is the joint
    Wald F test that every lead (k < -1) is zero, F(q, G - 1).
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
    if leads:
        r = np.zeros((len(leads), x.shape[1]))
        for row, i in enumerate(leads):
            r[row, i] = 1.0
        test = fit.f_test(r)
        stat, p = float(np.squeeze(test.fvalue)), float(test.pvalue)
    else:
        stat, p = math.nan, math.nan
    return EventStudy(outcome, coef, stat, p,
                      f"joint Wald F test of {len(leads)} leads, CR1 cluster-robust, "
                      f"F({len(leads)}, {len(panel.units) - 1})")


# --------------------------------------------------------------------------------------
# Randomisation (permutation) inference
# --------------------------------------------------------------------------------------
@dataclass
class PermutationResult:
    """Permutation distribution of the DiD estimate and the pre-trend statistic."""

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


def _assignments(n_units: int, n_treated: int, observed: np.ndarray, *, max_exact: int,
                 n_permutations: int, seed: int) -> tuple[np.ndarray, bool]:
    """Index sets of treated units: all combinations, or random ones plus the observed."""
    total = math.comb(n_units, n_treated)
    if total <= max_exact:
        combos = np.fromiter(itertools.chain.from_iterable(
            itertools.combinations(range(n_units), n_treated)), dtype=np.int64,
            count=total * n_treated).reshape(total, n_treated)
        return combos, True
    rng = np.random.default_rng(seed)
    draws = np.argsort(rng.random((n_permutations, n_units)), axis=1)[:, :n_treated]
    return np.vstack([np.flatnonzero(observed)[None, :], np.sort(draws, axis=1)]), False


def permutation_inference(panel: Panel, outcome: str, *, alpha: float = 0.05,
                          max_exact: int = 200_000, n_permutations: int = 9_999,
                          seed: int = 0) -> PermutationResult:
    """Randomisation inference for the DiD estimate (see the module docstring).

    In a balanced panel with a common launch the two-way fixed-effects estimate equals
    ``mean_T(delta_i) - mean_C(delta_i)``, delta_i = unit i's post mean minus pre mean, so every
    re-assignment is a difference of means over the per-unit deltas.
    """
    y = panel.matrices[outcome]
    post = panel.post
    delta = y[:, post].mean(1) - y[:, ~post].mean(1)
    n, n_t = len(panel.units), panel.n_treated
    combos, exact = _assignments(n, n_t, panel.treated, max_exact=max_exact,
                                 n_permutations=n_permutations, seed=seed)
    total = delta.sum()

    def stat(values: np.ndarray) -> np.ndarray:
        s = values[combos].sum(1) if values.ndim == 1 else values[combos].sum(1)
        return s / n_t - (values.sum(0) - s) / (n - n_t)

    dist = stat(delta)
    observed = float(delta[panel.treated].mean() - delta[~panel.treated].mean())
    tol = 1e-12 * max(1.0, abs(observed))
    p = float(np.mean(np.abs(dist) >= abs(observed) - tol))
    # inversion under a constant effect d: treated deltas shift by d
    share_t = panel.treated.astype(float)[combos].sum(1)
    b = share_t / n_t - (n_t - share_t) / (n - n_t)

    def p_at(d: float) -> float:
        obs = abs(observed - d)
        return float(np.mean(np.abs(dist - d * b) >= obs - 1e-12 * max(1.0, obs)))

    spread = float(np.std(dist)) or 1.0

    def bound(direction: float) -> float:
        inside, outside = observed, observed + direction * spread
        while p_at(outside) >= alpha:
            outside += direction * spread
            if abs(outside - observed) > 1e3 * spread:
                return math.inf * direction
        for _ in range(100):
            mid = (inside + outside) / 2
            if p_at(mid) >= alpha:
                inside = mid
            else:
                outside = mid
        return inside

    del total
    # pre-trend: event-study leads relative to the last pre period, sum of squares
    ref = panel.launch - 1
    leads = [k for k in range(ref) if True]
    if leads:
        m = y[:, leads] - y[:, [ref]]
        s = m[combos].sum(1)
        beta = s / n_t - (m.sum(0) - s) / (n - n_t)
        pre_stat_dist = (beta ** 2).sum(1)
        obs_beta = m[panel.treated].mean(0) - m[~panel.treated].mean(0)
        pre_obs = float((obs_beta ** 2).sum())
        pre_p = float(np.mean(pre_stat_dist >= pre_obs - 1e-12 * max(1.0, pre_obs)))
    else:
        pre_obs, pre_p = math.nan, math.nan
    return PermutationResult(outcome, observed, dist, p, bound(-1.0), bound(1.0), exact,
                             len(combos), pre_obs, pre_p)


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


@dataclass
class SyntheticControl:
    """Synthetic-control fit of the treated units' average and its in-space placebos."""

    outcome: str
    weights: pd.Series
    path: pd.DataFrame            # period, treated, synthetic, gap, post
    estimate: float
    pre_rmspe: float
    post_rmspe: float
    placebos: pd.DataFrame        # unit, estimate, pre_rmspe, post_rmspe, ratio
    p_value: float
    se: float
    ci_low: float
    ci_high: float


def synthetic_control(panel: Panel, outcome: str, *, alpha: float = 0.05) -> SyntheticControl:
    """Synthetic control for the average of the treated units, with in-space placebos.

    p-value = (1 + number of placebos whose post/pre RMSPE ratio is at least the treated
    one) / (1 + number of placebos) (Abadie et al. 2010, sec. 4).
    """
    y = panel.matrices[outcome]
    pre, post = ~panel.post, panel.post
    donors = y[~panel.treated]
    donor_names = [u for u, t in zip(panel.units, panel.treated, strict=True) if not t]
    target = y[panel.treated].mean(0)

    def fit(tgt: np.ndarray, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        w = synthetic_weights(tgt[pre], pool[:, pre].T)
        return w, pool.T @ w

    w, synth = fit(target, donors)
    gap = target - synth
    pre_rmspe = float(np.sqrt(np.mean(gap[pre] ** 2)))
    post_rmspe = float(np.sqrt(np.mean(gap[post] ** 2)))
    estimate = float(gap[post].mean())
    rows = []
    for j, name in enumerate(donor_names):
        others = np.delete(donors, j, axis=0)
        _, s = fit(donors[j], others)
        g = donors[j] - s
        pr = float(np.sqrt(np.mean(g[pre] ** 2)))
        po = float(np.sqrt(np.mean(g[post] ** 2)))
        rows.append({"unit": name, "estimate": float(g[post].mean()), "pre_rmspe": pr,
                     "post_rmspe": po, "ratio": po / pr if pr > 0 else math.inf})
    placebos = pd.DataFrame(rows)
    ratio = post_rmspe / pre_rmspe if pre_rmspe > 0 else math.inf
    p = (1 + int((placebos["ratio"] >= ratio).sum())) / (1 + len(placebos))
    lo_q, hi_q = np.quantile(placebos["estimate"], [alpha / 2, 1 - alpha / 2])
    path = pd.DataFrame({"period": panel.periods, "treated": target, "synthetic": synth,
                         "gap": gap, "post": panel.post})
    return SyntheticControl(outcome, pd.Series(w, index=donor_names, name="weight"), path,
                            estimate, pre_rmspe, post_rmspe, placebos, float(p),
                            float(placebos["estimate"].std(ddof=1)), estimate - float(hi_q),
                            estimate - float(lo_q))


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
    seed: int = 0,
    **panel_columns: str,
) -> DiDResult:
    """Difference-in-differences for a non-randomised pilot, three ways per outcome.

    ``panel`` is a :class:`Panel`, a DataFrame or a path (column names via ``unit_col``,
    ``period_col``, ``treated_col``, ``post_col``). ``inference="auto"`` makes permutation
    inference the default row when there are at most ``few_treated`` treated units and the
    cluster-robust row otherwise. An outcome that is constant, or exactly a unit effect plus
    a period effect, raises ``ValueError``: there is nothing to estimate. Returns a :class:`DiDResult` whose ``results`` has the
    did_results columns, then: default (bool), df, method, note.
    """
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
            "over all assignments of the pilot to the same number of units, with a synthetic "
            "control (Abadie et al. 2010) and its placebo test as a check.")
    for y in outs:
        _check_estimable(p, y)
    rows = []
    studies, perms, synths = {}, {}, {}
    for y in outs:
        tw = twfe(p, y, alpha=alpha)
        es = event_study(p, y, alpha=alpha)
        pm = permutation_inference(p, y, alpha=alpha, max_exact=max_exact,
                                   n_permutations=n_permutations, seed=seed)
        sc = synthetic_control(p, y, alpha=alpha)
        studies[y], perms[y], synths[y] = es, pm, sc
        base = {"metric": y, "n_treated_units": p.n_treated, "n_control_units": p.n_control}
        rows.append({**base, "estimate": tw["estimate"], "se": tw["se"], "ci_low": tw["ci_low"],
                     "ci_high": tw["ci_high"], "p_value": tw["p_value"],
                     "inference": "cluster-robust (CR1)",
                     "pre_trend_p_value": es.pre_trend_p_value, "default": chosen == "cluster",
                     "df": tw["df"],
                     "method": ("two-way fixed effects OLS (unit and period), SE clustered by "
                                "unit, CR1 correction G/(G-1)*(N-1)/(N-K), t with G-1 df; "
                                "pre-trend: " + es.pre_trend_method),
                     "note": ("unreliable with few treated units" if few else "")})
        kind = "exact, all" if pm.exact else "Monte Carlo,"
        rows.append({**base, "estimate": pm.estimate, "se": float(np.std(pm.distribution)),
                     "ci_low": pm.ci_low, "ci_high": pm.ci_high, "p_value": pm.p_value,
                     "inference": "permutation", "pre_trend_p_value": pm.pre_trend_p_value,
                     "default": chosen == "permutation", "df": math.nan,
                     "method": (f"randomisation inference ({kind} {pm.n_assignments} "
                                "assignments of the treatment to units); interval by test "
                                "inversion under a constant effect; pre-trend: permutation "
                                "test of the sum of squared event-study leads"),
                     "note": ""})
        rows.append({**base, "estimate": sc.estimate, "se": sc.se, "ci_low": sc.ci_low,
                     "ci_high": sc.ci_high, "p_value": sc.p_value,
                     "inference": "synthetic control", "pre_trend_p_value": math.nan,
                     "default": False, "df": math.nan,
                     "method": (f"synthetic control of the treated average (Abadie et al. "
                                f"2010), {int((sc.weights > 1e-6).sum())} donors with weight; "
                                f"p-value by {len(sc.placebos)} in-space placebos (RMSPE "
                                "ratio); interval from placebo gaps"),
                     "note": f"pre-launch RMSPE {sc.pre_rmspe:.3g}"})
    results = pd.DataFrame(rows)
    results["alpha"] = alpha  # every interval of the table is at 1 - alpha
    extra = [c for c in results.columns if c not in DID_RESULTS_COLUMNS]
    return DiDResult(results[DID_RESULTS_COLUMNS + extra], studies, perms, synths, p, notes)
