"""Learning sentiment from the researcher's own rated comments.

Comments usually come with a survey score (CSAT, NPS). :func:`learn_sentiment` fits, per
language, an n-gram model (:mod:`cjmlib.voice.text_model`) on those pairs -- the score's
polarity (CSAT 1-2 negative, 4-5 positive; NPS 0-6 / 9-10; neutral left out) is the
label -- and adds its log-odds to the default score with a weight chosen on out-of-fold
predictions (:func:`cjmlib.voice.text_model.combine`). Both are judged on the same rated
comments by ``folds``-fold cross-validation: the AUC of separating positive from negative
comments, with a percentile bootstrap interval, and the paired bootstrap interval of the
difference. The own model replaces the default scorer for a language only when that
difference's interval lies above 0.

:func:`apply_learning` then rescores: rated comments get their *out-of-fold* score (never a
score from a model that saw their own rating), other comments (social posts, interviews)
the model fitted on all rated ones. ``sentiment_scorer`` names what produced each number.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns, check_scalar
from cjmlib.voice.sentiment import polarity
from cjmlib.voice.text_model import (
    TextModel,
    combine,
    default_features,
    distinct_counts,
    fit_counts,
)

#: Weights of the own model's log-odds tried on the out-of-fold predictions.
WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0)


@dataclass
class SentimentLearning:
    """What :func:`learn_sentiment` found: ``table`` has one row per language (rated
    comments, positives, negatives, ``auc_default`` and ``auc_own`` with 95% intervals,
    ``auc_gain`` with its paired interval, ``weight``, ``used``: the scorer the language
    gets, and ``reason`` when the own model is not used)."""

    score_col: str
    table: pd.DataFrame
    models_: dict[str, TextModel] = field(repr=False)
    weights_: dict[str, float] = field(repr=False)
    oof_: dict[str, pd.Series] = field(repr=False)

    def _repr_html_(self) -> str:
        return self.table._repr_html_()  # type: ignore[operator]


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def _bootstrap(y: np.ndarray, a: np.ndarray, b: np.ndarray, *, n_boot: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Bootstrap AUCs of ``a`` and ``b`` on the same resampled comments.

    A resample is drawn as an index vector (resamples with one class only are drawn
    again); its AUC is that of the comments repeated as often as drawn
    (:func:`_weighted_auc`), the same number as sklearn's ``roc_auc_score`` of the
    resampled arrays, without sorting each resample."""
    n = len(y)
    codes_a, codes_b = np.unique(a, return_inverse=True)[1], np.unique(b, return_inverse=True)[1]
    out_a, out_b = [], []
    while len(out_a) < n_boot:
        idx = rng.integers(0, n, n)
        drawn = np.bincount(idx, minlength=n).astype(float)
        positives = drawn[y].sum()
        if positives == 0 or positives == n:
            continue
        out_a.append(_weighted_auc(y, codes_a, drawn))
        out_b.append(_weighted_auc(y, codes_b, drawn))
    return np.array(out_a), np.array(out_b)


def _weighted_auc(y: np.ndarray, codes: np.ndarray, weight: np.ndarray) -> float:
    """AUC of scores given by their rank ``codes`` (0 = lowest, ties share a code), each
    comment counted ``weight`` times: the Mann-Whitney U over (positives x negatives), ties
    counted half (Hanley & McNeil 1982), equal to the area under the ROC curve. Integer
    weights keep every sum exact."""
    k = int(codes.max()) + 1
    pos = np.bincount(codes[y], weights=weight[y], minlength=k)
    neg = np.bincount(codes[~y], weights=weight[~y], minlength=k)
    below = np.cumsum(neg) - neg
    return float(np.sum(pos * (below + 0.5 * neg)) / (pos.sum() * neg.sum()))


def _fold_logit(raw: Any, distinct: Any, codes: np.ndarray, y: np.ndarray,
                split: tuple[np.ndarray, np.ndarray], *, language: str,
                features: str) -> np.ndarray:
    """Out-of-fold log-odds of one cross-validation fold: the model fitted on the fold's
    training rows, applied to its test rows (each distinct text once, spread to its copies:
    log-odds are row by row)."""
    train, test = split
    model = fit_counts(raw[train], y[train], language=language, features=features)
    return model.predict_counts(distinct)[codes[test]]


