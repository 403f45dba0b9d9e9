"""Records as HTML: full text with its Markdown tables drawn as tables, chat messages as bubbles (with tool
calls and reasoning), reward specs as key/value tables (a spec's ``table`` as a table). Everything is escaped."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from markupsafe import Markup

from catalogs.schemas import loads_json_field as _load


def text(s: Any) -> Markup:
    """Plain text, pre-wrapped, with pipe tables (``| a | b |`` lines) rendered as HTML tables."""
    if s is None:
        return Markup('<span class="none">—</span>')
    lines = str(s).split("\n")
    out: list[str] = []
    buf: list[str] = []
    i = 0
    while i < len(lines):
        if _is_row(lines[i]):
            j = i
            while j < len(lines) and _is_row(lines[j]):
                j += 1
            if j - i >= 2:
                if buf:
                    out.append(f'<div class="pre">{escape(chr(10).join(buf))}</div>')
                    buf = []
                out.append(_pipe_table(lines[i:j]))
                i = j
                continue
        buf.append(lines[i])
        i += 1
    if buf:
        out.append(f'<div class="pre">{escape(chr(10).join(buf))}</div>')
    return Markup("".join(out))


def _is_row(line: str) -> bool:
    t = line.strip()
    return len(t) >= 2 and t.startswith("|") and t.endswith("|")


def _pipe_table(lines: list[str]) -> str:
    rows = [[c.strip() for c in ln.strip()[1:-1].split("|")] for ln in lines]
    rows = [r for r in rows if not all(set(c) <= set("-: ") and c for c in r)]  # the |---|---| rule
    if not rows:
        return ""
    head, body = rows[0], rows[1:]
    h = "".join(f"<th>{escape(c)}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in body)
    return f'<table class="rec-table"><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>'


def grid(rows: list[list[Any]]) -> Markup:
    """A list of rows (first row = header) as a table."""
    if not rows or not isinstance(rows, list):
        return Markup("")
    head, body = rows[0], rows[1:]
    h = "".join(f"<th>{escape(str(c))}</th>" for c in head)
    b = "".join("<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in r) + "</tr>" for r in body)
    return Markup(f'<table class="rec-table"><thead><tr>{h}</tr></thead><tbody>{b}</tbody></table>')


def messages(v: Any) -> Markup:
    """Chat messages (role, content, tool calls, reasoning) as bubbles."""
    msgs = _load(v)
    if not isinstance(msgs, list):
        return text(v)
    parts = ['<div class="chat">']
    for m in msgs:
        if not isinstance(m, dict):
            continue
        role = str(m.get("role") or "?")
        parts.append(f'<div class="msg {escape(role)}"><div class="role">{escape(role)}'
                     + (f' · {escape(str(m["name"]))}' if m.get("name") else "") + "</div>")
        if m.get("reasoning_content"):
            parts.append(f'<details class="reasoning"><summary>reasoning</summary>{text(m["reasoning_content"])}'
                         "</details>")
        if m.get("content") is not None:
            parts.append(str(text(m["content"])))
        for call in _load(m.get("tool_calls")) or []:
            fn = call.get("function", call) if isinstance(call, dict) else {}
            args = fn.get("arguments")
            args = json.dumps(_load(args), ensure_ascii=False, indent=1) if args is not None else ""
            parts.append(f'<div class="tool-call">→ {escape(str(fn.get("name")))}'
                         f'<pre>{escape(args)}</pre></div>')
        parts.append("</div>")
    parts.append("</div>")
    return Markup("".join(parts))


def spec(v: Any) -> Markup:
    """A reward spec (or any JSON object) as a key/value table; nested tables as tables."""
    d = _load(v)
    if not isinstance(d, dict):
        return text(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str))
    rows = []
    for k, val in d.items():
        if k == "table" and isinstance(val, list) and val and all(isinstance(r, list) for r in val):
            cell = str(grid(val))
        elif isinstance(val, (dict, list)):
            cell = f"<pre>{escape(json.dumps(val, ensure_ascii=False, indent=1, default=str))}</pre>"
        else:
            cell = escape(str(val))
        rows.append(f"<tr><th>{escape(str(k))}</th><td>{cell}</td></tr>")
    return Markup(f'<table class="kv">{"".join(rows)}</table>')


def value(k: str, v: Any) -> Markup:
    """Any column of a record, by what it holds."""
    if k in ("messages", "prompt", "chosen", "rejected"):
        return messages(v)
    if k in ("reward_spec", "meta", "source", "env", "scores") or isinstance(v, dict):
        return spec(v)
    if k == "text":
        return text(v)
    if isinstance(v, list):
        return Markup(f"<pre>{escape(json.dumps(v, ensure_ascii=False, indent=1, default=str))}</pre>")
    return Markup(escape("—" if v is None else str(v)))
