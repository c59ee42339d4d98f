"""Sentiment of free-text feedback: pluggable scorers, language routing and calibration.

A *scorer* is any callable ``text -> float | None``: a score in [-1, 1] (negative to
positive), or None when it cannot judge the text. :func:`score_sentiment` sends each comment
to the scorer of its language (the ``language`` column, or :func:`detect_language` where it
is empty). A comment in a language without a scorer gets no score -- never an invented one.

Built-in scorers (offline, nothing is downloaded):

* ``"en"``: :class:`VaderScorer`, the VADER lexicon and rules (Hutto & Gilbert 2014, ICWSM),
  compound score, with a short customer-experience supplement (:data:`CX_LEXICON_EN`) for
  complaint words VADER's social-media lexicon lacks ("declined", "slow", "hassle").
* ``"zh"``: :class:`ChineseLexiconScorer`, jieba word segmentation and a curated Chinese
  lexicon (:data:`ZH_LEXICON`) with negation, degree adverbs and "but" clauses handled the
  way VADER does, normalised with VADER's ``x / sqrt(x^2 + 15)``. Lexicon-based Chinese
  sentiment follows e.g. Ku & Chen (2007) and the HowNet sentiment vocabulary.

:func:`calibrate_sentiment` checks the scores against the survey score given with the same
comment (agreement: Spearman correlation, polarity accuracy, Cohen's kappa, per language) and
fits a monotone map from sentiment to the survey scale (isotonic regression), so comments
without a score (social posts, interviews) can be read on the CSAT scale.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns, check_scalar
from cjmlib.voice.language import (  # noqa: F401  (re-exported: part of this module's API)
    _CJK,
    detect_language,
    detect_languages,
    normalise_language,
    resolve_languages,
    split_emoji,
    to_simplified,
)

#: The scorer interface: text -> score in [-1, 1], or None when the text cannot be judged.
Scorer = Callable[[str], "float | None"]

#: |score| below this is neutral (VADER's conventional threshold, Hutto & Gilbert 2014).
NEUTRAL_BAND = 0.05

#: Customer-experience words missing from VADER's lexicon (valence on VADER's -4..4 scale).
CX_LEXICON_EN: dict[str, float] = {
    "declined": -1.6, "slow": -1.4, "slower": -1.4, "sluggish": -1.5, "hassle": -1.7,
    "timeout": -1.6, "crashed": -2.0, "crashes": -1.9, "glitch": -1.5, "glitchy": -1.7,
    "laggy": -1.5, "overcharged": -2.2, "unresponsive": -1.8, "unreachable": -1.5,
    "refused": -1.4, "rejected": -1.6, "broken": -1.9, "delayed": -1.3, "lost": -1.3,
    "smooth": 1.5, "seamless": 1.8, "effortless": 1.8, "quick": 1.2, "fast": 1.2,
    "solved": 1.6, "resolved": 1.6,
}

# --- Chinese lexicon --------------------------------------------------------------------------
# Valence on VADER's -4..4 scale. General-purpose evaluative words plus common customer-service
# and e-commerce complaint words; multi-character entries are added to the segmenter so that
# e.g. 找不到 ("cannot find") stays one word.
ZH_LEXICON: dict[str, float] = {
    # positive
    "好": 1.9, "很好": 2.4, "不错": 2.0, "满意": 2.2, "非常满意": 3.0, "方便": 1.8,
    "便捷": 1.8, "顺利": 1.8, "顺畅": 1.8, "流畅": 1.8, "快": 1.2, "快速": 1.5, "及时": 1.5,
    "迅速": 1.5, "耐心": 1.8, "热情": 1.8, "专业": 1.5, "友好": 1.8, "贴心": 2.0, "周到": 1.8,
    "细心": 1.6, "解决": 1.2, "推荐": 1.8, "喜欢": 2.0, "优秀": 2.5, "完美": 3.0, "棒": 2.5,
    "赞": 2.3, "给力": 2.3, "简单": 1.2, "清楚": 1.2, "清晰": 1.2, "实惠": 1.5, "划算": 1.5,
    "便宜": 1.0, "省心": 1.8, "放心": 1.5, "高兴": 2.0, "开心": 2.0, "感谢": 0.8,
    "谢谢": 0.5, "惊喜": 2.0, "靠谱": 1.8, "稳定": 1.2, "值得": 1.5, "好用": 2.0,
    "满分": 2.6, "舒服": 1.8, "愉快": 2.0, "负责": 1.4, "准时": 1.5, "安全": 1.2,
    # negative
    "差": -2.0, "很差": -2.6, "太差": -2.8, "失败": -2.0, "超时": -1.8, "拒绝": -1.5,
    "被拒": -1.6, "卡": -1.0, "很卡": -1.6, "卡顿": -1.8, "卡住": -1.8, "慢": -1.5,
    "太慢": -2.0, "很慢": -1.8, "麻烦": -1.6, "失望": -2.2, "不满": -2.0, "投诉": -2.0,
    "糟糕": -2.5, "垃圾": -3.0, "坑": -2.0, "骗": -2.5, "欺骗": -2.8, "问题": -0.8,
    "错误": -1.5, "故障": -1.8, "崩溃": -2.2, "闪退": -2.0, "无法": -1.2, "找不到": -1.5,
    "收不到": -1.5, "打不开": -1.8, "登不上": -1.6, "用不了": -1.6, "付不了": -1.8,
    "等待": -0.5, "久": -0.8, "难": -1.2, "困难": -1.5, "复杂": -1.2, "混乱": -1.5,
    "贵": -1.2, "愤怒": -2.8, "生气": -2.2, "烦": -1.8, "烦人": -2.0, "后悔": -2.0,
    "一般": -0.3, "一般般": -0.3, "凑合": -0.3, "坏": -2.0, "损坏": -2.0, "丢失": -1.8,
    "延迟": -1.5, "迟到": -1.5, "不好": -1.9, "没用": -1.8, "无语": -1.8, "恶心": -2.5,
    "敷衍": -2.0, "冷漠": -2.0, "不耐烦": -2.0, "不方便": -1.6,
    # frequent in reviews; the first row are the failure cases of issue 16
    "不行": -1.8, "不如": -1.2, "不怎么样": -1.8, "脏": -2.0, "差评": -2.5, "不会再买": -2.6,
    "差劲": -2.6, "好评": 2.2, "不值": -1.8, "浪费": -1.8, "上当": -2.5, "假货": -2.8,
    "难用": -2.0, "难吃": -2.2, "好吃": 2.0, "好看": 1.8, "漂亮": 1.8, "干净": 1.8,
    "正品": 1.5, "物美价廉": 2.5, "性价比高": 2.2, "吵": -1.5, "臭": -2.0, "破": -1.2,
    "旧": -0.8, "退货": -1.2, "不推荐": -2.2, "不满意": -2.2, "郁闷": -1.8,
    "心烦": -1.8, "气人": -2.2, "太坑": -2.6, "闹心": -1.8, "糟心": -2.0, "无奈": -1.2,
    # service, store and stay: staff, premises, value (any touchpoint with people or places)
    "舒适": 2.0, "安静": 1.4, "宽敞": 1.5, "整洁": 1.8, "卫生": 1.0, "温馨": 1.8,
    "热心": 1.8, "礼貌": 1.6, "周全": 1.5, "合理": 1.2, "优惠": 1.2, "便利": 1.5,
    "齐全": 1.4, "超值": 2.2, "物有所值": 2.0, "高效": 1.8, "快捷": 1.5, "满足": 1.2,
    "值得推荐": 2.4, "陈旧": -1.5, "破旧": -1.8, "简陋": -1.5, "潮湿": -1.5, "异味": -2.0,
    "发霉": -2.0, "噪音": -1.5, "吵闹": -1.8, "嘈杂": -1.6, "狭小": -1.2, "拥挤": -1.4,
    "恶劣": -2.5, "粗鲁": -2.2, "无礼": -2.0, "傲慢": -2.0, "推诿": -2.0, "扯皮": -1.8,
    "拖延": -1.6, "欺诈": -2.8, "乱收费": -2.5, "宰客": -2.6, "黑心": -2.6, "昂贵": -1.4,
    "遗憾": -1.2, "可惜": -1.0, "不爽": -1.8, "低效": -1.6, "漏水": -1.8, "蟑螂": -2.2,
    "不会再来": -2.6, "再也不来": -2.6, "下次还来": 2.2, "还会再来": 2.2,
}
#: One-character degree prefixes jieba fuses with a sentiment word (最差, 极差, 太贵, 很棒):
#: such a word is read as the prefix's intensity times the rest's valence.
ZH_DEGREE_PREFIXES: dict[str, float] = {"最": 1.6, "极": 1.6, "太": 1.4, "很": 1.2,
                                        "超": 1.4, "挺": 1.1, "真": 1.3, "好": 1.2,
                                        "蛮": 1.1, "巨": 1.5, "特": 1.4, "更": 1.2}
#: Words that flip the valence of a sentiment word within the next three words.
ZH_NEGATIONS = frozenset({"不", "没", "没有", "无", "非", "别", "未", "不太", "并不", "毫不",
                          "从未", "从不", "不是", "不会", "不够", "不再", "绝不"})
#: Degree adverbs: multiply the valence of the next sentiment word (within two words).
ZH_INTENSIFIERS: dict[str, float] = {
    "非常": 1.5, "特别": 1.5, "太": 1.4, "很": 1.2, "极其": 1.8, "极": 1.6, "十分": 1.5,
    "相当": 1.3, "超": 1.4, "超级": 1.5, "挺": 1.1, "真": 1.3, "最": 1.6, "更": 1.2,
    "比较": 0.9, "有点": 0.7, "有些": 0.7, "稍微": 0.6, "一直": 1.2, "总是": 1.2,
    "实在": 1.4, "好几": 1.2,
}
#: "But" words: the clause before counts half, the clause after one and a half (as VADER).
ZH_BUT = frozenset({"但是", "但", "可是", "不过", "然而", "却"})
_ZH_NEGATION_FACTOR = -0.74  # VADER's N_SCALAR
_ZH_PUNCT = re.compile(r"^[\s，。！？、；：,.!?;:…~～\"'“”‘’()（）【】\[\]]+$")


# --------------------------------------------------------------------------------------------
# Built-in scorers
# --------------------------------------------------------------------------------------------


class VaderScorer:
    """English sentiment: VADER compound score in [-1, 1] (Hutto & Gilbert 2014).

    ``extra_lexicon`` (word -> valence on -4..4) is merged into VADER's lexicon; the default
    adds :data:`CX_LEXICON_EN`; pass ``{}`` for plain VADER. Empty text returns None.

    >>> score = VaderScorer()
    >>> score("Great experience overall") > 0.5, score("My card was declined") < 0
    (True, True)
    """

    name = "vader"

    def __init__(self, *, extra_lexicon: Mapping[str, float] | None = None) -> None:
        self.extra_lexicon = dict(CX_LEXICON_EN if extra_lexicon is None else extra_lexicon)
        self._analyzer: Any = None

    def _load(self) -> Any:
        if self._analyzer is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            analyzer = SentimentIntensityAnalyzer()
            analyzer.lexicon.update(self.extra_lexicon)
            self._analyzer = analyzer
        return self._analyzer

    def __call__(self, text: str) -> float | None:
        if not isinstance(text, str) or not text.strip():
            return None
        return float(self._load().polarity_scores(text)["compound"])


_JIEBA_LOCK = threading.Lock()
_JIEBA: Any = None


def chinese_tokenizer() -> Any:
    """The workbench's own jieba tokenizer (Sun 2012), with :data:`ZH_LEXICON` and the
    degree and negation words in its dictionary; created once, silently (jieba's logger is
    set to WARNING). jieba's global default tokenizer is left untouched."""
    global _JIEBA
    with _JIEBA_LOCK:
        if _JIEBA is None:
            import logging

            import jieba

            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            words = [*ZH_LEXICON, *ZH_INTENSIFIERS, *ZH_NEGATIONS, *ZH_BUT]
            for word in sorted(w for w in words if len(w) > 1):
                tokenizer.add_word(word, freq=50_000)
            _JIEBA = tokenizer
    return _JIEBA


