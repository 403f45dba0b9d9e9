"""One GRPO step: rollouts → rewards → group advantages → clipped token-mean update, with its time split.

The update side only needs three callables (``forward``, ``backward``, ``optimizer_step``), so the same step runs
on a DeepSpeed engine (the stages) and on a bare torch model with an optimizer (unit tests, the benchmark).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .grpo import clipped_token_loss, group_advantages, overlong_penalty
from .rewards import JudgeReward, RewardModel, score_samples
from .rollout import (
    Batch,
    GenConfig,
    Sample,
    forward_logits,
    pad_samples,
    sequence_logprobs,
    single_turn_rollouts,
)


@dataclass
class RLConfig:
    group_size: int = 4
    prompts_per_step: int = 4
    max_new_tokens: int = 32
    temperature: float = 1.0
    top_p: float = 1.0
    eps_low: float = 0.2
    eps_high: float = 0.28  # DAPO clip-higher
    kl_coef: float = 0.0  # KL to the reference model: off by default (DAPO, Dr. GRPO)
    adv_scale: str = "std"
    negative_weight: float = 1.0  # scale of below-mean advantages (1: GRPO; 0: only successes are reinforced)
    update_micro_batch: int = 8  # sequences per forward/backward in the update
    ppo_epochs: int = 1  # >1 reuses each batch of rollouts (old log-probs from before the first update)
    max_turns: int = 4
    max_total_tokens: int = 512
    rollout: str = "single"  # single | agentic
    # DAPO dynamic sampling: a step may draw up to this many rollout batches (the first + refills) to replace
    # groups without signal (all rewards equal) by groups from new prompts; 0 or 1: off
    dynamic_sampling_max_batches: int = 0
    overlong_buffer: int = 0  # DAPO soft overlong punishment: the last this-many tokens of the budget (0: off)
    overlong_penalty: float = 1.0  # the punishment at the budget (reward -= up to this)
    # a stage in which no step had a group with unequal rewards left the model as it was: that fails the stage
    # (a reward that cannot score this data, or a policy that always fails or always passes) unless allowed
    allow_no_signal: bool = False

    @classmethod
    def from_cfg(cls, cfg: dict[str, Any]) -> RLConfig:
        return cls(**{k: type(getattr(cls, k))(v) if not isinstance(getattr(cls, k), str) else v
                      for k, v in cfg.items() if k in cls.__dataclass_fields__ and v is not None})

    def gen(self) -> GenConfig:
        return GenConfig(self.max_new_tokens, self.temperature, self.top_p, self.max_turns, self.max_total_tokens)


@dataclass
class Updater:
    """How to train: ``begin(is_last_micro)`` before each micro-batch, ``forward(batch) -> logits`` (completion
    window), ``backward(loss)``, ``step(is_last_micro)``."""
    forward: Callable[[Batch], torch.Tensor]
    backward: Callable[[torch.Tensor], None]
    step: Callable[[bool], None]
    begin: Callable[[bool], None] = lambda last: None
    ref_model: Any = None  # for the optional KL term
    # several ranks: the step's token count summed over ranks, the most micro-batches any rank has, and the
    # factor that undoes DeepSpeed's averaging of gradients over ranks (so the loss is a global token mean)
    reduce_tokens: Callable[[float], float] = lambda n: n
    max_chunks: Callable[[int], int] = lambda n: n
    loss_scale: float = 1.0


def torch_updater(model, optimizer, clip: float | None = 1.0) -> Updater:
    def fwd(b: Batch) -> torch.Tensor:
        return forward_logits(model, b)

    def step(last: bool) -> None:
        if last:
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)

    return Updater(fwd, lambda loss: loss.backward(), step)


def deepspeed_updater(engine) -> Updater:
    """Manual accumulation boundary: the number of micro-batches varies per step (skipped samples), so the
    engine is told which backward is the last; losses are already normalised by the step's token count.
    The boundary must be set *before* the micro-batch's forward/backward (DeepSpeed reduces the accumulated
    gradients inside the backward that runs at the boundary): set after it, as before, each step's optimizer
    update used gradients that did not add up the step's micro-batches (tests/test_rl_updaters.py)."""
    def fwd(b: Batch) -> torch.Tensor:
        return forward_logits(engine, b)

    def step(last: bool) -> None:
        engine.step()

    return Updater(fwd, lambda loss: engine.backward(loss, scale_wrt_gas=False), step,
                   begin=engine.set_gradient_accumulation_boundary)


