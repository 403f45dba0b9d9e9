"""RL stages through the one stage runner: checkpoint pruning (keep_checkpoints), DAPO dynamic sampling with
its logged zero-variance shares, the difficulty band, overlong shaping, and the plan's one validation-split rule."""

from __future__ import annotations

import json

import pytest

BASE = {"prompts_per_step": 4, "group_size": 4, "max_new_tokens": 1, "max_total_tokens": 64, "lr": 3e-3,
        "warmup_steps": 0, "update_micro_batch": 8, "val_fraction": 0.1, "zero_stage": 1, "threads": 1, "seed": 7,
        "val_reward": False, "save_every": 0}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from catalogs import Store
    from training.rl.toy import build_toy_model, toy_records

    tmp = tmp_path_factory.mktemp("rldyn")
    store = Store.open(tmp / "store")
    recs = toy_records(120, seed=3)
    for i, r in enumerate(recs):
        r["difficulty"] = (i % 10) / 10  # 0.0 … 0.9
    with store.writer("toy-rl", kind="rl", recipe={"generator": "toy"}) as w:
        w.write(recs)
    model = build_toy_model(tmp / "base", seed=0)
    store.snapshots.create("rl-snap", {"reasoning_rl": [("toy-rl@1", 1.0)]})
    return store, str(model), tmp


@pytest.fixture()
def in_process(monkeypatch):
    from training.engine import DIST_VARS, free_port

    for k in DIST_VARS:
        monkeypatch.delenv(k, raising=False)
    for k, v in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("HUIJIN_TRAIN_KILL_AFTER_STEP", raising=False)


def _lines(out) -> list[dict]:
    return [json.loads(x) for x in (out / "reasoning_rl" / "metrics.jsonl").read_text().splitlines()]


def test_rl_keeps_only_keep_checkpoints(setup, in_process):
    from training.launch import run_stages

    store, model, tmp = setup
    cfg = {"reasoning_rl": {**BASE, "max_steps": 4, "save_every": 1, "keep_checkpoints": 2}}
    rec = run_stages(store, "rl-snap", ["reasoning_rl"], model=model, output=tmp / "keep", config=cfg)[0]
    ckpt = tmp / "keep" / "reasoning_rl" / "checkpoints"
    assert sorted(p.name for p in ckpt.glob("step*")) == ["step0000003", "step0000004"]
    assert (ckpt / "latest").read_text().strip() == "step0000004"
    assert rec["status"] == "completed" and len(rec["checkpoints"]) == 4  # every save recorded, old ones pruned


def _fake_scores(const_ids: set[str], group_size: int):
    """Reward 0 for every completion of a prompt in ``const_ids`` (a group without signal), else 0/1 alternating."""
    def score(records, samples, judge=None, reward_model=None):
        for i, s in enumerate(samples):
            rid = records[s.prompt_index]["id"]
            s.reward = 0.0 if rid in const_ids else float(i % group_size % 2)
            s.reward_reason = "fake"
    return score


def test_dynamic_sampling_refills_zero_variance_groups(setup, in_process, monkeypatch):
    import training.rl.step as step_mod
    from training.launch import run_stages
    from training.rl.grpo import has_signal

    store, model, tmp = setup
    ids = [r["id"] for r in store.iter_records("toy-rl@1", columns=["id"])]
    const = {i for n, i in enumerate(ids) if n % 2 == 0}  # half the prompts: reward constant
    monkeypatch.setattr(step_mod, "score_samples", _fake_scores(const, 4))
    seen_groups = []
    real_update = step_mod.grpo_update

    def spy(policy, tok, samples, rc, updater):
        seen_groups.append([[s.reward for s in samples[i:i + 4]] for i in range(0, len(samples), 4)])
        return real_update(policy, tok, samples, rc, updater)

    monkeypatch.setattr(step_mod, "grpo_update", spy)
    cfg = {"reasoning_rl": {**BASE, "max_steps": 3, "dynamic_sampling_max_batches": 8}}
    rec = run_stages(store, "rl-snap", ["reasoning_rl"], model=model, output=tmp / "dyn", config=cfg)[0]
    lines = _lines(tmp / "dyn")
    assert len(lines) == 3 and len(seen_groups) == 3
    by_idx = dict(zip(range(len(ids)), ids, strict=True))
    for line, groups in zip(lines, seen_groups, strict=True):
        first = [by_idx[int(p.split(":")[1])] for p in line["prompts"][:4]]  # the step's first rollout batch
        assert line["zero_var_before"] == sum(i in const for i in first) / 4  # logged share before refilling
        assert line["zero_var_after"] == 0.0 and line["zero_std_group_frac"] == 0.0
        assert len(groups) == 4 and all(has_signal(g) for g in groups)  # the trained batch: every group teaches
        assert line["samples_trained"] == 16 and line["rollout_batches"] == len(line["prompts"]) // 4
    assert any(x["zero_var_before"] > 0 for x in lines)  # refilling had something to do
    m = rec["metrics"]
    assert m["consumed_prompts"] == sum(len(x["prompts"]) for x in lines)  # refills are consumed prompts
    assert m["zero_var_after"] == 0.0 and m["zero_var_before"] > 0

    # the cap: with every prompt constant, a step stops after the cap and trains on what it has (nothing)
    monkeypatch.setattr(step_mod, "score_samples", _fake_scores(set(ids), 4))
    seen_groups.clear()
    cfg = {"reasoning_rl": {**BASE, "max_steps": 2, "dynamic_sampling_max_batches": 2, "allow_no_signal": True}}
    run_stages(store, "rl-snap", ["reasoning_rl"], model=model, output=tmp / "cap", config=cfg)
    capped = _lines(tmp / "cap")
    assert [x["rollout_batches"] for x in capped] == [2, 2]
    assert all(x["zero_var_before"] == x["zero_var_after"] == 1.0 and x["samples_trained"] == 0 for x in capped)


