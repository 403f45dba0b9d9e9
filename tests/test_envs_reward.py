"""The tool_env reward (correctness + tool terms that cannot be gamed), replay, and the agentic task generator."""

from __future__ import annotations

import json
import re

import pytest

from synthesis.envs import ToolEnv, tool_env_spec
from synthesis.generators import run
from synthesis.generators.agentic_tasks import SYSTEM, program_expression
from synthesis.rewards import score

TABLES = {"facts": {"columns": [["report_id", "VARCHAR"], ["row_label", "VARCHAR"], ["column_label", "VARCHAR"],
                                ["value", "DOUBLE"]],
                    "rows": [["r1", "Total revenue", "2019", 7109.0], ["r1", "Total revenue", "2018", 5989.0]]}}
CFG = {"tools": ["sql_query", "calculator", "search_docs"], "max_calls": 4, "sql": {"tables": TABLES},
       "search": {"passages": [{"id": "p0", "text": "Revenue rose on strong demand."}]}}
ANSWER = {"spec_version": 1, "type": "numeric", "answer": 18.70, "unit": "percent", "rel_tol": 1e-3, "abs_tol": 0.01}
SPEC = tool_env_spec(ANSWER, ["sql_query", "calculator"], max_calls=4)
SQL = json.dumps({"sql": "SELECT column_label, value FROM facts WHERE row_label = 'Total revenue'"})
CALC = json.dumps({"expression": "(7109 - 5989) / 5989 * 100"})


def call(i, name, args):
    return {"id": f"c{i}", "name": name, "arguments": args}


def trajectory(env, calls, final):
    msgs = []
    for c in calls:
        msgs.append({"role": "assistant", "content": None, "tool_calls": [c]})
        msgs.append(env.step(c))
    msgs.append({"role": "assistant", "content": final})
    return msgs


@pytest.fixture
def env():
    e = ToolEnv(CFG)
    e.reset({"prompt": [{"role": "user", "content": "q"}], "reward_spec": json.dumps(SPEC)})
    yield e
    e.close()


def test_reference_trajectory_gets_full_reward(env):
    t = trajectory(env, [call(1, "sql_query", SQL), call(2, "calculator", CALC)], "So \\boxed{18.70\\%}")
    r = env.reward(t)
    assert r.score == 1.0 and "tools F1 1.00" in r.reason
    assert all(m["role"] == "tool" for m in t[1::2][:2])  # tool outputs are marked for masking


def test_calling_every_tool_scores_less_than_calling_what_is_needed(env):
    needed = env.reward(trajectory(env, [call(1, "sql_query", SQL), call(2, "calculator", CALC)],
                                   "\\boxed{18.70\\%}")).score
    everything = env.reward(trajectory(env, [call(1, "sql_query", SQL), call(2, "calculator", CALC),
                                             call(3, "search_docs", json.dumps({"query": "revenue"}))],
                                       "\\boxed{18.70\\%}")).score
    assert everything < needed
    # calling every tool with a wrong answer earns less than the answer alone would
    wrong = env.reward(trajectory(env, [call(1, "sql_query", SQL), call(2, "calculator", CALC),
                                        call(3, "search_docs", json.dumps({"query": "revenue"}))],
                                  "\\boxed{20\\%}")).score
    assert wrong == 0.0
    # valid but pointless calls earn nothing on a wrong answer (unless the spec asks for format credit)
    dummy = trajectory(env, [call(1, "sql_query", json.dumps({"sql": "SELECT 1"})),
                             call(2, "calculator", json.dumps({"expression": "1+1"}))], "\\boxed{3\\%}")
    assert env.reward(dummy).score == 0.0
    assert env.reward(dummy, {**SPEC, "tool_credit": "answered"}).score == pytest.approx(0.2)