@dataclass
class StepResult:
    metrics: dict[str, Any]
    samples: list[Sample] = field(default_factory=list)


def rollouts(policy, tok, records: list[dict[str, Any]], rc: RLConfig, make_env=None) -> list[Sample]:
    if rc.rollout == "agentic":
        from .agentic import agentic_rollouts

        if make_env is None:
            raise ValueError("agentic rollouts need an environment factory (synthesis.envs)")
        return agentic_rollouts(policy, tok, records, rc.group_size, rc.gen(), make_env)
    return single_turn_rollouts(policy, tok, records, rc.group_size, rc.gen())


def sample_and_score(policy, tok, records: list[dict[str, Any]], rc: RLConfig, make_env=None,
                     judge: JudgeReward | None = None,
                     reward_model: RewardModel | None = None) -> tuple[list[Sample], float, float]:
    """``group_size`` completions per record, scored (and overlong-shaped when ``overlong_buffer`` is set).
    Returns the samples (groups consecutive) and the generate / score seconds."""
    t0 = time.perf_counter()
    samples = rollouts(policy, tok, records, rc, make_env)
    t1 = time.perf_counter()
    score_samples(records, samples, judge, reward_model)
    if rc.overlong_buffer:
        budget = rc.max_new_tokens * (rc.max_turns if rc.rollout == "agentic" else 1)
        for smp in samples:
            pen = overlong_penalty(smp.completion_tokens, budget, rc.overlong_buffer, rc.overlong_penalty)
            if smp.reward is not None and pen:
                smp.reward += pen
                smp.reward_reason = f"{smp.reward_reason}; overlong {pen:+.3f}".lstrip("; ")
    return samples, t1 - t0, time.perf_counter() - t1


def sample_metrics(samples: list[Sample], rc: RLConfig) -> dict[str, Any]:
    """Reward and length statistics of rollouts (every rollout of a step, kept for training or not)."""
    scored = [s.reward for s in samples if s.reward is not None]
    lens = [s.completion_tokens for s in samples]
    mean = sum(scored) / len(scored) if scored else None
    m = {"reward_mean": mean,
         "reward_std": (sum((r - mean) ** 2 for r in scored) / len(scored)) ** 0.5 if scored else None,
         "completion_len_mean": sum(lens) / len(lens), "completion_len_max": max(lens),
         "truncated_frac": sum(s.truncated for s in samples) / len(samples),
         "samples_skipped": sum(bool(s.skipped) for s in samples), "rollout_tokens": sum(lens)}
    if rc.overlong_buffer:
        m["overlong_penalized"] = sum("overlong" in s.reward_reason for s in samples)
    if rc.rollout == "agentic":
        m["tool_calls_mean"] = sum(s.tool_calls for s in samples) / len(samples)
        m["invalid_tool_calls"] = sum(s.invalid_tool_calls for s in samples)
        m["turns_mean"] = sum(s.turns for s in samples) / len(samples)
    return m


