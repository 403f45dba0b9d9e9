"""datatrove executors for a curation ``Plan`` (local, Slurm, Ray) and the commit that ends a run."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.base import PipelineStep

EXECUTORS = ("local", "slurm", "ray")


class LocalExecutor(LocalPipelineExecutor):
    """datatrove's local executor, quiet in its worker processes too. With ``workers > 1`` each task runs in a
    pool process (forkserver: a fresh interpreter), where the parent's ``logger.disable("datatrove")`` does not
    reach, so every task printed its pipeline, its stats table (~90 lines) and a reader bar. Here each task
    disables datatrove's logs in the process that runs it (``quiet``; the log files under ``logs/`` are written
    by datatrove's own file sink either way), and of tasks run in parallel only the first task still to run draws
    the reader's bar (rank 0, or the lowest rank a resumed run has left): bars of several processes on one
    terminal line overwrite each other."""

    def __init__(self, *args: Any, quiet: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.quiet = quiet
        self.bar_rank = 0

    def run(self) -> Any:
        # set before datatrove pickles this executor to the pool's processes; a resumed run skips completed ranks,
        # and when rank 0 is among them no task would draw the bar
        todo = self.get_incomplete_ranks(range(self.local_rank_offset, self.local_rank_offset + self.local_tasks))
        self.bar_rank = min(todo, default=0)
        return super().run()

    def _run_for_rank(self, rank: int, local_rank: int = 0, node_rank: int = -1) -> Any:
        if self.quiet:
            from loguru import logger

            logger.disable("datatrove")
        if self.workers > 1 and rank != self.bar_rank:
            from .readers import CurationReader

            for step in self.pipeline:  # this task's own copy of the pipeline (pickled to the worker)
                if isinstance(step, CurationReader):
                    step.progress = False
        return super()._run_for_rank(rank, local_rank, node_rank)


class CommitVersion(PipelineStep):
    """The last stage on Slurm (one task): commit the staging folder, register the dedup index.
    Local and Ray runs call ``commit_plan`` in the driver instead."""

    name = "✅ huijin commit"
    type = "💽 - WRITER"

    def __init__(self, plan_json: str) -> None:
        super().__init__()
        self.plan_json = plan_json

    def run(self, data: Any = None, rank: int = 0, world_size: int = 1) -> Any:
        spec = json.loads(Path(self.plan_json).read_text())
        from catalogs import Store

        commit_staging(Store.open(spec["store"]), spec)
        return iter(())


def plan_spec(plan: Any, store: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"store": str(store.root), "staging": str(plan.staging), "name": plan.name, "kind": plan.recipe.kind,
            "parents": plan.parents, "recipe": {"steps": plan.recipe.raw.get("steps", []), "name": plan.recipe.name,
                                                "reader": plan.recipe.reader, "source": plan.recipe.source,
                                                "against": plan.against, "inputs": plan.inputs},
            "inputs": plan.inputs, "work_dir": str(plan.work_dir),
            "index_dir": str(plan.index_dir) if plan.dedup and (plan.index_dir).exists() else None,
            "dedup_params": plan.dedup.to_dict() if plan.dedup else None, "extra": extra or {}}


def commit_staging(store: Any, spec: dict[str, Any]) -> Any:
    """Commit the staging folder as the next version; register the MinHash index artifact beside it."""
    extra = {"inputs": spec["inputs"], **spec.get("extra", {})}
    m = store.commit(spec["staging"], spec["name"], spec["kind"], parents=spec["parents"], recipe=spec["recipe"],
                     extra=extra)
    index_dir = spec.get("index_dir") or (Path(spec["work_dir"]) / "index")
    if spec.get("dedup_params") and Path(index_dir).exists() and any(Path(index_dir).rglob("*.minhash.index")):
        store.artifacts.register(f"{spec['name']}-minhash", "minhash-index", index_dir, parents=[m.ref],
                                 metrics={"params": spec["dedup_params"], "docs": m.rows})
    Path(spec["work_dir"], "committed.json").write_text(json.dumps({"ref": m.ref}))
    return m


def build_executors(plan: Any, executor: str = "local", workers: int = 1, logging_dir: str | None = None,
                    quiet: bool = True, **opts: Any) -> list[Any]:
    """One datatrove executor per stage (Slurm: chained with ``depends`` and a final commit stage). Tasks a
    stage's ``completions/`` lists are skipped: a resumed run (``pipeline.plan_run``) redoes only the rest.
    ``quiet``: no datatrove logs on the console from local workers (``LocalExecutor``)."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor {executor!r}: expected one of {EXECUTORS}")
    logs = Path(logging_dir or plan.work_dir / "logs")
    # only a resumed plan may skip tasks: a reused work or log folder of a fresh run holds another run's completions
    resume = bool(getattr(plan, "resumed", False))
    out: list[Any] = []
    for st in plan.stages:
        kw = {"pipeline": st.pipeline, "tasks": st.tasks, "logging_dir": str(logs / st.name)}
        if executor == "local":
            out.append(LocalExecutor(**kw, workers=min(workers, st.tasks), skip_completed=resume, quiet=quiet))
        elif executor == "ray":
            from datatrove.executor.ray import RayPipelineExecutor

            out.append(RayPipelineExecutor(**kw, workers=min(workers, st.tasks), skip_completed=resume,
                                           cpus_per_task=1, mem_per_cpu_gb=opts.get("mem_per_cpu_gb", 0.25)))
        else:
            from datatrove.executor.slurm import SlurmPipelineExecutor

            out.append(SlurmPipelineExecutor(**kw, time=opts.get("time", "24:00:00"),
                                             partition=opts.get("partition", "cpu"), workers=workers,
                                             job_name=f"huijin-{plan.name}-{st.name}",
                                             venv_path=opts.get("venv_path"), depends=out[-1] if out else None,
                                             sbatch_args=opts.get("sbatch_args")))
    if executor == "slurm":
        from datatrove.executor.slurm import SlurmPipelineExecutor

        from catalogs import Store

        spec_path = plan.work_dir / "plan.json"
        spec_path.write_text(json.dumps(plan_spec(plan, Store.open(plan.staging.parent.parent))))
        out.append(SlurmPipelineExecutor(pipeline=[CommitVersion(str(spec_path))], tasks=1,
                                         time="00:30:00", partition=opts.get("partition", "cpu"),
                                         logging_dir=str(logs / "commit"), job_name=f"huijin-{plan.name}-commit",
                                         depends=out[-1], venv_path=opts.get("venv_path")))
    return out


def run_executors(executors: list[Any], executor: str, workers: int, names: list[str] | None = None,
                  on_stage: Any = None) -> list[float]:
    """Run stages one after the other (Ray's own ``depends`` polls every 2 minutes); seconds per stage."""
    started = False
    if executor == "ray":
        import ray

        if not ray.is_initialized():  # a cluster the caller started is used as is; ours is shut down after
            if os.environ.get("RAY_ADDRESS"):  # an existing cluster (`auto`, HOST:6379): join it, size is its own
                ray.init(address=os.environ["RAY_ADDRESS"], log_to_driver=False)
            else:
                ray.init(num_cpus=max(1, workers), include_dashboard=False, log_to_driver=False)
            started = True
    times = []
    try:
        for i, ex in enumerate(executors):
            t0 = time.perf_counter()
            ex.run()
            times.append(time.perf_counter() - t0)
            if on_stage is not None:  # progress: (stage name, index, count, seconds)
                on_stage(names[i] if names else str(i), i + 1, len(executors), times[-1])
    finally:
        if started:
            import ray

            ray.shutdown()
    return times
