"""The one p-value adjustment every module uses (Holm or Benjamini-Hochberg)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np


def adjust_p_values(p_values: Sequence[float], *, method: Literal["holm", "bh"] = "holm"
                    ) -> np.ndarray:
    """Holm (1979) step-down or Benjamini-Hochberg (1995) adjusted p-values, via statsmodels
    ``multipletests``; an array in the order given.

    >>> adjust_p_values([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_p_values([0.01, 0.04, 0.03], method="bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=float)
    if p.size == 0:
        return p
    return multipletests(p, method={"holm": "holm", "bh": "fdr_bh"}[method])[1]
