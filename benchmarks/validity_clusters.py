"""Validity of the cluster-level analysis of cluster-randomised pilots, by simulation (issue 13).

``evaluate_pilot(..., cluster_col=...)`` compares arms on ratios of cluster sums with
:func:`cjmlib.pilots.estimators.cluster_ratio_test`: the CR2 bias-reduced linearisation
(Bell & McCaffrey 2002; Pustejovsky & Tipton 2018) with a random-intercept working model
(ICC estimated by ANOVA, :func:`cjmlib.pilots.estimators.anova_icc`) and Bell-McCaffrey
degrees of freedom per arm. With the independence working model instead (ICC 0), the
continuous outcome at 20 clusters per arm rejected 6.05% of A/A pilots: that model
under-states the variance of large clusters when there is a cluster effect. Each cell simulates pilots of G clusters per arm and reports the share of A/A
pilots called significant at alpha = 0.05 (band [4%, 6%]) or the share of 95% intervals
holding the true difference (band [94%, 96%]), with its Monte Carlo standard error. The note
beside each rate gives the method it replaces -- the delta method over cluster totals with
Welch degrees of freedom (:func:`cjmlib.pilots.estimators.ratio_of_means_test` on the
cluster totals, what the cluster path ran before) -- on the same simulated pilots.

Pilots: cluster sizes (units a cluster) drawn for every pilot from a lognormal with median
40 and log-sd 1 (at least 2; 90% between about 8 and 200), so a few large stores carry most
of an arm. Two unit outcomes:

* ``binary``: conversion 20%, each cluster's rate drawn from a beta distribution with
  intra-cluster correlation 0.05 (beta-binomial cluster totals);
* ``continuous``: cluster means 10 times a Gamma(10, 1/10) draw (skewed, between-cluster
  variance 10), unit values normal around them with variance 100 (ICC 0.09);
  ``continuous + CUPED`` adds a pre-period covariate sharing the cluster mean (cluster
  totals as the metric's, fresh unit noise).

Non-null cells add 3 points to the treatment rate or 1 to the treatment mean (the true
difference). Only cluster totals and within-cluster sums of squares are simulated: the
estimators see nothing else. The
CUPED row is held to at most 5%: with the cluster effect removed by the covariate, the
Bell-McCaffrey degrees of freedom are conservative (the t approximation of a variance carried
by a few large clusters), as they are with no cluster effect at all.

    python benchmarks/validity_clusters.py            # full size, 50,000 pilots a cell
    python benchmarks/validity_clusters.py --quick    # CI size, 5,000 a cell
    python benchmarks/validity_clusters.py --check    # exit 1 when a rate is outside its band

Results are printed and written to ``benchmarks/results/validity_clusters.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _validity import COVERAGE, FPR, Rate, at_most, report  # noqa: E402

from cjmlib.pilots.aggregates import Aggregates  # noqa: E402
from cjmlib.pilots.estimators import (  # noqa: E402
    anova_icc,
    cluster_ratio_test,
    ratio_of_means_test,
)

ALPHA = 0.05
#: binary: base rate, ICC, effect; continuous: base mean, gamma shape, unit sd, effect
P0, ICC, P_EFFECT = 0.20, 0.05, 0.03
MU, SHAPE, SD, MU_EFFECT = 10.0, 10.0, 10.0, 1.0


def cluster_sizes(rng: np.random.Generator, runs: int, g: int) -> np.ndarray:
    return np.maximum(2.0, np.round(rng.lognormal(np.log(40), 1.0, (runs, g))))


def draw_arm(rng: np.random.Generator, runs: int, g: int, outcome: str, effect: float
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """Cluster totals (numerator, units, covariate or None) and within-cluster sums of squares
    of one arm, ``runs`` pilots."""
    n = cluster_sizes(rng, runs, g)
    if outcome == "binary":
        p = P0 + effect
        a, b = p * (1 - ICC) / ICC, (1 - p) * (1 - ICC) / ICC
        y = rng.binomial(n.astype(np.int64), rng.beta(a, b, (runs, g))).astype(float)
        return y, n, None, y - y * y / n
    m = rng.gamma(SHAPE, 1 / SHAPE, (runs, g))
    y = n * (MU * m + effect) + SD * np.sqrt(n) * rng.standard_normal((runs, g))
    cov = None
    if outcome == "continuous + CUPED":
        cov = n * MU * m + SD * np.sqrt(n) * rng.standard_normal((runs, g))
    return y, n, cov, SD * SD * rng.chisquare(n - 1)


def old_method(y_c: np.ndarray, n_c: np.ndarray, y_t: np.ndarray, n_t: np.ndarray,
               c_c: np.ndarray | None, c_t: np.ndarray | None) -> dict:
    """What the cluster path ran before: delta method over the cluster totals, Welch df."""
    def agg(y: np.ndarray, n: np.ndarray, c: np.ndarray | None) -> Aggregates:
        values = {"y": y, "x": n} if c is None else {"y": y, "x": n, "cy": c, "cx": n}
        return Aggregates.from_arrays(values)

    cov = ({"covariate": "cy", "covariate_denominator": "cx"} if c_c is not None else {})
    return ratio_of_means_test(agg(y_c, n_c, c_c), agg(y_t, n_t, c_t), numerator="y",
                               denominator="x", alpha=ALPHA, **cov)


def cell(outcome: str, g: int, runs: int, what: str, seed: int
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hits of the new and the old method (significant, or interval holds the truth) and
    their degrees of freedom, for ``runs`` simulated pilots."""
    rng = np.random.default_rng(seed)
    effect = 0.0 if what == "false positives" else (
        P_EFFECT if outcome == "binary" else MU_EFFECT)
    y_c, n_c, c_c, w_c = draw_arm(rng, runs, g, outcome, 0.0)
    y_t, n_t, c_t, w_t = draw_arm(rng, runs, g, outcome, effect)
    icc = anova_icc((y_c, n_c, w_c), (y_t, n_t, w_t))
    new = cluster_ratio_test(y_c, n_c, y_t, n_t, icc=icc,
                             cov_c=None if c_c is None else (c_c, n_c),
                             cov_t=None if c_t is None else (c_t, n_t), alpha=ALPHA)
    old = old_method(y_c, n_c, y_t, n_t, c_c, c_t)

    def hits(res: dict) -> np.ndarray:
        if what == "false positives":
            return res["p_value"] < ALPHA
        return (res["ci_low"] <= effect) & (effect <= res["ci_high"])

    return hits(new), hits(old), new["df"], old["df"]


