"""Benchmark questions → RL tasks: FinQA / TAT-QA / ConvFinQA questions with reward specs of the right kind.

* FinQA: the program is run by the safe interpreter and must reproduce ``exe_ans`` (else quarantined).
* TAT-QA: a derivation that reproduces the gold is kept as the task's program.
* ConvFinQA: every turn is a task whose prompt holds the earlier turns; the gold comes from the turn's program
  where the benchmark ships none.

The reward spec of every imported question is ``finance.answers.question_spec`` — the same function the
evaluation loaders use, so an RL task and an eval item of the same question carry identical specs (unit read
from the written answer, never a blind ×100; the written precision in ``precision``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from finance.answers import AnswerError, question_spec
from finance.arith import ProgramError, run_finqa, run_python_arith
from synthesis.rewards.verify import agrees

from .tables import SourceQuestion, TableContext


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
    spec = _spec(ctx, q)
    if isinstance(gold, str):
        return ImportedTask(q.question, spec, q.program, "finqa", "yes-no", [], "compare", q.qid)
    return ImportedTask(q.question, spec, q.program, "finqa", "arithmetic", [], _leaf_for(q.program), q.qid)


def _spec(ctx: TableContext, q: SourceQuestion, value: Any = None) -> dict[str, Any]:
    try:
        return question_spec(ctx.benchmark_record(), q, value)
    except AnswerError as e:
        raise ImportRejected(e.reason, str(e)) from None


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
    spec = _spec(ctx, q)
    if q.answer_type in ("multi-span", "span"):
        return ImportedTask(q.question, spec, None, None, q.answer_type, [], "extraction", q.qid)
    value = float(spec["answer"])
    program = None
    if q.program and q.answer_type == "arithmetic":
        program = _derivation_program(q.program, value, scale)
    leaf = "calculation" if q.answer_type == "count" else _leaf_for_expr(q.program or "", scale)
    return ImportedTask(q.question, spec, program, "python" if program else None, q.answer_type, [], leaf, q.qid)


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
        value = _run_turn(ctx, q)
    except ProgramError as e:
        raise ImportRejected("program_error", str(e), quarantine=True) from None
    shipped = _number_or_text(q.answer)
    if shipped is not None and not agrees(value, shipped):
        raise ImportRejected("program_disagrees", f"program gives {value!r}, answer is {q.answer!r}", quarantine=True)
    spec = _spec(ctx, q, value)
    if isinstance(value, str):
        return ImportedTask(q.question, spec, q.program, q.dsl, "yes-no", [], "compare", q.qid)
    history = []
    for prev in ctx.questions[:turn]:
        try:
            pv = _run_turn(ctx, prev)
        except ProgramError as e:
            raise ImportRejected("history_program_error", str(e), quarantine=True) from None
        history.append((prev.question, pv if isinstance(pv, str) else _short(pv)))
    ratio = spec.get("unit") == "ratio"
    return ImportedTask(q.question, spec, q.program, q.dsl, "arithmetic", history,
                        "growth" if ratio and "-" in (q.program or "") else ("ratio" if ratio else "calculation"),
                        q.qid)


def _number_or_text(x: Any) -> Any:
    """A shipped gold as a number where it is one (ConvFinQA writes ``"1.42403"``), else as given."""
    if x in (None, ""):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return x


def _run_turn(ctx: TableContext, q: SourceQuestion):
    """A ConvFinQA turn's program: PoT arithmetic, or FinQA DSL over the table (the original layout)."""
    if q.dsl == "finqa":
        return run_finqa(q.program or "", ctx.program_table or ctx.table)
    return run_python_arith(q.program or "")


def _short(v: float) -> str:
    return f"{v:.5g}" if abs(v) < 1e6 else f"{v:,.0f}"
