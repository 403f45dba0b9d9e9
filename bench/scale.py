"""How curation's cost grows with input: the curation filters, MinHash dedup (signatures + buckets + clusters +
final + index), decontamination and catalog registration on 1×, 4× and 16× input, each size in a fresh
subprocess. Prints JSON: CPU and wall seconds, peak RSS, docs/s/core per component and size; the fitted
exponent of CPU cost vs input (log-log least squares over the sizes: 1.0 = linear, goal ≤ 1.1) and the
marginal one between the two largest sizes (fixed start-up costs flatter the full fit); and the projected
core-hours for 1 TB of WARC from the measured per-document rates plus trafilatura extraction measured on the
shared HTML pages.

Input: distinct documents recombined from shared text — each document is 12-40 sentences drawn (seeded by
its index) from the sentences of the shared SEC 10-K items and English Wikipedia paragraphs, so the MinHash
dedup does not collapse them; 2% are exact copies and 2% near copies (a sentence swapped) of earlier
documents, so dedup has clusters to find at every size. One task, one worker (local executor): docs/s/core is
docs over the process's CPU seconds (user + sys), which the other tenants of a shared machine disturb less
than wall time.

    python bench/scale.py [--base 250] [--sizes 1,4,16] [--docs-per-gb 33000]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("HUIJIN_SHARED_DATA", ROOT.parent / "shared" / "data"))
BENCHMARKS = {"finqa": "finqa/dev_200.json", "tatqa": "tatqa/tatqa_dataset_dev_80ctx.json",
              "convfinqa": "convfinqa/convfinqa_dev_100_pot_format.json", "fineva": "fineva_zh_mc/SUFE_dev"}
# fin_web's steps after extraction, without dedup (extraction is measured apart, on HTML)
FILTERS = {"name": "scale-filtered", "kind": "doc", "reader": {"text_key": "text"},
           "steps": [{"langid": {"languages": ["en", "zh"], "threshold": 0.3}}, {"min_length": {"min_chars": 200}},
                     {"gopher_quality": {}}, {"gopher_repetition": {}}, {"c4_quality": {}},
                     {"fineweb_quality": {}}, {"pii": {}}]}
DEDUP = {"name": "scale-dedup", "kind": "doc", "reader": {"text_key": "text"},
         "steps": [{"dedup": {"threshold": 0.8, "exact": True, "near": True, "normalize_numbers": False}}]}
COMPONENTS = ("pipeline", "dedup", "decontam", "register")
_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def sentence_pool() -> list[str]:
    out: list[str] = []
    for line in (SHARED / "fin_text" / "sec_10k_items.jsonl").open(encoding="utf-8"):
        rec = json.loads(line)
        for k, v in rec.items():
            if k.startswith("item_") and isinstance(v, str):
                out += [s.strip() for s in _SENT.split(v) if 40 <= len(s.strip()) <= 400]
    for line in (SHARED / "general_text" / "wiki_paragraphs.jsonl").open(encoding="utf-8"):
        rec = json.loads(line)
        if rec.get("lang", "en") == "en" and ".en" in rec.get("source", ".en"):
            out += [s.strip() for s in _SENT.split(rec["text"]) if 40 <= len(s.strip()) <= 400]
    return sorted(set(out))


def make_docs(n: int, pool: list[str]) -> list[dict[str, str]]:
    docs: list[dict[str, str]] = []
    for i in range(n):
        rng = random.Random(i)
        if i > 10 and rng.random() < 0.02:  # exact copy of an earlier document
            text = docs[rng.randrange(i)]["text"]
        elif i > 10 and rng.random() < 0.02:  # near copy: one sentence replaced
            sents = docs[rng.randrange(i)]["text"].split("\n")
            sents[rng.randrange(len(sents))] = rng.choice(pool)
            text = "\n".join(sents)
        else:
            text = "\n".join(rng.sample(pool, rng.randint(12, 40)))
        docs.append({"id": f"d{i}", "text": text})
    return docs


def _cpu() -> float:
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def one_size(n: int, work: Path) -> dict:
    """Run every component on ``n`` documents in this (fresh) process."""
    from catalogs import Store
    from curation.decontam import build_index
    from curation.pipeline import run_recipe

    docs = make_docs(n, sentence_pool())
    src = work / "docs.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    store = Store.open(work / "store")
    index = build_index({k: str(SHARED / v) for k, v in BENCHMARKS.items()})  # fixed cost: not timed
    out: dict = {"docs": n, "words": sum(len(d["text"].split()) for d in docs)}
    warm = work / "warm.jsonl"  # imports, model loads and datatrove start-up once, before anything is timed
    warm.write_text("".join(json.dumps(d) + "\n" for d in make_docs(12, sentence_pool())), encoding="utf-8")
    run_recipe(FILTERS, [str(warm)], name="warm-a", store=store, tasks=1, workers=1)
    run_recipe(DEDUP, [str(warm)], name="warm-b", store=store, tasks=1, workers=1)

    def timed(name: str, fn):
        c0, w0 = _cpu(), time.perf_counter()
        res = fn()
        out[name] = {"cpu_s": round(_cpu() - c0, 3), "wall_s": round(time.perf_counter() - w0, 3),
                     "peak_rss_mb_so_far": round(_peak_mb(), 1)}
        return res

    m = timed("pipeline", lambda: run_recipe(FILTERS, [str(src)], name="filtered", store=store, tasks=1, workers=1))
    out["pipeline"].update(kept=m.rows, dropped=sum(m.drops.values()))
    d = timed("dedup", lambda: run_recipe(DEDUP, [str(src)], name="deduped", store=store, tasks=1, workers=1))
    out["dedup"].update(kept=d.rows, dropped=dict(d.drops), stage_wall_s=d.extra["stage_s"])
    flagged = timed("decontam", lambda: sum(bool(index.match(x["text"])) for x in docs))
    out["decontam"]["flagged"] = flagged

    def register():
        with store.writer("registered", kind="doc") as w:
            w.write([{**x, "source": "scale", "url": "", "lang": "en"} for x in docs])
        return store.ls("registered")

    timed("register", register)
    out["peak_rss_mb"] = round(_peak_mb(), 1)
    return out


def extraction_rate(limit: int = 100) -> dict:
    """trafilatura (as the extract step calls it) on the shared HTML pages: pages/s/core."""
    import gzip

    import trafilatura

    pages = []
    for p in sorted((SHARED / "html_extraction").rglob("*")):
        if p.name.endswith(".html.gz"):
            pages.append(gzip.decompress(p.read_bytes()).decode("utf-8", "replace"))
        elif p.suffix in (".html", ".htm"):
            pages.append(p.read_text(encoding="utf-8", errors="replace"))
    pages = pages[:limit]
    c0 = _cpu()
    for h in pages:
        trafilatura.extract(h, include_tables=True, include_comments=False)
    dt = _cpu() - c0
    return {"pages": len(pages), "cpu_s": round(dt, 3), "pages_per_s_core": round(len(pages) / dt, 1)}


def slope(xs: list[float], ys: list[float]) -> float:
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", type=int, default=250, help="documents at 1×")
    ap.add_argument("--sizes", default="1,4,16", help="multiples of --base")
    ap.add_argument("--docs-per-gb", type=float, default=33000,
                    help="HTML captures per GB of WARC.gz (Common Crawl: ~3 billion pages in ~100 TB of WARC)")
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)  # child: run one size, print JSON
    a = ap.parse_args()
    if a.one is not None:
        with tempfile.TemporaryDirectory() as tmp:
            print("RESULT " + json.dumps(one_size(a.one, Path(tmp))), flush=True)
        return
    sizes = [int(s) for s in a.sizes.split(",")]
    runs = []
    for s in sizes:
        n = a.base * s
        t0 = time.perf_counter()
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        p = subprocess.run([sys.executable, __file__, "--one", str(n)], capture_output=True, text=True, env=env)
        if p.returncode != 0:
            sys.exit(f"size {s}× ({n} docs) failed:\n{p.stderr[-3000:]}")
        r = json.loads(p.stdout.split("RESULT ", 1)[1])
        r["size"] = f"{s}x"
        r["total_cpu_s"] = round(sum(r[c]["cpu_s"] for c in COMPONENTS), 3)
        r["docs_per_s_core"] = {c: round(n / max(r[c]["cpu_s"], 1e-9), 1) for c in (*COMPONENTS,)}
        r["docs_per_s_core"]["all"] = round(n / r["total_cpu_s"], 1)
        runs.append(r)
        print(f"{s:>3}× {n:>6} docs: " + "  ".join(f"{c} {r[c]['cpu_s']:.1f}s" for c in COMPONENTS) +
              f"  peak {r['peak_rss_mb']:.0f} MB  ({time.perf_counter() - t0:.0f}s wall)", file=sys.stderr, flush=True)
    ns = [r["docs"] for r in runs]
    exps = {c: round(slope(ns, [r[c]["cpu_s"] for r in runs]), 3) for c in COMPONENTS}
    exps["all"] = round(slope(ns, [r["total_cpu_s"] for r in runs]), 3)
    marginal = {c: round(slope(ns[-2:], [r[c]["cpu_s"] for r in runs[-2:]]), 3) for c in COMPONENTS}
    marginal["all"] = round(slope(ns[-2:], [r["total_cpu_s"] for r in runs[-2:]]), 3)
    mem_exp = round(slope(ns, [r["peak_rss_mb"] for r in runs]), 3)
    ext = extraction_rate()
    big = runs[-1]
    per_doc_s = big["total_cpu_s"] / big["docs"] + 1 / ext["pages_per_s_core"]
    docs_tb = a.docs_per_gb * 1000
    res = {"bench": "scale", "base_docs": a.base, "cpu_count": os.cpu_count(), "runs": runs,
           "exponent_cpu_vs_docs": exps, "exponent_marginal_largest_two": marginal,
           "exponent_peak_rss_vs_docs": mem_exp, "goal_exponent": 1.1,
           "over_goal": sorted(c for c, v in exps.items() if v > 1.1),
           "extraction": ext,
           "projection_1tb_warc": {"docs_per_gb": a.docs_per_gb, "docs": int(docs_tb),
                                   "cpu_s_per_doc": round(per_doc_s, 5),
                                   "core_hours": round(docs_tb * per_doc_s / 3600, 1),
                                   "rate_from": f"{big['size']} run ({big['docs']} docs) + trafilatura on shared HTML"}}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