def chinese_tokens(text: str) -> list[str]:
    """jieba words of ``text``, punctuation and spaces dropped.

    >>> chinese_tokens("支付失败了两次")
    ['支付', '失败', '了', '两次']
    """
    return [t for t in chinese_tokenizer().lcut(text) if t.strip() and not _ZH_PUNCT.match(t)]


class ChineseLexiconScorer:
    """Chinese sentiment in [-1, 1] from a lexicon over jieba words.

    Each sentiment word's valence is multiplied by a degree adverb in the two words before it,
    flipped (times -0.74) by each negation in the three words before it within the clause,
    halved before and raised by half after a "but" word; the sum ``s`` is normalised as
    VADER does, ``s / sqrt(s^2 + 15)``. Text without Chinese characters returns None (this
    scorer cannot judge it); Chinese text without sentiment words scores 0.

    >>> score = ChineseLexiconScorer()
    >>> score("整体体验很好") > 0.3, score("支付失败了两次") < -0.3, score("不满意") < 0
    (True, True, True)
    """

    name = "zh-lexicon"

    def __init__(self, *, lexicon: Mapping[str, float] | None = None,
                 negations: frozenset[str] = ZH_NEGATIONS,
                 intensifiers: Mapping[str, float] | None = None) -> None:
        self.lexicon = dict(ZH_LEXICON if lexicon is None else lexicon)
        self.negations = frozenset(negations)
        self.intensifiers = dict(ZH_INTENSIFIERS if intensifiers is None else intensifiers)

    def _valence(self, word: str | None) -> float | None:
        """Lexicon valence of a jieba word; a word fused from a degree prefix and a
        lexicon word (最差, 太贵) or from 不/没 and one (不干净) is read from its parts."""
        if word is None:
            return None
        if word in self.lexicon:
            return self.lexicon[word]
        if len(word) >= 2:
            head, rest = word[0], word[1:]
            if head in ZH_DEGREE_PREFIXES and rest in self.lexicon:
                return self.lexicon[rest] * ZH_DEGREE_PREFIXES[head]
            if head in ("不", "没") and rest in self.lexicon:
                return self.lexicon[rest] * _ZH_NEGATION_FACTOR
        return None

    def __call__(self, text: str) -> float | None:
        if not isinstance(text, str) or not _CJK.search(text):
            return None
        text = to_simplified(text)
        tokenizer = chinese_tokenizer()
        # clauses end at punctuation: negation does not cross them
        words: list[str | None] = []
        for tok in tokenizer.lcut(text):
            if not tok.strip():
                continue
            words.append(None if _ZH_PUNCT.match(tok) else tok)
        but_at = max((i for i, w in enumerate(words) if w in ZH_BUT), default=-1)
        total = 0.0
        for i, word in enumerate(words):
            valence = self._valence(word)
            if valence is None:
                continue
            for j in range(i - 1, max(i - 3, -1), -1):
                if words[j] is None:
                    break
                if words[j] in self.intensifiers:
                    valence *= self.intensifiers[words[j]]
                    break
            for j in range(i - 1, max(i - 4, -1), -1):
                if words[j] is None:
                    break
                if words[j] in self.negations:
                    valence *= _ZH_NEGATION_FACTOR
            if but_at >= 0:
                valence *= 0.5 if i < but_at else 1.5
            total += valence
        return float(total / math.sqrt(total * total + 15.0))


