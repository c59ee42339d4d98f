"""The one p-value adjustment every module uses (Holm or Benjamini-Hochberg)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np


def adjust_p_values(p_values: Sequence[float], *, method: Literal["holm", "bh"] = "holm"
                    ) -> np.ndarray:
    """Holm (1979) step-down or Benjamini-Hochberg (1995) adjusted p-values; an array in the
    order given.

    With the ``m`` p-values sorted, ``p_(1) <= ... <= p_(m)``: Holm's adjusted value is
    ``max_{j <= i} (m - j + 1) p_(j)``, Benjamini-Hochberg's ``min_{j >= i} m p_(j) / j``,
    both capped at 1 -- the same operations as statsmodels ``multipletests`` (``"holm"``,
    ``"fdr_bh"``; tests/stats check they agree), done here in numpy because statsmodels runs
    a full garbage collection after every Holm adjustment (a tenth of a second or more in a
    session that holds many objects, on every call).

    A missing p-value (NaN: no test was possible) is not a test of the family: it stays NaN
    and the others are adjusted for the tests that were made.

    >>> adjust_p_values([0.01, 0.04, 0.03]).round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust_p_values([0.01, 0.04, 0.03], method="bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    >>> adjust_p_values([0.01, float("nan"), 0.03]).round(3).tolist()
    [0.02, nan, 0.03]
    """
    if method not in ("holm", "bh"):
        raise ValueError(f"method must be 'holm' or 'bh', got {method!r}")
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    m = int(tested.sum())
    if m:
        order = np.argsort(p[tested])
        ranked = p[tested][order]
        if method == "holm":
            adjusted = np.maximum.accumulate(ranked * np.arange(m, 0, -1))
        else:
            adjusted = np.minimum.accumulate((ranked / (np.arange(1, m + 1) / m))[::-1])[::-1]
        back = np.empty(m)
        back[order] = np.minimum(adjusted, 1.0)
        out[tested] = back
    return out
