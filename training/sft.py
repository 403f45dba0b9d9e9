"""Render ``sft`` conversations with the model's chat template; loss only on assistant tokens.

System, user and tool turns are masked (label -100). With a template that marks assistant turns with
``{% generation %}`` the mask comes from transformers (``return_assistant_tokens_mask``); for templates
without it, assistant spans are found by rendering growing prefixes of the conversation (the text an
assistant turn adds after the generation prompt is the part the model must learn to produce).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np


class RenderError(ValueError):
    pass


def to_chat_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """huijin message records → the OpenAI/HF chat form templates expect (tool calls as ``function`` dicts)."""
    out = []
    for m in messages:
        msg: dict[str, Any] = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            calls = []
            for tc in m["tool_calls"]:
                args: Any = tc.get("arguments") or "{}"
                try:
                    args = json.loads(args) if isinstance(args, str) else args
                except json.JSONDecodeError:
                    pass  # keep the raw string: the template prints it verbatim
                calls.append({"id": tc.get("id"), "type": "function",
                              "function": {"name": tc.get("name"), "arguments": args}})
            msg["tool_calls"] = calls
        if m.get("tool_call_id"):
            msg["tool_call_id"] = m["tool_call_id"]
        if m.get("name"):
            msg["name"] = m["name"]
        out.append(msg)
    return out


def parse_tools(tools: str | list | None) -> list[dict[str, Any]] | None:
    if tools is None or tools == "":
        return None
    val = json.loads(tools) if isinstance(tools, str) else tools
    return val or None


def render(tok, record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """(input ids, loss mask) of one sft record; mask is 1 exactly on assistant-produced tokens."""
    where = f"sft record {record.get('id')!r}"
    try:
        msgs = to_chat_messages(record["messages"])
        tools = parse_tools(record.get("tools"))
    except (KeyError, TypeError, json.JSONDecodeError) as e:
        raise RenderError(f"{where}: cannot read messages/tools ({e})") from None
    if not any(m["role"] == "assistant" for m in msgs):
        raise RenderError(f"{where}: no assistant turn, nothing to learn")
    if "generation" in (tok.chat_template or ""):
        r = tok.apply_chat_template(msgs, tools=tools, tokenize=True, return_dict=True,
                                    return_assistant_tokens_mask=True)
        return np.asarray(r["input_ids"], np.int64), np.asarray(r["assistant_masks"], np.int64)
    return render_by_prefix(tok, msgs, tools)


def render_by_prefix(tok, msgs: list[dict[str, Any]], tools: list | None) -> tuple[np.ndarray, np.ndarray]:
    """Assistant spans from prefix renderings (for templates without generation tags)."""
    def ids(ms: list, gen: bool) -> list[int]:
        return list(tok.apply_chat_template(ms, tools=tools, tokenize=True, add_generation_prompt=gen,
                                            return_dict=True)["input_ids"])

    full = ids(msgs, False)
    mask = np.zeros(len(full), np.int64)
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        start = len(ids(msgs[:i], True))
        end = len(ids(msgs[: i + 1], False))
        mask[start:end] = 1
    return np.asarray(full, np.int64), mask