#: Valence (VADER's -4..4 scale) of an emoji whose ranking score is +-1.
EMOJI_SCALE = 4.0


class ReviewScorer:
    """A lexicon scorer and a shipped review model together, emoji included.

    The text's emoji are taken out (:func:`cjmlib.voice.language.split_emoji`) and add
    ``EMOJI_SCALE`` times their ranking score to the lexicon's raw sum; the n-gram model
    (:func:`cjmlib.voice.text_model.shipped_model`, trained on public labelled reviews)
    adds ``weight`` times its log-odds (:func:`cjmlib.voice.text_model.combine`; the
    weight was chosen by leave-one-domain-out validation on the training corpus, see
    ``cjmlib/voice/models/models.json``). Text the lexicon scorer cannot judge (no
    Chinese character for the Chinese one) and without emoji returns None.

    Call it on one text, or :meth:`score_many` on many (one model pass: much faster).
    """

    def __init__(self, language: str, lexicon: Scorer, *, weight: float | None = None) -> None:
        from cjmlib.voice.text_model import shipped_model, shipped_weight

        self.language = language
        self.lexicon = lexicon
        self.model = shipped_model(language)
        self.weight = shipped_weight(language) if weight is None else float(weight)
        self.name = f"{scorer_name(lexicon)}+{language}-reviews-model"

    def __call__(self, text: str) -> float | None:
        return self.score_many([text])[0]

    def score_many(self, texts: list[str]) -> list[float | None]:
        from cjmlib.voice.text_model import combine

        out: list[float | None] = [None] * len(texts)
        rows, bare, lex, emoji = [], [], [], []
        for i, text in enumerate(texts):
            if not isinstance(text, str) or not text.strip():
                continue
            rest, valences = split_emoji(text)
            base = self.lexicon(rest) if rest.strip() else None
            if base is None and not valences:
                continue
            rows.append(i)
            bare.append(rest if base is not None else "")
            lex.append(0.0 if base is None else float(base))
            emoji.append(EMOJI_SCALE * sum(valences))
        if not rows:
            return out
        logit = self.model.predict_logit(bare)
        logit[[j for j, t in enumerate(bare) if not t]] = 0.0
        lex_arr = np.array(lex)
        emoji_arr = np.array(emoji)
        # the emoji enter the lexicon's raw sum: combine() with weight 1 on them
        with_emoji = combine(lex_arr, emoji_arr, 1.0)
        scores = combine(with_emoji, logit, self.weight)
        for i, value in zip(rows, scores, strict=True):
            out[i] = float(value)
        return out


