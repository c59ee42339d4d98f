"""What customers talk about: words and phrases that set negative comments apart from positive
ones, per touchpoint (or stage, or overall), with example comments.

Comments are split into terms -- single words and two-word phrases -- by language: English by
a word pattern with common function words removed (negations such as "not" are kept), Chinese
(which has no spaces) by jieba segmentation (:func:`cjmlib.voice.sentiment.chinese_tokens`), two-word
phrases joined without a space (支付 + 失败 -> 支付失败). Each comment counts a term once.

A comment's polarity is its survey score where it has one (CSAT 1-2 negative, 4-5 positive,
3 neutral) and otherwise the sign of its sentiment (:func:`cjmlib.voice.sentiment.polarity`);
neutral comments are left out. Terms are ranked by the weighted log-odds ratio with an
informative Dirichlet prior of Monroe, Colaresi & Quinn (2008, "Fightin' words", Political
Analysis 16(4)): the prior is the term's frequency over all comments of the table, so rare
terms do not top the list by chance; ``z`` is the log-odds ratio over its standard error.

Interview transcripts and other open-ended answers enter through
:func:`interview_utterances`, which turns each customer turn of a transcript into one comment.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pandas as pd

from cjmlib.core.checks import check_columns, check_scalar

_EN_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# hashtags, @mentions and links name the brand or the platform, not the experience
_TAGS = re.compile(r"(?:https?://\S+|www\.\S+|[#@][\w-]+)")
#: Negations: part of phrases ("not happy", 不清楚) but not terms on their own.
NEGATIONS = frozenset({"not", "no", "never", "nothing", "cannot", "can't", "couldn't",
                       "won't", "isn't", "wasn't", "不", "没", "无", "没有", "未", "别"})
#: English function words left out of terms (negations are kept: "not", "no", "never").
EN_STOPWORDS = frozenset("""a an the and or but if so as of to in on at by for with from into
    onto about over after before than then i me my mine we us our you your he him his she her
    it its they them their this that these those is am are was were be been being do does did
    have has had will would shall should can could may might must just also very really too
    there here what which who whom when where why how all any some such own same other more
    most again once only even still yet s t it's i'm i've i'd don't didn't doesn't""".split())
#: Chinese function words and particles left out of terms.
ZH_STOPWORDS = frozenset("""的 了 也 都 就 在 是 我 你 他 她 它 们 我们 你们 和 与 及 很 太 非常
    才 到 说 会 再 来 还 被 把 给 着 过 吗 呢 吧 啊 呀 哦 嗯 这 那 这个 那个 一个 有 又 让 对 从
    向 而 并 或 以及 已经 就是 然后 所以 因为 如果 但是 但 可是 不过""".split())
_ZH_KEEP_SINGLE = frozenset({"不", "没", "无", "慢", "差", "卡", "贵", "久", "好", "快", "难",
                             "坏", "烦", "坑", "棒", "赞"})
_CLAUSE = re.compile(r"[,.;:!?，。；：！？、…\n()（）]+")
_SPEAKER = re.compile(r"^\s*(customer|respondent|participant|interviewee|client|"
                      r"客户|顾客|受访者|用户)\s*[:：]\s*(.+?)\s*$", re.IGNORECASE)


def terms(text: str, language: str | None) -> list[str]:
    """Distinct terms (words and two-word phrases) of one comment, in order of appearance.

    ``language`` ``"zh"`` uses jieba; anything else the English word pattern.

    >>> terms("My card was declined at checkout", "en")
    ['card', 'declined', 'checkout', 'card declined', 'declined checkout']
    >>> terms("支付失败了两次", "zh")
    ['支付', '失败', '两次', '支付失败', '失败两次']
    >>> terms("Not happy at all #Northwind", "en")
    ['happy', 'not happy']
    """
    if not isinstance(text, str) or not text.strip():
        return []
    text = _TAGS.sub(" ", text)
    words: list[str] = []
    phrases: list[str] = []
    # phrases never cross a clause boundary (punctuation)
    for clause in _CLAUSE.split(text):
        if language == "zh":
            from cjmlib.voice.sentiment import chinese_tokens

            found = [w for w in chinese_tokens(clause)
                     if w not in ZH_STOPWORDS and (len(w) > 1 or w in _ZH_KEEP_SINGLE)
                     and not w.isdigit()]
            joiner = ""
        else:
            found = [w for w in _EN_WORD.findall(clause.lower())
                     if w not in EN_STOPWORDS and len(w) > 1]
            joiner = " "
        words.extend(w for w in found if w not in NEGATIONS)
        phrases.extend(a + joiner + b for a, b in zip(found, found[1:], strict=False))
    return list(dict.fromkeys([*words, *phrases]))


