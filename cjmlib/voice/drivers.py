"""Key-driver analysis: which touchpoint satisfactions drive overall satisfaction, NPS or churn.

Correlated drivers make regression coefficients a poor guide to importance, so importance is
the share of the explained variance (R^2 of a linear regression of the outcome on the
drivers) that each driver accounts for:

* ``method="shapley"``: Shapley value decomposition of R^2, also called LMG or dominance
  analysis -- each driver's R^2 gain averaged over all orders of entry (Lindeman, Merenda &
  Gold 1980; Lipovetsky & Conklin 2001; Groemping 2006, "Relative importance for linear
  regression in R: the package relaimpo", JSS 17(1)). Exact, over all 2^p subsets (p <= 15).
* ``method="relative_weights"``: Johnson's (2000) relative weights, the R^2 shares of an
  orthogonal approximation of the drivers (fast for many drivers, close to Shapley).

R^2 of every subset is computed from the correlation matrix, so a bootstrap (resampling
respondents, percentile intervals; Efron & Tibshirani 1993) costs little. A binary outcome
(churned 0/1) is treated as a linear probability model; its R^2 is then the share of variance
of churn explained.

:func:`driver_data` turns the feedback table's relationship survey (one row per item and an
overall row per ``response_id``) into one row per respondent; :func:`importance_performance`
sets importance against performance (mean item score) in the four quadrants of Martilla &
James (1977, "Importance-performance analysis", Journal of Marketing 41(1)).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns, check_scalar

Method = Literal["shapley", "relative_weights"]
_MAX_SHAPLEY_DRIVERS = 15


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def driver_data(
    feedback: pd.DataFrame,
    *,
    survey: str = "relationship",
    respondent_col: str = "response_id",
    customers: pd.DataFrame | None = None,
    churn_col: str | None = None,
) -> pd.DataFrame:
    """One row per respondent of a relationship survey: item scores and the overall answers.

    In ``feedback``, rows of ``survey`` sharing ``respondent_col`` are one response: rows with
    a touchpoint hold that item's score (``csat``), the row without a touchpoint holds the
    overall answers (``csat`` = overall satisfaction, ``nps`` = likelihood to recommend).
    Returns ``respondent_col``, ``customer_id``, ``overall_csat``, ``overall_nps``, one column
    per touchpoint (item score; their names are in ``attrs["drivers"]``) and, when
    ``customers`` and ``churn_col`` are given, ``churned`` (1 when ``churn_col`` is true or
    ``"churned"``, NaN for respondents not in the customers table).

    Raises ``ValueError`` when the survey is absent or no response has an overall row.
    """
    check_columns(feedback, ["customer_id", "touchpoint", "csat", "nps", respondent_col],
                  what="feedback table")
    rows = feedback
    if "survey" in feedback.columns:
        rows = feedback[feedback["survey"] == survey]
        if rows.empty:
            found = sorted(feedback["survey"].dropna().unique().tolist())
            raise ValueError(f"feedback table: no rows of survey {survey!r}; found {found}")
    items = rows[rows["touchpoint"].notna()]
    overall = rows[rows["touchpoint"].isna()]
    if overall.empty:
        raise ValueError(f"feedback table: survey {survey!r} has no overall rows (touchpoint "
                         "null, holding overall satisfaction and likelihood to recommend)")
    if items.empty:
        raise ValueError(f"feedback table: survey {survey!r} has no item rows (a touchpoint "
                         "and its csat score)")
    if overall[respondent_col].duplicated().any():
        dup = overall.loc[overall[respondent_col].duplicated(), respondent_col].iloc[0]
        raise ValueError(f"feedback table: response {dup!r} of survey {survey!r} has more than "
                         "one overall row")
    wide = items.pivot_table(index=respondent_col, columns="touchpoint", values="csat",
                             aggfunc="mean")
    wide.columns = [str(c) for c in wide.columns]
    base = overall.set_index(respondent_col)[["customer_id", "csat", "nps"]].rename(
        columns={"csat": "overall_csat", "nps": "overall_nps"})
    out = base.join(wide, how="left").reset_index()
    if customers is not None and churn_col is not None:
        out["churned"] = out["customer_id"].map(churn_flags(customers, churn_col))
    out.attrs["drivers"] = list(wide.columns)
    return out


def churn_flags(customers: pd.DataFrame, churn_col: str) -> pd.Series:
    """1.0 / 0.0 per ``customer_id`` from a churn column (booleans, 0/1, or text such as
    ``"churned"``/``"active"``, ``"true"``/``"false"``); NaN where it is empty."""
    check_columns(customers, ["customer_id", churn_col], what="customers table")
    flag = customers.drop_duplicates("customer_id").set_index("customer_id")[churn_col]
    known = flag.notna()
    if flag.dtype == object or pd.api.types.is_string_dtype(flag):
        flag = flag.astype("string").str.strip().str.lower().isin(
            ["churned", "true", "1", "yes", "y"])
    return flag.astype(float).where(known)


# --------------------------------------------------------------------------------------------
# Relative importance
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _subsets(p: int) -> list[tuple[int, tuple[np.ndarray, np.ndarray], list[int]]]:
    """Bit mask, ``np.ix_`` block index and member list of every non-empty subset of p
    drivers (built once per p: a bootstrap asks for them 500 times)."""
    out = []
    for mask in range(1, 2**p):
        idx = [j for j in range(p) if mask >> j & 1]
        out.append((mask, np.ix_(idx, idx), idx))
    return out


def _subset_r2(corr: np.ndarray, p: int) -> np.ndarray:
    """R^2 of the outcome (last row/column of ``corr``) on every subset of the p drivers,
    indexed by the subset's bit mask."""
    rxx, rxy = corr[:p, :p], corr[:p, p]
    r2 = np.zeros(2**p)
    for mask, block, idx in _subsets(p):
        b = np.linalg.lstsq(rxx[block], rxy[idx], rcond=None)[0]
        r2[mask] = float(rxy[idx] @ b)
    return r2