def learn_sentiment(
    scored: pd.DataFrame,
    *,
    score_col: str = "csat",
    text_col: str = "text",
    min_per_class: int = 30,
    folds: int = 5,
    n_boot: int = 200,
    seed: int = 0,
) -> SentimentLearning:
    """Fit and judge an own sentiment model per language on rated comments.

    ``scored`` is the output of :func:`cjmlib.voice.sentiment.score_sentiment` with a
    ``score_col`` (``"csat"`` or ``"nps"``). Languages with fewer than ``min_per_class``
    positive or negative rated comments keep the default scorer (``reason`` says so).
    ``seed`` fixes the folds and the bootstrap.
    """
    from sklearn.model_selection import StratifiedKFold

    check_scalar(score_col, "score_col", in_=("csat", "nps"))
    check_columns(scored, [text_col, "sentiment", "sentiment_language", score_col],
                  what="scored feedback")
    check_scalar(min_per_class, "min_per_class", typ=int, ge=5)
    check_scalar(folds, "folds", typ=int, ge=2)
    if not scored.index.is_unique:
        raise ValueError("scored feedback: the index must be unique (reset_index() first)")
    rng = np.random.default_rng(seed)
    rows, models, weights, oof = [], {}, {}, {}
    rated = scored[scored["sentiment"].notna() & scored[score_col].notna()]
    pol = polarity(rated[score_col], kind=score_col)
    rated = rated[pol.isin(["negative", "positive"])]
    pol = pol[rated.index]
    for lang in sorted(scored["sentiment_language"].dropna().unique()):
        part = rated[rated["sentiment_language"] == lang]
        y = (pol[part.index] == "positive").to_numpy()
        row: dict[str, Any] = {"language": lang, "rated": len(part),
                               "positive": int(y.sum()), "negative": int((~y).sum())}
        default_name = part["sentiment_scorer"].mode().iat[0] if len(part) else None
        if not len(part):
            row.update(used=None, reason="no rated comment with a sentiment: no scorer for "
                                         "the language, or no CSAT of 1-2 or 4-5")
            rows.append(row)
            continue
        if min(row["positive"], row["negative"]) < min_per_class:
            row.update(used=default_name, reason=f"fewer than {min_per_class} positive or "
                       "negative rated comments")
            rows.append(row)
            continue
        features = default_features(str(lang))
        # the texts are vectorised once; every fold fits on its rows of the counts
        codes, distinct = distinct_counts(part[text_col].astype(str).tolist(), features)
        raw = distinct[codes]
        base = part["sentiment"].to_numpy(float)
        logit = np.empty(len(part))
        splitter = StratifiedKFold(min(folds, row["positive"], row["negative"]), shuffle=True,
                                   random_state=seed)
        splits = list(splitter.split(np.zeros(len(y)), y))
        # the folds are fitted side by side (liblinear runs without the GIL); each fold's
        # numbers are those of fitting it alone
        with ThreadPoolExecutor(max_workers=min(len(splits), os.cpu_count() or 1)) as pool:
            fitted = pool.map(partial(_fold_logit, raw, distinct, codes, y,
                                      language=str(lang), features=features), splits)
            for (_, test), values in zip(splits, fitted, strict=True):
                logit[test] = values
        by_w = {w: _auc(y, combine(base, logit, w)) for w in WEIGHTS}
        w = max(by_w, key=lambda k: (round(by_w[k], 4), -k))
        own = combine(base, logit, w)
        a_boot, b_boot = _bootstrap(y, base, own, n_boot=n_boot, rng=rng)
        gain = b_boot - a_boot
        auc_default, auc_own = _auc(y, base), by_w[w]
        use = w > 0 and np.quantile(gain, 0.025) > 0
        row.update(
            auc_default=auc_default, auc_default_ci_low=float(np.quantile(a_boot, 0.025)),
            auc_default_ci_high=float(np.quantile(a_boot, 0.975)),
            auc_own=auc_own, auc_own_ci_low=float(np.quantile(b_boot, 0.025)),
            auc_own_ci_high=float(np.quantile(b_boot, 0.975)),
            auc_gain=auc_own - auc_default, auc_gain_ci_low=float(np.quantile(gain, 0.025)),
            auc_gain_ci_high=float(np.quantile(gain, 0.975)), weight=w,
            used=f"own-model({score_col})+{default_name}" if use else default_name,
            reason=None if use else "does not beat the default scorer (gain interval "
                                    "includes 0)")
        rows.append(row)
        if use:
            models[str(lang)] = fit_counts(raw, y, language=str(lang), features=features,
                                           provenance=f"own rated comments ({score_col})")
            weights[str(lang)] = w
            oof[str(lang)] = pd.Series(own, index=part.index)
    return SentimentLearning(score_col=score_col, table=pd.DataFrame(rows), models_=models,
                             weights_=weights, oof_=oof)


def apply_learning(scored: pd.DataFrame, learning: SentimentLearning, *,
                   text_col: str = "text") -> pd.DataFrame:
    """``scored`` rescored where ``learning`` chose the own model: rated comments get their
    out-of-fold score, the others the model fitted on all rated comments; the default
    score is kept in ``sentiment_default`` and ``sentiment_scorer`` says which is which."""
    check_columns(scored, [text_col, "sentiment", "sentiment_language", "sentiment_scorer"],
                  what="scored feedback")
    out = scored.copy()
    out["sentiment_default"] = out["sentiment"]
    for lang, model in learning.models_.items():
        rows = (out["sentiment_language"] == lang) & out["sentiment"].notna()
        if not rows.any():
            continue
        idx = out.index[rows]
        base = out.loc[idx, "sentiment"].to_numpy(float)
        logit = model.predict_logit(out.loc[idx, text_col].astype(str).tolist())
        new = pd.Series(combine(base, logit, learning.weights_[lang]), index=idx)
        cross = learning.oof_[lang]
        cross = cross[cross.index.isin(idx)]
        new.loc[cross.index] = cross
        name = learning.table.set_index("language").loc[lang, "used"]
        out.loc[idx, "sentiment"] = new
        out.loc[idx, "sentiment_scorer"] = name
    return out
