"""Orchestration: stages chained from a snapshot: plan → train (in process, or under the DeepSpeed launcher) →
export → the next stage's input. Every stage is a run record in the catalog (snapshot, stage, input/output model,
config with its plan hash, metrics, checkpoints, status).

What a rank does is not here: every stage trains through ``training.runner.StageRunner``. This module imports
``training.stages`` and nothing imports it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path
from typing import Any

from catalogs import Store, content_hash

from .engine import restored_dist_env
from .evaluation.record import after_stage
from .plan import PlanError, verify_sources
from .runner import RESULT, StageContext, read_history
from .stages import check_config, get_stage

__all__ = ["RESULT", "check_resume", "launch_deepspeed", "model_lineage", "read_history", "run_stages",
           "verify_snapshot"]


def prepare_tiny(store: Store, snapshot: dict[str, Any], output: Path, cfg: dict[str, Any]) -> tuple[str, str]:
    """Tokenizer (the snapshot's pinned one, or BPE trained on its CPT text) + a random-init tiny Llama."""
    from .tiny import build_tiny_model, train_tokenizer

    tok_dir = output / "tokenizer"
    if snapshot.get("tokenizer"):
        tok_src = snapshot["tokenizer"]["path"]
    elif not (tok_dir / "tokenizer.json").exists():
        texts = _cpt_texts(store, snapshot)
        train_tokenizer(texts, tok_dir, vocab_size=int(cfg.get("tokenizer_vocab", 2048)))
        tok_src = str(tok_dir)
    else:
        tok_src = str(tok_dir)
    base = output / "base"
    if not (base / "config.json").exists():
        build_tiny_model(tok_src, base, seed=int(cfg.get("seed", 0)), overrides=cfg.get("tiny_model"))
    return str(base), tok_src


def _cpt_texts(store: Store, snapshot: dict[str, Any]):
    refs = [f"{e['dataset']}@{e['version']}" for e in snapshot["stages"].get("cpt", [])]
    docs = [r for r in refs if store.resolve(r).kind == "doc"]
    if not docs:
        raise ValueError(f"snapshot '{snapshot['name']}': --model tiny trains its tokenizer on the CPT stage's doc "
                         "versions, but there are none (pin a tokenizer in the snapshot instead)")

    def gen():
        for r in docs:
            for rec in store.iter_records(r, columns=["text"]):
                if rec["text"]:
                    yield rec["text"]
    return gen()


def tokenizer_only(model_dir: str, dest: Path) -> str:
    """A folder holding just the model's tokenizer (its sha256 then identifies the tokenizer, not the weights)."""
    from transformers import AutoTokenizer

    if not (dest / "tokenizer_config.json").exists():
        AutoTokenizer.from_pretrained(model_dir).save_pretrained(dest)
    return str(dest)


def run_stages(store: Store, snapshot: str, stages: list[str], model: str = "tiny", output: str | Path = "runs-out",
               config: dict[str, Any] | None = None, deepspeed_config: str | None = None, gpus: int | None = None,
               nodes: int | None = None, hostfile: str | None = None, progress: bool = True,
               start_model: str | None = None, verified: Collection[str] = ()) -> list[dict[str, Any]]:
    """Train ``stages`` in order from ``snapshot``; returns the run records (one per stage).

    ``stages`` may name nodes of the snapshot's stage graph (``training.branches``); ``start_model`` is the
    first stage's input instead of ``model`` (a branch continuing from another branch's checkpoint; ``model``
    still selects the settings, e.g. ``tiny``); ``verified``: pinned refs the caller verified just now (each
    stage still re-hashes what its plan reads before it trains)."""
    from .branches import node_config, stage_type

    if not stages:
        raise ValueError("no stages given (e.g. --stages cpt,sft)")
    snap = store.snapshots.get(snapshot)
    verify_snapshot(store, snap, stages, skip=verified)  # before anything reads them (tokenizer, tokenization)
    for name in stages:  # every stage's settings, before the first one trains
        check_config(stage_type(snap, name), node_config(snap, name, model, config))
    output = Path(output).resolve()
    output.mkdir(parents=True, exist_ok=True)
    first = node_config(snap, stages[0], model, config)
    if model == "tiny":
        input_model, tokenizer = prepare_tiny(store, snap, output, first)
    else:
        if not Path(model).is_dir():
            raise FileNotFoundError(f"--model {model}: not a Hugging Face model folder (or 'tiny')")
        input_model = str(Path(model).resolve())
        tokenizer = snap["tokenizer"]["path"] if snap.get("tokenizer") else tokenizer_only(input_model, output / "tokenizer")
    if start_model:
        input_model = start_model
    records = []
    for name in stages:
        stage = get_stage(stage_type(snap, name))
        cfg = node_config(snap, name, model, config)
        ctx = StageContext(store, snap, name, cfg, input_model, tokenizer, output / name)
        spec = stage.plan(ctx)
        run_cfg = {**cfg, "plan_hash": spec.hash, "model": model, "deepspeed_config": deepspeed_config,
                   "gpus": gpus, "nodes": nodes}
        run_id = f"{snapshot}-{name}-{content_hash([str(output), spec.hash, input_model], 10)}"
        check_resume(store, ctx.output / "checkpoints", run_id, input_model, run_cfg)  # before the record changes
        store.runs.start(name, snapshot=snapshot, input_model=input_model, config=run_cfg, run_id=run_id)
        job = {"store": str(store.root), "snapshot": snapshot, "stage": name, "cfg": cfg, "spec": spec.to_dict(),
               "input_model": input_model, "tokenizer": tokenizer, "output": str(ctx.output), "run_id": run_id,
               "deepspeed_config": deepspeed_config, "verified": True}
        try:
            verify_sources(store, spec)  # once, here, before any rank starts (re-hashes every shard read)
            if gpus or nodes:
                result = launch_deepspeed(job, gpus=gpus, nodes=nodes, hostfile=hostfile)
            else:
                with restored_dist_env():
                    result = stage.execute(job)
        except BaseException as e:
            status = "killed" if isinstance(e, KeyboardInterrupt) else "failed"
            store.runs.finish(run_id, metrics={"error": str(e)[:2000]}, status=status)
            raise
        if cfg.get("register_artifact"):  # the exported model as a catalog artifact (copied: small models only)
            parents = [f"{x['dataset']}@{x['version']}" for x in spec.sources]
            art = store.artifacts.register(f"{snapshot}-{name}-model", "model", result["output_model"], parents=parents,
                                           metrics={k: result["metrics"].get(k) for k in ("final_loss", "val_loss")},
                                           recipe={"run_id": run_id, "plan_hash": spec.hash})
            result["metrics"]["artifact"] = art.ref
        rec = store.runs.finish(run_id, metrics=result["metrics"], output_model=result["output_model"])
        rec = after_stage(store, rec, cfg)  # evaluates the exported model when the stage config names eval_suite
        records.append(rec)
        input_model = result["output_model"]
    return records


# Config keys that do not change what a resumed run computes (threads, logging, evaluation, bookkeeping).
RESUME_NEUTRAL = {"threads", "eval_suite", "eval_limit", "eval_every", "metrics_every", "register_artifact", "keep_checkpoints",
                  "save_every", "tokenize_workers", "stage_metrics"}


def check_resume(store: Store, ckpt_dir: Path, run_id: str, input_model: str, run_cfg: dict[str, Any]) -> None:
    """A stage folder with a checkpoint is resumed. Refuse when that checkpoint was trained from another input
    model or with another config (lr, steps, batch...): the run record would otherwise claim a config the
    weights never saw. A different sample plan is refused by ``engine.load_checkpoint``."""
    from catalogs.manifest import scrub_secrets

    from .engine import ResumeError

    latest = ckpt_dir / "latest"
    meta = ckpt_dir / latest.read_text().strip() / "huijin_client.json" if latest.exists() else None
    if meta is None or not meta.exists():
        return
    client = json.loads(meta.read_text())
    if client.get("plan_hash") != run_cfg.get("plan_hash"):
        return  # engine.load_checkpoint names both plans
    try:
        old = store.runs.get(client.get("run_id", ""))
    except KeyError:
        return  # written by a store we cannot see: the plan hash check is all we have
    where = f"{ckpt_dir} (run {old['run_id']})"
    if old.get("input_model") != input_model:
        raise ResumeError(f"checkpoint {where} was trained from {old.get('input_model')}, this run starts from "
                          f"{input_model}: refusing to resume (use a new --output)")
    new = json.loads(json.dumps(scrub_secrets(run_cfg), default=str))
    was = old.get("config") or {}
    changed = sorted(k for k in set(new) | set(was) if k not in RESUME_NEUTRAL and new.get(k) != was.get(k))
    if changed:
        diff = ", ".join(f"{k} {was.get(k)!r} → {new.get(k)!r}" for k in changed)
        raise ResumeError(f"checkpoint {where} was trained with another config ({diff}): refusing to resume "
                          f"(use a new --output, or the same settings to resume)")


def verify_snapshot(store: Store, snap: dict[str, Any], stages: list[str], skip: Collection[str] = ()) -> set[str]:
    """Re-hash the shards of every version the requested stages pin, each version once (``skip``: refs a caller
    has just verified); refuse to start on any mismatch. Returns the refs verified, with ``skip``."""
    from .branches import stage_type

    problems = []
    done = set(skip)
    for name in stages:
        get_stage(stage_type(snap, name))  # an unknown stage fails here, before any work
        if not snap["stages"].get(name):  # before a tiny tokenizer/model is built for nothing
            raise PlanError(f"snapshot '{snap['name']}' has no '{name}' stage (it has: {', '.join(snap['stages'])})")
        for e in snap["stages"].get(name, []):
            ref = f"{e['dataset']}@{e['version']}"
            if ref in done:  # pinned by two stages (numeric tasks replayed in general RL): hashing it again adds nothing
                continue
            done.add(ref)
            if store.resolve(ref).hash != e["hash"]:
                problems.append(f"{ref}: hash differs from the snapshot's pin {e['hash']}")
            problems += [f"{ref} {p['file']}: {p['problem']}" for p in store.verify(ref)]
    if problems:
        raise PlanError(f"snapshot '{snap['name']}': shard checksum verification failed, refusing to train:\n  "
                        + "\n  ".join(problems))
    return done


def launch_deepspeed(job: dict[str, Any], gpus: int | None = None, nodes: int | None = None,
                     hostfile: str | None = None, extra_env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one stage under the ``deepspeed`` launcher (every rank runs ``python -m training.worker JOB``)."""
    out = Path(job["output"])
    out.mkdir(parents=True, exist_ok=True)
    job_path = out / "job.json"
    job_path.write_text(json.dumps(job, indent=1))
    (out / RESULT).unlink(missing_ok=True)
    cmd = [str(Path(sys.executable).parent / "deepspeed")]
    if hostfile:
        cmd += ["--hostfile", hostfile]
    if nodes:
        cmd += ["--num_nodes", str(nodes)]
    if gpus:
        cmd += ["--num_gpus", str(gpus)]
    cmd += ["--master_port", str(_port()), "--module", "training.worker", str(job_path)]
    from .engine import child_env

    env = {**child_env(), **(extra_env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parent.parent), env.get("PYTHONPATH", "")])
    import torch

    if not torch.cuda.is_available():  # CPU ranks: the launcher counts "devices" from LOCAL_SIZE
        env.setdefault("DS_ACCELERATOR", "cpu")
        env["LOCAL_SIZE"] = str(gpus or 1)
        env.setdefault("OMP_NUM_THREADS", "1")
    proc = subprocess.Popen(cmd, env=env, cwd=str(Path(__file__).resolve().parent.parent))
    try:
        proc.wait()
    except BaseException:  # Ctrl-C / SIGTERM: the launcher's own handler stops its ranks (a SIGKILL would orphan them)
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    if proc.returncode != 0 or not (out / RESULT).exists():
        raise RuntimeError(f"deepspeed launcher failed for stage {job['stage']} (exit {proc.returncode}); "
                           f"see the output above and {out}")
    return json.loads((out / RESULT).read_text())


def _port() -> int:
    from .engine import free_port

    return free_port()


def model_lineage(store: Store, model_path: str) -> list[dict[str, Any]]:
    """Every run that led to ``model_path`` (latest first) with the versions each trained on: follows
    input_model → the run whose output it was, so a SFT model also lists the CPT data under it."""
    chain, seen, path = [], set(), model_path
    while path and path not in seen:
        seen.add(path)
        runs = [r for r in store.runs.ls() if r["output_model"] == path and r["status"] == "completed"]
        if not runs:
            break
        run = store.runs.get(runs[-1]["run_id"])
        chain.append({"run_id": run["run_id"], "stage": run["stage"], "snapshot": run["snapshot"],
                      "input_model": run["input_model"], "output_model": path,
                      "data": [f"{d['dataset']}@{d['version']}" for d in store.runs.data_of_model(path)]})
        path = run["input_model"]
    return chain