def _shapley_weights(p: int) -> dict[int, float]:
    # weight of a subset of size s (not holding j) in j's Shapley value
    return {s: math.factorial(s) * math.factorial(p - s - 1) / math.factorial(p)
            for s in range(p)}


def shapley_r2(corr: np.ndarray) -> np.ndarray:
    """Shapley decomposition of R^2 from the correlation matrix of (drivers..., outcome).

    >>> corr = np.array([[1, 0, .5], [0, 1, .3], [.5, .3, 1]])
    >>> np.round(shapley_r2(corr), 3).tolist()   # uncorrelated drivers: r^2 each
    [0.25, 0.09]
    """
    p = corr.shape[0] - 1
    r2 = _subset_r2(corr, p)
    weights = _shapley_weights(p)
    sizes = np.array([bin(m).count("1") for m in range(2**p)])
    out = np.zeros(p)
    for j in range(p):
        bit = 1 << j
        masks = np.array([m for m in range(2**p) if not m & bit])
        w = np.array([weights[s] for s in sizes[masks]])
        out[j] = float(np.sum(w * (r2[masks | bit] - r2[masks])))
    return out


def relative_weights(corr: np.ndarray) -> np.ndarray:
    """Johnson's (2000) relative weights from the correlation matrix of (drivers..., outcome);
    they add up to R^2.

    >>> corr = np.array([[1, 0, .5], [0, 1, .3], [.5, .3, 1]])
    >>> np.round(relative_weights(corr), 3).tolist()
    [0.25, 0.09]
    """
    p = corr.shape[0] - 1
    rxx, rxy = corr[:p, :p], corr[:p, p]
    values, vectors = np.linalg.eigh(rxx)
    values = np.clip(values, 0, None)
    lam = vectors @ np.diag(np.sqrt(values)) @ vectors.T  # correlations of X with orthogonal Z
    beta = np.linalg.lstsq(lam, rxy, rcond=None)[0]
    return (lam**2) @ (beta**2)


def _importance(corr: np.ndarray, method: Method) -> tuple[np.ndarray, float]:
    raw = shapley_r2(corr) if method == "shapley" else relative_weights(corr)
    return raw, float(raw.sum())


def _resample_correlation(distinct: np.ndarray, drawn: np.ndarray) -> np.ndarray | None:
    """Correlation matrix of a resample given as the distinct rows of the data and how often
    each was drawn (the same matrix as ``np.corrcoef`` of the drawn rows, to rounding: survey
    answers repeat, so this sums over far fewer rows); None when a column is constant among
    the drawn rows."""
    used = drawn > 0
    rows, weight = distinct[used], drawn[used]
    if np.any(np.ptp(rows, axis=0) == 0):
        return None
    centred = rows - weight @ rows / weight.sum()
    cov = (centred * weight[:, None]).T @ centred
    sd = np.sqrt(np.diag(cov))
    return np.clip(cov / np.outer(sd, sd), -1.0, 1.0)


