"""Segmentation and personas: behavioural and attitudinal features per customer, k-means
clustering with a justified k, persona cards, and the segments table other notebooks use.

Steps:

1. :func:`customer_features` -- one row per customer from the events (inside the engine,
   through :mod:`cjmlib.journeys.build`), the feedback and the CRM profile: frequency (sessions),
   recency, value (revenue, order value), conversion, channel and stage mix, touchpoint
   groups, e-mail engagement, satisfaction (CSAT, NPS) and ordinal CRM attributes (tier).
2. :func:`prepare_features` -- log of counts and money, winsorising at the 1st/99th
   percentiles, median imputation, standardisation (z-scores), so no feature dominates the
   Euclidean distance by its units.
3. :func:`choose_k` -- for each k, k-means (Lloyd's algorithm with k-means++ starts, Arthur &
   Vassilvitskii 2007) scored by the mean silhouette (Rousseeuw 1987) and by stability: the
   adjusted Rand index (Hubert & Arabie 1985) between solutions fitted on different random
   subsamples (Ben-Hur, Elisseeff & Guyon 2002; Lange et al. 2004). The chosen k has the
   highest silhouette among the stable ones.
4. :func:`segment_customers` -- the final clustering, segments numbered by size.
5. :func:`persona_cards` -- per segment: size with interval, defining traits, typical journey,
   touchpoints that set it apart, pain points (lowest CSAT), satisfaction with intervals,
   churn, and quotes.
6. :func:`label_agreement` -- adjusted Rand index against known labels (e.g. planted
   personas), with the cross-table.

The segments table has ``customer_id``, ``persona`` (segment number) and ``persona_name``;
the column is not called ``segment`` because the CRM's own customer segment (e.g. the tier)
travels under that name in the customers table.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns, check_scalar

#: Features whose logarithm (log1p) is clustered: counts and money are right-skewed.
LOG_FEATURES = frozenset({"sessions", "events", "events_per_session", "conversions",
                          "revenue", "order_value", "n_feedback", "emails_sent"})
#: Readable names of features for traits and figures.
FEATURE_LABELS: dict[str, str] = {
    "sessions": "sessions", "events": "events", "events_per_session": "steps per session",
    "recency_days": "days since last visit", "tenure_days": "days active",
    "conversions": "purchases", "conversion_rate": "purchases per session",
    "revenue": "revenue", "order_value": "order value", "email_open_rate": "e-mail open rate",
    "emails_sent": "e-mails received", "csat_mean": "CSAT", "nps_mean": "likelihood to recommend",
    "n_feedback": "survey answers",
}
#: Default clustering features (all computed by :func:`customer_features`).
DEFAULT_FEATURES = ("sessions", "channel_share_app", "stage_share_service",
                    "stage_share_awareness", "conversion_rate", "email_open_rate",
                    "order_value")


def default_features(features: pd.DataFrame, *, max_shares: int = 3) -> list[str]:
    """Clustering features when none are named, from what any event log gives: ``sessions``,
    ``events_per_session``, ``conversion_rate``, ``recency_days`` and the stage and channel
    shares that vary most across customers (at most ``max_shares`` of each), plus
    ``csat_mean`` when at least half the customers answered. A feature that is constant, or
    missing for most customers, is left out.

    >>> f = pd.DataFrame({"sessions": [1, 4, 2], "events_per_session": [3.0, 5.0, 2.0],
    ...                   "conversion_rate": [0.0, 0.5, 0.0], "recency_days": [1, 9, 3],
    ...                   "stage_share_purchase": [0.1, 0.5, 0.2], "channel_share_web": 1.0})
    >>> default_features(f)
    ['sessions', 'events_per_session', 'conversion_rate', 'recency_days', 'stage_share_purchase']
    """
    def usable(column: str) -> bool:
        values = pd.to_numeric(features[column], errors="coerce")
        return bool(values.notna().mean() >= 0.5 and values.nunique(dropna=True) > 1)

    chosen = [c for c in ("sessions", "events_per_session", "conversion_rate", "recency_days")
              if c in features.columns and usable(c)]
    for prefix in ("stage_share_", "channel_share_"):
        shares = [c for c in features.columns if c.startswith(prefix) and usable(c)]
        shares.sort(key=lambda c: -float(pd.to_numeric(features[c], errors="coerce").std()))
        chosen += shares[:max_shares]
    if "csat_mean" in features.columns and usable("csat_mean"):
        chosen.append("csat_mean")
    return chosen


def feature_label(name: str) -> str:
    """Readable label of a feature name.

    >>> feature_label("channel_share_app"), feature_label("stage_share_service")
    ('app share', 'service-stage share')
    >>> feature_label("crm_tier")
    'CRM tier'
    """
    if name in FEATURE_LABELS:
        return FEATURE_LABELS[name]
    if name.startswith("crm_"):
        return "CRM " + name[4:].replace("_", " ")
    for prefix, suffix in (("channel_share_", " share"), ("stage_share_", "-stage share"),
                           ("share_", " share")):
        if name.startswith(prefix):
            return name[len(prefix):].replace("_", " ") + suffix
    return name.replace("_", " ")


# --------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------


def customer_features(
    events: Any,
    *,
    conversion_touchpoints: Sequence[str],
    customers: pd.DataFrame | None = None,
    feedback: pd.DataFrame | None = None,
    email_touchpoints: Mapping[str, str] | None = None,
    touchpoint_groups: Mapping[str, Sequence[str]] | None = None,
    ordinal: Mapping[str, Sequence[str]] | None = None,
    session_timeout_minutes: float = 30.0,
) -> pd.DataFrame:
    """Behavioural and attitudinal features, one row per customer (index ``customer_id``).

    ``events``: events table (DataFrame, Parquet/CSV path or Ibis table; DESIGN.md contract);
    sessions are the journeys of :func:`cjmlib.journeys.build.build_journeys` with
    ``unit="session"`` (source session ids, else a new session after
    ``session_timeout_minutes`` of inactivity). ``email_touchpoints`` maps ``sent`` and
    ``open`` to the touchpoints of e-mails sent and opened (default ``email_sent`` /
    ``email_open``); they are not journey steps. ``touchpoint_groups`` names groups of
    touchpoints whose share of a customer's steps becomes ``share_<group>``. ``customers``
    adds CRM attributes; ``ordinal`` maps a customers column to its ordered levels (``{"tier":
    ["Bronze", "Silver", "Gold"]}`` -> feature ``crm_tier`` = 0, 1, 2). ``feedback`` adds satisfaction from the
    post-interaction survey (and the relationship survey's overall rows).

    Columns: ``sessions``, ``events`` (steps), ``events_per_session``, ``recency_days``
    (from the last event to the end of the data), ``tenure_days`` (first to last event),
    ``conversions``, ``conversion_rate`` (per session), ``revenue`` (sum of ``value``),
    ``order_value`` (mean positive ``value``), ``channel_share_<channel>`` and
    ``stage_share_<stage>`` (shares of steps), ``share_<group>``, ``emails_sent``,
    ``email_open_rate`` (opens / sends; NaN without e-mails), ``csat_mean``, ``nps_mean``,
    ``n_feedback`` (NaN / 0 without answers) and ``crm_<column>`` per ``ordinal`` attribute.
    """
    from cjmlib.core.engine import execute
    from cjmlib.journeys.build import build_journeys
    from cjmlib.journeys.events import read_events

    email = {"sent": "email_sent", "open": "email_open", **dict(email_touchpoints or {})}
    table = read_events(events)
    journeys = build_journeys(table, conversion_touchpoints=conversion_touchpoints,
                              unit="session", session_timeout_minutes=session_timeout_minutes,
                              exclude_touchpoints=list(email.values()))
    s = journeys.steps
    # one pass over the sessions: every count per customer in one grouped query, the
    # channel, stage and touchpoint-group counts as conditional counts (their values first,
    # from a query the engine answers without building the sessions)
    kinds = execute(s.select("channel", "stage").distinct())
    values = {col: sorted(kinds[col].dropna().unique(), key=str) for col in ("channel", "stage")}
    present = set(journeys.touchpoint_counts["touchpoint"])
    groups = {name: [m for m in members if m in present]
              for name, members in (touchpoint_groups or {}).items()}
    counts: dict[str, Any] = {}
    for col in ("channel", "stage"):
        counts[f"_{col}_total"] = s[col].count()
        for i, v in enumerate(values[col]):
            counts[f"_{col}_{i}"] = s.count(where=s[col] == v)
    for i, members in enumerate(groups.values()):
        if members:
            counts[f"_group_{i}"] = s.count(where=s.touchpoint.isin(members))
    base = execute(s.group_by("customer_id").aggregate(
        sessions=s.journey_id.nunique(), events=s.count(),
        conversions=s.is_conversion.cast("int64").sum(),
        revenue=s.value.sum(), order_value=s.value.mean(where=s.value > 0),
        first=s.event_time.min(), last=s.event_time.max(), **counts,
    )).set_index("customer_id").sort_index()
    end = journeys.observed_until
    out = pd.DataFrame(index=base.index)
    out["sessions"] = base["sessions"].astype(float)
    out["events"] = base["events"].astype(float)
    out["events_per_session"] = out["events"] / out["sessions"]
    out["recency_days"] = (end - base["last"]).dt.total_seconds() / 86400
    out["tenure_days"] = (base["last"] - base["first"]).dt.total_seconds() / 86400
    out["conversions"] = base["conversions"].astype(float)
    out["conversion_rate"] = out["conversions"] / out["sessions"]
    out["revenue"] = base["revenue"].fillna(0.0).astype(float)
    out["order_value"] = base["order_value"].astype(float)
    for col, prefix in (("channel", "channel_share_"), ("stage", "stage_share_")):
        total = base[f"_{col}_total"].to_numpy(float)
        for i, v in enumerate(values[col]):
            n = base[f"_{col}_{i}"].to_numpy(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{prefix}{v}"] = np.where(total > 0, n / total, 0.0)
    for i, (name, members) in enumerate(groups.items()):
        out[f"share_{name}"] = (base[f"_group_{i}"].to_numpy(float) / out["events"].to_numpy()
                                if members else 0.0)
    t = table.filter(table.touchpoint.isin([email["sent"], email["open"]]))
    mail = execute(t.group_by("customer_id").aggregate(
        sent=(t.touchpoint == email["sent"]).cast("int64").sum(),
        opened=(t.touchpoint == email["open"]).cast("int64").sum(),
    )).set_index("customer_id")
    mail = mail.reindex(out.index)
    out["emails_sent"] = mail["sent"].fillna(0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = mail["opened"].astype(float) / mail["sent"].astype(float)
    out["email_open_rate"] = rate.where(mail["sent"] > 0).clip(upper=1.0)
    out["csat_mean"], out["nps_mean"], out["n_feedback"] = np.nan, np.nan, 0.0
    if feedback is not None:
        from cjmlib.voice.surveys import read_feedback

        fb = read_feedback(feedback, required=["customer_id", "csat", "nps"])
        if "survey" in fb.columns:
            post = fb[fb["survey"] == "post_interaction"]
            overall = fb[(fb["survey"] == "relationship") & fb.get(
                "touchpoint", pd.Series(None, index=fb.index)).isna()]
            fb = pd.concat([post, overall])
        fb = fb[fb["customer_id"].notna()]
        agg = fb.groupby("customer_id").agg(csat_mean=("csat", "mean"), nps_mean=("nps", "mean"),
                                            n_feedback=("csat", "size"))
        agg = agg.reindex(out.index)
        out["csat_mean"] = agg["csat_mean"]
        out["nps_mean"] = agg["nps_mean"]
        out["n_feedback"] = agg["n_feedback"].fillna(0).astype(float)
    if ordinal:
        if customers is None:
            raise ValueError(f"ordinal attributes {list(ordinal)} need the customers table; "
                             "got customers=None")
        check_columns(customers, ["customer_id", *ordinal], what="customers table")
        prof = customers.drop_duplicates("customer_id").set_index("customer_id")
        for col, levels in ordinal.items():
            codes = {str(level): float(k) for k, level in enumerate(levels)}
            values = prof[col].reindex(out.index)
            unknown = sorted({str(v) for v in values.dropna().unique()} - set(codes))
            if unknown:
                raise ValueError(f"customers table: column {col!r} has values {unknown} not "
                                 f"among the ordered levels {list(levels)}")
            out[f"crm_{col}"] = (values.astype(str).where(values.notna()).map(codes)
                                 .astype(float))
    out.index.name = "customer_id"
    return out


def prepare_features(features: pd.DataFrame, columns: Sequence[str], *,
                     winsorize: float = 0.01) -> pd.DataFrame:
    """Clustering matrix: chosen ``columns``, log1p of counts and money
    (:data:`LOG_FEATURES`), winsorised at the ``winsorize`` and ``1 - winsorize`` quantiles,
    missing values set to the median, then standardised to mean 0 and standard deviation 1.

    Raises ``ValueError`` for unknown columns or a column without variation.
    """
    from sklearn.preprocessing import StandardScaler

    columns = list(columns)
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(f"features: unknown column(s) {missing}; available: "
                         f"{list(features.columns)}")
    check_scalar(winsorize, "winsorize", typ=float, ge=0, lt=0.5)
    x = features[columns].astype(float).copy()
    for col in columns:
        if col in LOG_FEATURES:
            x[col] = np.log1p(x[col].clip(lower=0))
        if x[col].notna().sum() == 0:
            raise ValueError(f"features: column {col!r} has no values")
        lo, hi = x[col].quantile([winsorize, 1 - winsorize])
        x[col] = x[col].clip(lo, hi).fillna(x[col].median())
    flat = [c for c in columns if x[c].std() == 0]
    if flat:
        raise ValueError(f"features: column(s) {flat} do not vary over the "
                         f"{len(x)} customers; drop them from the clustering features")
    scaled = StandardScaler().fit_transform(x.to_numpy())
    return pd.DataFrame(scaled, index=features.index, columns=columns)


# --------------------------------------------------------------------------------------------
# Choosing k and clustering
# --------------------------------------------------------------------------------------------


def choose_k(
    x: pd.DataFrame,
    *,
    k_range: Sequence[int] = range(2, 9),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    subsample: float = 0.8,
    min_stability: float = 0.75,
    silhouette_sample: int = 4000,
    n_init: int = 10,
    max_fit: int | None = None,
) -> pd.DataFrame:
    """Silhouette and stability of k-means for each k; the chosen k is flagged.

    ``x`` is the matrix of :func:`prepare_features`. For each k and seed, k-means
    (``n_init`` k-means++ starts) is fitted on a random ``subsample`` share of customers and
    assigns every customer; ``silhouette`` is the mean silhouette of those assignments (over
    ``silhouette_sample`` customers drawn with the seed) averaged over seeds (sd in
    ``silhouette_sd``); ``stability`` is the mean adjusted Rand index between the assignments
    of every pair of seeds (1 = the same segments whatever the seed and subsample). The
    chosen k maximises the silhouette among ks with ``stability >= min_stability`` (or, if
    none is that stable, maximises stability). Returns ``k``, ``silhouette``,
    ``silhouette_sd``, ``stability``, ``stability_min``, ``inertia`` (within-cluster sum of
    squares of the full-data fit, per customer), ``chosen``.

    ``max_fit`` (None: no limit) caps the customers each k-means is fitted on: a seed's fit
    uses at most ``max_fit`` of its subsample, the full-data fit at most ``max_fit``
    customers drawn with the first seed, and every customer is still assigned and counted
    (silhouette, stability, inertia over all). With ``n * subsample <= max_fit`` and ``n <=
    max_fit`` nothing changes. On hundreds of thousands of customers the centres of a large
    random sample are those of all customers up to sampling error, at a fraction of the cost;
    the stability is then between fits on nearly disjoint samples rather than on 80%
    overlapping ones, a stricter test (Lange et al. 2004 compare disjoint halves).
    """
    ks = sorted({int(k) for k in k_range})
    if not ks or ks[0] < 2:
        raise ValueError(f"k_range must hold integers >= 2; got {list(k_range)}")
    seeds = [int(s) for s in seeds]
    if len(seeds) < 2:
        raise ValueError(f"seeds: stability needs at least two seeds; got {seeds}")
    check_scalar(subsample, "subsample", typ=float, gt=0, le=1)
    check_scalar(min_stability, "min_stability", typ=float, ge=0, le=1)
    check_scalar(max_fit, "max_fit", typ=(int, type(None)))
    if max_fit is not None and max_fit < 10 * ks[-1]:
        raise ValueError(f"max_fit={max_fit} is too few customers to fit k-means with k up "
                         f"to {ks[-1]}; give at least {10 * ks[-1]} or None")
    values = x.to_numpy(float)
    n = len(values)
    if n < 3 * ks[-1]:
        raise ValueError(f"choose_k: {n} customers are too few for k up to {ks[-1]}")
    # the ks are scored side by side, one thread each (k-means, silhouettes and their BLAS
    # calls run without the GIL); each k's numbers are those of scoring it alone
    score = partial(_score_k, values, seeds=seeds, subsample=subsample,
                    silhouette_sample=silhouette_sample, n_init=n_init, max_fit=max_fit)
    with _single_thread(), ThreadPoolExecutor(max_workers=min(len(ks), os.cpu_count() or 1)
                                              ) as pool:
        rows = list(pool.map(score, ks))
    table = pd.DataFrame(rows)
    stable = table[table["stability"] >= min_stability]
    best = (stable.loc[stable["silhouette"].idxmax(), "k"] if not stable.empty
            else table.loc[table["stability"].idxmax(), "k"])
    table["chosen"] = table["k"] == best
    return table


def _single_thread() -> Any:
    """k-means and silhouettes on one thread: on these small matrices OpenMP and BLAS threads
    cost more than they save, and their spin-waiting on a busy two-core machine made k-means
    fits 30 times slower. Results do not depend on the number of threads."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def _capped(rows: np.ndarray, max_fit: int | None, seed: int) -> np.ndarray:
    """``rows``, or ``max_fit`` of them drawn with ``seed`` when there are more."""
    if max_fit is None or len(rows) <= max_fit:
        return rows
    return np.sort(np.random.default_rng([seed, max_fit]).choice(rows, max_fit, replace=False))


def _score_k(values: np.ndarray, k: int, *, seeds: Sequence[int], subsample: float,
             silhouette_sample: int, n_init: int, max_fit: int | None) -> dict[str, float]:
    with _single_thread():  # this thread's OpenMP too (its thread count is per thread)
        return _score_k_alone(values, k, seeds, subsample, silhouette_sample, n_init, max_fit)


def _score_k_alone(values: np.ndarray, k: int, seeds: Sequence[int], subsample: float,
                   silhouette_sample: int, n_init: int, max_fit: int | None
                   ) -> dict[str, float]:
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = len(values)
    labels, sil = [], []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        fit_rows = rng.choice(n, size=max(k, int(round(subsample * n))), replace=False)
        fit_rows = _capped(fit_rows, max_fit, seed)
        model = KMeans(k, n_init=n_init, random_state=seed).fit(values[fit_rows])
        lab = model.predict(values)
        labels.append(lab)
        if len(np.unique(lab)) > 1:
            sil.append(silhouette_score(values, lab, sample_size=min(silhouette_sample, n),
                                        random_state=seed))
    pairs = [_adjusted_rand(labels[i], labels[j], k)
             for i in range(len(labels)) for j in range(i + 1, len(labels))]
    fit_all = _capped(np.arange(n), max_fit, seeds[0])
    full = KMeans(k, n_init=n_init, random_state=seeds[0]).fit(values[fit_all])
    inertia = float(full.inertia_) if len(fit_all) == n else \
        float(np.sum(full.transform(values).min(axis=1) ** 2))
    return {"k": k, "silhouette": float(np.mean(sil)) if sil else np.nan,
            "silhouette_sd": float(np.std(sil, ddof=1)) if len(sil) > 1 else np.nan,
            "stability": float(np.mean(pairs)), "stability_min": float(np.min(pairs)),
            "inertia": inertia / n}


def _adjusted_rand(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985) of two labellings with labels ``0..k-1``,
    from their contingency table counted with one ``bincount``: the pair counts and the
    formula of sklearn's ``adjusted_rand_score`` in exact integers, so the same number,
    without its two sorts of hundreds of thousands of labels per pair."""
    table = np.bincount(a.astype(np.int64) * k + b, minlength=k * k).reshape(k, k)
    n = int(len(a))
    rows, cols = table.sum(axis=1), table.sum(axis=0)
    squares = int((table.astype(object) ** 2).sum())
    fp = int((table @ cols).sum()) - squares
    fn = int((table.T @ rows).sum()) - squares
    tp = squares - n
    tn = n * n - fp - fn - squares
    if fn == 0 and fp == 0:
        return 1.0
    return 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))


@dataclass
class Segmentation:
    """A k-means segmentation of customers.

    ``segments``: ``customer_id``, ``persona`` (segment number, 1 = largest),
    ``persona_name`` (number and defining traits, e.g. ``"1: high app share, high tier"``).
    ``profile``: one row per segment -- ``persona``, ``persona_name``, ``customers``, and per feature its mean in original
    units and (``z_<feature>``) in standard deviations from the mean of all customers.
    ``features`` echoes the clustering features, ``k`` and ``seed`` the options.
    """

    k: int
    seed: int
    features: list[str]
    segments: pd.DataFrame
    profile: pd.DataFrame = field(repr=False)

    def to_pandas(self) -> pd.DataFrame:
        """The segments table (customer_id, persona, persona_name)."""
        return self.segments


def segment_customers(
    features: pd.DataFrame,
    *,
    columns: Sequence[str] = DEFAULT_FEATURES,
    k: int,
    seed: int = 0,
    n_init: int = 10,
    winsorize: float = 0.01,
    n_traits: int = 2,
    max_fit: int | None = None,
) -> Segmentation:
    """Cluster customers into ``k`` segments with k-means on :func:`prepare_features`.

    Segments are numbered 1..k by size (largest first; ties by the smallest customer id) and
    named by their ``n_traits`` most distinctive features (largest absolute z-score of the
    segment mean), e.g. ``"1: high app share, high tier"``. ``max_fit`` (None: all) fits
    k-means on at most that many customers drawn with ``seed`` and assigns every customer
    to its nearest centre, as in :func:`choose_k`. See :class:`Segmentation`.
    """
    from sklearn.cluster import KMeans

    check_scalar(k, "k", typ=int, ge=2)
    check_scalar(seed, "seed", typ=int, ge=0)
    check_scalar(n_traits, "n_traits", typ=int, ge=1)
    x = prepare_features(features, columns, winsorize=winsorize)
    if len(x) < k:
        raise ValueError(f"segment_customers: {len(x)} customers for k={k} segments")
    check_scalar(max_fit, "max_fit", typ=(int, type(None)))
    values = x.to_numpy(float)
    fit_rows = _capped(np.arange(len(values)), max_fit, seed)
    with _single_thread():
        if len(fit_rows) == len(values):
            raw = KMeans(k, n_init=n_init, random_state=seed).fit_predict(values)
        else:
            raw = KMeans(k, n_init=n_init, random_state=seed).fit(values[fit_rows]) \
                .predict(values)
    sizes = pd.Series(raw).value_counts()
    first_id = pd.Series(x.index, dtype=str).groupby(raw).min()
    order = sorted(sizes.index, key=lambda c: (-sizes[c], first_id[c]))
    number = {c: i for i, c in enumerate(order, start=1)}
    seg = pd.Series([number[c] for c in raw], index=x.index, name="persona")
    profile = features.loc[x.index, list(columns)].astype(float).groupby(seg).mean()
    zmeans = x.groupby(seg).mean().add_prefix("z_")
    profile = pd.concat([seg.value_counts().rename("customers"), profile, zmeans], axis=1)
    profile.index.name = "persona"
    names = {}
    for s in profile.index:
        z = zmeans.loc[s].rename(lambda c: c[2:])
        top = z.abs().sort_values(ascending=False, kind="stable").index[:n_traits]
        names[s] = f"{s}: " + ", ".join(f"{'high' if z[c] > 0 else 'low'} {feature_label(c)}"
                                         for c in top)
    profile.insert(0, "persona_name", pd.Series(names))
    segments = pd.DataFrame({"customer_id": x.index.astype(str), "persona": seg.to_numpy(),
                             "persona_name": seg.map(names).to_numpy()})
    return Segmentation(k=k, seed=seed, features=list(columns), segments=segments,
                        profile=profile.reset_index())


# --------------------------------------------------------------------------------------------
# Persona cards
# --------------------------------------------------------------------------------------------


def persona_cards(
    segmentation: Segmentation,
    *,
    features: pd.DataFrame,
    events: Any = None,
    conversion_touchpoints: Sequence[str] = (),
    exclude_touchpoints: Sequence[str] = (),
    feedback: pd.DataFrame | None = None,
    customers: pd.DataFrame | None = None,
    churn_col: str | None = None,
    n_traits: int = 3,
    min_n: int = 10,
    max_steps: int = 6,
    n_quotes: int = 2,
) -> pd.DataFrame:
    """One persona card per segment.

    Columns: ``persona`` (segment number), ``name``, ``customers``, ``share`` of segmented customers (Wilson
    ``share_ci_low``/``_high``), ``traits`` (the ``n_traits`` most distinctive features: the
    segment mean against all customers, with its z-score), ``typical_journey`` (the most
    frequent session path, at most ``max_steps`` steps, from
    :func:`cjmlib.journeys.transitions.path_variants`; needs ``events`` and ``conversion_touchpoints``)
    with ``typical_journey_share`` of the segment's ``n_sessions`` sessions (Wilson
    ``typical_journey_share_ci_low``/``_high``), ``distinctive_touchpoints`` (touchpoints
    reached by a larger share of the segment's customers than of all, as ``touchpoint (share
    of the segment's customers vs share of all)``), ``pain_points`` (the three touchpoints with the
    lowest post-interaction CSAT among those with at least ``min_n`` answers, with n), ``n_csat``,
    ``csat_mean``, ``n_nps``, ``nps`` (score intervals as in
    :func:`cjmlib.voice.surveys.survey_metrics`), ``churn_rate`` (Wilson interval; needs ``customers``
    and ``churn_col``), ``quotes`` (the ``n_quotes`` most frequent negative comments, then the
    most frequent positive one, of the segment's customers -- survey comments and interview
    turns first, social posts when there are none; polarity from CSAT or sentiment, joined
    by " | ").
    """
    from cjmlib.core.schema import SCORE_RANGES
    from cjmlib.stats.intervals import mean_interval, nps_interval, wilson_interval

    seg = segmentation.segments
    prof = segmentation.profile.set_index("persona")
    total = int(prof["customers"].sum())
    by_customer = seg.set_index("customer_id")["persona"]
    overall = features.loc[by_customer.index.intersection(features.index)]
    typical = _typical_journeys(seg, events, conversion_touchpoints, exclude_touchpoints,
                                max_steps) if events is not None and conversion_touchpoints \
        else {}
    reach = _touchpoint_reach(seg, events, exclude_touchpoints) if events is not None else None
    fb = None
    if feedback is not None:
        from cjmlib.voice.surveys import join_segments
        from cjmlib.voice.themes import comment_polarity

        fb = join_segments(feedback[feedback["customer_id"].notna()].copy(), seg,
                           segment_col="persona")
        fb = fb[fb["persona"].notna()]
        fb["_polarity"] = comment_polarity(fb)
    churn = None
    if customers is not None and churn_col is not None:
        from cjmlib.voice.drivers import churn_flags

        churn = churn_flags(customers, churn_col).reindex(by_customer.index)
    rows = []
    for s, card in prof.iterrows():
        members = by_customer.index[by_customer == s]
        n = int(card["customers"])
        lo, hi = wilson_interval(n, total)
        traits = []
        z = card[[f"z_{c}" for c in segmentation.features]].rename(lambda c: c[2:])
        for c in z.abs().sort_values(ascending=False, kind="stable").index[:n_traits]:
            traits.append(f"{feature_label(c)} {_fmt(card[c])} vs {_fmt(overall[c].mean())} "
                          f"overall (z {z[c]:+.1f})")
        row: dict[str, Any] = {"persona": int(s), "name": card["persona_name"], "customers": n,
                               "share": n / total, "share_ci_low": lo, "share_ci_high": hi,
                               "traits": "; ".join(traits)}
        path = typical.get(int(s), {})
        row["typical_journey"] = path.get("path")
        for key in ("share", "share_ci_low", "share_ci_high"):
            row[f"typical_journey_{key}"] = path.get(key, np.nan)
        row["n_sessions"] = path.get("sessions", 0)
        row["distinctive_touchpoints"] = _distinctive(reach, int(s)) if reach is not None \
            else None
        row.update(pain_points=None, n_csat=0, csat_mean=np.nan, csat_ci_low=np.nan,
                   csat_ci_high=np.nan, n_nps=0, nps=np.nan, nps_ci_low=np.nan,
                   nps_ci_high=np.nan, quotes=None)
        if fb is not None:
            mine = fb[fb["persona"] == s]
            post = mine[mine["survey"] == "post_interaction"] if "survey" in mine.columns \
                else mine
            n_c, m, c_lo, c_hi = mean_interval(post["csat"].to_numpy(float),
                                               scale=SCORE_RANGES["csat"])
            nps = nps_interval(post["nps"].to_numpy(float))
            row.update(n_csat=n_c, csat_mean=m, csat_ci_low=c_lo, csat_ci_high=c_hi,
                       n_nps=nps["n"], nps=nps["nps"], nps_ci_low=nps["nps_ci_low"],
                       nps_ci_high=nps["nps_ci_high"])
            per_tp = post.groupby("touchpoint")["csat"].agg(["mean", "count"])
            per_tp = per_tp[per_tp["count"] >= min_n].sort_values(["mean", "count"],
                                                                  ascending=[True, False])
            row["pain_points"] = "; ".join(f"{tp} (CSAT {r['mean']:.1f}, n={int(r['count'])})"
                                           for tp, r in per_tp.head(3).iterrows()) or None
            row["quotes"] = _quotes(mine, n_quotes)
        if churn is not None:
            flags = churn.reindex(members).dropna()
            k_churn = int(flags.sum())
            c_lo, c_hi = wilson_interval(k_churn, len(flags))
            row.update(n_churn_known=len(flags),
                       churn_rate=k_churn / len(flags) if len(flags) else np.nan,
                       churn_rate_ci_low=c_lo, churn_rate_ci_high=c_hi)
        for c in segmentation.features:
            row[f"mean_{c}"] = card[c]
        rows.append(row)
    return pd.DataFrame(rows)


def _fmt(value: float) -> str:
    if pd.isna(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _typical_journeys(seg: pd.DataFrame, events: Any, conversion_touchpoints: Sequence[str],
                      exclude: Sequence[str], max_steps: int, separator: str = " > ",
                      ) -> dict[int, dict[str, Any]]:
    """Most frequent session path per segment, with its share of the segment's sessions:
    the variants of :func:`cjmlib.journeys.transitions.path_variants` (the same paths, cut
    after ``max_steps`` steps, ties by path), counted for every segment in one grouped query
    over the sessions instead of a build per segment."""
    import ibis

    from cjmlib.core.engine import execute
    from cjmlib.journeys.build import build_journeys
    from cjmlib.stats.intervals import add_rate

    journeys = build_journeys(events, conversion_touchpoints=list(conversion_touchpoints),
                              unit="session", exclude_touchpoints=list(exclude))
    s = journeys.ordered("step")
    parts = [s.touchpoint.max(where=s.step == k) for k in range(1, max_steps + 1)]
    per_journey = s.group_by(["journey_id", "customer_id"]).aggregate(
        n_steps=s.step.max(), **{f"_p{k}": p for k, p in enumerate(parts, start=1)})
    path = ibis.literal(separator).join([per_journey[f"_p{k}"]
                                         for k in range(1, max_steps + 1)])
    path = ibis.ifelse(per_journey.n_steps > max_steps, path + separator + "...", path)
    labels = ibis.memtable(seg[["customer_id", "persona"]].astype({"customer_id": str}))
    paths = per_journey.select("customer_id", path=path).inner_join(labels, "customer_id")
    variants = paths.group_by(["persona", "path"]).aggregate(journeys=paths.count())
    ranked = variants.mutate(
        _rank=ibis.row_number().over(ibis.window(group_by="persona", order_by=[
            ibis.desc(variants.journeys), variants.path])),
        sessions=variants.journeys.sum().over(ibis.window(group_by="persona")))
    top = execute(ranked.filter(ranked._rank == 0).drop("_rank"))
    top = top.astype({"journeys": "int64", "sessions": "int64"}).sort_values("persona")
    add_rate(top, "share", "journeys", "sessions")
    return {int(r.persona): {"path": str(r.path), "share": float(r.share),
                             "share_ci_low": float(r.share_ci_low),
                             "share_ci_high": float(r.share_ci_high),
                             "sessions": int(r.sessions)}
            for r in top.itertuples(index=False)}


def _touchpoint_reach(seg: pd.DataFrame, events: Any, exclude: Sequence[str]) -> pd.DataFrame:
    """Share of each segment's customers (and of all) who reached each touchpoint."""
    import ibis

    from cjmlib.core.engine import execute
    from cjmlib.journeys.events import read_events

    t = read_events(events)
    if exclude:
        t = t.filter(~t.touchpoint.isin(list(exclude)))
    pairs = t.select("customer_id", "touchpoint").distinct()
    labels = ibis.memtable(seg[["customer_id", "persona"]].astype({"customer_id": str}))
    joined = pairs.inner_join(labels, "customer_id")
    counts = execute(joined.group_by(["persona", "touchpoint"]).aggregate(n=joined.count()))
    sizes = seg["persona"].value_counts()
    counts["reach"] = counts["n"] / counts["persona"].map(sizes)
    all_reach = counts.groupby("touchpoint")["n"].sum() / len(seg)
    counts["reach_all"] = counts["touchpoint"].map(all_reach)
    counts["customers"] = counts["persona"].map(sizes)
    counts["customers_all"] = len(seg)
    return counts