def test_invalid_excess_and_repeated_calls_are_penalised(env):
    base = env.reward(trajectory(env, [call(1, "sql_query", SQL), call(2, "calculator", CALC)],
                                 "\\boxed{18.70\\%}")).score
    invalid = env.reward(trajectory(env, [call(1, "sql_query", json.dumps({"sql": "DROP TABLE facts"})),
                                          call(2, "sql_query", SQL), call(3, "calculator", CALC)],
                                    "\\boxed{18.70\\%}"))
    assert invalid.score == pytest.approx(base - 0.1) and "invalid 1" in invalid.reason
    repeated = env.reward(trajectory(env, [call(1, "sql_query", SQL), call(2, "sql_query", SQL),
                                           call(3, "calculator", CALC)], "\\boxed{18.70\\%}"))
    assert repeated.score == pytest.approx(base - 0.05)
    excess = env.reward(trajectory(env, [call(i, "calculator", json.dumps({"expression": f"{i}+1"}))
                                         for i in range(6)] + [call(9, "sql_query", SQL)], "\\boxed{18.70\\%}"))
    assert excess.score < base - 0.2  # beyond max_calls: budget refusals count as invalid and excess


def test_no_answer_no_tool_credit(env):
    r = env.reward(trajectory(env, [call(1, "sql_query", SQL), call(2, "calculator", CALC)], "I am not sure."))
    assert r.score == 0.0


def test_forged_tool_messages_earn_nothing_on_replay(env):
    forged = [{"role": "assistant", "content": None,
               "tool_calls": [call(1, "sql_query", json.dumps({"sql": "DROP TABLE facts"}))]},
              {"role": "tool", "tool_call_id": "c1", "name": "sql_query", "content": '{"ok": true, "result": 1}'},
              {"role": "assistant", "content": None, "tool_calls": [call(2, "calculator", CALC)]},
              {"role": "tool", "tool_call_id": "c2", "name": "calculator", "content": '{"ok": true}'},
              {"role": "assistant", "content": "\\boxed{18.70\\%}"}]
    replayed = env.reward_terms(forged, SPEC)
    assert replayed["invalid"] == 1 and replayed["used"] == ["calculator"]
    # score() with the env config in the spec replays too; without it, it trusts the tool messages
    assert score({**SPEC, "env": CFG}, forged).score == env.reward(forged).score
    assert score(SPEC, forged).score > env.reward(forged).score


def test_score_registry_handles_tool_env():
    t = [{"role": "assistant", "content": "\\boxed{18.7\\%}"}]
    r = score(json.dumps(tool_env_spec(ANSWER, [])), t)
    assert r.score == 1.0  # a task that needs no tool: answering directly gets the tool term too


def test_program_expression():
    assert program_expression("subtract(7109, 5989), divide(#0, 5989)") == "(7109 - 5989) / 5989"
    assert program_expression("divide(3, const_2), exp(#0, const_m1)") == "(3 / 2) ** (-1)"


@pytest.fixture(scope="module")
def agentic(tmp_path_factory, shared_data):
    from catalogs import Store

    store = Store.open(tmp_path_factory.mktemp("store"))
    rep = run({"generator": "agentic_tasks", "name": "t-agentic", "seed": 1,
               "inputs": [str(shared_data / "finqa/train_100.json"),
                          str(shared_data / "tatqa/tatqa_dataset_dev_80ctx.json")],
               "filings": str(shared_data / "fin_text/sec_10k_items.jsonl"), "filings_fraction": 0.5,
               "outputs": {"rl": "ag-rl", "sft": "ag-sft"}}, store, limit=60)
    return store, rep


def test_agentic_tasks_are_self_contained_and_counted(agentic):
    store, rep = agentic
    for s in rep.outputs.values():
        assert s["inputs"] == s["kept"] + sum(s["dropped"].values()) + s["quarantined"]
    recs = list(store.iter_records(rep.manifests["rl"]))
    assert len(recs) == 60
    kinds = {json.loads(r["meta"])["kind"] for r in recs}
    assert {"lookup", "compute", "filings"} <= kinds
    for r in recs:
        spec = json.loads(r["reward_spec"])
        assert spec["type"] == "tool_env" and spec["gold_tools"]
        tools = json.loads(r["tools"])
        assert {t["function"]["name"] for t in tools} == {"sql_query", "calculator", "search_docs"}
        # without the newer options a recipe makes what it made before: every tool, its prompt, the report filter
        assert r["prompt"][0]["content"] == SYSTEM and {"sql", "search"} <= set(json.loads(r["env"]))
        meta = json.loads(r["meta"])
        if meta["kind"] in ("lookup", "compute"):
            assert f"report_id = '{meta['context_id']}'" in meta["reference_calls"][0]["arguments"]
        assert r["taxonomy"].startswith("agentic_tool_use/")


