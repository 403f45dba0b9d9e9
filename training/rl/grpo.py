"""GRPO pieces that are pure tensor maths: group-normalised advantages and the token-level clipped loss.

Written by hand because they must see huijin's ``None`` rewards (unscorable rows are skipped, not zeroed) and
the DAPO choices (token-mean over the whole batch, separate low/high clip ε, KL off by default); the formulas
follow TRL's ``GRPOTrainer`` (unbiased group std, k3 KL estimator) so numbers can be compared with it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass
class GroupStats:
    advantages: list[float]  # one per completion; 0.0 where skipped
    valid: list[bool]  # False: reward None, or the group has < 2 scored completions
    zero_std_groups: int  # groups whose scored rewards are all equal (no learning signal)
    groups: int
    skipped: int  # completions whose reward was None


def group_advantages(rewards: Sequence[float | None], group_size: int, scale: str = "std",
                     eps: float = 1e-4, negative_weight: float = 1.0) -> GroupStats:
    """``A_i = (r_i - mean_g) / (std_g + eps)`` within each group of ``group_size`` consecutive completions.

    ``None`` rewards are left out of the group's mean and std and get no advantage (``valid=False``), so an
    unscorable row neither pulls the baseline down nor is pushed towards or away from. ``scale="none"`` keeps
    only the mean baseline (Dr. GRPO's unscaled variant).

    ``negative_weight`` scales the below-mean advantages (1: GRPO). Pushing a failed sample down moves its
    probability onto every other continuation, good or not, while pushing a success up sharpens the policy
    towards it; Zhu et al. 2025 ("The Surprising Effectiveness of Negative Reinforcement in LLM Reasoning")
    separate the two: positive-sample reinforcement raises pass@1, negative-sample reinforcement keeps pass@k.
    0 leaves only the successes' term (RAFT/ReST-style filtered reinforcement with a group baseline)."""
    if group_size < 1 or len(rewards) % group_size:
        raise ValueError(f"{len(rewards)} rewards do not split into groups of {group_size}")
    if scale not in ("std", "none"):
        raise ValueError(f"scale must be 'std' or 'none', got {scale!r}")
    if not 0.0 <= negative_weight <= 1.0:
        raise ValueError(f"negative_weight must be in [0, 1], got {negative_weight}")
    adv, valid, zero_std, skipped = [], [], 0, 0
    for g in range(0, len(rewards), group_size):
        grp = rewards[g:g + group_size]
        scored = [float(r) for r in grp if r is not None]
        skipped += len(grp) - len(scored)
        if len(scored) < 2:
            adv += [0.0] * len(grp)
            valid += [False] * len(grp)
            continue
        mean = sum(scored) / len(scored)
        std = math.sqrt(sum((r - mean) ** 2 for r in scored) / (len(scored) - 1))  # unbiased, as torch.std
        if std < 1e-12:  # all equal: no learning signal (advantages are 0 in any case)
            zero_std += 1
            adv += [0.0] * len(grp)
            valid += [r is not None for r in grp]
            continue
        denom = std + eps if scale == "std" else 1.0
        for r in grp:
            a = 0.0 if r is None else (float(r) - mean) / denom
            adv.append(a * negative_weight if a < 0 else a)
            valid.append(r is not None)
    return GroupStats(adv, valid, zero_std, len(rewards) // group_size, skipped)


def has_signal(rewards: Sequence[float | None]) -> bool:
    """A group can teach only if at least two completions are scored and their rewards differ (DAPO's dynamic
    sampling keeps exactly these groups)."""
    scored = [float(r) for r in rewards if r is not None]
    return len(scored) >= 2 and max(scored) - min(scored) > 1e-12


def overlong_penalty(length: int, max_len: int, buffer: int, factor: float = 1.0) -> float:
    """DAPO's soft overlong punishment (Yu et al. 2025, eq. 13), added to the task reward::

        0                                  if |y| <= L_max - L_cache
        ((L_max - L_cache) - |y|) / L_cache if L_max - L_cache < |y| <= L_max
        -1                                 if |y| > L_max

    times ``factor``; ``buffer`` is L_cache (0: off). A completion cut at ``max_len`` gets the full -factor."""
    if buffer <= 0 or length <= max_len - buffer:
        return 0.0
    if length > max_len:
        return -factor
    return factor * ((max_len - buffer) - length) / buffer


@dataclass
class LossStats:
    loss: float
    clip_fraction: float  # share of loss tokens where the clipped branch was taken
    clip_low_fraction: float
    clip_high_fraction: float
    kl: float | None
    tokens: int


def clipped_token_loss(logp: torch.Tensor, old_logp: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                       eps_low: float = 0.2, eps_high: float = 0.28, ref_logp: torch.Tensor | None = None,
                       kl_coef: float = 0.0, num_tokens: int | float | None = None) -> tuple[torch.Tensor, LossStats]:
    """PPO-clip surrogate per token, averaged over all loss tokens of the batch (DAPO token-mean).

    ``logp``/``old_logp``/``mask``: ``[B, T]`` log-probs of the sampled tokens under the current and the
    behaviour policy, and 1 where the token is a policy token that carries loss (0 for prompt, padding, tool
    output). ``advantages``: ``[B]``. ``num_tokens``: the normaliser when one optimiser step is split into
    micro-batches (the token count of the whole step), so the sum of micro losses equals the full-batch loss."""
    mask = mask.to(logp.dtype)
    adv = advantages.to(logp.dtype).unsqueeze(1)
    ratio = torch.exp(logp - old_logp)
    unclipped = -adv * ratio
    clipped = -adv * torch.clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)
    per_token = torch.maximum(unclipped, clipped)
    kl_val = None
    if ref_logp is not None and kl_coef:
        d = ref_logp - logp
        kl = torch.exp(d) - d - 1.0  # k3 estimator (Schulman), >= 0
        per_token = per_token + kl_coef * kl
        kl_val = float((kl.detach() * mask).sum() / mask.sum().clamp(min=1))
    n = float(num_tokens) if num_tokens is not None else float(mask.sum().clamp(min=1))
    loss = (per_token * mask).sum() / max(n, 1.0)
    with torch.no_grad():
        m = mask.bool()
        is_clipped = (clipped > unclipped) & m
        low = is_clipped & (ratio < 1.0 - eps_low)
        high = is_clipped & (ratio > 1.0 + eps_high)
        cnt = max(int(m.sum()), 1)
        stats = LossStats(float(loss.detach()), int(is_clipped.sum()) / cnt, int(low.sum()) / cnt, int(high.sum()) / cnt,
                          kl_val, int(m.sum()))
    return loss, stats


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Log-prob of each next token under ``logits`` ``[B, K, V]`` computed for the last ``K`` positions of
    ``input_ids`` ``[B, T]`` (``K = T``: all of them): ``out[:, j]`` is the log-prob of token ``T - K + 1 + j``;
    shape ``[B, K-1]``. Divides by the sampling temperature so the log-probs are those of the distribution that
    was sampled."""
    logits = logits[:, :-1, :].float()
    if temperature != 1.0:
        logits = logits / temperature
    targets = input_ids[:, input_ids.shape[1] - logits.shape[1]:]
    # logsumexp form avoids materialising the full log_softmax
    picked = torch.gather(logits, 2, targets.unsqueeze(-1)).squeeze(-1)
    return picked - torch.logsumexp(logits, dim=-1)
