"""Run a curation recipe on datatrove executors and commit the result as one ``doc`` version.

    from curation.pipeline import run_recipe
    m = run_recipe("fin_web", inputs=["pages/", "dump.jsonl"], name="fin-web", store=store)  # -> Manifest

Stages (with a ``dedup`` step): 1 ``process`` (read → steps → MinHash signatures → stage files), 2
``buckets`` (datatrove's MinhashDedupBuckets, the buckets grouped into ``tasks`` tasks, optionally against
catalog indexes), 3 ``clusters`` (one task: candidates verified), 4 ``final`` (dedup filter → steps after dedup
→ shards), 5 ``index`` (datatrove's MinhashBuildIndex, grouped the same way). Without dedup there is only ``process``, ending in the shards. Every rank writes its
shards and its accounting into one staging folder; the version appears once, atomically, at the commit.
The dedup index is registered as an artifact beside the version so later batches dedup against it.

Resume (issue 14): the work folder is named by the run's fingerprint (recipe, reader options, name, tasks,
``against``, and each input's path, size and mtime, or a catalog input's hash) and records it in
``run.json`` with its staging folder. A run killed at any point (SIGKILL leaves both folders) and started
again with the same arguments finds them and runs every stage on datatrove's executor with
``skip_completed``: tasks listed in a stage's ``logs/<stage>/completions/`` are skipped, an unfinished task
starts over (its rank first removes its own partial shards), and the version is the one an uninterrupted
run commits (same shards, same hash). A changed recipe or input has another fingerprint: it never resumes
into the old work (``Plan.not_resumed`` says which work was left and why). A run that fails with an
exception cleans up as before.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from catalogs.store import pid_alive

from .dedup import BucketGroup, DedupFilter, LabelledCluster
from .dedup_params import DedupParams
from .ledger import SAMPLES, Ledger, Tap, trace_reasons
from .minhash_step import FastMinhashSignature
from .readers import CurationReader
from .recipe import Recipe, StepSpec, load_recipe
from .sink import IntermediateReader, IntermediateWriter, VersionPartWriter

INDEX_KIND = "minhash-index"


@dataclass
class Stage:
    name: str
    pipeline: list[Any]
    tasks: int


@dataclass
class Plan:
    recipe: Recipe
    name: str
    stages: list[Stage]
    work_dir: Path
    staging: Path
    parents: list[str]
    inputs: list[str]
    dedup: DedupParams | None = None
    against: list[str] = field(default_factory=list)
    resumed: bool = False
    not_resumed: list[str] = field(default_factory=list)  # unfinished work of this name left alone, and why

    @property
    def index_dir(self) -> Path:
        return self.work_dir / "index"


def dedup_params(spec: StepSpec) -> tuple[DedupParams, dict[str, Any]]:
    p = dict(spec.params)
    opts = {"exact": bool(p.pop("exact", True)), "near": bool(p.pop("near", True)),
            "against": list(p.pop("against", None) or [])}
    threshold = p.pop("threshold", None)
    allowed = {"n_grams", "num_buckets", "hashes_per_bucket", "seed", "normalize_numbers", "scheme", "num_perm",
               "containment", "verify", "min_shingles"}
    unknown = set(p) - allowed
    if unknown:
        raise ValueError(f"dedup: unknown parameters {sorted(unknown)} (known: threshold, exact, near, against, "
                         f"{', '.join(sorted(allowed))})")
    num_perm = p.pop("num_perm", 112)
    if threshold is None:
        verify = p.pop("verify", True)
        params = DedupParams(**p) if verify else DedupParams(**{**p, "jaccard": None, "containment": None})
    else:
        params = DedupParams.for_threshold(float(threshold), num_perm, **p)
    return params, opts


def _chain(steps: list[StepSpec], ledger: Ledger, first_tap: int) -> tuple[list[Any], list[tuple[str, Any]]]:
    """Built steps with a Tap after each (the Tap before the first one is the caller's)."""
    out, labelled = [], []
    for i, spec in enumerate(steps):
        step = trace_reasons(spec.build())
        out += [step, Tap(ledger, first_tap + i + 1, label=spec.label, feeds=i < len(steps) - 1)]
        labelled.append((spec.label, step))
    return out, labelled


RUN_FILE = "run.json"


def fingerprint(r: Recipe, inputs: list[str], name: str, store: Any, tasks: int, against: list[str] | None,
                reader_options: dict[str, Any] | None, drop_samples: int = SAMPLES) -> dict[str, str]:
    """What a run's result depends on, hashed: ``recipe`` (steps, reader, options, name, tasks, against) and
    ``inputs`` (each file's path, size and mtime; a catalog input's content hash)."""
    from .sources import expand_inputs

    files = []
    for fmt, item in expand_inputs(inputs, str(store.root)):
        if fmt == "catalog":
            files.append([item, store.resolve(item).hash])
        else:
            st = os.stat(item)
            files.append([os.path.abspath(item), st.st_size, st.st_mtime_ns])
    rec = {"steps": r.raw.get("steps", []), "reader": r.reader, "kind": r.kind, "options": {k: v for k, v in (reader_options or {}).items() if k != "progress"},
           "name": name, "tasks": tasks, "against": against, "drop_samples": drop_samples}

    def h(x: Any) -> str:
        return hashlib.sha256(json.dumps(x, sort_keys=True, default=str).encode()).hexdigest()

    return {"recipe": h(rec), "inputs": h(files), "run": h([h(rec), h(files)])}


def _resume_point(store: Any, name: str, fp: dict[str, str]) -> tuple[Path, Path | None, list[str]]:
    """The work folder for this fingerprint, its staging folder if a killed run left one, and the unfinished
    work of other runs of ``name`` that is not resumed (with the reason)."""
    base = store.root / "staging"
    work = base / f"_work-{name}-{fp['run'][:16]}"
    staging, others = None, []
    for d in sorted(base.glob(f"_work-{name}-*")):
        if not re.fullmatch(r"[0-9a-f]{16}", d.name.removeprefix(f"_work-{name}-")):
            continue  # another dataset whose name starts with this one, or a work folder of a run without resume
        try:
            info = json.loads((d / RUN_FILE).read_text())
        except (OSError, ValueError):
            continue
        if d == work:
            st = Path(info.get("staging", ""))
            if st.is_dir() and not (d / "committed.json").exists():
                staging = st
                owner = _owner_pid(st)
                if owner and owner != os.getpid() and pid_alive(owner):
                    raise ValueError(f"a run of {name} with the same recipe and inputs is in progress (pid {owner}, "
                                     f"work in {d}); wait for it or kill it, then run again to resume")
        elif not (d / "committed.json").exists():
            what = [k for k in ("recipe", "inputs") if info.get("fingerprint", {}).get(k) != fp[k]]
            others.append(f"{d}: not resumed, its {' and '.join(what) or 'run'} differ(s) from this run's")
    return work, staging, others


def _owner_pid(staging: Path) -> int | None:
    try:
        pid = json.loads((staging / "_owner.json").read_text()).get("pid")
    except (OSError, ValueError):
        return None
    return pid if isinstance(pid, int) else None


def plan_run(recipe: str | Path | dict | Recipe, inputs: list[str], name: str | None = None, store: Any = None,
             work_dir: str | Path | None = None, tasks: int = 1, against: list[str] | None = None,
             reader_options: dict[str, Any] | None = None, resume: bool = True, drop_samples: int = SAMPLES) -> Plan:
    from catalogs import Store

    store = store or Store.open()
    from catalogs.refs import check_name

    r = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    name = check_name(name or r.name)  # before any folder is made: the name is part of the work and staging paths
    r.check()  # only allowed step classes, resolved before anything is created or run
    if tasks < 1:
        raise ValueError(f"tasks must be at least 1 (got {tasks})")
    resumed_staging, others = None, []
    if resume and not work_dir:
        fp = fingerprint(r, inputs, name, store, tasks, against, reader_options, drop_samples)
        work, resumed_staging, others = _resume_point(store, name, fp)
        if resumed_staging is None and work.exists():  # a run killed before it recorded its staging: start over
            shutil.rmtree(work, ignore_errors=True)
    else:
        fp = None
        work = Path(work_dir) if work_dir else store.root / "staging" / f"_work-{name}-{uuid.uuid4().hex[:12]}"
    work.mkdir(parents=True, exist_ok=True)
    staging = resumed_staging or store.new_staging(name)
    if fp is not None:
        (work / RUN_FILE).write_text(json.dumps({"fingerprint": fp, "staging": str(staging), "name": name}))
    if resumed_staging is not None:  # the staging folder now belongs to this process (for `catalog gc`)
        from catalogs.manifest import now_iso

        (staging / "_owner.json").write_text(json.dumps({"host": os.uname().nodename, "pid": os.getpid(),
                                                          "started_at": now_iso(), "resumed": True}))
    try:
        plan = _plan(r, inputs, name, store, work, staging, tasks, against, reader_options, drop_samples)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if not work_dir:
            shutil.rmtree(work, ignore_errors=True)
        raise
    plan.resumed, plan.not_resumed = resumed_staging is not None, others
    return plan


def _plan(r: Recipe, inputs: list[str], name: str, store: Any, work: Path, staging: Path, tasks: int,
          against: list[str] | None, reader_options: dict[str, Any] | None, drop_samples: int = SAMPLES) -> Plan:
    before, barrier, after = r.split()
    ledger = Ledger(drop_samples)
    reader = CurationReader(inputs, ledger=ledger, store_root=str(store.root), **{**r.reader, **(reader_options or {})})
    chain, labelled = _chain(before, ledger, 0)
    head = [reader, Tap(ledger, 0, feeds=bool(before)), *chain]
    parents = [i for fmt, i in _catalog_inputs(inputs, store)]
    if barrier is None:
        part = VersionPartWriter(str(staging), ledger, labelled, prefix="s1", kind=r.kind)
        return Plan(r, name, [Stage("process", head + [part], tasks)], work, staging, parents, list(inputs))
    params, opts = dedup_params(barrier)
    opts["against"] = list(against if against is not None else opts["against"])
    sig, mid, dups, labels = (work / d for d in ("sigs", "stage1", "dups", "labels"))
    stages = [Stage("process", head + [
        VersionPartWriter(str(staging), ledger, labelled, prefix="s1", kind=r.kind, write_rows=False, pass_through=True),
        FastMinhashSignature(str(sig), params, minhash=opts["near"]),
        IntermediateWriter(str(mid))], tasks)]
    if opts["near"]:
        from datatrove.pipeline.dedup.minhash import MinhashDedupBuckets

        index_in = _gather_indexes(store, opts["against"], params, work / "index_in") if opts["against"] else None
        buckets = MinhashDedupBuckets(str(sig), str(dups), config=params.datatrove_config(), index_folder=index_in,
                                      only_dedup_in_index=False)
        stages.append(Stage("buckets", [BucketGroup(buckets, params.num_buckets)], min(tasks, params.num_buckets)))
    stages.append(Stage("clusters", [LabelledCluster(str(dups), str(sig), str(labels), exact=opts["exact"],
                                                           params=params)], 1))
    ledger2 = Ledger(drop_samples)
    first = len(before) + 1
    dfilter = DedupFilter(str(labels))
    chain_after, labelled_after = _chain(after, ledger2, first + 1)
    chain2 = [dfilter, Tap(ledger2, first + 1, label="dedup", feeds=bool(after)), *chain_after]
    labelled2 = [("dedup", dfilter), *labelled_after]
    stages.append(Stage("final", [IntermediateReader(str(mid)), Tap(ledger2, first, feeds=True), *chain2,
                                  VersionPartWriter(str(staging), ledger2, labelled2, prefix="s4", kind=r.kind,
                                              count_inputs=False, first_tap=first)], tasks))
    if opts["near"]:
        from datatrove.pipeline.dedup.minhash import MinhashBuildIndex

        index = MinhashBuildIndex(str(sig), str(work / "index"), index_name=name, config=params.datatrove_config())
        stages.append(Stage("index", [BucketGroup(index, params.num_buckets)], min(tasks, params.num_buckets)))
    return Plan(r, name, stages, work, staging, parents, list(inputs), params, opts["against"])


def _catalog_inputs(inputs: list[str], store: Any) -> list[tuple[str, str]]:
    from .sources import expand_inputs

    out = []
    for fmt, item in expand_inputs(inputs, str(store.root)):
        if fmt == "catalog":
            out.append((fmt, store.resolve(item).ref))
    return out


def find_index(store: Any, ref: str) -> Any | None:
    """The newest MinHash index artifact registered beside version ``ref`` (its manifest), if any."""
    m = store.resolve(ref)
    found = None
    for d in store.descendants(m.ref):
        if d["depth"] != 1:
            continue
        child = store.resolve(f"{d['name']}@{d['version']}")
        if child.kind == "artifact" and child.extra.get("artifact_kind") == INDEX_KIND:
            found = child if found is None or child.created_at > found.created_at else found
    return found


def _gather_indexes(store: Any, refs: list[str], params: DedupParams, dest: Path) -> str:
    """Copy the index files of each version in ``refs`` into one datatrove index folder."""
    for ref in refs:
        art = find_index(store, ref)
        if art is None:
            raise ValueError(f"dedup against {ref}: it has no MinHash index artifact (curate it with a dedup step)")
        theirs = art.extra.get("metrics", {}).get("params", {})
        if theirs != params.to_dict():
            raise ValueError(f"dedup against {ref}: its index was built with {theirs}, this run uses "
                             f"{params.to_dict()}; signatures are not comparable")
        base = store.path_of(art)
        for s in art.shards:
            src = base / s.path
            parts = Path(s.path).parts
            bucket = next(p for p in parts if p.startswith("bucket_"))
            out = dest / bucket / f"{art.name}-{art.version}.minhash.index"
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, out)
    return str(dest)


