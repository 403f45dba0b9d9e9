"""The generation-backend interface that RL rollouts and evaluation generate through.

A backend turns token-id prompts into token-id continuations: ``generate_ids(prompts, cfg, max_new_tokens)``
returns ``(new_ids, stopped)`` per prompt, exactly the contract of ``training.rl.rollout.generate_batch`` (which
hands the work to any object that has ``generate_ids``). Token ids, never re-tokenised text: the trainer
recomputes the log-probs of exactly these ids (``training.rl.rollout.sequence_logprobs``), so a server's own
log-probs are never used for the loss.

Two backends: ``local`` (the policy's own HF ``generate``, the default and the only one on a laptop) and
``server`` (an OpenAI-compatible ``/v1/completions`` server — vLLM or SGLang in production, the project's
``training.generation.testserver`` on CPU) kept in step with the policy by ``training.generation.sync``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

BACKENDS = ("local", "server")
RELOADS = ("huijin", "sglang", "none")  # or "command:<shell line with {path} and {version}>"

# stage-config keys the RL stages read for the backend (``--set backend=server --set server_url=...``)
CONFIG_KEYS = ("backend", "server_url", "server_model", "server_api_key_env", "server_timeout", "server_batch",
               "sync_every", "max_lag", "server_reload", "sync_keep")


@runtime_checkable
class GenerationBackend(Protocol):
    name: str

    def generate_ids(self, prompts: list[list[int]], cfg: Any,
                     max_new_tokens: int | None = None) -> list[tuple[list[int], bool]]:
        """One continuation per prompt: ``(new_ids, stopped)``, cut after the first stop token."""
        ...


class BackendError(RuntimeError):
    """The generation server could not be reached, answered something unusable, or refused a reload."""


class StaleRollouts(RuntimeError):
    """Rollouts came from weights more optimizer steps behind the policy than ``max_lag`` allows."""
