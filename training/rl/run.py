"""The RL stages' step for the one stage runner (``training.runner``): GRPO on a prompt plan.

A step rolls out ``group_size`` completions for each of its prompts, scores them, and updates. With
``dynamic_sampling_max_batches`` > 1 it is DAPO's dynamic sampling: groups whose rewards are all equal (no signal)
are dropped and refilled from the next prompts of the plan, batch after batch, until every rank has
``prompts_per_step`` groups with signal or the cap is reached; the surplus of the last batch is discarded. The
plan order wraps around when refills exhaust it. Every step logs the share of no-signal groups before (the
first batch) and after refilling (the trained batch). Checkpoints carry the consumed-prompt count (refills
included) and RNG states, so a SIGKILLed run resumes exactly.
"""

from __future__ import annotations

import time
from typing import Any

from ..runner import Rank, StageSteps


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


def _sum_over_ranks(values: list[float], world: int) -> list[float]:
    from ..engine import sum_over_ranks

    return values if world == 1 else sum_over_ranks(values)


def global_metrics(m: dict, rolled: list, trained: list, group_size: int, world: int) -> dict:
    """Reward and group statistics over all ranks (each rank rolls out its own share of the prompts).
    ``rolled``: every rollout of the step; ``trained``: the groups the update saw."""
    from .grpo import has_signal

    def groups(samples: list) -> list[list]:
        return [samples[i:i + group_size] for i in range(0, len(samples), group_size)]

    r = [x.reward for x in rolled if x.reward is not None]
    n_t = len(trained) // group_size
    dead_after = sum(not has_signal([x.reward for x in g]) for g in groups(trained))
    if world == 1:
        return {**m, "zero_var_after": dead_after / max(n_t, 1)}
    s, sq, n, zero, g, tokens, n_trained, dead_b, g_b, dead_a, g_a = _sum_over_ranks(
        [sum(r), sum(x * x for x in r), len(r), m["zero_std_group_frac"] * n_t, n_t, m["rollout_tokens"],
         m["samples_trained"], m["zero_var_before"] * m["groups_first_batch"], m["groups_first_batch"], dead_after,
         n_t], world)
    mean = s / n if n else None
    return {**m, "reward_mean": mean, "reward_std": max(sq / n - mean * mean, 0.0) ** 0.5 if n else None,
            "zero_std_group_frac": zero / max(g, 1), "rollout_tokens": tokens, "samples_trained": int(n_trained),
            "zero_var_before": dead_b / max(g_b, 1), "zero_var_after": dead_a / max(g_a, 1),
            "groups_first_batch": int(g_b)}


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


