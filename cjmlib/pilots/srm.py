"""Sample ratio mismatch (SRM): the chi-square check of the arm sizes against the planned
split that comes before any pilot result (:func:`sample_ratio_mismatch`, :class:`SRMResult`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SRMResult:
    """Sample ratio mismatch check: chi-square goodness of fit against the planned split."""

    observed: dict[str, int]
    expected: dict[str, float]
    planned_split: dict[str, float]
    statistic: float
    pvalue: float
    alpha: float
    method: str = "Pearson chi-square goodness of fit against the planned split"

    @property
    def passed(self) -> bool:
        return self.pvalue >= self.alpha

    def to_pandas(self) -> pd.DataFrame:
        total = sum(self.observed.values())
        return pd.DataFrame({
            "arm": list(self.observed),
            "units": list(self.observed.values()),
            "observed_share": [v / total for v in self.observed.values()],
            "planned_share": [self.planned_split[a] for a in self.observed],
            "expected_units": [self.expected[a] for a in self.observed],
        })

    def message(self) -> str:
        verdict = "passed" if self.passed else "FAILED: results are untrustworthy"
        return (f"SRM check {verdict} (chi-square = {self.statistic:.3f}, "
                f"p = {self.pvalue:.4g}, threshold {self.alpha})")

    def _repr_html_(self) -> str:
        return f"<p><b>{self.message()}</b></p>" + self.to_pandas().to_html(index=False)


def sample_ratio_mismatch(counts: Mapping[str, int], planned_split: Mapping[str, float], *,
                          alpha: float = 0.001) -> SRMResult:
    """Chi-square test of the arm sizes against the planned split (scipy ``chisquare``).

    A small p-value means units were lost or duplicated unevenly between arms (Fabijan et
    al. 2019), so no metric of the pilot can be trusted.

    >>> sample_ratio_mismatch({"control": 5000, "treatment": 5200},
    ...                       {"control": 0.5, "treatment": 0.5}).pvalue < 0.05
    True
    """
    from scipy import stats

    arms = list(planned_split)
    obs = np.array([counts.get(a, 0) for a in arms], dtype=float)
    share = np.array([planned_split[a] for a in arms], dtype=float)
    exp = obs.sum() * share / share.sum()
    res = stats.chisquare(obs, exp)
    return SRMResult({a: int(o) for a, o in zip(arms, obs, strict=True)},
                     {a: float(e) for a, e in zip(arms, exp, strict=True)},
                     dict(planned_split), float(res.statistic), float(res.pvalue), alpha)
