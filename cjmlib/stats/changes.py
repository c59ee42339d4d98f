"""Temporal scan statistic: where a rate or a count series changed, and whether by chance.

A series has ``T`` periods with, in each, ``x_t`` successes out of ``n_t`` trials
(``model="binomial"``: exits out of journeys, transitions out of departures) or ``x_t``
events over an exposure ``n_t`` (``model="poisson"``: journeys started per period, ``n_t``
the share of the period observed). :func:`scan` searches every window ``[s, e)`` of
consecutive periods except the whole series and keeps the one whose rate differs most from
the rate of the other periods, by the likelihood ratio of a two-rate against a one-rate
model (Kulldorff 1997, "A spatial scan statistic", *Commun. Statist. Theory Meth.* 26(6);
its purely temporal form, Kulldorff et al. 1998, as in SaTScan's Bernoulli and Poisson
models)::

    binomial:  LLR = l(x_in, n_in) + l(x_out, n_out) - l(X, N),   l(x, n) = x log(x/n) + (n-x) log(1-x/n)
    poisson:   LLR = x_in log(x_in/mu_in) + x_out log(x_out/mu_out),   mu = X * n / N

A window touching the start or the end of the series is a *shift* (a level that changes
and persists), any other an *episode* (a level that starts and ends); both directions are
searched.

Significance accounts for the number of windows searched: the p-value is that of the
*maximum* statistic over all windows, by Monte Carlo under the null of one constant rate,
conditioned on the total as SaTScan does (successes spread over the trials by a
multivariate hypergeometric draw; events over the periods by a multinomial draw in
proportion to exposure). Simulation is sequential (Besag & Clifford 1991, "Sequential Monte
Carlo p-values", *Biometrika* 78(2)): it stops once ``min_exceedances`` simulated maxima
reach the observed one (p = h / m), or once none of at least 199 draws reached it and the
Gumbel tail below puts its p-value under ``EARLY_STOP_P`` (1e-6); when fewer than
``min_exceedances`` reach it in ``n_simulations`` draws (at least ``GUMBEL_MIN_DRAWS``, 999;
with fewer the p-value is the plain Monte Carlo ``(b + 1) / (m + 1)``), the p-value
comes from a Gumbel distribution fitted by moments to the simulated maxima (Abrams,
Kleinman & Kulldorff 2010, "Gumbel based p-value approximations for spatial scan
statistics", *Int. J. Health Geogr.* 9:61), so that strong changes get p-values small
enough to survive a correction over many series. Corrections across series are the
caller's (:func:`cjmlib.stats.multiplicity.adjust_p_values`).

Overdispersion: events cluster in journeys and days differ more than binomial or Poisson
noise allows, which would make every wiggle of a large series "significant". The
statistic is therefore divided by a dispersion factor estimated robustly from the series,
``phi = max(1, scale(r_t^2))`` with ``r_t`` the standardised differences of consecutive
period rates (:func:`dispersion`) and ``scale`` the mean of the smallest 75% over that of a
chi-square with one degree of freedom (a quasi-likelihood scan; McCullagh & Nelder 1989,
sec. 4.5, for the quasi-likelihood; differences and the trimming keep the change itself --
a step, an episode, a slow fade -- from inflating ``phi``). The same estimate is made on
every simulated series, and the null series carry the extra variance estimated from the
data (:func:`extra_variance`): under a binomial or Poisson null the test is exact up to
Monte Carlo error; under overdispersion it is approximate (6.5-6.9% at a 5% level in
``benchmarks/validity_changes.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

#: Share of the largest squared residuals left out of a dispersion estimate, and the mean of
#: a chi-square with one degree of freedom below its (1 - TRIM) quantile: the trimmed mean
#: of the rest, divided by this, estimates the scale (a step or an episode moves one or two
#: residuals; the median would do too, at about half the efficiency).
TRIM = 0.25
CHI2_1_TRIMMED_MEAN = 0.36852405098356217

ScanModel = Literal["binomial", "poisson"]
#: Simulation stops early when no draw reached the observed maximum and its Gumbel tail
#: p-value is below this: no correction over fewer than 10,000 series at a level of 0.01 or
#: more depends on further precision.
EARLY_STOP_P = 1e-6
#: Fewest draws a Gumbel tail is fitted to (except for an early stop): fitted to fewer, the
#: moments are noisy enough to make small p-values too small (checked by simulation).
GUMBEL_MIN_DRAWS = 999


@dataclass(frozen=True)
class ScanResult:
    """The most likely changed window of one series and its significance.

    ``start``/``end``: the window ``[start, end)`` in period positions (0 .. T).
    ``inside_rate``/``outside_rate``: successes per trial (binomial) or events per unit of
    exposure (poisson) inside and outside the window. ``statistic``: the window's
    log-likelihood ratio divided by ``dispersion``. ``pvalue``: of the maximum over all
    windows; ``pvalue_method`` says how it was obtained; ``simulations``: draws made.
    """

    model: str
    start: int
    end: int
    inside_rate: float
    outside_rate: float
    statistic: float
    dispersion: float
    pvalue: float
    pvalue_method: str
    simulations: int
    method: str = "temporal scan statistic (Kulldorff 1997), Monte Carlo maximum"


def windows(n_periods: int, max_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Starts and ends of every window ``[s, e)`` of ``n_periods`` periods except the whole
    (of at most ``max_length`` periods when given).

    >>> s, e = windows(3)
    >>> list(zip(s.tolist(), e.tolist()))
    [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3)]
    >>> [(int(a), int(b)) for a, b in zip(*windows(3, max_length=1))]
    [(0, 1), (1, 2), (2, 3)]
    """
    s, e = np.triu_indices(n_periods + 1, k=1)
    keep = ~((s == 0) & (e == n_periods))
    if max_length is not None:
        keep &= (e - s) <= max_length
    return s[keep], e[keep]