@dataclass
class KeyDriverResult:
    """Relative importance of drivers of one outcome, with bootstrap intervals.

    ``table``: one row per driver -- ``driver``, ``importance`` (R^2 accounted for by the
    driver, with percentile ``importance_ci_low``/``_high``), ``share`` (importance / R^2,
    with interval), ``rank`` (1 = most important) and ``rank_stability`` (share of bootstrap
    samples in which the driver kept that rank), ``correlation`` (with the outcome),
    ``performance`` (mean driver score, t interval ``performance_ci_low``/``_high``).
    ``r2`` with ``r2_ci_low``/``_high``; ``n`` respondents used (``n_dropped`` with a missing
    driver or outcome, left out listwise). The other fields echo the inputs.
    """

    outcome: str
    method: str
    n: int
    n_dropped: int
    n_boot: int
    seed: int
    r2: float
    r2_ci_low: float
    r2_ci_high: float
    table: pd.DataFrame = field(repr=False)
    #: intervals are at 1 - alpha
    alpha: float = 0.05

    def to_pandas(self) -> pd.DataFrame:
        """The driver table, with the outcome, method, n and R^2 repeated on every row."""
        out = self.table.copy()
        out.insert(0, "outcome", self.outcome)
        out["method"] = self.method
        out["n"] = self.n
        out["r2"], out["r2_ci_low"], out["r2_ci_high"] = self.r2, self.r2_ci_low, self.r2_ci_high
        out["alpha"] = self.alpha
        return out

    @property
    def level_text(self) -> str:
        """The interval level as text, e.g. ``95%``."""
        return f"{100 * (1 - self.alpha):.3g}%"

    def summary(self, *, min_r2: float = 0.1) -> str:
        """One paragraph a researcher can paste into a report. When R^2 is below ``min_r2``
        the drivers explain too little of the outcome for any of them to be called key, and
        the paragraph says so instead."""
        top = self.table.iloc[0]
        if self.r2 < min_r2:
            return (f"The drivers explain little of {self.outcome}: R^2 = {self.r2:.2f} ({self.level_text} CI "
                    f"{self.r2_ci_low:.2f} to {self.r2_ci_high:.2f}, {self.method.replace('_', ' ')}"
                    f" decomposition, n = {self.n}); no key driver is named.")
        return (f"Key drivers of {self.outcome} ({self.method.replace('_', ' ')} decomposition "
                f"of R^2, n = {self.n}, {self.n_boot} bootstrap samples): R^2 = {self.r2:.2f} "
                f"({self.level_text} CI {self.r2_ci_low:.2f} to {self.r2_ci_high:.2f}). The strongest driver "
                f"is {top['driver']}, accounting for {100 * top['share']:.0f}% of the explained "
                f"variance ({self.level_text} CI {100 * top['share_ci_low']:.0f}% to "
                f"{100 * top['share_ci_high']:.0f}%); it ranked first in "
                f"{100 * top['rank_stability']:.0f}% of bootstrap samples.")

    def _repr_html_(self) -> str:
        return self.to_pandas()._repr_html_()  # type: ignore[operator]


