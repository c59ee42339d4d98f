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
    "便宜": 1.0, "省心": 1.8, "放心": 1.5, "高兴": 2.0, "开心": 2.0, "感谢": 1.8,
    "谢谢": 1.5, "可以": 0.6, "惊喜": 2.0, "靠谱": 1.8, "稳定": 1.2, "值得": 1.5, "好用": 2.0,
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
}
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
_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"[a-zà-öø-ÿ']+")

# Frequent function words per language for detection of short Latin-script comments.
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""the a an and or but is was were are be been it its this that to of in
        on at for with my i me we you your our not no very so too had have has did do does
        could would can will just only than then there their they what which who when
        nothing everything really great good bad easy hard slow fast service experience
        okay ok thanks thank love hate never again nice poor average terrible awful excellent
        quick helpful friendly""".split()),
    "es": frozenset("""el la los las un una y o pero es fue son ser de del en con por para
        mi mis muy no sí que todo nada bien mal mala malo buen bueno buena servicio
        experiencia pago gracias también más menos""".split()),
    "fr": frozenset("""le la les un une et ou mais est était sont de du des en avec pour mon
        ma mes très pas que tout rien bien mal bon bonne service merci""".split()),
    "de": frozenset("""der die das ein eine und oder aber ist war sind zu von mit für mein
        meine sehr nicht dass alles nichts gut schlecht danke""".split()),
    "pt": frozenset("""o a os as um uma e ou mas é foi são de do da em com por para meu
        minha muito não que tudo nada bem mal bom boa serviço obrigado""".split()),
    "it": frozenset("""il lo la gli le un una e o ma è era sono di del della in con per mio
        mia molto non che tutto niente bene male buono buona servizio grazie""".split()),
}
_SPANISH_MARKS = re.compile(r"[ñ¿¡]")


# --------------------------------------------------------------------------------------------
# Language
# --------------------------------------------------------------------------------------------


def normalise_language(code: Any) -> str | None:
    """Lower-case primary subtag of a language tag: ``"en-GB"`` -> ``"en"``, ``"zh_Hans"`` ->
    ``"zh"``; empty or missing -> None.

    >>> normalise_language("en-GB"), normalise_language("ZH"), normalise_language("")
    ('en', 'zh', None)
    """
    if code is None or (isinstance(code, float) and math.isnan(code)) or code is pd.NA:
        return None
    text = str(code).strip().lower()
    if not text:
        return None
    return re.split(r"[-_]", text)[0]


def detect_language(text: Any) -> str | None:
    """Best guess of the language of ``text``: ISO 639-1 code, or None when undetermined.

    Script first (Han -> ``zh``, kana -> ``ja``, Hangul -> ``ko``), then, for Latin script,
    the language whose frequent words occur most (en, es, fr, de, pt, it). A text with no
    evidence returns None: it will not be scored.

    >>> detect_language("支付失败了两次"), detect_language("The payment page kept failing")
    ('zh', 'en')
    >>> detect_language("El pago falló dos veces"), detect_language("12345")
    ('es', None)
    """
    if not isinstance(text, str) or not text.strip():
        return None
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    letters = sum(ch.isalpha() for ch in text)
    if letters and len(_CJK.findall(text)) / letters >= 0.3:
        return "zh"
    words = _LATIN_WORD.findall(text.lower())
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in _STOPWORDS.items()}
    if _SPANISH_MARKS.search(text.lower()):
        hits["es"] += 2
    best = max(hits, key=lambda k: (hits[k], k == "en"))
    if hits[best] == 0:
        return None
    ties = [k for k, v in hits.items() if v == hits[best]]
    if len(ties) > 1 and "en" not in ties:
        return None
    return "en" if "en" in ties else best


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

    def __call__(self, text: str) -> float | None:
        if not isinstance(text, str) or not _CJK.search(text):
            return None
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
            if word is None or word not in self.lexicon:
                continue
            valence = self.lexicon[word]
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


def default_scorers() -> dict[str, Scorer]:
    """The built-in scorers by language: ``{"en": VaderScorer(), "zh": ChineseLexiconScorer()}``."""
    return {"en": VaderScorer(), "zh": ChineseLexiconScorer()}


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
    if language_col is not None and language_col in out.columns:
        given = out[language_col].map(normalise_language)
    else:
        given = pd.Series(None, index=out.index, dtype=object)
    sentiment = np.full(len(out), np.nan)
    languages: list[str | None] = []
    used: list[str | None] = []
    status: list[str] = []
    cache: dict[tuple[str, str], float | None] = {}
    for pos, (row, text, lang) in enumerate(zip(out.index, texts, given, strict=True)):
        has_text = isinstance(text, str) and bool(text.strip())
        if not has_text:
            languages.append(lang)
            used.append(None)
            status.append("no_text")
            continue
        if lang is None and detect:
            lang = detect_language(text)
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
        key = (lang, text)
        if key not in cache:
            value = fn(text)
            if value is not None:
                ok = isinstance(value, (int, float, np.floating, np.integer)) and \
                    not isinstance(value, bool) and -1.0 <= float(value) <= 1.0
                if not ok:
                    raise ValueError(
                        f"scorer {scorer_name(fn)!r} for language {lang!r} must return a "
                        f"number in [-1, 1] or None; returned {value!r} for row {row} "
                        f"({text[:60]!r})")
                value = float(value)
            cache[key] = value
        value = cache[key]
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
        row: dict[str, Any] = {"language": lang, "n": n}
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
