"""RL stages of the QianfanHuijin recipe: GRPO (DAPO token-mean, clip-higher) for finance reasoning RL, agentic
RL with tool environments, and general RL with judge / reward-model rewards.

``training.stages`` lists ``reasoning_rl``, ``agentic_rl`` and ``general_rl`` in its stage table; this package
stays light (torch is imported by the pieces that need it, on first use).
"""

from importlib import import_module
from typing import Any

from .stages import TINY_OVERRIDES, AgenticRL, GeneralRL, ReasoningRL

_LAZY = {"clipped_token_loss": "grpo", "group_advantages": "grpo", "token_logprobs": "grpo", "GenConfig": "rollout",
         "Sample": "rollout", "RLConfig": "step", "grpo_step": "step", "torch_updater": "step"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["TINY_OVERRIDES", "AgenticRL", "GeneralRL", "ReasoningRL", *_LAZY]
