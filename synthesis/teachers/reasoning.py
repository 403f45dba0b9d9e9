"""Reasoning traces: keep a teacher's thinking apart from its answer.

R1-style endpoints return the trace in a separate message field (``reasoning_content``; vLLM's newer servers
and some gateways call it ``reasoning``); others, or the same models behind a plain server, write it inline as a
leading ``<think>…</think>`` block. Either way the answer is what follows and the trace is kept on its own, so a
verifier scores the answer alone and an SFT record can carry (or leave out) the trace. No library does this
split for a raw OpenAI-compatible response (vLLM's reasoning parsers run server-side), hence these few lines.
"""

from __future__ import annotations

import re
from typing import Any

THINK = re.compile(r"^\s*<think>(.*?)</think>\s*", re.DOTALL)
UNCLOSED = re.compile(r"^\s*<think>(.*)$", re.DOTALL)  # a trace cut off by the token budget: no answer at all
FIELDS = ("reasoning_content", "reasoning")


def split_reasoning(content: str | None, reasoning: str | None = None) -> tuple[str | None, str | None]:
    """``(answer, trace)``: a separate trace wins; otherwise a leading ``<think>`` block is moved out of the
    content. An unclosed ``<think>`` (truncated) is all trace and no answer."""
    if content is not None:
        m = THINK.match(content)
        if m:
            inline = m.group(1).strip()
            content = content[m.end():]
            reasoning = reasoning or inline or None
        elif (u := UNCLOSED.match(content)) is not None:
            reasoning, content = reasoning or u.group(1).strip() or None, ""
    return content, (reasoning.strip() or None) if isinstance(reasoning, str) else None


def reasoning_of(message: Any) -> str | None:
    """The separate trace of an ``openai`` response message (or a dict), under either field name."""
    extra = getattr(message, "model_extra", None) or {}
    for f in FIELDS:
        v = message.get(f) if isinstance(message, dict) else getattr(message, f, None) or extra.get(f)
        if isinstance(v, str) and v.strip():
            return v
    return None
