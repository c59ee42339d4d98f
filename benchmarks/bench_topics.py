"""Topics benchmark: 200,000 comments in English and Chinese, 16 touchpoints, both polarities.

    python benchmarks/bench_topics.py                       # 200,000 comments
    python benchmarks/bench_topics.py --comments 20000

1. Draws ``--comments`` comments (not timed): each is about one of four planted topics of its
   touchpoint and polarity (three or four of the topic's eight key words), with two to six
   words of a 3,000-word Zipf-distributed background vocabulary; 70% English (random
   Latin-letter words), 30% Chinese (two-character words of jieba's dictionary); CSAT 1-2 or
   4-5; one in 500 carries an e-mail address or a phone number. Real comments repeat; these
   hardly do, so every comment is split by jieba or the word pattern (the slow part).
2. Times :func:`cjmlib.voice.topics.topics` (default options: automatic ``n_topics``) and
   checks the recovery of the planted topics by the adjusted Rand index of
   :func:`cjmlib.voice.topics.comment_topics` with ``n_topics=4``, and that no quote holds a
   planted e-mail or phone. Writes ``benchmarks/results/bench_topics.json`` with the wall and
   CPU time and the load average (other jobs on a shared machine stretch the wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cjmlib.voice.topics import comment_topics, topics  # noqa: E402

TARGET_S = 60.0
TOUCHPOINTS = 16
TOPICS = 4
KEY_WORDS = 8


def _vocabulary(rng: np.random.Generator, n: int, language: str) -> list[str]:
    """``n`` distinct words: frequent two-character words of jieba's dictionary (so
    segmentation works as on real text) or random Latin-letter words, in random order."""
    if language == "zh":
        from cjmlib.voice.sentiment import chinese_tokenizer
        from cjmlib.voice.themes import ZH_STOPWORDS

        freq = chinese_tokenizer().FREQ
        common = sorted((w for w, f in freq.items() if f > 0 and len(w) == 2
                         and all("\u4e00" <= ch <= "\u9fff" for ch in w)
                         and w not in ZH_STOPWORDS), key=lambda w: (-freq[w], w))[:n]
        return list(rng.permutation(common))
    letters = list("abcdefghijklmnopqrstuvwxyz")
    words = {"".join(rng.choice(letters, int(rng.integers(4, 9)))) for _ in range(n * 2)}
    return list(rng.permutation(sorted(words)[:n]))


def comments(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    for language, share in (("en", 0.7), ("zh", 0.3)):
        vocab = _vocabulary(rng, 3000 + TOUCHPOINTS * 2 * TOPICS * KEY_WORDS, language)
        keys = np.array(vocab[:TOUCHPOINTS * 2 * TOPICS * KEY_WORDS], dtype=object).reshape(
            TOUCHPOINTS, 2, TOPICS, KEY_WORDS)
        background = np.array(vocab[TOUCHPOINTS * 2 * TOPICS * KEY_WORDS:], dtype=object)
        zipf = 1 / np.arange(1, background.size + 1)
        zipf /= zipf.sum()
        m = int(round(n * share))
        tp = rng.integers(0, TOUCHPOINTS, m)
        pol = rng.integers(0, 2, m)
        topic = rng.integers(0, TOPICS, m)
        joiner = "" if language == "zh" else " "
        texts = []
        for i in range(m):
            words = list(rng.choice(keys[tp[i], pol[i], topic[i]], int(rng.integers(3, 5)),
                                    replace=False))
            words += list(rng.choice(background, int(rng.integers(2, 7)), p=zipf))
            rng.shuffle(words)
            text = joiner.join(words)
            if i % 500 == 250:
                text += f" mail me at cust{i}@example.com" if i % 1000 == 250 else \
                    f" call 07700 9{i % 100000:05d}"
            texts.append(text)
        out.append(pd.DataFrame({
            "touchpoint": [f"tp{t:02d}" for t in tp], "language": language, "text": texts,
            "csat": np.where(pol == 0, rng.integers(1, 3, m), rng.integers(4, 6, m)),
            "truth": [f"{language}-{t}-{p}-{k}" for t, p, k in zip(tp, pol, topic,
                                                                   strict=True)]}))
    return pd.concat(out, ignore_index=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comments", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    from sklearn.metrics import adjusted_rand_score

    frame = comments(args.comments, args.seed)
    wall, cpu = time.perf_counter(), time.process_time()
    table = topics(frame)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assigned = comment_topics(frame, n_topics=TOPICS)
    ari = adjusted_rand_score(frame.loc[assigned.index, "truth"],
                              assigned["group"] + "-" + assigned["language"] + "-"
                              + assigned["polarity"] + "-" + assigned["topic"].astype(str))
    planted = frame["text"].str.extract(r"(cust\d+@example\.com|07700 9\d{5})")[0].dropna()
    leaked = int(sum(table["quotes"].str.contains(p, regex=False).sum() for p in planted))
    result = {"comments": len(frame), "topics": len(table),
              "skipped": len(table.attrs["skipped"]), "wall_s": round(wall, 2),
              "cpu_s": round(cpu, 2), "target_s": TARGET_S,
              "adjusted_rand_index_n_topics_4": round(float(ari), 4),
              "planted_personal_data": len(planted), "leaked_in_quotes": leaked,
              "load_average": os.getloadavg()[0]}
    print(json.dumps(result, indent=2))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_topics.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if wall < TARGET_S and leaked == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
