"""Supervised sentiment of short texts: n-gram TF-IDF and logistic regression (scikit-learn).

One model shape serves two purposes:

* the *shipped* models (:func:`shipped_model`): trained once on public labelled corpora that
  ship in registry packages and stored in ``cjmlib/voice/models/`` (how, and under which
  licence, in ``cjmlib/voice/models/README.md``; ``python -m cjmlib.voice.train_models``
  retrains them bit for bit);
* the researcher's *own* model (:mod:`cjmlib.voice.learning`), fitted on their comments
  and the survey score given with each.

Features: Chinese text (made simplified) as jieba word 1-2-grams and character
1-3-grams, other text as word 1-2-grams and character 2-5-grams within words, hashed into ``2**20`` columns
(Weinberger et al. 2009), sublinear TF-IDF, L2-regularised logistic regression. A model
gives the log-odds that a text is positive; :func:`combine` adds them to a lexicon score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

N_FEATURES = 2**20
MODEL_DIR = Path(__file__).with_name("models")


def _vectorizer(language: str) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.pipeline import make_union

    common = {"n_features": N_FEATURES, "alternate_sign": False, "norm": None}
    if language == "zh":
        return make_union(
            HashingVectorizer(analyzer=_chinese_words, **common),
            HashingVectorizer(analyzer="char", ngram_range=(1, 3), lowercase=False, **common),
        )
    return make_union(
        HashingVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|[!?]", **common),
        HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common),
    )


def _chinese_words(text: str) -> list[str]:
    """jieba words and word pairs of a Chinese text (the workbench's tokenizer)."""
    from cjmlib.voice.sentiment import chinese_tokens

    words = chinese_tokens(text)
    return words + [a + " " + b for a, b in zip(words, words[1:], strict=False)]


def _prepare(texts: Any, language: str) -> list[str]:
    from cjmlib.voice.language import to_simplified

    out = [t if isinstance(t, str) else "" for t in texts]
    if language == "zh":
        out = [to_simplified(t) for t in out]
    return out


@dataclass
class TextModel:
    """A fitted n-gram sentiment model: hashed-feature columns used, their IDF weights and
    logistic-regression coefficients, the intercept. ``predict_logit`` gives log-odds of
    positive; ``provenance`` says what it was trained on."""

    language: str
    columns: np.ndarray
    idf: np.ndarray
    coef: np.ndarray
    intercept: float
    provenance: str = ""

    def predict_logit(self, texts: Any) -> np.ndarray:
        """Log-odds that each text is positive."""
        from sklearn.preprocessing import normalize

        texts = list(texts)
        if not texts:
            return np.zeros(0)
        counts = _vectorizer(self.language).transform(_prepare(texts, self.language))
        counts = counts.tocsc()[:, self.columns].tocsr()
        counts.data = 1.0 + np.log(counts.data)
        weighted = normalize(counts.multiply(self.idf).tocsr())
        return np.asarray(weighted @ self.coef).ravel() + self.intercept

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, language=self.language, columns=self.columns.astype(np.int32),
                            idf=self.idf.astype(np.float32), coef=self.coef.astype(np.float32),
                            intercept=np.float64(self.intercept), provenance=self.provenance)

    @classmethod
    def load(cls, path: str | Path) -> TextModel:
        with np.load(path, allow_pickle=False) as f:
            return cls(language=str(f["language"]), columns=f["columns"].astype(np.int64),
                       idf=f["idf"].astype(np.float64), coef=f["coef"].astype(np.float64),
                       intercept=float(f["intercept"]), provenance=str(f["provenance"]))


def fit_text_model(texts: Any, positive: Any, *, language: str, c: float = 2.0,
                   min_df: int = 2, extra: np.ndarray | None = None,
                   provenance: str = "") -> TextModel:
    """Fit a :class:`TextModel` on ``texts`` labelled ``positive`` (bool). Hashed columns
    seen in fewer than ``min_df`` texts are dropped (they cannot generalise and would bloat
    a stored model). Deterministic (liblinear, no random start, on a fixed design)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    y = np.asarray(positive, dtype=bool)
    if y.all() or not y.any():
        raise ValueError("fit_text_model needs both positive and negative texts; got "
                         f"{int(y.sum())} positive of {len(y)}")
    counts = _vectorizer(language).transform(_prepare(texts, language)).tocsc()
    df = np.diff(counts.indptr)
    columns = np.flatnonzero(df >= min_df)
    counts = counts[:, columns].tocsr()
    n = counts.shape[0]
    idf = np.log((1 + n) / (1 + df[columns])) + 1.0  # sklearn's smooth idf
    counts.data = 1.0 + np.log(counts.data)
    design = normalize(counts.multiply(idf).tocsr())
    # liblinear solves the L2-regularised problem to tolerance on the sparse design (lbfgs
    # stops short of it at large C and then depends on its iteration cap)
    model = LogisticRegression(C=c, solver="liblinear", tol=1e-6).fit(design, y)
    return TextModel(language=language, columns=columns, idf=idf, coef=model.coef_.ravel(),
                     intercept=float(model.intercept_[0]), provenance=provenance)


def combine(lexicon_score: np.ndarray, logit: np.ndarray, weight: float) -> np.ndarray:
    """A lexicon score in [-1, 1] (VADER-normalised, ``x / sqrt(x^2 + 15)``) plus
    ``weight`` times a model's log-odds, on the lexicon's raw scale, normalised again.

    >>> float(combine(np.array([0.0]), np.array([0.0]), 3.0)[0])
    0.0
    """
    c = np.clip(np.asarray(lexicon_score, float), -0.999999, 0.999999)
    raw = c * np.sqrt(15.0 / (1.0 - c * c)) + weight * np.asarray(logit, float)
    return raw / np.sqrt(raw * raw + 15.0)


_SHIPPED: dict[str, TextModel] = {}


def shipped_model(language: str) -> TextModel:
    """The shipped model for ``language`` (``"en"`` or ``"zh"``), loaded once."""
    if language not in _SHIPPED:
        path = MODEL_DIR / f"{language}_reviews.npz"
        if not path.exists():
            raise FileNotFoundError(f"no shipped sentiment model for {language!r} ({path})")
        _SHIPPED[language] = TextModel.load(path)
    return _SHIPPED[language]


def logit_to_score(logit: np.ndarray) -> np.ndarray:
    """Log-odds to a score in [-1, 1]: ``2 p - 1 = tanh(logit / 2)``."""
    return np.tanh(np.asarray(logit, float) / 2.0)




def shipped_weight(language: str) -> float:
    """The cross-validated weight of the shipped ``language`` model's log-odds
    (``models/models.json``)."""
    import json

    meta = json.loads((MODEL_DIR / "models.json").read_text())
    return float(meta[language]["weight"])
