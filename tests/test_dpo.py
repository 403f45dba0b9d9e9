"""DPO: the loss against its formulas (table of cases), and the ``dpo`` stage on the tiny model through the one
stage runner — held-out chosen-vs-rejected log-prob margin rises; SIGKILL + resume is bit-equal on CPU;
precomputed and online reference log-probs agree."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CFG = {"dpo": {"seq_len": 96, "micro_batch": 4, "grad_accum": 2, "lr": 2e-3, "warmup_steps": 0, "max_steps": 6,
               "save_every": 2, "eval_every": 0, "val_fraction": 0.2, "zero_stage": 1, "threads": 1, "seed": 3,
               "beta": 0.1, "register_artifact": False}}


@pytest.mark.parametrize("loss_type,eps,h_logps,expect", [
    # h = (pc - rc) - (pr - rr); sigmoid: -log σ(βh); cDPO: -(1-ε) log σ(βh) - ε log σ(-βh); ipo: (h - 1/2β)^2
    ("sigmoid", 0.0, (-1.0, -3.0, -2.0, -2.0), -math.log(1 / (1 + math.exp(-0.1 * 2.0)))),
    ("sigmoid", 0.0, (-2.0, -2.0, -2.0, -2.0), math.log(2.0)),
    ("sigmoid", 0.2, (-1.0, -3.0, -2.0, -2.0), -0.8 * math.log(1 / (1 + math.exp(-0.2))) - 0.2 * math.log(1 / (1 + math.exp(0.2)))),
    ("ipo", 0.0, (-1.0, -3.0, -2.0, -2.0), (2.0 - 1 / 0.2) ** 2),
])
def test_dpo_loss_formulas(loss_type, eps, h_logps, expect):
    import torch

    from training.dpo_loss import dpo_loss

    pc, pr, rc, rr = (torch.tensor([v]) for v in h_logps)
    loss, rew_c, rew_r = dpo_loss(pc, pr, rc, rr, beta=0.1, loss_type=loss_type, label_smoothing=eps)
    assert float(loss) == pytest.approx(expect, rel=1e-5)
    assert float(rew_c) == pytest.approx(0.1 * (h_logps[0] - h_logps[2]))
    assert float(rew_r) == pytest.approx(0.1 * (h_logps[1] - h_logps[3]))


def test_sequence_logps_counts_only_completion_tokens():
    import torch

    from training.dpo_loss import sequence_logps

    logits = torch.zeros(1, 4, 5)  # uniform: every token has log-prob -log 5
    ids = torch.tensor([[1, 2, 3, 4]])
    mask = torch.tensor([[0, 0, 1, 1]])
    s, n = sequence_logps(logits, ids, mask)
    assert float(n) == 2 and float(s) == pytest.approx(-2 * math.log(5))


def pref_pairs(n: int, seed: int) -> list[dict]:
    """Pairs where the chosen answer states the sum and the rejected one hedges (a preference a tiny model can
    learn from a few steps and that carries over to held-out prompts)."""
    from synthesis.generators.records import pref_record, provenance

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, b = rng.randrange(10, 99), rng.randrange(10, 99)
        prompt = [{"role": "user", "content": f"What is {a} plus {b}?"}]
        chosen = [{"role": "assistant", "content": f"The answer is {a + b}."}]
        rejected = [{"role": "assistant", "content": f"Maybe {a} or {b}, hard to say."}]
        out.append(pref_record(prompt, chosen, rejected, {"chosen": 1.0, "rejected": 0.0}, "general/math/add", "en",
                               provenance("test", "t")))
    return out


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from catalogs import Store
    from training.tiny import tiny_chat_model

    tmp = tmp_path_factory.mktemp("dpo")
    store = Store.open(tmp / "store")
    recs = pref_pairs(100, seed=1)
    with store.writer("toy-pref", kind="pref", recipe={"generator": "test"}) as w:
        w.write(recs)
    texts = [m["content"] for r in recs for f in ("prompt", "chosen", "rejected") for m in r[f]]
    model = tiny_chat_model(tmp / "base", texts=texts, vocab_size=400)
    store.snapshots.create("pref-snap", {"dpo": [("toy-pref@1", 1.0)]})
    return store, model, tmp


RUN = """
import json, sys
from catalogs import Store
from training.launch import run_stages
recs = run_stages(Store.open(sys.argv[1]), "pref-snap", ["dpo"], model=sys.argv[2], output=sys.argv[3],
                  config=json.loads(sys.argv[4]))
