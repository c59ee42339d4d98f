"""Rates with their denominators: the workbench's one Wilson interval, and small-cell flags.

Every proportion interval in the library comes from :func:`wilson_interval` (the journey
modules through :func:`add_rate`, so each rate carries its denominator, a 95% Wilson score
interval and, where asked, a small-cell flag; voice, themes, segments and collection
directly).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Cells with fewer units than this are flagged ``small_cell`` (shown, never hidden).
MIN_CELL = 30


def wilson_interval(successes: np.ndarray | pd.Series, trials: np.ndarray | pd.Series,
                    *, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (Wilson 1927) via ``statsmodels.stats.proportion.proportion_confint``.

    Returns ``(low, high)`` arrays; cells with ``trials == 0`` get NaN (there is no rate).

    >>> low, high = wilson_interval(np.array([5]), np.array([10]))
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.2366, 0.7634)
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
