"""A branching stage plan pinned in a snapshot: base → CPT → {SFT → DPO; long-CoT SFT → reasoning RL}, both
branches trained from one CPT checkpoint, each node a run; ``eval compare`` shows every node of both branches."""

from __future__ import annotations

import json
import random

import pytest

GRAPH = {"nodes": {"cpt": {}, "sft": {"after": "cpt"}, "dpo": {"after": "sft"},
                   "long_cot_sft": {"stage": "sft", "after": "cpt", "config": {"reasoning": True}},
                   "reasoning_rl": {"after": "long_cot_sft"}},
         "branches": {"chat": "dpo", "reasoning": "reasoning_rl"}}
CFG = {"max_steps": 1, "save_every": 1, "threads": 1, "seq_len": 128, "register_artifact": False,
       "sft": {"seq_len": 192}, "long_cot_sft": {"lr": 5e-4}, "dpo": {"seq_len": 128, "micro_batch": 2, "grad_accum": 1},
       "reasoning_rl": {"max_new_tokens": 4, "val_reward": False, "allow_no_signal": True},  # a random model: no reward
       "stage_metrics": {"bpb_fin": {"kind": "bpb", "version": "fin-heldout@1", "limit": 3}}}


def _add(a: int, b: int) -> list[dict]:
    return [{"role": "user", "content": f"What is {a} plus {b}?"}]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from catalogs import Store
    from synthesis.generators.records import pref_record, provenance, rl_record, sft_record
    from training.demo_data import build_inputs, filing_text
    from training.tiny import train_tokenizer

    root = tmp_path_factory.mktemp("branches")
    s = Store.open(root / "store")
    build_inputs(s, n_docs=60, n_conv=24, snapshot="plain")
    rng = random.Random(2)
    src = provenance("test", "t")
    with s.writer("fin-heldout", kind="doc") as w:
        w.write([{"id": f"h{i}", "text": filing_text(rng), "source": "demo"} for i in range(6)])
    pairs = [(rng.randrange(10, 99), rng.randrange(10, 99)) for _ in range(24)]
    with s.writer("cot-sft", kind="sft") as w:  # long chain-of-thought: the trace is its own field
        w.write([sft_record(_add(a, b) + [{"role": "assistant", "content": f"The answer is {a + b}.",
                                           "reasoning_content": f"{a} plus {b}: add the tens, then the units."}],
                            "general/math/add", "en", src) for a, b in pairs])
    with s.writer("add-pref", kind="pref") as w:
        w.write([pref_record(_add(a, b), [{"role": "assistant", "content": f"The answer is {a + b}."}],
                             [{"role": "assistant", "content": "Hard to say."}], {"chosen": 1.0, "rejected": 0.0},
                             "general/math/add", "en", src) for a, b in pairs])
    with s.writer("add-rl", kind="rl") as w:
        w.write([rl_record(_add(a, b), {"spec_version": 1, "type": "numeric", "answer": a + b},
                           "general/math/add", "en", src) for a, b in pairs])
    texts = [r["text"] for r in s.iter_records("fin-docs@1")] + [f"What is {a} plus {b}? The answer is {a + b}."
                                                                 for a, b in pairs]
    tok = train_tokenizer(texts, root / "tok", vocab_size=512)
    stages = {"cpt": [("fin-docs@1", 1.0)], "sft": [("fin-sft@1", 1.0)], "dpo": [("add-pref@1", 1.0)],
              "long_cot_sft": [("cot-sft@1", 1.0)], "reasoning_rl": [("add-rl@1", 1.0)]}
    s.snapshots.create("branchy", stages, tokenizer=str(tok), options={"graph": GRAPH})
    return s


def test_branches_of_the_snapshot_graph(store):
    from training.branches import branches, select_branches
    from training.plan import PlanError

    snap = store.snapshots.get("branchy")
    assert branches(snap) == {"chat": ["cpt", "sft", "dpo"], "reasoning": ["cpt", "long_cot_sft", "reasoning_rl"]}
    assert select_branches(snap, "reasoning_rl") == {"reasoning": ["cpt", "long_cot_sft", "reasoning_rl"]}
    with pytest.raises(PlanError, match="no branch 'agentic'"):
        select_branches(snap, "agentic")
    bad = {**snap, "options": {"graph": {"nodes": {"cpt": {}, "sft": {"after": "dpo"}}}}}
    with pytest.raises(PlanError, match="'dpo', which is not a node"):
        branches(bad)
    cyc = {**snap, "options": {"graph": {"nodes": {"sft": {"after": "dpo"}, "dpo": {"after": "sft"}}}}}
    with pytest.raises(PlanError, match="cycle"):
        branches(cyc)
    nodata = {**snap, "stages": {"cpt": snap["stages"]["cpt"]}}
    with pytest.raises(PlanError, match="has no data pinned"):
        branches(nodata)


