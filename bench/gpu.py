"""GPU readiness: train ~125M and ~350M Llamas from scratch on the CPT mixture with our DeepSpeed loop and with
HF `Trainer` on the very same packed sequences, and time RL rollouts — one script, one JSON.

    python bench/gpu.py                # on a lent GPU: 125M + 350M, bf16, flash/SDPA attention, ZeRO-1
    python bench/gpu.py --dry          # on CPU: the same code path on a tiny model, a few steps (run by the tests)

Per size: our tokens/s and MFU (``training.mfu``: 6·N·T + attention FLOPs over the card's dense bf16 peak), HF
`Trainer` tokens/s (bf16, fused AdamW, ``torch_compile`` when --compile) and the ratio; then rollout tokens/s
of ``training.rl.rollout.generate_batch`` (the RL stages' own generation). Goal on one H100: ≥ 40% MFU at ~350M
and ≥ 1.0× HF `Trainer`. The whole run is sized to end within 8 minutes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

SIZES = {  # Llama shapes of the usual small configurations (GPT-3 small / medium depths and widths)
    "125m": {"hidden_size": 768, "intermediate_size": 2048, "num_hidden_layers": 12, "num_attention_heads": 12,
             "num_key_value_heads": 12},
    "350m": {"hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 24, "num_attention_heads": 16,
             "num_key_value_heads": 16},
    "dry": {"hidden_size": 64, "intermediate_size": 176, "num_hidden_layers": 2, "num_attention_heads": 4,
            "num_key_value_heads": 2},
}


def rollout_tps(model_dir: Path, n_prompts: int, new_tokens: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.rl.rollout import GenConfig, generate_batch

    cuda = torch.cuda.is_available()
    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.bfloat16 if cuda else torch.float32)
    model = model.to("cuda" if cuda else "cpu").eval()
    model.config.use_cache = True
    prompts = [tok(f"Revenue grew {i}% in {2000 + i}. What was the growth?", add_special_tokens=False)["input_ids"]
               for i in range(n_prompts)]
    cfg = GenConfig(max_new_tokens=new_tokens, temperature=1.0)
    generate_batch(model, tok, prompts[:2], GenConfig(max_new_tokens=4))  # warm-up (kernels, allocator)
    t0 = time.perf_counter()
    outs = generate_batch(model, tok, prompts, cfg)
    return sum(len(new) for new, _ in outs) / (time.perf_counter() - t0)


def one_size(name: str, a, tmp: Path, store) -> dict:
    from train_step import hf_trainer_tps, run_ours, same_sequences

    cfg = {"seq_len": a.seq_len, "micro_batch": a.micro_batch, "grad_accum": 1, "max_steps": a.steps,
           "save_every": 0, "eval_every": 0, "warmup_steps": 1, "lr": 3e-4, "zero_stage": a.zero_stage,
           "val_fraction": 0.0, "tiny_model": SIZES[name], "register_artifact": False}
    out = tmp / f"ours-{name}"
    rec = run_ours(store, cfg, out)
    hist = [json.loads(x) for x in (out / "cpt" / "metrics.jsonl").read_text().splitlines()][1:]
    ours = statistics.median(h["tokens_per_s"] for h in hist)
    mfu = [h["mfu"] for h in hist if "mfu" in h]
    examples, real = same_sequences(store, rec, a.steps * a.micro_batch)
    hf = hf_trainer_tps(out / "base", examples, real, a, tmp / f"hf-{name}")
    return {"size": name, "params": _params(out / "base"), "ours_tokens_per_s": round(ours),
            "hf_trainer_tokens_per_s": round(hf), "ratio_ours_over_hf": round(ours / hf, 3),
            "ours_mfu": round(statistics.median(mfu), 4) if mfu else None,
            # same model, same tokens, so the same FLOPs per token: HF's MFU scales with its throughput
            "hf_mfu": round(statistics.median(mfu) * hf / ours, 4) if mfu else None,
            "rollout_tokens_per_s": round(rollout_tps(out / "base", a.rollout_prompts, a.rollout_tokens))}


def _params(model_dir: Path) -> int:
    from transformers import AutoConfig, AutoModelForCausalLM

    with __import__("torch").device("meta"):
        m = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(str(model_dir)))
    return sum(p.numel() for p in m.parameters())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dry", action="store_true", help="CPU, tiny model, a few steps: the code path only")
    ap.add_argument("--sizes", nargs="+", default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seq-len", type=int, default=None)
    ap.add_argument("--micro-batch", type=int, default=None)
    ap.add_argument("--zero-stage", type=int, default=1)
    ap.add_argument("--compile", action="store_true", help="HF Trainer with torch_compile")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    cuda = torch.cuda.is_available()
    if not cuda and not a.dry:
        # a skip, not a failure, so that `make bench` goes on to the next script on a machine without a GPU
        print(json.dumps({"bench": "gpu", "skipped": "no GPU here: run with --dry for the CPU code path"}))
        return
    a.sizes = a.sizes or (["dry"] if a.dry else ["125m", "350m"])
    a.steps = a.steps or (3 if a.dry else 30)
    a.seq_len = a.seq_len or (128 if a.dry else 2048)
    a.micro_batch = a.micro_batch or (2 if a.dry else 8)
    a.rollout_prompts, a.rollout_tokens = (4, 8) if a.dry else (64, 256)
    a.threads = 1
    a.reps = 1
    from catalogs import Store
    from training.demo_data import build_inputs

    t0 = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    store = Store.open(tmp / "store")
    build_inputs(store, n_docs=300 if a.dry else 4000, n_conv=4, snapshot="bench")
    from huijin.output import stdout_to_stderr

    with stdout_to_stderr():  # step lines, DeepSpeed's log, the Trainer's metrics dict: stdout is the JSON alone
        rows = [one_size(s, a, tmp, store) for s in a.sizes]
    res = {"bench": "gpu", "device": torch.cuda.get_device_name(0) if cuda else "cpu (dry run)", "dry": a.dry,
           "seq_len": a.seq_len, "micro_batch": a.micro_batch, "steps": a.steps, "zero_stage": a.zero_stage,
           "sizes": rows, "seconds": round(time.perf_counter() - t0, 1),
           "goals": {"mfu_ge_0.40_at_350m": next((r["ours_mfu"] >= 0.40 for r in rows
                                                  if r["size"] == "350m" and r["ours_mfu"] is not None), None),
                     "ratio_ge_1": all(r["ratio_ours_over_hf"] >= 1.0 for r in rows)}}
    text = json.dumps(res, indent=1)
    if a.out:
        a.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
