"""Generation backends for RL rollouts and evaluation: ``local`` (HF ``generate``) or ``server`` (an
OpenAI-compatible completions server kept in step with the policy by weight sync). See ``base`` for the contract."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import BACKENDS, CONFIG_KEYS, RELOADS, BackendError, GenerationBackend, StaleRollouts
from .local import LocalBackend
from .server import ServerBackend
from .sync import SyncedServer, WeightSync, export_policy

__all__ = ["BACKENDS", "CONFIG_KEYS", "RELOADS", "BackendError", "GenerationBackend", "LocalBackend",
           "ServerBackend", "StaleRollouts", "SyncedServer", "WeightSync", "backend_from_cfg", "export_policy"]


def backend_from_cfg(cfg: dict[str, Any], tok: Any, out_dir: str | Path, rank: int = 0,
                     world: int = 1) -> SyncedServer | None:
    """The RL stage's rollout backend from its config: ``None`` for ``local`` (the policy generates, as before),
    else a server with weight sync (exports under ``out_dir/weight_sync``)."""
    kind = str(cfg.get("backend") or "local")
    if kind not in BACKENDS:
        raise ValueError(f"backend {kind!r}: expected one of {BACKENDS}")
    if kind == "local":
        return None
    server = ServerBackend(str(cfg.get("server_url") or ""), tok, cfg.get("server_model"),
                           cfg.get("server_api_key_env"), float(cfg.get("server_timeout", 600.0)),
                           int(cfg.get("server_batch", 64)))
    sync = WeightSync(server, Path(out_dir) / "weight_sync", every=int(cfg.get("sync_every", 1)),
                      max_lag=int(cfg.get("max_lag", 0)), reload=str(cfg.get("server_reload", "huijin")),
                      keep=int(cfg.get("sync_keep", 2)), rank=rank, world=world)
    return SyncedServer(server, sync)
