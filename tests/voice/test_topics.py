"""Topics: recovery of planted topics in English and Chinese (adjusted Rand index), their
c-TF-IDF names against a direct computation of Grootendorst's (2022) formula, redacted quotes,
determinism, small groups, bad input, and the generator's sample."""

from __future__ import annotations

import math
import random
import re
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from cjmlib.stats.intervals import wilson_interval
from cjmlib.voice.themes import terms
from cjmlib.voice.topics import COLUMNS, comment_topics, topics

PLANTED = {
    ("en", "negative"): {"delivery": ["delivery", "late", "courier", "parcel", "arrived",
                                      "driver", "days"],
                         "refund": ["refund", "money", "back", "account", "returned",
                                    "reimbursed", "paid"],
                         "app": ["app", "crash", "login", "password", "freezes", "update",
                                 "screen"]},
    ("zh", "negative"): {"delivery": ["配送", "太慢", "快递", "包裹", "送货", "迟到", "物流"],
                         "refund": ["退款", "退钱", "退回", "银行卡", "余额", "申请", "审核"],
                         "app": ["闪退", "登录", "应用", "打不开", "密码", "更新", "卡死"]},
    ("en", "positive"): {"staff": ["staff", "friendly", "helpful", "polite", "patient",
                                   "smiled", "knowledgeable"],
                         "checkout": ["checkout", "quick", "easy", "smooth", "simple",
                                      "seconds", "painless"]},
}
NOISE = {"en": ["terrible", "awful", "honestly", "disappointed", "today", "week", "bad",
                "experience", "again", "overall", "order", "time"],
         "zh": ["体验", "真的", "失望", "今天", "这次", "糟糕", "服务", "订单"]}
CSAT = {"negative": 1, "positive": 5}


def _planted(per_topic: int = 60, seed: int = 0, touchpoint: str = "order") -> pd.DataFrame:
    """Comments of known topics: three of the topic's seven key words and two noise words
    in random order (Chinese without spaces, as written)."""
    rng = random.Random(seed)
    rows = []
    for (language, polarity), planted in PLANTED.items():
        for topic, words in planted.items():
            for _ in range(per_topic):
                picked = rng.sample(words, 3) + rng.sample(NOISE[language], 2)
                rng.shuffle(picked)
                rows.append({"touchpoint": touchpoint, "language": language,
                             "csat": CSAT[polarity], "polarity": polarity, "planted": topic,
                             "text": ("" if language == "zh" else " ").join(picked)})
    return pd.DataFrame(rows)


def test_planted_topics_are_recovered_in_each_language_and_polarity():
    fb = _planted()
    assigned = comment_topics(fb, n_topics=3)
    assert assigned.index.equals(fb.index)
    for (language, polarity), planted in PLANTED.items():
        part = (assigned["language"] == language) & (assigned["polarity"] == polarity)
        ari = adjusted_rand_score(fb.loc[part, "planted"], assigned.loc[part, "topic"])
        # two planted positive topics in three parts: one is split, the rest exact
        assert ari >= (0.9 if len(planted) == 3 else 0.6), (language, polarity, ari)
    out = topics(fb, n_topics=3)
    counts = assigned.groupby(["language", "polarity", "topic"]).size()
    assert {(r.language, r.polarity, r.topic): r.n_comments for r in out.itertuples()} == \
        dict(counts)


def test_topic_names_hold_the_planted_key_words():
    fb = _planted()
    out = topics(fb, n_topics=3, top_terms=5)
    for (language, polarity), planted in PLANTED.items():
        if len(planted) != 3:
            continue
        named = out[(out["language"] == language) & (out["polarity"] == polarity)]
        assert len(named) == 3
        for words in planted.values():
            # exactly one topic is named by this planted topic's key words
            hits = [sum(w in row.split(", ") for w in words) for row in named["terms"]]
            assert sorted(hits)[-1] >= 4 and sorted(hits)[-2] == 0, (words, named["terms"])
        noise = set(NOISE[language])
        assert not any(t in noise for row in named["terms"] for t in row.split(", ")[:3])


