"""The training loop of the CPT and SFT stages (nanoGPT-style: one readable loop, one line per step).

Loss is the token mean over the whole global batch: each micro-batch contributes its summed token loss,
scaled so that DeepSpeed's 1/accum and the data-parallel average give Σ loss / Σ target tokens exactly.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .engine import load_checkpoint, prune_checkpoints, save_checkpoint, write_client_meta
from .mfu import non_embedding_params, peak_flops, train_flops
from .plan import PackedLoader

KILL_ENV = "HUIJIN_TRAIN_KILL_AFTER_STEP"  # test hook: SIGKILL this process after that step


@dataclass
class LoopState:
    step: int = 0
    consumed: int = 0  # sequences consumed (global)
    history: list[dict[str, Any]] = field(default_factory=list)


def token_loss_sum(model_out_logits, labels):
    import torch.nn.functional as F

    logits = model_out_logits[:, :-1].float()
    tgt = labels[:, 1:]
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt.reshape(-1), ignore_index=-100, reduction="sum")


def forward_loss_sum(engine, batch: dict):
    kw = {k: v.to(engine.device) for k, v in batch.items() if k != "labels"}
    out = engine(**kw, use_cache=False)
    return token_loss_sum(out.logits, batch["labels"].to(engine.device))


def _all_reduce(values: list[float], device) -> list[float]:
    import torch
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t.tolist()


def _targets(batch: dict) -> int:
    return int((batch["labels"][:, 1:] != -100).sum())


def _as_range(idx: list[int]) -> list[int] | list[list[int]]:
    """The plan sequences a step read, as [start, stop) when contiguous (always, by construction), else listed."""
    s = sorted(idx)
    return [s[0], s[-1] + 1] if s == list(range(s[0], s[-1] + 1)) and len(set(s)) == len(s) else [s]


def evaluate(engine, loader: PackedLoader) -> float | None:
    """Token-mean loss over the held-out sequences (all ranks together)."""
    import torch

    engine.eval()
    tot, n = 0.0, 0
    with torch.no_grad():
        for idx in loader.eval_batches():
            b = loader.batch(idx)
            tot += float(forward_loss_sum(engine, b))
            n += _targets(b)
    engine.train()
    tot, n = _all_reduce([tot, float(n)], engine.device)
    return tot / n if n else None


def run_loop(engine, loader: PackedLoader, val: PackedLoader | None, cfg: dict[str, Any], total_steps: int,
             ckpt_dir: Path, client: dict[str, Any], rank: int = 0, log_path: Path | None = None,
             on_checkpoint=None) -> dict[str, Any]:
    """Train ``total_steps`` optimizer steps from the plan, resuming from ``ckpt_dir`` when it has a checkpoint."""
    import torch

    st = LoopState()
    cs = load_checkpoint(engine, ckpt_dir, client["plan_hash"])
    if cs is not None:
        if int(cs.get("global_batch", loader.global_batch)) != loader.global_batch:
            from .engine import ResumeError

            raise ResumeError(f"checkpoint in {ckpt_dir} used a global batch of {cs['global_batch']} sequences, this run "
                              f"uses {loader.global_batch} (micro × accum × ranks): resuming would skip or repeat data")
        st.step, st.consumed = int(cs["step"]), int(cs["consumed"])
        if rank == 0:
            print(f"resumed from {ckpt_dir} at step {st.step} ({st.consumed} sequences consumed)", flush=True)
    model = engine.module
    n_params = non_embedding_params(model)
    layers, hidden = model.config.num_hidden_layers, model.config.hidden_size
    peak = peak_flops()
    world = loader.world
    save_every, eval_every = int(cfg.get("save_every") or 0), int(cfg.get("eval_every") or 0)
    kill_after = int(os.environ.get(KILL_ENV, "-1"))
    log = open(log_path, "a", encoding="utf-8") if (log_path and rank == 0) else None
    engine.train()
    while st.step < total_steps:
        t0 = time.perf_counter()
        batches = [loader.micro_batch(st.step, k) for k in range(loader.accum)]
        counts = [_targets(b) for b in batches]
        mine = [loader.seqs[i] for k in range(loader.accum) for i in loader.indices(st.step, k)]
        real = sum(int(s[:, 3].sum()) for s in mine)  # non-padding tokens
        sq = sum(int((s[:, 3] ** 2).sum()) for s in mine)  # for the attention FLOPs
        n_global, real_g, sq_g = _all_reduce([float(sum(counts)), float(real), float(sq)], engine.device)
        loss_sum = 0.0
        for b in batches:
            ls = forward_loss_sum(engine, b)
            loss_sum += float(ls.detach())
            # DeepSpeed divides by accum and averages over ranks: undo both to get Σ loss / Σ targets
            engine.backward(ls * (loader.accum * world) / max(n_global, 1.0))
            engine.step()
        (loss_tot,) = _all_reduce([loss_sum], engine.device)
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        st.step += 1
        st.consumed += loader.global_batch
        seq_tokens = loader.global_batch * loader.seq_len
        gn = engine.get_global_grad_norm()
        rec = {"step": st.step, "loss": loss_tot / max(n_global, 1.0), "lr": engine.get_lr()[0],
               "grad_norm": float(gn) if gn is not None else None, "tokens_per_s": real_g / dt,
               "padding_ratio": 1 - real_g / seq_tokens, "dt": dt,
               "samples": _as_range([i for k in range(loader.accum) for r in range(world)
                                     for i in loader.indices(st.step - 1, k, r)])}
        if peak:
            rec["mfu"] = train_flops(n_params, layers, hidden, int(real_g), int(sq_g)) / dt / (peak * world)
        if val is not None and eval_every and st.step % eval_every == 0:
            rec["val_loss"] = evaluate(engine, val)
        st.history.append(rec)
        if rank == 0:
            mfu = f" | mfu {rec['mfu'] * 100:.1f}%" if "mfu" in rec else ""
            recent = [h["dt"] for h in st.history[-20:]]
            eta = sum(recent) / len(recent) * (total_steps - st.step)
            print(f"step {st.step:5d}/{total_steps} | loss {rec['loss']:.4f} | lr {rec['lr']:.2e} | "
                  f"gnorm {rec['grad_norm'] or 0:.3f} | tok/s {rec['tokens_per_s']:,.0f} | "
                  f"pad {rec['padding_ratio']:.1%}{mfu} | eta {eta:.0f}s", flush=True)
            if log:
                log.write(json.dumps(rec) + "\n")
                log.flush()
        if save_every and (st.step % save_every == 0 or st.step == total_steps):
            cs = {**client, "consumed": st.consumed, "global_batch": loader.global_batch}
            tag = save_checkpoint(engine, ckpt_dir, st.step, cs)
            if rank == 0:
                write_client_meta(ckpt_dir, tag, {**cs, "step": st.step})
                prune_checkpoints(ckpt_dir, int(cfg.get("keep_checkpoints", 3)))
                if on_checkpoint:
                    on_checkpoint(str(Path(ckpt_dir) / tag), rec)
        if st.step == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)
    if log:
        log.close()
    return {"steps": st.step, "consumed": st.consumed, "history": st.history}
