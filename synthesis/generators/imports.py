"""Benchmark questions → RL tasks: FinQA / TAT-QA / ConvFinQA questions with reward specs of the right kind.

* FinQA: the program is run by the safe interpreter and must reproduce ``exe_ans`` (else quarantined);
  answers written with ``%`` are asked as percentages; yes/no answers become ``exact`` specs.
* TAT-QA: ``scale`` is respected (``percent`` → unit percent; thousand/million/billion → the spec's scale);
  spans become ``exact`` (or ``numeric`` when the span is one number), multi-spans ``set``, counts numeric.
* ConvFinQA: every turn is a task whose prompt holds the earlier turns; the gold comes from the turn's program.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from finance.numbers import parse_quantity
from synthesis.rewards.program import ProgramError, run_finqa, run_python_arith
from synthesis.rewards.verify import agrees

from .specs import AMOUNT_TOL, IMPORTED_TOL, RATIO_TOL, exact_spec, numeric_spec, set_spec
from .tables import SourceQuestion, TableContext, numeric_grid

TATQA_SCALES = {"thousand", "million", "billion"}


class ImportRejected(ValueError):
    """The source question cannot become a verifiable task; ``reason`` is the drop/quarantine class."""

    def __init__(self, reason: str, detail: str = "", quarantine: bool = False) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.quarantine = reason, quarantine


@dataclass
class ImportedTask:
    question: str
    spec: dict[str, Any]
    program: str | None
    dsl: str | None
    answer_type: str
    history: list[tuple[str, str]]
    leaf_key: str
    qid: str


def import_question(ctx: TableContext, q: SourceQuestion, turn: int = 0) -> ImportedTask:
    if ctx.dataset == "finqa":
        return _finqa(ctx, q)
    if ctx.dataset == "tatqa":
        return _tatqa(ctx, q)
    return _convfinqa(ctx, q, turn)


def _finqa(ctx: TableContext, q: SourceQuestion) -> ImportedTask:
    gold = q.answer
    if gold is None or q.program is None:
        raise ImportRejected("no_gold", "FinQA record without exe_ans or program")
    try:  # FinQA programs name rows of the normalised `table`; the context shows `table_ori`
        value = run_finqa(q.program, ctx.program_table or ctx.table)
    except ProgramError as e:
        raise ImportRejected("program_error", str(e), quarantine=True) from None
    if not agrees(value, gold):
        raise ImportRejected("program_disagrees", f"program gives {value!r}, exe_ans is {gold!r}", quarantine=True)
    if isinstance(gold, str):
        return ImportedTask(q.question, exact_spec(gold.lower()), q.program, "finqa", "yes-no", [], "compare", q.qid)
    if q.answer_text and "%" in q.answer_text:
        # "what portion / percentage …": asked as a percentage, a ratio reading is accepted too (explicit)
        spec = numeric_spec(float(gold) * 100, "percent", allow_percent_ratio=True, **IMPORTED_TOL)
    else:
        spec = numeric_spec(float(gold), None, _scale_for(ctx, q.question, float(gold)), **IMPORTED_TOL)
    return ImportedTask(q.question, spec, q.program, "finqa", "arithmetic", [], _leaf_for(q.program), q.qid)


def _scale_for(ctx: TableContext, question: str, value: float) -> str | None:
    """The table's scale for amounts read from it; none for per-share figures, counts of years, small ratios."""
    if re.search(r"per share|per unit|ratio|percent|%|years?\b|how many", question, re.IGNORECASE):
        return None
    if abs(value) < 1:
        return None
    return numeric_grid(ctx.table, ctx.text).scale


def _leaf_for(program: str | None) -> str:
    p = program or ""
    if "exp(" in p:
        return "growth"
    if "subtract(" in p and "divide(" in p:
        return "growth"
    if "greater(" in p:
        return "compare"
    if "divide(" in p:
        return "ratio"
    return "calculation"


