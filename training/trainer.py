"""The CPT and SFT step for the one stage runner (``training.runner``): packed sequences, one optimizer step,
one printed line (loss, lr, gnorm, tok/s, padding, MFU), nanochat-style.

Loss is the token mean over the whole global batch: each micro-batch contributes its summed token loss,
scaled so that DeepSpeed's 1/accum and the data-parallel average give Σ loss / Σ target tokens exactly.
"""

from __future__ import annotations

import time
from typing import Any

from .mfu import non_embedding_params, peak_flops, train_flops
from .plan import PackedLoader
from .runner import Rank, StageSteps


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
    from .engine import sum_over_ranks

    return [float(v) for v in sum_over_ranks(values, device)]


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


class LMSteps(StageSteps):
    """Next-token training on a packed sample plan (CPT and SFT differ only in data and loss mask)."""
    unit = "sequences"

    def setup(self, r: Rank) -> int:
        from transformers import AutoTokenizer

        from .data import open_source
        from .engine import build_engine, load_model
        from .packing import mask_mode_for
        from .plan import build

        cfg, spec, store = r.cfg, r.spec, r.store
        tok = AutoTokenizer.from_pretrained(r.job["tokenizer"])
        self.sources = [open_source(store, store.resolve(f"{s['dataset']}@{s['version']}"), tok, spec.seq_len,
                                    reasoning=bool(cfg.get("reasoning")))  # sft.reasoning: render traces
                        for s in spec.sources]
        self.packed = packed = build(spec, [s.lengths for s in self.sources])
        model = load_model(r.job["input_model"])
        mode = mask_mode_for(model)
        pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        mb, acc = int(cfg["micro_batch"]), int(cfg["grad_accum"])
        self.loader = PackedLoader(self.sources, packed.train, spec.seq_len, pad_id, mb, acc, r.world, r.rank, mode)
        self.val = PackedLoader(self.sources, packed.val, spec.seq_len, pad_id, mb, 1, r.world, r.rank, mode) \
            if packed.val else None
        total = min(int(cfg["max_steps"]), self.loader.steps) if cfg.get("max_steps") else self.loader.steps
        if total < 1:
            raise ValueError(f"stage {spec.stage}: the plan has {len(packed.train)} sequences, fewer than one global "
                             f"batch ({self.loader.global_batch}); lower micro_batch/grad_accum or add data")
        self.engine, _ = build_engine(model, cfg, total, r.job.get("deepspeed_config"))
        self.tokenizer, self.world = tok, r.world
        self.n_params = non_embedding_params(model)
        self.layers, self.hidden = model.config.num_hidden_layers, model.config.hidden_size
        self.peak = peak_flops()
        return total

    def describe(self, total: int) -> str:
        p, ld = self.packed, self.loader
        return (f"{len(p.train)} train / {len(p.val)} val sequences of {ld.seq_len}, padding "
                f"{p.stats.padding_ratio:.2%}, cropped {p.stats.cropped_ratio:.2%}; {total} steps × {ld.global_batch} "
                "sequences")

    def state(self) -> dict[str, Any]:
        return {"consumed": self.consumed, "global_batch": self.loader.global_batch}

    def restore(self, cs: dict[str, Any]) -> None:
        if int(cs.get("global_batch", self.loader.global_batch)) != self.loader.global_batch:
            from .engine import ResumeError

            raise ResumeError(f"checkpoint at step {cs['step']} used a global batch of {cs['global_batch']} sequences, "
                              f"this run uses {self.loader.global_batch} (micro × accum × ranks): resuming would skip "
                              "or repeat data")
        self.consumed = int(cs["consumed"])

    def train_step(self, step: int) -> dict[str, Any]:
        import torch

        engine, loader, world = self.engine, self.loader, self.world
        lr = engine.get_lr()[0]  # the LR this step uses (engine.step() below moves the schedule to the next one)
        t0 = time.perf_counter()
        batches = [loader.micro_batch(step, k) for k in range(loader.accum)]
        counts = [_targets(b) for b in batches]
        mine = [loader.seqs[i] for k in range(loader.accum) for i in loader.indices(step, k)]
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
        self.consumed += loader.global_batch
        seq_tokens = loader.global_batch * loader.seq_len
        gn = engine.get_global_grad_norm()
        rec = {"loss": loss_tot / max(n_global, 1.0), "lr": lr,
               "grad_norm": float(gn) if gn is not None else None, "tokens_per_s": real_g / dt,
               "padding_ratio": 1 - real_g / seq_tokens, "dt": dt,
               "samples": _as_range([i for k in range(loader.accum) for r in range(world)
                                     for i in loader.indices(step, k, r)])}
        if self.peak:
            rec["mfu"] = train_flops(self.n_params, self.layers, self.hidden, int(real_g), int(sq_g)) / dt / (
                self.peak * world)
        return rec

    def validate(self) -> dict[str, Any]:
        return {"val_loss": evaluate(self.engine, self.val)} if self.val is not None else {}

    def line(self, rec: dict[str, Any], total: int) -> str:
        mfu = f" | mfu {rec['mfu'] * 100:.1f}%" if "mfu" in rec else ""
        return (f"step {rec['step']:5d}/{total} | loss {rec['loss']:.4f} | lr {rec['lr']:.2e} | "
                f"gnorm {rec['grad_norm'] or 0:.3f} | tok/s {rec['tokens_per_s']:,.0f} | "
                f"pad {rec['padding_ratio']:.1%}{mfu}")

    def checkpoint_metrics(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {"loss": rec["loss"]}

    def finish(self, history: list[dict[str, Any]]) -> dict[str, Any]:
        packed, hist = self.packed, history
        return {"consumed_sequences": self.consumed, "final_loss": hist[-1]["loss"] if hist else None,
                "first_loss": hist[0]["loss"] if hist else None,
                "val_loss": evaluate(self.engine, self.val) if self.val else None,
                "padding_ratio": packed.stats.padding_ratio, "cropped_ratio": packed.stats.cropped_ratio,
                "train_sequences": len(packed.train), "val_sequences": len(packed.val), "picks": packed.picks,
                "tokens_per_s": sum(h["tokens_per_s"] for h in hist) / len(hist) if hist else None,
                "dropped": {k: int(v) for s in self.sources for k, v in s.drops.items()}}