def grpo_update(policy, tok, samples: list[Sample], rc: RLConfig, updater: Updater) -> dict[str, Any]:
    """Group advantages over scored ``samples`` and one optimiser step (``ppo_epochs`` passes) on the ones with a
    non-zero advantage. Returns the update's metrics (loss, clipping, group counts, seconds)."""
    from .grpo import token_logprobs

    t2 = time.perf_counter()
    gs = group_advantages([s.reward for s in samples], rc.group_size, rc.adv_scale, negative_weight=rc.negative_weight)
    keep = [i for i, s in enumerate(samples) if gs.valid[i] and gs.advantages[i] != 0.0 and s.completion_tokens]
    loss_stats: list[Any] = []
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    kept = [samples[i] for i in keep] or samples[:1]  # a rank with nothing to learn still joins collectives
    adv = torch.tensor([gs.advantages[i] for i in keep] or [0.0], dtype=torch.float32)
    batch = pad_samples(kept, pad)
    if not keep:
        batch.mask.zero_()
    n_tokens = updater.reduce_tokens(float(batch.mask.sum()))
    chunks = [slice(a, a + rc.update_micro_batch) for a in range(0, len(keep), rc.update_micro_batch)]
    n_real = len(chunks)
    n_chunks = updater.max_chunks(n_real)
    chunks += [slice(0, 1)] * (n_chunks - len(chunks))  # padding micro-batches carry zero loss
    if n_chunks and n_tokens > 0:
        with torch.no_grad():
            old = None
            if rc.ppo_epochs > 1 and n_real:
                old = torch.cat([sequence_logprobs(policy, batch.rows(c), rc.temperature) for c in chunks[:n_real]])
            ref = None
            if rc.kl_coef and updater.ref_model is not None and n_real:
                ref = torch.cat([sequence_logprobs(updater.ref_model, batch.rows(c), rc.temperature)
                                 for c in chunks[:n_real]])
        for _ in range(rc.ppo_epochs):
            for j, c in enumerate(chunks):
                updater.begin(j == len(chunks) - 1)
                mb = batch.rows(c)
                logp = token_logprobs(updater.forward(mb), mb.ids, rc.temperature)
                old_c = old[c] if old is not None else logp.detach()  # one pass: ratio 1, gradient of the PG
                pad_chunk = j >= n_real
                loss, st = clipped_token_loss(logp, old_c, adv[c], mb.mask * (0.0 if pad_chunk else 1.0),
                                              rc.eps_low, rc.eps_high, None if ref is None else ref[c], rc.kl_coef,
                                              num_tokens=n_tokens)
                updater.backward(loss * updater.loss_scale)
                updater.step(j == len(chunks) - 1)
                if not pad_chunk:
                    loss_stats.append(st)
    ntok = sum(st.tokens for st in loss_stats) or 1
    return {
        "reward_none": gs.skipped,
        "zero_std_group_frac": gs.zero_std_groups / max(gs.groups, 1),
        "samples_trained": len(keep),
        "loss": sum(st.loss for st in loss_stats) / max(rc.ppo_epochs, 1) if loss_stats else 0.0,
        "clip_frac": sum(st.clip_fraction * st.tokens for st in loss_stats) / ntok,
        "clip_low_frac": sum(st.clip_low_fraction * st.tokens for st in loss_stats) / ntok,
        "clip_high_frac": sum(st.clip_high_fraction * st.tokens for st in loss_stats) / ntok,
        "t_update": time.perf_counter() - t2,
    }


def grpo_step(policy, tok, records: list[dict[str, Any]], rc: RLConfig, updater: Updater, make_env=None,
              judge: JudgeReward | None = None, reward_model: RewardModel | None = None) -> StepResult:
    """Sample ``group_size`` completions per record, score, and take one optimiser step (``ppo_epochs`` passes)."""
    samples, t_gen, t_score = sample_and_score(policy, tok, records, rc, make_env, judge, reward_model)
    m = {**sample_metrics(samples, rc), **grpo_update(policy, tok, samples, rc, updater), "t_generate": t_gen,
         "t_score": t_score}
    m["rollout_tokens_per_s"] = m["rollout_tokens"] / max(t_gen, 1e-9)
    return StepResult(m, samples)


def config_dict(rc: RLConfig) -> dict[str, Any]:
    return asdict(rc)