def test_dynamic_sampling_off_trains_the_first_batch(setup, in_process, monkeypatch):
    import training.rl.step as step_mod
    from training.launch import run_stages

    store, model, tmp = setup
    ids = [r["id"] for r in store.iter_records("toy-rl@1", columns=["id"])]
    monkeypatch.setattr(step_mod, "score_samples", _fake_scores({i for n, i in enumerate(ids) if n % 2 == 0}, 4))
    run_stages(store, "rl-snap", ["reasoning_rl"], model=model, output=tmp / "off",
               config={"reasoning_rl": {**BASE, "max_steps": 2}})
    for x in _lines(tmp / "off"):
        assert len(x["prompts"]) == 4 and x["rollout_batches"] == 1
        assert x["zero_var_after"] == x["zero_var_before"] == x["zero_std_group_frac"]


def test_difficulty_band_and_one_validation_split(setup):
    import numpy as np

    from training.plan import make_spec, split_and_pick
    from training.rl.prompts import build_prompt_plan, difficulty, load_sources

    store, _, _ = setup
    m = store.resolve("toy-rl@1")
    order = {"strategy": "rl_prompts", "difficulty_min": 0.2, "difficulty_max": 0.6}
    spec = make_spec(store, "reasoning_rl", [(m, 1.0)], 64, 7, 1.0, order, 0.1)
    rows = load_sources(store, spec)
    plan = build_prompt_plan(spec, rows)
    ds = [difficulty(plan.record(r)) for r in plan.train]
    assert ds and all(0.2 <= d <= 0.6 for d in ds)
    assert sum(plan.dropped.values()) == 108 - len(plan.train) and set(plan.dropped) == {"too_easy", "too_hard"}
    # the held-out prompts are the sample plan's own split (one rule), never filtered by the band
    _, val, _ = split_and_pick(spec, [len(rows[0])])
    assert [i for _, i in plan.val] == val[0].tolist() and len(plan.val) == 12
    assert not set(plan.val) & set(plan.train)
    assert difficulty({"difficulty": None, "meta": json.dumps({"teacher_pass@k": 0.75})}) == 0.25
    assert difficulty({"meta": "{}"}) is None
    assert np.isclose(difficulty({"difficulty": 0.3}), 0.3)


@pytest.mark.parametrize("length,want", [(4, 0.0), (6, 0.0), (7, -0.25), (9, -0.75), (10, -1.0), (12, -1.0)])
def test_overlong_penalty_table(length, want):
    from training.rl.grpo import overlong_penalty

    assert overlong_penalty(length, max_len=10, buffer=4, factor=1.0) == pytest.approx(want)
    assert overlong_penalty(length, max_len=10, buffer=0) == 0.0


def test_has_signal():
    from training.rl.grpo import has_signal

    assert has_signal([0.0, 1.0]) and not has_signal([1.0, 1.0]) and not has_signal([None, 1.0])
    assert has_signal([None, 0.0, 0.5])


def test_rl_config_checks():
    from training.plan import PlanError
    from training.stages import check_config, stage_config

    cfg = stage_config("reasoning_rl", "tiny")
    assert cfg["keep_checkpoints"] == 3 and cfg["dynamic_sampling_max_batches"] == 0
    check_config("reasoning_rl", cfg)
    for bad in ({"dynamic_sampling_max_batches": -1}, {"difficulty_min": 1.5}, {"overlong_buffer": "x"},
                {"difficulty_min": 0.8, "difficulty_max": 0.2}):
        with pytest.raises(PlanError, match="stage reasoning_rl"):
            check_config("reasoning_rl", {**cfg, **bad})


def test_no_signal_warns_each_step_and_fails_the_stage(setup, in_process, monkeypatch, capfd):
    """A reward that is constant on every prompt gives GRPO nothing: each step's line says so, and the stage
    fails (no model, run record 'failed' with the reason) unless allow_no_signal keeps the unchanged model."""
    import training.rl.step as step_mod
    from training.launch import run_stages

    store, model, tmp = setup
    ids = {r["id"] for r in store.iter_records("toy-rl@1", columns=["id"])}
    monkeypatch.setattr(step_mod, "score_samples", _fake_scores(ids, 4))  # every group all 0
    with pytest.raises(Exception, match="no signal"):
        run_stages(store, "rl-snap", ["reasoning_rl"], model=model, output=tmp / "dead",
                   config={"reasoning_rl": {**BASE, "max_steps": 2}})
    out = capfd.readouterr().out
    assert out.count("warning: no update, every group's rewards were equal") == 2
    failed = [r for r in store.runs.ls() if r["status"] == "failed"]
    assert failed and "--allow-no-signal" in json.loads(failed[-1]["metrics"])["error"]
    assert not (tmp / "dead" / "reasoning_rl" / "model").exists()
    rec = run_stages(store, "rl-snap", ["reasoning_rl"], model=model, output=tmp / "dead-ok",
                     config={"reasoning_rl": {**BASE, "max_steps": 2, "allow_no_signal": True}})[0]
    assert rec["status"] == "completed"
    # one step with signal is enough: half the prompts constant, half alternating
    monkeypatch.setattr(step_mod, "score_samples", _fake_scores({i for n, i in enumerate(sorted(ids)) if n % 2}, 4))
    rec = run_stages(store, "rl-snap", ["reasoning_rl"], model=model, output=tmp / "alive",
                     config={"reasoning_rl": {**BASE, "max_steps": 2}})[0]
    assert rec["status"] == "completed"
