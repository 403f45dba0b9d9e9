"""One rank's work for an RL stage (GRPO): verify sources, plan prompts, roll out, score, update, checkpoint,
export. Checkpoints carry the consumed-prompt count and RNG states, so a SIGKILLed run resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

from catalogs import Store

RESULT = "result.json"
KILL_ENV = "HUIJIN_TRAIN_KILL_AFTER_STEP"  # same test hook as the CPT/SFT loop


def _dist_helpers(world: int):
    """Token count summed over ranks, max micro-batch count, and the rank-average undo factor."""
    if world == 1:
        return (lambda n: n), (lambda n: n), 1.0
    import torch
    import torch.distributed as dist

    def reduce_tokens(n: float) -> float:
        t = torch.tensor([n], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t)

    def max_chunks(n: int) -> int:
        t = torch.tensor([n], dtype=torch.int64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t)

    return reduce_tokens, max_chunks, float(world)


def global_metrics(m: dict, samples: list, group_size: int, world: int) -> dict:
    """Reward and group statistics over all ranks (each rank rolls out its own share of the prompts)."""
    if world == 1:
        return m
    import torch
    import torch.distributed as dist

    r = [x.reward for x in samples if x.reward is not None]
    groups = len(samples) // group_size
    t = torch.tensor([sum(r), sum(x * x for x in r), len(r), m["zero_std_group_frac"] * groups, groups,
                      m["rollout_tokens"], m["samples_trained"]], dtype=torch.float64)
    dist.all_reduce(t)
    s, sq, n, zero, g, tokens, trained = t.tolist()
    mean = s / n if n else None
    return {**m, "reward_mean": mean, "reward_std": max(sq / n - mean * mean, 0.0) ** 0.5 if n else None,
            "zero_std_group_frac": zero / max(g, 1), "rollout_tokens": tokens, "samples_trained": int(trained)}


def validation_reward(policy, tok, plan, rc, make_env, judge, reward_model, limit: int = 64) -> float | None:
    """Mean greedy reward over held-out prompts (one completion each)."""
    from dataclasses import replace

    from .rewards import score_samples
    from .step import rollouts

    if not plan.val:
        return None
    recs = [plan.record(r) for r in plan.val[:limit]]
    g = replace(rc, group_size=1, temperature=0.0)
    samples = rollouts(policy, tok, recs, g, make_env)
    score_samples(recs, samples, judge, reward_model)
    vals = [s.reward for s in samples if s.reward is not None]
    return sum(vals) / len(vals) if vals else None


def execute_rl_stage(job: dict[str, Any], rollout: str = "single") -> dict[str, Any]:
    from ..engine import setup_env

    env = setup_env()
    import torch
    from transformers import AutoTokenizer

    from ..engine import (
        build_engine,
        export_hf,
        init_distributed,
        load_checkpoint,
        load_model,
        save_checkpoint,
        write_client_meta,
    )
    from ..plan import PlanSpec, verify_sources
    from .envs import env_factory, judge_from_cfg, reward_model_from_cfg
    from .prompts import build_prompt_plan, load_sources
    from .step import RLConfig, deepspeed_updater, grpo_step

    cfg = dict(job["cfg"])
    torch.manual_seed(int(cfg.get("seed", 0)))
    if "threads" in cfg:
        torch.set_num_threads(int(cfg["threads"]))
    init_distributed()
    rank, world = env["rank"], env["world"]
    store = Store.open(job["store"], create=False)
    spec = PlanSpec(**{k: v for k, v in job["spec"].items() if k != "format"})
    if not job.get("verified"):  # run_stages verified every shard once, before any rank started
        verify_sources(store, spec)
    plan = build_prompt_plan(spec, load_sources(store, spec))
    rc = RLConfig.from_cfg({**cfg, "rollout": rollout})
    per_rank = max(1, rc.prompts_per_step // world)
    global_prompts = per_rank * world
    total = len(plan.train) // global_prompts
    if cfg.get("max_steps"):
        total = min(total, int(cfg["max_steps"]))
    if total < 1:
        raise ValueError(f"stage {spec.stage}: {len(plan.train)} training prompts, fewer than one step's "
                         f"{global_prompts}; lower prompts_per_step or add data")
    tok = AutoTokenizer.from_pretrained(job["tokenizer"])
    model = load_model(job["input_model"])
    model.config.use_cache = True  # generation uses the KV cache; training forwards pass use_cache=False
    engine, _ = build_engine(model, {**cfg, "micro_batch": rc.update_micro_batch, "grad_accum": 1}, total,
                             job.get("deepspeed_config"))
    reduce_tokens, max_chunks, scale = _dist_helpers(world)
    updater = deepspeed_updater(engine)
    updater.reduce_tokens, updater.max_chunks, updater.loss_scale = reduce_tokens, max_chunks, scale
    if rc.kl_coef:
        updater.ref_model = load_model(job["input_model"]).eval()
    out = Path(job["output"])
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoints"
    make_env = env_factory(cfg, store) if rollout == "agentic" else None
    judge, rm = judge_from_cfg(cfg, out), reward_model_from_cfg(cfg)
    client = {"snapshot": job["snapshot"], "stage": spec.stage, "plan_hash": spec.hash, "run_id": job["run_id"]}
    step, consumed = 0, 0
    cs = load_checkpoint(engine, ckpt, spec.hash)
    if cs is not None:
        step, consumed = int(cs["step"]), int(cs["consumed_prompts"])
        if rank == 0:
            print(f"[{spec.stage}] resumed at step {step} ({consumed} prompts consumed)", flush=True)
    elif rank == 0:
        print(f"[{spec.stage}] plan {spec.hash}: {len(plan.train)} train / {len(plan.val)} val prompts; {total} steps "
              f"× {global_prompts} prompts × {rc.group_size} samples ({rollout} rollouts)", flush=True)
    save_every = int(cfg.get("save_every") or 0)
    kill_after = int(os.environ.get(KILL_ENV, "-1"))
    log = open(out / "metrics.jsonl", "a", encoding="utf-8") if rank == 0 else None
    history: list[dict[str, Any]] = []
    engine.train()
    while step < total:
        t0 = time.perf_counter()
        mine = plan.train[consumed + rank * per_rank: consumed + (rank + 1) * per_rank]
        batch = [plan.record(r) for r in mine]
        res = grpo_step(engine.module, tok, batch, rc, updater, make_env, judge, rm)
        step += 1
        consumed += global_prompts
        gn = engine.get_global_grad_norm()
        rec = {"step": step, **global_metrics(res.metrics, res.samples, rc.group_size, world), "lr": engine.get_lr()[0], "grad_norm": float(gn) if gn is not None
               else None, "dt": time.perf_counter() - t0, "prompts": [f"{a}:{b}" for a, b in mine]}
        history.append(rec)
        if rank == 0:
            r = rec["reward_mean"]
            print(f"step {step:4d}/{total} | reward {r if r is None else f'{r:.3f}'} ± {rec['reward_std'] or 0:.3f} | "
                  f"zero-var {rec['zero_std_group_frac']:.0%} | len {rec['completion_len_mean']:.1f} | "
                  f"clip {rec['clip_frac']:.2%} | gen {rec['t_generate']:.2f}s score {rec['t_score']:.2f}s "
                  f"update {rec['t_update']:.2f}s | {rec['rollout_tokens_per_s']:,.0f} tok/s", flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
        if save_every and (step % save_every == 0 or step == total):
            cstate = {**client, "consumed_prompts": consumed}
            tag = save_checkpoint(engine, ckpt, step, cstate)
            if rank == 0:
                write_client_meta(ckpt, tag, {**cstate, "step": step})
                store.runs.update(job["run_id"], checkpoint=str(ckpt / tag),
                                  metrics={"step": step, "reward_mean": rec["reward_mean"]})
        if step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    if log:
        log.close()
    val = validation_reward(engine.module, tok, plan, rc, make_env, judge, rm) if cfg.get("val_reward", True) else None
    final = export_hf(engine, tok, out / "model", rank)
    rewards = [h["reward_mean"] for h in history if h["reward_mean"] is not None]
    k = max(1, len(rewards) // 4)
    metrics = {"steps": step, "consumed_prompts": consumed, "plan_hash": spec.hash, "rollout": rollout,
               "group_size": rc.group_size, "train_prompts": len(plan.train), "val_prompts": len(plan.val),
               "reward_first": sum(rewards[:k]) / k if rewards else None,
               "reward_last": sum(rewards[-k:]) / k if rewards else None, "val_reward": val,
               "t_generate": sum(h["t_generate"] for h in history), "t_score": sum(h["t_score"] for h in history),
               "t_update": sum(h["t_update"] for h in history), "world_size": world}
    if cfg.get("eval_suite") and rank == 0:
        from ..evaluation import evaluate_model

        summary = evaluate_model(str(final), cfg["eval_suite"], limit=cfg.get("eval_limit")).summary()
        metrics["eval"] = {summary["suite"]: summary}
    result = {"output_model": str(final), "metrics": metrics}
    if rank == 0:
        (out / RESULT).write_text(json.dumps(result, indent=1, default=str))
    return result
