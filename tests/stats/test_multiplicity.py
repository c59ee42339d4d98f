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


def test_holm_and_bh_match_statsmodels_with_ties_nan_and_many_tests():
    from statsmodels.stats.multitest import multipletests

    rng = np.random.default_rng(7)
    for p in ([0.2, 0.01, 0.01, 0.9, 0.2, 1.0, 0.0], rng.uniform(size=500),
              rng.uniform(0, 0.01, size=40), [0.03]):
        p = np.asarray(p, dtype=float)
        for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
            np.testing.assert_allclose(adjust_p_values(p, method=ours),
                                       multipletests(p, method=theirs)[1], **TOL)
    p = np.array([0.04, np.nan, 0.01, 0.02, np.nan])
    got = adjust_p_values(p, method="bh")
    assert np.isnan(got[[1, 4]]).all()
    np.testing.assert_allclose(got[[0, 2, 3]], multipletests(p[[0, 2, 3]], method="fdr_bh")[1])
    assert adjust_p_values([]).shape == (0,)
