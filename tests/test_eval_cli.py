"""`huijin eval --model PATH --suite NAME` with a real (tiny, random-init) model, and `huijin eval compare`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

TEXT = ("Revenue grew 12% to $1,234 million; net income was 56 million. 营业收入 同比 增长 净利润 会计 选项 "
        "What is the change in revenue? The answer is \\boxed{12}. ") * 50


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    from training.tiny import build_tiny_model, train_tokenizer

    d = tmp_path_factory.mktemp("evalmodel")
    tok = train_tokenizer([TEXT], d / "tok", vocab_size=500)
    return build_tiny_model(tok, d / "model", seed=0)


def test_eval_cli_real_model_and_compare(tiny_model, store, shared_data, monkeypatch):
    from huijin.cli import app

    monkeypatch.setenv("HUIJIN_EVAL_DATA", str(shared_data))
    runner = CliRunner()
    rid = store.runs.start("sft", config={"x": 1}, input_model=str(tiny_model), run_id="sft-1")
    store.runs.finish(rid, output_model=str(tiny_model))
    res = runner.invoke(app, ["eval", "--model", str(tiny_model), "--suite", "fin_tiny", "--json", "--run", rid,
                              "--store", str(store.root), "--limit", "3"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output[res.output.index("{"):])
    assert summary["suite"] == "fin_tiny" and summary["n"] == 12
    assert set(summary["tasks"]) == {"finqa", "convfinqa", "tatqa", "fineva_zh"}
    for t in summary["tasks"].values():
        assert t["n"] == 3 and (t["accuracy"] is None or 0.0 <= t["accuracy"] <= 1.0)
    stored = store.runs.get(rid)["metrics"]["eval"]["fin_tiny"]
    assert stored["n"] == 12 and stored["tasks"] == summary["tasks"]
    res = runner.invoke(app, ["eval", "--model", str(tiny_model), "--suite", "fin_tiny", "--json", "--run", rid,
                              "--input-model", "--store", str(store.root), "--limit", "3", "--tasks", "fineva_zh"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["eval", "compare", rid, "--store", str(store.root), "--json"])
    assert res.exit_code == 0, res.output
    table = json.loads(res.output)
    assert table["columns"] == ["metric", "base", "sft"] and table["rows"][0]["metric"] == "overall"
    res = runner.invoke(app, ["eval", "compare", rid, "--store", str(store.root), "--no-detail"])
    assert res.exit_code == 0 and "stage ablation" in res.output and "task:fineva_zh" in res.output
    res = runner.invoke(app, ["eval", "--model", str(tiny_model), "--suite", "nope"])
    assert res.exit_code == 1 and "no evaluation suite" in res.output


def test_eval_cli_unknown_run_refused_before_evaluating(tiny_model, store):
    from huijin.cli import app

    res = CliRunner().invoke(app, ["eval", "--model", str(tiny_model), "--suite", "fin_tiny", "--run", "nope",
                                   "--store", str(store.root)])
    assert res.exit_code == 1 and "no run 'nope'" in res.output
    assert "eval fin_tiny" not in res.output  # no progress bar: nothing was evaluated


def test_compare_snapshot_shows_completed_scored_runs_only(store):
    from huijin.cli import app
    from training.evaluation import store_scores

    with store.writer("d", kind="doc") as w:
        w.write([{"id": "1", "text": "x"}])
    store.snapshots.create("s", {"cpt": [("d@1", 1.0)]})
    summary = {"suite": "fin_tiny", "overall": 0.5, "n": 2, "unscorable": 0,
               "tasks": {"finqa": {"n": 2, "scored": 2, "accuracy": 0.5}}, "taxonomy": {}, "lang": {}}
    for rid, status, scored in [("cpt-a", "completed", True), ("cpt-b", "completed", False),
                                ("sft-c", "failed", True), ("sft-d", "completed", True)]:
        store.runs.start(rid.split("-")[0], snapshot="s", run_id=rid)
        if scored:
            store_scores(store, rid, {**summary, "overall": 0.25 if rid == "sft-d" else 0.5})
        store.runs.finish(rid, status=status)
    res = CliRunner().invoke(app, ["eval", "compare", "--snapshot", "s", "--store", str(store.root), "--json"])
    assert res.exit_code == 0, res.output
    table = json.loads(res.stdout)
    assert table["runs"] == ["cpt-a", "sft-d"] and table["columns"] == ["metric", "cpt", "sft"]
    assert table["rows"][0] == {"metric": "overall", "cpt": 0.5, "sft": 0.25}