def test_c_tf_idf_matches_a_direct_computation():
    # Grootendorst (2022): tf of the term in the topic's joined comments (over the length of
    # that document) times log(1 + average terms per topic / frequency over all topics)
    fb = _planted()
    fb = fb[(fb["language"] == "en") & (fb["polarity"] == "negative")]
    assigned = comment_topics(fb, n_topics=3)
    docs = [terms(t, "en") for t in fb["text"]]
    document_frequency = Counter(t for d in docs for t in d)
    per_topic = {k: Counter(t for d, a in zip(docs, assigned["topic"], strict=True) if a == k
                            for t in d if document_frequency[t] >= 2) for k in (1, 2, 3)}
    frequency = sum(per_topic.values(), Counter())
    average = sum(sum(c.values()) for c in per_topic.values()) / 3
    out = topics(fb, n_topics=3, top_terms=1).set_index("topic")
    for k, counts in per_topic.items():
        length = sum(counts.values())
        score = {t: c / length * math.log(1 + average / frequency[t]) for t, c in counts.items()}
        best = min(score, key=lambda t: (-score[t], t))
        assert out.loc[k, "terms"] == best


def test_automatic_number_of_topics_is_one_per_30_comments_at_most_10():
    fb = _planted(per_topic=30)
    english = fb[(fb["language"] == "en") & (fb["polarity"] == "negative")]
    out = topics(english)
    assert (out["n_topics"] == 3).all() and len(out) == 3
    assigned = comment_topics(english)
    assert adjusted_rand_score(english["planted"], assigned["topic"]) >= 0.9
    assert topics(english.head(59))["n_topics"].max() == 1
    big = pd.concat([_planted(per_topic=130, seed=s) for s in (1, 2)], ignore_index=True)
    big = big[(big["language"] == "en") & (big["polarity"] == "negative")]
    assert topics(big, min_comments=1)["n_topics"].max() <= 10


def test_quotes_and_terms_never_hold_raw_personal_data():
    fb = _planted()
    email, phone = "jane.doe@example.com", "07700 900123"
    fb.loc[0, "text"] += f" mail {email}"
    fb.loc[1, "text"] += f" call {phone}"
    fb.loc[2, "text"] = fb.loc[0, "text"]
    out = topics(fb, n_topics=3, quotes=1000)
    quotes = " | ".join(out["quotes"])
    assert email not in quotes and phone not in quotes and "900123" not in quotes
    assert "[e-mail]" in quotes and "[phone]" in quotes
    assert not any(re.search(r"jane|doe|example|\d", t) for t in out["terms"])
    # the redaction given is used for every quote and term list
    masked = topics(fb, n_topics=3, redact=lambda text: "<redacted>")
    assert set(masked["quotes"]) == {"<redacted>"} and set(masked["terms"]) == {"<redacted>"}


def test_quotes_are_distinct_typical_comments_of_their_topic():
    fb = _planted()
    out = topics(fb, n_topics=3, quotes=3)
    assigned = comment_topics(fb, n_topics=3)
    for row in out.itertuples():
        quoted = row.quotes.split(" | ")
        assert len(quoted) == len(set(quoted)) == 3
        members = fb.loc[(assigned["language"] == row.language)
                         & (assigned["polarity"] == row.polarity)
                         & (assigned["topic"] == row.topic), "text"]
        assert set(quoted) <= set(members)


def test_same_seed_same_result():
    fb = _planted(seed=3).sample(frac=1.0, random_state=1)
    first, second = topics(fb, seed=5), topics(fb, seed=5)
    pd.testing.assert_frame_equal(first, second)
    assert first.attrs == second.attrs
    pd.testing.assert_frame_equal(comment_topics(fb, seed=5), comment_topics(fb, seed=5))


def test_languages_never_share_a_topic():
    fb = _planted()
    cjk = re.compile(r"[\u4e00-\u9fff]")
    for language_col in ("language", None):  # given, or detected from the text
        out = topics(fb, n_topics=3, quotes=1000, language_col=language_col)
        # detection leaves some of these word salads undetermined (und)
        assert {"en", "zh"} <= set(out["language"]) <= {"en", "zh", "und"}
        for row in out.itertuples():
            quoted = row.quotes.split(" | ")
            assert all(bool(cjk.search(q)) == (row.language == "zh") for q in quoted)
            assert bool(cjk.search(row.terms)) == (row.language == "zh")


