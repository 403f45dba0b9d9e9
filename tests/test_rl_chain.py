"""All five stages chained from one snapshot on the tiny model (CPU): cpt → sft → reasoning_rl → agentic_rl →
general_rl, each a catalog run whose output model is the next one's input, evaluated and compared."""

from __future__ import annotations

import json
import random

from training.rl.toy import write_toy_rl_versions

TINY_RL = {"prompts_per_step": 2, "group_size": 4, "max_new_tokens": 8, "max_total_tokens": 256, "max_steps": 2,
           "save_every": 2, "lr": 1e-3, "warmup_steps": 0, "update_micro_batch": 8, "val_fraction": 0.1,
           "threads": 1}
# plumbing on a random-init model: an RL stage whose every reward is equal is expected here, not a failure
CONFIG = {"max_steps": 2, "save_every": 2, "threads": 1, "allow_no_signal": True, "reasoning_rl": TINY_RL,
          "agentic_rl": {**TINY_RL, "max_turns": 2}, "general_rl": TINY_RL}


def _docs(n: int) -> list[dict]:
    rng = random.Random(0)
    words = "revenue margin bond yield equity cash flow dividend credit risk rate growth 营业收入 净利润".split()
    return [{"id": f"d{i}", "text": " ".join(rng.choice(words) for _ in range(80)), "source": "test", "lang": "en"}
            for i in range(n)]


def _sft(n: int) -> list[dict]:
    return [{"id": f"s{i}", "messages": [{"role": "user", "content": f"What is {i} plus {i}?"},
                                          {"role": "assistant", "content": f"\\boxed{{{2 * i}}}"}],
             "taxonomy": "general/math/add", "lang": "en"} for i in range(n)]


def test_five_stage_chain_from_one_snapshot(store, tmp_path, shared_data, monkeypatch):
    from training.engine import free_port
    from training.evaluation import ablation, evaluate_runs
    from training.launch import run_stages

    monkeypatch.setenv("HUIJIN_EVAL_DATA", str(shared_data))
    # the stages run in this process: set the single-rank variables here so they are undone after the test
    for k, v in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1",
                 "MASTER_PORT": str(free_port())}.items():
        monkeypatch.setenv(k, v)
    refs = {}
    for name, kind, rows in [("docs", "doc", _docs(200)), ("sft-x", "sft", _sft(40))]:
        with store.writer(name, kind=kind) as w:
            w.write(rows)
        refs[name] = w.manifest.ref
    refs.update(write_toy_rl_versions(store, 40))
    store.snapshots.create("chain", {"cpt": [(refs["docs"], 1.0)], "sft": [(refs["sft-x"], 1.0)],
                                     "reasoning_rl": [(refs["toy-reasoning-rl"], 1.0)],
                                     "agentic_rl": [(refs["toy-agentic-rl"], 1.0)],
                                     "general_rl": [(refs["toy-general-rl"], 0.5), (refs["toy-reasoning-rl"], 0.5)]})
    stages = ["cpt", "sft", "reasoning_rl", "agentic_rl", "general_rl"]
    recs = run_stages(store, "chain", stages, model="tiny", output=tmp_path / "out", config=CONFIG)
    assert [r["stage"] for r in recs] == stages and all(r["status"] == "completed" for r in recs)
    for a, b in zip(recs, recs[1:], strict=False):
        assert b["input_model"] == a["output_model"]  # each stage starts from the previous stage's export
    ag = recs[3]["metrics"]
    assert ag["rollout"] == "agentic" and ag["steps"] == 2 and ag["consumed_prompts"] == 4
    gen = recs[4]["metrics"]
    assert gen["train_prompts"] > 0 and gen["steps"] == 2
    lines = [json.loads(x) for x in (tmp_path / "out" / "general_rl" / "metrics.jsonl").read_text().splitlines()]
    assert all("reward_none" in x and "t_generate" in x for x in lines)
    # which data trained the final model: one query, through every stage
    assert {d["dataset"] for d in store.runs.data_of_model(recs[-1]["output_model"])} == {"toy-general-rl", "toy-reasoning-rl"}
    evaluate_runs(store, [r["run_id"] for r in recs], "fin_tiny", limit=2)
    table = ablation(store, [r["run_id"] for r in recs], "fin_tiny", detail=False)
    assert table["columns"] == ["metric", "base", *stages]
    assert all(row[c] is not None for row in table["rows"][:1] for c in table["columns"][1:])
