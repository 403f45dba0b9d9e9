"""DeepSpeed plumbing reused by every stage: environment, config, engine, checkpoints, HF export.

Kept as plain functions so RL stages (GRPO) can build their own loop on the same engine, checkpoint and
export code.
"""

from __future__ import annotations

import json
import math
import os
import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from recipes import recipes_dir

ROOT = Path(__file__).resolve().parent.parent
DS_CONFIGS = recipes_dir("deepspeed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_env() -> dict[str, int]:
    """Single-process defaults (a launcher sets these itself) and the CPU accelerator when there is no GPU.

    Must run before ``deepspeed`` is imported: DeepSpeed picks its accelerator once."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    if "RANK" not in os.environ:  # without these DeepSpeed looks for MPI
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0", MASTER_ADDR="127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(free_port()))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return {"rank": int(os.environ["RANK"]), "world": int(os.environ["WORLD_SIZE"]),
            "local_rank": int(os.environ.get("LOCAL_RANK", 0))}


DIST_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_SIZE", "MASTER_ADDR", "MASTER_PORT", "CROSS_RANK",
             "CROSS_SIZE", "LOCAL_WORLD_SIZE")


@contextmanager
def restored_dist_env() -> Iterator[None]:
    """Run an in-process stage, then put the rank/port variables back as they were: ``setup_env`` sets them
    for this process's rendezvous, and a later subprocess (or HF Trainer/accelerate in this process) that
    inherited them would think it is rank 0 of a running job and reuse a port that is still bound."""
    saved = {k: os.environ.get(k) for k in DIST_VARS}
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def child_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a new training process: without this process's rank/port variables (a child that
    inherited them would join this process's rendezvous)."""
    env = dict(os.environ if base is None else base)
    for k in DIST_VARS:
        env.pop(k, None)
    return env


def init_distributed() -> None:
    import deepspeed
    import torch.distributed as dist

    if not dist.is_initialized():
        deepspeed.init_distributed(dist_backend="nccl" if _on_gpu() else "gloo")


def _on_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


def ds_config(cfg: dict[str, Any], path: str | Path | None = None) -> dict[str, Any]:
    """Load ``recipes/deepspeed/zero<N>.json`` (or ``path``) and fill its ``auto`` fields from the stage config."""
    p = Path(path) if path else DS_CONFIGS / f"zero{int(cfg.get('zero_stage', 2))}.json"
    if not p.exists():
        raise FileNotFoundError(f"DeepSpeed config {p} does not exist")
    conf = json.loads(p.read_text())
    fills = {"train_micro_batch_size_per_gpu": int(cfg["micro_batch"]),
             "gradient_accumulation_steps": int(cfg["grad_accum"]), "gradient_clipping": float(cfg["clip"])}
    for k, v in fills.items():
        if conf.get(k, "auto") == "auto":
            conf[k] = v
    conf.pop("train_batch_size", None)  # derived by DeepSpeed from micro × accum × world
    for key in ("bf16", "fp16"):
        if isinstance(conf.get(key), dict) and conf[key].get("enabled") == "auto":
            conf[key]["enabled"] = key == "bf16" and _on_gpu()  # fp32 on CPU
    return conf


def lr_lambda(warmup: int, total: int, min_ratio: float, decay_fraction: float | None = None):
    """Linear warmup then cosine decay to ``min_ratio`` of the peak, as a LambdaLR multiplier. With
    ``decay_fraction`` the LR holds its peak after warmup and falls linearly to ``min_ratio`` over that last
    fraction of the post-warmup steps (warmup–stable–decay, nanochat's "warmdown"): a run that must cross a slow
    phase transition keeps its full LR until then. Like the cosine, the multiplier reaches ``min_ratio`` at
    ``total``, one step after the last trained one."""
    span = max(1, total - warmup)
    stable_end = total - round(decay_fraction * span) if decay_fraction is not None else None

    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        if stable_end is not None:
            if step < stable_end:
                return 1.0
            return 1 - (1 - min_ratio) * min(1.0, (step - stable_end) / max(1, total - stable_end))
        t = min(1.0, (step - warmup) / span)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))
    return f


def warmup_steps(cfg: dict[str, Any], total_steps: int) -> int:
    """The configured warmup, but never more than half the run (a short run would otherwise never reach peak LR)."""
    return min(int(cfg.get("warmup_steps", 0)), total_steps // 2)


def build_engine(model, cfg: dict[str, Any], total_steps: int, ds_path: str | Path | None = None):
    """``deepspeed.initialize`` with a torch AdamW client optimizer (no fused-Adam JIT) and the LR schedule."""
    import deepspeed
    import torch

    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": float(cfg["weight_decay"])}, {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=float(cfg["lr"]), betas=tuple(cfg.get("betas", (0.9, 0.95))), eps=1e-8,
                            foreach=False)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lr_lambda(warmup_steps(cfg, total_steps), total_steps, float(cfg["min_lr_ratio"]),
                       cfg.get("decay_fraction")))
    conf = ds_config(cfg, ds_path)
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=opt, lr_scheduler=sched, config=conf)
    return engine, conf


