"""The workbench's one interval for each kind of estimate: proportion, mean, NPS, and the
difference of two proportions or two Poisson rates.

Every proportion interval in the library comes from :func:`wilson_interval` (the journey
modules through :func:`add_rate`, so each rate carries its denominator, a Wilson score
interval at the caller's ``alpha`` and, where asked, a small-cell flag); every mean of a
score from :func:`mean_interval`; every Net Promoter Score from :func:`nps_interval`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

#: Cells with fewer units than this are flagged ``small_cell`` (shown, never hidden).
MIN_CELL = 30


def wilson_interval(successes: Any, trials: Any, *, alpha: float = 0.05) -> tuple[Any, Any]:
    """Wilson score interval (Wilson 1927) via ``statsmodels.stats.proportion.proportion_confint``.

    Returns ``(low, high)``: arrays for array input, floats for two scalars; cells with
    ``trials == 0`` get NaN (there is no rate).

    >>> low, high = wilson_interval(np.array([5]), np.array([10]))
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.2366, 0.7634)
    >>> wilson_interval(0, 0)
    (nan, nan)
    """
    from statsmodels.stats.proportion import proportion_confint

    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    low = np.full(k.shape, np.nan)
    high = np.full(k.shape, np.nan)
    ok = n > 0
    if ok.any():
        lo, hi = proportion_confint(k[ok], n[ok], alpha=alpha, method="wilson")
        low[ok], high[ok] = lo, hi
    if k.ndim == 0 and n.ndim == 0:
        return float(low), float(high)
    return low, high


def add_rate(frame: pd.DataFrame, name: str, successes: str, trials: str,
             *, alpha: float = 0.05) -> pd.DataFrame:
    """Add ``name`` (= successes / trials), ``name_ci_low`` and ``name_ci_high`` in place."""
    k = frame[successes].to_numpy(dtype=float)
    n = frame[trials].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame[name] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    frame[f"{name}_ci_low"], frame[f"{name}_ci_high"] = wilson_interval(k, n, alpha=alpha)
    return frame


def mean_interval(values: Iterable[float], *, alpha: float = 0.05
                  ) -> tuple[int, float, float, float]:
    """``(n, mean, ci_low, ci_high)``: Student-t interval of the mean; NaN bounds when n < 2.

    >>> n, m, lo, hi = mean_interval([1, 2, 3, 4, 5])
    >>> n, m, round(lo, 3), round(hi, 3)
    (5, 3.0, 1.037, 4.963)
    """
    from scipy import stats

    x = np.asarray(list(values) if not isinstance(values, (np.ndarray, pd.Series)) else values,
                   dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    if n == 0:
        return 0, np.nan, np.nan, np.nan
    mean = float(x.mean())
    if n < 2:
        return n, mean, np.nan, np.nan
    se = float(x.std(ddof=1)) / float(np.sqrt(n))
    q = float(stats.t.ppf(1 - alpha / 2, n - 1))
    return n, mean, mean - q * se, mean + q * se


def nps_interval(scores: Iterable[float], *, alpha: float = 0.05) -> dict[str, float]:
    """NPS (-100..100) of 0-10 scores with its Wald interval from the correct variance.

    Returns ``n``, ``promoters``, ``passives``, ``detractors`` (shares), ``nps``, ``nps_se``
    and ``nps_ci_low``/``nps_ci_high`` (clipped to -100..100). The variance of NPS (as a
    fraction) is ``(p_pro + p_det - NPS^2) / n`` (Rocks 2016).

    >>> r = nps_interval([10, 9, 8, 7, 3])
    >>> r["nps"], round(r["nps_ci_low"], 1), round(r["nps_ci_high"], 1)
    (20.0, -45.6, 85.6)
    """
    from scipy import stats

    x = np.asarray(list(scores) if not isinstance(scores, (np.ndarray, pd.Series)) else scores,
                   dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    out = {"n": n, "promoters": np.nan, "passives": np.nan, "detractors": np.nan,
           "nps": np.nan, "nps_se": np.nan, "nps_ci_low": np.nan, "nps_ci_high": np.nan}
    if n == 0:
        return out
    p_pro = float(np.mean(x >= 9))
    p_det = float(np.mean(x <= 6))
    nps = p_pro - p_det
    se = float(np.sqrt(max(p_pro + p_det - nps**2, 0.0) / n))
    z = float(stats.norm.ppf(1 - alpha / 2))
    out.update(promoters=p_pro, passives=1 - p_pro - p_det, detractors=p_det,
               nps=100 * nps, nps_se=100 * se)
    if n >= 2:
        out["nps_ci_low"] = max(-100.0, 100 * (nps - z * se))
        out["nps_ci_high"] = min(100.0, 100 * (nps + z * se))
    return out


def newcombe_interval(successes_1: float, trials_1: float, successes_2: float,
                      trials_2: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """Newcombe's hybrid score interval (Newcombe 1998, method 10) of ``p1 - p2``, via
    statsmodels ``confint_proportions_2indep(method="newcomb")``; NaN when a side has no
    trials.

    >>> low, high = newcombe_interval(30, 100, 10, 100)
    >>> round(low, 4), round(high, 4)
    (0.09, 0.3058)
    """
    import warnings

    from statsmodels.stats.proportion import confint_proportions_2indep

    if not (trials_1 > 0 and trials_2 > 0):
        return np.nan, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # odds ratio of a 0% or 100% side
        low, high = confint_proportions_2indep(successes_1, trials_1, successes_2, trials_2,
                                               method="newcomb", compare="diff", alpha=alpha)
    return float(low), float(high)


def poisson_difference_interval(count_1: float, exposure_1: float, count_2: float,
                                exposure_2: float, *, alpha: float = 0.05
                                ) -> tuple[float, float]:
    """Score interval of the difference of two Poisson rates ``count_1 / exposure_1 -
    count_2 / exposure_2`` (Miettinen & Nurminen 1985 form, statsmodels
    ``confint_poisson_2indep(method="score", compare="diff")``); NaN without exposure.

    >>> low, high = poisson_difference_interval(200, 1, 100, 9)
    >>> round(low, 1), round(high, 1)
    (162.9, 218.7)
    """
    from statsmodels.stats.rates import confint_poisson_2indep

    if not (exposure_1 > 0 and exposure_2 > 0):
        return np.nan, np.nan
    low, high = confint_poisson_2indep(count_1, exposure_1, count_2, exposure_2,
                                       method="score", compare="diff", alpha=alpha)
    return float(low), float(high)
