"""``--executor slurm --dry-run``: the sbatch scripts a curation run would submit, printed instead of submitted.

datatrove writes each stage's script itself (``SlurmPipelineExecutor.launch_job``: the pickled executor, the
ranks to run, ``#SBATCH`` directives, the array size and the ``--dependency`` chain) and hands it to
``launch_slurm_job``, the one function that calls ``sbatch``. The dry run swaps only that function for one that
records the script and its ``sbatch`` arguments and returns a made-up job id, so what is printed is exactly what
datatrove would submit, dependencies included — no script of ours to drift from datatrove's. The staging and
work folders the plan created are removed afterwards (nothing was submitted to commit them), unless kept.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

FIRST_JOB_ID = 1001


@contextmanager
def captured_sbatch() -> Iterator[list[dict[str, Any]]]:
    """Within the block, datatrove's ``sbatch`` calls are recorded (job id, sbatch arguments, script)."""
    import datatrove.executor.slurm as dslurm

    jobs: list[dict[str, Any]] = []

    def record(script: str, job_id_retriever: Any, *args: str) -> str:
        job_id = str(FIRST_JOB_ID + len(jobs))
        name = re.search(r"^#SBATCH --job-name=(.*)$", script, re.M)
        jobs.append({"job_id": job_id, "job_name": name.group(1) if name else "", "sbatch_args": list(args),
                     "script": script})
        return job_id

    original = dslurm.launch_slurm_job
    dslurm.launch_slurm_job = record
    try:
        yield jobs
    finally:
        dslurm.launch_slurm_job = original


def slurm_dry_run(recipe: Any, inputs: list[str], name: str | None = None, store: Any = None, tasks: int = 1,
                  workers: int = 1, keep_work: bool = False, **opts: Any) -> list[dict[str, Any]]:
    """Plan ``recipe`` on ``inputs`` for Slurm and return the jobs it would submit, in submission order."""
    from .pipeline import run_recipe

    plans: list[Any] = []
    with captured_sbatch() as jobs:
        run_recipe(recipe, inputs, name=name, store=store, executor="slurm", tasks=tasks, workers=workers,
                   on_plan=plans.append, resume=False, **opts)
    if plans and not keep_work:
        shutil.rmtree(plans[0].staging, ignore_errors=True)
        shutil.rmtree(plans[0].work_dir, ignore_errors=True)
    return jobs


def format_jobs(jobs: list[dict[str, Any]]) -> str:
    """The jobs as a reviewable shell transcript: one ``sbatch`` line and its script per job."""
    out = []
    for j in jobs:
        out.append(f"# ---- job {j['job_id']} ({j['job_name']}): sbatch {' '.join(j['sbatch_args'])} <script>")
        out.append(j["script"].rstrip() + "\n")
    return "\n".join(out)
