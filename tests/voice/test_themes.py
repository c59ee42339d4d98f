"""Themes: term extraction in English and Chinese, the log-odds ranking against a direct
computation of Monroe et al.'s (2008) formula, interview transcripts, and the sample's planted
pain-point themes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from cjmlib.voice import themes
from cjmlib.voice.themes import terms


def test_english_terms_drop_function_words_tags_and_lone_negations():
    assert terms("My card was declined at checkout", "en") == [
        "card", "declined", "checkout", "card declined", "declined checkout"]
    assert terms("Not happy at all #Northwind @shop", "en") == ["happy", "not happy"]
    # phrases never cross punctuation
    assert "slow not" not in terms("Slow. Not happy", "en")


def test_chinese_terms_use_jieba_words_and_join_phrases_without_space():
    assert terms("支付失败了两次", "zh") == ["支付", "失败", "两次", "支付失败", "失败两次"]
    got = terms("体验很差，不满意", "zh")
    assert "不满意" in got and "很差不" not in got and "不" not in got


def _comments() -> pd.DataFrame:
    neg = ["payment failed again", "payment failed", "card declined at payment",
           "card declined twice", "payment failed card declined", "slow website"]
    pos = ["great service", "great fast service", "quick payment", "great app", "easy",
           "great", "fast delivery"]
    rows = [(t, 1.0, "payment") for t in neg] + [(t, 5.0, "payment") for t in pos]
    rows += [("great service", 5.0, "cart")] * 3 + [("slow website", 1.0, "cart")] * 3
    return pd.DataFrame(rows, columns=["text", "csat", "touchpoint"]).assign(language="en")


def test_log_odds_and_z_match_a_direct_computation():
    fb = _comments()
    out = themes.themes(fb, by="touchpoint", min_docs=2, min_reference=1, prior_strength=10.0)
    row = out[(out["group"] == "payment") & (out["term"] == "payment failed")].iloc[0]
    docs = [terms(t, "en") for t in fb["text"]]
    background = pd.Series([t for d in docs for t in d]).value_counts()
    pay = fb["touchpoint"] == "payment"
    neg = [d for d, p, c in zip(docs, pay, fb["csat"], strict=True) if p and c <= 2]
    pos = [d for d, p, c in zip(docs, pay, fb["csat"], strict=True) if p and c >= 4]
    y_i = sum("payment failed" in d for d in neg)
    y_j = sum("payment failed" in d for d in pos)
    n_i, n_j = sum(map(len, neg)), sum(map(len, pos))
    a = 10.0 * background["payment failed"] / background.sum()
    delta = (math.log((y_i + a) / (n_i + 10.0 - y_i - a))
             - math.log((y_j + a) / (n_j + 10.0 - y_j - a)))
    z = delta / math.sqrt(1 / (y_i + a) + 1 / (y_j + a))
    assert row["log_odds_ratio"] == pytest.approx(delta)
    assert row["z"] == pytest.approx(z)
    assert row["n_docs"] == 3 and row["n_comments"] == 6
    assert row["compared_with"] == "group"
    assert "payment failed" in row["examples"]


def test_pain_point_without_praise_is_compared_with_all_groups():
    fb = _comments()
    fb = fb[~((fb["touchpoint"] == "payment") & (fb["csat"] == 5.0))]
    out = themes.themes(fb, by="touchpoint", min_docs=2, min_reference=3)
    pay = out[(out["group"] == "payment") & (out["direction"] == "negative")]
    assert set(pay["compared_with"]) == {"all groups"}
    assert {"payment failed", "card declined"} <= set(pay["term"])
    assert (pay["n_reference"] == 3).all()


def test_polarity_from_sentiment_when_there_is_no_score():
    fb = pd.DataFrame({"text": ["terrible payment"] * 3 + ["lovely staff"] * 3,
                       "csat": np.nan, "sentiment": [-0.8] * 3 + [0.7] * 3,
                       "language": "en"})
    out = themes.themes(fb, by=None, min_docs=2)
    assert set(out["group"]) == {"all"}
    assert out.set_index("direction").loc["negative", "term"] == "terrible payment"


def test_bad_input_is_named():
    fb = _comments()
    with pytest.raises(ValueError, match=r"need a polarity source: a 'csat' or a 'sentiment'"):
        themes.themes(fb.drop(columns="csat"))
    with pytest.raises(ValueError, match=r"no comment with a negative or positive polarity"):
        themes.themes(fb.assign(csat=3.0))
    with pytest.raises(ValueError, match=r"no term occurs in at least min_docs=50"):
        themes.themes(fb, min_docs=50)
    with pytest.raises(ValueError, match=r"missing column 'stage'"):
        themes.themes(fb, by="stage")


def test_interview_utterances_split_customer_turns():
    transcript = ("interview_id: INT-01\nstage: purchase\n---\n"
                  "Interviewer: Tell me about your last order.\n"
                  "Customer: Payment failed twice.\nInterviewer: And then?\n"
                  "客户：客服很耐心。\n")
    fb = pd.DataFrame({"customer_id": ["c1", "c2", "c3"], "survey": ["interview", "interview",
                                                                     "social"],
                       "stage": ["purchase", "service", None],
                       "text": [transcript, "Waited forty minutes on hold", "great"]})
    out = themes.interview_utterances(fb)
    assert out["text"].tolist() == ["Payment failed twice", "客服很耐心。",
                                    "Waited forty minutes on hold"]
    assert out["utterance"].tolist() == [1, 2, 1]
    assert out["stage"].tolist() == ["purchase", "purchase", "service"]
    with pytest.raises(ValueError, match=r"no interview rows.*found surveys \['social'\]"):
        themes.interview_utterances(fb[fb["survey"] == "social"])


def test_sample_pain_point_themes(processed_dir, ground_truth):
    from cjmlib.voice.sentiment import score_sentiment
    from cjmlib.voice.surveys import read_feedback

    fb = read_feedback(processed_dir / "feedback.parquet")
    post = score_sentiment(fb[fb["survey"] == "post_interaction"])
    out = themes.themes(post, by="touchpoint", min_docs=2, top=15)
    pain = ground_truth["pain_point"]["touchpoint"]
    neg = out[(out["group"] == pain) & (out["direction"] == "negative")]
    english = " ".join(neg.loc[neg["language"] == "en", "term"])
    assert "fail" in english and "declined" in english
    chinese = "".join(neg.loc[neg["language"] == "zh", "term"])
    assert "支付" in chinese or "付款" in chinese
    # interviews feed the same themes
    utterances = score_sentiment(themes.interview_utterances(fb))
    both = pd.concat([post, utterances], ignore_index=True)
    staged = themes.themes(both, by="stage", min_docs=2)
    assert {"purchase", "service"} <= set(staged["group"])