def _xlogx(x: np.ndarray) -> np.ndarray:
    """``x log x`` with ``0 log 0 = 0`` (numpy; scipy's ``xlogy`` is slower here)."""
    x = np.asarray(x, dtype=float)
    return x * np.log(np.where(x > 0, x, 1.0))


def _llr(x_in: np.ndarray, n_in: np.ndarray, total_x: float, total_n: float,
         model: str) -> np.ndarray:
    """Log-likelihood ratio of every window (rows: series, columns: windows)."""
    x_out = total_x - x_in
    n_out = total_n - n_in
    if model == "binomial":
        inside = _xlogx(x_in) + _xlogx(n_in - x_in) - _xlogx(n_in)
        outside = _xlogx(x_out) + _xlogx(n_out - x_out) - _xlogx(n_out)
        whole = _xlogx(total_x) + _xlogx(total_n - total_x) - _xlogx(total_n)
        return np.maximum(inside + outside - whole, 0.0)
    mu_in = total_x * n_in / total_n
    from scipy.special import xlogy

    with np.errstate(divide="ignore", invalid="ignore"):
        out = xlogy(x_in, x_in / mu_in) + xlogy(x_out, x_out / (total_x - mu_in))
    return np.maximum(np.nan_to_num(out, nan=0.0), 0.0)


def dispersion(successes: np.ndarray, trials: np.ndarray, *, model: ScanModel) -> np.ndarray:
    """Robust dispersion factor of each row of ``successes`` (see the module docstring),
    at least 1.

    From the differences of consecutive period rates, ``d_t = p_{t+1} - p_t`` over the
    periods holding data, whose variance under one constant rate ``p`` is
    ``v(p) (1/n_t + 1/n_{t+1})`` (``v = p(1-p)`` binomial, ``p`` Poisson):
    ``phi = max(1, scale(d_t^2 / var_t))`` (:func:`_scale`, a trimmed mean). A shift moves one difference and an
    episode two, and a steady trend (a channel fading out over months) adds only its slope
    per period to each, so a change does not inflate ``phi`` as the residuals around one
    constant rate would (a fade spans most periods); noise beyond binomial or Poisson does.
    With fewer than three periods holding data, the residuals around the constant rate.

    >>> dispersion(np.array([5, 5, 5, 5]), np.array([10, 10, 10, 10]), model="binomial")
    array([1.])
    >>> step = np.array([10, 11, 9, 10, 30, 31, 29, 30]); n = np.full(8, 100)
    >>> float(dispersion(step, n, model="binomial")[0])  # a shift is not noise
    1.0
    """
    x = np.atleast_2d(np.asarray(successes, dtype=float))
    n = np.asarray(trials, dtype=float)
    used = n > 0
    rate = x.sum(axis=1, keepdims=True) / n.sum()
    v = rate * (1 - rate) if model == "binomial" else rate
    xu, nu = x[:, used], n[used]
    if nu.size < 3:
        expected = rate * nu
        var = v * nu
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(var > 0, (xu - expected) ** 2 / var, 0.0)
    else:
        p = xu / nu
        d = np.diff(p, axis=1)
        var = v * (1 / nu[:-1] + 1 / nu[1:])
        with np.errstate(divide="ignore", invalid="ignore"):
            r2 = np.where(var > 0, d ** 2 / var, 0.0)
    return np.maximum(1.0, _scale(r2))


