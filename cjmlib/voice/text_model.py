"""Supervised sentiment of short texts: n-gram TF-IDF and logistic regression (scikit-learn).

One model shape serves two purposes:

* the *shipped* models (:func:`shipped_model`): trained once on public labelled corpora that
  ship in registry packages and stored in ``cjmlib/voice/models/`` (how, and under which
  licence, in ``cjmlib/voice/models/README.md``; ``python -m cjmlib.voice.train_models``
  retrains them bit for bit);
* the researcher's *own* model (:mod:`cjmlib.voice.learning`), fitted on their comments
  and the survey score given with each.

Features (:data:`FEATURE_SETS`): word and character n-grams (Chinese made simplified and
segmented by jieba), hashed into ``2**20`` columns each (Weinberger et al. 2009), TF-IDF with
a log or binary term frequency, L2-regularised logistic regression (liblinear). A model gives
the log-odds that a text is positive; the shipped Chinese model averages three feature sets
(:class:`ModelSet`); :func:`combine` adds the log-odds to a lexicon score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

N_FEATURES = 2**20
MODEL_DIR = Path(__file__).with_name("models")


#: Feature sets: name -> (what is hashed, term frequency ``"log"`` (1 + log tf) or
#: ``"binary"``). Chinese text is made simplified first.
FEATURE_SETS: dict[str, tuple[str, str]] = {
    "en-words12-charwb25": ("word 1-2-grams and character 2-5-grams within words", "log"),
    "zh-words12-char13": ("jieba word 1-2-grams and character 1-3-grams", "log"),
    "zh-words12-char14-binary": ("jieba word 1-2-grams and character 1-4-grams", "binary"),
    "zh-char24": ("character 2-4-grams", "log"),
}
#: The members of each language's shipped model (their log-odds are averaged); the first is
#: also the feature set of a researcher's own model.
SHIPPED_FEATURES: dict[str, tuple[str, ...]] = {
    "en": ("en-words12-charwb25",),
    "zh": ("zh-words12-char13", "zh-words12-char14-binary", "zh-char24"),
}


def default_features(language: str) -> str:
    """The feature set of a single model for ``language`` (Chinese, else the Latin one)."""
    return SHIPPED_FEATURES["zh" if language == "zh" else "en"][0]


def _vectorizer(features: str) -> Any:
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.pipeline import make_union

    common = {"n_features": N_FEATURES, "alternate_sign": False, "norm": None}
    words = HashingVectorizer(analyzer=_chinese_words, **common)
    if features == "zh-words12-char13":
        return make_union(words, HashingVectorizer(analyzer="char", ngram_range=(1, 3),
                                                   lowercase=False, **common))
    if features == "zh-words12-char14-binary":
        return make_union(words, HashingVectorizer(analyzer="char", ngram_range=(1, 4),
                                                   lowercase=False, **common))
    if features == "zh-char24":
        return HashingVectorizer(analyzer="char", ngram_range=(2, 4), lowercase=False, **common)
    if features == "en-words12-charwb25":
        return make_union(
            HashingVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|[!?]", **common),
            HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common),
        )
    raise ValueError(f"unknown feature set {features!r}; known: {sorted(FEATURE_SETS)}")


def hashed_counts(texts: Any, features: str) -> Any:
    """Raw hashed n-gram counts of ``texts`` (CSR, one row per text) for a feature set;
    each distinct text is prepared and vectorised once (comments repeat: "great service"),
    its row repeated for every copy. Fit and predict from it with :func:`fit_counts` and
    :meth:`TextModel.predict_counts`: one vectorisation serves every fold of a
    cross-validation."""
    codes, matrix = distinct_counts(texts, features)
    return matrix[codes]


def distinct_counts(texts: Any, features: str) -> tuple[np.ndarray, Any]:
    """``(codes, matrix)``: the raw hashed counts of each distinct text (CSR, one row per
    distinct text, in order of first appearance) and, per text, the row of its counts
    (``matrix[codes]`` is :func:`hashed_counts`). Anything computed row by row (a model's
    log-odds) is computed on the distinct rows and spread with ``codes``: the same numbers,
    once per distinct text."""
    import pandas as pd

    codes, distinct = pd.factorize(pd.Series([t if isinstance(t, str) else "" for t in texts],
                                             dtype=object))
    language = "zh" if features.startswith("zh") else "en"
    matrix = _vectorizer(features).transform(_prepare(list(distinct), language)).tocsr()
    return codes, matrix


def _counts(texts: Any, features: str, columns: np.ndarray | None = None) -> Any:
    """Hashed counts (rows = texts), optionally only ``columns``, with the feature set's
    term-frequency transform."""
    return _term_frequency(hashed_counts(texts, features), features, columns)


def _term_frequency(raw: Any, features: str, columns: np.ndarray | None = None) -> Any:
    """The feature set's term-frequency transform of raw hashed counts, optionally only
    ``columns``."""
    counts = raw.tocsc()
    if columns is not None:
        counts = counts[:, columns]
    counts = counts.tocsr().astype(float)
    if FEATURE_SETS[features][1] == "binary":
        counts.data[:] = 1.0
    else:
        counts.data = 1.0 + np.log(counts.data)
    return counts


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
    features: str = ""

    def __post_init__(self) -> None:
        if not self.features:
            self.features = default_features(self.language)

    def predict_logit(self, texts: Any) -> np.ndarray:
        """Log-odds that each text is positive."""
        texts = list(texts)
        if not texts:
            return np.zeros(0)
        codes, matrix = distinct_counts(texts, self.features)  # row by row: once per text
        return self.predict_counts(matrix)[codes]

    def predict_counts(self, raw: Any) -> np.ndarray:
        """Log-odds that each row of raw hashed counts (:func:`hashed_counts` with this
        model's ``features``) is positive."""
        from sklearn.preprocessing import normalize

        if raw.shape[0] == 0:
            return np.zeros(0)
        weighted = normalize(_term_frequency(raw, self.features, self.columns)
                             .multiply(self.idf).tocsr())
        return np.asarray(weighted @ self.coef).ravel() + self.intercept

    def _arrays(self, prefix: str = "") -> dict[str, Any]:
        return {f"{prefix}language": self.language, f"{prefix}features": self.features,
                f"{prefix}columns": self.columns.astype(np.int32),
                f"{prefix}idf": self.idf.astype(np.float32),
                f"{prefix}coef": self.coef.astype(np.float32),
                f"{prefix}intercept": np.float64(self.intercept),
                f"{prefix}provenance": self.provenance}

    @classmethod
    def _from(cls, f: Any, prefix: str = "") -> TextModel:
        return cls(language=str(f[f"{prefix}language"]),
                   columns=f[f"{prefix}columns"].astype(np.int64),
                   idf=f[f"{prefix}idf"].astype(np.float64),
                   coef=f[f"{prefix}coef"].astype(np.float64),
                   intercept=float(f[f"{prefix}intercept"]),
                   provenance=str(f[f"{prefix}provenance"]),
                   features=str(f[f"{prefix}features"]))

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **self._arrays())

    @classmethod
    def load(cls, path: str | Path) -> TextModel:
        with np.load(path, allow_pickle=False) as f:
            return cls._from(f)


