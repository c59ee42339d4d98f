"""Learning sentiment from the researcher's own rated comments (cjmlib.voice.learning):
cross-validated against the default scorer, with sklearn's AUC as the reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cjmlib.voice.learning import apply_learning, learn_sentiment
from cjmlib.voice.sentiment import polarity, score_sentiment


@pytest.fixture(scope="module")
def rated(processed_dir):
    fb = pd.read_parquet(processed_dir / "feedback.parquet")
    comments = fb[fb["survey"] == "post_interaction"].reset_index(drop=True)
    return score_sentiment(comments)


def test_own_model_beats_the_default_on_the_generators_rated_comments(rated):
    learned = learn_sentiment(rated, seed=0)
    table = learned.table.set_index("language")
    en = table.loc["en"]
    # the reference AUC of the default scorer, computed here independently
    both = rated[(rated["sentiment_language"] == "en") & rated["sentiment"].notna()]
    pol = polarity(both["csat"], kind="csat")
    keep = pol.isin(["negative", "positive"])
    ref = roc_auc_score(pol[keep] == "positive", both.loc[keep, "sentiment"])
    assert en["auc_default"] == pytest.approx(ref, abs=1e-12)
    assert en["rated"] == keep.sum()
    assert en["auc_own"] > en["auc_default"]
    # the switch follows the rule: only where the gain's interval lies above 0
    for _, row in table.iterrows():
        if row["rated"] and np.isfinite(row.get("auc_gain_ci_low", np.nan)):
            assert str(row["used"]).startswith("own-model") == (row["auc_gain_ci_low"] > 0)
    out = apply_learning(rated, learned)
    assert out["sentiment_default"].equals(rated["sentiment"])
    for lang in learned.models_:
        rows = (out["sentiment_language"] == lang) & out["sentiment"].notna()
        assert out.loc[rows, "sentiment_scorer"].str.startswith("own-model(csat)").all()
    # languages where the own model is not chosen keep their scores and scorer untouched
    for lang, row in table.iterrows():
        if not str(row["used"]).startswith("own-model"):
            rows = out["sentiment_language"] == lang
            assert out.loc[rows, "sentiment"].equals(rated.loc[rows, "sentiment"])
            assert isinstance(row["reason"], str) and row["reason"]


def test_too_few_rated_comments_keep_the_default_with_a_reason():
    frame = pd.DataFrame({"text": ["Great service", "Terrible wait", "Fine"] * 5,
                          "language": "en", "csat": [5, 1, 3] * 5})
    learned = learn_sentiment(score_sentiment(frame), min_per_class=30)
    row = learned.table.iloc[0]
    assert row["rated"] == 10 and row["positive"] == 5 and row["negative"] == 5
    assert "fewer than 30" in row["reason"]
    # a language without a scorer is listed, with why it has no sentiment
    other = learn_sentiment(score_sentiment(frame.assign(language="es")), min_per_class=30)
    assert other.table.iloc[0]["rated"] == 0 and "no scorer" in other.table.iloc[0]["reason"]
    assert not learned.models_
    out = apply_learning(score_sentiment(frame), learned)
    assert out["sentiment"].equals(out["sentiment_default"])


def test_no_gain_no_switch():
    # texts whose default sentiment already separates the ratings perfectly
    rng = np.random.default_rng(1)
    good = [f"Great and excellent service number {i}" for i in range(60)]
    bad = [f"Terrible and awful service number {i}" for i in range(60)]
    frame = pd.DataFrame({"text": good + bad, "language": "en",
                          "csat": [5] * 60 + [1] * 60}).sample(frac=1, random_state=1)
    learned = learn_sentiment(score_sentiment(frame.reset_index(drop=True)),
                              seed=int(rng.integers(100)))
    row = learned.table.iloc[0]
    assert row["auc_default"] == 1.0
    assert not row["used"].startswith("own-model") and "does not beat" in row["reason"]


def test_bad_input_is_named():
    frame = score_sentiment(pd.DataFrame({"text": ["good"], "language": "en", "csat": [5]}))
    with pytest.raises(ValueError, match="score_col"):
        learn_sentiment(frame, score_col="stars")
    with pytest.raises(ValueError, match="missing column 'nps'"):
        learn_sentiment(frame, score_col="nps")
    with pytest.raises(ValueError, match="index must be unique"):
        learn_sentiment(pd.concat([frame, frame]))