def interview_utterances(
    feedback: pd.DataFrame,
    *,
    surveys: Sequence[str] = ("interview",),
    text_col: str = "text",
) -> pd.DataFrame:
    """One row per customer turn of each interview transcript (other rows are dropped).

    Rows of ``surveys`` kinds (all rows when the table has no ``survey`` column) are split:
    a header block ending in a ``---`` line is skipped; lines such as ``Customer: ...`` /
    ``客户：...`` (also Respondent, Participant, Interviewee, 顾客, 受访者, 用户) become
    utterances; a transcript without speaker labels is one utterance. The other columns
    (customer, stage, language, ...) are kept; ``utterance`` numbers the turns from 1.
    Raises ``ValueError`` when there is no interview row.
    """
    check_columns(feedback, [text_col], what="feedback table")
    rows = feedback if "survey" not in feedback.columns else \
        feedback[feedback["survey"].isin(list(surveys))]
    if rows.empty:
        found = sorted(feedback["survey"].dropna().unique().tolist()) \
            if "survey" in feedback.columns else []
        raise ValueError(f"feedback table: no interview rows (survey in {list(surveys)}); "
                         f"found surveys {found}")
    out = []
    for _, row in rows.iterrows():
        text = row[text_col]
        if not isinstance(text, str) or not text.strip():
            continue
        lines = text.splitlines()
        if any(line.strip() == "---" for line in lines):
            lines = lines[[line.strip() for line in lines].index("---") + 1:]
        said = [m.group(2).rstrip(".") for m in map(_SPEAKER.match, lines) if m]
        if not said:
            said = [" ".join(line.strip() for line in lines if line.strip())]
        for k, utterance in enumerate(said, start=1):
            out.append({**row.to_dict(), text_col: utterance, "utterance": k})
    return pd.DataFrame(out, columns=[*feedback.columns, "utterance"])


def comment_polarity(frame: pd.DataFrame, *, score_col: str = "csat",
                     sentiment_col: str = "sentiment") -> pd.Series:
    """``negative``/``neutral``/``positive`` per row: from the survey score where present,
    else from the sentiment (None when neither is there)."""
    from cjmlib.voice.sentiment import polarity

    by_score = polarity(frame[score_col], kind="csat") if score_col in frame.columns else \
        pd.Series(None, index=frame.index, dtype=object)
    if sentiment_col in frame.columns:
        by_sentiment = polarity(frame[sentiment_col], kind="sentiment")
        by_score = by_score.where(by_score.notna(), by_sentiment)
    return by_score