@dataclass
class ModelSet:
    """Several :class:`TextModel` of one language on different feature sets; their log-odds
    are averaged (an ensemble is steadier on a domain none was trained on)."""

    members: list[TextModel]

    @property
    def language(self) -> str:
        return self.members[0].language

    @property
    def provenance(self) -> str:
        return self.members[0].provenance

    def predict_logit(self, texts: Any) -> np.ndarray:
        texts = list(texts)
        return np.mean([m.predict_logit(texts) for m in self.members], axis=0)

    def save(self, path: str | Path) -> None:
        arrays: dict[str, Any] = {"n_members": np.int64(len(self.members))}
        for i, m in enumerate(self.members):
            arrays.update(m._arrays(f"m{i}_"))
        np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> ModelSet:
        with np.load(path, allow_pickle=False) as f:
            return cls([TextModel._from(f, f"m{i}_") for i in range(int(f["n_members"]))])


def fit_text_model(texts: Any, positive: Any, *, language: str, c: float = 2.0,
                   min_df: int = 2, features: str | None = None,
                   provenance: str = "") -> TextModel:
    """Fit a :class:`TextModel` on ``texts`` labelled ``positive`` (bool). Hashed columns
    seen in fewer than ``min_df`` texts are dropped (they cannot generalise and would bloat
    a stored model). Deterministic (liblinear, no random start, on a fixed design)."""
    _labels(positive)  # both classes, checked before any text is vectorised
    features = features or default_features(language)
    return fit_counts(hashed_counts(list(texts), features), positive, language=language, c=c,
                      min_df=min_df, features=features, provenance=provenance)


def fit_counts(raw: Any, positive: Any, *, language: str, features: str, c: float = 2.0,
               min_df: int = 2, provenance: str = "") -> TextModel:
    """:func:`fit_text_model` from raw hashed counts (:func:`hashed_counts` of the texts
    with ``features``): the same model, without vectorising the texts again."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import normalize

    y = _labels(positive)
    counts = _term_frequency(raw, features).tocsc()
    df = np.diff(counts.indptr)
    columns = np.flatnonzero(df >= min_df)
    counts = counts[:, columns].tocsr()
    n = counts.shape[0]
    idf = np.log((1 + n) / (1 + df[columns])) + 1.0  # sklearn's smooth idf
    design = normalize(counts.multiply(idf).tocsr())
    # liblinear solves the L2-regularised problem to tolerance on the sparse design (lbfgs
    # stops short of it at large C and then depends on its iteration cap)
    model = LogisticRegression(C=c, solver="liblinear", tol=1e-6).fit(design, y)
    return TextModel(language=language, columns=columns, idf=idf, coef=model.coef_.ravel(),
                     intercept=float(model.intercept_[0]), provenance=provenance,
                     features=features)


def _labels(positive: Any) -> np.ndarray:
    y = np.asarray(positive, dtype=bool)
    if y.all() or not y.any():
        raise ValueError("fit_text_model needs both positive and negative texts; got "
                         f"{int(y.sum())} positive of {len(y)}")
    return y


def combine(lexicon_score: np.ndarray, logit: np.ndarray, weight: float) -> np.ndarray:
    """A lexicon score in [-1, 1] (VADER-normalised, ``x / sqrt(x^2 + 15)``) plus
    ``weight`` times a model's log-odds, on the lexicon's raw scale, normalised again.

    >>> float(combine(np.array([0.0]), np.array([0.0]), 3.0)[0])
    0.0
    """
    c = np.clip(np.asarray(lexicon_score, float), -0.999999, 0.999999)
    raw = c * np.sqrt(15.0 / (1.0 - c * c)) + weight * np.asarray(logit, float)
    return raw / np.sqrt(raw * raw + 15.0)


_SHIPPED: dict[str, ModelSet] = {}


def shipped_model(language: str) -> ModelSet:
    """The shipped model for ``language`` (``"en"`` or ``"zh"``), loaded once."""
    if language not in _SHIPPED:
        path = MODEL_DIR / f"{language}_reviews.npz"
        if not path.exists():
            raise FileNotFoundError(f"no shipped sentiment model for {language!r} ({path})")
        _SHIPPED[language] = ModelSet.load(path)
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
