"""The notebooks in notebooks/ run top to bottom against a store `huijin demo --quick` built (once per
session: the ``demo_store`` fixture of conftest.py), on a kernel of this very interpreter; a cell error fails the test, and each notebook's outputs are
checked against the store they read (drop funnel numbers, stages, figures)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

from catalogs import Store  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture(scope="session")
def kernel_dirs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A `python3` kernelspec for this interpreter, so a fresh clone (or a user-wide `python3` spec that
    points elsewhere) still runs the notebooks with the venv that has huijin installed."""
    d = tmp_path_factory.mktemp("kernels")
    spec = d / "python3"
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (huijin)", "language": "python"}), encoding="utf-8")
    return d


def run_notebook(name: str, store: Path, kernel_dirs: Path) -> nbformat.NotebookNode:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name} is committed with outputs"
    km = AsyncKernelManager(kernel_name="python3",
                            kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dirs)]))
    client = nbclient.NotebookClient(nb, km=km, timeout=240, resources={"metadata": {"path": str(NOTEBOOKS)}})
    env = {**os.environ, "HUIJIN_STORE": str(store), "HF_HUB_OFFLINE": "1",
           "MPLBACKEND": "module://matplotlib_inline.backend_inline"}  # figures as PNG outputs, whatever CI sets
    client.execute(env=env)  # raises CellExecutionError (with the traceback) if any cell fails
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for c in nb.cells:
        for o in c.get("outputs", []):
            if o.output_type == "stream":
                parts.append(o.text)
            elif "data" in o:
                parts.append(o["data"].get("text/plain", ""))
    return "\n".join(parts)


