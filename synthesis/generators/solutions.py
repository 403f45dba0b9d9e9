"""Worked solutions rendered from programs: the facts read from the table, one line per program step with its
value, and the boxed final answer. Used as reasoning SFT targets; every solution is checked by the verifier
against its own reward spec before it is kept (a rendering bug cannot produce a wrong training target).
"""

from __future__ import annotations

import re
from typing import Any

from finance.arith import ProgramError, parse_finqa, run_finqa, run_python_arith, str_to_num

from .specs import boxed_answer, format_number

OPS = {
    "add": ("+", "add", "相加"), "subtract": ("−", "subtract", "相减"), "multiply": ("×", "multiply", "相乘"),
    "divide": ("÷", "divide", "相除"), "exp": ("^", "raise to the power", "乘方"), "greater": (">", "compare", "比较"),
}


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return v
    return format_number(v, 6 if abs(v) < 1 else 4)


def finqa_steps(program: str, table: list[list[str]] | None = None) -> list[tuple[str, Any]]:
    """``[(description, value), ...]`` for each step of a FinQA program (values from the safe interpreter)."""
    steps = parse_finqa(program)
    out: list[tuple[str, Any]] = []
    for i, (op, args) in enumerate(steps):
        value = run_finqa(", ".join(f"{o}({', '.join(a)})" for o, a in steps[: i + 1]), table)
        if op.startswith("table_"):
            out.append((f"{op.removeprefix('table_')} of the row '{args[0]}'", value))
            continue
        shown = [_fmt(out[int(a[1:])][1]) if a.startswith("#") else _fmt(_arg(a)) for a in args]
        sym = OPS[op][0]
        out.append((f"{shown[0]} {sym} {shown[1]}", value))
    return out


def _arg(token: str) -> float | str:
    v = str_to_num(token)
    return token if v is None else v


def python_steps(program: str) -> list[tuple[str, Any]]:
    """Steps of a PoT arithmetic program ``x0 = a - b; ans = x0 / b`` with each assignment's value (every
    prefix of the program is run by the safe interpreter; nothing is executed as Python)."""
    stmts = [s.strip() for s in re.split(r"[;\n]", program) if s.strip()]
    out = []
    for k, stmt in enumerate(stmts):
        name, _, expr = stmt.partition("=")
        if not expr:
            raise ProgramError(f"statement {stmt!r} is not an assignment")
        value = run_python_arith("; ".join(stmts[: k + 1]), result=name.strip())
        out.append((f"{name.strip()} = {expr.strip()}", value))
    return out


def render_solution(facts: list[tuple[str, str, float]], steps: list[tuple[str, Any]], spec: dict[str, Any],
                    lang: str = "en") -> str:
    """Step-by-step rationale ending in the boxed answer (the answer's form follows the spec)."""
    lines = []
    if facts:
        head = "从表格中读取：" if lang == "zh" else "From the table:"
        lines.append(head)
        lines += [f"- {row} ({col}): {_fmt(v)}" for row, col, v in facts]
    for i, (desc, value) in enumerate(steps, 1):
        lines.append((f"第{i}步：" if lang == "zh" else f"Step {i}: ") + f"{desc} = {_fmt(value)}")
    final = steps[-1][1] if steps else spec.get("answer")
    if spec.get("type") == "numeric" and spec.get("unit") == "percent" and isinstance(final, float):
        if abs(final * 100 - float(spec["answer"])) < abs(final - float(spec["answer"])):
            lines.append(("换算为百分比：" if lang == "zh" else "As a percentage: ")
                         + f"{_fmt(final)} × 100 = {format_number(final * 100)}%")
    lines.append(("因此答案是 " if lang == "zh" else "The answer is ") + boxed_answer(spec) + ("。" if lang == "zh"
                                                                                        else "."))
    return "\n".join(lines)


def solution_for(program: str | None, dsl: str | None, spec: dict[str, Any], facts: list | None = None,
                 table: list[list[str]] | None = None, lang: str = "en") -> str | None:
    """A worked solution for a program, or None when the program cannot be rendered (no program, bad program)."""
    if not program:
        return None
    try:
        steps = python_steps(program) if dsl == "python" else finqa_steps(program, table)
    except (ProgramError, ValueError, IndexError):
        return None
    if not steps:
        return None
    return render_solution(facts or [], steps, spec, lang)