def test_both_branches_train_from_one_cpt_checkpoint(store, tmp_path, monkeypatch):
    from collections import Counter

    from catalogs import Store
    from training.branches import run_branches
    from training.engine import restored_dist_env
    from training.evaluation.record import stage_rows, stage_table

    hashed: Counter = Counter()
    real = Store.verify
    monkeypatch.setattr(Store, "verify", lambda self, ref, *a, **k: hashed.update([str(ref)]) or real(self, ref, *a, **k))
    with restored_dist_env():
        recs = run_branches(store, "branchy", "all", model="tiny", output=tmp_path / "out", config=CFG)
    # each pinned version is hashed once before anything trains and once more as its stage starts (what its plan
    # reads; CPT reads its tokens version): not again for each branch's segment
    tokens = next(r for r in hashed if r.startswith("fin-docs.tok-"))
    assert hashed == {"fin-docs@1": 1, tokens: 1, "fin-sft@1": 2, "add-pref@1": 2, "cot-sft@1": 2, "add-rl@1": 2}
    by = {r["stage"]: r for r in recs}
    assert [r["stage"] for r in recs] == ["cpt", "sft", "dpo", "long_cot_sft", "reasoning_rl"]  # CPT once
    assert all(r["status"] == "completed" for r in recs)
    cpt_model = by["cpt"]["output_model"]
    assert by["sft"]["input_model"] == by["long_cot_sft"]["input_model"] == cpt_model  # one CPT checkpoint
    assert by["dpo"]["input_model"] == by["sft"]["output_model"]
    assert by["reasoning_rl"]["input_model"] == by["long_cot_sft"]["output_model"]
    cot = by["long_cot_sft"]["config"]
    assert cot["reasoning"] is True and cot["graph_node"]["stage"] == "sft" and by["sft"]["config"]["reasoning"] is False
    assert cot["lr"] == 5e-4 and by["sft"]["config"]["lr"] != 5e-4  # a per-node override reaches that node only
    assert by["dpo"]["metrics"]["train_pairs"] > 0 and by["reasoning_rl"]["metrics"]["steps"] == 1
    # every node's data, one query away; the DPO model's lineage runs through SFT and the one CPT
    from training.launch import model_lineage

    assert [c["stage"] for c in model_lineage(store, by["dpo"]["output_model"])] == ["dpo", "sft", "cpt"]
    assert [c["stage"] for c in model_lineage(store, by["reasoning_rl"]["output_model"])] == [
        "reasoning_rl", "long_cot_sft", "cpt"]
    table = stage_table(store, "branchy")
    assert table["stages"] == ["base", "cpt", "sft", "dpo", "long_cot_sft", "reasoning_rl"]
    assert set(table["metrics"]["bpb_fin"]) == set(table["stages"])
    rows = stage_rows(table)
    assert rows and all(rows[0][st] != "—" for st in table["stages"])
    # `huijin eval compare --snapshot` prints both branches' columns
    from typer.testing import CliRunner

    from huijin.cli import app

    res = CliRunner().invoke(app, ["eval", "compare", "--snapshot", "branchy", "--store", str(store.root), "--json"])
    assert res.exit_code == 0, res.output
    shown = json.loads(res.stdout)
    assert {"dpo", "long_cot_sft", "reasoning_rl"} <= set(json.dumps(shown).replace('"', " ").split())


def test_train_run_branch_errors_name_the_branches(store, tmp_path):
    from typer.testing import CliRunner

    from huijin.cli import app

    res = CliRunner().invoke(app, ["train", "run", "--snapshot", "branchy", "--branch", "agentic", "--output",
                                   str(tmp_path / "x"), "--store", str(store.root)])
    assert res.exit_code == 1
    assert "no branch 'agentic'" in res.output and "chat (cpt → sft → dpo)" in res.output
    res = CliRunner().invoke(app, ["train", "run", "--snapshot", "plain", "--branch", "all", "--output",
                                   str(tmp_path / "y"), "--store", str(store.root)])
    assert res.exit_code == 1 and "pins no stage graph" in res.output


def test_train_run_set_accepts_the_branch_graph_nodes(store, tmp_path):
    """``--set long_cot_sft.lr=…`` names a node of the snapshot's graph, not a stage type: accepted with
    ``--branch`` (the run then fails on the unknown branch, after the key check), refused without it, and a
    misspelled node gets the nearest name."""
    from typer.testing import CliRunner

    from huijin.cli import app

    def run(*extra: str):
        return CliRunner().invoke(app, ["train", "run", "--snapshot", "branchy", "--output", str(tmp_path / "x"),
                                        "--store", str(store.root), *extra])

    res = run("--branch", "agentic", "--set", "long_cot_sft.lr=1e-4")
    assert res.exit_code == 1 and "no branch 'agentic'" in res.output, res.output
    res = run("--branch", "all", "--set", "long_cot_sftt.lr=1e-4")
    assert res.exit_code == 2 and "unknown stage or graph node 'long_cot_sftt'" in res.output
    assert "did you mean 'long_cot_sft'" in res.output
    res = run("--stages", "cpt", "--set", "long_cot_sft.lr=1e-4")
    assert res.exit_code == 2 and "unknown stage 'long_cot_sft'" in res.output
    res = CliRunner().invoke(app, ["train", "run", "--snapshot", "plain", "--branch", "all", "--set",
                                   "long_cot_sft.lr=1e-4", "--output", str(tmp_path / "y"), "--store", str(store.root)])
    assert res.exit_code == 1 and "pins no stage graph" in res.output  # the real error, not "unknown stage"


