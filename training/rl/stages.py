"""The RL stages in the trainer's stage registry: ``reasoning_rl``, ``agentic_rl``, ``general_rl``.

All three are GRPO on ``rl`` versions; they differ in rollouts and rewards: reasoning RL is single-turn with
verifier rewards, agentic RL runs multi-turn tool episodes in ``synthesis.envs`` environments, general RL mixes
general and finance prompts (weights from the snapshot) with judge / reward-model rewards for open answers.
"""

from __future__ import annotations

from typing import Any

from ..generation.base import CONFIG_KEYS as GEN_KEYS
from ..plan import PlanSpec, make_spec
from ..runner import Stage, StageContext, StageSteps


class RLStage(Stage):
    kinds = ("rl",)
    rollout = "single"
    config_keys = GEN_KEYS  # backend: local | server (training.generation), server_url, sync_every, max_lag, ...

    def plan(self, ctx: StageContext) -> PlanSpec:
        from catalogs.snapshots import tree_sha256

        entries = self.inputs(ctx)
        c = ctx.cfg
        # what decides which prompts a step sees goes into the plan hash (resume refuses a different one)
        order = {"strategy": "rl_prompts", "split": "plan", "prompts_per_step": int(c.get("prompts_per_step", 4)),
                 "group_size": int(c.get("group_size", 4)), "rollout": self.rollout,
                 "dynamic_sampling_max_batches": int(c.get("dynamic_sampling_max_batches") or 0),
                 "difficulty_min": c.get("difficulty_min"), "difficulty_max": c.get("difficulty_max")}
        return make_spec(ctx.store, self.name, entries, int(c.get("max_total_tokens", c.get("seq_len", 512))),
                         int(c.get("seed", 0)), float(c.get("epochs", 1.0)), order, float(c.get("val_fraction", 0.05)),
                         tree_sha256(ctx.tokenizer))

    def steps(self, job: dict[str, Any]) -> StageSteps:
        from .run import RLSteps

        return RLSteps(self.rollout)


class ReasoningRL(RLStage):
    name = "reasoning_rl"
    rollout = "single"


class AgenticRL(RLStage):
    name = "agentic_rl"
    rollout = "agentic"


class GeneralRL(RLStage):
    name = "general_rl"
    rollout = "single"


# `--model tiny` on CPU: a few short rollouts per stage (the same values as recipes/stages/tiny.yaml)
_TINY = {"prompts_per_step": 2, "group_size": 4, "max_new_tokens": 8, "max_total_tokens": 1024, "lr": 1.0e-3,
         "warmup_steps": 0, "update_micro_batch": 8}
TINY_OVERRIDES: dict[str, dict[str, Any]] = {"reasoning_rl": dict(_TINY), "general_rl": dict(_TINY),
                                             "agentic_rl": {**_TINY, "max_total_tokens": 1536, "max_turns": 2}}