def rng_state() -> dict[str, Any]:
    import torch

    st = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict[str, Any]) -> None:
    import torch

    random.setstate(st["python"])
    np.random.set_state(st["numpy"])
    torch.set_rng_state(st["torch"])
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def save_checkpoint(engine, ckpt_dir: str | Path, step: int, client_state: dict[str, Any]) -> str:
    """A DeepSpeed checkpoint (model, optimizer, scheduler) with our client state; returns the tag."""
    tag = f"step{step:07d}"
    engine.save_checkpoint(str(ckpt_dir), tag=tag, client_state={**client_state, "rng": rng_state(), "step": step})
    return tag


def prune_checkpoints(ckpt_dir: str | Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` step checkpoints (0 keeps all); returns the removed tags."""
    import shutil

    if keep <= 0:
        return []
    tags = sorted(p.name for p in Path(ckpt_dir).glob("step*") if p.is_dir())
    gone = tags[:-keep]
    for t in gone:
        shutil.rmtree(Path(ckpt_dir) / t, ignore_errors=True)
    return gone


class ResumeError(RuntimeError):
    pass


def load_checkpoint(engine, ckpt_dir: str | Path, plan_hash: str) -> dict[str, Any] | None:
    """Resume from the latest checkpoint in ``ckpt_dir``; refuse one written for a different sample plan."""
    latest = Path(ckpt_dir) / "latest"
    if not latest.exists():
        return None
    tag = latest.read_text().strip()
    meta = Path(ckpt_dir) / tag / "huijin_client.json"
    if meta.exists():  # checked before DeepSpeed touches the model
        got = json.loads(meta.read_text()).get("plan_hash")
        if got != plan_hash:
            raise ResumeError(f"checkpoint {ckpt_dir}/{tag} was written for sample plan {got}, this run's plan is "
                              f"{plan_hash}: refusing to resume (use a new output folder)")
    path, cs = engine.load_checkpoint(str(ckpt_dir), tag=tag)
    if path is None:
        raise ResumeError(f"could not load checkpoint {ckpt_dir}/{tag}")
    if cs.get("plan_hash") != plan_hash:
        raise ResumeError(f"checkpoint {tag} plan {cs.get('plan_hash')} != {plan_hash}: refusing to resume")
    set_rng_state(cs["rng"])
    return cs


def write_client_meta(ckpt_dir: str | Path, tag: str, client_state: dict[str, Any]) -> None:
    """A readable copy of the client state next to the checkpoint (JSON-safe fields only)."""
    safe = {k: v for k, v in client_state.items() if isinstance(v, (str, int, float, bool, type(None), list, dict))}
    (Path(ckpt_dir) / tag / "huijin_client.json").write_text(json.dumps(safe, indent=1, default=str))


def export_hf(engine, tokenizer, out_dir: str | Path, rank: int = 0) -> Path:
    """Save the engine's model in Hugging Face format (ZeRO-3 shards gathered first); rank 0 writes."""
    import deepspeed
    import torch.distributed as dist

    out = Path(out_dir)
    model = engine.module
    params = list(model.parameters())
    if engine.zero_optimization_stage() == 3:
        with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
            if rank == 0:
                state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
    else:
        state = model.state_dict() if rank == 0 else None
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out, state_dict=state)
        tokenizer.save_pretrained(out)
    if dist.is_initialized():
        dist.barrier()
    return out


def load_model(path: str | Path):
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM

    dtype = torch.bfloat16 if _on_gpu() else torch.float32
    kw = {}
    if _on_gpu() and importlib.util.find_spec("flash_attn") is not None:
        kw["attn_implementation"] = "flash_attention_2"  # varlen kernels: packing via position_ids, no 4D mask
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, **kw)
    model.config.use_cache = False
    return model


def sum_over_ranks(values: list[float], device: Any = None) -> list[float]:
    """Element-wise sum of ``values`` over the ranks (the values as they are on one rank). The tensor goes to
    ``device``, or to this rank's GPU under NCCL, which takes no CPU tensors (gloo does)."""
    import torch.distributed as dist

    if not (dist.is_initialized() and dist.get_world_size() > 1):
        return values
    import torch

    if device is None and dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()
