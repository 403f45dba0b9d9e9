"""The ``local`` backend: the policy's own HF ``generate`` (today's path, bit for bit)."""

from __future__ import annotations

from typing import Any


class LocalBackend:
    """Wraps ``training.rl.rollout.generate_batch`` around a model held in this process."""

    name = "local"

    def __init__(self, model: Any, tok: Any) -> None:
        self.model, self.tok = model, tok

    def generate_ids(self, prompts: list[list[int]], cfg: Any,
                     max_new_tokens: int | None = None) -> list[tuple[list[int], bool]]:
        from ..rl.rollout import generate_batch

        return generate_batch(self.model, self.tok, prompts, cfg, max_new_tokens)
