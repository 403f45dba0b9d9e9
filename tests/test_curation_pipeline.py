"""Recipes end to end on datatrove executors: one atomic doc version, drops by step and reason, and
``inputs = kept + dropped + quarantined`` in every run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curation.pipeline import find_index, plan_run, run_recipe, summary
from curation.recipe import CurationRecipeError, load_recipe


def assert_balanced(m):
    assert m.inputs is not None and m.inputs == m.rows + sum(m.drops.values()) + sum(m.quarantined.values())


def _jsonl(path: Path, texts: list[str]) -> str:
    path.write_text("".join(json.dumps({"text": t, "id": f"d{i}"}) + "\n" for i, t in enumerate(texts)))
    return str(path)


@pytest.fixture(scope="module")
def paras(shared_data) -> list[str]:
    """Distinct, clean English paragraphs (long enough for every quality rule)."""
    rows = [json.loads(x) for x in (shared_data / "general_text" / "wiki_paragraphs.jsonl").open()]
    return [r["text"] for r in rows if r["source"] == "xquad.en" and len(r["text"].split()) >= 120][:20]


def test_fin_web_on_shared_data_two_tasks(store, shared_data, tmp_path):
    warcs = sorted(str(p) for p in (shared_data / "warc").rglob("*") if ".warc" in p.name or ".arc" in p.name)
    # the exact-duplicate 10-K pair plus three other (small) filings: the whole file takes ~30 s of filters
    lines = (shared_data / "fin_text" / "sec_10k_items.jsonl").read_text(encoding="utf-8").splitlines()
    pair = [x for x in lines if json.loads(x)["filename"].startswith(("1000564_", "1000654_"))]
    others = sorted((x for x in lines if x not in pair), key=len)[:3]
    (tmp_path / "10k.jsonl").write_text("\n".join(pair + others) + "\n", encoding="utf-8")
    inputs = warcs + [str(shared_data / "html_extraction" / "sec_8k" / "html"), str(tmp_path / "10k.jsonl")]
    m = run_recipe("fin_web", inputs, name="fin-web", store=store, tasks=2,
                   reader_options={"text_key": "item_*", "id_key": "filename"})
    assert_balanced(m)
    assert m.ref == "fin-web@1" and m.rows > 50
    # both ranks wrote shards into the one version
    assert {s.path.split("-r")[1][:5] for s in m.shards} == {"00000", "00001"}
    # the same 10-K filed under two company ids: one copy kept, the other dropped as an exact duplicate
    metas = [json.loads(r["meta"]) for r in store.iter_records(m, columns=["meta"])]
    ids = [x["source_id"] for x in metas]
    assert sum(i.startswith(("1000564_", "1000654_")) for i in ids) == 1
    assert m.drops.get("dedup:exact_duplicate", 0) >= 1 and m.drops["langid:other_language"] > 0
    q = store.read_quarantine(m).to_pylist()
    bad = {Path(r["file"]).name: r for r in q if r["reason"].startswith("bad_warc")}
    assert {"example-bad-non-chunked.warc.gz", "example-wrong-chunks.warc.gz"} <= set(bad)
    assert all(r["offset"] is not None for r in bad.values())
    assert set(m.stats["lang"]) <= {"en", "zh"}
    texts = [r["text"] for r in store.iter_records(m, columns=["text"])]
    assert any(line.startswith("|") and any(c.isdigit() for c in line) for t in texts for line in t.splitlines())
    # the MinHash index sits beside the version as an artifact with lineage to it
    art = find_index(store, "fin-web@1")
    assert art is not None and art.parents[0]["name"] == "fin-web" and art.extra["metrics"]["docs"] == m.rows
    s = summary(m)
    assert s["balanced"] and s["kept"] == m.rows


def test_dedup_against_existing_version_and_lineage(store, tmp_path, paras):
    a_texts = paras[:6]
    a = run_recipe("fin_web", [_jsonl(tmp_path / "a.jsonl", a_texts)], name="batch-a", store=store)
    assert_balanced(a)
    assert a.rows == 6
    words = a_texts[2].split()
    near_copy = " ".join(words[:40] + ["indeed"] + words[40:])
    b_texts = [a_texts[0], near_copy, paras[10]]
    b = run_recipe("fin_web", [_jsonl(tmp_path / "b.jsonl", b_texts)], name="batch-b", store=store,
                   against=["batch-a@1"])
    assert_balanced(b)
    assert b.rows == 1 and b.drops["dedup:duplicate_of_catalog"] == 2
    assert b.recipe["against"] == ["batch-a@1"]
    # catalog refs as inputs give lineage; deduplicating a version against itself keeps nothing new
    c = run_recipe("fin_web", ["batch-a@1"], name="batch-c", store=store)
    assert_balanced(c)
    assert [p["name"] for p in c.parents] == ["batch-a"] and c.rows == 6
    plain = run_recipe({"steps": ["langid"]}, [_jsonl(tmp_path / "p.jsonl", paras[11:13])], name="plain", store=store)
    assert_balanced(plain)
    assert plain.rows == 2 and find_index(store, "plain@1") is None
    with pytest.raises(ValueError, match="no MinHash index"):
        run_recipe({"steps": [{"dedup": {}}]}, [_jsonl(tmp_path / "x.jsonl", ["x"])], name="x", store=store,
                   against=["plain@1"])
    with pytest.raises(ValueError, match="not comparable"):
        run_recipe({"steps": [{"dedup": {"num_buckets": 4, "hashes_per_bucket": 4}}]},
                   [_jsonl(tmp_path / "y.jsonl", ["y"])], name="y", store=store, against=["batch-a@1"])
    assert list((store.root / "staging").iterdir()) == []  # a refused run leaves nothing behind
    assert {r["name"] for r in store.ls()} == {"batch-a", "batch-a-minhash", "batch-b", "batch-b-minhash", "batch-c",
                                               "batch-c-minhash", "plain"}


def test_recipe_with_plugin_steps_by_dotted_path(store, tmp_path, paras):
    recipe = {"name": "plug", "steps": [
        {"step": "datatrove.pipeline.filters:RegexFilter", "params": {"regex_exp": "forbidden"}, "label": "regex"},
        {"langid": {"languages": ["en"], "threshold": 0.2}},
        "pii"]}
    texts = [paras[1], "this text has a forbidden word " + paras[2], "纯中文的财经新闻内容，不应保留在英文数据集中。" * 5,
             paras[3] + " Contact ir@bank.com."]
    m = run_recipe(recipe, [_jsonl(tmp_path / "in.jsonl", texts)], name="plug", store=store)
    assert_balanced(m)
    assert m.rows == 2 and m.drops == {"regex:other": 1, "langid:other_language": 1}
    rows = store.read_table(m).to_pylist()
    assert any("<EMAIL>" in r["text"] for r in rows) and all(r["lang"] == "en" for r in rows)
    assert m.stats["pii"] == {"email": 1}
    assert all(r["scores"] and dict(r["scores"])["lang"] > 0.2 for r in rows)


def test_recipe_errors_and_format(tmp_path):
    r = load_recipe("fin_web")
    before, barrier, after = r.split()
    assert barrier.name == "dedup" and [s.name for s in before][:2] == ["extract", "langid"] and after == []
    with pytest.raises(CurationRecipeError, match="not a registered step"):
        load_recipe({"steps": ["no_such_step"]}).steps[0].build()
    with pytest.raises(CurationRecipeError, match="bad parameters"):
        load_recipe({"steps": [{"langid": {"bogus": 1}}]}).steps[0].build()
    with pytest.raises(CurationRecipeError, match="one dedup"):
        load_recipe({"steps": ["dedup", "dedup"]})
    with pytest.raises(CurationRecipeError, match="unknown keys"):
        load_recipe({"stepz": []})


def test_failed_run_leaves_no_version(store, tmp_path):
    from curation.recipe import register_step

    register_step("boom", Boom)
    recipe = {"steps": ["boom"]}
    with pytest.raises(RuntimeError):
        run_recipe(recipe, [_jsonl(tmp_path / "in.jsonl", ["a", "b", "c"])], name="boom", store=store, tasks=2)
    assert store.ls() == [] and list((store.root / "staging").iterdir()) == []


class Boom:
    """A step that fails on the second document (datatrove callables get data, rank, world_size)."""

    def __call__(self, data, rank=0, world_size=1):
        for i, d in enumerate(data):
            if i == 1:
                raise RuntimeError("step failed")
            yield d


def test_executors_slurm_and_ray_are_built(store, tmp_path):
    from datatrove.executor.ray import RayPipelineExecutor
    from datatrove.executor.slurm import SlurmPipelineExecutor

    from curation.executors import CommitVersion, build_executors

    plan = plan_run("fin_web", [_jsonl(tmp_path / "in.jsonl", ["a"])], "fin", store, tmp_path / "w", tasks=4)
    assert [s.name for s in plan.stages] == ["process", "buckets", "clusters", "final", "index"]
    slurm = build_executors(plan, "slurm", workers=2, partition="batch")
    assert all(isinstance(e, SlurmPipelineExecutor) for e in slurm) and len(slurm) == 6
    assert slurm[0].tasks == 4 and slurm[2].tasks == 1 and all(e.depends is slurm[i] for i, e in enumerate(slurm[1:]))
    assert isinstance(slurm[-1].pipeline[0], CommitVersion) and json.loads((tmp_path / "w" / "plan.json").read_text())["name"] == "fin"
    ray = build_executors(plan, "ray", workers=2)
    # the buckets stage runs the run's 4 tasks, each over a group of the 43 buckets (curation.dedup.BucketGroup)
    assert all(isinstance(e, RayPipelineExecutor) for e in ray) and ray[1].world_size == min(4, plan.dedup.num_buckets)
    with pytest.raises(ValueError, match="executor"):
        build_executors(plan, "dask")
    # a bad executor name through run_recipe leaves neither a staging nor a work folder behind
    before = set((store.root / "staging").iterdir())
    with pytest.raises(ValueError, match="executor"):
        run_recipe("fin_web", [_jsonl(tmp_path / "in.jsonl", ["a"])], "fin2", store, executor="dask")
    assert set((store.root / "staging").iterdir()) == before


@pytest.mark.slow
def test_ray_executor_runs_for_real(store, tmp_path, paras):
    pytest.importorskip("ray")
    texts = paras[:4] + [paras[0]]
    m = run_recipe("fin_web", [_jsonl(tmp_path / "a.jsonl", texts[:3]), _jsonl(tmp_path / "b.jsonl", texts[3:])],
                   name="ray-run", store=store, executor="ray", tasks=2, workers=2)
    assert_balanced(m)
    assert m.rows == 4 and m.drops == {"dedup:exact_duplicate": 1} and m.extra["executor"] == "ray"


def test_cli_run_extract_dedup(store, tmp_path, shared_data, paras):
    from typer.testing import CliRunner

    from huijin.cli import app

    runner = CliRunner()
    src = _jsonl(tmp_path / "in.jsonl", [paras[5], paras[5], paras[6]])
    res = runner.invoke(app, ["curate", "run", "fin_web", "-i", src, "--name", "cli-web", "--store", str(store.root),
                              "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["kept"] == 2 and out["balanced"] and out["drops"] == {"dedup:exact_duplicate": 1}
    warc = str(shared_data / "warc" / "warcio" / "example.warc.gz")
    res = runner.invoke(app, ["curate", "extract", "-i", warc, "-o", str(tmp_path / "ex.jsonl"), "--json"])
    assert res.exit_code == 0, res.output
    rec = json.loads((tmp_path / "ex.jsonl").read_text().splitlines()[0])
    assert "illustrative examples" in rec["text"] and rec["url"] == "http://example.com/" and rec["lang"] == "en"
    with store.writer("chats", kind="sft") as w:
        msgs = [{"role": "user", "content": paras[7]}, {"role": "assistant", "content": "Noted. " * 20}]
        w.write([{"messages": msgs}, {"messages": msgs, "taxonomy": "a/b/c"},
                 {"messages": [{"role": "user", "content": paras[8]}]}])
    res = runner.invoke(app, ["curate", "dedup", "-i", "chats@1", "-o", str(tmp_path / "d.jsonl"), "--clusters",
                              str(tmp_path / "c.jsonl"), "--store", str(store.root), "--json"])
    assert res.exit_code == 0, res.output
    clusters = [json.loads(x) for x in (tmp_path / "c.jsonl").read_text().splitlines()]
    kept = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert len(clusters) == 3 and len(kept) == 2 and clusters[0]["cluster"] == clusters[1]["cluster"]
    assert kept[0]["messages"][0]["content"] == paras[7]
    # without --clusters, removals are still counted by reason
    res = runner.invoke(app, ["curate", "dedup", "-i", "chats@1", "-o", str(tmp_path / "d2.jsonl"), "--store",
                              str(store.root), "--json"])
    out = json.loads(res.output)
    assert res.exit_code == 0 and out["removed"] == {"exact_duplicate": 1} and out["balanced"], res.output
    res = runner.invoke(app, ["curate", "run", "nope_recipe", "-i", src, "--store", str(store.root)])
    assert res.exit_code == 1 and "nope_recipe" in res.output
    res = runner.invoke(app, ["curate", "run", "fin_web", "-i", src, "--tasks", "0", "--store", str(store.root)])
    assert res.exit_code == 1 and "--tasks" in res.output


def test_parallel_workers_write_one_version(store, tmp_path, paras):
    """Two ranks in two processes write shards into one staging folder; one commit makes the version."""
    ins = [_jsonl(tmp_path / "a.jsonl", paras[:3]), _jsonl(tmp_path / "b.jsonl", paras[3:5] + ["", "short"])]
    m = run_recipe({"name": "par", "steps": ["min_length", "langid"]}, ins, store=store, tasks=2, workers=2)
    assert_balanced(m)
    assert m.ref == "par@1" and m.rows == 5 and m.quarantined == {"empty_document": 1}
    assert m.drops == {"min_length:too_short": 1} and sorted(s.path[:8] for s in m.shards) == ["s1-r0000", "s1-r0000"]
    assert len(store.ls()) == 1


def test_resumed_parallel_run_still_draws_one_reader_bar(tmp_path, paras, capfd):
    """Of tasks run in parallel one draws the reader's bar: rank 0, or on a resumed run whose rank 0 is done the
    lowest rank left (before, no task drew it)."""
    from curation.executors import LocalExecutor
    from curation.readers import CurationReader

    src = _jsonl(tmp_path / "a.jsonl", paras[:6])
    logs = tmp_path / "logs"
    (logs / "completions").mkdir(parents=True)
    (logs / "completions" / "00000").write_text("")  # rank 0 finished in the run that was interrupted
    ex = LocalExecutor([CurationReader([str(src)], progress=True)], tasks=3, workers=2, logging_dir=str(logs),
                       skip_completed=True, start_method="spawn")  # spawn: the tasks inherit the captured stderr
    ex.run()
    err = capfd.readouterr().err
    assert "rank 1 read" in err and "rank 2 read" not in err and "rank 0 read" not in err and ex.bar_rank == 1