def _distinctive(reach: pd.DataFrame, segment: int, top: int = 3) -> str | None:
    r = reach[reach["persona"] == segment]
    r = r[r["reach"] > r["reach_all"]].assign(lift=lambda d: d["reach"] / d["reach_all"])
    r = r[r["reach"] >= 0.05].sort_values(["lift", "touchpoint"], ascending=[False, True])
    if r.empty:
        return None
    return "; ".join(f"{tp} ({100 * a:.0f}% of {n:,} vs {100 * b:.0f}% of {n_all:,})"
                     for tp, a, n, b, n_all in r[["touchpoint", "reach", "customers", "reach_all",
                                                  "customers_all"]].head(top)
                     .itertuples(index=False))


def _quotes(frame: pd.DataFrame, n_quotes: int) -> str | None:
    texts = frame[frame["text"].map(lambda t: isinstance(t, str) and bool(t.strip()))]
    picks: list[str] = []
    for pol, k in (("negative", n_quotes), ("positive", 1)):
        pool = texts[texts["_polarity"] == pol]
        if "survey" in pool.columns:
            # survey comments and interviews say which experience they are about; social
            # posts are the fallback
            direct = pool[pool["survey"].isin(["post_interaction", "interview"])]
            pool = direct if not direct.empty else pool
        counts = pool["text"].str.strip().value_counts()
        ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        picks.extend(f"\u201c{t}\u201d" for t, _ in ordered[:k])
    return " | ".join(picks) or None