class RLSteps(StageSteps):
    unit = "prompts"

    def __init__(self, rollout: str = "single") -> None:
        self.rollout = rollout

    def setup(self, r: Rank) -> int:
        from transformers import AutoTokenizer

        from ..engine import build_engine, load_model
        from .envs import env_factory, judge_from_cfg, reward_model_from_cfg
        from .prompts import build_prompt_plan, load_sources
        from .step import RLConfig, deepspeed_updater

        cfg, spec = r.cfg, r.spec
        self.world, self.rank, self.stage = r.world, r.rank, spec.stage
        self.plan = plan = build_prompt_plan(spec, load_sources(r.store, spec))
        self.rc = rc = RLConfig.from_cfg({**cfg, "rollout": self.rollout})
        self.per_rank = max(1, rc.prompts_per_step // r.world)
        self.global_prompts = self.per_rank * r.world
        total = len(plan.train) // self.global_prompts
        if cfg.get("max_steps"):
            total = min(total, int(cfg["max_steps"]))
        if total < 1:
            raise ValueError(f"stage {spec.stage}: {len(plan.train)} training prompts, fewer than one step's "
                             f"{self.global_prompts}; lower prompts_per_step or add data")
        self.tokenizer = AutoTokenizer.from_pretrained(r.job["tokenizer"])
        model = load_model(r.job["input_model"])
        model.config.use_cache = True  # generation uses the KV cache; training forwards pass use_cache=False
        self.engine, _ = build_engine(model, {**cfg, "micro_batch": rc.update_micro_batch, "grad_accum": 1}, total,
                                      r.job.get("deepspeed_config"))
        reduce_tokens, max_chunks, scale = _dist_helpers(r.world)
        self.updater = deepspeed_updater(self.engine)
        self.updater.reduce_tokens, self.updater.max_chunks, self.updater.loss_scale = reduce_tokens, max_chunks, scale
        if rc.kl_coef:
            self.updater.ref_model = load_model(r.job["input_model"]).eval()
        self.make_env = env_factory(cfg, r.store) if self.rollout == "agentic" else None
        self.judge, self.rm = judge_from_cfg(cfg, r.out), reward_model_from_cfg(cfg)
        self.val_reward = bool(cfg.get("val_reward", True))
        from ..generation import backend_from_cfg  # `backend: server`: rollouts on a synced generation server

        self.backend, self.steps_done = backend_from_cfg(cfg, self.tokenizer, r.out, r.rank, r.world), 0
        return total

    def describe(self, total: int) -> str:
        ds = self.rc.dynamic_sampling_max_batches
        band = f" ({', '.join(f'{v} {k}' for k, v in self.plan.dropped.items())} left out)" if self.plan.dropped else ""
        return (f"{len(self.plan.train)} train{band} / {len(self.plan.val)} val prompts; {total} steps × "
                f"{self.global_prompts} prompts × {self.rc.group_size} samples ({self.rollout} rollouts"
                + (f", dynamic sampling ≤ {ds} batches" if ds > 1 else "") + ")")

    def state(self) -> dict[str, Any]:
        return {"consumed_prompts": self.consumed}

    def restore(self, cs: dict[str, Any]) -> None:
        self.consumed = int(cs["consumed_prompts"])

    def _next_batch(self) -> list[tuple[int, int]]:
        """This rank's share of the next ``global_prompts`` prompts of the plan (wrapping around at its end)."""
        n = len(self.plan.train)
        a = self.consumed + self.rank * self.per_rank
        self.consumed += self.global_prompts
        return [self.plan.train[(a + j) % n] for j in range(self.per_rank)]

    def train_step(self, step: int) -> dict[str, Any]:
        from .grpo import has_signal
        from .step import grpo_update, sample_and_score, sample_metrics

        rc, g = self.rc, self.rc.group_size
        t0 = time.perf_counter()
        gen, sync = self._generator(step)  # `step` (0-based) updates so far
        self.steps_done = step + 1
        dynamic = rc.dynamic_sampling_max_batches > 1
        drawn: list[tuple[int, int]] = []
        rolled, trained = [], []  # every rollout of the step; the groups the update will see
        t_gen = t_score = 0.0
        batches = dead_first = groups_first = 0
        while True:
            mine = self._next_batch()
            drawn += mine
            samples, tg, ts = sample_and_score(gen, self.tokenizer, [self.plan.record(x) for x in mine],
                                               rc, self.make_env, self.judge, self.rm)
            t_gen, t_score, batches = t_gen + tg, t_score + ts, batches + 1
            rolled += samples
            groups = [samples[i:i + g] for i in range(0, len(samples), g)]
            if batches == 1:
                dead_first, groups_first = sum(not has_signal([s.reward for s in grp]) for grp in groups), len(groups)
            if not dynamic:
                trained = samples
                break
            for grp in groups:
                if has_signal([s.reward for s in grp]) and len(trained) < self.per_rank * g:
                    trained += grp
            short = self.per_rank - len(trained) // g
            if batches >= rc.dynamic_sampling_max_batches or _max_over_ranks(short, self.world) <= 0:
                break
        if not trained:  # nothing with signal within the cap: the update still runs (zero loss) with the others
            trained = rolled[:g]
        lr = self.engine.get_lr()[0]  # the LR this update uses (the schedule moves on inside it)
        upd = grpo_update(self.engine.module, self.tokenizer, trained, rc, self.updater)
        m = {**sample_metrics(rolled, rc), **upd, "t_generate": t_gen, "t_score": t_score,
             "zero_var_before": dead_first / max(groups_first, 1), "groups_first_batch": groups_first,
             "rollout_batches": batches}
        m["rollout_tokens_per_s"] = m["rollout_tokens"] / max(t_gen, 1e-9)
        gn = self.engine.get_global_grad_norm()
        return {**global_metrics(m, rolled, trained, g, self.world), "lr": lr,
                "grad_norm": float(gn) if gn is not None else None, "dt": time.perf_counter() - t0,
                "prompts": [f"{a}:{b}" for a, b in drawn], **sync}

    def _generator(self, policy_version: int) -> tuple[Any, dict[str, Any]]:
        """What rolls out: the policy itself (local), or the generation server synced to it (with lag metrics)."""
        if self.backend is None:
            return self.engine.module, {}
        return self.backend, self.backend.before_rollouts(self.engine.module, policy_version)

    def validate(self) -> dict[str, Any]:
        return {"val_reward": validation_reward(self._generator(self.steps_done)[0], self.tokenizer, self.plan,
                                                self.rc, self.make_env, self.judge, self.rm)}

    def line(self, rec: dict[str, Any], total: int) -> str:
        r = rec["reward_mean"]
        refill = (f" → {rec['zero_var_after']:.0%} ({rec['rollout_batches']} batches)"
                  if self.rc.dynamic_sampling_max_batches > 1 else "")
        return (f"step {rec['step']:4d}/{total} | reward {r if r is None else f'{r:.3f}'} ± {rec['reward_std'] or 0:.3f}"
                f" | zero-var {rec['zero_var_before']:.0%}{refill} | len {rec['completion_len_mean']:.1f} | "
                f"clip {rec['clip_frac']:.2%} | gen {rec['t_generate']:.2f}s score {rec['t_score']:.2f}s "
                f"update {rec['t_update']:.2f}s | {rec['rollout_tokens_per_s']:,.0f} tok/s"
                + (" | warning: no update, every group's rewards were equal" if no_signal(rec) else ""))

    def checkpoint_metrics(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {"reward_mean": rec["reward_mean"]}

    def finish(self, history: list[dict[str, Any]]) -> dict[str, Any]:
        dead = sum(map(no_signal, history))
        # rank 0 holds the whole history (other ranks only the steps since a resume): it decides for all
        fail = self.rank == 0 and bool(history) and dead == len(history) and not self.rc.allow_no_signal
        if _sum_over_ranks([float(fail)], self.world)[0] > 0:
            r = _mean(h["reward_mean"] for h in history)
            raise NoSignalError(
                f"RL stage had no signal: in all {dead} steps every group's samples scored the same (mean reward "
                f"{'n/a' if r is None else f'{r:.3f}'}), so the model was not updated. Check that the reward can "
                "score this data (reward_none in metrics.jsonl) and that the policy sometimes succeeds; pass "
                "--allow-no-signal (config allow_no_signal: true) to keep the unchanged model anyway")
        val = validation_reward(self._generator(self.steps_done)[0], self.tokenizer, self.plan, self.rc, self.make_env,
                                self.judge, self.rm) if self.val_reward else None
        rewards = [h["reward_mean"] for h in history if h["reward_mean"] is not None]
        k = max(1, len(rewards) // 4)
        return {**(self.backend.summary() if self.backend else {}),
                "consumed_prompts": self.consumed, "rollout": self.rollout, "group_size": self.rc.group_size,
                "train_prompts": len(self.plan.train), "val_prompts": len(self.plan.val),
                "band_dropped": self.plan.dropped,
                "reward_first": sum(rewards[:k]) / k if rewards else None,
                "reward_last": sum(rewards[-k:]) / k if rewards else None, "val_reward": val,
                "zero_var_before": _mean(h.get("zero_var_before") for h in history),
                "zero_var_after": _mean(h.get("zero_var_after") for h in history),
                "t_generate": sum(h["t_generate"] for h in history), "t_score": sum(h["t_score"] for h in history),
                "t_update": sum(h["t_update"] for h in history)}


class NoSignalError(RuntimeError):
    pass


def no_signal(rec: dict[str, Any]) -> bool:
    """The step's update saw no group with unequal rewards (after any dynamic-sampling refills)."""
    return (rec.get("zero_var_after") or 0) >= 1.0


def _mean(xs) -> float | None:
    v = [x for x in xs if x is not None]
    return sum(v) / len(v) if v else None


def _max_over_ranks(n: int, world: int) -> int:
    if world == 1:
        return n
    import torch
    import torch.distributed as dist

    t = torch.tensor([n], dtype=torch.int64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t)