def run_recipe(recipe: str | Path | dict | Recipe, inputs: list[str], name: str | None = None, store: Any = None,
               executor: str = "local", tasks: int = 1, workers: int = 1, work_dir: str | Path | None = None,
               against: list[str] | None = None, keep_work: bool = False, quiet: bool = True,
               reader_options: dict[str, Any] | None = None, on_stage: Any = None, resume: bool = True,
               on_plan: Any = None, drop_samples: int = SAMPLES, **executor_opts: Any) -> Any:
    """Curate ``inputs`` with a recipe and return the committed ``doc`` version's ``Manifest``.

    ``executor="slurm"`` submits the stages (chained, ending in a commit job) and returns None: the
    version appears when the commit job has run. ``resume``: pick up the work of a killed run with the same
    fingerprint (module docstring); ``on_plan(plan)`` is called before the stages run."""
    from catalogs import Store

    from .executors import build_executors, commit_staging, plan_spec, run_executors

    store = store or Store.open()
    plan = plan_run(recipe, inputs, name, store, work_dir, tasks, against, reader_options, resume=resume,
                    drop_samples=drop_samples)
    if on_plan is not None:
        on_plan(plan)
    t0 = time.perf_counter()
    try:
        # inside the try: a bad option leaves no staging
        executors = build_executors(plan, executor, workers, quiet=quiet, **executor_opts)
        with _quiet_logs(quiet):
            if executor == "slurm":
                executors[-1].run()
                return None
            times = run_executors(executors, executor, workers, [st.name for st in plan.stages], on_stage)
        wall = time.perf_counter() - t0
        extra = {"executor": executor, "tasks": tasks, "workers": workers, "wall_s": round(wall, 3),
                 "stage_s": {st.name: round(t, 3) for st, t in zip(plan.stages, times, strict=True)},
                 "resumed": plan.resumed, "drop_samples": drop_samples}
        m = commit_staging(store, {**plan_spec(plan, store), "extra": extra})
    except KeyboardInterrupt:
        if not resume or work_dir:  # with resume, Ctrl-C keeps the work: the same command picks it up
            shutil.rmtree(plan.staging, ignore_errors=True)
            if not keep_work:
                shutil.rmtree(plan.work_dir, ignore_errors=True)
        raise
    except BaseException:
        shutil.rmtree(plan.staging, ignore_errors=True)
        if not keep_work and executor != "slurm":
            shutil.rmtree(plan.work_dir, ignore_errors=True)
        raise
    if not keep_work and executor != "slurm":
        shutil.rmtree(plan.work_dir, ignore_errors=True)
    return m


class _quiet_logs:
    """datatrove logs every task start, stop and stats table at INFO; quiet runs silence its modules in this
    process (the local executor's worker processes silence their own: ``executors.LocalExecutor``)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet

    def __enter__(self) -> None:
        if self.quiet:
            from loguru import logger

            logger.disable("datatrove")

    def __exit__(self, *exc: Any) -> None:
        if self.quiet:
            from loguru import logger

            logger.enable("datatrove")


def summary(m: Any) -> dict[str, Any]:
    """in / kept / dropped by reason / quarantined / docs/s of a curated version."""
    wall = (m.extra or {}).get("wall_s")
    return {"version": m.ref, "inputs": m.inputs, "kept": m.rows, "dropped": sum(m.drops.values()),
            "quarantined": sum(m.quarantined.values()), "drops": dict(sorted(m.drops.items())),
            "quarantine": dict(m.quarantined), "docs_per_s": round(m.inputs / wall, 1) if wall and m.inputs else None,
            "balanced": m.inputs == m.rows + sum(m.drops.values()) + sum(m.quarantined.values())}