def default_scorers() -> dict[str, Scorer]:
    """The built-in scorers by language: :class:`ReviewScorer` of VADER (English) and of
    :class:`ChineseLexiconScorer` (Chinese), each with its shipped review model."""
    return {"en": ReviewScorer("en", VaderScorer()),
            "zh": ReviewScorer("zh", ChineseLexiconScorer())}


def scorer_name(scorer: Scorer) -> str:
    """A scorer's ``name`` attribute, else its function or class name."""
    return str(getattr(scorer, "name", None) or getattr(scorer, "__name__", None)
               or type(scorer).__name__)


# --------------------------------------------------------------------------------------------
# Scoring a feedback table
# --------------------------------------------------------------------------------------------


def score_sentiment(
    feedback: pd.DataFrame,
    *,
    scorers: Mapping[str, Scorer] | None = None,
    text_col: str = "text",
    language_col: str | None = "language",
    detect: bool = True,
) -> pd.DataFrame:
    """Score each comment with the scorer of its language; return a copy with four columns.

    ``scorers`` maps language codes to scorers (default :func:`default_scorers`). A row's
    language is ``language_col`` (normalised, e.g. ``en-GB`` -> ``en``) or, where empty and
    ``detect`` is true, :func:`detect_language` of the text. Added columns:
    ``sentiment`` (float in [-1, 1], NaN when not scored), ``sentiment_language``,
    ``sentiment_scorer`` (name of the scorer used, None when not scored) and
    ``sentiment_status``: ``scored``, ``no_text``, ``unsupported_language`` (no scorer for it:
    never an invented score), ``unknown_language`` or ``not_scorable`` (the scorer returned
    None).

    Raises ``ValueError`` when ``text_col`` is missing or a scorer returns something that is
    not a number in [-1, 1] or None (naming the language and the row).
    """
    check_scalar(detect, "detect", typ=bool)
    check_columns(feedback, [text_col], what="feedback table")
    scorers = default_scorers() if scorers is None else dict(scorers)
    for lang, fn in scorers.items():
        if not callable(fn):
            raise TypeError(f"scorers[{lang!r}] must be callable text -> score, got "
                            f"{type(fn).__name__}")
    scorers = {normalise_language(k): v for k, v in scorers.items()}
    out = feedback.copy()
    texts = out[text_col]
    given = resolve_languages(out, text_col, [language_col], detect=detect)
    # each distinct (language, text) scored once; batch scorers in one call per language
    todo: dict[str, list[str]] = {}
    for text, lang in zip(texts, given, strict=True):
        if lang in scorers and isinstance(text, str) and text.strip():
            todo.setdefault(lang, []).append(text)
    cache: dict[tuple[str, str], float | None] = {}
    for lang, items in todo.items():
        fn = scorers[lang]
        distinct = list(dict.fromkeys(items))
        many = getattr(fn, "score_many", None)
        values = many(distinct) if callable(many) else [fn(t) for t in distinct]
        cache.update(((lang, t), v) for t, v in zip(distinct, values, strict=True))
    sentiment = np.full(len(out), np.nan)
    languages: list[str | None] = []
    used: list[str | None] = []
    status: list[str] = []
    for pos, (row, text, lang) in enumerate(zip(out.index, texts, given, strict=True)):
        has_text = isinstance(text, str) and bool(text.strip())
        if not has_text:
            languages.append(lang)
            used.append(None)
            status.append("no_text")
            continue
        languages.append(lang)
        if lang is None:
            used.append(None)
            status.append("unknown_language")
            continue
        fn = scorers.get(lang)
        if fn is None:
            used.append(None)
            status.append("unsupported_language")
            continue
        value = cache[(lang, text)]
        if value is not None:
            ok = isinstance(value, (int, float, np.floating, np.integer)) and \
                not isinstance(value, bool) and -1.0 <= float(value) <= 1.0
            if not ok:
                raise ValueError(
                    f"scorer {scorer_name(fn)!r} for language {lang!r} must return a "
                    f"number in [-1, 1] or None; returned {value!r} for row {row} "
                    f"({text[:60]!r})")
            value = float(value)
        if value is None:
            used.append(None)
            status.append("not_scorable")
            continue
        sentiment[pos] = value
        used.append(scorer_name(fn))
        status.append("scored")
    out["sentiment"] = sentiment
    out["sentiment_language"] = languages
    out["sentiment_scorer"] = used
    out["sentiment_status"] = status
    return out


