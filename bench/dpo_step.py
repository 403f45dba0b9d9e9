"""One DPO step on CPU, ours against TRL's ``DPOTrainer``: the same tiny model, the same preference pairs, the same
batch, β and learning rate, the reference log-probs precomputed in both. Prints JSON: median step time after the
first step (ours through the stage runner and DeepSpeed in a child process, so that this process has no
torch.distributed state when TRL's Trainer runs; TRL in this process), their ratio, and the independent checks:
how many pairs our renderer turns into exactly TRL's token ids and completion mask, and both first losses (the
policy is its own reference there, so both must be log 2). The windows differ slightly, against us: our step time
(the runner's ``dt``) includes collating the step's pairs, TRL's (``on_step_begin`` to ``on_step_end``) starts after
its batch is fetched and collated.

    python bench/dpo_step.py [--pairs 96] [--steps 12] [--batch 8] [--threads 1]

TRL comes with the dev extra (``pip install -e '.[dev]'``, as ``make setup`` does); without it only our side runs.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pairs(n: int) -> list[dict]:
    """Conversational preference pairs: a right sum chosen over a refusal or a wrong sum."""
    rng = random.Random(0)
    out = []
    for i in range(n):
        a, b = rng.randrange(10, 999), rng.randrange(10, 999)
        bad = "Hard to say." if i % 2 else f"The answer is {a + b + rng.choice((-10, 1, 100))}."
        out.append({"id": f"p{i}", "prompt": [{"role": "user", "content": f"What is {a} plus {b}?"}],
                    "chosen": [{"role": "assistant", "content": f"The answer is {a + b}."}],
                    "rejected": [{"role": "assistant", "content": bad}]})
    return out


def run_ours(store_root: Path, model: Path, out: Path, cfg: dict) -> list[dict]:
    from training.engine import child_env

    code = ("import json,sys; from catalogs import Store; from training.launch import run_stages; "
            "run_stages(Store.open(sys.argv[1]), 'bench', ['dpo'], model=sys.argv[2], output=sys.argv[3], "
            "config=json.loads(sys.argv[4]))")
    p = subprocess.run([sys.executable, "-c", code, str(store_root), str(model), str(out), json.dumps(cfg)],
                       env=child_env(), capture_output=True, text=True, cwd=str(ROOT), timeout=1800)
    if p.returncode:
        raise SystemExit(p.stderr[-3000:])
    recs = [json.loads(x) for x in (out / "dpo" / "metrics.jsonl").read_text().splitlines()]
    return [r for r in recs if "step" in r and "loss" in r]  # the step records


def run_trl(model_dir: Path, data: list[dict], a, out: Path) -> dict:
    try:
        from datasets import Dataset
        from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
        from trl import DPOConfig, DPOTrainer
    except ImportError:
        return {"skipped": "trl is not installed (pip install -e '.[dev]') — the anchor comparison did not run"}
    import torch

    torch.set_num_threads(a.threads)
    stamps: list[float] = []

    class Stamp(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            stamps.append(time.perf_counter())

        def on_step_end(self, args, state, control, **kw):
            stamps.append(time.perf_counter())

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    cfg = DPOConfig(output_dir=str(out), use_cpu=True, per_device_train_batch_size=a.batch, max_steps=a.steps,
                    logging_steps=1, save_strategy="no", report_to="none", learning_rate=a.lr, beta=a.beta,
                    lr_scheduler_type="constant", warmup_steps=0, precompute_ref_log_probs=True, bf16=False,
                    disable_tqdm=True, max_length=a.seq_len)
    ds = Dataset.from_list([{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in data])
    tr = DPOTrainer(model=AutoModelForCausalLM.from_pretrained(str(model_dir)), args=cfg, train_dataset=ds,
                    processing_class=tok, callbacks=[Stamp()])
    import contextlib

    with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints its logs; stdout is our JSON
        tr.train()
    steps = [stamps[i + 1] - stamps[i] for i in range(0, len(stamps) - 1, 2)][1:]  # the first step warms up
    losses = [float(h["loss"]) for h in tr.state.log_history if "loss" in h]
    import trl

    return {"version": trl.__version__, "step_median_s": round(statistics.median(steps), 4),
            "first_loss": round(losses[0], 4), "last_loss": round(losses[-1], 4), "dataset": tr.train_dataset}


def same_tokens(tok, data: list[dict], trl_rows, seq_len: int) -> tuple[int, list[str]]:
    """How many pairs our renderer (training.pref_data.encode_pair) turns into TRL's exact ids and mask."""
    from training.pref_data import encode_pair

    same, differ = 0, []
    for rec, row in zip(data, trl_rows, strict=True):
        tp = encode_pair(tok, rec, seq_len)
        ok = not isinstance(tp, str)
        for side in ("chosen", "rejected"):
            want = row["prompt_ids"] + row[f"{side}_ids"]
            mask = [0] * len(row["prompt_ids"]) + [1] * len(row[f"{side}_ids"])
            ok = ok and getattr(tp, side).tolist() == want and getattr(tp, f"{side}_mask").tolist() == mask
        same += ok
        if not ok:
            differ.append(rec["id"])
    return same, differ[:5]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=96)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--batch", type=int, default=8, help="pairs per step (one micro-batch in both)")
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--beta", type=float, default=0.1)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for both (1: stable on a shared machine)")
    a = ap.parse_args()
    from huijin import quiet

    quiet.configure(False)  # DeepSpeed's "Setting accelerator" line goes to stdout otherwise: stdout is our JSON
    from transformers import AutoTokenizer

    from catalogs import Store
    from synthesis.generators.records import pref_record, provenance
    from training.tiny import build_tiny_model, train_tokenizer

    data = pairs(a.pairs)
    tmp = Path(tempfile.mkdtemp(prefix="bench-dpo-"))
    texts = [json.dumps(r, ensure_ascii=False) for r in data] * 5
    tok_dir = train_tokenizer(texts, tmp / "tok", vocab_size=512)
    model = build_tiny_model(tok_dir, tmp / "model", seed=0)
    store = Store.open(tmp / "store")
    src = provenance("bench", "dpo_step")
    with store.writer("pairs", kind="pref") as w:
        w.write([pref_record(r["prompt"], r["chosen"], r["rejected"], {"chosen": 1.0, "rejected": 0.0},
                             "general/math/add", "en", src) for r in data])
    store.snapshots.create("bench", {"dpo": [(w.manifest.ref, 1.0)]}, tokenizer=str(tok_dir))
    cfg = {"seq_len": a.seq_len, "micro_batch": a.batch, "grad_accum": 1, "max_steps": a.steps, "lr": a.lr,
           "beta": a.beta, "warmup_steps": 0, "min_lr_ratio": 1.0, "val_fraction": 0.0, "save_every": 0,
           "eval_every": 0, "reference": "precompute", "threads": a.threads, "register_artifact": False}
    hist = run_ours(store.root, model, tmp / "ours", cfg)
    ours = {"step_median_s": round(statistics.median(h["dt"] for h in hist[1:]), 4),
            "first_loss": round(hist[0]["loss"], 4), "last_loss": round(hist[-1]["loss"], 4)}
    trl = run_trl(model, data, a, tmp / "trl")
    res = {"bench": "dpo_step", "device": "cpu", "model": "tiny llama (2 layers, hidden 64)", "pairs": a.pairs,
           "steps": a.steps, "batch_pairs": a.batch, "seq_len": a.seq_len, "lr": a.lr, "beta": a.beta,
           "threads": a.threads, "ours": ours, "log_2": round(math.log(2), 4)}
    if "skipped" in trl:
        res["trl_dpo"] = trl
    else:
        rows = trl.pop("dataset")
        same, differ = same_tokens(AutoTokenizer.from_pretrained(str(model)), data, rows, a.seq_len)
        res["trl_dpo"] = trl
        res["ratio_trl_step_over_ours"] = round(trl["step_median_s"] / ours["step_median_s"], 2)
        res["pairs_tokenized_as_trl"] = f"{same}/{len(data)}"
        res["pairs_tokenized_differently"] = differ
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