def themes(
    feedback: pd.DataFrame,
    *,
    by: str | None = "touchpoint",
    text_col: str = "text",
    top: int = 10,
    min_docs: int = 3,
    min_reference: int = 30,
    prior_strength: float = 100.0,
    examples: int = 2,
) -> pd.DataFrame:
    """Terms that distinguish negative from positive comments, per ``by`` group.

    ``feedback`` needs ``text_col`` and a polarity source: ``csat`` and/or ``sentiment`` (run
    :func:`cjmlib.voice.sentiment.score_sentiment` first for comments without a score). The language
    of a row is ``sentiment_language``, else ``language``, else detected. ``by`` is a column
    (``touchpoint``, ``stage``, ...; rows where it is null are left out) or None for one group
    ``"all"``. Per group, language and direction (``negative``: terms more frequent in the
    negative comments than in the positive ones; ``positive``: the reverse) the ``top`` terms
    by ``z`` that occur in at least ``min_docs`` comments of that direction are returned.
    The reference is the opposite comments of the same group, or -- when the group has fewer
    than ``min_reference`` of them, as at a pain point that is hardly ever praised -- the
    opposite comments of all groups in that language. Terms are ranked within each language
    of a group (English and Chinese words never compete for the same slots); of terms found
    in exactly the same comments only one is listed (the phrase whose words are the most
    frequent in those comments), and a word is left out when a listed phrase holding it
    covers 80% of its comments.

    Columns: ``level``, ``group``, ``language``, ``direction``, ``rank``, ``term``,
    ``n_docs`` (comments of that direction containing the term), ``n_comments`` (comments of
    that direction in the group and language: the denominator), ``share`` with Wilson
    ``share_ci_low``/``_high``, ``compared_with`` (``group`` or ``all groups``),
    ``n_reference`` (reference comments), ``share_reference`` (share of them containing the
    term), ``log_odds_ratio`` (negative vs positive, prior-smoothed: positive for negative
    themes), ``z`` (strength of the term for its direction, > 0), ``examples`` (up to
    ``examples`` comments containing the term, most frequent first, joined by " | ").
    Method: see the module docstring.

    Raises ``ValueError`` when no comment has a polarity or no term passes ``min_docs``.
    """
    from cjmlib.voice.language import resolve_languages

    check_scalar(top, "top", typ=int, ge=1)
    check_scalar(min_docs, "min_docs", typ=int, ge=1)
    check_scalar(min_reference, "min_reference", typ=int, ge=1)
    check_scalar(prior_strength, "prior_strength", typ=float, gt=0)
    check_scalar(examples, "examples", typ=int, ge=0)
    check_columns(feedback, [text_col], what="feedback table")
    if "csat" not in feedback.columns and "sentiment" not in feedback.columns:
        raise ValueError("feedback table: themes need a polarity source: a 'csat' or a "
                         f"'sentiment' column; found {list(feedback.columns)}")
    if by is not None:
        check_columns(feedback, [by], what="feedback table")
    frame = feedback[feedback[text_col].map(lambda t: isinstance(t, str) and bool(t.strip()))]
    frame = frame.assign(_polarity=comment_polarity(frame))
    frame = frame[frame["_polarity"].isin(["negative", "positive"])]
    if frame.empty:
        raise ValueError("feedback table: no comment with a negative or positive polarity "
                         "(from csat or sentiment); nothing to compare")
    lang = resolve_languages(frame, text_col, ("sentiment_language", "language"))
    # comments repeat ("great service"): each distinct text and language is split once, and
    # the tallies below count a distinct text as often as it occurs
    ids: dict[tuple[str, str | None], int] = {}
    codes = [ids.setdefault(key, len(ids)) for key in zip(frame[text_col], lang, strict=True)]
    texts = _Texts(terms=[terms(t, lg) for t, lg in ids], texts=[t for t, _ in ids])
    frame = frame.assign(_language=[lg or "und" for lg in lang], _text=codes)
    rows = []
    for language, in_language in frame.groupby("_language", sort=True):
        background = texts.tally(in_language)
        total = sum(background.values())
        if total == 0:
            continue
        parts = [("all", in_language)] if by is None else \
            [(str(g), p) for g, p in in_language.groupby(by, sort=True, dropna=True)]
        for group, part in parts:
            rows.extend(_group_themes(part, in_language, background, total, texts,
                                      level=by or "all", group=group, language=str(language),
                                      top=top, min_docs=min_docs, min_reference=min_reference,
                                      prior_strength=prior_strength, examples=examples))
    if not rows:
        raise ValueError(f"feedback table: no term occurs in at least min_docs={min_docs} "
                         f"comments of one polarity in any {by or 'table'} group "
                         f"({len(frame)} polar comments)")
    return pd.DataFrame(rows)


