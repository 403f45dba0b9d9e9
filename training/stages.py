"""Stage registry: a stage name → the class that plans and trains it.

The table is explicit (``STAGES`` below): the LM stages are defined here, the RL stages in ``training.rl.stages``;
both halves of a stage (``plan`` in the launching process, ``steps`` in every rank) are described in
``training.runner``, which runs every stage through one ``StageRunner``. ``register_stage`` adds a further
stage (a plugin, a test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from catalogs import Manifest
from recipes import recipes_dir

from .dpo import DPOStage, check_dpo_config  # built on training.runner too
from .plan import PlanError, PlanSpec, make_spec
from .rl.stages import AgenticRL, GeneralRL, ReasoningRL  # built on training.runner, not on this module
from .runner import Stage, StageContext, StageSteps

RECIPES = recipes_dir("stages")


def register_stage(name: str):
    def deco(cls: type[Stage]) -> type[Stage]:
        cls.name = name
        STAGES[name] = cls
        return cls
    return deco


def discover() -> dict[str, type[Stage]]:
    """The registered stages (kept for callers that list them)."""
    return STAGES


def get_stage(name: str) -> Stage:
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; registered: {', '.join(sorted(STAGES))}")
    return STAGES[name]()


def stage_config(stage: str, model: str, overrides: dict[str, Any] | None = None,
                 snapshot_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """recipes/stages/<stage>.yaml ← recipes/stages/tiny.yaml (for --model tiny) ← the snapshot's options
    (e.g. epochs, seed, seq_len pinned with the data) ← user overrides.

    Options and overrides may hold common keys and per-stage dicts keyed by stage name."""
    def load(p: Path) -> dict:
        return (yaml.safe_load(p.read_text()) or {}) if p.exists() else {}

    base = load(RECIPES / f"{stage}.yaml") or load(RECIPES / "cpt.yaml")
    layers = []
    if model == "tiny":
        t = load(RECIPES / "tiny.yaml")
        layers += [t.get("common", {}), t.get(stage, {})]
    for ov in (snapshot_options or {}, overrides or {}):
        layers += [{k: v for k, v in ov.items() if k not in STAGES}, ov.get(stage) or {}]
    cfg = dict(base)
    for layer in layers:
        for k, v in layer.items():
            cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    return cfg


# Numeric settings checked before any work: a typo (``--set micro_batch=0``, ``max_steps=abc``) is one clear
# error naming the stage and key, not a ZeroDivisionError deep inside a rank.
POSITIVE_INTS = ("seq_len", "micro_batch", "grad_accum", "prompts_per_step", "group_size", "max_new_tokens",
                 "max_total_tokens", "max_turns", "update_micro_batch", "ppo_epochs")
NON_NEGATIVE_INTS = ("warmup_steps", "save_every", "eval_every", "keep_checkpoints", "dynamic_sampling_max_batches",
                     "overlong_buffer")
POSITIVE_NUMBERS = ("lr", "epochs")


def check_config(stage: str, cfg: dict[str, Any]) -> None:
    def bad(key: str, want: str) -> PlanError:
        return PlanError(f"stage {stage}: {key} must be {want} (got {cfg[key]!r})")

    def is_int(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    def is_number(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    for k in POSITIVE_INTS:
        if k in cfg and not (is_int(cfg[k]) and cfg[k] >= 1):
            raise bad(k, "a positive integer")
    for k in NON_NEGATIVE_INTS:
        if cfg.get(k) is not None and not (is_int(cfg[k]) and cfg[k] >= 0):
            raise bad(k, "an integer ≥ 0")
    if cfg.get("max_steps") is not None and not (is_int(cfg["max_steps"]) and cfg["max_steps"] >= 1):
        raise bad("max_steps", "a positive integer, or null for one pass over the plan")
    for k in POSITIVE_NUMBERS:
        v = cfg.get(k)
        if k in cfg and not (is_number(v) and v > 0):
            raise bad(k, "a positive number")
    v = cfg.get("decay_fraction")
    if v is not None and not (is_number(v) and 0 < v <= 1):
        raise bad("decay_fraction", "a number in (0, 1], or null for a cosine decay over the whole run")
    if v is not None and cfg.get("min_lr_ratio", 0.1) >= 1:  # RL stages keep a constant LR: nothing would decay
        raise PlanError(f"stage {stage}: decay_fraction {v} has no effect with min_lr_ratio {cfg['min_lr_ratio']} "
                        "(a constant LR); lower min_lr_ratio or drop decay_fraction")
    for k in ("difficulty_min", "difficulty_max"):
        v = cfg.get(k)
        if v is not None and not (is_number(v) and 0 <= v <= 1):
            raise bad(k, "a number in [0, 1], or null")
    if stage == DPOStage.name:
        check_dpo_config(cfg, stage)
    lo, hi = cfg.get("difficulty_min"), cfg.get("difficulty_max")
    if lo is not None and hi is not None and lo > hi:
        raise PlanError(f"stage {stage}: difficulty_min {lo} is above difficulty_max {hi}")


class LMStage(Stage):
    """Next-token training on packed sequences (CPT and SFT differ only in data and loss mask)."""

    def plan(self, ctx: StageContext) -> PlanSpec:
        from catalogs.snapshots import tree_sha256

        c = ctx.cfg
        return make_spec(ctx.store, self.name, self.inputs(ctx), c["seq_len"], c.get("seed", 0), c.get("epochs", 1.0),
                         c.get("packing"), c.get("val_fraction", 0.02), tree_sha256(ctx.tokenizer))

    def steps(self, job: dict[str, Any]) -> StageSteps:
        from .trainer import LMSteps

        return LMSteps()


class CPTStage(LMStage):
    name = "cpt"
    kinds = ("tokens", "doc")

    def inputs(self, ctx: StageContext) -> list[tuple[Manifest, float]]:
        """doc versions are tokenized first (or their existing tokens version is reused)."""
        from .tokenize import tokenize_version

        out = []
        for m, w in super().inputs(ctx):
            if m.kind == "doc":
                m = tokenize_version(ctx.store, m.ref, ctx.tokenizer, workers=int(ctx.cfg.get("tokenize_workers", 1)),
                                     progress=False)
            out.append((m, w))
        return out


class SFTStage(LMStage):
    name = "sft"
    kinds = ("sft",)


STAGES: dict[str, type[Stage]] = {c.name: c for c in (CPTStage, SFTStage, ReasoningRL, AgenticRL, GeneralRL,
                                                        DPOStage)}
