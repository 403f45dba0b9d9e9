"""Multi-turn agentic rollouts: the policy writes tool calls, an environment answers, the loop repeats.

Tool calls are read from the policy's text in the chat template's format (``<tool_call>{"name": ..,
"arguments": {..}}</tool_call>``, the Hermes/Qwen layout huijin's tiny template renders). Everything the
environment contributes — the tool message and the template glue around it — is appended as tokens with loss
mask 0, so the policy is never trained to imitate tool output. The environment API is the one of
``synthesis/envs``: ``reset(task) -> observation``, ``step(tool_call) -> observation``, ``reward(trajectory)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Protocol

from finance.messages import parse_tools, template_messages

from .rollout import GenConfig, Sample, generate_batch, render_prompt, stop_token_ids

_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.DOTALL)
MAX_CALLS_PER_TURN = 8  # more than this in one turn is cut (counted invalid), so a runaway turn stays cheap


class ToolEnv(Protocol):
    def reset(self, task: Any) -> Any: ...
    def step(self, tool_call: dict[str, Any]) -> Any: ...
    def reward(self, trajectory: list[dict[str, Any]]) -> Any: ...


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, str]], int]:
    """``(content, calls, invalid)``: the text outside tool-call blocks, the well-formed calls as
    ``{"name", "arguments"}`` (arguments a JSON string), and how many blocks were malformed (not JSON, no name).
    Policy text is untrusted: only ``json.loads``, never evaluated."""
    calls, invalid = [], 0
    for raw in _CALL.findall(text):
        try:
            obj = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            invalid += 1
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
            invalid += 1
            continue
        args = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(args, str):
            try:
                json.loads(args)
            except json.JSONDecodeError:
                invalid += 1
                continue
        elif not isinstance(args, dict):
            invalid += 1
            continue
        calls.append({"name": obj["name"], "arguments": args if isinstance(args, str) else
                      json.dumps(args, ensure_ascii=False, sort_keys=True)})
    if len(calls) > MAX_CALLS_PER_TURN:
        invalid += len(calls) - MAX_CALLS_PER_TURN
        calls = calls[:MAX_CALLS_PER_TURN]
    content = _CALL.sub("", text).strip()
    return content, calls, invalid


def observation_text(obs: Any) -> str:
    if isinstance(obs, str):
        return obs
    if isinstance(obs, dict) and isinstance(obs.get("content"), str):
        return obs["content"]
    return json.dumps(obs, ensure_ascii=False, default=str)


def reward_value(r: Any) -> tuple[float | None, str]:
    """An environment may return a number, ``None`` (unscorable) or a verifier ``Result``."""
    if r is None or isinstance(r, (int, float)):
        return (None if r is None else float(r)), ""
    return getattr(r, "score", None), str(getattr(r, "reason", ""))


def _render(tok, messages: list[dict[str, Any]], tools: Any, gen_prompt: bool) -> str:
    return tok.apply_chat_template(template_messages(messages), tools=parse_tools(tools),
                                   add_generation_prompt=gen_prompt, tokenize=False)


def env_turn_tokens(tok, history: list[dict[str, Any]], tool_msgs: list[dict[str, Any]], tools: Any,
                    stopped_on: int | None) -> list[int]:
    """Tokens the template puts between the end of the policy's turn and the start of its next one: the rest
    of the assistant turn after its stop token, the tool messages, and the next assistant header."""
    before = _render(tok, history, tools, False)
    after = _render(tok, history + tool_msgs, tools, True)
    if not after.startswith(before):
        raise ValueError("chat template is not prefix-stable over tool turns; cannot append tool output")
    glue = ""
    if stopped_on is not None:
        end = tok.decode([stopped_on], skip_special_tokens=False)
        at = before.rfind(end)
        glue = before[at + len(end):] if at >= 0 else ""
    return tok(glue + after[len(before):], add_special_tokens=False)["input_ids"]


def agentic_rollouts(model, tok, records: list[dict[str, Any]], group_size: int, cfg: GenConfig,
                     make_env: Callable[[dict[str, Any]], ToolEnv]) -> list[Sample]:
    """``group_size`` episodes per record, all active episodes generated together each turn."""
    stops = set(stop_token_ids(tok))
    eps: list[dict[str, Any]] = []
    for k, rec in enumerate(records):
        envs = [make_env(rec) for _ in range(group_size)]
        for env in envs:
            env.reset(rec)
        tools = rec.get("tools") or getattr(envs[0], "tools", None)  # the environment knows its tool schemas
        rec = {**rec, "tools": tools}
        prompt_ids = render_prompt(tok, rec["prompt"], tools)
        too_long = len(prompt_ids) >= cfg.max_total_tokens  # no room to act: skipped (reward None), counted
        for env in envs:
            eps.append({"rec": rec, "env": env, "history": template_messages(rec["prompt"]),
                        "sample": Sample(k, list(prompt_ids), [0] * len(prompt_ids), len(prompt_ids), "", [],
                                         turns=0, skipped="prompt_too_long" if too_long else ""),
                        "done": too_long, "texts": []})
    for turn in range(cfg.max_turns):
        active = [e for e in eps if not e["done"]]
        if not active:
            break
        budget = [cfg.max_total_tokens - len(e["sample"].ids) for e in active]
        outs = generate_batch(model, tok, [e["sample"].ids for e in active], cfg,
                              max_new_tokens=max(1, min(cfg.max_new_tokens, min(budget))))
        for e, (new, stopped) in zip(active, outs, strict=True):
            s: Sample = e["sample"]
            s.ids += new
            s.mask += [1] * len(new)
            s.turns += 1
            text = tok.decode(new, skip_special_tokens=True)
            e["texts"].append(text)
            content, calls, invalid = parse_tool_calls(text)
            s.invalid_tool_calls += invalid
            msg: dict[str, Any] = {"role": "assistant", "content": content}
            if calls:
                msg["tool_calls"] = [{"id": f"call_{turn}_{j}", **c} for j, c in enumerate(calls)]
            e["history"].append(msg)
            s.messages.append(msg)
            if not stopped:
                s.truncated = True
            if not calls or not stopped or turn == cfg.max_turns - 1:
                e["done"] = True
                continue
            tool_msgs = []
            for c in msg["tool_calls"]:
                obs = e["env"].step(dict(c))
                tool_msgs.append({"role": "tool", "tool_call_id": c["id"], "name": c["name"],
                                  "content": observation_text(obs)})
            s.tool_calls += len(calls)
            glue = env_turn_tokens(tok, e["history"], tool_msgs, e["rec"].get("tools"),
                                   new[-1] if new and new[-1] in stops else None)
            e["history"] += tool_msgs
            s.messages += tool_msgs
            s.ids += glue
            s.mask += [0] * len(glue)
            if len(s.ids) >= cfg.max_total_tokens - 1:
                s.truncated = True
                e["done"] = True
    samples = []
    for e in eps:
        s = e["sample"]
        s.text = "\n".join(e["texts"])
        if s.skipped:
            s.reward, s.reward_reason = None, f"skipped: {s.skipped}"
        else:
            s.reward, s.reward_reason = reward_value(e["env"].reward(s.messages))
        if hasattr(e["env"], "close"):
            e["env"].close()
        samples.append(s)
    return samples
