"""Sentiment scorers, language routing and calibration, against independent references: the
plain VADER analyser, hand computations of the Chinese lexicon rules, scipy's Spearman
correlation, sklearn's Cohen's kappa, statsmodels' Wilson interval and the sample's planted
languages (Spanish must stay unscored)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.proportion import proportion_confint

from cjmlib.voice import sentiment
from cjmlib.voice.sentiment import ChineseLexiconScorer, VaderScorer, score_sentiment


def _frame(texts, languages=None, csat=None):
    n = len(texts)
    return pd.DataFrame({"customer_id": [f"c{i}" for i in range(n)], "text": texts,
                         "language": languages if languages is not None else [None] * n,
                         "csat": csat if csat is not None else [np.nan] * n})


# --------------------------------------------------------------------------------------------
# English
# --------------------------------------------------------------------------------------------


def test_english_scores_are_vader_compound_scores():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    plain = VaderScorer(extra_lexicon={})
    reference = SentimentIntensityAnalyzer()
    for text in ("Great experience overall", "Not happy with the experience",
                 "Payment failed twice before it went through", "It was okay"):
        assert plain(text) == pytest.approx(reference.polarity_scores(text)["compound"])


@pytest.mark.parametrize(("text", "sign"), [
    ("Fast and friendly service", 1), ("Really good, thank you", 1),
    ("Payment failed twice before it went through", -1), ("Not happy with the experience", -1),
    ("My card was declined at checkout", -1),  # "declined": customer-experience supplement
    ("The website was slow", -1),
])
def test_english_examples_have_the_expected_sign(text, sign):
    assert np.sign(VaderScorer()(text)) == sign


def test_english_empty_text_is_not_scored():
    assert VaderScorer()("   ") is None


# --------------------------------------------------------------------------------------------
# Chinese
# --------------------------------------------------------------------------------------------


def _norm(x: float) -> float:
    return x / math.sqrt(x * x + 15)


def test_chinese_lexicon_rules_by_hand():
    lex = sentiment.ZH_LEXICON
    score = ChineseLexiconScorer()
    assert score("支付失败") == pytest.approx(_norm(lex["失败"]))
    # negation flips (times -0.74, as VADER)
    assert score("不满足") == pytest.approx(_norm(-0.74 * lex["满足"]))
    # degree adverb multiplies
    assert score("非常方便") == pytest.approx(_norm(1.5 * lex["方便"]))
    # "but": the clause before counts half, the clause after one and a half
    assert score("很方便，但是太慢") == pytest.approx(
        _norm(0.5 * 1.2 * lex["方便"] + 1.5 * lex["太慢"]))
    # negation does not cross punctuation
    assert score("不，满意") == pytest.approx(_norm(lex["满意"]))


@pytest.mark.parametrize(("text", "sign"), [
    ("整体体验很好", 1), ("客服很耐心，问题解决了", 1), ("付款很顺利", 1), ("非常满意", 1),
    ("支付失败了两次", -1), ("银行卡支付总是被拒绝", -1), ("体验很差，不满意", -1),
    ("问题说了三遍也没解决", -1), ("找不到想要的商品", -1), ("退款太慢", -1),
])
def test_chinese_examples_have_the_expected_sign(text, sign):
    assert np.sign(ChineseLexiconScorer()(text)) == sign


def test_chinese_scorer_refuses_non_chinese_text_and_scores_neutral_chinese_zero():
    score = ChineseLexiconScorer()
    assert score("Payment failed") is None
    assert score("我在上海") == 0.0


def test_chinese_tokens_keep_lexicon_phrases_whole():
    assert sentiment.chinese_tokens("找不到想要的商品")[0] == "找不到"


# --------------------------------------------------------------------------------------------
# Language routing and the unsupported-language rule
# --------------------------------------------------------------------------------------------


def test_unsupported_language_gets_no_score_given_or_detected():
    frame = _frame(["El pago falló dos veces", "Muy mala experiencia", "Great service",
                    "支付失败了两次", ""],
                   languages=["es", None, "en-GB", None, None])
    out = score_sentiment(frame)
    assert out["sentiment_status"].tolist() == ["unsupported_language", "unsupported_language",
                                                "scored", "scored", "no_text"]
    assert out["sentiment"].isna().tolist() == [True, True, False, False, True]
    assert out["sentiment_language"].tolist()[:4] == ["es", "es", "en", "zh"]
    assert out["sentiment_scorer"].tolist()[2:4] == ["vader+en-reviews-model",
                                                    "zh-lexicon+zh-reviews-model"]


def test_undetermined_language_is_not_scored():
    out = score_sentiment(_frame(["12345 !!!"]))
    assert out["sentiment_status"].iloc[0] == "unknown_language"
    assert np.isnan(out["sentiment"].iloc[0])


def test_detect_language_can_be_switched_off():
    out = score_sentiment(_frame(["Great service"]), detect=False)
    assert out["sentiment_status"].iloc[0] == "unknown_language"


def test_a_custom_scorer_plugs_in_and_bad_scorers_fail_clearly():
    frame = _frame(["Très bon service", "Great"], languages=["fr", "en"])
    out = score_sentiment(frame, scorers={"fr": lambda text: 0.5})
    assert out["sentiment"].tolist()[0] == 0.5
    assert out["sentiment_status"].tolist() == ["scored", "unsupported_language"]
    with pytest.raises(ValueError, match=r"scorer '<lambda>' for language 'fr' must return a "
                                         r"number in \[-1, 1\] or None; returned 2.0 for row 0"):
        score_sentiment(frame, scorers={"fr": lambda text: 2.0})
    with pytest.raises(TypeError, match=r"scorers\['fr'\] must be callable"):
        score_sentiment(frame, scorers={"fr": "vader"})
    with pytest.raises(ValueError, match=r"missing column 'text'"):
        score_sentiment(frame.drop(columns="text"))


@pytest.mark.parametrize("text", ["Works as described.", "Works like a charm.",
                                  "Food arrived quickly!", "He deserves 5 stars.", "Over rated."])
def test_short_english_is_not_routed_to_another_language(text):
    # issue 16: such sentences were left unknown or routed to Portuguese
    assert sentiment.detect_language(text) == "en"


def test_language_tags_and_detection():
    assert sentiment.normalise_language("zh_Hans") == "zh"
    assert sentiment.detect_language("Paying was quick and easy") == "en"
    assert sentiment.detect_language("服务很好") == "zh"
    assert sentiment.detect_language("Muy buen servicio") == "es"


def test_imports_and_first_use_are_quiet():
    code = ("import cjmlib.voice.sentiment as s, cjmlib.voice.themes as t; "
            "s.ChineseLexiconScorer()('很好'); s.VaderScorer()('good'); "
            "t.terms('支付失败', 'zh'); import pandas as pd; "
            "s.score_sentiment(pd.DataFrame({'text': ['awesome feature.', '服務很差勁😡', "
            "'Très bien']}), language_col=None)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout == "" and done.stderr == ""


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def test_calibration_agreement_matches_scipy_and_sklearn():
    rng = np.random.default_rng(0)
    csat = rng.integers(1, 6, 300).astype(float)
    sent = np.clip((csat - 3) / 2 + rng.normal(0, 0.4, 300), -1, 1)
    scored = pd.DataFrame({"sentiment": sent, "sentiment_language": "en", "csat": csat})
    cal = sentiment.calibrate_sentiment(scored, seed=0)
    row = cal.agreement.set_index("language").loc["en"]
    rho = stats.spearmanr(sent, csat).statistic
    assert row["spearman_rho"] == pytest.approx(rho)
    se = math.sqrt((1 + rho**2 / 2) / (300 - 3))
    assert row["spearman_ci_low"] == pytest.approx(math.tanh(math.atanh(rho) - 1.959964 * se),
                                                   abs=1e-5)
    pol_s = np.where(sent < -0.05, "n", np.where(sent > 0.05, "p", "0"))
    pol_y = np.where(csat <= 2, "n", np.where(csat >= 4, "p", "0"))
    hits = int((pol_s == pol_y).sum())
    assert row["polarity_accuracy"] == pytest.approx(hits / 300)
    assert (row["polarity_accuracy_ci_low"], row["polarity_accuracy_ci_high"]) == \
        pytest.approx(proportion_confint(hits, 300, method="wilson"))
    assert row["cohen_kappa"] == pytest.approx(cohen_kappa_score(pol_y, pol_s))
    assert row["cohen_kappa_ci_low"] < row["cohen_kappa"] < row["cohen_kappa_ci_high"]
    # the isotonic map is monotone and lands on the CSAT scale
    pred = cal.predict(scored.assign(sentiment=np.linspace(-1, 1, 300)))
    assert pred.is_monotonic_increasing and pred.between(1, 5).all()
    assert row["mae_calibrated"] < 1.0
    assert set(cal.by_score["csat"]) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_calibration_needs_pairs():
    scored = pd.DataFrame({"sentiment": [0.5], "sentiment_language": ["en"],
                           "csat": [np.nan]})
    with pytest.raises(ValueError, match=r"no row has both a sentiment and a 'csat' score"):
        sentiment.calibrate_sentiment(scored)


# --------------------------------------------------------------------------------------------
# The sample: English and Chinese agree with CSAT, Spanish stays unscored
# --------------------------------------------------------------------------------------------


def test_sample_languages(processed_dir, ground_truth):
    from cjmlib.voice.surveys import read_feedback

    fb = read_feedback(processed_dir / "feedback.parquet")
    post = fb[(fb["survey"] == "post_interaction") & fb["text"].notna()]
    scored = score_sentiment(post)
    spanish = scored[scored["sentiment_language"] == "es"]
    assert "es" in ground_truth["languages"] and len(spanish) > 0
    assert spanish["sentiment"].isna().all()
    assert (spanish["sentiment_status"] == "unsupported_language").all()
    cal = sentiment.calibrate_sentiment(scored).agreement.set_index("language")
    for lang in ("en", "zh"):
        assert cal.loc[lang, "spearman_rho"] > 0.5
        assert cal.loc[lang, "polarity_accuracy"] > 0.7
    assert "es" not in cal.index


# --------------------------------------------------------------------------------------------
# The failure cases quoted in issue 16
# --------------------------------------------------------------------------------------------


def test_table_without_language_column_is_detected_scored_and_themed():
    from cjmlib.voice import themes

    frame = pd.DataFrame({"text": ["The checkout was slow and the card was declined",
                                   "Great service, very quick", "支付失败了两次，太差了",
                                   "服务很好，很满意"] * 10,
                          "csat": [1, 5, 1, 5] * 10, "touchpoint": ["pay"] * 40})
    out = score_sentiment(frame)  # no language column at all
    assert out["sentiment_status"].eq("scored").all()
    assert out["sentiment_language"].tolist()[:4] == ["en", "en", "zh", "zh"]
    table = themes.themes(out, by=None, min_docs=3)
    assert len(table) and set(table["language"]) == {"en", "zh"}


def test_language_column_of_nan_or_na_still_detects():
    for missing in (np.nan, None, pd.NA, ""):
        frame = pd.DataFrame({"text": ["Great service", "服务很好"],
                              "language": pd.Series([missing, missing], dtype=object)})
        out = score_sentiment(frame)
        assert out["sentiment_language"].tolist() == ["en", "zh"], missing
        assert out["sentiment_status"].eq("scored").all()


@pytest.mark.parametrize("text", ["awesome feature.", "incredibly pleased.", "Incredible!.",
                                  "Excellent Phone."])
def test_short_english_without_function_words_is_english_and_positive(text):
    assert sentiment.detect_language(text) == "en"
    out = score_sentiment(pd.DataFrame({"text": [text]}), language_col=None)
    assert out["sentiment"].iloc[0] > 0


@pytest.mark.parametrize("text", ["服务😡", "late again 😡", "😡😡"])
def test_emoji_are_scored(text):
    rest, valences = sentiment.split_emoji(text)
    assert valences and all(v < 0 for v in valences)
    out = score_sentiment(pd.DataFrame({"text": [text], "language": ["zh" if "服" in text
                                                                      else "en"]}))
    assert out["sentiment"].iloc[0] < -sentiment.NEUTRAL_BAND
    # the emoji moves the score down from the same text without it
    if rest.strip():
        bare = score_sentiment(pd.DataFrame({"text": [rest], "language": out["sentiment_language"]}))
        assert out["sentiment"].iloc[0] < bare["sentiment"].iloc[0]


def test_degree_adverbs_fused_by_jieba_are_read():
    score = ChineseLexiconScorer()
    lex = sentiment.ZH_LEXICON
    # 最差 / 极差 / 太贵 / 很棒 are single jieba tokens: prefix intensity times the word
    for word, rest, prefix in [("最差", "差", "最"), ("太贵", "贵", "太"), ("很棒", "棒", "很")]:
        v = lex[rest] * sentiment.ZH_DEGREE_PREFIXES[prefix]
        assert score(word) == pytest.approx(v / math.sqrt(v * v + 15))
    assert score("极差的体验") < score("差的体验") < 0


@pytest.mark.parametrize("text", ["不行", "不如上次", "不怎么样", "房间很脏", "差评", "不会再买了"])
def test_common_chinese_negatives_are_negative(text):
    assert ChineseLexiconScorer()(text) < 0
    out = score_sentiment(pd.DataFrame({"text": [text]}), language_col=None)
    assert out["sentiment"].iloc[0] < 0


def test_polite_words_do_not_turn_a_complaint_positive():
    for text in ["谢谢，但是等了一个小时还是没解决", "可以，但是支付失败了三次"]:
        assert ChineseLexiconScorer()(text) < 0
        out = score_sentiment(pd.DataFrame({"text": [text]}), language_col=None)
        assert out["sentiment"].iloc[0] < 0


def test_traditional_chinese_scores_like_simplified():
    pairs = [("這家店的服務很差勁", "这家店的服务很差劲"), ("物流很快，非常滿意", "物流很快，非常满意")]
    for traditional, simplified in pairs:
        assert sentiment.to_simplified(traditional) == simplified
        out = score_sentiment(pd.DataFrame({"text": [traditional, simplified]}),
                              language_col=None)
        assert out["sentiment"].iloc[0] == pytest.approx(out["sentiment"].iloc[1])
