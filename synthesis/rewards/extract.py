"""Answer extraction from a completion: last ``\\boxed{}``, ``<answer>…</answer>``, or an ``Answer:`` line.

Order of preference: the last ``\\boxed{...}`` (brace-matched, so ``\\boxed{\\frac{1}{2}}`` works), then the last
``<answer>`` block, then the last line starting with ``Answer:`` / ``Final answer:`` / ``答案：``. No marker → no
answer (the completion scores 0: guessing "the last number in the text" rewards rambling).

The reasoning is never read (``strip_thinking``): after long-CoT SFT a policy writes ``<think>…</think>`` before its
answer, and a ``\\boxed{}`` or ``Answer:`` tried out inside the trace is not the answer it gives — a completion
whose only marker is in the trace has no answer. Every scorer, check and eval reads text through
``completion_text``, so this is the one place that decides it.
"""

from __future__ import annotations

import re

MAX_COMPLETION = 200_000  # characters looked at; longer completions are cut (tail kept: answers come last)
_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_ANSWER_LINE = re.compile(r"^[ \t*#>_-]*(?:the\s+)?(?:final\s+)?(?:answer|答案|最终答案)[ \t*]*[:：](.+)$",
                          re.IGNORECASE | re.MULTILINE)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` with balanced braces; None when absent or unbalanced.

    One linear pass matching every brace (a stack of open positions), so thousands of unclosed
    ``\\boxed{`` cannot make it quadratic."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    close_of: dict[int, int] = {}
    stack: list[int] = []
    i, n = starts[0] - 1, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "{}":
            i += 2  # escaped brace \{ \}
            continue
        if c == "{":
            stack.append(i)
        elif c == "}" and stack:
            close_of[stack.pop()] = i
        i += 1
    for start in reversed(starts):
        end = close_of.get(start - 1)
        if end is not None:
            return text[start:end].strip()
    return None


def extract_answer(completion: str | list | dict | None) -> tuple[str | None, str]:
    """``(answer_text, method)``; method is ``boxed``, ``answer_tag``, ``answer_line`` or ``none``.

    A chat completion given as messages uses the last assistant message's content."""
    text = completion_text(completion)
    if not text:
        return None, "none"
    if len(text) > MAX_COMPLETION:
        text = text[-MAX_COMPLETION:]
    boxed = last_boxed(text)
    if boxed is not None:
        return _unwrap_latex(boxed), "boxed"
    low = text.lower()  # rfind, not a lazy regex: 10k unclosed <answer> tags must stay linear
    close = low.rfind("</answer>")
    open_ = low.rfind("<answer>", 0, close) if close >= 0 else -1
    if open_ >= 0:
        inner = text[open_ + len("<answer>"):close].strip()
        inner_boxed = last_boxed(inner)
        return (_unwrap_latex(inner_boxed) if inner_boxed is not None else inner), "answer_tag"
    lines = _ANSWER_LINE.findall(text)
    if lines:
        ans = lines[-1].strip(" \t*")
        return (ans or None), ("answer_line" if ans else "none")
    return None, "none"


def completion_text(completion: str | list | dict | None) -> str:
    """The text to read an answer from, its reasoning left out (``strip_thinking``); anything that is not text or
    messages has none (never an error). A message's separate ``reasoning_content`` is never read either."""
    if isinstance(completion, str):
        return strip_thinking(completion)
    if isinstance(completion, dict):
        return strip_thinking(_content(completion.get("content")))
    if isinstance(completion, (list, tuple)):
        for m in reversed(completion):  # list of messages (TRL conversational completions)
            if isinstance(m, dict) and m.get("role", "assistant") == "assistant" and m.get("content"):
                return strip_thinking(_content(m["content"]))
    return ""


_THINK_TAG = re.compile(r"<(/?)think>", re.IGNORECASE)


def strip_thinking(text: str) -> str:
    """``text`` without its reasoning trace: every ``<think>…</think>`` block is removed wherever it stands; text
    before a ``</think>`` that closes no block is trace too (chat templates that open the block in the generation
    prompt, as R1 / Qwen3 do, so the completion starts inside it); an unclosed ``<think>`` (a trace cut off by the
    token budget) makes the rest trace. One pass over the tags: thousands of them stay linear."""
    kept: list[str] = []
    pos, open_at = 0, None
    for m in _THINK_TAG.finditer(text):
        if not m.group(1):  # <think>
            if open_at is None:
                kept.append(text[pos:m.start()])
                open_at = m.start()
            continue  # a <think> inside an open block is part of that block
        if open_at is None:  # a </think> closing nothing: all so far was trace
            kept = []
        open_at, pos = None, m.end()
    if open_at is None:
        kept.append(text[pos:])
    return "".join(kept)


def _content(c: object) -> str:
    """Message content as text: a string, or the text parts of an OpenAI content list."""
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        return "".join(p["text"] for p in c if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


_TEXT_CMD = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\s*\{([^{}]*)\}")


def _unwrap_latex(s: str) -> str:
    """Strip the LaTeX that wraps plain answers: \\text{...}, \\%, \\$, thin spaces, ``\\!``."""
    s = _TEXT_CMD.sub(r"\1", s)
    for a, b in (("\\%", "%"), ("\\$", "$"), ("\\,", ""), ("\\!", ""), ("\\ ", " "), ("{,}", ",")):
        s = s.replace(a, b)
    frac = re.fullmatch(r"\s*(-?)\\d?frac\{(-?[\d.]+)\}\{(-?[\d.]+)\}\s*", s)
    if frac:
        try:
            num, den = float(frac.group(2)), float(frac.group(3))
            if den:
                return repr((-1 if frac.group(1) else 1) * num / den)
        except ValueError:
            pass
    return s.strip()
