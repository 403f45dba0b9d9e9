"""One agentic episode: the policy speaks, the environment answers its tool calls, until a final answer.

``policy(messages, tools) -> assistant message`` is anything that produces the next assistant turn (a teacher
client, a trainer's sampler, a scripted test policy). Used by the agentic SFT generator and by RL rollouts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from synthesis.rewards import Result

from .base import ToolEnv

Policy = Callable[[list[dict[str, Any]], list[dict[str, Any]]], dict[str, Any]]


@dataclass
class Episode:
    messages: list[dict[str, Any]]  # prompt + assistant turns + tool messages (role "tool": mask in training)
    result: Result
    turns: int
    finished: bool  # ended with an assistant message without tool calls


def rollout(env: ToolEnv, task: dict[str, Any], policy: Policy, max_turns: int = 8) -> Episode:
    messages = env.reset(task)
    n_prompt = len(messages)
    finished = False
    turns = 0
    for turns in range(1, max_turns + 1):  # noqa: B007 — turns is reported
        msg = policy(messages, env.tools)
        messages.append({"role": "assistant", "content": msg.get("content"), "tool_calls": msg.get("tool_calls")})
        if not msg.get("tool_calls"):
            finished = True
            break
        for call in msg["tool_calls"]:
            messages.append(env.step(call))
    result = env.reward(messages[n_prompt:])
    return Episode(messages, result, turns, finished)