def _max_statistic(x: np.ndarray, n: np.ndarray, s: np.ndarray, e: np.ndarray,
                   model: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Maximum over windows of LLR / dispersion for each row of ``x``; also its window
    position and the dispersion."""
    cx = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    cn = np.concatenate([[0.0], np.cumsum(n)])
    total_x = cx[:, -1:]
    llr = _llr(cx[:, e] - cx[:, s], cn[e] - cn[s], total_x, cn[-1], model)
    phi = dispersion(x, n, model=model)  # type: ignore[arg-type]
    best = llr.argmax(axis=1)
    return llr[np.arange(len(best)), best] / phi, best, phi


def _scale(r2: np.ndarray) -> np.ndarray:
    """Robust scale of squared standardised residuals (rows): the mean of those up to
    their ``1 - TRIM`` quantile, over :data:`CHI2_1_TRIMMED_MEAN` (1 for chi-square(1))."""
    r2 = np.atleast_2d(r2)
    keep = max(1, int(np.ceil((1 - TRIM) * r2.shape[1])))
    return np.sort(r2, axis=1)[:, :keep].mean(axis=1) / CHI2_1_TRIMMED_MEAN


def extra_variance(successes: np.ndarray, trials: np.ndarray, *, model: ScanModel) -> float:
    """Between-period variance of the rate beyond binomial or Poisson noise, as a share:
    ``rho`` with ``Var(p_t) = v/n_t + v rho`` (binomial, ``v = p(1-p)``; the intra-class
    correlation of a beta-binomial) or ``kappa`` with ``Var(p_t) = p/n_t + p^2 kappa``
    (Poisson; the gamma-Poisson shape). Solved robustly from the consecutive differences:
    the ``rho`` making the trimmed scale (:func:`_scale`) of ``d_t^2 / Var(d_t)`` that of
    a chi-square with one degree of freedom (0 when binomial or Poisson noise explains it).

    Periods differ for reasons of their own (a campaign day, a busy week), which adds the
    same variance to a large period's rate as to a small one's: scaling the binomial
    variance by one factor (:func:`dispersion`) understates it for the large periods and
    overstates it for the small, so the null series of :func:`scan` are drawn with this
    variance instead.
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    used = n > 0
    xu, nu = x[used], n[used]
    if nu.size < 3 or xu.sum() <= 0:
        return 0.0
    rate = xu.sum() / nu.sum()
    v = rate * (1 - rate) if model == "binomial" else rate
    extra = v if model == "binomial" else rate ** 2
    if v <= 0:
        return 0.0
    d2 = np.diff(xu / nu) ** 2
    base = v * (1 / nu[:-1] + 1 / nu[1:])

    def excess(r: float) -> float:
        return float(_scale(d2 / (base + 2 * extra * r))[0]) - 1.0

    if excess(0.0) <= 0:
        return 0.0
    lo, hi = 0.0, 1.0
    while excess(hi) > 0 and hi < 1e6:
        lo, hi = hi, hi * 4
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return hi if model == "poisson" else min(hi, 1.0 - 1e-9)


def _draw(x: np.ndarray, n: np.ndarray, size: int, rng: np.random.Generator,
          model: str, rho: float = 0.0) -> np.ndarray:
    """``size`` null series like ``x``: with no extra variance (``rho == 0``) conditioned
    on the total (hypergeometric or multinomial); otherwise with the extra variance of
    :func:`extra_variance` around the series' pooled rate (beta-binomial or
    gamma-Poisson)."""
    total = int(round(x.sum()))
    if rho <= 0.0:
        if model == "binomial":
            return rng.multivariate_hypergeometric(np.round(n).astype(np.int64), total,
                                                   size=size, method="marginals"
                                                   ).astype(float)
        return rng.multinomial(total, n / n.sum(), size=size).astype(float)
    used = n > 0
    out = np.zeros((size, n.size))
    rate = x.sum() / n.sum()
    if model == "binomial":
        k = 1.0 / rho - 1.0  # Beta(rate k, (1 - rate) k): intra-class correlation rho
        p = rng.beta(max(rate * k, 1e-9), max((1 - rate) * k, 1e-9),
                     size=(size, int(used.sum())))
        out[:, used] = rng.binomial(np.round(n[used]).astype(np.int64), p)
    else:
        # rate per unit of exposure ~ Gamma(1/kappa, rate kappa): Var = rate^2 kappa
        lam = rng.gamma(1.0 / rho, rate * rho, size=(size, int(used.sum()))) * n[used]
        out[:, used] = rng.poisson(lam)
    return out


def scan(
    successes: np.ndarray,
    trials: np.ndarray,
    *,
    model: ScanModel,
    n_simulations: int = 999,
    min_exceedances: int = 10,
    rng: np.random.Generator | None = None,
    batch: int = 100,
    max_length: int | None = None,
) -> ScanResult:
    """The most likely changed window of one series and the p-value of its statistic.

    ``successes``/``trials``: one value per period (``trials`` are exposures for
    ``model="poisson"``; periods with ``trials == 0`` hold no data). ``n_simulations``:
    most Monte Carlo draws; ``min_exceedances``: stop once this many simulated maxima reach
    the observed one; ``rng``: a seeded generator (results are deterministic given it).
    ``max_length``: search only windows of at most this many periods (bursts).

    >>> x = np.array([10, 11, 9, 10, 30, 31, 10, 9, 11, 10])
    >>> r = scan(x, np.full(10, 100), model="binomial", rng=np.random.default_rng(0))
    >>> (r.start, r.end, round(r.inside_rate, 3), r.pvalue < 0.001)
    (4, 6, 0.305, True)
    """
    x = np.asarray(successes, dtype=float)
    n = np.asarray(trials, dtype=float)
    if x.shape != n.shape or x.ndim != 1 or x.size < 2:
        raise ValueError("scan needs two 1-d arrays of the same length, at least 2 periods")
    if model not in ("binomial", "poisson"):
        raise ValueError(f"model must be 'binomial' or 'poisson', got {model!r}")
    rng = rng if rng is not None else np.random.default_rng(0)
    s, e = windows(x.size, max_length)
    stat, best, phi = _max_statistic(x[None, :], n, s, e, model)
    observed = float(stat[0])
    w_s, w_e = int(s[best[0]]), int(e[best[0]])
    x_in, n_in = x[w_s:w_e].sum(), n[w_s:w_e].sum()
    x_out, n_out = x.sum() - x_in, n.sum() - n_in
    inside = x_in / n_in if n_in > 0 else np.nan
    outside = x_out / n_out if n_out > 0 else np.nan

    rho = extra_variance(x, n, model=model) if phi[0] > 1 else 0.0
    maxima: list[np.ndarray] = []
    drawn = exceed = 0
    while drawn < n_simulations and exceed < min_exceedances:
        size = min(batch, n_simulations - drawn)
        sim, _, _ = _max_statistic(_draw(x, n, size, rng, model, rho), n, s, e, model)
        maxima.append(sim)
        drawn += size
        # relative tolerance: ties of the maximum must count as reaching it
        exceed += int(np.sum(sim >= observed * (1 - 1e-9)))
        if exceed == 0 and drawn >= 199 and _gumbel_tail(observed, np.concatenate(maxima)) \
                < EARLY_STOP_P:
            break  # far beyond any threshold: more draws would not change a decision
    sims = np.concatenate(maxima) if maxima else np.array([])
    if exceed >= min_exceedances:
        pvalue, how = exceed / drawn, "sequential Monte Carlo (Besag & Clifford 1991)"
    elif drawn < GUMBEL_MIN_DRAWS and not (exceed == 0 and drawn >= 199):
        pvalue, how = (exceed + 1) / (drawn + 1), f"Monte Carlo, {drawn} draws"
    else:
        pvalue, how = _gumbel_tail(observed, sims), (
            f"Gumbel tail fitted to {drawn} Monte Carlo maxima (Abrams et al. 2010)")
    return ScanResult(model=model, start=w_s, end=w_e, inside_rate=float(inside),
                      outside_rate=float(outside), statistic=observed,
                      dispersion=float(phi[0]), pvalue=float(pvalue), pvalue_method=how,
                      simulations=int(drawn))


def _gumbel_tail(observed: float, maxima: np.ndarray) -> float:
    """P(M >= observed) under a Gumbel fitted to ``maxima`` by the method of moments."""
    sd = float(np.std(maxima, ddof=1)) if maxima.size > 1 else 0.0
    if not np.isfinite(sd) or sd <= 0:
        return 1.0 if observed <= float(np.max(maxima, initial=0.0)) else 0.0
    beta = sd * np.sqrt(6.0) / np.pi
    mu = float(np.mean(maxima)) - np.euler_gamma * beta
    return float(-np.expm1(-np.exp(-(observed - mu) / beta)))
