"""Near-duplicate quality at every length: planted variants of real text, scored per cell.

Cells are category × length bucket × language. Categories: light edits (2/5/10% of the tokens replaced),
boilerplate added (a header and a footer line), truncation (70–95% kept), reformatting (line breaks, case,
punctuation width: same tokens) and distinct texts (two unrelated passages of the same source). Buckets are
50–150, 150–600 and 600–2,000 tokens (words in English, characters in Chinese). Base passages are disjoint
windows of shared data: en = SEC 10-K items + Wikipedia (en), zh = Chinese financial news + Wikipedia (zh).

Truth for each pair is computed here, independently of huijin's hashing: 5-gram shingle sets of the
normalised tokens (NFKC, lower case, ``[CJK]|[^\\W_CJK]+``); a pair is a duplicate when Jaccard >= 0.8 or
containment (shared / shingles of the smaller) >= 0.9. Methods, same pairs, same run:

- ``huijin``: ``curation.verbs.dedup_to_jsonl(threshold=0.8)`` end to end on datatrove's executor (signatures,
  datatrove's bucket stage, verified clusters); a pair is predicted when both ends share a cluster.
- ``huijin_lsh_only``: our signatures with bands balanced at 0.8 and no verification (what it did before).
- ``datasketch``: ``MinHashLSH(threshold=0.8, num_perm=112)`` over the same 5-gram shingles.
- ``datatrove_default``: ``MinhashDedupSignature`` with its default ``MinhashConfig`` (spaCy words, numbers
  normalised, 14×8 bands); a pair is predicted when one band matches.

Speed (docs/s on one core, same documents, best of ``--repeat`` runs: the machine is shared): the goal's ratio
is huijin's signatures + shingle sets (``FastMinHash.sign_batch``, as the pipeline's signature step signs) +
verification of every LSH candidate vs datasketch's signatures (``MinHash.update_batch``); banding is reported apart (datatrove's bucket stage does it in the pipeline), and an
end-to-end ratio adds our in-process banding vs ``MinHashLSH.insert``. Prints JSON.

    python bench/dedup_quality.py [--pairs 30] [--seed 0] [--no-datatrove]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import re
import sys
import tempfile
import time
import unicodedata
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from finance.text import CJK  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
TOKEN = re.compile(rf"[{CJK}]|[^\W_{CJK}]+", re.U)
CJK_CHAR = re.compile(rf"[{CJK}]")
NGRAM, THRESHOLD, CONTAINMENT, PERM = 5, 0.8, 0.9, 112
BUCKETS = {"50-150": (50, 150), "150-600": (150, 600), "600-2000": (600, 2000)}
CATEGORIES = ["edit2", "edit5", "edit10", "boilerplate", "truncate", "reformat", "distinct"]
BOILER = {
    "en": ("This report is provided for information only and does not constitute investment advice or an offer.",
           "Copyright 2024 Example Financial Media Ltd. All rights reserved. Redistribution without permission is "
           "prohibited."),
    "zh": ("免责声明：本文内容仅供参考，不构成任何投资建议，投资者据此操作风险自担。",
           "来源：财经日报 版权所有 未经书面授权不得转载、摘编或以其他方式使用。"),
}


# -- shared text -----------------------------------------------------------------------------------
def streams() -> dict[str, list[list[str]]]:
    """Per language, token streams to cut windows from: en tokens are whitespace words, zh tokens characters."""
    en_10k, seen = [], set()
    for line in open(DATA / "fin_text" / "sec_10k_items.jsonl", encoding="utf-8"):
        r = json.loads(line)
        text = " ".join(v for k, v in r.items() if k.startswith("item_") and v)
        key = hash(text[:5000])
        if key in seen:  # the set holds one filing under two company ids
            continue
        seen.add(key)
        en_10k += text.split()
    wiki = [json.loads(x) for x in open(DATA / "general_text" / "wiki_paragraphs.jsonl", encoding="utf-8")]
    en_wiki = " ".join(w["text"] for w in wiki if w["lang"] == "en").split()
    news = csv.DictReader(open(DATA / "fin_text" / "zh_fineva_ant_text_summarization.csv", encoding="utf-8-sig"))
    zh_news = list("".join("".join(r["question"].split()) for r in news))
    zh_wiki = list("".join("".join(w["text"].split()) for w in wiki if w["lang"] == "zh"))
    return {"en": [en_10k, en_wiki], "zh": [zh_news, zh_wiki]}


class Windows:
    """Disjoint windows from a language's streams (alternating sources; a spent source is skipped)."""

    def __init__(self, lang: str, srcs: list[list[str]], rng: random.Random) -> None:
        self.lang, self.srcs, self.rng = lang, srcs, rng
        self.pos = [0] * len(srcs)
        self.turn = 0

    def take(self, n: int) -> list[str]:
        for _ in range(len(self.srcs)):
            i = self.turn % len(self.srcs)
            self.turn += 1
            if self.pos[i] + n <= len(self.srcs[i]):
                out = self.srcs[i][self.pos[i]: self.pos[i] + n]
                self.pos[i] += n + self.rng.randrange(5, 50)
                return out
        raise RuntimeError(f"{self.lang}: shared text exhausted; ask for fewer --pairs")


