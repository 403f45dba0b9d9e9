"""Preference pairs from on-policy samples of a checkpoint: the model's own answers, ranked by the verifier.

For every verifiable task of an ``rl`` version, ``k`` completions are sampled from the checkpoint at ``model`` (a
Hugging Face folder, e.g. a stage's exported model) with ``transformers`` ``generate`` on the chat template, and
scored by ``synthesis.rewards.score`` — the same verifier the RL stages reward with. The best-scored completion
is chosen over the worst when their scores differ; a task whose samples all score the same is dropped as
``no_signal`` (it teaches nothing, as in GRPO's zero-variance groups). Pairs built from the policy's own
samples are what on-policy / iterative DPO trains on. Needs no teacher; sampling is seeded (``seed``), so a
re-run writes the same version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from synthesis.rewards import score

from .context import RunContext, SynthRecipeError, resolve_path
from .records import pref_record, provenance
from .specs import verifiable_tasks

GENERATOR = "onpolicy_pairs"


def sample(model_dir: Path, prompts: list[list[dict[str, Any]]], k: int, max_new_tokens: int, temperature: float,
           seed: int) -> list[list[str]]:
    """``k`` sampled completions per prompt (text after the generation prompt, special tokens removed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finance.messages import template_messages

    tok = AutoTokenizer.from_pretrained(str(model_dir))
    model = AutoModelForCausalLM.from_pretrained(str(model_dir)).eval()
    out = []
    for i, p in enumerate(prompts):
        ids = tok.apply_chat_template(template_messages(p), add_generation_prompt=True, tokenize=True,
                                      return_dict=True, return_tensors="pt")["input_ids"]
        torch.manual_seed(seed * 1_000_003 + i)  # per prompt: a task's samples do not depend on the others
        with torch.no_grad():
            gen = model.generate(ids.repeat(k, 1), attention_mask=torch.ones_like(ids).repeat(k, 1), do_sample=True,
                                 temperature=temperature, top_p=1.0, max_new_tokens=max_new_tokens,
                                 pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
        out.append([tok.decode(g[ids.shape[1]:], skip_special_tokens=True).strip() for g in gen])
    return out


def generate(run: RunContext) -> None:
    cfg = run.recipe
    model = cfg.get("model")
    if not model:
        raise SynthRecipeError(f"recipe {run.recipe_name!r} needs 'model: PATH' (the checkpoint to sample from)")
    model_dir = resolve_path(str(model))
    if not (model_dir / "config.json").is_file():
        raise SynthRecipeError(f"recipe {run.recipe_name!r}: model {model!r} is not a Hugging Face model folder "
                               f"(looked at {model_dir})")
    m = run.input_manifest("tasks", "rl")
    k = int(cfg.get("k", 4))
    if k < 2:
        raise SynthRecipeError(f"recipe {run.recipe_name!r}: k must be at least 2 (two samples make a pair)")
    temperature, max_new = float(cfg.get("temperature", 1.0)), int(cfg.get("max_new_tokens", 64))
    if temperature <= 0 or max_new < 1:  # sampling needs both; transformers would fail deep inside generate
        raise SynthRecipeError(f"recipe {run.recipe_name!r}: temperature must be > 0 and max_new_tokens ≥ 1 "
                               f"(got {temperature}, {max_new})")
    out = run.outputs.open("pref", run.output_name("pref"), "pref", parents=[m.ref])
    tasks = verifiable_tasks(run.store.iter_records(m), out, run.limit)
    prompts = [[{k2: v for k2, v in msg.items() if v is not None} for msg in r["prompt"]] for r in tasks]
    texts = sample(model_dir, prompts, k, max_new, temperature, int(cfg.get("seed", run.seed))) if tasks else []
    checkpoint = f"checkpoint:{model_dir.name}"
    for rec, prompt, group in zip(tasks, prompts, texts, strict=True):
        results = [score(rec["reward_spec"], t) for t in group]
        if any(r.score is None for r in results):
            out.drop("ungradable_spec")
            continue
        ranked = sorted(zip(group, results, range(k), strict=True), key=lambda x: -x[1].score)
        (good, rg, ig), (bad, rb, ib) = ranked[0], ranked[-1]
        if rg.score == rb.score or good == bad:
            out.drop("no_signal")
            continue
        meta = {"task_id": rec["id"], "k": k, "chosen_sample": ig, "rejected_sample": ib, "model": str(model_dir),
                "chosen_verifier": rg.reason, "rejected_verifier": rb.reason,
                "pass_rate": round(sum(r.score == 1.0 for r in results) / k, 4)}
        out.keep(pref_record(prompt, [{"role": "assistant", "content": good}], [{"role": "assistant", "content": bad}],
                             {"chosen": float(rg.score), "rejected": float(rb.score)}, rec.get("taxonomy"),
                             rec.get("lang") or "en", provenance(GENERATOR, run.recipe_name, checkpoint), meta))
        run.progress(1)
