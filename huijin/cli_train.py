"""`huijin train tokenize` and `huijin train run`: wiring only (the work lives in training/)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import typer

from .apps import train
from .common import JsonOpt, StoreOpt, fail, open_store, parse_sets, print_json, print_table
from .output import stdout_to_stderr


@train.command("tokenize")
def tokenize(
    ref: str = typer.Argument(..., help="doc version to tokenize (name@N)"),
    tokenizer: Path = typer.Option(..., "--tokenizer", help="tokenizer folder (HF format)"),
    name: str | None = typer.Option(None, "--name", help="tokens dataset name (default <doc>.tok-<sha8>)"),
    workers: int = typer.Option(1, "--workers", help="worker processes (one input shard each)"),
    store: str | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Turn a doc version into a tokens version (uint32 token files + offsets); resumable, reuses identical work."""
    from training.tokenize import TokenizeError, tokenize_version

    if workers < 1:
        fail(f"--workers must be at least 1 (got {workers})", code=2)
    s = open_store(store)
    try:
        m = tokenize_version(s, ref, str(tokenizer), name=name, workers=workers, progress=not as_json)
    except (TokenizeError, ValueError, FileNotFoundError) as e:
        fail(str(e))
    parent = f"{m.parents[0]['name']}@{m.parents[0]['version']}" if m.parents else ref
    row = {"version": m.ref, "parent": parent, "docs": m.rows, "tokens": m.tokens, "shards": len(m.shards),
           "tokenizer_sha256": m.recipe["tokenizer_sha256"][:16], "hash": m.hash}
    print_json(row) if as_json else print_table([row], title="tokens version")


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (kill, a scheduler's preemption, docker stop) ends training like Ctrl-C does, so the stage's
    run is recorded as 'killed' instead of staying 'running' forever."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise KeyboardInterrupt("stopped by SIGTERM")

    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _graph_nodes(store, snapshot: str, branch: str) -> list[str]:
    """The stage-graph node names a branch run may override (``--set long_cot_sft.lr=…``). A missing snapshot,
    graph or branch fails here, as the run would, before any key is judged against the graph."""
    from training.branches import graph_of, select_branches

    snap = store.snapshots.get(snapshot)
    select_branches(snap, branch)
    return sorted(graph_of(snap) or {})


@train.command("run")
def run(
    snapshot: str = typer.Option(..., "--snapshot", help="snapshot to train from"),
    stages: str = typer.Option("cpt,sft", "--stages", help="comma-separated stages, in order"),
    model: str = typer.Option("tiny", "--model", help="HF model folder, or 'tiny' (random-init small Llama)"),
    output: Path = typer.Option(..., "--output", "-o", help="folder for checkpoints, metrics and exported models"),
    deepspeed: Path | None = typer.Option(None, "--deepspeed", help="DeepSpeed JSON (default recipes/deepspeed/zero<N>.json)"),
    config: Path | None = typer.Option(None, "--config", help="YAML/JSON overrides: common keys and per-stage dicts"),
    sets: list[str] = typer.Option([], "--set", help="override one key, e.g. --set max_steps=20 --set sft.lr=1e-5"),
    gpus: int | None = typer.Option(None, "--gpus", help="GPUs per node: runs through the deepspeed launcher"),
    nodes: int | None = typer.Option(None, "--nodes", help="number of nodes (deepspeed launcher)"),
    hostfile: Path | None = typer.Option(None, "--hostfile", help="deepspeed hostfile"),
    branch: str | None = typer.Option(None, "--branch", help="train a branch of the snapshot's stage graph (its "
                                      "name or leaf node), or 'all' (shared stages once); replaces --stages"),
    allow_no_signal: bool = typer.Option(False, "--allow-no-signal", help="keep an RL stage whose every step had "
                                         "equal rewards in all groups (no update) instead of failing it"),
    store: str | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Train stages in order from a snapshot; each stage is a run record, its exported model the next one's input."""
    import yaml

    from training.launch import model_lineage, run_stages
    from training.stages import STAGES

    for opt, v in (("--gpus", gpus), ("--nodes", nodes)):
        if v is not None and v < 1:
            fail(f"{opt} must be at least 1 (got {v})", code=2)
    unknown = [x.strip() for x in stages.split(",") if x.strip() and x.strip() not in STAGES]
    if unknown and branch is None:
        fail(f"--stages: unknown stage {unknown[0]!r}; known: {', '.join(sorted(STAGES))}", code=2)
    if hostfile is not None and not hostfile.is_file():
        fail(f"--hostfile {hostfile} does not exist", code=2)
    overrides: dict = {}
    if config:
        if not config.exists():
            fail(f"--config {config} does not exist")
        overrides = yaml.safe_load(config.read_text()) or {}
    from training.config_keys import UnknownConfigKey, check_keys

    s, graph_nodes = None, []
    if branch is not None:  # a branch's --set may name its graph's nodes
        s = open_store(store, create=False)
        try:
            graph_nodes = _graph_nodes(s, snapshot, branch)
        except ValueError as e:  # SnapshotError, PlanError
            fail(str(e))
    try:
        check_keys(overrides, origin=f"--config {config}", nodes=graph_nodes)
    except UnknownConfigKey as e:
        fail(str(e), code=2)
    for k, v in parse_sets(sets).items():
        overrides[k] = {**overrides.get(k, {}), **v} if isinstance(v, dict) and isinstance(overrides.get(k), dict) else v
    try:
        check_keys(parse_sets(sets), nodes=graph_nodes)
    except UnknownConfigKey as e:
        fail(str(e), code=2)
    if allow_no_signal:
        overrides["allow_no_signal"] = True
    if s is None:
        s = open_store(store, create=False)
    names = [x.strip() for x in stages.split(",") if x.strip()]
    try:
        with stdout_to_stderr() if as_json else nullcontext(), _sigterm_as_interrupt():
            launch = {"deepspeed_config": str(deepspeed) if deepspeed else None, "gpus": gpus, "nodes": nodes,
                      "hostfile": str(hostfile) if hostfile else None}
            if branch is not None:
                from training.branches import run_branches

                recs = run_branches(s, snapshot, branch, model=model, output=output, config=overrides, **launch)
            else:
                recs = run_stages(s, snapshot, names, model=model, output=output, config=overrides, **launch)
    except KeyError as e:  # str(KeyError) is the repr of its message
        fail(str(e.args[0]) if e.args else str(e))
    except (ValueError, FileNotFoundError, RuntimeError) as e:  # ResumeError is a RuntimeError
        fail(str(e))
    if as_json:
        print_json(recs)
        return
    rows = [{"run": r["run_id"], "stage": r["stage"], "status": r["status"], "steps": r["metrics"].get("steps"),
             "loss": r["metrics"].get("final_loss"), "val_loss": r["metrics"].get("val_loss"),
             "reward": r["metrics"].get("reward_last"), "val_reward": r["metrics"].get("val_reward"),
             "padding": r["metrics"].get("padding_ratio"), "output_model": r["output_model"]} for r in recs]
    print_table(rows, title=f"runs from snapshot {snapshot}")
    lineage = [{"stage": r["stage"], "run": r["run_id"], "data": ", ".join(r["data"])}
               for r in model_lineage(s, recs[-1]["output_model"])]
    print_table(lineage, title=f"data that trained {recs[-1]['output_model']}")