def polarity(values: pd.Series | np.ndarray, *, kind: str,
             neutral_band: float = NEUTRAL_BAND) -> pd.Series:
    """``negative`` / ``neutral`` / ``positive`` (or None) of sentiment scores or CSAT scores.

    ``kind="sentiment"``: below ``-neutral_band`` negative, above ``neutral_band`` positive.
    ``kind="csat"``: 1-2 negative, 3 neutral, 4-5 positive (the usual top/bottom-2-box split).
    ``kind="nps"``: 0-6 negative (detractor), 7-8 neutral (passive), 9-10 positive (promoter).

    >>> polarity(pd.Series([-0.5, 0.0, 0.6]), kind="sentiment").tolist()
    ['negative', 'neutral', 'positive']
    >>> polarity(pd.Series([1, 3, 5, None]), kind="csat").tolist()
    ['negative', 'neutral', 'positive', None]
    """
    s = pd.Series(values, dtype=float)
    if kind == "sentiment":
        lab = np.where(s < -neutral_band, "negative",
                       np.where(s > neutral_band, "positive", "neutral"))
    elif kind == "csat":
        lab = np.where(s <= 2, "negative", np.where(s >= 4, "positive", "neutral"))
    elif kind == "nps":
        lab = np.where(s <= 6, "negative", np.where(s >= 9, "positive", "neutral"))
    else:
        raise ValueError(f"kind must be one of 'sentiment', 'csat', 'nps', got {kind!r}")
    return pd.Series(np.where(s.isna(), None, lab), index=s.index, dtype=object)


