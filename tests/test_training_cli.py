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
    latest = runner.invoke(_app(), ["train", "tokenize", "fin-docs", "--tokenizer", str(tok), "--store",
                                    str(store.root), "--json"])
    assert json.loads(latest.stdout)["parent"] == "fin-docs@1"  # the resolved version, not the bare name
    wrong = runner.invoke(_app(), ["train", "tokenize", "fin-docs@1", "--tokenizer", str(tmp_path), "--store",
                                   str(store.root)])  # the folder above the tokenizer: one clear line
    assert wrong.exit_code == 1 and "no tokenizer.json or tokenizer_config.json" in " ".join(wrong.output.split())


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
    res = runner.invoke(_app(), [*base, "--snapshot", "train-demo", "--stages", "cpt,ppo"])
    assert res.exit_code == 2 and "unknown stage 'ppo'" in res.output  # a bad value: exit 2, before any work
    res = runner.invoke(_app(), [*base, "--snapshot", "train-demo", "--stages", "cpt", "--model", str(tmp_path / "x")])
    assert res.exit_code == 1 and "not a Hugging Face model folder" in res.output


def test_run_cli_no_stages_and_stage_missing_from_snapshot(store, tmp_path):
    from training.demo_data import build_inputs

    build_inputs(store, n_docs=30, n_conv=4)
    runner = CliRunner()
    base = ["train", "run", "--snapshot", "train-demo", "--output", str(tmp_path / "o"), "--store", str(store.root)]
    res = runner.invoke(_app(), [*base, "--stages", " , "])
    assert res.exit_code == 1 and "no stages given" in res.output and res.exception is not None
    assert isinstance(res.exception, SystemExit)  # a clear error line, not a traceback
    res = runner.invoke(_app(), [*base, "--stages", "cpt,agentic_rl"])
    out = " ".join(res.output.split())
    assert res.exit_code == 1 and "has no 'agentic_rl' stage" in out
    # refused before any work: no tiny tokenizer or model built, no run recorded
    assert not (tmp_path / "o" / "tokenizer").exists() and store.runs.ls(snapshot="train-demo") == []


def test_run_cli_bad_numeric_settings_are_one_clear_line(store, tmp_path):
    from training.demo_data import build_inputs

    build_inputs(store, n_docs=30, n_conv=4)
    runner = CliRunner()
    base = ["train", "run", "--snapshot", "train-demo", "--stages", "cpt,sft", "--output", str(tmp_path / "o"),
            "--store", str(store.root)]
    for sets, msg in [(["sft.micro_batch=0"], "stage sft: micro_batch must be a positive integer (got 0)"),
                      (["max_steps=abc"], "stage cpt: max_steps must be a positive integer, or null"),
                      (["cpt.lr=-1e-3"], "stage cpt: lr must be a positive number (got -0.001)")]:
        res = runner.invoke(_app(), [*base, *[x for s in sets for x in ("--set", s)]])
        assert res.exit_code == 1 and isinstance(res.exception, SystemExit), res.output
        assert msg in " ".join(res.output.split())
    # every stage's settings are checked before the first one starts: nothing built, nothing recorded
    assert not (tmp_path / "o" / "tokenizer").exists() and store.runs.ls(snapshot="train-demo") == []


def test_set_parses_scientific_floats():
    from huijin.common import parse_sets

    assert parse_sets(["sft.lr=1e-5", "lr=3.0e-4", "max_steps=20", "name=1e5x"]) == {
        "sft": {"lr": 1e-5}, "lr": 3e-4, "max_steps": 20, "name": "1e5x"}
    assert parse_sets(["generate.per_table=3", " k =2"], nest=False) == {"generate.per_table": 3, "k": 2}
