"""The ``server`` generation backend against a real local HTTP server serving the toy model, with real weight
reloads: greedy rollouts token-identical to the local backend, rollouts after a sync from the new weights, lag
recorded and stale weights refused; an RL stage (``--set backend=server``) and ``huijin eval --backend server``
give the local backend's rewards and scores (greedy)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    from training.rl.toy import build_toy_model

    return build_toy_model(tmp_path_factory.mktemp("genserver") / "toy", seed=0)


@pytest.fixture(scope="module")
def served(toy):
    from training.generation.testserver import ModelServer

    with ModelServer(toy) as srv:
        yield srv


def _prompts(tok, n=6):
    from training.rl.rollout import render_prompt
    from training.rl.toy import toy_records

    return [render_prompt(tok, r["prompt"]) for r in toy_records(n, seed=1)]


def _perturbed(toy, tmp):
    """The toy policy after a (large, hand-made) update: its greedy answers differ from the original's."""
    import torch
    from transformers import AutoModelForCausalLM

    m = AutoModelForCausalLM.from_pretrained(str(toy), dtype=torch.float32)
    torch.manual_seed(5)
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return m.eval()


def test_greedy_server_equals_local_and_sync_moves_the_server(toy, served, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.generation import ServerBackend, StaleRollouts, WeightSync
    from training.rl.rollout import GenConfig, generate_batch

    tok = AutoTokenizer.from_pretrained(str(toy))
    base = AutoModelForCausalLM.from_pretrained(str(toy), dtype=torch.float32).eval()
    prompts, greedy = _prompts(tok), GenConfig(max_new_tokens=6, temperature=0.0)
    server = ServerBackend(served.base_url, tok, batch_size=4)  # two requests: batches of 4 and 2
    local_before = generate_batch(base, tok, prompts, greedy)
    # the server's greedy rollouts are the local backend's, token for token (ids come back, not text)
    assert generate_batch(server, tok, prompts, greedy) == generate_batch(server, tok, prompts[:4], greedy) + \
        generate_batch(server, tok, prompts[4:], greedy)
    assert server.generate_ids(prompts, greedy) == local_before and server.requests == 2 + 1 + 1 + 2  # ≤ 4 prompts a request
    assert any(len(ids) > 1 for ids, _ in local_before)

    new = _perturbed(toy, tmp_path)
    local_after = generate_batch(new, tok, prompts, greedy)
    assert local_after != local_before  # the update changed the greedy answers: the sync must show it
    sync = WeightSync(server, tmp_path / "sync", every=2, max_lag=1, keep=1)
    m0 = sync.before_rollouts(base, 0)  # the first rollout always syncs (the server may hold anything)
    assert m0 == {"sync_lag": 0, "weights_version": 0, "synced": True, "t_sync": m0["t_sync"]} and served.version == 0
    m1 = sync.before_rollouts(new, 1)  # every=2: no sync yet, the rollouts are one step stale (allowed)
    assert (m1["synced"], m1["sync_lag"], m1["weights_version"]) == (False, 1, 0)
    assert server.generate_ids(prompts, greedy) == local_before
    m2 = sync.before_rollouts(new, 2)  # due: exported, reloaded from disk by the server
    assert (m2["synced"], m2["sync_lag"], m2["weights_version"]) == (True, 0, 2)
    assert served.version == 2 and served.loaded_from == str(tmp_path / "sync" / "policy-000002")
    assert server.generate_ids(prompts, greedy) == local_after  # rollouts after the sync come from the new weights
    assert [p.name for p in (tmp_path / "sync").iterdir()] == ["policy-000002"]  # keep=1: older exports pruned
    s = sync.summary()
    assert s["syncs"] == 2 and s["sync_lag_max"] == 1 and s["weights_version"] == 2

    # the server's own word: weights it reports as older than max_lag allows are refused
    blind = WeightSync(server, tmp_path / "blind", reload="none")
    blind.synced, blind.policy_version = 7, 7  # we believe it holds step 7; it says step 2
    with pytest.raises(StaleRollouts, match="weights of step 2.*step 7"):
        server.generate_ids(prompts[:1], greedy)
    with pytest.raises(ValueError, match="max_lag"):
        WeightSync(server, tmp_path / "x", every=3, max_lag=1)
    # SGLang's reload route and the command hook reach the same server
    sg = WeightSync(server, tmp_path / "sg", reload="sglang")
    sg.before_rollouts(base, 0)
    assert served.version is None and served.loaded_from.endswith("policy-000000")  # (SGLang reports no version)
    assert server.generate_ids(prompts, greedy) == local_before
    hook = (f"command:{sys.executable} -c \"import json,sys,urllib.request as u; u.urlopen(u.Request("
            f"'{served.base_url[:-3]}/reload', json.dumps({{'path': sys.argv[1], 'version': int(sys.argv[2])}})"
            f".encode(), {{'Content-Type': 'application/json'}}))\" {{path}} {{version}}")
    cmd = WeightSync(server, tmp_path / "cmd", reload=hook)
    cmd.before_rollouts(new, 3)
    assert served.version == 3 and server.generate_ids(prompts, greedy) == local_after


def test_agentic_rollouts_go_through_the_backend(toy, served):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.generation import ServerBackend
    from training.rl.agentic import agentic_rollouts
    from training.rl.envs import env_factory
    from training.rl.rollout import GenConfig
    from training.rl.toy import agentic_toy_records

    tok = AutoTokenizer.from_pretrained(str(toy))
    served.reload(str(toy), 0)  # the base weights, whatever an earlier test loaded
    base = AutoModelForCausalLM.from_pretrained(str(toy), dtype=torch.float32).eval()
    recs, cfg = agentic_toy_records(2, seed=4), GenConfig(max_new_tokens=4, temperature=0.0, max_turns=2)
    before = served.requests
    local = agentic_rollouts(base, tok, recs, 2, cfg, env_factory({}))
    remote = agentic_rollouts(ServerBackend(served.base_url, tok), tok, recs, 2, cfg, env_factory({}))
    assert served.requests > before
    assert [(s.ids, s.mask, s.turns, s.reward) for s in remote] == [(s.ids, s.mask, s.turns, s.reward) for s in local]


def test_server_errors_name_the_server(toy, tmp_path):
    from transformers import AutoTokenizer

    from training.generation import BackendError, ServerBackend, WeightSync
    from training.rl.rollout import GenConfig

    tok = AutoTokenizer.from_pretrained(str(toy))
    dead = ServerBackend("http://127.0.0.1:9/v1", tok, max_retries=0, timeout=2)
    with pytest.raises(BackendError, match="127.0.0.1:9"):
        dead.generate_ids([[5, 6]], GenConfig(temperature=0.0))
    with pytest.raises(BackendError, match="server URL"):
        ServerBackend("", tok)
    with pytest.raises(BackendError, match="HUIJIN_NO_SUCH_KEY"):
        ServerBackend("http://127.0.0.1:9", tok, api_key_env="HUIJIN_NO_SUCH_KEY")
    with pytest.raises(ValueError, match="server_reload"):
        WeightSync(dead, tmp_path, reload="restart-it")


CFG = {"reasoning_rl": {"prompts_per_step": 2, "group_size": 2, "max_new_tokens": 2, "max_total_tokens": 64,
                        "lr": 3e-2, "warmup_steps": 0, "max_steps": 2, "save_every": 10, "update_micro_batch": 8,
                        "val_fraction": 0.2, "zero_stage": 1, "threads": 1, "seed": 7, "temperature": 0.0,
                        "allow_no_signal": True}}  # greedy: a group's samples are equal, so no update


def _train(store, model, out, *sets):
    """``huijin train run`` in this process (the server thread keeps serving while the stage trains)."""
    from typer.testing import CliRunner

    from huijin.cli import app

    out.parent.mkdir(parents=True, exist_ok=True)
    (out.parent / "cfg.json").write_text(json.dumps(CFG))
    res = CliRunner().invoke(app, ["train", "run", "--snapshot", "rl-snap", "--stages", "reasoning_rl", "--model",
                                   str(model), "--output", str(out), "--config", str(out.parent / "cfg.json"),
                                   "--store", str(store.root), "--json", *[x for s in sets for x in ("--set", s)]])
    assert res.exit_code == 0, res.output[-3000:]
    steps = [json.loads(x) for x in (out / "reasoning_rl" / "metrics.jsonl").read_text().splitlines()]
    return json.JSONDecoder().raw_decode(res.stdout[res.stdout.index("["):])[0][0], steps


def test_rl_stage_and_eval_on_the_server_match_local(toy, served, tmp_path, shared_data, monkeypatch):
    from typer.testing import CliRunner

    from catalogs import Store
    from huijin.cli import app
    from training.rl.toy import toy_records

    store = Store.open(tmp_path / "store")
    with store.writer("toy-rl", kind="rl", recipe={"generator": "toy"}) as w:
        w.write(toy_records(10, seed=3))
    store.snapshots.create("rl-snap", {"reasoning_rl": [("toy-rl@1", 1.0)]})
    local, lsteps = _train(store, toy, tmp_path / "local" / "out")
    remote, rsteps = _train(store, toy, tmp_path / "remote" / "out", "backend=server",
                            f"server_url={served.base_url}", "server_reload=huijin")
    # greedy: the same rollouts, so the same rewards step by step and the same held-out reward
    assert [s["reward_mean"] for s in rsteps] == [s["reward_mean"] for s in lsteps]
    assert [s["completion_len_mean"] for s in rsteps] == [s["completion_len_mean"] for s in lsteps]
    assert remote["metrics"]["val_reward"] == local["metrics"]["val_reward"] is not None
    # weights synced before every step's rollouts, the lag recorded per step and in the run record
    assert [(s["step"], s["weights_version"], s["sync_lag"], s["synced"]) for s in rsteps] == \
        [(1, 0, 0, True), (2, 1, 0, True)]
    m = remote["metrics"]
    assert m["backend"] == "server" and m["sync_lag_max"] == 0 and m["weights_version"] == 2 and m["syncs"] == 3
    assert "sync_lag" not in lsteps[0] and "backend" not in local["metrics"]
    assert served.loaded_from.endswith("policy-000002")  # the final policy was synced for the held-out reward

    # huijin eval --backend server: the scores and every completion equal the local backend's
    served.reload(str(toy), 0)  # the model `--model` names (the stage above served its own policy)
    monkeypatch.setenv("HUIJIN_EVAL_DATA", str(shared_data))
    runner, outs = CliRunner(), {}
    for name, extra in (("local", []), ("server", ["--backend", "server", "--server-url", served.base_url])):
        res = runner.invoke(app, ["eval", "--model", str(toy), "--suite", "fin_tiny", "--limit", "2", "--json",
                                  "--out", str(tmp_path / f"{name}.jsonl"), *extra])
        assert res.exit_code == 0, res.output
        outs[name] = (json.JSONDecoder().raw_decode(res.output[res.output.index("{"):])[0],
                      [json.loads(x) for x in (tmp_path / f"{name}.jsonl").read_text().splitlines()])
    (ls, lrows), (ss, srows) = outs["local"], outs["server"]
    assert ls["n"] == ss["n"] == 8 and {k: v for k, v in ls.items() if k != "seconds"} == \
        {k: v for k, v in ss.items() if k != "seconds"}
    assert [r["completion"] for r in lrows] == [r["completion"] for r in srows]
    assert any(r["completion"].strip() for r in srows)
    res = runner.invoke(app, ["eval", "--model", str(toy), "--suite", "fin_tiny", "--server-url", served.base_url])
    assert res.exit_code == 2 and "--backend server" in res.output
