"""RL stages of the QianfanHuijin recipe: GRPO (DAPO token-mean, clip-higher) for finance reasoning RL, agentic
RL with tool environments, and general RL with judge / reward-model rewards.

Importing this package registers ``reasoning_rl``, ``agentic_rl`` and ``general_rl`` in ``training.stages``.
"""

from .grpo import clipped_token_loss, group_advantages, token_logprobs
from .rollout import GenConfig, Sample
from .stages import AgenticRL, GeneralRL, ReasoningRL
from .step import RLConfig, grpo_step, torch_updater

__all__ = ["AgenticRL", "GenConfig", "GeneralRL", "RLConfig", "ReasoningRL", "Sample", "clipped_token_loss",
           "grpo_step", "group_advantages", "token_logprobs", "torch_updater"]