class _Texts:
    """The distinct comment texts of a themes table and their terms; rows refer to them by
    their ``_text`` number."""

    def __init__(self, *, terms: list[list[str]], texts: list[str]) -> None:
        self.terms = terms
        self.texts = texts

    def copies(self, rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The distinct texts of ``rows`` (ascending numbers) and how often each occurs."""
        return np.unique(rows["_text"].to_numpy(), return_counts=True)

    def tally(self, rows: pd.DataFrame) -> Counter:
        """Comments of ``rows`` containing each term."""
        out: Counter = Counter()
        for i, n in zip(*self.copies(rows), strict=True):
            for t in self.terms[i]:
                out[t] += int(n)
        return out


def _group_themes(part: pd.DataFrame, in_language: pd.DataFrame, background: Counter,
                  total: int, texts: _Texts, *, level: str, group: str, language: str,
                  top: int, min_docs: int, min_reference: int, prior_strength: float,
                  examples: int) -> list[dict]:
    """Fightin'-words ranking of one group's comments of one polarity against the other."""
    from cjmlib.stats.intervals import wilson_interval

    rows: list[dict] = []
    for direction, opposite, sign in (("negative", "positive", 1), ("positive", "negative", -1)):
        docs = part[part["_polarity"] == direction]
        if docs.empty:
            continue
        reference = part[part["_polarity"] == opposite]
        compared_with = "group"
        if len(reference) < min_reference:
            # too few opposite comments in the group (a pain point has hardly any praise):
            # compare with the opposite comments of every group in this language
            reference = in_language[in_language["_polarity"] == opposite]
            compared_with = "all groups"
        if reference.empty:
            continue
        c_doc = texts.tally(docs)
        c_ref = texts.tally(reference)
        n_doc, n_ref = sum(c_doc.values()), sum(c_ref.values())
        vocab = sorted(t for t in c_doc if c_doc[t] >= min_docs)
        if not vocab:
            continue
        y_doc = np.array([c_doc[t] for t in vocab], dtype=float)
        y_ref = np.array([c_ref[t] for t in vocab], dtype=float)
        alpha = prior_strength * np.array([background[t] for t in vocab], dtype=float) / total
        a0 = prior_strength
        delta = (np.log((y_doc + alpha) / (n_doc + a0 - y_doc - alpha))
                 - np.log((y_ref + alpha) / (n_ref + a0 - y_ref - alpha)))
        z = delta / np.sqrt(1 / (y_doc + alpha) + 1 / (y_ref + alpha))
        scores = pd.DataFrame({"term": vocab, "y_doc": y_doc, "y_ref": y_ref, "delta": delta,
                               "z": z})
        scores = scores[scores["z"] > 0]
        scores = scores.sort_values(["z", "term"], ascending=[False, True])
        scores = _drop_redundant(scores, docs, c_doc, texts, language).head(top)
        for rank, rec in enumerate(scores.itertuples(index=False), start=1):
            k = int(rec.y_doc)
            lo, hi = wilson_interval(k, len(docs))
            rows.append({
                "level": level, "group": group, "language": language, "direction": direction,
                "rank": rank, "term": rec.term, "n_docs": k, "n_comments": len(docs),
                "share": k / len(docs), "share_ci_low": lo, "share_ci_high": hi,
                "compared_with": compared_with, "n_reference": len(reference),
                "share_reference": int(rec.y_ref) / len(reference),
                "log_odds_ratio": sign * float(rec.delta), "z": float(rec.z),
                "examples": _examples(docs, texts, rec.term, examples),
            })
    return rows


def _drop_redundant(scores: pd.DataFrame, docs: pd.DataFrame, word_docs: Counter,
                    texts: _Texts, language: str) -> pd.DataFrame:
    """Of terms found in exactly the same comments keep one -- the phrase whose words are the
    most frequent in these comments (``payment failed`` rather than ``failed twice``) -- and
    leave out a word when a kept phrase holding it covers at least 80% of its comments.
    ``word_docs`` is the tally of ``docs``' terms."""
    if scores.empty:
        return scores
    counts = dict(zip(scores["term"], scores["y_doc"], strict=True))

    split: dict[str, list[str]] = {}

    def words_of(term: str) -> list[str]:  # each term segmented once
        if term not in split:
            if language != "zh":
                split[term] = term.split(" ")
            else:
                from cjmlib.voice.sentiment import chinese_tokens

                split[term] = chinese_tokens(term) or [term]
        return split[term]

    def centrality(term: str) -> int:
        return sum(word_docs[w] for w in words_of(term))

    wanted = set(scores["term"])
    # comments with the same text hold the same terms: the same comments <=> the same texts
    found_in: dict[str, list[int]] = {t: [] for t in wanted}
    for i in texts.copies(docs)[0]:  # one pass over the texts, not one per term
        for t in wanted.intersection(texts.terms[i]):
            found_in[t].append(int(i))
    by_signature: dict[frozenset[int], list[str]] = {}
    for term in scores["term"]:
        by_signature.setdefault(frozenset(found_in[term]), []).append(term)
    kept = {max(group, key=lambda t: (centrality(t), len(words_of(t)), -len(t), t))
            for group in by_signature.values()}
    phrases_with: dict[str, list[str]] = {}
    for ph in kept:
        if len(words_of(ph)) > 1:
            for w in set(words_of(ph)):
                phrases_with.setdefault(w, []).append(ph)
    final = {t for t in kept
             if not any(t != ph and counts[ph] >= 0.8 * counts[t]
                        for ph in phrases_with.get(t, ()))}
    return scores[scores["term"].isin(final)]


def _examples(docs: pd.DataFrame, texts: _Texts, term: str, k: int) -> str:
    """The ``k`` most frequent comments of ``docs`` (stripped) containing ``term``; ties in
    text order."""
    if k == 0:
        return ""
    counts: Counter = Counter()
    for i, n in zip(*texts.copies(docs), strict=True):
        if term in texts.terms[i]:
            counts[texts.texts[i].strip()] += int(n)
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return " | ".join(text for text, _ in ordered[:k])
