"""The demo's agentic budgets fit its own reference trajectories: a policy that wrote the reference solution must
be able to score 1.0 under the tool_success metric (the same in ``--quick`` and the full demo) and in the full
demo's agentic RL stage (``--quick`` keeps tiny.yaml's CI-sized RL budgets). The demo once gave both 48 new
tokens a turn while every reference SQL call took 114-161 tokens, so tool_success could not rise above 0 whatever
the policy learned."""

from __future__ import annotations

import json

from catalogs import Store
from finance.messages import parse_tools, template_messages


def _assistant_turns(tok, rec: dict) -> list[int]:
    """Token counts of each assistant turn as the policy would generate it (up to and including its end token)."""
    msgs = template_messages(rec["messages"])
    tools = parse_tools(rec.get("tools"))
    out = []
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        before = tok.apply_chat_template(msgs[:i], tools=tools, add_generation_prompt=True, tokenize=False)
        after = tok.apply_chat_template(msgs[:i + 1], tools=tools, tokenize=False)
        assert after.startswith(before)
        turn = after[len(before):]
        turn = turn[:turn.index("<|im_end|>") + len("<|im_end|>")]
        out.append(len(tok(turn, add_special_tokens=False)["input_ids"]))
    return out


def test_reference_trajectories_fit_the_agentic_budgets(demo_store):
    from transformers import AutoTokenizer

    from huijin.demo.chain import DEMO_SCHEDULE

    store = Store.open(demo_store)
    runs = [r for r in store.runs.ls() if r["stage"] == "agentic_rl"]
    assert runs, "the quick demo trains an agentic_rl stage"
    run = store.runs.get(runs[0]["run_id"])
    metric = run["config"]["stage_metrics"]["tool_success"]
    tok = AutoTokenizer.from_pretrained(store.snapshots.get(run["snapshot"])["tokenizer"]["path"])
    held = store.resolve(metric["version"].split("@")[0].replace("agentic-rl", "agentic-sft"))
    recs = list(store.iter_records(held.ref))
    assert recs and all(json.loads(r["meta"])["reward"] == 1.0 for r in recs)
    for budget in (metric, DEMO_SCHEDULE["agentic_rl"]):
        for r in recs:
            turns = _assistant_turns(tok, r)
            assert len(turns) <= budget["max_turns"]
            assert max(turns) <= budget["max_new_tokens"], (turns, budget)
            whole = tok.apply_chat_template(template_messages(r["messages"]), tools=parse_tools(r.get("tools")),
                                            tokenize=False)
            # a rollout stops once it holds max_total_tokens - 1 tokens (training/rl/agentic.py)
            assert len(tok(whole, add_special_tokens=False)["input_ids"]) < budget["max_total_tokens"] - 1