def key_drivers(
    data: pd.DataFrame,
    *,
    drivers: Sequence[str],
    outcome: str,
    method: Method = "shapley",
    n_boot: int = 500,
    seed: int = 0,
    alpha: float = 0.05,
) -> KeyDriverResult:
    """Relative importance of ``drivers`` for ``outcome`` with bootstrap intervals.

    ``data`` has one row per respondent (see :func:`driver_data`); rows with any missing
    driver or outcome are left out (counted in ``n_dropped``). ``method``: ``"shapley"``
    (exact Shapley/LMG decomposition of R^2, up to 15 drivers) or ``"relative_weights"``
    (Johnson 2000). ``n_boot`` bootstrap resamples of respondents give percentile intervals
    at level ``1 - alpha``; ``seed`` makes them reproducible. See :class:`KeyDriverResult`.

    Raises ``ValueError`` for a missing column, fewer than two drivers, a constant driver or
    outcome, or fewer than ``len(drivers) + 10`` complete rows.
    """
    from cjmlib.stats.intervals import mean_interval

    check_scalar(method, "method", in_=("shapley", "relative_weights"))
    check_scalar(n_boot, "n_boot", typ=int, ge=0)
    check_scalar(seed, "seed", typ=int, ge=0)
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    drivers = list(drivers)
    if len(drivers) < 2:
        raise ValueError(f"drivers: need at least two drivers to share R^2; got {drivers}")
    if len(set(drivers)) != len(drivers) or outcome in drivers:
        raise ValueError(f"drivers must be distinct and exclude the outcome {outcome!r}; "
                         f"got {drivers}")
    if method == "shapley" and len(drivers) > _MAX_SHAPLEY_DRIVERS:
        raise ValueError(f"method='shapley' handles up to {_MAX_SHAPLEY_DRIVERS} drivers "
                         f"(2^p subsets); got {len(drivers)}: use method='relative_weights'")
    check_columns(data, [*drivers, outcome], what="driver data")
    frame = data[[*drivers, outcome]].apply(pd.to_numeric, errors="coerce")
    complete = frame.dropna()
    n, p = len(complete), len(drivers)
    if n < p + 10:
        raise ValueError(f"driver data: {n} complete rows (of {len(frame)}) for {p} drivers; "
                         f"expected at least {p + 10}")
    x = complete.to_numpy(float)
    constant = [c for c, sd in zip([*drivers, outcome], x.std(axis=0), strict=True) if sd == 0]
    if constant:
        raise ValueError(f"driver data: column(s) {constant} are constant over the {n} "
                         "complete rows; importance is undefined")
    raw, r2 = _importance(np.corrcoef(x, rowvar=False), method)
    rng = np.random.default_rng(seed)
    boot_raw = np.full((n_boot, p), np.nan)
    boot_r2 = np.full(n_boot, np.nan)
    distinct, row_of = np.unique(x, axis=0, return_inverse=True)
    row_of = row_of.ravel()
    for b in range(n_boot):
        drawn = np.bincount(row_of[rng.integers(0, n, n)], minlength=len(distinct))
        corr = _resample_correlation(distinct, drawn.astype(float))
        if corr is None:
            continue  # a resample with a constant column has no correlation matrix
        boot_raw[b], boot_r2[b] = _importance(corr, method)
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    order = np.argsort(-raw, kind="stable")
    rank = np.empty(p, dtype=int)
    rank[order] = np.arange(1, p + 1)
    rows = []
    ok = ~np.isnan(boot_r2)
    boot_share = boot_raw[ok] / boot_r2[ok, None]
    boot_rank = (-boot_raw[ok]).argsort(axis=1).argsort(axis=1) + 1
    for j, name in enumerate(drivers):
        imp_ci = np.percentile(boot_raw[ok, j], q) if ok.any() else [np.nan, np.nan]
        share_ci = np.percentile(boot_share[:, j], q) if ok.any() else [np.nan, np.nan]
        n_j, perf, p_lo, p_hi = mean_interval(complete[name].to_numpy(float), alpha=alpha)
        rows.append({
            "driver": name, "importance": raw[j], "importance_ci_low": imp_ci[0],
            "importance_ci_high": imp_ci[1], "share": raw[j] / r2, "share_ci_low": share_ci[0],
            "share_ci_high": share_ci[1], "rank": int(rank[j]),
            "rank_stability": float(np.mean(boot_rank[:, j] == rank[j])) if ok.any()
            else np.nan,
            "correlation": float(np.corrcoef(x[:, j], x[:, -1])[0, 1]),
            "performance": perf, "performance_ci_low": p_lo, "performance_ci_high": p_hi,
        })
    table = pd.DataFrame(rows).sort_values("rank").reset_index(drop=True)
    r2_ci = np.percentile(boot_r2[ok], q) if ok.any() else [np.nan, np.nan]
    return KeyDriverResult(outcome=outcome, method=method, n=n, n_dropped=len(frame) - n,
                           n_boot=n_boot, seed=seed, r2=r2, r2_ci_low=float(r2_ci[0]),
                           r2_ci_high=float(r2_ci[1]), table=table, alpha=alpha)


def importance_performance(result: KeyDriverResult) -> pd.DataFrame:
    """Importance-performance quadrants (Martilla & James 1977) of a key-driver result.

    Importance is the driver's ``share`` of R^2, performance its mean score; the cross-hairs
    are the mean share (1 / number of drivers) and the mean performance over drivers.
    Quadrants: ``concentrate here`` (important, performing below average), ``keep up the good
    work`` (important, above), ``low priority`` (less important, below), ``possible
    overkill`` (less important, above). Returns the driver table with ``importance_cut``,
    ``performance_cut`` and ``quadrant``, most important first.
    """
    t = result.table.copy()
    imp_cut = 1.0 / len(t)
    perf_cut = float(t["performance"].mean())
    important = t["share"] >= imp_cut
    good = t["performance"] >= perf_cut
    t["importance_cut"], t["performance_cut"] = imp_cut, perf_cut
    t["quadrant"] = np.select(
        [important & ~good, important & good, ~important & ~good],
        ["concentrate here", "keep up the good work", "low priority"], "possible overkill")
    t.insert(0, "outcome", result.outcome)
    t["alpha"] = result.alpha
    return t