def test_polarity_sources_and_neutral_comments():
    fb = _planted()
    fb = fb[fb["language"] == "en"]
    # a polarity column is used as it is; neutral rows are left out
    labelled = fb.assign(mood=fb["polarity"].where(fb["planted"] != "app", "neutral"))
    out = topics(labelled.drop(columns="csat"), polarity_col="mood", n_topics=3)
    assert out.groupby("polarity")["n_group"].first().to_dict() == {"negative": 120,
                                                                     "positive": 120}
    # no score: the sign of the sentiment; CSAT 3 is neutral
    by_sentiment = fb.drop(columns="csat").assign(
        sentiment=np.where(fb["polarity"] == "negative", -0.7, 0.8))
    assert set(topics(by_sentiment)["polarity"]) == {"negative", "positive"}
    assert topics(fb.assign(csat=3)).empty


def test_shares_have_wilson_intervals():
    out = topics(_planted(), n_topics=3)
    assert (out["share"] == out["n_comments"] / out["n_group"]).all()
    low, high = wilson_interval(out["n_comments"].to_numpy(), out["n_group"].to_numpy())
    assert np.allclose(out["share_ci_low"], low) and np.allclose(out["share_ci_high"], high)
    assert (out.groupby(["language", "polarity"])["n_comments"].sum() <= 180).all()
    assert list(out.columns) == COLUMNS


def test_small_groups_are_skipped_and_listed():
    fb = pd.concat([_planted(), _planted(per_topic=3, touchpoint="cart", seed=1)],
                   ignore_index=True)
    out = topics(fb, n_topics=3, min_comments=20)
    assert set(out["group"]) == {"order"}
    skipped = pd.DataFrame(out.attrs["skipped"])
    assert set(skipped["group"]) == {"cart"} and skipped["n_comments"].sum() == 24
    assert skipped["reason"].str.contains("min_comments=20").all()
    # all groups small: an empty table with its columns, not an error
    empty = topics(fb[fb["touchpoint"] == "cart"])
    assert empty.empty and list(empty.columns) == COLUMNS and len(empty.attrs["skipped"]) == 3
    # no term found in two comments: skipped with its reason
    unique = pd.DataFrame({"text": [f"word{chr(97 + i)}{chr(97 + i)}" for i in range(25)],
                           "csat": 1, "touchpoint": "cart", "language": "en"})
    assert "no term" in topics(unique).attrs["skipped"][0]["reason"]


def test_bad_input_is_named():
    fb = _planted()
    with pytest.raises(ValueError, match=r"missing column 'stage'"):
        topics(fb, by="stage")
    with pytest.raises(ValueError, match=r"missing column 'mood'"):
        topics(fb, polarity_col="mood")
    with pytest.raises(ValueError, match=r"missing column 'comment'"):
        comment_topics(fb, text_col="comment")
    with pytest.raises(ValueError, match=r"need a polarity source: polarity_col, a 'csat'"):
        topics(fb.drop(columns="csat"))
    with pytest.raises(ValueError, match=r"n_topics must be >= 1"):
        topics(fb, n_topics=0)


def test_sample_comments(processed_dir, ground_truth):
    from cjmlib.voice.surveys import read_feedback

    fb = read_feedback(processed_dir / "feedback.parquet")
    post = fb[fb["survey"] == "post_interaction"]
    out = topics(post, min_comments=10)
    assert not out.empty and out.attrs["skipped"]
    pain = ground_truth["pain_point"]["touchpoint"]
    negative = out[(out["group"] == pain) & (out["polarity"] == "negative")
                   & (out["language"] == "en")]
    assert "fail" in " ".join(negative["terms"]) or "declined" in " ".join(negative["terms"])
    overall = topics(post, by=None)
    assert set(overall["level"]) == {"all"} and {"en", "zh"} <= set(overall["language"])
