"""Sample ratio mismatch against scipy's chi-square goodness of fit."""

from __future__ import annotations

import numpy as np
from scipy import stats

from cjmlib.pilots.srm import sample_ratio_mismatch
from tests.pilots.support import TOL


def test_srm_matches_scipy_chisquare():
    srm = sample_ratio_mismatch({"control": 410, "treatment": 590},
                                {"control": 0.4, "treatment": 0.6})
    ref = stats.chisquare([410, 590], [400, 600])
    np.testing.assert_allclose([srm.statistic, srm.pvalue], [ref.statistic, ref.pvalue], **TOL)
