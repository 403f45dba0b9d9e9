"""Stages on DeepSpeed (CPU, gloo): cpt→sft chain from a snapshot, runs recorded, exact resume after SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CFG = {"seq_len": 128, "micro_batch": 2, "grad_accum": 2, "max_steps": 6, "save_every": 2, "threads": 1,
       "eval_every": 3, "sft": {"seq_len": 384, "max_steps": 4, "decay_fraction": 0.5}}


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    from catalogs import Store
    from training.demo_data import build_inputs
    from training.tiny import train_tokenizer

    root = tmp_path_factory.mktemp("trun")
    store = Store.open(root / "store")
    with store.writer("seed-text", kind="doc") as w:
        import random

        from training.demo_data import filing_text

        rng = random.Random(5)
        w.write([{"id": f"s{i}", "text": filing_text(rng), "source": "demo"} for i in range(100)])
    tok = train_tokenizer((r["text"] for r in store.iter_records(w.manifest)), root / "tok", vocab_size=512)
    build_inputs(store, n_docs=150, n_conv=40, snapshot="snap", tokenizer=str(tok))
    return {"store": store, "root": root}


def _run_cpt(env, out: Path, extra_env: dict | None = None, seed: int = 1234) -> subprocess.CompletedProcess:
    code = ("import json,sys; from catalogs import Store; from training.launch import run_stages; "
            f"run_stages(Store.open({str(env['store'].root)!r}), 'snap', ['cpt'], model='tiny', output={str(out)!r}, "
            f"config={{**json.loads(sys.argv[1]), 'seed': {seed}}})")
    from training.engine import child_env

    e = {**child_env(), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **(extra_env or {})}
    return subprocess.run([sys.executable, "-c", code, json.dumps(CFG)], env=e, capture_output=True, text=True,
                          timeout=300, cwd=str(ROOT))


def _last_per_step(path: Path) -> dict[int, dict]:
    out = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        out[rec["step"]] = rec  # a step redone after resume overwrites the killed attempt
    return out


def test_sigkill_and_resume_match_uninterrupted_run(env, tmp_path):
    ref = _run_cpt(env, tmp_path / "ref")
    assert ref.returncode == 0, ref.stderr[-3000:]
    killed = _run_cpt(env, tmp_path / "kill", {"HUIJIN_TRAIN_KILL_AFTER_STEP": "3"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    runs = {r["run_id"]: r for r in env["store"].runs.ls()}
    kill_run = [r for r in runs.values() if r["status"] == "running"]
    assert len(kill_run) == 1  # the killed stage is left as running: nothing pretends it finished
    resumed = _run_cpt(env, tmp_path / "kill")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed at step 2 (8 sequences consumed)" in resumed.stdout
    a = _last_per_step(tmp_path / "ref" / "cpt" / "metrics.jsonl")
    b = _last_per_step(tmp_path / "kill" / "cpt" / "metrics.jsonl")
    assert sorted(a) == sorted(b) == list(range(1, 7))
    assert [a[s]["loss"] for s in a] == [b[s]["loss"] for s in a]  # bitwise on CPU
    assert [a[s]["grad_norm"] for s in a] == [b[s]["grad_norm"] for s in a]
    seen = [i for s in sorted(b) for i in range(*b[s]["samples"])]  # [start, stop) of plan sequences per step
    assert seen == list(range(6 * 4))  # every planned sequence once, in order: none repeated or skipped
    rec = env["store"].runs.get(kill_run[0]["run_id"])
    assert rec["status"] == "completed" and len(rec["checkpoints"]) == 3
    import filecmp

    assert filecmp.cmp(tmp_path / "ref/cpt/model/model.safetensors", tmp_path / "kill/cpt/model/model.safetensors",
                       shallow=False)
    # a different sample plan (seed) in the same output folder must not resume from these checkpoints
    other = _run_cpt(env, tmp_path / "kill", seed=99)
    assert other.returncode != 0 and "refusing to resume" in other.stderr


def test_cpt_sft_chain_from_snapshot(env, tmp_path, monkeypatch):
    import os

    from transformers import AutoModelForCausalLM

    from training.engine import DIST_VARS
    from training.launch import run_stages

    for k in DIST_VARS:
        monkeypatch.delenv(k, raising=False)
    store = env["store"]
    recs = run_stages(store, "snap", ["cpt", "sft"], model="tiny", output=tmp_path / "chain", config=CFG)
    # the in-process stages' rank/port variables are gone again: a later subprocess must not inherit them
    assert [k for k in DIST_VARS if k in os.environ] == []
    cpt, sft = recs
    assert [r["stage"] for r in recs] == ["cpt", "sft"] and all(r["status"] == "completed" for r in recs)
    assert sft["input_model"] == cpt["output_model"]  # one stage's output is the next one's input
    assert cpt["input_model"].endswith("base")
    for r in recs:
        assert r["snapshot"] == "snap" and r["config"]["plan_hash"] == r["metrics"]["plan_hash"]
        assert r["metrics"]["steps"] >= 4 and r["metrics"]["val_loss"] is not None and r["checkpoints"]
        m = AutoModelForCausalLM.from_pretrained(r["output_model"])
        assert m.config.num_hidden_layers == 2
    assert cpt["metrics"]["final_loss"] < cpt["metrics"]["first_loss"]
    steps = [json.loads(x) for x in (tmp_path / "chain" / "cpt" / "metrics.jsonl").read_text().splitlines()]
    for s in steps:  # per step: loss, LR, grad norm, tokens/s, padding ratio; MFU only with a known GPU peak
        assert s["loss"] > 0 and s["lr"] > 0 and s["grad_norm"] > 0 and s["tokens_per_s"] > 0
        assert 0 <= s["padding_ratio"] < 1 and "mfu" not in s
    assert steps[1]["lr"] > steps[-1]["lr"]  # cosine decay after warmup
    assert "val_loss" in steps[2]  # eval_every=3
    picks = cpt["metrics"]["picks"]  # docs were tokenized into tokens versions, 75/25 as the snapshot weighs
    assert sorted(k.split(".tok-")[0] for k in picks) == ["fin-docs", "gen-docs"]
    fin, gen = (v for k, v in sorted(picks.items()))
    assert abs(fin / (fin + gen) - 0.75) < 0.01
    # which data trained this checkpoint: one query over the catalog
    used = store.runs.data_of_model(sft["output_model"])
    assert [(u["stage"], u["dataset"]) for u in used] == [("sft", "fin-sft")]
    assert {u["dataset"] for u in store.runs.data_of_model(cpt["output_model"])} == {"fin-docs", "gen-docs"}
    from training.launch import model_lineage

    chain = model_lineage(store, sft["output_model"])  # the SFT model's data includes the CPT data under it
    assert [(c["stage"], sorted(d.split("@")[0] for d in c["data"])) for c in chain] == [
        ("sft", ["fin-sft"]), ("cpt", ["fin-docs", "gen-docs"])]
    art = store.resolve(sft["metrics"]["artifact"])  # exported model registered with its data as parents
    assert art.kind == "artifact" and {p["name"] for p in art.parents} == {"fin-sft"}
    assert AutoModelForCausalLM.from_pretrained(str(store.artifacts.path(art.ref))).config.num_hidden_layers == 2
    listed = {r["run_id"]: r for r in store.runs.ls(snapshot="snap")}
    assert cpt["run_id"] in listed and sft["run_id"] in listed
    # the SFT model learned the answer format: assistant-token loss fell
    assert sft["metrics"]["final_loss"] < sft["metrics"]["first_loss"]
    # SFT's decay_fraction reached the scheduler: each step's line shows the LR that step used (the warmup–stable–
    # decay multiplier of its index; it showed the next step's before)
    from training.engine import lr_lambda, warmup_steps

    sft_lr = [json.loads(x)["lr"] for x in (tmp_path / "chain" / "sft" / "metrics.jsonl").read_text().splitlines()
              if "lr" in json.loads(x)]
    peak, cfg = sft["config"]["lr"], sft["config"]
    f = lr_lambda(warmup_steps(cfg, 4), 4, cfg["min_lr_ratio"], 0.5)
    assert sft_lr == pytest.approx([peak * f(k) for k in range(4)])


def test_cli_json_stdout_and_changed_config_refused_on_resume(env, tmp_path):
    from typer.testing import CliRunner

    from huijin.cli import app

    store = env["store"]
    base = ["train", "run", "--snapshot", "snap", "--stages", "cpt", "--output", str(tmp_path / "o"), "--store",
            str(store.root), "--set", "seq_len=128", "--set", "max_steps=1", "--set", "threads=1", "--json"]
    res = CliRunner().invoke(app, [*base, "--set", "cpt.lr=2e-3"])
    assert res.exit_code == 0, res.output
    recs = json.loads(res.stdout)  # progress lines went to stderr: stdout is only the JSON
    assert "step     1/1" in res.stderr
    assert recs[0]["status"] == "completed" and recs[0]["config"]["lr"] == 0.002  # 2e-3 parsed as a number
    again = CliRunner().invoke(app, [*base, "--set", "cpt.lr=1e-3"])
    assert again.exit_code == 1 and "another config (lr 0.002 → 0.001)" in " ".join(again.output.split())
    rec = store.runs.get(recs[0]["run_id"])
    assert rec["status"] == "completed" and rec["config"]["lr"] == 0.002  # the record still tells the truth
    same = CliRunner().invoke(app, [*base, "--set", "cpt.lr=2e-3", "--set", "keep_checkpoints=5"])
    assert same.exit_code == 0, same.output  # a resume-neutral key does not block resuming
    assert json.loads(same.stdout)[0]["metrics"]["steps"] == 1


def test_sigterm_records_the_run_as_killed(env, tmp_path):
    from training.engine import child_env

    store = env["store"]
    cmd = [sys.executable, "-c", "from huijin.cli import app; app()", "train", "run", "--snapshot", "snap",
           "--stages", "cpt", "--output", str(tmp_path / "t"), "--store", str(store.root), "--set", "seq_len=128",
           "--set", "max_steps=10000", "--set", "save_every=0", "--set", "threads=1", "--set", "cpt.epochs=50.0"]
    e = {**child_env(), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    p = subprocess.Popen(cmd, env=e, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in p.stdout:  # wait until it trains
            if line.startswith("step "):
                break
        p.send_signal(signal.SIGTERM)
        out = p.communicate(timeout=120)[0]
    finally:
        p.kill()
    assert p.returncode not in (0, None), out[-2000:]
    runs = [store.runs.get(r["run_id"]) for r in store.runs.ls(snapshot="snap")
            if (r["input_model"] or "").startswith(str(tmp_path / "t"))]
    assert len(runs) == 1 and runs[0]["status"] == "killed" and "SIGTERM" in runs[0]["metrics"]["error"]
