"""One per-rank skeleton for every training stage: CPT and SFT (``training.trainer.LMSteps``) and the RL stages
(``training.rl.run.RLSteps``) plug a ``StageSteps`` into the same ``StageRunner``.

The runner owns, once, what every stage needs around its optimizer step: seed and threads, rank setup, shard
verification, resume (plan hash, RNG, the stage's counters), the loop with one printed line and one
``metrics.jsonl`` record per step, checkpoint + prune (``keep_checkpoints``) + run-record update, the kill test
hook, HF export and the result record. A stage supplies only what differs: how it builds its data and engine,
one step, its per-step line and its end-of-stage metrics. nanoGPT-style: the loop below is the whole loop.

Interrupts: a Ctrl-C / SIGTERM in the launching process surfaces here as ``KeyboardInterrupt`` (``huijin train``
turns SIGTERM into one) and unwinds through the loop; under the DeepSpeed launcher its handler stops the ranks.
The run record is marked killed by ``training.launch``, which owns the record.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogs import Manifest, Store

from .plan import PlanError, PlanSpec

RESULT = "result.json"
KILL_ENV = "HUIJIN_TRAIN_KILL_AFTER_STEP"  # test hook: SIGKILL this process after that step


@dataclass
class StageContext:
    """What planning a stage sees (in the launching process)."""
    store: Store
    snapshot: dict[str, Any]
    stage: str
    cfg: dict[str, Any]
    input_model: str
    tokenizer: str  # folder with the tokenizer only (its sha256 identifies it)
    output: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def entries(self) -> list[tuple[Manifest, float]]:
        es = self.snapshot["stages"].get(self.stage)
        if not es:
            raise PlanError(f"snapshot '{self.snapshot['name']}' has no '{self.stage}' stage "
                            f"(it has: {', '.join(self.snapshot['stages'])})")
        out = []
        for e in es:
            m = self.store.resolve(f"{e['dataset']}@{e['version']}")
            if m.hash != e["hash"]:
                raise PlanError(f"{m.ref}: hash {m.hash} differs from the snapshot's pin {e['hash']}")
            out.append((m, float(e["weight"])))
        return out


@dataclass
class Rank:
    """What one training process knows once the skeleton has set it up."""
    job: dict[str, Any]
    cfg: dict[str, Any]
    store: Store
    spec: PlanSpec
    rank: int
    world: int
    out: Path


class StageSteps:
    """The per-stage half of a training run. ``setup`` builds data, model and engine (it sets ``engine`` and
    ``tokenizer``) and returns the number of optimizer steps; ``train_step`` takes one and returns its metrics."""
    unit = "sequences"  # what ``consumed`` counts
    engine: Any = None
    tokenizer: Any = None
    consumed: int = 0

    def setup(self, r: Rank) -> int:
        raise NotImplementedError

    def describe(self, total: int) -> str:
        """The plan line printed before training."""
        return f"{total} steps"

    def state(self) -> dict[str, Any]:
        """Counters a checkpoint stores so that a resume continues exactly (JSON-safe)."""
        return {}

    def restore(self, cs: dict[str, Any]) -> None:
        """Take the counters back from a checkpoint's client state (may refuse it)."""

    def train_step(self, step: int) -> dict[str, Any]:
        """One optimizer step (``step`` counts the steps already done); returns its metrics."""
        raise NotImplementedError

    def validate(self) -> dict[str, Any]:
        """Held-out metrics every ``eval_every`` steps."""
        return {}

    def line(self, rec: dict[str, Any], total: int) -> str:
        return f"step {rec['step']:5d}/{total}"

    def checkpoint_metrics(self, rec: dict[str, Any]) -> dict[str, Any]:
        return {}

    def finish(self, history: list[dict[str, Any]]) -> dict[str, Any]:
        """End-of-stage metrics (before export). ``history``: every step of the run, steps before a resume included."""
        return {}