def join(lang: str, toks: list[str]) -> str:
    return " ".join(toks) if lang == "en" else "".join(toks)


def variant(cat: str, lang: str, toks: list[str], rng: random.Random, vocab: list[str]) -> str:
    if cat.startswith("edit"):
        rate = int(cat[4:]) / 100
        t = list(toks)
        slots = [i for i, w in enumerate(t) if lang == "en" or CJK_CHAR.match(w)]
        for i in rng.sample(slots, max(1, round(rate * len(t)))):
            t[i] = rng.choice(vocab)
        return join(lang, t)
    if cat == "boilerplate":
        head, foot = BOILER[lang]
        return f"{head}\n{join(lang, toks)}\n{foot}"
    if cat == "truncate":
        return join(lang, toks[: max(1, int(len(toks) * rng.uniform(0.70, 0.95)))])
    if cat == "reformat":
        if lang == "en":  # line breaks and double spaces between words, a few words upper-cased
            seps = [rng.choice([" ", " ", " ", "\n", "  "]) for _ in toks]
            words = [w.upper() if rng.random() < 0.05 else w for w in toks]
            return "".join(w + s for w, s in zip(words, seps, strict=True)).strip()
        text = join(lang, toks)  # half-width punctuation, a line break after each sentence, spaces around digits
        text = text.replace("，", ",").replace("：", ":").replace("；", ";").replace("。", "。\n")
        return re.sub(r"(\d+)", r" \1 ", text)
    raise ValueError(cat)


def truth_sets(text: str) -> set[tuple[str, ...]]:
    t = TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
    n = min(NGRAM, len(t))
    return {tuple(t[i:i + n]) for i in range(len(t) - n + 1)}


