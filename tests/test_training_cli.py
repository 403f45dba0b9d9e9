"""`huijin train tokenize` / `huijin train run`: wiring, JSON output and clear errors (no training here)."""

from __future__ import annotations

import json

from typer.testing import CliRunner


def _app():
    from huijin.cli import app

    return app


def test_tokenize_cli_creates_then_reuses_version(store, tmp_path):
    from training.demo_data import build_inputs
    from training.tiny import train_tokenizer

    build_inputs(store, n_docs=60, n_conv=4)
    tok = train_tokenizer((r["text"] for r in store.iter_records("fin-docs@1")), tmp_path / "tok", 400)
    runner = CliRunner()
    args = ["train", "tokenize", "fin-docs@1", "--tokenizer", str(tok), "--store", str(store.root), "--json"]
    first = runner.invoke(_app(), args)
    assert first.exit_code == 0, first.output
    row = json.loads(first.stdout)
    assert row["docs"] == 60 and row["tokens"] > 60 and row["version"].startswith("fin-docs.tok-")
    again = json.loads(runner.invoke(_app(), args).stdout)
    assert again["version"] == row["version"]  # same doc version + same tokenizer: no new version
    bad = runner.invoke(_app(), ["train", "tokenize", "fin-sft@1", "--tokenizer", str(tok), "--store", str(store.root)])
    assert bad.exit_code == 1 and "is a 'sft' version" in bad.output


def test_run_cli_refuses_corrupted_shard_before_any_work(store, tmp_path):
    from training.demo_data import build_inputs

    build_inputs(store, n_docs=60, n_conv=4)
    shard = store.shard_paths("gen-docs@1")[0]
    data = bytearray(shard.read_bytes())
    data[-20] ^= 0x01
    shard.chmod(0o644)
    shard.write_bytes(bytes(data))
    res = CliRunner().invoke(_app(), ["train", "run", "--snapshot", "train-demo", "--stages", "cpt", "--output",
                                      str(tmp_path / "out"), "--store", str(store.root), "--set", "max_steps=1"])
    assert res.exit_code == 1
    out = " ".join(res.output.split())  # rich wraps long lines
    assert "refusing to train" in out and "gen-docs@1" in out and "sha256 mismatch" in out
    assert store.runs.ls(snapshot="train-demo") == [] and not (tmp_path / "out" / "tokenizer").exists()


def test_run_cli_unknown_stage_and_snapshot(store, tmp_path):
    from training.demo_data import build_inputs

    build_inputs(store, n_docs=30, n_conv=4)
    runner = CliRunner()
    base = ["train", "run", "--output", str(tmp_path / "o"), "--store", str(store.root)]
    res = runner.invoke(_app(), [*base, "--snapshot", "nope"])
    assert res.exit_code == 1 and "no snapshot 'nope'" in res.output
    res = runner.invoke(_app(), [*base, "--snapshot", "train-demo", "--stages", "cpt,dpo"])
    assert res.exit_code == 1 and "unknown stage 'dpo'" in res.output
    res = runner.invoke(_app(), [*base, "--snapshot", "train-demo", "--stages", "cpt", "--model", str(tmp_path / "x")])
    assert res.exit_code == 1 and "not a Hugging Face model folder" in res.output
