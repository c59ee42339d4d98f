"""Holm and Benjamini-Hochberg adjustments against statsmodels."""

from __future__ import annotations

import numpy as np

from cjmlib.stats.multiplicity import adjust_p_values

TOL = {"rtol": 1e-8, "atol": 1e-12}


def test_holm_and_bh_match_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = [0.01, 0.04, 0.03, 0.5]
    np.testing.assert_allclose(adjust_p_values(p, method="holm"),
                               multipletests(p, method="holm")[1], **TOL)
    np.testing.assert_allclose(adjust_p_values(p, method="bh"),
                               multipletests(p, method="fdr_bh")[1], **TOL)
