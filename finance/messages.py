"""Chat messages: huijin's record form and the two forms other code wants, converted in one place.

huijin records (``catalogs.schemas``) hold a message as ``{role, content, tool_calls, tool_call_id, name}``
with every field present (None where unused) and a tool call flat: ``{"id", "name", "arguments"}``,
arguments a JSON string. Two consumers want other shapes:

- the OpenAI wire (``wire_message``): unset fields and reasoning traces left out, calls nested as ``{"id", "type": "function",
  "function": {"name", "arguments"}}`` with arguments still a JSON string (what the API takes);
- a Hugging Face chat template (``template_messages``): the same nesting, but arguments a dict (HF's
  convention: templates write them with ``| tojson``; a string there would be quoted twice) and content
  always a string.

``tool_calls_of`` reads calls back flat from either shape; ``parse_tools`` reads a record's ``tools`` column
(a JSON string or a list); ``messages_text`` is the plain text of a conversation (classifiers, decontamination).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any


def arguments_value(text: Any) -> Any:
    """Tool-call arguments as JSON values, or ``text`` itself when they are not JSON Python can hold (bad JSON, an
    integer past the 4,300-digit limit, nesting past the stack): policy text is untrusted."""
    try:
        return json.loads(text)
    except (ValueError, TypeError, RecursionError):
        return text


def _nested_call(c: Mapping[str, Any], parse_arguments: bool) -> dict[str, Any]:
    if "function" in c:  # already nested (OpenAI shape)
        fn = dict(c["function"])
        call = {**c, "function": fn}
    else:
        fn = {"name": c["name"], "arguments": c.get("arguments") or "{}"}
        call = {"id": c.get("id"), "type": "function", "function": fn}
    if parse_arguments and isinstance(fn.get("arguments"), str):
        fn["arguments"] = arguments_value(fn["arguments"])  # a raw string stays: the template prints it verbatim
    return call


def wire_message(m: Mapping[str, Any]) -> dict[str, Any]:
    """A record-schema message → the OpenAI wire shape (unset fields left out, tool calls nested under
    ``function``, arguments JSON strings)."""
    # a reasoning trace is not sent back: reasoning APIs refuse ``reasoning_content`` in input messages
    out = {k: v for k, v in m.items() if v is not None and k not in ("tool_calls", "reasoning_content")}
    if m.get("tool_calls"):
        out["tool_calls"] = [_nested_call(c, parse_arguments=False) for c in m["tool_calls"]]
    return out


def template_messages(messages: Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """Record-schema (or OpenAI-shaped) messages → what HF chat templates expect: unset fields left out,
    content a string, tool calls nested under ``function`` with arguments parsed to a dict."""
    out = []
    for m in messages or []:
        d = {k: v for k, v in dict(m).items() if v is not None and k != "tool_calls"}
        d["content"] = d.get("content") or ""
        if m.get("tool_calls"):
            d["tool_calls"] = [_nested_call(c, parse_arguments=True) for c in m["tool_calls"]]
        out.append(d)
    return out


def tool_calls_of(messages: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every tool call the assistant made, in order, flat: ``{"id", "name", "arguments"}`` with arguments a
    JSON string (accepts record-schema and OpenAI message shapes)."""
    out = []
    for m in messages:
        if m.get("role") != "assistant":
            continue
        for c in m.get("tool_calls") or []:
            fn = c.get("function", c)
            args = fn.get("arguments")
            out.append({"id": c.get("id"), "name": str(fn.get("name") or ""),
                        "arguments": args if isinstance(args, str) else json.dumps(args or {}, sort_keys=True)})
    return out


def parse_tools(tools: str | list | None) -> list[dict[str, Any]] | None:
    """A record's ``tools`` column (JSON string or list) → a list of tool schemas, or None when there are none."""
    if tools is None or tools == "":
        return None
    val = json.loads(tools) if isinstance(tools, str) else tools
    return val or None


def messages_text(messages: Any, sep: str = "\n\n") -> str:
    """The text of a message list: contents and tool-call arguments, joined by ``sep``."""
    parts = []
    for m in messages or []:
        if not isinstance(m, Mapping):
            continue
        if m.get("content"):
            parts.append(str(m["content"]))
        for c in m.get("tool_calls") or []:
            if isinstance(c, Mapping) and c.get("arguments"):
                parts.append(str(c["arguments"]))
    return sep.join(parts)
