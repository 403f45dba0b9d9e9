"""Agentic SFT trajectories: the teacher solves tool-use tasks with function calling, inside their environments.

For each task of an ``rl`` version with a ``tool_env`` spec (e.g. the ``agentic_tasks`` recipe's output), an
episode runs turn by turn: all live episodes send one request each (with the task's tools), tool calls are
executed by ``synthesis.envs.ToolEnv`` (read-only SQL, calculator, search — hostile SQL or expressions from
the teacher are refused there and penalised), and an episode ends at an assistant message without tool calls
or after ``max_turns``. Trajectories whose replayed reward reaches ``min_reward`` become ``sft`` records with
the tools and the tool messages (role ``tool``, masked by the trainer).
"""

from __future__ import annotations

import json
from typing import Any

from synthesis.envs import ToolEnv

from .context import RunContext
from .records import sft_record
from .teach import ask, failure, source

GENERATOR = "agentic_sft"


def generate(run: RunContext) -> None:
    from synthesis.teachers import Request

    cfg = run.recipe
    m = run.input_manifest("tasks", "rl")
    max_turns = int(cfg.get("max_turns", 6))
    min_reward = float(cfg.get("min_reward", 0.95))
    params = cfg.get("params") or {"temperature": 0.2}
    out = run.outputs.open("sft", run.output_name("sft"), "sft")
    episodes: list[dict[str, Any]] = []
    for rec in run.store.iter_records(m):
        if run.limit is not None and len(episodes) >= run.limit:
            break
        out.consider()
        spec = json.loads(rec["reward_spec"])
        if spec.get("type") != "tool_env" or not rec.get("env"):
            out.drop("not_an_agentic_task")
            continue
        env = ToolEnv.from_record(rec, run.store)
        episodes.append({"rec": rec, "env": env, "messages": env.reset(rec), "n_prompt": len(rec["prompt"]),
                         "done": False, "last": None, "error": None})
    try:
        for turn in range(max_turns):
            live = [e for e in episodes if not e["done"]]
            if not live:
                break
            reqs = [Request(e["messages"], id=e["rec"]["id"], params=params, tools=e["env"].tools)
                    for e in live]
            for e, rep in zip(live, ask(run, reqs, f"agentic turn {turn + 1}"), strict=True):
                why = failure(rep)
                if why:
                    e["done"], e["error"] = True, why
                    continue
                e["last"] = rep
                msg = rep.message()
                e["messages"].append(msg)
                if not msg.get("tool_calls"):
                    e["done"] = True
                    continue
                for call in msg["tool_calls"]:
                    e["messages"].append(e["env"].step(call))
        rewards = []
        for e in episodes:
            rec = e["rec"]
            if e["error"]:
                out.quarantine(e["error"], file=m.ref, record={"id": rec["id"]})
                continue
            if not e["done"]:
                out.drop("max_turns_reached")
                continue
            completion = e["messages"][e["n_prompt"]:]
            result = e["env"].reward(completion, rec["reward_spec"])
            rewards.append(result.score or 0.0)
            if result.score is None or result.score < min_reward:
                out.drop("low_reward")
                continue
            calls = sum(len(x.get("tool_calls") or []) for x in completion if x["role"] == "assistant")
            meta = {"task_id": rec["id"], "reward": result.score, "reward_reason": result.reason, "tool_calls": calls}
            out.keep(sft_record(e["messages"], rec.get("taxonomy"), rec.get("lang") or "en",
                                source(run, GENERATOR, e["last"]), meta, tools=json.loads(rec["tools"])))
            run.progress(1)
        if rewards:
            run.stats["mean_reward"] = round(sum(rewards) / len(rewards), 4)
    finally:
        for e in episodes:
            e["env"].close()