def measure(outcome: str, g: int, what: str, runs: int, seed: int, quick: bool) -> Rate:
    """One row: the new method's rate, the old one's in the note (same pilots)."""
    parts = [cell(outcome, g, min(CHUNK, runs - done), what, seed + done)
             for done in range(0, runs, CHUNK)]   # chunks: small memory at 50 clusters
    h_new, h_old, df_new, df_old = (np.concatenate(x) for x in zip(*parts, strict=True))
    old = Rate("old", what, int(h_old.sum()), runs, FPR)
    note = (f"old delta method + Welch df: {old.rate:.2%} (MC SE {old.se:.2%}); "
            f"median df {np.median(df_new):.1f} (old {np.median(df_old):.1f})")
    band = FPR if what == "false positives" else COVERAGE
    if "CUPED" in outcome:
        # CUPED removes the cluster effect, so the working model of the CR2 weights holds
        # and the Satterthwaite df is conservative there (as with no cluster effect: 3.6%
        # at 5 clusters per arm): the band of a conservative method
        band = at_most(ALPHA)
    return Rate(f"{outcome}, {g} clusters per arm", what, int(h_new.sum()), runs, band,
                quick=quick, note=note)


CHUNK = 2000
#: (outcome, clusters per arm, what)
CELLS = [
    *((o, g, "false positives") for o in ("binary", "continuous") for g in (5, 10, 20, 50)),
    ("continuous + CUPED", 10, "false positives"),
    *((o, g, "coverage") for o in ("binary", "continuous") for g in (5, 10)),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI size (5,000 pilots a cell)")
    parser.add_argument("--runs", type=int, default=None, help="pilots a cell")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 when a rate lies outside its band")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    runs = args.runs or (5000 if args.quick else 50_000)
    start = time.perf_counter()
    rates = [measure(outcome, g, what, runs, 100_000 * k, args.quick)
             for k, (outcome, g, what) in enumerate(CELLS)]
    ok = report("validity_clusters", rates, seconds=time.perf_counter() - start, out=args.out,
                extra={"runs_per_cell": runs, "alpha": ALPHA,
                       "sizes": "lognormal, median 40, log-sd 1, at least 2"})
    return 0 if ok or not args.check else 1


if __name__ == "__main__":
    sys.exit(main())
