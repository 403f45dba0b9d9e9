"""MinHash signatures: docs/s/core, tokenisation included, on the same ~1,000-word documents and the same
parameters (5-word shingles, 112 permutations = 14 bands × 8 rows): ours (one-permutation and classic)
vs datatrove's default ``MinhashDedupSignature`` (spaCy tokenizer) vs datasketch vs rensa (when
installed); ``ours_oph_batch`` is ours_oph through ``sign_batch``, as the pipeline step signs. Dedup quality: LSH candidates (14×8 bands) on planted near-duplicates of real 10-K text,
scored against the true 5-gram Jaccard (≥ 0.8 is a duplicate). Prints JSON.
    python bench/minhash.py [--docs 600] [--datatrove-docs 60]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from finance.text import CJK  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
TOKEN = re.compile(rf"[{CJK}]|[^\W_{CJK}]+")
BANDS, ROWS, NGRAM = 14, 8, 5
PERM = BANDS * ROWS


def documents(n: int) -> list[str]:
    docs = []
    for line in open(DATA / "fin_text" / "sec_10k_items.jsonl", encoding="utf-8"):
        r = json.loads(line)
        words = " ".join(v for k, v in r.items() if k.startswith("item_") and v).split()
        docs += [" ".join(words[i:i + 1000]) for i in range(0, len(words) - 1000, 1000)]
    random.Random(0).shuffle(docs)
    return docs[:n]


def shingles(text: str) -> list[str]:
    t = TOKEN.findall(text.lower())
    return [" ".join(t[i:i + NGRAM]) for i in range(max(1, len(t) - NGRAM + 1))]


def methods() -> dict:
    from curation.dedup_params import DedupParams
    from curation.minhash import FastMinHash

    out = {"ours_oph": FastMinHash(DedupParams(num_buckets=BANDS, hashes_per_bucket=ROWS, scheme="oph")).signature,
           "ours_classic": FastMinHash(DedupParams(num_buckets=BANDS, hashes_per_bucket=ROWS, scheme="classic")).signature}
    from datasketch import MinHash

    def datasketch(text: str) -> np.ndarray:
        m = MinHash(num_perm=PERM, seed=1)
        m.update_batch([s.encode("utf-8") for s in shingles(text)])
        return m.hashvalues

    out["datasketch"] = datasketch
    try:
        from rensa import RMinHash

        def rensa(text: str) -> np.ndarray:
            m = RMinHash(num_perm=PERM, seed=1)
            m.update(shingles(text))
            return np.array(m.digest(), dtype=np.uint64)

        out["rensa"] = rensa
    except ImportError:
        pass
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    step = MinhashDedupSignature("/tmp/unused-bench-sigs", config=MinhashConfig(n_grams=NGRAM, num_buckets=BANDS,
                                                                                  hashes_per_bucket=ROWS))

    def datatrove_default(text: str) -> np.ndarray:
        sh = step.get_shingles(text)
        return np.array(step.get_signature(sh), dtype=np.uint64).ravel() if sh.size else np.zeros(PERM, np.uint64)

    out["datatrove_default"] = datatrove_default
    return out


def speed(fn, docs: list[str]) -> float:
    fn(docs[0])  # warm-up (model/tokenizer loading)
    t0 = time.perf_counter()
    for d in docs:
        fn(d)
    return len(docs) / (time.perf_counter() - t0)


def batch_speed(docs: list[str]) -> float:
    """ours_oph as the pipeline's signature step runs it: all documents through ``sign_batch`` (same signatures)."""
    from curation.dedup_params import DedupParams
    from curation.minhash import FastMinHash

    mh = FastMinHash(DedupParams(num_buckets=BANDS, hashes_per_bucket=ROWS, scheme="oph"))
    mh.sign_batch(docs[:1], sets=False)  # warm-up
    t0 = time.perf_counter()
    mh.sign_batch(docs, sets=False)
    return len(docs) / (time.perf_counter() - t0)