def read_history(path: Path) -> list[dict[str, Any]]:
    """Per-step metrics of a stage; a step redone after a resume replaces the killed attempt."""
    by_step: dict[int, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            by_step[rec["step"]] = rec
    return [by_step[k] for k in sorted(by_step)]


def metric_interval(cfg: dict[str, Any]) -> int:
    """``metrics_every``: score the held-out ``stage_metrics`` every N steps (and at the last), so a stage shows
    the curve of its own metric, not only its end point. Rank 0 scores the full model it holds, which ZeRO-3
    partitions across ranks: refused there."""
    every = int(cfg.get("metrics_every") or 0)
    if every < 0:
        raise ValueError(f"metrics_every must be >= 0, got {every}")
    if every and not cfg.get("stage_metrics"):
        raise ValueError("metrics_every needs stage_metrics (the held-out metrics to score during training)")
    if every and int(cfg.get("zero_stage", 2)) == 3:
        raise ValueError("metrics_every is not supported with zero_stage 3 (rank 0 does not hold the whole model); "
                         "score the saved checkpoints with `huijin eval` instead")
    return every


def metric_curve(history: list[dict[str, Any]]) -> dict[str, Any]:
    """``{"stage_metrics_curve": {name: [[step, value, ci_low, ci_high, n], …]}}`` from the steps that scored
    the stage metrics (nothing when none did): the run record keeps the curve next to the end point."""
    curve: dict[str, list[list[Any]]] = {}
    for h in history:
        for name, v in (h.get("stage_metrics") or {}).items():
            ci = v.get("ci") or [None, None]
            curve.setdefault(name, []).append([h["step"], v.get("value"), ci[0], ci[1], v.get("n")])
    return {"stage_metrics_curve": curve} if curve else {}


class StageRunner:
    """Run one stage on this rank: ``StageRunner(job, steps).run()`` → ``{"output_model", "metrics"}``."""

    def __init__(self, job: dict[str, Any], steps: StageSteps) -> None:
        self.job, self.steps = job, steps

    def run(self) -> dict[str, Any]:
        from .engine import setup_env

        env = setup_env()  # before deepspeed is imported
        import torch

        from .engine import export_hf, init_distributed
        from .plan import verify_sources

        job, steps = self.job, self.steps
        cfg = dict(job["cfg"])
        torch.manual_seed(int(cfg.get("seed", 0)))
        if "threads" in cfg:
            torch.set_num_threads(int(cfg["threads"]))
        init_distributed()
        rank, world = env["rank"], env["world"]
        store = Store.open(job["store"], create=False)
        spec = PlanSpec(**{k: v for k, v in job["spec"].items() if k != "format"})
        if not job.get("verified"):  # run_stages verified every shard once, before any rank started
            verify_sources(store, spec)
        out = Path(job["output"])
        out.mkdir(parents=True, exist_ok=True)
        r = Rank(job, cfg, store, spec, rank, world, out)
        total = steps.setup(r)
        if rank == 0:
            print(f"[{spec.stage}] plan {spec.hash}: {steps.describe(total)}", flush=True)
        step = self._resume(r)
        self._loop(r, step, total)
        hist = read_history(out / "metrics.jsonl") if rank == 0 else self.history  # includes steps before a resume
        metrics = steps.finish(hist)
        final = export_hf(steps.engine, steps.tokenizer, out / "model", rank)
        metrics = {"steps": self.step, "plan_hash": spec.hash, "world_size": world, **metrics, **metric_curve(hist)}
        result = {"output_model": str(final), "metrics": metrics}
        if rank == 0:
            (out / RESULT).write_text(json.dumps(result, indent=1, default=str))
        return result

    def _resume(self, r: Rank) -> int:
        from .engine import load_checkpoint

        cs = load_checkpoint(self.steps.engine, r.out / "checkpoints", r.spec.hash)
        if cs is None:
            return 0
        self.steps.restore(cs)
        if r.rank == 0:
            print(f"[{r.spec.stage}] resumed at step {int(cs['step'])} ({self.steps.consumed} {self.steps.unit} "
                  f"consumed) from {r.out / 'checkpoints'}", flush=True)
        return int(cs["step"])

    def _loop(self, r: Rank, step: int, total: int) -> None:
        steps, cfg = self.steps, r.cfg
        save_every, eval_every = int(cfg.get("save_every") or 0), int(cfg.get("eval_every") or 0)
        metrics_every = metric_interval(cfg)
        kill_after = int(os.environ.get(KILL_ENV, "-1"))
        self.history: list[dict[str, Any]] = []
        self.step = step
        log = open(r.out / "metrics.jsonl", "a", encoding="utf-8") if r.rank == 0 else None
        try:
            steps.engine.train()
            while self.step < total:
                t0 = time.perf_counter()
                rec = {"step": self.step + 1, **steps.train_step(self.step)}
                self.step += 1
                if eval_every and self.step % eval_every == 0:
                    rec.update(steps.validate())
                rec.setdefault("dt", time.perf_counter() - t0)
                shown = ""
                if metrics_every and r.rank == 0 and (self.step % metrics_every == 0 or self.step == total):
                    t1 = time.perf_counter()
                    rec["stage_metrics"] = self._stage_metrics(r)
                    rec["t_metrics"] = round(time.perf_counter() - t1, 2)
                    from .evaluation.stats import estimate_text

                    shown = "".join(f" | {k} {estimate_text(v, 'n/a')}" for k, v in rec["stage_metrics"].items())
                self.history.append(rec)
                if r.rank == 0:
                    recent = [h["dt"] for h in self.history[-20:]]
                    eta = sum(recent) / len(recent) * (total - self.step)
                    print(f"{steps.line(rec, total)}{shown} | eta {eta:.0f}s", flush=True)
                    log.write(json.dumps(rec) + "\n")
                    log.flush()
                if save_every and (self.step % save_every == 0 or self.step == total):
                    self._checkpoint(r, rec)
                if self.step == kill_after:
                    os.kill(os.getpid(), signal.SIGKILL)
        finally:
            if log:
                log.close()

    def _stage_metrics(self, r: Rank) -> dict[str, Any]:
        """The held-out stage metrics of the model being trained, ``{name: {value, ci, n}}`` (rank 0; the curve
        of ``metrics_every``)."""
        from .evaluation.stage_metrics import evaluate_live

        scores = evaluate_live(self.steps.engine.module, self.steps.tokenizer, r.store, r.cfg["stage_metrics"])
        return {k: {"value": v["value"], "ci": v["ci"], "n": v["n"]} for k, v in scores.items()}

    def _checkpoint(self, r: Rank, rec: dict[str, Any]) -> None:
        from .engine import prune_checkpoints, save_checkpoint, write_client_meta

        ckpt = r.out / "checkpoints"
        cs = {"snapshot": r.job["snapshot"], "stage": r.spec.stage, "plan_hash": r.spec.hash,
              "run_id": r.job["run_id"], **self.steps.state()}
        tag = save_checkpoint(self.steps.engine, ckpt, self.step, cs)
        if r.rank == 0:
            write_client_meta(ckpt, tag, {**cs, "step": self.step})
            prune_checkpoints(ckpt, int(r.cfg.get("keep_checkpoints", 3)))
            r.store.runs.update(r.job["run_id"], checkpoint=str(ckpt / tag),
                                metrics={"step": self.step, **self.steps.checkpoint_metrics(rec)})


class Stage:
    """A stage has two halves. ``plan(ctx)`` runs in the launching process: it resolves the snapshot's versions
    (creating derived ones, e.g. tokens from docs) and returns the sample-plan spec. ``steps(job)`` gives the
    per-rank half that ``execute`` runs in every training process through the one ``StageRunner``."""
    name = "base"
    kinds: tuple[str, ...] = ()  # the record kinds it trains on

    def inputs(self, ctx: StageContext) -> list[tuple[Manifest, float]]:
        """The snapshot's versions for this stage with their weights; a version of another kind is refused."""
        out = ctx.entries()
        for m, _ in out:
            if m.kind not in self.kinds:
                raise PlanError(f"stage {self.name}: {m.ref} is a '{m.kind}' version (expected {'/'.join(self.kinds)})")
        return out

    def plan(self, ctx: StageContext) -> PlanSpec:
        raise NotImplementedError

    def steps(self, job: dict[str, Any]) -> StageSteps:
        raise NotImplementedError

    def execute(self, job: dict[str, Any]) -> dict[str, Any]:
        return StageRunner(job, self.steps(job)).run()
