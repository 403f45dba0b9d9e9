"""One GRPO step on CPU with the tiny model: time split (generation / scoring / update) and rollout tokens/s.

Prompts are FinQA dev questions; the policy is the random-init 2-layer Llama (hidden 64) with a BPE tokenizer
trained on the shared 10-K text. A random policy never boxes the right number, so every verifier reward is 0
and no update would run: the step is scored by a (random-init) sequence-classification reward model instead,
the general-RL path, which gives every group reward variance; the verifier's cost per completion is timed on
the same completions and reported beside it. The same batch is also generated without the KV cache
(``use_cache=False``), and — when ``trl`` is installed (``pip install -e '.[dev]'``; a dev dependency) — the
anchor, TRL's ``GRPOTrainer``, runs the same steps (same init, prompts, group size, completion budget, DAPO loss,
ε 0.2/0.28, reward model) in the same process: step time and completion tokens/s side by side, as a ratio.
No GPU in this task: the vLLM-vs-generate comparison of the issue needs one and is not run. Prints JSON.

    python bench/rl_step.py [--steps 4] [--prompts 4] [--group 8] [--new-tokens 64] [--threads 2]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SHARED = Path(os.environ.get("HUIJIN_SHARED_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data"))


def corpus() -> list[str]:
    texts = []
    for f in sorted((SHARED / "fin_text").glob("*.jsonl"))[:1]:
        for line in f.read_text(encoding="utf-8").splitlines()[:20]:
            rec = json.loads(line)
            texts += [v for v in rec.values() if isinstance(v, str) and len(v) > 200]
    return texts or ["Revenue grew 12% to $1,234 million while net income fell. " * 200]


def records(n: int) -> list[dict]:
    path = SHARED / "finqa" / "dev_200.json"
    if path.exists():
        data = json.loads(path.read_text())[:n]
        return [{"id": r["id"], "prompt": [{"role": "user", "content": r["qa"]["question"] + " Put the answer in \\boxed{}."}],
                          "reward_spec": json.dumps({"spec_version": 1, "type": "judge"}),
                 "gold": {"spec_version": 1, "type": "numeric", "answer": r["qa"]["exe_ans"]}, "tools": None}
                for r in data]
    return [{"id": str(i), "prompt": [{"role": "user", "content": f"What is {i} + {i}?"}],
             "reward_spec": json.dumps({"spec_version": 1, "type": "judge"}),
             "gold": {"spec_version": 1, "type": "numeric", "answer": 2 * i}, "tools": None} for i in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    from huijin import quiet

    quiet.configure(False)  # DeepSpeed's "Setting accelerator" line goes to stdout otherwise: stdout is our JSON
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from synthesis.rewards import score
    from training.rl.rewards import RewardModel
    from training.rl.rollout import GenConfig, render_prompt
    from training.rl.step import RLConfig, grpo_step, torch_updater
    from training.tiny import build_tiny_model, train_tokenizer

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = train_tokenizer(corpus(), Path(tmp) / "tok", vocab_size=2048)
        path = build_tiny_model(tok_dir, Path(tmp) / "model", seed=0)
        tok, model = AutoTokenizer.from_pretrained(str(path)), AutoModelForCausalLM.from_pretrained(str(path))
        path_model = AutoModelForCausalLM.from_pretrained(str(path))  # the same init for the TRL anchor
        rm_cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, num_labels=1, pad_token_id=tok.pad_token_id)
        LlamaForSequenceClassification(rm_cfg).save_pretrained(Path(tmp) / "rm")
        tok.save_pretrained(Path(tmp) / "rm")
        rm = RewardModel(Path(tmp) / "rm", batch_size=32)
    recs = records(a.prompts * (2 * a.steps + 1))
    rc = RLConfig(group_size=a.group, prompts_per_step=a.prompts, max_new_tokens=a.new_tokens,
                  update_micro_batch=a.prompts * a.group)  # one forward per update, as the TRL run below
    up = torch_updater(model, torch.optim.AdamW(model.parameters(), lr=1e-4))
    steps: list[dict] = []
    verify = [0.0, 0]

    def ours(first: int, n: int) -> None:
        for s in range(first, first + n):
            batch = recs[s * a.prompts:(s + 1) * a.prompts]
            c0, w0 = time.process_time(), time.perf_counter()
            res = grpo_step(model, tok, batch, rc, up, reward_model=rm)
            if s:  # step 0 warms up
                steps.append({**res.metrics, "cpu_s": time.process_time() - c0, "wall_s": time.perf_counter() - w0})
                t = time.perf_counter()
                for smp in res.samples:
                    score(batch[smp.prompt_index]["gold"], smp.text)
                verify[0] += time.perf_counter() - t
                verify[1] += len(res.samples)

    # other work shares these cores: ours, then the anchor, then ours again; compare the least-disturbed steps
    ours(0, a.steps // 2 + 1)
    anchor = run_trl(path_model, tok, recs, rm, a)
    ours(a.steps // 2 + 1, a.steps - a.steps // 2)

    def mean(k: str) -> float:
        return statistics.mean(m[k] for m in steps)

    total = mean("t_generate") + mean("t_score") + mean("t_update")
    # the same batch generated without the KV cache (each new token re-reads the whole prefix)
    batch = recs[:a.prompts]
    prompts = [render_prompt(tok, r["prompt"]) for r in batch for _ in range(a.group)]
    cfg = GenConfig(max_new_tokens=a.new_tokens)
    timings: dict[bool, float] = {}
    for cache in (True, False, True, False):
        width = max(map(len, prompts))
        ids = torch.tensor([[tok.pad_token_id] * (width - len(p)) + p for p in prompts])
        att = (torch.arange(width)[None, :] >= torch.tensor([width - len(p) for p in prompts])[:, None]).long()
        torch.manual_seed(1)
        t = time.perf_counter()
        with torch.no_grad():
            out = model.generate(input_ids=ids, attention_mask=att, do_sample=True, top_k=0,
                                 max_new_tokens=cfg.max_new_tokens, min_new_tokens=cfg.max_new_tokens,
                                 pad_token_id=tok.pad_token_id, use_cache=cache)
        rate = ((out.shape[1] - width) * len(prompts)) / (time.perf_counter() - t)
        timings[cache] = max(rate, timings.get(cache, 0.0))
    wall_min = min(m["wall_s"] for m in steps)
    cpu_min = min(m["cpu_s"] for m in steps)
    print(json.dumps({
        "bench": "rl_step", "device": "cpu (2 shared cores)", "threads": a.threads,
        "model": "tiny llama 2x64 (random init)", "prompts_per_step": a.prompts, "group_size": a.group,
        "max_new_tokens": a.new_tokens, "steps": a.steps,
        "t_generate_s": round(mean("t_generate"), 3), "t_score_s": round(mean("t_score"), 4),
        "t_update_s": round(mean("t_update"), 3),
        "split": {"generate": round(mean("t_generate") / total, 3), "score": round(mean("t_score") / total, 4),
                  "update": round(mean("t_update") / total, 3)},
        "reward": "reward model (random-init 2x64 sequence classifier) on a judge spec",
        "samples_trained_per_step": mean("samples_trained"),
        "verifier_us_per_completion": round(1e6 * verify[0] / max(verify[1], 1), 1),
        "rollout_tokens_per_step": round(mean("rollout_tokens"), 1),
        "rollout_tokens_per_s": round(max(m["rollout_tokens_per_s"] for m in steps), 1),
        "completion_len_mean": round(mean("completion_len_mean"), 1),
        "step_wall_min_s": round(wall_min, 3), "step_wall_median_s": round(statistics.median(m["wall_s"] for m in steps), 3),
        "step_cpu_min_s": round(cpu_min, 3),
        "trl_grpo": anchor,
        "speedup_vs_trl_wall_min": round(anchor["step_wall_min_s"] / wall_min, 2) if "step_wall_min_s" in anchor else None,
        "speedup_vs_trl_cpu_min": round(anchor["step_cpu_min_s"] / cpu_min, 2) if "step_cpu_min_s" in anchor else None,
        "generate_tokens_per_s_kv_cache": round(timings[True], 1),
        "generate_tokens_per_s_no_cache": round(timings[False], 1),
        "kv_cache_speedup": round(timings[True] / timings[False], 2),
        "gpu": "not available in this task: generate-vs-vLLM on a ~0.5B model not measured",
    }, indent=1))


def run_trl(model, tok, recs: list[dict], rm, a) -> dict:
    """TRL's GRPOTrainer on the same model, prompts and reward model; median step time after the first."""
    try:
        from datasets import Dataset
        from transformers import TrainerCallback
        from trl import GRPOConfig, GRPOTrainer
    except ImportError:
        return {"skipped": "trl is not installed (pip install -e '.[dev]') — the anchor comparison did not run"}

    def reward(prompts, completions, **kw):
        from training.rl.rollout import Sample

        samples = [Sample(i, [0], [0], 0, c[0]["content"] if isinstance(c, list) else c)
                   for i, c in enumerate(completions)]
        rm([{"prompt": p} for p in prompts], samples)
        return [s.reward for s in samples]

    stamps: list[tuple[float, float]] = []

    class Stamp(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            stamps.append((time.perf_counter(), time.process_time()))

    with tempfile.TemporaryDirectory() as out:
        cfg = GRPOConfig(output_dir=out, use_cpu=True, per_device_train_batch_size=a.prompts * a.group,
                         num_generations=a.group, max_completion_length=a.new_tokens, max_steps=a.steps + 1,
                         logging_steps=1, save_strategy="no", report_to="none", learning_rate=1e-4, epsilon=0.2,
                         epsilon_high=0.28, loss_type="dapo", beta=0.0, bf16=False, shuffle_dataset=False,
                         disable_tqdm=True, top_k=0)
        ds = Dataset.from_list([{"prompt": r["prompt"]} for r in recs])
        tr = GRPOTrainer(model=model, reward_funcs=reward, args=cfg, train_dataset=ds, processing_class=tok,
                         callbacks=[Stamp()])
        t0 = (time.perf_counter(), time.process_time())
        with contextlib.redirect_stdout(sys.stderr):  # the Trainer prints its logs; stdout is our JSON
            tr.train()
    pairs = list(zip([t0] + stamps[:-1], stamps, strict=True))[1:]  # drop the warm-up step
    steps = [b[0] - x[0] for x, b in pairs]
    cpu = [b[1] - x[1] for x, b in pairs]
    logs = [h for h in tr.state.log_history if "completions/mean_length" in h][1:]
    import trl

    return {"version": trl.__version__, "step_wall_min_s": round(min(steps), 3),
            "step_wall_median_s": round(statistics.median(steps), 3), "step_cpu_min_s": round(min(cpu), 3),
            "completion_len_mean": round(statistics.mean(h["completions/mean_length"] for h in logs), 1)}


if __name__ == "__main__":
    main()
