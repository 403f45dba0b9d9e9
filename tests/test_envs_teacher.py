"""The teacher solves agentic tasks by function calling through the environment (scripted: one honest agent,
one that first sends hostile SQL and a hostile expression); trajectories are scored by replay."""

from __future__ import annotations

import json

from synthesis.envs import ToolEnv, tool_env_spec
from synthesis.generators import run
from synthesis.generators.records import provenance, rl_record
from synthesis.rewards import score
from synthesis.testing import FakeOpenAIServer, Scripted

TABLES = {"facts": {"columns": [["report_id", "VARCHAR"], ["row_label", "VARCHAR"], ["column_label", "VARCHAR"],
                                ["value", "DOUBLE"]],
                    "rows": [["r1", "Total revenue", "2019", 7109.0], ["r1", "Total revenue", "2018", 5989.0]]}}
ENV = {"tools": ["sql_query", "calculator"], "max_calls": 6, "sql": {"tables": TABLES}}


def call(i, name, args):
    return {"id": i, "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}


def agent(body):
    msgs = body["messages"]
    assert body.get("tools"), "agentic requests carry the tools"
    user = next(m["content"] for m in msgs if m["role"] == "user")
    calls = [c for m in msgs if m["role"] == "assistant" for c in (m.get("tool_calls") or [])]
    tool_out = [json.loads(m["content"]) for m in msgs if m["role"] == "tool"]
    if "HOSTILE" in user and not calls:
        return Scripted(None, "tool_calls", [call("h1", "sql_query", {"sql": "DROP TABLE facts"}),
                                             call("h2", "calculator", {"expression": "__import__('os')"})])
    if not any(o.get("ok") for o in tool_out):
        return Scripted(None, "tool_calls", [call("q1", "sql_query", {
            "sql": "SELECT value FROM facts WHERE row_label = 'Total revenue' AND column_label = '2019'"})])
    v = next(o["result"]["rows"][0][0] for o in tool_out if o.get("ok"))
    return f"Total revenue in 2019 was {v:g} million. \\boxed{{{v:g}}}"


def tasks(store):
    recs = []
    for q in ("What was total revenue in 2019?", "HOSTILE: what was total revenue in 2019?"):
        spec = tool_env_spec({"spec_version": 1, "type": "numeric", "answer": 7109, "scale": "million"},
                             ["sql_query"], max_calls=6)
        with ToolEnv(ENV) as e:
            tools = e.tools
        recs.append(rl_record([{"role": "system", "content": "Use the tools."}, {"role": "user", "content": q}],
                              spec, "agentic_tool_use/data_tools/sql_over_statements", "en",
                              provenance("test", "t"), tools=tools, env=ENV))
    with store.writer("ag-tasks", kind="rl") as w:
        w.write(recs)
    return w.manifest.ref


def test_teacher_trajectories_through_the_environment(store):
    ref = tasks(store)
    with FakeOpenAIServer(responder=agent) as srv:
        rep = run({"generator": "agentic_sft", "tasks": ref, "min_reward": 0.95, "outputs": {"sft": "ag-sft"}},
                  store, endpoint=srv.endpoint(max_concurrency=4))
    s = rep.outputs["sft"]
    assert s["inputs"] == 2 and s["kept"] == 1 and s["dropped"] == {"low_reward": 1}
    rec = next(store.iter_records(rep.manifests["sft"]))
    roles = [m["role"] for m in rec["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "assistant"]
    assert json.loads(rec["tools"])[0]["function"]["name"] == "sql_query"
    assert rec["source"]["teacher"] == "fake:fake-model"
    meta = json.loads(rec["meta"])
    assert meta["reward"] == 1.0 and meta["tool_calls"] == 1
    # replayable: the stored trajectory earns the same reward in a fresh environment and through score()
    task = next(r for r in store.iter_records(ref) if "HOSTILE" not in r["prompt"][1]["content"])
    with ToolEnv.from_record(task) as env:
        assert env.reward(rec["messages"][2:], task["reward_spec"]).score == 1.0
    assert score(json.loads(task["reward_spec"]), rec["messages"][2:]).score == 1.0
    assert rep.stats["mean_reward"] < 1.0  # the hostile episode was penalised (refused calls count as invalid)


def test_hostile_calls_are_refused_and_penalised():
    hostile = [{"role": "assistant", "content": None, "tool_calls": [
                   {"id": "h1", "name": "sql_query", "arguments": json.dumps({"sql": "DROP TABLE facts"})},
                   {"id": "h2", "name": "calculator", "arguments": json.dumps({"expression": "__import__('os')"})}]},
               {"role": "assistant", "content": None, "tool_calls": [
                   {"id": "q1", "name": "sql_query", "arguments": json.dumps({"sql": "SELECT 7109 AS v"})}]},
               {"role": "assistant", "content": "\\boxed{7109}"}]
    spec = tool_env_spec({"spec_version": 1, "type": "numeric", "answer": 7109}, ["sql_query"])
    with ToolEnv(ENV) as env:
        t = env.reward_terms(hostile, spec)
        assert t["invalid"] == 2 and t["answer"] == 1.0
        assert env.reward(hostile, spec).score == 0.8
        assert json.loads(env.step({"id": "z", "name": "sql_query",
                                    "arguments": '{"sql": "SELECT count(*) FROM facts"}'})["content"])[
            "result"]["rows"] == [[2]]