print("RUNS", json.dumps([r["run_id"] for r in recs]))
"""


def _run(store, model, out, kill_after=None, cfg=CFG):
    from training.engine import child_env

    env = {**child_env(), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    env.pop("HUIJIN_TRAIN_KILL_AFTER_STEP", None)
    if kill_after:
        env["HUIJIN_TRAIN_KILL_AFTER_STEP"] = str(kill_after)
    return subprocess.run([sys.executable, "-c", RUN, str(store.root), str(model), str(out), json.dumps(cfg)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(ROOT))


def _steps(out: Path) -> dict[int, dict]:  # a step redone after a resume replaces the killed attempt
    last = {}
    for line in (out / "dpo" / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        last[r["step"]] = r
    return last


@pytest.fixture(scope="module")
def trained(setup, tmp_path_factory):
    """One in-process DPO run (precomputed reference) shared by the content checks below."""
    from training.engine import restored_dist_env
    from training.launch import run_stages

    store, model, _ = setup
    out = tmp_path_factory.mktemp("dpo-run")
    with restored_dist_env():
        (rec,) = run_stages(store, "pref-snap", ["dpo"], model=str(model), output=out, config=CFG)
    return rec, out


def test_dpo_margin_rises_on_held_out_pairs(setup, trained):
    store, _, _ = setup
    rec, out = trained
    m = rec["metrics"]
    assert rec["stage"] == "dpo" and rec["status"] == "completed" and m["steps"] == 6 and rec["checkpoints"]
    assert m["train_pairs"] == 80 and m["val_pairs"] == 20 and m["consumed_pairs"] == 48
    # the acceptance claim: on held-out pairs, log π(chosen) − log π(rejected) rises above the reference's
    assert m["val_logp_margin"] > m["val_logp_margin_ref"] + 1.0, m
    assert m["val_reward_accuracy"] >= 0.9 and m["reward_margin_last"] > m["reward_margin_first"]
    steps = _steps(out)
    assert steps[1]["loss"] == pytest.approx(math.log(2), abs=1e-4)  # policy == reference at the first step
    assert steps[6]["loss"] < steps[1]["loss"]
    held_out = {f"0:{i}" for i in range(100)} - {p for s in steps.values() for p in s["pairs"]}
    assert len(held_out) >= 20  # the held-out pairs were never trained on
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(rec["output_model"])  # the exported policy loads


class Killed(Exception):
    pass


def test_dpo_crash_and_resume_in_process_is_exact(setup, trained, tmp_path, monkeypatch, capsys):
    """The fast form of the SIGKILL test below: the runner's kill hook raises instead of SIGKILLing this process
    (after step 3, checkpoint at step 2); the rerun resumes at step 2 and reproduces the full run bit for bit."""
    import training.runner as runner
    from training.engine import restored_dist_env
    from training.launch import run_stages

    store, model, _ = setup

    def kill(pid, sig):
        raise Killed(f"step {runner.KILL_ENV}")

    monkeypatch.setattr(runner.os, "kill", kill)
    monkeypatch.setenv(runner.KILL_ENV, "3")
    with restored_dist_env(), pytest.raises(Killed):
        run_stages(store, "pref-snap", ["dpo"], model=str(model), output=tmp_path, config=CFG)
    monkeypatch.delenv(runner.KILL_ENV)
    capsys.readouterr()
    with restored_dist_env():
        (rec,) = run_stages(store, "pref-snap", ["dpo"], model=str(model), output=tmp_path, config=CFG)
    assert "resumed at step 2 (16 pairs consumed)" in capsys.readouterr().out
    lines = (tmp_path / "dpo" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2, 3, 3, 4, 5, 6]  # step 3 redone after the crash
    a, b = _steps(trained[1]), _steps(tmp_path)
    assert sorted(b) == [1, 2, 3, 4, 5, 6]
    for s in a:
        for k in ("pairs", "loss", "grad_norm", "reward_margin", "logp_margin"):
            assert a[s][k] == b[s][k], (s, k, a[s][k], b[s][k])
    assert rec["metrics"]["val_logp_margin"] == trained[0]["metrics"]["val_logp_margin"]


@pytest.mark.slow
def test_dpo_sigkill_resume_is_exact(setup, trained):
    """SIGKILL after step 3 (checkpoint at 2), resume: the same pairs, bit-equal losses and grad norms."""
    store, model, tmp = setup
    _, full_out = trained
    killed = _run(store, model, tmp / "resumed", kill_after=3)
    assert killed.returncode == -9, killed.stderr[-2000:]
    resumed = _run(store, model, tmp / "resumed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed at step 2 (16 pairs consumed)" in resumed.stdout
    a, b = _steps(full_out), _steps(tmp / "resumed")
    assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5, 6]
    for s in a:
        for k in ("pairs", "loss", "grad_norm", "reward_margin", "logp_margin"):
            assert a[s][k] == b[s][k], (s, k, a[s][k], b[s][k])  # bitwise on CPU with fixed seeds
    seen = [p for s in sorted(b) for p in b[s]["pairs"]]
    assert len(seen) == len(set(seen)) == 48  # no pair repeated or skipped across the kill
    rb = store.runs.get(json.loads(resumed.stdout.split("RUNS", 1)[1])[0])["metrics"]
    assert rb["val_logp_margin"] == json.loads((full_out / "dpo" / "result.json").read_text())["metrics"][
        "val_logp_margin"]


def test_online_reference_matches_precomputed(setup, trained, tmp_path):
    from training.engine import restored_dist_env
    from training.launch import run_stages

    store, model, _ = setup
    cfg = {"dpo": {**CFG["dpo"], "max_steps": 1, "save_every": 0, "reference": "online"}}
    with restored_dist_env():
        (rec,) = run_stages(store, "pref-snap", ["dpo"], model=str(model), output=tmp_path / "online", config=cfg)
    step = _steps(tmp_path / "online")[1]
    assert rec["metrics"]["reference"] == "online"
    first = _steps(trained[1])[1]
    assert step["pairs"] == first["pairs"]
    assert step["loss"] == pytest.approx(first["loss"], abs=1e-6)  # the frozen copy scores what precompute did
    assert rec["metrics"]["val_logp_margin_ref"] == pytest.approx(trained[0]["metrics"]["val_logp_margin_ref"],
                                                                  abs=1e-4)


def test_precomputed_reference_scores_each_pair_once(setup, tmp_path):
    """12 steps × 8 pairs of a 2-epoch plan read some pairs twice: the reference scores each pair read, and each
    held-out pair, once (it scored them once per reading), and the steps with repeated pairs still see policy ==
    reference (the looked-up reference is the right one)."""
    from training.engine import restored_dist_env
    from training.launch import run_stages

    store, model, _ = setup
    cfg = {"dpo": {**CFG["dpo"], "max_steps": 12, "save_every": 0, "lr": 1e-9, "epochs": 2.0}}  # policy ≈ reference
    with restored_dist_env():
        (rec,) = run_stages(store, "pref-snap", ["dpo"], model=str(model), output=tmp_path / "rep", config=cfg)
    m, steps = rec["metrics"], _steps(tmp_path / "rep")
    read = [p for s in sorted(steps) for p in steps[s]["pairs"]]
    assert m["consumed_pairs"] == len(read) == 96 and len(set(read)) < 96  # two epochs, shuffled: repeats
    assert m["reference_pairs_scored"] == len(set(read)) + m["val_pairs"]  # each read pair once, and the held-out
    # policy == reference at every step, the repeated pairs' too: each step's loss is exactly log 2
    assert all(steps[s]["loss"] == pytest.approx(math.log(2), abs=1e-4) for s in steps)


def test_ipo_through_the_stage(setup, tmp_path):
    from training.engine import restored_dist_env
    from training.launch import run_stages

    store, model, _ = setup
    cfg = {"dpo": {**CFG["dpo"], "max_steps": 2, "save_every": 0, "loss_type": "ipo", "beta": 0.5}}
    with restored_dist_env():
        (rec,) = run_stages(store, "pref-snap", ["dpo"], model=str(model), output=tmp_path / "ipo", config=cfg)
    steps = _steps(tmp_path / "ipo")
    assert steps[1]["loss"] == pytest.approx((0 - 1 / (2 * 0.5)) ** 2, abs=1e-5)  # policy == reference: h = 0
    assert steps[2]["loss"] < steps[1]["loss"] and rec["metrics"]["loss_type"] == "ipo"


def test_bad_dpo_settings_refused_before_training(setup, tmp_path):
    from training.launch import run_stages
    from training.plan import PlanError

    store, model, _ = setup
    for bad, msg in (({"beta": 0}, "beta"), ({"loss_type": "hinge"}, "loss_type"),
                     ({"label_smoothing": 0.7}, "label_smoothing"), ({"reference": "lazy"}, "reference")):
        with pytest.raises(PlanError, match=msg):
            run_stages(store, "pref-snap", ["dpo"], model=str(model), output=tmp_path / "bad",
                       config={"dpo": {**CFG["dpo"], **bad}})
    assert not (tmp_path / "bad" / "dpo").exists()
