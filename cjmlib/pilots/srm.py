"""Sample ratio mismatch (SRM): the chi-square check of the arm sizes against the planned
split that comes before any pilot result (:func:`sample_ratio_mismatch`, :class:`SRMResult`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

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
    #: units per arm that the planned split does not have (also in ``observed``)
    unplanned: dict[str, int] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.pvalue >= self.alpha

    def to_pandas(self) -> pd.DataFrame:
        total = sum(self.observed.values())
        return pd.DataFrame({
            "arm": list(self.observed),
            "units": list(self.observed.values()),
            "observed_share": [v / total for v in self.observed.values()],
            "planned_share": [self.planned_split.get(a, 0.0) for a in self.observed],
            "expected_units": [self.expected[a] for a in self.observed],
        })

    def message(self) -> str:
        if self.unplanned:
            return (f"SRM check FAILED: results are untrustworthy: "
                    f"{sum(self.unplanned.values())} unit(s) in arm(s) "
                    f"{sorted(self.unplanned)} that the planned split "
                    f"{list(self.planned_split)} does not have")
        verdict = "passed" if self.passed else "FAILED: results are untrustworthy"
        return (f"SRM check {verdict} (chi-square = {self.statistic:.3f}, "
                f"p = {self.pvalue:.4g}, threshold {self.alpha})")

    def _repr_html_(self) -> str:
        return f"<p><b>{self.message()}</b></p>" + self.to_pandas().to_html(index=False)


def sample_ratio_mismatch(counts: Mapping[str, int], planned_split: Mapping[str, float], *,
                          alpha: float = 0.001) -> SRMResult:
    """Chi-square test of the arm sizes against the planned split (= scipy ``chisquare``).

    A small p-value means units were lost or duplicated unevenly between arms (Fabijan et
    al. 2019), so no metric of the pilot can be trusted. Units in an arm the plan does not
    have are counted, not ignored: the plan gives that arm a share of 0, so any unit there
    is a mismatch (statistic inf, p = 0, listed in ``unplanned``).

    >>> sample_ratio_mismatch({"control": 5000, "treatment": 5200},
    ...                       {"control": 0.5, "treatment": 0.5}).pvalue < 0.05
    True
    >>> sample_ratio_mismatch({"control": 50, "treatment": 50, "holdout": 3},
    ...                       {"control": 0.5, "treatment": 0.5}).message()
    "SRM check FAILED: results are untrustworthy: 3 unit(s) in arm(s) ['holdout'] that the planned split ['control', 'treatment'] does not have"
    """
    from scipy import special  # chdtrc is scipy.stats.chi2.sf, without importing scipy.stats

    arms = list(planned_split)
    unplanned = {str(a): int(n) for a, n in counts.items() if a not in planned_split and n > 0}
    obs = np.array([counts.get(a, 0) for a in arms], dtype=float)
    share = np.array([planned_split[a] for a in arms], dtype=float)
    total = obs.sum() + sum(unplanned.values())
    exp = total * share / share.sum()
    observed = {a: int(o) for a, o in zip(arms, obs, strict=True)} | unplanned
    expected = {a: float(e) for a, e in zip(arms, exp, strict=True)} | dict.fromkeys(
        unplanned, 0.0)
    if unplanned:
        # a share of 0 makes any unit there impossible under the plan
        statistic, pvalue = math.inf, 0.0
    else:
        # Pearson's statistic and its chi-square tail, as scipy.stats.chisquare computes them
        statistic = float(((obs - exp) ** 2 / exp).sum())
        pvalue = float(special.chdtrc(len(arms) - 1, statistic))
    return SRMResult(observed, expected, dict(planned_split), statistic, pvalue, alpha,
                     unplanned=unplanned)
