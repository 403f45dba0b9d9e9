"""The reasoning_rl stage through the trainer's stage registry: a catalog run from a snapshot, DeepSpeed engine,
checkpoints with consumed prompts and RNG, and exact resume after SIGKILL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CFG = {"reasoning_rl": {"prompts_per_step": 4, "group_size": 4, "max_new_tokens": 1, "max_total_tokens": 64,
                        "lr": 3e-3, "warmup_steps": 0, "max_steps": 5, "save_every": 2, "update_micro_batch": 8,
                        "val_fraction": 0.1, "zero_stage": 1, "threads": 1, "seed": 7}}

RUN = """
import json, sys
from catalogs import Store
import training.rl  # registers the RL stages
from training.launch import run_stages
recs = run_stages(Store.open(sys.argv[1]), "rl-snap", ["reasoning_rl"], model=sys.argv[2], output=sys.argv[3],
                  config=json.loads(sys.argv[4]))
print("RUNS", json.dumps([r["run_id"] for r in recs]))
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from catalogs import Store
    from training.rl.toy import build_toy_model, toy_records

    tmp = tmp_path_factory.mktemp("rlstage")
    store = Store.open(tmp / "store")
    with store.writer("toy-rl", kind="rl", recipe={"generator": "toy"}) as w:
        w.write(toy_records(120, seed=3))
    model = build_toy_model(tmp / "base", seed=0)
    store.snapshots.create("rl-snap", {"reasoning_rl": [("toy-rl@1", 1.0)]})
    return store, model, tmp


def _run(store, model, out, kill_after=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    for k in ("HUIJIN_TRAIN_KILL_AFTER_STEP", "RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)  # an in-process stage run earlier in this session may have set them
    if kill_after:
        env["HUIJIN_TRAIN_KILL_AFTER_STEP"] = str(kill_after)
    return subprocess.run([sys.executable, "-c", RUN, str(store.root), str(model), str(out), json.dumps(CFG)],
                          env=env, capture_output=True, text=True, timeout=300, cwd=str(ROOT))


def _steps(out: Path) -> dict[int, dict]:
    last = {}
    for line in (out / "reasoning_rl" / "metrics.jsonl").read_text().splitlines():
        r = json.loads(line)
        last[r["step"]] = r  # a resumed run re-does the steps after its last checkpoint: keep the final one
    return last


def test_sigkill_resume_matches_uninterrupted_run(setup):
    store, model, tmp = setup
    full = _run(store, model, tmp / "full")
    assert full.returncode == 0, full.stderr[-3000:]
    killed = _run(store, model, tmp / "resumed", kill_after=3)
    assert killed.returncode == -9, killed.stderr[-2000:]  # SIGKILL after step 3 (checkpoint at step 2)
    resumed = _run(store, model, tmp / "resumed")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed at step 2 (8 prompts consumed)" in resumed.stdout
    a, b = _steps(tmp / "full"), _steps(tmp / "resumed")
    assert sorted(a) == sorted(b) == [1, 2, 3, 4, 5]
    for s in a:
        for k in ("prompts", "reward_mean", "reward_std", "loss", "grad_norm", "completion_len_mean"):
            assert a[s][k] == b[s][k], (s, k, a[s][k], b[s][k])  # bitwise on CPU with fixed seeds
    # no prompt repeated or skipped across the kill
    seen = [p for s in sorted(b) for p in b[s]["prompts"]]
    assert len(seen) == len(set(seen)) == 20
    # both are catalog runs with their metrics; the exported model loads
    run_id = json.loads(resumed.stdout.split("RUNS", 1)[1])[0]
    rec = store.runs.get(run_id)
    assert rec["stage"] == "reasoning_rl" and rec["status"] == "completed" and rec["snapshot"] == "rl-snap"
    m = rec["metrics"]
    assert m["steps"] == 5 and m["consumed_prompts"] == 20 and m["rollout"] == "single"
    assert m["val_prompts"] == 12 and m["val_reward"] is not None
    assert len(rec["checkpoints"]) >= 2
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(rec["output_model"])
    full_final = json.loads((tmp / "full" / "reasoning_rl" / "result.json").read_text())["metrics"]
    assert full_final["reward_last"] == m["reward_last"] and full_final["val_reward"] == m["val_reward"]


TWO = """
import json, sys
from catalogs import Store
import training.rl
from training.launch import run_stages
cfg = {"reasoning_rl": {"prompts_per_step": 4, "group_size": 4, "max_new_tokens": 1, "lr": 3e-3, "warmup_steps": 0,
                        "max_steps": 3, "save_every": 3, "zero_stage": 2}}
recs = run_stages(Store.open(sys.argv[1]), "rl-snap", ["reasoning_rl"], model=sys.argv[2], output=sys.argv[3],
                  config=cfg, gpus=2)
print("METRICS", json.dumps(recs[0]["metrics"]))
"""


@pytest.mark.slow
def test_two_process_zero2_through_the_launcher(setup):
    store, model, tmp = setup
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR",
                                                              "MASTER_PORT", "HUIJIN_TRAIN_KILL_AFTER_STEP")}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-c", TWO, str(store.root), str(model), str(tmp / "two")], env=env,
                       capture_output=True, text=True, timeout=600, cwd=str(ROOT))
    assert p.returncode == 0, p.stderr[-3000:]
    m = json.loads(p.stdout.split("METRICS", 1)[1])
    assert m["world_size"] == 2 and m["steps"] == 3 and m["consumed_prompts"] == 12
    lines = [json.loads(x) for x in (tmp / "two" / "reasoning_rl" / "metrics.jsonl").read_text().splitlines()]
    assert [x["step"] for x in lines] == [1, 2, 3] and all(x["rollout_tokens"] == 16 for x in lines)  # both ranks
