"""Curation on a real local Ray cluster (started here, two workers) gives the very version the local executor
gives (same content hash), and the Slurm dry run prints datatrove's own sbatch scripts, chained by dependency."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def paras(shared_data) -> list[str]:
    rows = [json.loads(x) for x in (shared_data / "general_text" / "wiki_paragraphs.jsonl").open()]
    return [r["text"] for r in rows if r["source"] == "xquad.en" and len(r["text"].split()) >= 120][:8]


# fin_web's filters with a 1-bucket MinHash (fin_web's own 0.8 threshold means 14 bucket tasks and 14 index tasks:
# on Ray each task is a fresh worker process importing the pipeline, minutes on 2 cores for the same check)
RECIPE = {"name": "web", "kind": "doc", "reader": {"text_key": "text"},
          "steps": [{"langid": {"languages": ["en", "zh"], "threshold": 0.3}}, {"min_length": {"min_chars": 200}},
                    {"gopher_quality": {}}, {"pii": {}},
                    {"dedup": {"exact": True, "near": True, "num_buckets": 1, "hashes_per_bucket": 8}}]}


def _inputs(tmp: Path, texts: list[str]) -> list[str]:
    tmp.mkdir(parents=True, exist_ok=True)
    half = len(texts) // 2
    out = []
    for k, part in enumerate((texts[:half], texts[half:])):
        p = tmp / f"in{k}.jsonl"
        p.write_text("".join(json.dumps({"text": t, "id": f"d{k}-{i}"}) + "\n" for i, t in enumerate(part)))
        out.append(str(p))
    return out


def test_ray_cluster_version_equals_local(tmp_path, paras):
    ray = pytest.importorskip("ray", reason="ray is in the 'ray' extra (make setup installs it)")
    from catalogs import Store
    from curation.pipeline import run_recipe

    texts = paras[:6] + [paras[0], paras[3]]  # two exact duplicates across the two input files
    inputs = _inputs(tmp_path / "in", texts)
    local = run_recipe(RECIPE, inputs, name="web", store=Store.open(tmp_path / "local"), tasks=2, workers=1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # a cluster of our own, two CPUs
    try:
        assert ray.cluster_resources()["CPU"] == 2
        on_ray = run_recipe(RECIPE, inputs, name="web", store=Store.open(tmp_path / "ray"), executor="ray",
                            tasks=2, workers=2)
        assert ray.is_initialized()  # the executor used the running cluster and left it up
    finally:
        ray.shutdown()
    assert on_ray.extra["executor"] == "ray" and local.extra["executor"] == "local"
    assert on_ray.hash == local.hash and on_ray.ref == local.ref == "web@1"  # the same shards, byte for byte
    assert on_ray.rows == 6 and on_ray.drops == local.drops == {"dedup:exact_duplicate": 2}
    assert on_ray.inputs == 8 and on_ray.stats == local.stats


def test_slurm_dry_run_prints_datatrove_scripts(tmp_path, paras, monkeypatch):
    from typer.testing import CliRunner

    from catalogs import Store
    from curation.slurm_dry_run import slurm_dry_run
    from huijin.cli import app

    monkeypatch.setenv("PATH", "/nonexistent")  # no sbatch anywhere: nothing can be submitted
    store = Store.open(tmp_path / "store")
    jobs = slurm_dry_run("fin_web", _inputs(tmp_path / "in", paras[:4]), name="web", store=store, tasks=4,
                         partition="batch")
    stages = [j for j in jobs if "launch_pickled_pipeline" in j["script"]]
    names = [j["job_name"] for j in stages]
    assert names == [f"huijin-web-{s}" for s in ("process", "buckets", "clusters", "final", "index", "commit")]
    assert all("#SBATCH --partition=batch" in j["script"] for j in stages)
    assert "#SBATCH --array=0-3" in stages[0]["script"]  # 4 tasks: one array job per task
    assert "#SBATCH --array=0-0" in stages[2]["script"]  # dedup clusters: one task
    for prev, job in zip(stages, stages[1:], strict=False):  # each stage waits for the one before
        assert f"--dependency=afterok:{prev['job_id']}" in job["sbatch_args"]
    merge = [j for j in jobs if "merge_stats" in j["script"]]
    assert len(merge) == len(stages) and all(j["sbatch_args"] == [] for j in merge)
    assert store.ls() == [] and not any((store.root / "staging").iterdir())  # nothing committed, nothing left

    res = CliRunner().invoke(app, ["curate", "run", "fin_web", "-i", _inputs(tmp_path / "in2", paras[:4])[0],
                                   "--name", "web", "--executor", "slurm", "--dry-run", "--tasks", "2",
                                   "--store", str(store.root)])
    assert res.exit_code == 0, res.output
    assert res.output.count("#!/bin/bash") == 12 and "sbatch --export=ALL,RUN_OFFSET=0 --dependency=afterok:" in \
        res.output and "launch_pickled_pipeline" in res.output and "huijin-web-commit" in res.output
    res = CliRunner().invoke(app, ["curate", "run", "fin_web", "-i", "x.jsonl", "--dry-run"])
    assert res.exit_code == 2 and "--executor slurm" in res.output
