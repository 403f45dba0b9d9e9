"""Where agentic RL gets its environments and general RL its judge / reward model, from the stage config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .rewards import JudgeReward, RewardModel, judge_from_endpoint


def env_factory(cfg: dict[str, Any], store: Any = None) -> Callable[[dict[str, Any]], Any]:
    """A function ``record -> environment``: ``synthesis.envs.ToolEnv.from_record`` (the record's ``env`` column
    says which tools and data; ``reset(task)``, ``step(tool_call)``, ``reward(trajectory)``). Importing
    ``synthesis.envs`` also registers the ``tool_env`` scorer."""
    try:
        from synthesis.envs import ToolEnv
    except ImportError as e:
        raise RuntimeError("agentic RL needs the synthesis.envs environments, which cannot be imported") from e

    def make(record: dict[str, Any]) -> Any:
        return ToolEnv.from_record(record, store)

    return make


def judge_from_cfg(cfg: dict[str, Any], out_dir: str | Path) -> JudgeReward | None:
    """``judge_endpoint: NAME`` in the stage config → a cached judge; without one, judge rewards are None."""
    ep = cfg.get("judge_endpoint")
    if not ep:
        return None
    cache = cfg.get("judge_cache") or str(Path(out_dir) / "judge_cache.sqlite")
    return judge_from_endpoint(ep, cache, int(cfg.get("judge_max_tokens", 256)), cfg.get("teachers_yaml"))


def reward_model_from_cfg(cfg: dict[str, Any]) -> RewardModel | None:
    path = cfg.get("reward_model")
    return RewardModel(path) if path else None