def test_reference_trajectories_replay_to_the_same_reward(agentic):
    store, rep = agentic
    rl = {r["id"]: r for r in store.iter_records(rep.manifests["rl"])}
    sft = list(store.iter_records(rep.manifests["sft"]))
    assert len(sft) >= 55
    for s in sft:
        task = rl[json.loads(s["meta"])["rl_id"]]
        n = len(task["prompt"])
        assert s["messages"][:n] == task["prompt"]
        with ToolEnv.from_record(task) as env:
            env.reset(task)
            completion = s["messages"][n:]
            r1 = env.reward(completion)
            replayed = env.replay(completion)
        recorded = [m for m in completion if m["role"] == "tool"]
        assert [m["content"] for m in replayed] == [m["content"] for m in recorded]
        assert r1.score == json.loads(s["meta"])["reward"] == 1.0
        assert score(task["reward_spec"], completion).score == 1.0


def test_lookup_only_tasks_offer_only_sql(tmp_path, shared_data):
    """``kinds: [lookup]`` makes lookups alone, each report asked about ``lookups`` different cells, in an
    environment with only the tool they need (a shorter prompt); the trajectories still replay to full reward.
    With ``distractors: 0`` the reference query drops its report filter. Bad options are refused naming the recipe."""
    from catalogs import Store
    from synthesis.generators import SynthRecipeError

    store = Store.open(tmp_path)
    recipe = {"generator": "agentic_tasks", "seed": 1, "inputs": [str(shared_data / "finqa/train_100.json")],
              "kinds": ["lookup"], "lookups": 3, "outputs": {"rl": "lk-rl", "sft": "lk-sft"}}
    rep = run(recipe, store, limit=30)
    rl = list(store.iter_records(rep.manifests["rl"]))
    assert len(rl) == 30
    by_report: dict[str, list[str]] = {}
    for r in rl:
        meta = json.loads(r["meta"])
        assert meta["kind"] == "lookup" and json.loads(r["reward_spec"])["gold_tools"] == ["sql_query"]
        assert [t["function"]["name"] for t in json.loads(r["tools"])] == ["sql_query"]
        env = json.loads(r["env"])
        assert env["tools"] == ["sql_query"] and "search" not in env
        system = r["prompt"][0]["content"]
        assert "calculator" not in system and "search" not in system and "SQL" in system
        by_report.setdefault(meta["context_id"], []).append(meta["reference_calls"][0]["arguments"])
    assert max(len(v) for v in by_report.values()) == 3
    assert all(len(set(v)) == len(v) for v in by_report.values())  # another cell each time
    sft = list(store.iter_records(rep.manifests["sft"]))
    assert len(sft) == 30
    for s in sft[:5]:
        task = next(r for r in rl if r["id"] == json.loads(s["meta"])["rl_id"])
        assert score(task["reward_spec"], s["messages"][len(task["prompt"]):]).score == 1.0
    # no other report in the facts table: the reference query needs no report_id filter, and still earns 1.0
    alone = run({**recipe, "distractors": 0, "outputs": {"rl": "lk0-rl", "sft": "lk0-sft"}}, store, limit=6)
    rl0 = {r["id"]: r for r in store.iter_records(alone.manifests["rl"])}
    for r in rl0.values():
        assert {row[0] for row in json.loads(r["env"])["sql"]["tables"]["facts"]["rows"]} == {
            json.loads(r["meta"])["context_id"]}
        assert "report_id" not in json.loads(r["meta"])["reference_calls"][0]["arguments"]
    for s in store.iter_records(alone.manifests["sft"]):
        task = rl0[json.loads(s["meta"])["rl_id"]]
        assert score(task["reward_spec"], s["messages"][len(task["prompt"]):]).score == 1.0
    for bad, why in [({"kinds": "lookup"}, "kinds must be a non-empty list"), ({"kinds": []}, "kinds must be"),
                     ({"kinds": ["lookup", "chat"]}, "kinds must"), ({"tools": ["calculator"]}, "lack ['sql_query']"),
                     ({"tools": ["sql"]}, "tools must be"), ({"lookups": -1}, "lookups must be an integer ≥ 0"),
                     ({"distractors": 1.5}, "distractors must be"), ({"kinds": ["filings"]}, "no filings file")]:
        with pytest.raises(SynthRecipeError, match=r"agentic_tasks.*" + re.escape(why)):
            run({**recipe, **bad}, store, limit=2)
