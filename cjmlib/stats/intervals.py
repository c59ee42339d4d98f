"""The workbench's one interval for each kind of estimate: proportion, mean, NPS, and the
difference of two proportions or two Poisson rates.

Every proportion interval in the library comes from :func:`wilson_interval` (the journey
modules through :func:`add_rate`, so each rate carries its denominator, a Wilson score
interval at the caller's ``alpha`` and, where asked, a small-cell flag); every mean of a
score from :func:`mean_interval` (answers on a bounded rating scale -- CSAT 1-5, CES 1-7 --
with ``scale=``, which gives the score interval of :func:`score_interval_from_counts`);
every Net Promoter Score from :func:`nps_interval` (:func:`nps_interval_from_counts` on
counts). Survey intervals hold their coverage at small n and are never of zero width:
``benchmarks/validity_surveys.py`` simulates it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_scalar

#: Cells with fewer units than this are flagged ``small_cell`` (shown, never hidden).
MIN_CELL = 30


def wilson_interval(successes: Any, trials: Any, *, alpha: float = 0.05) -> tuple[Any, Any]:
    """Wilson score interval (Wilson 1927) via ``statsmodels.stats.proportion.proportion_confint``.

    Returns ``(low, high)``: arrays for array input, floats for two scalars; cells with
    ``trials == 0`` get NaN (there is no rate).

    >>> low, high = wilson_interval(np.array([5]), np.array([10]))
    >>> round(float(low[0]), 4), round(float(high[0]), 4)
    (0.2366, 0.7634)
    >>> wilson_interval(0, 0)
    (nan, nan)
    """
    from statsmodels.stats.proportion import proportion_confint

    k = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    low = np.full(k.shape, np.nan)
    high = np.full(k.shape, np.nan)
    ok = n > 0
    if ok.any():
        lo, hi = proportion_confint(k[ok], n[ok], alpha=alpha, method="wilson")
        low[ok], high[ok] = lo, hi
    if k.ndim == 0 and n.ndim == 0:
        return float(low), float(high)
    return low, high


def add_rate(frame: pd.DataFrame, name: str, successes: str, trials: str,
             *, alpha: float = 0.05) -> pd.DataFrame:
    """Add ``name`` (= successes / trials), ``name_ci_low`` and ``name_ci_high`` in place."""
    k = frame[successes].to_numpy(dtype=float)
    n = frame[trials].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        frame[name] = np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
    frame[f"{name}_ci_low"], frame[f"{name}_ci_high"] = wilson_interval(k, n, alpha=alpha)
    return frame


class _MeanFields(NamedTuple):
    n: int
    mean: float
    ci_low: float
    ci_high: float


class MeanInterval(_MeanFields):
    """``(n, mean, ci_low, ci_high)`` of :func:`mean_interval` -- it unpacks as those four
    values -- with ``method`` (an attribute, not a fifth value) naming the interval."""

    method: str = ""

    def __new__(cls, n: int, mean: float, ci_low: float, ci_high: float, method: str = ""
                ) -> MeanInterval:
        self = super().__new__(cls, n, mean, ci_low, ci_high)
        self.method = method
        return self

    def __repr__(self) -> str:
        return (f"MeanInterval(n={self.n}, mean={self.mean!r}, ci_low={self.ci_low!r}, "
                f"ci_high={self.ci_high!r}, method={self.method!r})")


#: The method of :func:`nps_interval` and of :func:`mean_interval` on a bounded scale.
SCORE_METHOD = "score"
#: The method of :func:`mean_interval` without a scale.
T_METHOD = "student_t"


def score_interval_from_counts(counts: Any, points: Any, *, low: float | None = None,
                               high: float | None = None, alpha: float = 0.05
                               ) -> tuple[np.ndarray, np.ndarray]:
    """Score interval of the mean of answers on a bounded scale, from counts per scale point.

    ``counts`` holds the number of answers at each of ``points`` (last axis; any leading
    dimensions are separate samples, e.g. simulated surveys); ``low``/``high`` are the ends
    of the scale (default: the first and last of ``points``, which must be ascending).
    Returns ``(ci_low, ci_high)`` arrays in the units of ``points``: always inside
    ``[low, high]``, and of positive width for every sample with at least one answer
    (NaN without answers).

    The interval is the set of means ``mu`` that Rao's score test does not reject, the
    answers being a multinomial sample over the scale: the variance in the test statistic
    ``n (mean - mu)^2 / var(mu)`` is that of the maximum-likelihood distribution whose mean
    is ``mu``, not the sample variance. With two points this is Wilson's (1927) interval;
    with the NPS codes -1/0/+1 it is the score interval of the Net Promoter Score (Rocks
    2016, "Interval estimation for the Net Promoter Score", The American Statistician
    70(4); Tango 1998, Statistics in Medicine 17, for the same trinomial difference); on a
    1-5 scale it is the CSAT mean's. The restricted distribution is the empirical-likelihood
    one (Owen 2001, Empirical Likelihood, ch. 2) on the observed points, plus mass at the
    far end of the scale when the tested mean cannot be reached without it -- which is why
    the interval never collapses when every answer is the same. Each bound solves one
    monotone equation: with ``c = z^2 / n`` and ``e_k = point_k - mean``, the multiplier
    ``t`` of the bound ``mu = mean - c / t`` satisfies ``sum_k share_k / (1 + c + t e_k) = 1``,
    or sits where the end of the scale takes the remaining mass.

    Coverage of 95% intervals (``benchmarks/validity_surveys.py``, recorded in
    ``benchmarks/README.md``): NPS 94.7-96.6% from n = 10 on; CSAT means with 80-90% of
    answers 5 95.9-96.7% at n = 10-100 (the Student-t interval: 65-93%), where nearly all
    misses fall above the upper bound; symmetric CSAT answers 97.4% at n = 10 (a discrete
    score's coverage jumps with the parameter; no fixed interval holds 95% at every one),
    94.8-95.2% from n = 30.

    >>> low, high = score_interval_from_counts([0, 0, 0, 2, 8], [1, 2, 3, 4, 5])
    >>> round(float(low), 3), round(float(high), 3)
    (3.745, 4.943)
    """
    from scipy import stats

    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    w = np.asarray(points, dtype=float)
    if w.ndim != 1 or w.size < 1 or np.any(np.diff(w) <= 0):
        raise ValueError(f"points must be ascending scale points; got {points!r}")
    low = float(w[0]) if low is None else float(low)
    high = float(w[-1]) if high is None else float(high)
    if not (low <= w[0] and w[-1] <= high and low < high):
        raise ValueError(f"points {w.tolist()} must lie within the scale [{low:g}, {high:g}]")
    k = np.asarray(counts, dtype=float)
    if k.shape[-1:] != w.shape or np.any(k < 0):
        raise ValueError(f"counts must be non-negative with one count per point (last axis "
                         f"{w.size}); got shape {k.shape}")
    z = float(stats.norm.ppf(1 - alpha / 2))
    n = k.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = k / n[..., None]
        mean = (share * w).sum(-1)
        c = z * z / n
        e = w - mean[..., None]
        seen = k > 0

        def excess(t: np.ndarray) -> np.ndarray:
            # sum_k share_k / (1 + c + t e_k) - 1 over the observed points: increasing in |t|
            den = 1 + c[..., None] + t[..., None] * e
            return np.where(seen, share / np.where(seen, den, 1.0), 0.0).sum(-1) - 1

        bounds = []
        for end, sign in ((low, 1.0), (high, -1.0)):
            # the lower bound's t lies in (0, t_end], the upper one's in [t_end, 0); at t_end
            # the end of the scale would take mass (its weight 1 + c + t e vanishes)
            room = sign * (mean - end)                   # distance of the mean from this end
            at_end = ~(room > 0)
            t_end = np.where(at_end, sign, sign * (1 + c) / np.where(at_end, 1.0, room))
            # the end takes the remaining mass when no answer is at the end (an answer there
            # sends the sum to infinity before t_end, so the root lies inside)
            boundary = ~(seen & (w == end)).any(-1) & (excess(t_end) < 0)
            inner, outer = np.zeros_like(t_end), t_end   # excess < 0 at inner, >= 0 at outer
            for _ in range(64):  # halves the bracket to double precision
                mid = 0.5 * (inner + outer)
                up = excess(mid) >= 0
                outer = np.where(up, mid, outer)
                inner = np.where(up, inner, mid)
            t = np.where(boundary, t_end, outer)
            bound = np.where(at_end, end, mean - c / t)
            bounds.append(np.where(n > 0, np.clip(bound, low, high), np.nan))
    return bounds[0], bounds[1]


def mean_interval(values: Iterable[float], *, alpha: float = 0.05,
                  scale: tuple[float, float] | None = None) -> MeanInterval:
    """``(n, mean, ci_low, ci_high)`` of the values (NaN dropped), as a :class:`MeanInterval`
    whose ``method`` names the interval.

    Without ``scale``: the Student-t interval of the mean; NaN bounds when n < 2.

    With ``scale=(low, high)``, for answers on a bounded rating scale such as CSAT 1-5 or
    CES 1-7: the score interval of :func:`score_interval_from_counts` over the distinct
    answers, with the scale's ends as the only other possible answers. It lies within the
    scale, has positive width from n = 1 (also when every answer is the same, where the
    t interval collapses to a point) and holds its coverage for skewed answers at small n
    (the t interval covers 65% / 84% at n = 10 / 30 when 90% answer 5; this one 96%).
    Raises ``ValueError`` for a value outside the scale.

    >>> n, m, lo, hi = mean_interval([1, 2, 3, 4, 5])
    >>> n, m, round(lo, 3), round(hi, 3)
    (5, 3.0, 1.037, 4.963)
    >>> r = mean_interval([5, 5, 5, 5, 5], scale=(1, 5))
    >>> r.method, round(r.ci_low, 3), r.ci_high
    ('score', 3.262, 5.0)
    """
    from scipy import stats

    x = np.asarray(list(values) if not isinstance(values, (np.ndarray, pd.Series)) else values,
                   dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    method = T_METHOD if scale is None else SCORE_METHOD
    if n == 0:
        return MeanInterval(0, np.nan, np.nan, np.nan, method=method)
    mean = float(x.mean())
    if scale is not None:
        low, high = (float(v) for v in scale)
        if np.any((x < low) | (x > high)):
            bad = x[(x < low) | (x > high)][0]
            raise ValueError(f"mean_interval: value {bad:g} is outside the scale "
                             f"[{low:g}, {high:g}]")
        points, counts = np.unique(x, return_counts=True)
        lo, hi = score_interval_from_counts(counts, points, low=low, high=high, alpha=alpha)
        return MeanInterval(n, mean, float(lo), float(hi), method=method)
    if n < 2:
        return MeanInterval(n, mean, np.nan, np.nan, method=method)
    se = float(x.std(ddof=1)) / float(np.sqrt(n))
    q = float(stats.t.ppf(1 - alpha / 2, n - 1))
    return MeanInterval(n, mean, mean - q * se, mean + q * se, method=method)


def nps_interval_from_counts(counts: Any, *, alpha: float = 0.05,
                             method: Literal["score", "adjusted_wald"] = "score"
                             ) -> tuple[np.ndarray, np.ndarray]:
    """NPS interval (-100..100) from (detractors, passives, promoters) counts on the last axis,
    vectorised over leading dimensions (e.g. simulated surveys).

    Returns ``(ci_low, ci_high)`` in NPS points: within -100..100, of positive width for every
    sample with at least one answer, NaN without answers. ``method``:

    * ``"score"`` (default): the score interval of the mean of the codes -1/0/+1 (Rocks
      2016's iterative score interval; Tango 1998 for the same trinomial difference), by
      :func:`score_interval_from_counts`.
    * ``"adjusted_wald"``: Rocks' (2016) adjusted Wald -- add 3 to n and 3/4 to promoters and
      to detractors (so 3/2 to passives), then the Wald interval with the trinomial variance
      ``(p_pro + p_det - NPS^2) / (n + 3)`` of the adjusted shares, clipped to -100..100.

    The score interval is the default because it covered better in exact and simulated
    coverage over the grid of ``benchmarks/validity_surveys.py`` (n = 10 with 90% promoters:
    95% against 93%; n = 30 and 100 with 97% promoters: 95-96% against 97-98%).
    """
    from scipy import stats

    check_scalar(method, "method", typ=str, in_=("score", "adjusted_wald"))
    k = np.asarray(counts, dtype=float)
    if k.shape[-1:] != (3,) or np.any(k < 0):
        raise ValueError(f"counts must be non-negative (detractors, passives, promoters) on the "
                         f"last axis; got shape {k.shape}")
    if method == "score":
        low, high = score_interval_from_counts(k, [-1.0, 0.0, 1.0], alpha=alpha)
        return 100 * low, 100 * high
    check_scalar(alpha, "alpha", typ=float, gt=0, lt=1)
    z = float(stats.norm.ppf(1 - alpha / 2))
    n = k.sum(-1)
    size = n + 3
    p_det, p_pro = (k[..., 0] + 0.75) / size, (k[..., 2] + 0.75) / size
    nps = p_pro - p_det
    se = np.sqrt((p_pro + p_det - nps * nps) / size)
    low = np.where(n > 0, np.maximum(nps - z * se, -1.0), np.nan)
    high = np.where(n > 0, np.minimum(nps + z * se, 1.0), np.nan)
    return 100 * low, 100 * high


def nps_interval(scores: Iterable[float], *, alpha: float = 0.05,
                 method: Literal["score", "adjusted_wald"] = "score") -> dict[str, Any]:
    """NPS (-100..100) of 0-10 scores with its interval.

    Returns ``n``, ``promoters``, ``passives``, ``detractors`` (shares), ``nps``, ``nps_se``
    (the standard error ``sqrt((p_pro + p_det - NPS^2) / n)`` of NPS as a fraction, times
    100: the variance of the mean of the codes +1/0/-1, Rocks 2016), ``nps_ci_low`` /
    ``nps_ci_high`` and ``method``.

    The interval (:func:`nps_interval_from_counts`) is by default the score interval of the
    mean of the codes (Rocks 2016's iterative score interval), or Rocks' adjusted Wald with
    ``method="adjusted_wald"``. Both lie within -100..100 and have positive width from one
    answer on. The Wald interval they replace covered 65% / 85% at n = 10 / 30 with 90%
    promoters; coverage of both is simulated in ``benchmarks/validity_surveys.py``.

    >>> r = nps_interval([10, 9, 8, 7, 3])
    >>> r["nps"], round(r["nps_ci_low"], 1), round(r["nps_ci_high"], 1), r["method"]
    (20.0, -44.5, 69.7, 'score')
    """
    x = np.asarray(list(scores) if not isinstance(scores, (np.ndarray, pd.Series)) else scores,
                   dtype=float)
    x = x[~np.isnan(x)]
    n = int(x.size)
    out: dict[str, Any] = {"n": n, "promoters": np.nan, "passives": np.nan,
                           "detractors": np.nan, "nps": np.nan, "nps_se": np.nan,
                           "nps_ci_low": np.nan, "nps_ci_high": np.nan, "method": method}
    check_scalar(method, "method", typ=str, in_=("score", "adjusted_wald"))
    if n == 0:
        return out
    pro, det = int(np.sum(x >= 9)), int(np.sum(x <= 6))
    p_pro, p_det = pro / n, det / n
    nps = p_pro - p_det
    se = float(np.sqrt(max(p_pro + p_det - nps**2, 0.0) / n))
    lo, hi = nps_interval_from_counts([det, n - pro - det, pro], alpha=alpha, method=method)
    out.update(promoters=p_pro, passives=1 - p_pro - p_det, detractors=p_det,
               nps=100 * nps, nps_se=100 * se, nps_ci_low=float(lo), nps_ci_high=float(hi))
    return out


def newcombe_interval(successes_1: float, trials_1: float, successes_2: float,
                      trials_2: float, *, alpha: float = 0.05) -> tuple[float, float]:
    """Newcombe's hybrid score interval (Newcombe 1998, method 10) of ``p1 - p2``, via
    statsmodels ``confint_proportions_2indep(method="newcomb")``; NaN when a side has no
    trials.

    >>> low, high = newcombe_interval(30, 100, 10, 100)
    >>> round(low, 4), round(high, 4)
    (0.09, 0.3058)
    """
    import warnings

    from statsmodels.stats.proportion import confint_proportions_2indep

    if not (trials_1 > 0 and trials_2 > 0):
        return np.nan, np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # odds ratio of a 0% or 100% side
        low, high = confint_proportions_2indep(successes_1, trials_1, successes_2, trials_2,
                                               method="newcomb", compare="diff", alpha=alpha)
    return float(low), float(high)


def poisson_difference_interval(count_1: float, exposure_1: float, count_2: float,
                                exposure_2: float, *, alpha: float = 0.05
                                ) -> tuple[float, float]:
    """Score interval of the difference of two Poisson rates ``count_1 / exposure_1 -
    count_2 / exposure_2`` (Miettinen & Nurminen 1985 form, statsmodels
    ``confint_poisson_2indep(method="score", compare="diff")``); NaN without exposure.

    >>> low, high = poisson_difference_interval(200, 1, 100, 9)
    >>> round(low, 1), round(high, 1)
    (162.9, 218.7)
    """
    from statsmodels.stats.rates import confint_poisson_2indep

    if not (exposure_1 > 0 and exposure_2 > 0):
        return np.nan, np.nan
    low, high = confint_poisson_2indep(count_1, exposure_1, count_2, exposure_2,
                                       method="score", compare="diff", alpha=alpha)
    return float(low), float(high)