# --------------------------------------------------------------------------------------------
# Agreement with known labels
# --------------------------------------------------------------------------------------------


@dataclass
class LabelAgreement:
    """Agreement of segments with known labels on the customers that have both.

    ``ari``: adjusted Rand index (Hubert & Arabie 1985; 0 = chance, 1 = identical);
    ``ami``: adjusted mutual information (Vinh, Epps & Bailey 2010); ``n``: customers
    compared; ``crosstab``: segments (rows) by labels (columns); ``best_match``: for each
    segment (``persona``), the label most of its customers carry and that share.
    """

    ari: float
    ami: float
    n: int
    crosstab: pd.DataFrame
    best_match: pd.DataFrame

    def to_pandas(self) -> pd.DataFrame:
        """One row: ari, ami, n."""
        return pd.DataFrame([{"ari": self.ari, "ami": self.ami, "n": self.n}])


def label_agreement(segments: pd.DataFrame, labels: pd.DataFrame, *,
                    label_col: str = "label", segment_col: str = "persona") -> LabelAgreement:
    """Compare ``segments`` (``customer_id``, ``segment_col``, default ``persona``) with ``labels``
    (``customer_id``, ``label_col``) on the customers in both; see :class:`LabelAgreement`.

    Raises ``ValueError`` when fewer than two customers are in both tables.
    """
    from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

    check_columns(segments, ["customer_id", segment_col], what="segments table")
    check_columns(labels, ["customer_id", label_col], what="labels table")
    both = segments[["customer_id", segment_col]].merge(
        labels[["customer_id", label_col]].dropna().drop_duplicates("customer_id"),
        on="customer_id")
    if len(both) < 2:
        raise ValueError(f"label_agreement: {len(both)} customers are in both the segments "
                         f"({len(segments)}) and the labels ({len(labels)}) tables; check "
                         "that both use the same customer_id")
    ari = float(adjusted_rand_score(both[label_col], both[segment_col]))
    ami = float(adjusted_mutual_info_score(both[label_col], both[segment_col]))
    cross = pd.crosstab(both[segment_col], both[label_col])
    best = pd.DataFrame({"persona": cross.index, "label": cross.idxmax(axis=1).to_numpy(),
                         "share": (cross.max(axis=1) / cross.sum(axis=1)).to_numpy(),
                         "customers": cross.sum(axis=1).to_numpy()})
    return LabelAgreement(ari=ari, ami=ami, n=len(both), crosstab=cross, best_match=best)


def customer_labels(customers: pd.DataFrame, labels: pd.DataFrame, *, key: str = "crm_id",
                    label_col: str = "persona") -> pd.DataFrame:
    """Known labels keyed by ``customer_id``: ``labels`` (``key``, ``label_col``, e.g. the
    sample's ``ground_truth/persons.csv``) joined to ``customers`` on ``key`` (e.g. the CRM
    id the customers table carries). Returns ``customer_id``, ``label``; raises
    ``ValueError`` when no customer matches."""
    check_columns(customers, ["customer_id", key], what="customers table")
    check_columns(labels, [key, label_col], what="labels table")
    right = labels[[key, label_col]].dropna().drop_duplicates(key)
    left = customers[["customer_id", key]].dropna().astype({key: str})
    out = left.merge(right.astype({key: str}), on=key)[["customer_id", label_col]]
    if out.empty:
        raise ValueError(f"labels table: no {key!r} value matches the customers table "
                         f"({len(left)} customers with {key!r}, {len(right)} labels)")
    return out.rename(columns={label_col: "label"}).reset_index(drop=True)
