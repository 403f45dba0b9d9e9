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

from finance.messages import parse_tools, template_messages


class RenderError(ValueError):
    pass


THINKING_FIELD = "reasoning_content"  # what a chat template with a thinking format reads (Qwen3, R1, tiny.py)


def check_thinking_template(tok, where: str) -> None:
    """``sft.reasoning=true`` needs a chat template that renders reasoning traces; refuse one that would drop them."""
    if THINKING_FIELD not in (getattr(tok, "chat_template", None) or ""):
        raise ValueError(f"{where}: sft.reasoning=true, but the tokenizer's chat template has no thinking format "
                         f"(it never reads message.{THINKING_FIELD}), so the traces would be dropped silently; "
                         "use a template that renders them or set sft.reasoning=false")


def render(tok, record: dict[str, Any], reasoning: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(input ids, loss mask) of one sft record; mask is 1 exactly on assistant-produced tokens.

    With ``reasoning`` an assistant turn's trace is rendered in the template's thinking format (and learned);
    without it traces are left out and the answer alone is the target."""
    where = f"sft record {record.get('id')!r}"
    try:
        msgs = chat_messages(record["messages"], reasoning)
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


def chat_messages(raw: Any, reasoning: bool) -> list[dict[str, Any]]:
    """A record's messages as the chat template reads them; without ``reasoning`` the traces are left out."""
    msgs = template_messages(raw)
    if not reasoning:
        for m in msgs:
            m.pop(THINKING_FIELD, None)
    return msgs


def chat_ids(tok, msgs: list[dict[str, Any]], gen: bool, tools: list | None = None) -> list[int]:
    """The token ids of ``msgs`` rendered by the chat template (``gen``: with the assistant's opening)."""
    return list(tok.apply_chat_template(msgs, tools=tools, tokenize=True, add_generation_prompt=gen,
                                        return_dict=True)["input_ids"])


def render_by_prefix(tok, msgs: list[dict[str, Any]], tools: list | None) -> tuple[np.ndarray, np.ndarray]:
    """Assistant spans from prefix renderings (for templates without generation tags)."""
    def ids(ms: list, gen: bool) -> list[int]:
        return chat_ids(tok, ms, gen, tools)

    full = ids(msgs, False)
    mask = np.zeros(len(full), np.int64)
    for i, m in enumerate(msgs):
        if m["role"] != "assistant":
            continue
        start = len(ids(msgs[:i], True))
        end = len(ids(msgs[: i + 1], False))
        mask[start:end] = 1
    return np.asarray(full, np.int64), mask
