"""What groups of customers talk about: topics of the comments per touchpoint (or stage, or
overall) and polarity, named by their terms, with redacted example quotes.

:mod:`cjmlib.voice.themes` ranks single terms that set negative comments apart from positive
ones; a topic here is a group of comments about the same thing (late delivery and the courier;
a refund not paid back; the app crashing at login), found from the text itself, not from a
lexicon.

Method, per group (``by``), language and polarity:

1. Terms. Each comment is split into distinct terms -- words and two-word phrases -- by
   :func:`cjmlib.voice.themes.terms` (English by a word pattern without function words,
   Chinese by jieba), after e-mail addresses and long digit runs (phone and order numbers)
   are removed, so no term is a customer's address or number. Languages are modelled apart:
   an English and a Chinese comment never share a topic.
2. Weights. The comment-by-term matrix keeps the terms found in at least two of the
   group's comments (at most the 5,000 most frequent) and is weighted by TF-IDF with
   unit-length rows (Salton & Buckley 1988, "Term-weighting approaches in automatic text
   retrieval", Information Processing & Management 24(5); scikit-learn's
   ``TfidfTransformer``).
3. Topics. Non-negative matrix factorisation (Lee & Seung 1999, "Learning the parts of
   objects by non-negative matrix factorization", Nature 401) of that matrix into
   ``n_topics`` parts, initialised by NNDSVDa (Boutsidis & Gallopoulos 2008, "SVD based
   initialization: a head start for nonnegative matrix factorization", Pattern Recognition
   41(4)) and fitted by coordinate descent (Cichocki & Phan 2009, "Fast local algorithms for
   large scale nonnegative matrix and tensor factorizations", IEICE Transactions on
   Fundamentals E92-A(3); scikit-learn ``NMF``, relative tolerance 1e-3); each comment is
   assigned to the topic of its largest weight (:func:`comment_topics` gives it per
   comment). A comment with no kept term is assigned to none. By default ``n_topics`` is
   one per 30 comments, 1 to 10 (see :func:`topics`).
4. Names. Each topic is named by its terms of largest class-based TF-IDF (c-TF-IDF,
   Grootendorst 2022, "BERTopic: neural topic modeling with a class-based TF-IDF
   procedure", arXiv:2203.05794): the topic's comments are joined into one document; a
   term's weight is its frequency in that document (divided by the document's length)
   times ``log(1 + A / f)``, where ``f`` is the term's frequency over all topics of the
   group and ``A`` the average number of terms per topic, so a term every topic shares
   ("terrible", "not happy") does not name any of them.
5. Quotes. The most typical comments of a topic -- those whose TF-IDF row is closest (by
   cosine) to the topic's part of the factorisation -- quoted after redaction
   (:func:`cjmlib.core.privacy.redact`: e-mails and phones, and names when given the raw
   data's personal data).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from itertools import chain

import numpy as np
import pandas as pd
from scipy import sparse

from cjmlib.core import privacy
from cjmlib.core.checks import check_columns, check_scalar

#: Comments per topic when ``n_topics`` is chosen automatically, and the most topics then.
COMMENTS_PER_TOPIC = 30
MAX_TOPICS = 10
#: A term must occur in this many comments of a group to enter its topic model.
MIN_TERM_COMMENTS = 2
#: At most this many terms (the most frequent) per group, language and polarity.
MAX_TERMS = 5000

COLUMNS = ["level", "group", "language", "polarity", "topic", "n_topics", "terms",
           "n_comments", "n_group", "share", "share_ci_low", "share_ci_high", "quotes"]

# e-mail addresses and digit runs of 6+ (phones, order numbers) never become terms
_NUMBERS_AND_ADDRESSES = re.compile(r"\S+@\S+|\+?\d(?:[\d\s().\-/]*\d){5,}")


def topics(
    comments: pd.DataFrame,
    *,
    by: str | None = "touchpoint",
    polarity_col: str | None = None,
    n_topics: int | None = None,
    seed: int = 0,
    text_col: str = "text",
    language_col: str | None = "language",
    min_comments: int = 20,
    top_terms: int = 8,
    quotes: int = 3,
    redact: Callable[[str], str] = privacy.redact,
) -> pd.DataFrame:
    """Topics of the comments per ``by`` group, language and polarity (method: see the module
    docstring), one row per topic.

    ``comments`` needs ``text_col`` and a polarity: ``polarity_col`` when given (rows whose
    value is null or ``"neutral"`` are left out; other values are used as they are), else the
    survey score where there is one (``csat`` 1-2 negative, 4-5 positive) and otherwise the
    sign of ``sentiment`` (:func:`cjmlib.voice.themes.comment_polarity`); neutral comments are
    left out. ``by`` is a column (``touchpoint``, ``stage``, ...; rows where it is null are
    left out) or None for one group ``"all"``. The language of a row is ``language_col``
    (normalised, ``en-GB`` -> ``en``), else detected
    (:func:`cjmlib.voice.sentiment.detect_language`), else ``und``; ``language_col=None``
    detects every row.

    ``n_topics`` per group, language and polarity: when None, one topic per
    ``COMMENTS_PER_TOPIC`` (30) comments, at least 1 and at most ``MAX_TOPICS`` (10), i.e.
    ``min(10, max(1, n // 30))`` for ``n`` comments; a number given is used as it is. Either
    way it is at most the number of comments with a kept term and the number of kept terms.
    Topics no comment is assigned to are dropped, so a group may return fewer.

    Columns: ``level`` (``by``, or ``all``), ``group``, ``language``, ``polarity``, ``topic``
    (1 = the topic with the most comments of its group, language and polarity),
    ``n_topics`` (topics returned for them), ``terms`` (the ``top_terms`` terms of largest
    c-TF-IDF, strongest first, joined by ", "; a term whose words are all in a term already
    listed is left out, and a listed word gives way to a phrase holding it that covers 80%
    of its comments, as in :func:`cjmlib.voice.themes.themes`), ``n_comments`` (comments
    assigned to the topic), ``n_group`` (comments of the group, language and polarity, the
    denominator: includes comments without a kept term, which no topic gets), ``share``
    (``n_comments / n_group``, 0-1) with 95% Wilson ``share_ci_low``/``share_ci_high``
    (:func:`cjmlib.stats.intervals.wilson_interval`), ``quotes`` (up to ``quotes`` distinct
    comments, the most typical first, passed through ``redact``, joined by " | "). ``terms``
    pass through ``redact`` too. Rows are sorted by level, group, language, polarity, topic.

    ``redact`` maps a text to its redacted text; the default masks e-mails and phones. Pass
    ``functools.partial(cjmlib.core.privacy.redact, personal=personal)`` to mask the raw
    data's names as well.

    Groups of a language and polarity with fewer than ``min_comments`` comments, or
    without any term found in two of their comments, are skipped, never an error: they are
    listed in ``result.attrs["skipped"]``, a list of dicts with ``level``, ``group``,
    ``language``, ``polarity``, ``n_comments`` and ``reason``. With no topic at all the
    table is empty (with these columns). The result is the same for the same ``seed``.

    Raises ``ValueError`` naming a missing column, or when there is no polarity source
    (``polarity_col``, ``csat`` or ``sentiment``).

    >>> texts = ["Courier was late again", "Parcel arrived late, courier rude",
    ...          "Late parcel, no courier update", "Refund still not paid",
    ...          "Where is my refund? Money not back", "Money back took weeks, refund slow"]
    >>> comments = pd.DataFrame({"touchpoint": "delivery", "csat": 1, "language": "en",
    ...                          "text": texts * 5})
    >>> table = topics(comments, n_topics=2, top_terms=3, quotes=1)
    >>> table[["topic", "terms", "n_comments", "share"]].values.tolist()
    [[1, 'courier, late, parcel', 15, 0.5], [2, 'refund, back, money', 15, 0.5]]
    >>> table["quotes"].tolist()
    ['Late parcel, no courier update', 'Where is my refund? Money not back']
    """
    rows, skipped, _ = _fit(comments, by=by, polarity_col=polarity_col, n_topics=n_topics,
                            seed=seed, text_col=text_col, language_col=language_col,
                            min_comments=min_comments, top_terms=top_terms, quotes=quotes,
                            redact=redact)
    out = pd.DataFrame(rows, columns=COLUMNS)
    if not out.empty:
        from cjmlib.stats.intervals import wilson_interval

        out = out.sort_values(["group", "language", "polarity", "topic"], ignore_index=True)
        low, high = wilson_interval(out["n_comments"].to_numpy(), out["n_group"].to_numpy())
        out = out.assign(share=out["n_comments"] / out["n_group"], share_ci_low=low,
                         share_ci_high=high)
    out.attrs["skipped"] = skipped
    return out


def comment_topics(
    comments: pd.DataFrame,
    *,
    by: str | None = "touchpoint",
    polarity_col: str | None = None,
    n_topics: int | None = None,
    seed: int = 0,
    text_col: str = "text",
    language_col: str | None = "language",
    min_comments: int = 20,
) -> pd.DataFrame:
    """The topic of each comment, as :func:`topics` finds it with the same options: one row
    per negative or positive comment with text and a ``by`` value, indexed like
    ``comments``, with ``group``, ``language``, ``polarity`` and ``topic`` (the ``topic`` of
    :func:`topics`' table; ``<NA>`` for a comment without a kept term or in a skipped group).
    Comments left out (neutral, no text, null ``by``) are not in the table.
    """
    _, _, frame = _fit(comments, by=by, polarity_col=polarity_col, n_topics=n_topics,
                       seed=seed, text_col=text_col, language_col=language_col,
                       min_comments=min_comments, top_terms=1, quotes=0,
                       redact=privacy.redact)
    return frame


def _fit(comments: pd.DataFrame, *, by: str | None, polarity_col: str | None,
         n_topics: int | None, seed: int, text_col: str, language_col: str | None,
         min_comments: int, top_terms: int, quotes: int, redact: Callable[[str], str]
         ) -> tuple[list[dict], list[dict], pd.DataFrame]:
    """Topic rows, skipped groups and the topic of each comment."""
    check_scalar(n_topics, "n_topics", typ=(int, type(None)))
    if n_topics is not None:
        check_scalar(n_topics, "n_topics", ge=1)
    check_scalar(seed, "seed", typ=int, ge=0)
    check_scalar(min_comments, "min_comments", typ=int, ge=1)
    check_scalar(top_terms, "top_terms", typ=int, ge=1)
    check_scalar(quotes, "quotes", typ=int, ge=0)
    if not callable(redact):
        raise TypeError(f"redact must be a function of one text, got {type(redact).__name__}")
    required = [text_col, *([by] if by is not None else []),
                *([polarity_col] if polarity_col is not None else []),
                *([language_col] if language_col is not None else [])]
    check_columns(comments, required, what="comments table")
    if polarity_col is None and "csat" not in comments.columns \
            and "sentiment" not in comments.columns:
        raise ValueError("comments table: topics need a polarity source: polarity_col, a "
                         f"'csat' or a 'sentiment' column; found {list(comments.columns)}")

    frame = _polar_comments(comments, by=by, polarity_col=polarity_col, text_col=text_col,
                            language_col=language_col)
    level = by or "all"
    rows: list[dict] = []
    skipped: list[dict] = []
    topic_of = np.full(len(frame), -1)
    frame = frame.assign(_pos=np.arange(len(frame)))
    for language, in_language in frame.groupby("_language", sort=True):
        matrix, vocabulary = _term_matrix(in_language["_terms"])
        at = np.arange(len(in_language))
        cells = in_language.assign(_at=at).groupby(["_group", "_polarity"], sort=True)
        for (group, polarity), cell in cells:
            where = {"level": level, "group": group, "language": language,
                     "polarity": polarity, "n_comments": len(cell)}
            if len(cell) < min_comments:
                skipped.append({**where, "reason": f"fewer than min_comments={min_comments} "
                                                   "comments"})
                continue
            found, labels = _cell_topics(
                matrix[cell["_at"].to_numpy()], vocabulary, cell[text_col].tolist(),
                n_topics=n_topics, seed=seed, top_terms=top_terms, quotes=quotes,
                redact=redact, language=language)
            if not found:
                skipped.append({**where, "reason": f"no term in {MIN_TERM_COMMENTS} comments"})
                continue
            topic_of[cell["_pos"].to_numpy()] = labels
            rows.extend({"level": level, "group": group, "language": language,
                         "polarity": polarity, **topic} for topic in found)
    assigned = pd.DataFrame({
        "group": frame["_group"], "language": frame["_language"],
        "polarity": frame["_polarity"],
        "topic": pd.Series(topic_of, index=frame.index).where(topic_of > 0).astype("Int64")})
    return rows, skipped, assigned


def _polar_comments(comments: pd.DataFrame, *, by: str | None, polarity_col: str | None,
                    text_col: str, language_col: str | None) -> pd.DataFrame:
    """Non-empty negative or positive comments with ``_group``, ``_polarity``,
    ``_language`` and ``_terms``."""
    from cjmlib.voice.language import resolve_languages
    from cjmlib.voice.themes import comment_polarity, terms

    frame = comments[comments[text_col].map(lambda t: isinstance(t, str) and bool(t.strip()))]
    if polarity_col is not None:
        polarity = frame[polarity_col].astype(object).where(frame[polarity_col].notna(), None)
    else:
        polarity = comment_polarity(frame)
    group = frame[by] if by is not None else pd.Series("all", index=frame.index)
    keep = polarity.notna() & (polarity != "neutral") & group.notna()
    frame = frame[keep.to_numpy()]
    language = pd.Series([lg or "und" for lg in resolve_languages(frame, text_col,
                                                                   [language_col])],
                         index=frame.index, dtype=str)
    # real comments repeat ("great service"): split each distinct text once
    cleaned = frame[text_col].map(lambda t: _NUMBERS_AND_ADDRESSES.sub(" ", t))
    split: dict[tuple[str, str], list[str]] = {}
    for key in zip(cleaned, language, strict=True):
        if key not in split:
            split[key] = terms(*key)
    return frame.assign(
        _group=group[keep].astype(str).to_numpy(), _polarity=polarity[keep].astype(str).to_numpy(),
        _language=language.to_numpy(),
        _terms=[split[key] for key in zip(cleaned, language, strict=True)])


def _term_matrix(term_lists: pd.Series) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Comment-by-term 0/1 matrix (terms found in two comments or more, in order of first
    appearance) and its terms."""
    lists = term_lists.tolist()
    lengths = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    codes, vocabulary = pd.factorize(pd.Series(list(chain.from_iterable(lists)), dtype=object))
    counts = np.bincount(codes, minlength=len(vocabulary))
    keep = counts >= MIN_TERM_COMMENTS
    new_code = np.cumsum(keep) - 1
    kept = keep[codes]
    rows = np.repeat(np.arange(len(lists)), lengths)[kept]
    matrix = sparse.csr_matrix((np.ones(rows.size), (rows, new_code[codes[kept]])),
                               shape=(len(lists), int(keep.sum())))
    return matrix, np.asarray(vocabulary, dtype=object)[keep]


def _cell_topics(counts: sparse.csr_matrix, vocabulary: np.ndarray, texts: list[str], *,
                 n_topics: int | None, seed: int, top_terms: int, quotes: int,
                 redact: Callable[[str], str], language: str
                 ) -> tuple[list[dict], np.ndarray]:
    """Topics of one group, language and polarity (NMF over TF-IDF, c-TF-IDF names,
    quotes) and the topic number of each comment (0: none)."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfTransformer

    n_group = counts.shape[0]
    df = np.asarray(counts.sum(axis=0)).ravel()
    # the group's own frequent terms, most frequent first (ties: vocabulary order)
    columns = np.flatnonzero(df >= MIN_TERM_COMMENTS)
    columns = columns[np.argsort(-df[columns], kind="stable")][:MAX_TERMS]
    if columns.size == 0:
        return [], np.zeros(n_group, dtype=int)
    columns = np.sort(columns)
    counts, vocabulary = counts[:, columns], vocabulary[columns]
    has_terms = np.flatnonzero(counts.getnnz(axis=1) > 0)
    counts = counts[has_terms]
    k = n_topics if n_topics is not None else \
        min(MAX_TOPICS, max(1, n_group // COMMENTS_PER_TOPIC))
    k = max(1, min(k, counts.shape[0], counts.shape[1]))
    weighted = TfidfTransformer(norm="l2").fit_transform(counts)
    # tol 1e-3 (scikit-learn: 1e-4) saves a third of the time; no assignment of the
    # benchmark's planted topics changed
    model = NMF(n_components=k, init="nndsvda", random_state=seed, tol=1e-3, max_iter=400)
    with warnings.catch_warnings(), np.errstate(invalid="ignore"):
        # an unconverged fit still ranks comments; the assignment is what is used. (An
        # exact fit makes the reported error the square root of a tiny negative number.)
        warnings.simplefilter("ignore", ConvergenceWarning)
        weights = model.fit_transform(weighted)
    assigned = weights.argmax(axis=1)
    assigned[weights.max(axis=1) <= 0] = -1
    sizes = np.bincount(assigned[assigned >= 0], minlength=k)
    kept = [t for t in np.argsort(-sizes, kind="stable") if sizes[t] > 0]
    if not kept:
        return [], np.zeros(n_group, dtype=int)
    # c-TF-IDF over the topics that have comments: the topics' joined comments as classes
    ok = np.flatnonzero(assigned >= 0)
    members = sparse.csr_matrix((np.ones(ok.size), (assigned[ok], ok)),
                                shape=(k, len(assigned)))
    per_topic = (members @ counts).toarray()[kept]
    frequency = per_topic.sum(axis=0)
    average = per_topic.sum(axis=1).mean()
    idf = np.log1p(average / np.where(frequency > 0, frequency, np.inf))
    ctfidf = per_topic / per_topic.sum(axis=1, keepdims=True) * idf
    components = model.components_ / np.maximum(
        np.linalg.norm(model.components_, axis=1, keepdims=True), 1e-300)
    typicality = np.asarray(weighted @ components.T)
    out = []
    labels = np.zeros(n_group, dtype=int)
    for rank, t in enumerate(kept, start=1):
        rows = np.flatnonzero(assigned == t)
        labels[has_terms[rows]] = rank
        order = rows[np.lexsort((rows, -typicality[rows, t]))]
        out.append({
            "topic": rank, "n_topics": len(kept),
            "terms": str(redact(", ".join(_top_terms(ctfidf[rank - 1], per_topic[rank - 1],
                                                     vocabulary, top_terms, language)))),
            "n_comments": int(sizes[t]), "n_group": n_group,
            "quotes": " | ".join(_quotes([texts[has_terms[i]] for i in order], quotes, redact)),
        })
    return out, labels


def _top_terms(scores: np.ndarray, counts: np.ndarray, vocabulary: np.ndarray, top: int,
               language: str) -> list[str]:
    """The ``top`` terms of largest score, as in :func:`cjmlib.voice.themes.themes`: a term
    whose words are all in a term already listed is left out ("delivery" after "delivery
    late"), and a listed word gives way to a phrase holding it that covers 80% of its
    comments ("fast" to "fast delivery")."""
    def within(part: str, whole: str) -> bool:
        if language == "zh":
            return part in whole
        return set(part.split(" ")) <= set(whole.split(" "))

    listed: dict[str, float] = {}
    for j in np.lexsort((vocabulary, -scores)):
        if scores[j] <= 0 or len(listed) == top:
            break
        term = str(vocabulary[j])
        if any(within(term, other) for other in listed):
            continue
        for word in [w for w in listed if within(w, term) and counts[j] >= 0.8 * listed[w]]:
            del listed[word]
        listed[term] = counts[j]
    return list(listed)


def _quotes(texts: list[str], k: int, redact: Callable[[str], str]) -> list[str]:
    """The first ``k`` distinct texts, redacted (each distinct text is redacted once)."""
    out: list[str] = []
    for text in dict.fromkeys(texts):
        if len(out) == k:
            break
        quote = " ".join(str(redact(text)).split())
        if quote and quote not in out:
            out.append(quote)
    return out
