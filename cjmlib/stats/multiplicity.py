"""The one p-value adjustment every module uses (Holm or Benjamini-Hochberg)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np


def adjust_p_values(p_values: Sequence[float], *, method: Literal["holm", "bh"] = "holm"
                    ) -> np.ndarray:
    """Holm (1979) step-down or Benjamini-Hochberg (1995) adjusted p-values, via statsmodels
    ``multipletests``; an array in the order given.

    A missing p-value (NaN: no test was possible) is not a test of the family: it stays NaN
    and the others are adjusted for the tests that were made.

    >>> adjust_p_values([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_p_values([0.01, 0.04, 0.03], method="bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    >>> adjust_p_values([0.01, float("nan"), 0.03]).round(3).tolist()
    [0.02, nan, 0.03]
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        out[tested] = multipletests(p[tested],
                                    method={"holm": "holm", "bh": "fdr_bh"}[method])[1]
    return out
