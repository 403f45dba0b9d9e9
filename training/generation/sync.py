"""Weight sync between the trainer's policy and a generation server, with lag bookkeeping.

Every ``every`` optimizer steps the policy is exported (``save_pretrained``: an HF folder any server loads) and
the server is told to load it:

- ``huijin``: ``POST /reload {"path", "version"}`` (``training.generation.testserver``);
- ``sglang``: ``POST /update_weights_from_disk {"model_path"}`` (SGLang's documented RL refit endpoint);
- ``command:<shell line>``: the documented hook for any other server — the line is run with ``{path}`` and
  ``{version}`` filled in (quoted) and must exit 0 once the server serves the new weights; e.g. a script that
  drives vLLM's weight-transfer API or restarts a ``vllm serve`` process on the folder;
- ``none``: someone else reloads (the lag is still recorded and checked).

The *lag* of a step is how many optimizer steps the weights that produced its rollouts are behind the policy
being trained (0: fully on-policy). It is recorded per step (``sync_lag``, ``weights_version``) and rollouts
beyond ``max_lag`` are refused (``StaleRollouts``), both from our own bookkeeping and — when the server reports
which weights answered (the test server does) — from the server's word. The first rollout of a run (or of a
resumed run) always syncs, so the server never serves weights we did not send.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

from .base import RELOADS, BackendError, StaleRollouts
from .server import ServerBackend


def export_policy(model: Any, path: Path, write: bool = True) -> Path:
    """Save the policy as an HF folder (config + safetensors). ZeRO-3 shards are gathered first (every rank
    joins the gather; only the one with ``write`` saves)."""
    params = [p for p in model.parameters() if hasattr(p, "ds_id")]
    if params:
        import deepspeed

        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            if write:
                model.save_pretrained(path, safe_serialization=True)
    elif write:
        model.save_pretrained(path, safe_serialization=True)
    return path


def _barrier(world: int) -> None:
    if world > 1:
        import torch.distributed as dist

        dist.barrier()


class WeightSync:
    def __init__(self, server: ServerBackend, export_dir: str | Path, every: int = 1, max_lag: int = 0,
                 reload: str = "huijin", keep: int = 2, rank: int = 0, world: int = 1, timeout: float = 600.0) -> None:
        if every < 1:
            raise ValueError(f"sync_every must be at least 1 (got {every})")
        if max_lag < every - 1:
            raise ValueError(f"sync_every={every} lets the server's weights fall {every - 1} step(s) behind, but "
                             f"max_lag={max_lag} refuses that: raise max_lag to {every - 1} or sync more often")
        if reload not in RELOADS and not reload.startswith("command:"):
            raise ValueError(f"server_reload {reload!r}: expected one of {RELOADS} or 'command:<shell line>'")
        self.server, self.export_dir = server, Path(export_dir)
        self.every, self.max_lag, self.reload_kind, self.keep = every, max_lag, reload, max(1, keep)
        self.rank, self.world, self.timeout = rank, world, timeout
        self.synced: int | None = None  # optimizer steps the server's weights have seen (None: not synced yet)
        self.policy_version = 0
        self.syncs, self.t_sync, self.max_seen_lag = 0, 0.0, 0
        self._exports: list[Path] = []
        server.on_version = self._reported

    def _reported(self, version: int) -> None:
        """The server said which weights answered: refuse if they are too old (or not ours at all)."""
        lag = self.policy_version - version
        if lag < 0 or lag > self.max_lag:
            raise StaleRollouts(f"generation server {self.server.url} answered with weights of step {version}; the "
                                f"policy is at step {self.policy_version} (lag {lag}, max_lag {self.max_lag})")
        self.max_seen_lag = max(self.max_seen_lag, lag)

    def before_rollouts(self, model: Any, policy_version: int) -> dict[str, Any]:
        """Sync if due, check the lag, and return this step's sync metrics. ``policy_version``: optimizer steps
        applied to ``model`` so far (the runner's 0-based step ``k`` rolls out with version ``k``)."""
        t0 = time.perf_counter()
        self.policy_version = policy_version
        due = self.synced is None or policy_version < self.synced or policy_version - self.synced >= self.every
        if due:
            self.sync(model, policy_version)
        lag = policy_version - (self.synced or 0)
        if lag > self.max_lag:  # only reachable when a reload was skipped: refuse rather than train off-policy
            raise StaleRollouts(f"server weights are {lag} steps behind the policy (max_lag {self.max_lag})")
        self.max_seen_lag = max(self.max_seen_lag, lag)
        dt = time.perf_counter() - t0
        return {"sync_lag": lag, "weights_version": self.synced, "synced": due, "t_sync": dt if due else 0.0}

    def sync(self, model: Any, version: int) -> None:
        t0 = time.perf_counter()
        path = self.export_dir / f"policy-{version:06d}"
        if self.rank == 0 and path.exists():
            shutil.rmtree(path)
        if self.rank == 0 or any(hasattr(p, "ds_id") for p in model.parameters()):  # ZeRO-3: all ranks gather
            export_policy(model, path, write=self.rank == 0)
        _barrier(self.world)
        if self.rank == 0:
            self.reload(path, version)
            self._exports.append(path)
            while len(self._exports) > self.keep:  # the server has loaded the newest: older exports can go
                shutil.rmtree(self._exports.pop(0), ignore_errors=True)
        _barrier(self.world)
        self.synced = version
        self.syncs += 1
        self.t_sync += time.perf_counter() - t0

    def reload(self, path: Path, version: int) -> None:
        import httpx2 as httpx

        kind = self.reload_kind
        if kind == "none":
            return
        if kind.startswith("command:"):
            line = kind[len("command:"):].replace("{path}", shlex.quote(str(path))).replace("{version}", str(version))
            r = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=self.timeout)
            if r.returncode != 0:
                raise BackendError(f"reload command exited {r.returncode}: {r.stderr.strip()[-500:]}")
            return
        route, body = (("/reload", {"path": str(path), "version": version}) if kind == "huijin" else
                       ("/update_weights_from_disk", {"model_path": str(path)}))
        try:
            resp = httpx.post(self.server.root + route, json=body, timeout=self.timeout)
        except httpx.HTTPError as e:
            raise BackendError(f"generation server {self.server.root}{route}: {e}") from e
        ok = resp.status_code == 200
        try:
            data = resp.json() if ok else {}
        except ValueError:  # 200 with a body that is not JSON: judged by the status alone
            data = {}
        if not ok or data.get("success") is False:
            raise BackendError(f"generation server {self.server.root}{route} refused the weights at {path}: "
                               f"HTTP {resp.status_code} {resp.text[:300]}")

    def summary(self) -> dict[str, Any]:
        return {"backend": "server", "server_url": self.server.url, "syncs": self.syncs, "sync_every": self.every,
                "max_lag": self.max_lag, "sync_lag_max": self.max_seen_lag, "t_sync": round(self.t_sync, 3),
                "weights_version": self.synced, "server_requests": self.server.requests}


class SyncedServer:
    """What an RL stage holds when ``backend: server``: generates through the server, syncs before rollouts."""

    name = "server"

    def __init__(self, server: ServerBackend, sync: WeightSync) -> None:
        self.server, self.sync = server, sync

    def generate_ids(self, prompts: list[list[int]], cfg: Any,
                     max_new_tokens: int | None = None) -> list[tuple[list[int], bool]]:
        return self.server.generate_ids(prompts, cfg, max_new_tokens)

    def before_rollouts(self, model: Any, policy_version: int) -> dict[str, Any]:
        return self.sync.before_rollouts(model, policy_version)

    def summary(self) -> dict[str, Any]:
        return self.sync.summary()
