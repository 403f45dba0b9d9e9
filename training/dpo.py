"""The ``dpo`` stage: preference optimisation on ``pref`` versions through the one stage runner.

A step takes ``micro_batch × grad_accum × ranks`` pairs of the plan in order (resuming at step t needs only t),
runs chosen and rejected through the policy in one forward, and minimises the DPO loss (``training.dpo_loss``:
``sigmoid`` with ``label_smoothing`` = cDPO, or ``ipo``) with strength ``beta``. The reference is the stage's
input model: its log-probs are either computed once before training for every pair this rank will read
(``reference: precompute``, the default: no second model in memory while training) or on the fly by a frozen
copy (``reference: online``). Both give the same reference numbers; a resumed run recomputes them from the
input model, so a SIGKILL + resume trains bit-equal on CPU.

Held-out pairs (the plan's one split rule) are scored with the reference at setup and with the policy every
``eval_every`` steps and at the end: ``val_logp_margin`` = mean log π(chosen) − log π(rejected) should rise
from ``val_logp_margin_ref``.
"""

from __future__ import annotations

import os
import time
from typing import Any

from .plan import PlanError, PlanSpec, make_spec
from .runner import Rank, Stage, StageContext, StageSteps

REFERENCE_MODES = ("precompute", "online")


def check_dpo_config(cfg: dict[str, Any], stage: str = "dpo") -> None:
    """The DPO settings, checked before any stage trains (one clear error naming the key)."""
    from .dpo_loss import LOSS_TYPES

    beta, eps = cfg.get("beta", 0.1), cfg.get("label_smoothing", 0.0)
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not beta > 0:
        raise PlanError(f"stage {stage}: beta must be a number > 0 (got {beta!r})")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0 <= eps < 0.5:
        raise PlanError(f"stage {stage}: label_smoothing must be a number in [0, 0.5) (got {eps!r})")
    if cfg.get("loss_type", "sigmoid") not in LOSS_TYPES:
        raise PlanError(f"stage {stage}: loss_type must be one of {', '.join(LOSS_TYPES)} (got {cfg['loss_type']!r})")
    if cfg.get("reference", "precompute") not in REFERENCE_MODES:
        raise PlanError(f"stage {stage}: reference must be one of {', '.join(REFERENCE_MODES)} "
                        f"(got {cfg['reference']!r})")
    if eps and cfg.get("loss_type", "sigmoid") == "ipo":
        raise PlanError(f"stage {stage}: label_smoothing applies to the sigmoid loss, not ipo")


class DPOStage(Stage):
    name = "dpo"
    kinds = ("pref",)
    config_keys = ("beta", "loss_type", "label_smoothing", "reference", "reasoning")

    def plan(self, ctx: StageContext) -> PlanSpec:
        from catalogs.snapshots import tree_sha256

        entries = self.inputs(ctx)
        c = ctx.cfg
        check_dpo_config(c, self.name)
        # what decides which pairs a step sees, and how they are tokenized, goes into the plan hash
        order = {"strategy": "pref_pairs", "reasoning": bool(c.get("reasoning"))}
        return make_spec(ctx.store, self.name, entries, int(c["seq_len"]), int(c.get("seed", 0)),
                         float(c.get("epochs", 1.0)), order, float(c.get("val_fraction", 0.1)), tree_sha256(ctx.tokenizer))

    def steps(self, job: dict[str, Any]) -> StageSteps:
        return DPOSteps()


def _reduce(values: list[float], world: int) -> list[float]:
    from .engine import sum_over_ranks

    return values if world == 1 else sum_over_ranks(values)