# --------------------------------------------------------------------------------------------
# Calibration against the survey score of the same comment
# --------------------------------------------------------------------------------------------


@dataclass
class SentimentCalibration:
    """Agreement of sentiment with the survey score and a monotone map onto that score.

    ``agreement`` has one row per language (and ``all``): ``n`` (comments with both a
    sentiment and a score), ``spearman_rho`` with a 95% interval (Fisher z with the
    Bonett & Wright 2000 variance ``(1 + rho^2/2)/(n-3)``), ``polarity_accuracy`` (share of
    comments whose sentiment polarity equals the score's polarity) with a Wilson interval,
    ``cohen_kappa`` with its asymptotic 95% interval (statsmodels ``cohens_kappa``), and
    ``mae_calibrated``: mean absolute error of the calibrated score, by 5-fold
    cross-validation. ``by_score`` has the mean sentiment (t interval) per score level and
    language. ``models_`` holds one fitted isotonic regression (Barlow et al. 1972) per
    language: sentiment -> expected score.
    """

    score_col: str
    agreement: pd.DataFrame
    by_score: pd.DataFrame
    models_: dict[str, Any] = field(repr=False)

    def to_pandas(self) -> pd.DataFrame:
        """The agreement table."""
        return self.agreement

    def _repr_html_(self) -> str:
        return self.agreement._repr_html_()  # type: ignore[operator]

    def predict(self, scored: pd.DataFrame) -> pd.Series:
        """Calibrated score (on the ``score_col`` scale) of each scored row of ``scored``
        (needs ``sentiment`` and ``sentiment_language``); NaN where the row has no sentiment
        or its language was not calibrated."""
        check_columns(scored, ["sentiment", "sentiment_language"], what="scored feedback")
        out = pd.Series(np.nan, index=scored.index, dtype=float)
        for lang, model in self.models_.items():
            rows = (scored["sentiment_language"] == lang) & scored["sentiment"].notna()
            if rows.any():
                out[rows] = model.predict(scored.loc[rows, "sentiment"].to_numpy(float))
        return out


