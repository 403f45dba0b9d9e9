"""Reward specs and answer formatting shared by the generators (numeric answers with unit, scale, tolerance).

Conventions (DESIGN.md): a percentage question declares ``unit: percent`` and is asked "as a percentage", so
a bare ``0.187`` against 18.7% scores 0 — the spec only allows percent↔ratio where the wording is ambiguous
(``allow_percent_ratio``); amounts carry the table's ``scale`` so ``1,120``, ``$1,120 million`` and
``1,120,000,000`` all read as the same value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .records import Output

SPEC_VERSION = 1
PERCENT_TOL = {"rel_tol": 1e-3, "abs_tol": 0.01}  # answers asked to 2 decimals
AMOUNT_TOL = {"rel_tol": 1e-3, "abs_tol": 0.01}
RATIO_TOL = {"rel_tol": 1e-3, "abs_tol": 1e-4}  # ratios asked to 4 decimals
VERIFIABLE = frozenset({"numeric", "choice", "exact", "set", "program"})  # scored from the answer text alone


def verifiable_tasks(records: Iterable[dict[str, Any]], out: Output, limit: int | None) -> list[dict[str, Any]]:
    """The tasks of an ``rl`` version that a sampler can score from a completion's text, at most ``limit``.

    Every record looked at is counted on ``out``; the others are dropped with their reason: a spec that needs a
    judge or an environment (``not_verifiable:<type>``), or a task that needs tools (``needs_tools``: agentic
    tasks are solved through their environment, by ``agentic_sft``). One filter for rejection sampling and
    on-policy pairs, so both see the same tasks."""
    tasks: list[dict[str, Any]] = []
    for rec in records:
        if limit is not None and len(tasks) >= limit:
            break
        out.consider()
        spec_type = json.loads(rec["reward_spec"]).get("type")
        if spec_type not in VERIFIABLE:
            out.drop(f"not_verifiable:{spec_type}")
        elif rec.get("tools"):
            out.drop("needs_tools")
        else:
            tasks.append(rec)
    return tasks


def numeric_spec(answer: float, unit: str | None = None, scale: str | None = None, *,
                 allow_percent_ratio: bool = False, **tol: float) -> dict[str, Any]:
    spec: dict[str, Any] = {"spec_version": SPEC_VERSION, "type": "numeric", "answer": _clean(answer)}
    if unit:
        spec["unit"] = unit
    if scale:
        spec["scale"] = scale
    if allow_percent_ratio:
        spec["allow_percent_ratio"] = True
    spec.update(tol or AMOUNT_TOL)
    return spec


def percent_spec(ratio: float, allow_percent_ratio: bool = False, **tol: float) -> dict[str, Any]:
    """A ratio asked for as a percentage: the gold is stored in percent (0.187 → 18.7)."""
    return numeric_spec(ratio * 100.0, "percent", allow_percent_ratio=allow_percent_ratio, **(tol or PERCENT_TOL))


def exact_spec(answer: str | list[str]) -> dict[str, Any]:
    return {"spec_version": SPEC_VERSION, "type": "exact", "answer": answer}


def set_spec(items: list[str]) -> dict[str, Any]:
    return {"spec_version": SPEC_VERSION, "type": "set", "answer": [str(x) for x in items]}


def _clean(x: float) -> float:
    x = float(x)
    if not math.isfinite(x):
        raise ValueError("non-finite answer")
    return float(f"{x:.10g}")


def format_number(x: float, decimals: int = 2) -> str:
    """``1120.0`` → ``1,120``; ``0.18701`` → ``0.19``; thousands separators, trailing zeros dropped."""
    s = f"{x:,.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


def boxed_answer(spec: dict[str, Any]) -> str:
    """The final answer as a gold solution writes it, inside ``\\boxed{}``."""
    t = spec["type"]
    ans = spec.get("answer")
    if t == "numeric":
        if spec.get("unit") == "percent":
            return f"\\boxed{{{format_number(float(ans))}\\%}}"
        decimals = 4 if spec.get("unit") == "ratio" or abs(float(ans)) < 1 else 2
        return f"\\boxed{{{format_number(float(ans), decimals)}}}"
    if t == "set":
        return "\\boxed{" + ", ".join(ans) + "}"
    if isinstance(ans, list):
        ans = ans[0]
    return f"\\boxed{{{ans}}}"


def answer_instruction(spec: dict[str, Any], lang: str = "en") -> str:
    """What the prompt tells the model about the answer's form (unit, scale, rounding, box)."""
    t, unit, scale = spec["type"], spec.get("unit"), spec.get("scale")
    if lang == "zh":
        if t == "numeric" and unit == "percent":
            return "请以百分比形式给出答案，保留两位小数，并写在 \\boxed{} 中，例如 \\boxed{12.34\\%}。"
        if t == "numeric" and unit == "ratio":
            return "请给出比值（保留四位小数，或以百分比表示并保留两位小数），并写在 \\boxed{} 中。"
        if t == "numeric":
            unit_zh = {"thousand": "千", "million": "百万", "billion": "十亿"}.get(scale or "", "")
            return (f"请以{unit_zh}为单位（与表格一致）给出数值答案，" if unit_zh else "请给出数值答案，") + \
                "保留两位小数，并写在 \\boxed{} 中。"
        if t == "set":
            return "请给出所有答案项，用逗号分隔，写在 \\boxed{} 中。"
        return "请将最终答案写在 \\boxed{} 中。"
    if t == "numeric" and unit == "percent":
        return "Give the answer as a percentage rounded to two decimals, in \\boxed{}, e.g. \\boxed{12.34\\%}."
    if t == "numeric" and unit == "ratio":
        return "Give the ratio rounded to four decimals (or as a percentage with two decimals), in \\boxed{}."
    if t == "numeric":
        where = f"in {scale}s as in the table, " if scale else ""
        return f"Give the numeric answer {where}rounded to two decimals, in \\boxed{{}}."
    if t == "set":
        return "List every answer item, separated by commas, in \\boxed{}."
    return "Put the final answer in \\boxed{}."
