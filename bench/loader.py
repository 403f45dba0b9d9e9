"""Data-path benchmark: packing efficiency at seq 2048 on the shared 10-K text, packed tokens/s of the loader on
one core, and the trainer's consumption rate (the loader must be >= 20x faster, never the bottleneck).

    HF_HUB_OFFLINE=1 .venv/bin/python bench/loader.py [--seq-len 2048] [--batches 60]

Prints one JSON object. Falls back to generated filings text when ../shared/data is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SHARED = Path(os.environ.get("HUIJIN_SHARED_DATA", ROOT.parent / "shared" / "data"))


def tenk_docs() -> tuple[list[dict], str]:
    path = SHARED / "fin_text" / "sec_10k_items.jsonl"
    if not path.exists():
        import random

        from training.demo_data import filing_text

        rng = random.Random(0)
        return [{"id": f"d{i}", "text": filing_text(rng) * 20, "source": "demo"} for i in range(600)], "generated"
    docs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        for k, v in rec.items():
            if k.startswith("item_") and isinstance(v, str) and v.strip():
                docs.append({"id": f"{rec['cik']}-{rec['filing_date']}-{k}", "text": v.strip(), "source": "sec-10k"})
    return docs, str(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq-len", type=int, default=2048)
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--micro-batch", type=int, default=8)
    ap.add_argument("--train-steps", type=int, default=6)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from catalogs import Store
    from training.data import TokenSource
    from training.launch import run_stages
    from training.plan import PackedLoader, build, make_spec
    from training.tiny import train_tokenizer
    from training.tokenize import tokenize_version

    torch.set_num_threads(1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-loader-"))
    store = Store.open(tmp / "store")
    docs, source = tenk_docs()
    with store.writer("tenk", kind="doc", recipe={"bench": "loader"}) as w:
        w.write(docs)
    tok = train_tokenizer((d["text"] for d in docs), tmp / "tok", vocab_size=8192)
    t0 = time.perf_counter()
    tm = tokenize_version(store, w.manifest.ref, tok, progress=False)
    tok_s = time.perf_counter() - t0
    spec = make_spec(store, "cpt", [(tm, 1.0)], a.seq_len, seed=0, val_fraction=0.0)
    src = TokenSource(store, tm)
    t0 = time.perf_counter()
    packed = build(spec, [src.lengths])
    plan_s = time.perf_counter() - t0
    out = {"bench": "loader", "data": source, "docs": len(docs), "tokens": int(tm.tokens), "seq_len": a.seq_len,
           "tokenize_tokens_per_s": round(tm.tokens / tok_s), "plan_build_s": round(plan_s, 3),
           "sequences": len(packed.train), "packing_efficiency": round(1 - packed.stats.padding_ratio, 5),
           "cropped_ratio": packed.stats.cropped_ratio}
    for mode in ("position_ids", "4d"):
        loader = PackedLoader([src], packed.train, a.seq_len, 1, a.micro_batch, 1, 1, 0, mode)
        n = min(a.batches, loader.steps)
        t0 = time.perf_counter()
        toks = 0
        for s in range(n):
            b = loader.micro_batch(s, 0)
            toks += b["input_ids"].numel()
        out[f"loader_tokens_per_s_{mode}"] = round(toks / (time.perf_counter() - t0))
    # the trainer's consumption on this machine: the tiny model through our DeepSpeed loop, same seq len, one core
    store.snapshots.create("bench", {"cpt": [(tm.ref, 1.0)]}, tokenizer=str(tok))
    cfg = {"seq_len": a.seq_len, "micro_batch": 1, "grad_accum": 1, "max_steps": a.train_steps, "save_every": 0,
           "eval_every": 0, "val_fraction": 0.0, "warmup_steps": 1, "threads": 1}
    from huijin.output import stdout_to_stderr

    with stdout_to_stderr():  # the stage's step lines: stdout is the JSON alone
        rec = run_stages(store, "bench", ["cpt"], model="tiny", output=tmp / "run", config=cfg)[0]
    hist = [json.loads(x) for x in (tmp / "run" / "cpt" / "metrics.jsonl").read_text().splitlines()][1:]
    train_tps = sum(h["tokens_per_s"] for h in hist) / len(hist)
    out["trainer_tokens_per_s_tiny_cpu"] = round(train_tps)
    out["loader_over_trainer"] = round(out["loader_tokens_per_s_4d"] / train_tps, 1)
    # reference GPU consumption: a 1B model at 40% MFU on one H100 (989 TFLOP/s bf16) eats 6·N FLOPs/token
    h100_1b = 989e12 * 0.40 / (6 * 1e9)
    out["h100_1b_40pct_mfu_tokens_per_s"] = round(h100_1b)
    out["loader_over_h100_1b"] = round(out["loader_tokens_per_s_position_ids"] / h100_1b, 1)
    out["goal_loader_ge_20x"] = out["loader_over_trainer"] >= 20 and out["loader_over_h100_1b"] >= 20
    out["goal_packing_ge_99pct"] = out["packing_efficiency"] >= 0.99
    out["run"] = rec["run_id"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