def planted(base: list[str], rng: random.Random) -> tuple[list[tuple[str, str]], list[bool]]:
    """Pairs (original, edited copy) with 1-25% of words replaced; label = true Jaccard ≥ 0.8."""
    pairs, labels = [], []
    for i, d in enumerate(base):
        words = d.split()
        rate = [0.01, 0.02, 0.04, 0.06, 0.1, 0.15, 0.25][i % 7]
        for j in rng.sample(range(len(words)), int(rate * len(words))):
            words[j] = rng.choice(["revenue", "net", "fiscal", "quarter", "loss", "assets", "2021"])
        b = " ".join(words)
        sa, sb = set(shingles(d)), set(shingles(b))
        pairs.append((d, b))
        labels.append(len(sa & sb) / len(sa | sb) >= 0.8)
    for i in range(len(base) - 1):  # unrelated pairs from the same filings corpus
        pairs.append((base[i], base[i + 1]))
        labels.append(False)
    return pairs, labels


def quality(fn, pairs, labels) -> dict:
    tp = fp = fn_ = 0
    for (a, b), y in zip(pairs, labels, strict=True):
        sa, sb = np.asarray(fn(a)).reshape(BANDS, ROWS), np.asarray(fn(b)).reshape(BANDS, ROWS)
        cand = bool((sa == sb).all(axis=1).any())
        tp += cand and y
        fp += cand and not y
        fn_ += (not cand) and y
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn_) if tp + fn_ else 1.0
    return {"precision": round(p, 3), "recall": round(r, 3), "f1": round(2 * p * r / (p + r) if p + r else 0, 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=600)
    ap.add_argument("--datatrove-docs", type=int, default=60, help="datatrove's default is slow: fewer docs")
    ap.add_argument("--pairs", type=int, default=140)
    args = ap.parse_args()
    docs = documents(args.docs)
    fns = methods()
    res: dict = {"bench": "minhash", "docs": len(docs), "words_per_doc": 1000, "num_perm": PERM, "ngram": NGRAM,
                 "docs_per_s_per_core": {}, "quality": {}}
    for name, fn in fns.items():
        sample = docs[: args.datatrove_docs] if name == "datatrove_default" else docs
        res["docs_per_s_per_core"][name] = round(speed(fn, sample), 1)
    res["docs_per_s_per_core"]["ours_oph_batch"] = round(batch_speed(docs), 1)
    pairs, labels = planted(docs[: args.pairs], random.Random(1))
    res["planted"] = {"pairs": len(pairs), "true_duplicates": sum(labels)}
    for name, fn in fns.items():
        if name == "datatrove_default":
            p2 = [p for i, p in enumerate(pairs) if i % 4 == 0]
            res["quality"][name] = quality(fn, p2, [y for i, y in enumerate(labels) if i % 4 == 0]) | {"on": "1/4 of pairs"}
        else:
            res["quality"][name] = quality(fn, pairs, labels)
    s = res["docs_per_s_per_core"]
    res["ratios"] = {"ours_vs_datasketch": round(s["ours_oph"] / s["datasketch"], 2),
                     "ours_vs_datatrove_default": round(s["ours_oph"] / s["datatrove_default"], 1)}
    res["ratios"]["ours_batch_vs_datasketch"] = round(s["ours_oph_batch"] / s["datasketch"], 2)
    if "rensa" in s:
        res["ratios"]["ours_vs_rensa"] = round(s["ours_oph"] / s["rensa"], 2)
    res["goal"] = {"vs_datasketch>=5": res["ratios"]["ours_vs_datasketch"] >= 5,
                   "vs_datatrove>=50": res["ratios"]["ours_vs_datatrove_default"] >= 50}
    res["chosen"] = "ours_oph (curation.minhash.FastMinHash, scheme='oph') inside a datatrove step"
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
