"""Direct preference optimisation as pure functions: sequence log-probs of completions and the pair losses.

Shapes: ``B`` pairs; a micro-batch holds the chosen sequences first, then the rejected ones (``2B`` rows).

    logps(c)  = Σ_t log π(y_t | y_<t)  over the completion tokens of sequence c         (sequence_logps)
    h         = (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))            (implicit reward margin / β)
    sigmoid   : −(1 − ε) · log σ(β h) − ε · log σ(−β h)       DPO (Rafailov et al. 2023); ε > 0 is cDPO's label
                                                              smoothing (preferences flipped with probability ε)
    ipo       : (h̄ − 1 / (2β))²                                IPO (Azar et al. 2023), h̄ from per-token *mean*
                                                              log-probs, as the IPO paper and TRL's ``ipo`` do

Rewards reported are ``β (log π − log π_ref)`` of each side (TRL's ``rewards/chosen`` etc.). Written here, not
taken from TRL: its ``DPOTrainer`` is a ``transformers.Trainer`` and cannot run inside our one stage runner;
the loss itself is these few lines (checked against the formulas above in ``tests/test_dpo.py``, and against
TRL's own loss on the same pairs and models in ``tests/test_dpo_vs_trl.py``).
"""

from __future__ import annotations

from typing import Any

LOSS_TYPES = ("sigmoid", "ipo")


def sequence_logps(logits, input_ids, loss_mask) -> tuple[Any, Any]:
    """``(sum, count)`` of next-token log-probs over positions where ``loss_mask`` is 1 (mask aligned with
    ``input_ids``: token t is predicted by logits t−1). Shapes ``[N, T, V]``, ``[N, T]``, ``[N, T]`` → ``[N]``."""
    import torch

    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    tgt = input_ids[:, 1:]
    mask = loss_mask[:, 1:].to(logp.dtype)
    tok = torch.gather(logp, 2, tgt.unsqueeze(-1)).squeeze(-1)
    return (tok * mask).sum(-1), mask.sum(-1)


def dpo_loss(policy_chosen, policy_rejected, ref_chosen, ref_rejected, beta: float, loss_type: str = "sigmoid",
             label_smoothing: float = 0.0) -> tuple[Any, Any, Any]:
    """Per-pair ``(loss, chosen_reward, rejected_reward)`` from log-probs of each side (``[B]`` each). For
    ``ipo`` pass per-token mean log-probs."""
    import torch.nn.functional as F

    if loss_type not in LOSS_TYPES:
        raise ValueError(f"dpo loss_type must be one of {LOSS_TYPES}, got {loss_type!r}")
    h = (policy_chosen - ref_chosen) - (policy_rejected - ref_rejected)
    if loss_type == "ipo":
        loss = (h - 1.0 / (2.0 * beta)) ** 2
    else:
        loss = -(1.0 - label_smoothing) * F.logsigmoid(beta * h) - label_smoothing * F.logsigmoid(-beta * h)
    return loss, beta * (policy_chosen - ref_chosen).detach(), beta * (policy_rejected - ref_rejected).detach()
