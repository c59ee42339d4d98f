"""Test data shared by the pilot evaluation tests: a units table with every kind of metric,
and one metric's row of a results table."""

from __future__ import annotations

import numpy as np
import pandas as pd

TOL = {"rtol": 1e-8, "atol": 1e-12}
#: The revenue metric alone, the smallest evaluation of a units table.
REV = [{"name": "revenue", "kind": "mean"}]


def units_table(n: int = 1200, seed: int = 1, effect: float = 0.0) -> pd.DataFrame:
    """A units table with every kind of metric (treatment shifted by ``effect``)."""
    rng = np.random.default_rng(seed)
    variant = np.where(rng.random(n) < 0.5, "control", "treatment")
    t = variant == "treatment"
    pre_rev = rng.gamma(2.0, 20.0, n)
    sessions = 1 + rng.poisson(3, n)
    pre_sessions = 1 + rng.poisson(3, n)
    csat = rng.choice([1, 2, 3, 4, 5], n, p=[0.1, 0.15, 0.25, 0.3, 0.2]).astype(float)
    csat[rng.random(n) < 0.4] = np.nan
    nps = rng.integers(0, 11, n).astype(float)
    nps[rng.random(n) < 0.5] = np.nan
    time = np.minimum(np.round(rng.exponential(300 - 60 * effect * t), 1), 900.0)
    return pd.DataFrame({
        "unit_id": [f"U{i:05d}" for i in range(n)], "variant": variant,
        "converted": (rng.random(n) < 0.3 + effect * 0.05 * t).astype(int),
        "revenue": np.round(0.6 * pre_rev + rng.gamma(2.0, 10.0, n) + 3 * effect * t, 2),
        "pre_revenue": np.round(pre_rev, 2),
        "pre_converted": (rng.random(n) < 0.4).astype(int),
        "contacts": rng.poisson(0.1 * sessions), "sessions": sessions,
        "pre_contacts": rng.poisson(0.1 * pre_sessions), "pre_sessions": pre_sessions,
        "csat": csat, "nps": nps, "checkout_time_s": time,
        "checkout_completed": (time < 900).astype(int),
        "tier": rng.choice(["Gold", "Silver", "Bronze"], n),
    })


def result_row(results: pd.DataFrame, metric: str) -> pd.Series:
    return results.set_index("metric").loc[metric]