def test_train_run_hands_the_launch_options_through(store, tmp_path, monkeypatch):
    """What `train run` gives the branch and stage runners: the per-node override in the config, and --gpus/--nodes
    as given (None when absent: a list there would send a CPU run to the deepspeed launcher)."""
    from typer.testing import CliRunner

    import training.branches
    import training.launch
    from huijin.cli import app

    got: dict = {}

    def fake(store_, snapshot, what, **kw):
        got.update(kw, what=what)
        return []

    monkeypatch.setattr(training.branches, "run_branches", fake)
    monkeypatch.setattr(training.launch, "run_stages", fake)
    base = ["train", "run", "--snapshot", "branchy", "--output", str(tmp_path / "x"), "--store", str(store.root),
            "--json"]
    res = CliRunner().invoke(app, [*base, "--branch", "all", "--set", "long_cot_sft.lr=1e-4"])
    assert res.exit_code == 0, res.output
    assert got["what"] == "all" and got["nodes"] is None and got["gpus"] is None
    assert got["config"]["long_cot_sft"] == {"lr": 1e-4}
    got.clear()
    res = CliRunner().invoke(app, [*base, "--stages", "cpt", "--nodes", "2", "--gpus", "1"])
    assert res.exit_code == 0, res.output
    assert got["what"] == ["cpt"] and got["nodes"] == 2 and got["gpus"] == 1


def test_snapshot_create_pins_a_graph_from_yaml(store, tmp_path):
    import yaml
    from typer.testing import CliRunner

    from huijin.cli import app

    snap = store.snapshots.get("branchy")
    (tmp_path / "g.yaml").write_text(yaml.safe_dump(GRAPH))
    refs = [f"--stage={st}={e[0]['dataset']}@{e[0]['version']}" for st, e in snap["stages"].items()]
    args = ["catalog", "snapshot", "create", "branchy-cli", *refs, "--tokenizer", snap["tokenizer"]["path"],
            "--graph", str(tmp_path / "g.yaml"), "--store", str(store.root)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    got = store.snapshots.get("branchy-cli")
    assert got["options"]["graph"] == GRAPH and got["hash"] == snap["hash"]  # same pins, same content hash
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump({"nodes": {"cpt": {}, "sft": {"after": "cpt"},
                                                                 "dpo": {"after": "sftt"}}}))
    res = CliRunner().invoke(app, ["catalog", "snapshot", "create", "bad", *[r for r in refs if "=cpt=" in r or "=sft=" in r or "=dpo=" in r], "--graph",
                                   str(tmp_path / "bad.yaml"), "--store", str(store.root)])
    assert res.exit_code == 2 and "'sftt', which is not a node" in res.output


def test_a_version_two_stages_pin_is_hashed_once(store, monkeypatch):
    from collections import Counter

    from catalogs import Store
    from training.launch import verify_snapshot

    hashed: Counter = Counter()
    real = Store.verify
    monkeypatch.setattr(Store, "verify", lambda self, ref, *a, **k: hashed.update([str(ref)]) or real(self, ref, *a, **k))
    e = store.snapshots.get("branchy")["stages"]["reasoning_rl"][0]  # add-rl@1, as the demo replays its RL tasks
    snap = {"name": "twice", "stages": {"reasoning_rl": [e], "general_rl": [e]}}
    assert verify_snapshot(store, snap, ["reasoning_rl", "general_rl"]) == {"add-rl@1"}
    assert hashed == {"add-rl@1": 1}
    assert verify_snapshot(store, snap, ["general_rl"], skip={"add-rl@1"}) == {"add-rl@1"} and hashed["add-rl@1"] == 1


@pytest.mark.parametrize("stage,expected", [("reasoning_rl", "rl"), ("dpo", "pref"), ("cpt", "tokens/doc")])
def test_every_stage_refuses_a_version_of_another_kind(store, tmp_path, stage, expected):
    from training.plan import PlanError
    from training.runner import StageContext
    from training.stages import get_stage

    e = store.snapshots.get("branchy")["stages"]["sft"][0]  # fin-sft@1, an sft version
    ctx = StageContext(store, {"name": "wrong", "stages": {stage: [e]}}, stage, {}, "m", "tok", tmp_path)
    with pytest.raises(PlanError, match=f"stage {stage}: fin-sft@1 is a 'sft' version \\(expected {expected}\\)"):
        get_stage(stage).plan(ctx)