def planted(n_pairs: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for lang, srcs in streams().items():
        win = Windows(lang, srcs, rng)
        vocab = [w for w in srcs[0][:200_000:7] if lang == "en" or CJK_CHAR.match(w)]
        for bucket, (lo, hi) in BUCKETS.items():
            for cat in CATEGORIES:
                for _ in range(n_pairs):
                    toks = win.take(rng.randrange(lo, hi))
                    a = join(lang, toks)
                    b = join(lang, win.take(rng.randrange(lo, hi))) if cat == "distinct" else variant(cat, lang, toks, rng, vocab)
                    sa, sb = truth_sets(a), truth_sets(b)
                    inter = len(sa & sb)
                    jac = inter / len(sa | sb)
                    cont = inter / min(len(sa), len(sb))
                    out.append({"lang": lang, "bucket": bucket, "category": cat, "a": a, "b": b,
                                "jaccard": jac, "containment": cont,
                                "dup": jac >= THRESHOLD or cont >= CONTAINMENT})
    return out


# -- methods ---------------------------------------------------------------------------------------
def huijin_pipeline(pairs: list[dict]) -> tuple[list[bool], float]:
    """End to end through the dedup verb (datatrove executor); predicted = same cluster."""
    from curation.verbs import dedup_to_jsonl

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "docs.jsonl"
        with open(src, "w", encoding="utf-8") as f:
            for i, p in enumerate(pairs):
                f.write(json.dumps({"id": f"{i}a", "text": p["a"]}, ensure_ascii=False) + "\n")
                f.write(json.dumps({"id": f"{i}b", "text": p["b"]}, ensure_ascii=False) + "\n")
        t0 = time.perf_counter()
        dedup_to_jsonl([str(src)], Path(tmp) / "kept.jsonl", Path(tmp) / "clusters.jsonl", threshold=THRESHOLD)
        wall = time.perf_counter() - t0
        cl = {r["id"]: r["cluster"] for r in map(json.loads, open(Path(tmp) / "clusters.jsonl", encoding="utf-8"))}
    return [cl[f"{i}a"] == cl[f"{i}b"] for i in range(len(pairs))], wall


def band_candidates(sigs: list[np.ndarray | None], b: int, r: int) -> set[tuple[int, int]]:
    """Pairs sharing a band (what datatrove's bucket stage finds), by sorting each band's rows."""
    ids = np.array([i for i, s in enumerate(sigs) if s is not None])
    mat = np.stack([s for s in sigs if s is not None]).reshape(len(ids), b, r)
    cand: set[tuple[int, int]] = set()
    for bi in range(b):
        band = np.ascontiguousarray(mat[:, bi, :]).view([("", "<u8")] * r).ravel()
        order = np.argsort(band, kind="stable")
        same = np.flatnonzero(band[order][1:] == band[order][:-1])
        groups: dict[int, list[int]] = defaultdict(list)
        start = -2
        for k in same:  # runs of equal rows
            if k != start + 1:
                head = int(k)
                groups[head].append(int(ids[order[k]]))
            groups[head].append(int(ids[order[k + 1]]))
            start = k
        for members in groups.values():
            for x in range(len(members)):
                for y in range(x + 1, len(members)):
                    cand.add((min(members[x], members[y]), max(members[x], members[y])))
    return cand


def huijin_in_process(docs: list[str], verify: bool = True, repeat: int = 1) -> tuple[set[tuple[int, int]], dict]:
    """Signatures (+ shingle hashes), LSH candidates, verification: the pairs found and the best seconds of each
    part over ``repeat`` runs (the machine is shared: the best run is the least disturbed)."""
    from curation.dedup_params import DedupParams
    from curation.minhash import FastMinHash

    params = DedupParams.for_threshold(THRESHOLD, PERM, verify=verify)
    mh = FastMinHash(params)
    best = {"sign": float("inf"), "bands": float("inf"), "verify": float("inf")}
    for _ in range(repeat):
        t0 = time.perf_counter()
        signed = mh.sign_batch(docs, sets=verify)  # what the pipeline's signature step calls
        t1 = time.perf_counter()
        cand = band_candidates([signed.signature(i) for i in range(len(docs))], params.num_buckets,
                               params.hashes_per_bucket)
        t2 = time.perf_counter()
        found = {(i, j) for i, j in cand if not verify or params.verdict(signed.set(i), signed.set(j))[0]}
        t3 = time.perf_counter()
        for k, v in (("sign", t1 - t0), ("bands", t2 - t1), ("verify", t3 - t2)):
            best[k] = min(best[k], v)
    return found, best | {"candidates": len(cand)}


def shingle_strings(text: str) -> list[bytes]:
    t = TOKEN.findall(unicodedata.normalize("NFKC", text).lower())
    n = min(NGRAM, len(t))
    return [" ".join(t[i:i + n]).encode("utf-8") for i in range(len(t) - n + 1)]


def datasketch_lsh(docs: list[str], repeat: int = 1) -> tuple[list[set[int]], dict]:
    from datasketch import MinHash, MinHashLSH

    best = {"sign": float("inf"), "lsh": float("inf")}
    for _ in range(repeat):
        t0 = time.perf_counter()
        mhs = []
        for d in docs:
            m = MinHash(num_perm=PERM, seed=1)
            m.update_batch(shingle_strings(d))
            mhs.append(m)
        t1 = time.perf_counter()
        lsh = MinHashLSH(threshold=THRESHOLD, num_perm=PERM)
        for i, m in enumerate(mhs):
            lsh.insert(str(i), m)
        t2 = time.perf_counter()
        best = {"sign": min(best["sign"], t1 - t0), "lsh": min(best["lsh"], t2 - t1)}
    return [{int(k) for k in lsh.query(m)} for m in mhs], best


def datatrove_default(docs: list[str]) -> list[np.ndarray | None]:
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupSignature

    step = MinhashDedupSignature(tempfile.mkdtemp(prefix="dq-dt-"), config=MinhashConfig())
    out = []
    for d in docs:
        sh = step.get_shingles(d)
        out.append(np.array(step.get_signature(sh), dtype=np.uint64).ravel() if sh.size else None)
    return out, step.config


# -- scoring ---------------------------------------------------------------------------------------
def score(pairs: list[dict], pred: list[bool]) -> dict:
    cells: dict[str, dict] = {}
    for p, y in zip(pairs, pred, strict=True):
        c = cells.setdefault(f"{p['lang']}/{p['bucket']}/{p['category']}",
                             {"pairs": 0, "dups": 0, "tp": 0, "fp": 0, "fn": 0, "jaccard": [], "containment": []})
        c["pairs"] += 1
        c["dups"] += p["dup"]
        c["tp"] += y and p["dup"]
        c["fp"] += y and not p["dup"]
        c["fn"] += (not y) and p["dup"]
        c["jaccard"].append(p["jaccard"])
        c["containment"].append(p["containment"])
    for c in cells.values():
        pp, pos = c["tp"] + c["fp"], c["tp"] + c["fn"]
        c["precision"] = round(c["tp"] / pp, 3) if pp else None  # None: nothing predicted in this cell
        c["recall"] = round(c["tp"] / pos, 3) if pos else None  # None: no true duplicate in this cell
        pr, rc = c["precision"], c["recall"]
        c["f1"] = round(2 * pr * rc / (pr + rc), 3) if pr and rc else (None if pr is None or rc is None else 0.0)
        c["goal"] = (pr is None or pr >= 0.99) and (rc is None or rc >= 0.95)
        c["jaccard"] = [round(min(c["jaccard"]), 2), round(max(c["jaccard"]), 2)]
        c["containment"] = [round(min(c["containment"]), 2), round(max(c["containment"]), 2)]
    return cells


def overall(pairs: list[dict], pred: list[bool]) -> dict:
    tp = sum(y and p["dup"] for p, y in zip(pairs, pred, strict=True))
    fp = sum(y and not p["dup"] for p, y in zip(pairs, pred, strict=True))
    fn = sum((not y) and p["dup"] for p, y in zip(pairs, pred, strict=True))
    pr, rc = tp / (tp + fp) if tp + fp else 1.0, tp / (tp + fn) if tp + fn else 1.0
    return {"tp": tp, "fp": fp, "fn": fn, "precision": round(pr, 4), "recall": round(rc, 4),
            "f1": round(2 * pr * rc / (pr + rc), 4) if pr + rc else 0.0}


def run(n_pairs: int = 30, seed: int = 0, with_datatrove: bool = True, repeat: int = 3) -> dict:
    pairs = planted(n_pairs, seed)
    docs = [d for p in pairs for d in (p["a"], p["b"])]
    preds: dict[str, list[bool]] = {}
    preds["huijin"], wall = huijin_pipeline(pairs)
    found, t_ours = huijin_in_process(docs, repeat=repeat)
    in_process = [(2 * i, 2 * i + 1) in found for i in range(len(pairs))]
    lsh_only, _ = huijin_in_process(docs, verify=False)
    preds["huijin_lsh_only"] = [(2 * i, 2 * i + 1) in lsh_only for i in range(len(pairs))]
    ds, t_ds = datasketch_lsh(docs, repeat=repeat)
    preds["datasketch"] = [2 * i + 1 in ds[2 * i] for i in range(len(pairs))]
    if with_datatrove:
        sigs, cfg = datatrove_default(docs)
        b, r = cfg.num_buckets, cfg.hashes_per_bucket
        preds["datatrove_default"] = [
            sigs[2 * i] is not None and sigs[2 * i + 1] is not None
            and bool((sigs[2 * i].reshape(b, r) == sigs[2 * i + 1].reshape(b, r)).all(axis=1).any())
            for i in range(len(pairs))]
    cells = {m: score(pairs, p) for m, p in preds.items()}
    ours = cells["huijin"]
    res = {"bench": "dedup_quality", "pairs": len(pairs), "docs": len(docs), "pairs_per_cell": n_pairs,
           "truth": f"5-gram Jaccard >= {THRESHOLD} or containment >= {CONTAINMENT}",
           "true_duplicates": sum(p["dup"] for p in pairs),
           "overall": {m: overall(pairs, p) for m, p in preds.items()},
           "goal": {"cells": len(ours), "cells_meeting_goal": sum(c["goal"] for c in ours.values()),
                    "cells_missing_goal": sorted(k for k, c in ours.items() if not c["goal"]),
                    "in_process_agrees_with_pipeline": in_process == preds["huijin"]},
           "speed": speed(len(docs), t_ours, t_ds) | {"huijin_pipeline_wall_s": round(wall, 2)},
           "cells": {m: {k: {x: c[x] for x in ("pairs", "dups", "tp", "fp", "fn", "precision", "recall", "f1", "goal")}
                         | ({"jaccard": c["jaccard"], "containment": c["containment"]} if m == "huijin" else {})
                         for k, c in sorted(cs.items())} for m, cs in cells.items()}}
    res["goal"]["speed>=5x"] = res["speed"]["ratio"] >= 5
    return res


def speed(n: int, ours: dict, ds: dict) -> dict:
    """docs/s on one core. The goal's ratio: our signatures + shingle hashes + verification of every candidate
    vs datasketch's signatures (banding is datatrove's bucket stage in the pipeline, so it is reported apart);
    the end-to-end ratio adds our in-process banding vs datasketch's ``MinHashLSH.insert``."""
    sv = ours["sign"] + ours["verify"]
    return {"huijin_sign_verify_docs_per_s": round(n / sv, 1), "datasketch_sign_docs_per_s": round(n / ds["sign"], 1),
            "ratio": round(ds["sign"] / sv, 2),
            "huijin_end_to_end_docs_per_s": round(n / (sv + ours["bands"]), 1),
            "datasketch_end_to_end_docs_per_s": round(n / (ds["sign"] + ds["lsh"]), 1),
            "ratio_end_to_end": round((ds["sign"] + ds["lsh"]) / (sv + ours["bands"]), 2),
            "candidates_verified": ours["candidates"],
            "seconds": {"huijin": {k: round(v, 3) for k, v in ours.items() if k != "candidates"},
                        "datasketch": {k: round(v, 3) for k, v in ds.items()}}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=30, help="pairs per cell (7 categories × 3 buckets × 2 languages)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-datatrove", action="store_true", help="skip datatrove's default (spaCy: slow)")
    ap.add_argument("--repeat", type=int, default=3, help="timing runs (best kept)")
    args = ap.parse_args()
    print(json.dumps(run(args.pairs, args.seed, not args.no_datatrove, args.repeat), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