def calibrate_sentiment(
    scored: pd.DataFrame,
    *,
    score_col: str = "csat",
    min_n: int = 20,
    neutral_band: float = NEUTRAL_BAND,
    seed: int = 0,
) -> SentimentCalibration:
    """Compare sentiment with the survey score given with the same comment, per language.

    ``scored`` is the output of :func:`score_sentiment`; rows with both a sentiment and a
    ``score_col`` value are used (``"csat"`` 1-5 or ``"nps"`` 0-10; polarity of the score by
    :func:`polarity`). Languages with fewer than ``min_n`` such rows get
    an agreement row but no calibration model. ``seed`` fixes the cross-validation folds.
    See :class:`SentimentCalibration` for what comes back. Raises ``ValueError`` when no row
    has both a sentiment and a score.
    """
    from scipy import stats
    from sklearn.isotonic import IsotonicRegression
    from sklearn.model_selection import KFold
    from statsmodels.stats.inter_rater import cohens_kappa

    from cjmlib.stats.intervals import mean_interval, wilson_interval

    check_scalar(score_col, "score_col", in_=("csat", "nps"))
    check_columns(scored, ["sentiment", "sentiment_language", score_col], what="scored feedback")
    check_scalar(min_n, "min_n", typ=int, ge=5)
    both = scored[scored["sentiment"].notna() & scored[score_col].notna()]
    if both.empty:
        raise ValueError(f"scored feedback: no row has both a sentiment and a {score_col!r} "
                         f"score ({int(scored['sentiment'].notna().sum())} rows with sentiment)")
    z = float(stats.norm.ppf(0.975))
    rows, by_score, models = [], [], {}
    groups = [(str(k), g) for k, g in both.groupby("sentiment_language", sort=True)]
    if len(groups) > 1:
        groups.append(("all", both))
    labels = ["negative", "neutral", "positive"]
    for lang, g in groups:
        x = g["sentiment"].to_numpy(float)
        y = g[score_col].to_numpy(float)
        n = len(g)
        used = sorted(g["sentiment_scorer"].dropna().unique()) \
            if "sentiment_scorer" in g.columns else []
        row: dict[str, Any] = {"language": lang, "scorer": ", ".join(used) or None, "n": n}
        if n >= 4 and np.ptp(x) > 0 and np.ptp(y) > 0:
            rho = float(stats.spearmanr(x, y).statistic)
            se = math.sqrt((1 + rho**2 / 2) / (n - 3))
            zr = math.atanh(max(min(rho, 0.999999), -0.999999))
            row.update(spearman_rho=rho, spearman_ci_low=math.tanh(zr - z * se),
                       spearman_ci_high=math.tanh(zr + z * se))
        else:
            row.update(spearman_rho=np.nan, spearman_ci_low=np.nan, spearman_ci_high=np.nan)
        pol_s = polarity(x, kind="sentiment", neutral_band=neutral_band)
        pol_y = polarity(y, kind=score_col)
        hits = int((pol_s.to_numpy() == pol_y.to_numpy()).sum())
        lo, hi = wilson_interval(hits, n)
        row.update(polarity_accuracy=hits / n, polarity_accuracy_ci_low=lo,
                   polarity_accuracy_ci_high=hi)
        table = pd.crosstab(pol_y, pol_s).reindex(index=labels, columns=labels, fill_value=0)
        try:
            k = cohens_kappa(table.to_numpy())
            row.update(cohen_kappa=float(k.kappa), cohen_kappa_ci_low=float(k.kappa_low),
                       cohen_kappa_ci_high=float(k.kappa_upp))
        except (ValueError, ZeroDivisionError, FloatingPointError):  # pragma: no cover
            row.update(cohen_kappa=np.nan, cohen_kappa_ci_low=np.nan, cohen_kappa_ci_high=np.nan)
        row["mae_calibrated"] = np.nan
        if lang != "all" and n >= min_n:
            model = IsotonicRegression(increasing=True, out_of_bounds="clip")
            model.fit(x, y)
            models[lang] = model
            errors = np.empty(n)
            for train, test in KFold(5, shuffle=True, random_state=seed).split(x):
                m = IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x[train],
                                                                                 y[train])
                errors[test] = np.abs(m.predict(x[test]) - y[test])
            row["mae_calibrated"] = float(errors.mean())
        row["calibrated"] = lang in models
        rows.append(row)
        if lang != "all":
            for level, part in g.groupby(score_col, sort=True):
                n_l, m, lo, hi = mean_interval(part["sentiment"].to_numpy(float))
                by_score.append({"language": lang, score_col: level, "n": n_l,
                                 "sentiment_mean": m, "sentiment_ci_low": lo,
                                 "sentiment_ci_high": hi})
    return SentimentCalibration(score_col=score_col, agreement=pd.DataFrame(rows),
                                by_score=pd.DataFrame(by_score), models_=models)