class DPOSteps(StageSteps):
    unit = "pairs"

    def setup(self, r: Rank) -> int:
        import torch
        from transformers import AutoTokenizer

        from .engine import build_engine, load_model
        from .pref_data import build_pair_plan, load_sources

        cfg, spec = r.cfg, r.spec
        check_dpo_config(cfg, spec.stage)
        self.tokenizer = tok = AutoTokenizer.from_pretrained(r.job["tokenizer"])
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        self.sources = load_sources(r.store, spec, tok, bool(cfg.get("reasoning")))
        self.plan = build_pair_plan(spec, self.sources)
        self.micro, self.accum, self.world, self.rank = int(cfg["micro_batch"]), int(cfg["grad_accum"]), r.world, r.rank
        self.global_batch = self.micro * self.accum * r.world
        total = len(self.plan.train) // self.global_batch
        if cfg.get("max_steps"):
            total = min(total, int(cfg["max_steps"]))
        if total < 1:
            raise ValueError(f"stage {spec.stage}: {len(self.plan.train)} training pairs, fewer than one global batch "
                             f"({self.global_batch}); lower micro_batch/grad_accum or add pairs")
        self.beta, self.loss_type = float(cfg.get("beta", 0.1)), str(cfg.get("loss_type", "sigmoid"))
        self.eps, self.mode = float(cfg.get("label_smoothing", 0.0)), str(cfg.get("reference", "precompute"))
        model = load_model(r.job["input_model"])
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if torch.cuda.is_available() else None
        if dev is not None:  # score the reference on the accelerator (DeepSpeed places the policy itself later)
            model.to(dev)
        self.ref_model = None
        self.ref: dict[tuple[int, int], list[float]] = {}
        self.ref_scored = 0  # pairs the precomputed reference ran the model on
        mine = [self.plan.train[i] for t in range(total) for k in range(self.accum) for i in self._positions(t, k)]
        val_mine = self.plan.val[self.rank::self.world]
        if self.mode == "precompute":  # the input model is the reference: score every pair this rank reads, once
            model.eval()
            todo = list(dict.fromkeys(mine + val_mine))  # reading order; a pair read in two epochs is scored once
            with torch.no_grad():
                for i in range(0, len(todo), self.micro):
                    refs = todo[i:i + self.micro]
                    for ref, v in zip(refs, self._logps(model, refs), strict=True):
                        self.ref[ref] = v
                    self.ref_scored += len(refs)
        else:
            self.ref_model = load_model(r.job["input_model"]).eval()
            if dev is not None:
                self.ref_model.to(dev)
        self.val_ref = self._evaluate(model if self.mode == "precompute" else self.ref_model, reference=True)
        self.engine, _ = build_engine(model, cfg, total, r.job.get("deepspeed_config"))
        return total

    # -- data ------------------------------------------------------------------------------------
    def _positions(self, step: int, k: int, rank: int | None = None) -> list[int]:
        r = self.rank if rank is None else rank
        start = step * self.global_batch + (k * self.world + r) * self.micro
        return list(range(start, start + self.micro))

    def _pairs(self, refs: list[tuple[int, int]]):
        return [self.sources[s].pairs[i] for s, i in refs]

    def _forward(self, model, refs: list[tuple[int, int]]):
        """Per pair: (chosen sum, chosen tokens, rejected sum, rejected tokens) log-prob tensors ``[B]``."""
        from .dpo_loss import sequence_logps
        from .pref_data import collate_pairs

        b = collate_pairs(self._pairs(refs), self.pad_id)
        dev = getattr(model, "device", None)
        out = model(input_ids=b["input_ids"].to(dev), attention_mask=b["attention_mask"].to(dev), use_cache=False)
        s, n = sequence_logps(out.logits, b["input_ids"].to(dev), b["loss_mask"].to(dev))
        k = len(refs)
        return s[:k], n[:k], s[k:], n[k:]

    def _logps(self, model, refs: list[tuple[int, int]]) -> list[list[float]]:
        sc, nc, sr, nr = self._forward(model, refs)
        return [[float(a), float(b), float(c), float(d)] for a, b, c, d in
                zip(sc.tolist(), nc.tolist(), sr.tolist(), nr.tolist(), strict=True)]

    def _reference(self, refs: list[tuple[int, int]]):
        import torch

        if self.ref_model is not None:
            with torch.no_grad():
                vals = self._logps(self.ref_model, refs)
        else:
            vals = [self.ref[x] for x in refs]
        t = torch.tensor(vals, dtype=torch.float32)
        return t[:, 0], t[:, 1], t[:, 2], t[:, 3]

    def _side(self, s, n):
        return s / n.clamp(min=1) if self.loss_type == "ipo" else s  # IPO: per-token mean log-probs

    # -- the step --------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"consumed_pairs": self.consumed, "global_batch": self.global_batch}

    def restore(self, cs: dict[str, Any]) -> None:
        if int(cs.get("global_batch", self.global_batch)) != self.global_batch:
            from .engine import ResumeError

            raise ResumeError(f"checkpoint at step {cs['step']} used {cs['global_batch']} pairs per step, this run "
                              f"uses {self.global_batch} (micro × accum × ranks): resuming would skip or repeat pairs")
        self.consumed = int(cs["consumed_pairs"])

    def describe(self, total: int) -> str:
        dropped = {k: v for s in self.sources for k, v in s.drops.items()}
        extra = f" ({', '.join(f'{v} {k}' for k, v in dropped.items())} dropped)" if dropped else ""
        return (f"{len(self.plan.train)} train / {len(self.plan.val)} val pairs{extra}; {total} steps × "
                f"{self.global_batch} pairs; {self.loss_type} β={self.beta:g} ε={self.eps:g}, reference {self.mode}")

    def train_step(self, step: int) -> dict[str, Any]:
        from .dpo_loss import dpo_loss

        engine, dev = self.engine, self.engine.device
        lr = engine.get_lr()[0]  # the LR this step uses (engine.step() below moves the schedule to the next one)
        t0 = time.perf_counter()
        sums = [0.0] * 6  # loss, chosen reward, rejected reward, accuracy, logp margin, pairs
        for k in range(self.accum):
            refs = [self.plan.train[i] for i in self._positions(step, k)]
            sc, nc, sr, nr = self._forward(engine, refs)
            rc, rnc, rr, rnr = (x.to(dev) for x in self._reference(refs))
            loss, rew_c, rew_r = dpo_loss(self._side(sc, nc), self._side(sr, nr), self._side(rc, rnc),
                                          self._side(rr, rnr), self.beta, self.loss_type, self.eps)
            # DeepSpeed divides by accum and averages over ranks: undo both to get the mean over the global batch
            engine.backward(loss.sum() * (self.accum * self.world) / self.global_batch)
            engine.step()
            for j, v in enumerate((loss.sum(), rew_c.sum(), rew_r.sum(), (rew_c > rew_r).float().sum(),
                                   (sc - sr).sum())):
                sums[j] += float(v.detach())
            sums[5] += len(refs)
        tot = _reduce(sums, self.world)
        n = max(tot[5], 1.0)
        self.consumed += self.global_batch
        gn = engine.get_global_grad_norm()
        return {"loss": tot[0] / n, "reward_chosen": tot[1] / n, "reward_rejected": tot[2] / n,
                "reward_margin": (tot[1] - tot[2]) / n, "reward_accuracy": tot[3] / n, "logp_margin": tot[4] / n,
                "lr": lr, "grad_norm": float(gn) if gn is not None else None,
                "dt": time.perf_counter() - t0,
                "pairs": [f"{s}:{i}" for kk in range(self.accum) for rr in range(self.world)
                          for s, i in (self.plan.train[p] for p in self._positions(step, kk, rr))]}

    def _evaluate(self, model, reference: bool = False) -> dict[str, Any]:
        """Held-out pairs (this rank's share, summed over ranks): log-prob margin, and DPO loss / reward accuracy
        against the reference."""
        import torch

        from .dpo_loss import dpo_loss

        mine = self.plan.val[self.rank::self.world]
        sums = [0.0, 0.0, 0.0, 0.0]  # logp margin, loss, accuracy, pairs
        was_training = model.training
        model.eval()
        with torch.no_grad():
            for i in range(0, len(mine), self.micro):
                refs = mine[i:i + self.micro]
                sc, nc, sr, nr = (x.float().cpu() for x in self._forward(model, refs))
                if reference:
                    rc, rnc, rr, rnr = sc, nc, sr, nr
                else:
                    rc, rnc, rr, rnr = self._reference(refs)
                loss, rew_c, rew_r = dpo_loss(self._side(sc, nc), self._side(sr, nr), self._side(rc, rnc),
                                              self._side(rr, rnr), self.beta, self.loss_type, self.eps)
                sums[0] += float((sc - sr).sum())
                sums[1] += float(loss.sum())
                sums[2] += float((rew_c > rew_r).float().sum())
                sums[3] += len(refs)
        if was_training:
            model.train()
        tot = _reduce(sums, self.world)
        if not tot[3]:
            return {}
        if reference:
            return {"val_logp_margin_ref": tot[0] / tot[3]}
        return {"val_logp_margin": tot[0] / tot[3], "val_loss": tot[1] / tot[3], "val_reward_accuracy": tot[2] / tot[3]}

    def validate(self) -> dict[str, Any]:
        return self._evaluate(self.engine.module)

    def line(self, rec: dict[str, Any], total: int) -> str:
        val = f" | val margin {rec['val_logp_margin']:+.3f}" if "val_logp_margin" in rec else ""
        return (f"step {rec['step']:5d}/{total} | loss {rec['loss']:.4f} | reward margin {rec['reward_margin']:+.4f} "
                f"| acc {rec['reward_accuracy']:.0%} | logp margin {rec['logp_margin']:+.3f} | lr {rec['lr']:.2e} | "
                f"gnorm {rec['grad_norm'] or 0:.3f}{val}")

    def checkpoint_metrics(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {"loss": rec["loss"], "reward_margin": rec["reward_margin"]}

    def finish(self, history: list[dict[str, Any]]) -> dict[str, Any]:
        k = max(1, len(history) // 4)
        return {"consumed_pairs": self.consumed, "train_pairs": len(self.plan.train), "val_pairs": len(self.plan.val),
                "beta": self.beta, "loss_type": self.loss_type, "label_smoothing": self.eps, "reference": self.mode,
                "reference_pairs_scored": self.ref_scored,
                "first_loss": history[0]["loss"] if history else None,
                "final_loss": history[-1]["loss"] if history else None,
                "reward_margin_first": sum(h["reward_margin"] for h in history[:k]) / k if history else None,
                "reward_margin_last": sum(h["reward_margin"] for h in history[-k:]) / k if history else None,
                "dropped": {kk: int(v) for s in self.sources for kk, v in s.drops.items()},
                **self.val_ref, **self._evaluate(self.engine.module)}