def figures(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_catalog_tour(demo_store: Path, kernel_dirs: Path) -> None:
    nb = run_notebook("catalog_tour.ipynb", demo_store, kernel_dirs)
    text = outputs_text(nb)
    store = Store.open(demo_store, create=False)
    web = store.resolve("demo-web")
    assert f"store: {demo_store.resolve()}" in text  # it used $HUIJIN_STORE, not a store of its own
    assert "demo-cpt-mix ←" in text and "demo-web@1 (doc, " in text  # the lineage walk
    snap = next(s["name"] for s in store.snapshots.ls() if s["name"].startswith("demo-"))
    assert f"snapshot {snap}" in text
    langs = web.stats["lang"]  # the counts the language plot is drawn from (pivot: one column per language)
    assert ["demo-web"] + [str(langs[k]) for k in sorted(langs)] in [line.split() for line in text.splitlines()]
    leaves = store.resolve("demo-rl").stats["taxonomy"]  # the demo's tasks: the pivot shows their leaves
    assert leaves and all(leaf[:45] in text for leaf in leaves)  # the taxonomy pivot (long labels are cut)
    assert figures(nb) >= 2  # language and taxonomy distributions


def test_curation_report(demo_store: Path, kernel_dirs: Path) -> None:
    nb = run_notebook("curation_report.ipynb", demo_store, kernel_dirs)
    text = outputs_text(nb)
    store = Store.open(demo_store, create=False)
    web, fin = store.resolve("demo-web"), store.resolve("demo-web-fin")
    # the funnel lines carry the manifests' numbers
    assert f"{web.ref}: {web.inputs} in → {web.rows} kept, {sum(web.drops.values())} dropped" in text
    assert f"{fin.ref}: {fin.inputs} in → {fin.rows} kept, {sum(fin.drops.values())} dropped" in text
    for key, n in {**web.drops, **fin.drops}.items():
        step, reason = key.split(":", 1)
        assert any(step in line and reason in line and line.split()[-1] == str(n) for line in text.splitlines()), key
    # the dedup verb re-run over the raw pages removes exactly what the manifest counted
    dedup = {k.split(":", 1)[1]: v for k, v in web.drops.items() if k.startswith("dedup:")}
    assert f"removed by the verb: {dedup} | counted in the manifest: {dedup}" in text
    contaminated = fin.drops["decontaminate:contaminated"]
    assert f"{contaminated} documents dropped as contaminated; {contaminated} of them re-matched here" in text
    assert "demo-bench-" in text and "contamination table:" in text  # which items leaked: a table, not bars of 1
    mix = store.resolve("demo-cpt-mix").extra["mixture"]
    assert f"budget {mix['budget_tokens']} tokens, achieved {mix['achieved_tokens']}" in text
    assert figures(nb) >= 4  # funnel (every step, % retained), score histograms, dedup clusters, mixture


def test_training(demo_store: Path, kernel_dirs: Path) -> None:
    nb = run_notebook("training.ipynb", demo_store, kernel_dirs)
    text = outputs_text(nb)
    store = Store.open(demo_store, create=False)
    runs = [r for r in store.runs.ls() if r["status"] == "completed"]
    assert {r["stage"] for r in runs} >= {"cpt", "sft", "reasoning_rl"}
    for r in runs:
        steps = store.runs.get(r["run_id"])["metrics"]["steps"]
        assert f"{r['stage']}: {steps} steps logged" in text  # every stage's per-step file was read
        assert r["run_id"] in text
    suite = next(iter(store.runs.get(runs[0]["run_id"])["metrics"]["eval"]))
    assert f"suite: {suite}" in text and "overall" in text  # the ablation table
    line = next(x for x in text.splitlines() if x.startswith("stage metrics: "))  # held-out metrics table
    names = line.removeprefix("stage metrics: ").split(", ")
    assert {"bpb_finance", "bpb_general", "numeric_acc", "tool_success", "general_score"} <= set(names)
    assert all(n.split(".")[0] in names and n.split(".")[1] in ("en", "zh") for n in names if "." in n)  # per language
    assert figures(nb) >= 3  # per-stage curves (val, lr, gnorm), accuracy with intervals, stage metrics with CIs


def test_demo_eval_items_disjoint_from_every_training_version(demo_store: Path) -> None:
    """The held-out versions the stage metrics read share no item with any version the snapshot trains on:
    compared by content hash (doc text; the prompt of rl records and of sft conversations) and by table."""
    import hashlib

    store = Store.open(demo_store, create=False)
    runs = [store.runs.get(r["run_id"]) for r in store.runs.ls() if r["status"] == "completed"]
    evals = {m["version"] for r in runs for m in (r["metrics"].get("stage_metrics") or {}).values()}
    assert len(evals) == 5 and all("heldout" in v for v in evals)  # finance, general, numeric, agentic, scenarios
    snap = store.snapshots.get(runs[0]["snapshot"])
    trained = {f"{e['dataset']}@{e['version']}" for es in snap["stages"].values() for e in es}

    def prompt(msgs) -> list:
        msgs = json.loads(msgs) if isinstance(msgs, str) else list(msgs)
        msgs = [dict(m) for m in msgs]
        return msgs[:-1] if msgs and msgs[-1].get("role") == "assistant" else msgs

    def keys(ref: str) -> tuple[set[str], set[str]]:
        hashes, tables = set(), set()
        for r in store.iter_records(ref):
            body = r["text"] if "text" in r else json.dumps(prompt(r.get("prompt") or r.get("messages")),
                                                              sort_keys=True, default=str)
            hashes.add(hashlib.sha256(body.encode()).hexdigest())
            meta = json.loads(r["meta"]) if isinstance(r.get("meta"), str) else (r.get("meta") or {})
            if meta.get("context_id"):
                tables.add(meta["context_id"])
        return hashes, tables

    train_h, train_t = set(), set()
    for ref in trained:  # the mixture's sources too: they are what the mixture sampled from
        h, t = keys(ref)
        train_h |= h
        train_t |= t
        for p in store.resolve(ref).parents:
            h, t = keys(f"{p['name']}@{p['version']}")
            if "-train" in p["name"]:
                train_h |= h
                train_t |= t
    for ref in evals:
        h, t = keys(ref)
        assert h and not (h & train_h), ref
        assert not (t & train_t), ref