def _tatqa(ctx: TableContext, q: SourceQuestion) -> ImportedTask:
    scale = (q.scale or "").lower()
    ans = q.answer
    if q.answer_type == "multi-span":
        items = [str(a) for a in (ans if isinstance(ans, list) else [ans]) if str(a).strip()]
        if len(items) < 2:
            raise ImportRejected("bad_gold", f"multi-span answer {ans!r}")
        return ImportedTask(q.question, set_spec(items), None, None, "multi-span", [], "extraction", q.qid)
    if q.answer_type == "span":
        text = ans[0] if isinstance(ans, list) and len(ans) == 1 else ans
        if not isinstance(text, str) or not text.strip():
            raise ImportRejected("bad_gold", f"span answer {ans!r}")
        qty = parse_quantity(text)
        if qty is not None and qty.unit in (None, "currency", "percent"):
            spec = _scaled_numeric(qty.value if qty.unit != "percent" else qty.value, scale, qty.unit)
            return ImportedTask(q.question, spec, None, None, "span", [], "extraction", q.qid)
        return ImportedTask(q.question, exact_spec(text.strip()), None, None, "span", [], "extraction", q.qid)
    try:
        value = float(ans[0] if isinstance(ans, list) else ans)
    except (TypeError, ValueError):
        raise ImportRejected("bad_gold", f"{q.answer_type} answer {ans!r} is not a number") from None
    spec = _scaled_numeric(value, scale, "percent" if scale == "percent" else None)
    program = None
    if q.program and q.answer_type == "arithmetic":
        program = _derivation_program(q.program, value, scale)
    leaf = "calculation" if q.answer_type == "count" else _leaf_for_expr(q.program or "", scale)
    return ImportedTask(q.question, spec, program, "python" if program else None, q.answer_type, [], leaf, q.qid)


def _scaled_numeric(value: float, scale: str, unit: str | None) -> dict[str, Any]:
    if scale == "percent" or unit == "percent":
        return numeric_spec(value, "percent", **IMPORTED_TOL)
    return numeric_spec(value, None, scale if scale in TATQA_SCALES else None, **IMPORTED_TOL)


def _leaf_for_expr(expr: str, scale: str) -> str:
    if scale == "percent" and "/" in expr:
        return "growth" if "-" in expr else "ratio"
    return "calculation"


def _derivation_program(derivation: str, value: float, scale: str) -> str | None:
    """TAT-QA's derivation as a PoT program when it reproduces the gold (percent scale: ×100)."""
    expr = derivation.replace(",", "").replace("$", "").replace("%", "").strip()
    if not expr or len(expr) > 500 or not re.fullmatch(r"[\d\s.+\-*/()]+", expr):
        return None
    try:
        out = run_python_arith(f"ans = {expr}")
    except ProgramError:
        return None
    if isinstance(out, str):
        return None
    for factor in ((100.0, 1.0) if scale == "percent" else (1.0,)):
        if agrees(out * factor, value, ndigits=2):
            return f"ans = {expr}" if factor == 1.0 else f"x0 = {expr}; ans = x0 * 100"
    return None


def _convfinqa(ctx: TableContext, q: SourceQuestion, turn: int) -> ImportedTask:
    try:
        value = run_python_arith(q.program or "")
    except ProgramError as e:
        raise ImportRejected("program_error", str(e), quarantine=True) from None
    if isinstance(value, str):
        return ImportedTask(q.question, exact_spec(value), q.program, "python", "yes-no", [], "compare", q.qid)
    history = []
    for prev in ctx.questions[:turn]:
        try:
            pv = run_python_arith(prev.program or "")
        except ProgramError as e:
            raise ImportRejected("history_program_error", str(e), quarantine=True) from None
        history.append((prev.question, pv if isinstance(pv, str) else _short(pv)))
    final = (q.program or "").rsplit("=", 1)[-1]
    ratio = "/" in final
    spec = (numeric_spec(value, "ratio", allow_percent_ratio=True, **RATIO_TOL) if ratio
            else numeric_spec(value, None, **AMOUNT_TOL))
    return ImportedTask(q.question, spec, q.program, "python", "arithmetic", history,
                        "growth" if ratio and "-" in (q.program or "") else ("ratio" if ratio else "calculation"),
                        q.qid)


def _short(v: float) -> str:
    return f"{v:.5g}" if abs(v) < 1e6 else f"{v:,.0f}"
