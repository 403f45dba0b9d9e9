"""The ``tool_env`` reward: final-answer correctness plus tool-use terms that cannot be gamed by calling every tool.

    {"spec_version": 1, "type": "tool_env",
     "answer": {"spec_version": 1, "type": "numeric", "answer": 18.7, "unit": "percent", ...},
     "gold_tools": ["sql_query", "calculator"],      # the tools a reference solution needs
     "max_calls": 8, "weights": {"answer": 0.8, "tools": 0.2},
     "penalties": {"invalid": 0.1, "excess": 0.1, "repeat": 0.05}}

score = w_answer · correct + w_tools · F1(tools used in valid calls, gold_tools) · gate − penalties, in [0, 1].
The tool term is F1, not recall: a trajectory that calls tools the task does not need loses precision, so
"call everything" scores below "call what is needed" (the exploit of a "predicted ⊇ gold" rule). ``gate`` is
the answer's correctness by default (``"tool_credit": "correct"``), so valid but pointless calls cannot earn
anything on a wrong answer; ``"tool_credit": "answered"`` pays it for any final answer (ToolRL-style format
credit). Invalid calls (unknown tool, bad arguments, refused SQL, tool errors), calls beyond ``max_calls``
and exact repeats of an earlier call are penalised.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from finance.messages import arguments_value, tool_calls_of
from synthesis.rewards import Result, score
from synthesis.rewards.extract import extract_answer

DEFAULT_WEIGHTS = {"answer": 0.8, "tools": 0.2}
DEFAULT_PENALTIES = {"invalid": 0.1, "excess": 0.1, "repeat": 0.05}


@dataclass
class CallOutcome:
    id: str | None
    name: str
    arguments: str
    ok: bool


def final_answer_text(trajectory: list[dict[str, Any]]) -> str | None:
    for m in reversed(trajectory):
        if m.get("role") == "assistant" and m.get("content") and not m.get("tool_calls"):
            return str(m["content"])
    for m in reversed(trajectory):
        if m.get("role") == "assistant" and m.get("content"):
            return str(m["content"])
    return None


def outcomes_from_messages(trajectory: list[dict[str, Any]]) -> list[CallOutcome]:
    """Call outcomes read from the tool messages (``{"ok": false}`` or no reply is a failed call)."""
    results: dict[str, bool] = {}
    for m in trajectory:
        if m.get("role") == "tool" and m.get("tool_call_id"):
            try:
                ok = bool(json.loads(m.get("content") or "{}").get("ok"))
            except (json.JSONDecodeError, AttributeError):
                ok = False
            results[str(m["tool_call_id"])] = ok
    return [CallOutcome(c["id"], c["name"], c["arguments"], results.get(str(c["id"]), False))
            for c in tool_calls_of(trajectory)]


def terms(spec: dict[str, Any], trajectory: list[dict[str, Any]], outcomes: list[CallOutcome]) -> dict[str, Any]:
    """Every term of the reward, for logging and tests."""
    answer_spec = spec.get("answer") or {}
    text = final_answer_text(trajectory)
    ans = score(answer_spec, text) if text is not None else Result(0.0, None, answer_spec.get("answer"), "no answer")
    has_answer = text is not None and extract_answer(text)[0] is not None
    gold = set(spec.get("gold_tools") or [])
    used = {o.name for o in outcomes if o.ok}
    if gold:
        tp = len(used & gold)
        p = tp / len(used) if used else 0.0
        r = tp / len(gold)
        f1 = 2 * p * r / (p + r) if tp else 0.0
    else:
        f1 = 1.0 if not outcomes else 0.0  # a task that needs no tool: any call is superfluous
    seen: set[tuple[str, str]] = set()
    repeats = 0
    for o in outcomes:
        key = (o.name, _canon(o.arguments))
        repeats += key in seen
        seen.add(key)
    max_calls = int(spec.get("max_calls", 8))
    invalid = sum(not o.ok for o in outcomes)
    excess = max(0, len(outcomes) - max_calls)
    w = {**DEFAULT_WEIGHTS, **(spec.get("weights") or {})}
    pen = {**DEFAULT_PENALTIES, **(spec.get("penalties") or {})}
    answer_score = ans.score if ans.score is not None else 0.0
    gate = answer_score if spec.get("tool_credit", "correct") == "correct" else float(has_answer)
    total = w["answer"] * answer_score + w["tools"] * f1 * gate
    total -= pen["invalid"] * invalid + pen["excess"] * excess + pen["repeat"] * repeats
    return {"score": round(min(1.0, max(0.0, total)), 6), "answer": ans.score, "answer_reason": ans.reason,
            "pred": ans.pred, "gold": ans.gold, "tools_f1": round(f1, 4), "used": sorted(used),
            "gold_tools": sorted(gold), "calls": len(outcomes), "invalid": invalid, "excess": excess,
            "repeats": repeats, "has_answer": has_answer, "gradable": ans.score is not None}


def _canon(arguments: str) -> str:
    value = arguments_value(arguments)
    return str(arguments) if value is arguments else json.dumps(value, sort_keys=True)


def result_of(t: dict[str, Any]) -> Result:
    if not t["gradable"]:
        return Result(None, t["pred"], t["gold"], f"answer not gradable: {t['answer_reason']}")
    reason = (f"answer {t['answer']:g} ({t['answer_reason']}); tools F1 {t['tools_f1']:.2f} used {t['used']} "
              f"gold {t['gold_tools']}; calls {t['calls']} invalid {t['invalid']} excess {t['excess']} "
              f"repeats {t['repeats']}")
    return Result(t["score"], t["pred"], t["gold"], reason)


def score_tool_env(spec: dict[str, Any], completion: Any) -> Result:
    """The scorer registered for ``tool_env`` in ``synthesis.rewards.score``.

    With ``spec["env"]`` (an environment config) the calls are replayed in a fresh environment, so the
    outcome of each call is recomputed rather than trusted; otherwise it is read from the tool messages."""
    trajectory = completion if isinstance(completion, list) else [{"role": "assistant", "content": str(completion)}]
    if spec.get("env"):
        from .base import ToolEnv

        env = ToolEnv(spec["env"])
        try:
            return env.reward(trajectory, spec)
        finally:
            env.close()
    return result_of(terms(spec, trajectory, outcomes_from_messages(trajectory)))


def tool_env_spec(answer_spec: dict[str, Any], gold_tools: list[str], max_calls: int = 8,
                  weights: dict[str, float] | None = None) -> dict[str, Any]:
    spec = {"spec_version": 1, "type": "tool_env", "answer": answer_spec, "gold_tools": sorted(gold_tools),
            "max_calls": max_calls}
    if weights:
        spec["weights"] = weights
    return spec
