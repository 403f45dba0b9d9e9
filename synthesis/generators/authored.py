"""LLM-authored RL tasks: the teacher writes a question, a program and the answer it states, over a table
(``inputs``: FinQA-format files) or a passage (``input``: a ``doc`` version).

A task is kept only if the program, run by the safe interpreter of ``synthesis.rewards`` (never ``eval``),
reproduces the stated answer within tolerance, and every number the program uses appears in the context
(the teacher may not invent operands). Invalid or hostile programs (``__import__``, attribute access, huge
powers) are rejected by the interpreter and counted as ``invalid_program``. The gold of the kept task is the
program's value, with the unit the teacher declared.
"""

from __future__ import annotations

import math
import random
import re
from typing import Literal

from pydantic import BaseModel, Field

from finance.arith import ProgramError, run_program
from finance.numbers import parse_quantity
from synthesis.envs.search import passages

from .context import RunContext
from .programmatic import build_prompt
from .records import rl_record
from .specs import numeric_spec
from .tables import ContextError, TableContext, iter_contexts, numeric_grid, table_markdown
from .teach import ask, failure, source

GENERATOR = "authored_rl"
_LITERAL = re.compile(r"(?<![#\w.])-?\d+(?:\.\d+)?")


class AuthoredTask(BaseModel):
    question: str = Field(min_length=10)
    program: str = Field(min_length=3, description="FinQA DSL, e.g. subtract(7109, 5989), divide(#0, 5989)")
    answer: str = Field(min_length=1, description="the answer the program gives, e.g. 18.70% or 1,120")
    unit: Literal["percent", "ratio", "amount", "count"]


def author_request(ctx: TableContext, sample: int):
    from synthesis.teachers import Request

    table = f"Table:\n{table_markdown(ctx.table)}\n\n" if ctx.table else ""
    what = "table" if ctx.table else "passage"
    msg = (f"Report excerpt:\n{ctx.text[:2000]}\n\n{table}"
           f"Write one new numerical question that this {what} answers and that needs at least two arithmetic "
           "steps. Give: `question`; `program` in FinQA DSL (add, subtract, multiply, divide, exp, greater, "
           f"#N step references, const_N) using the {what}'s numbers; `answer` — the value the program gives, "
           "as you would state it (e.g. 18.70% or 1,120); `unit` (percent if the answer is a percentage).")
    return Request([{"role": "user", "content": msg}], schema=AuthoredTask, sample=sample)


def numbers_in_context(ctx: TableContext) -> set[float]:
    vals = {abs(c.value) for r in numeric_grid(ctx.table, ctx.text).rows for c in r.cells.values()}
    vals |= {abs(float(x.replace(",", ""))) for x in re.findall(r"\d[\d,]*(?:\.\d+)?", ctx.text)}
    return vals


def check_task(task: dict, ctx: TableContext) -> tuple[str | None, dict | None]:
    """(drop reason, None) or (None, reward spec) for an authored task."""
    try:
        value = run_program(task["program"], ctx.program_table or ctx.table, "finqa")
    except ProgramError:
        return "invalid_program", None
    if isinstance(value, str) or not math.isfinite(value):
        return "non_numeric_program", None
    known = numbers_in_context(ctx) | {1.0, 100.0, 1000.0, 12.0, 2.0, 3.0, 4.0, 5.0, 10.0}
    used = [abs(float(x)) for x in _LITERAL.findall(task["program"].replace("const_", "#c"))]
    if any(not any(math.isclose(u, k, rel_tol=1e-9, abs_tol=1e-9) for k in known) for u in used):
        return "program_uses_numbers_not_in_context", None
    stated = parse_quantity(task["answer"])
    if stated is None:
        return "unparseable_answer", None
    unit = task["unit"]
    # a percentage may be stated for a ratio program (0.187 → 18.7%) or a program that already ×100
    readings = [(stated.base, "as_is")]
    if unit == "percent" or stated.unit == "percent":
        readings.append((stated.value / 100.0, "percent_of_ratio"))
    for r, how in readings:
        if math.isclose(r, value, rel_tol=5e-3, abs_tol=1e-9):
            if unit == "percent" or stated.unit == "percent":
                gold = value * 100 if how == "percent_of_ratio" else value
                return None, numeric_spec(gold, "percent", rel_tol=1e-3, abs_tol=0.01)
            scale = numeric_grid(ctx.table, ctx.text).scale if unit == "amount" else None
            return None, numeric_spec(value, "count" if unit == "count" else None, scale)
    return "stated_answer_mismatch", None


def _passage_contexts(run: RunContext) -> list[TableContext]:
    """Passages of a ``doc`` version with at least three figures, as table-less contexts."""
    ref = run.input_version("input")
    out = []
    for rec in run.store.iter_records(ref, columns=["id", "text"]):
        for p in passages(str(rec["id"]), rec["text"], int(run.recipe.get("passage_chars", 1500))):
            if len(re.findall(r"\d[\d,]*(?:\.\d+)?", p["text"])) >= 3:
                out.append(TableContext(p["id"], "doc", [], p["text"], file=ref))
    return out


def generate(run: RunContext) -> None:
    cfg = run.recipe
    rng = random.Random(int(cfg.get("seed", run.seed)))
    per_table = int(cfg.get("per_table", 1))
    out = run.outputs.open("rl", run.output_name("rl"), "rl")
    contexts = _passage_contexts(run) if cfg.get("input") else []
    for path in (run.input_paths() if cfg.get("inputs") else []):
        for i, rec, ctx in iter_contexts(path):
            if isinstance(ctx, ContextError):
                out.consider()
                out.quarantine(str(ctx), file=str(path), offset=i, record=rec)
            elif numeric_grid(ctx.table, ctx.text).rows:
                contexts.append(ctx)
    rng.shuffle(contexts)
    n = int(cfg.get("tables", 50))
    if run.limit is not None:
        n = min(n, run.limit)
    jobs = [(ctx, j) for ctx in contexts[:n] for j in range(per_table)]
    replies = ask(run, [author_request(ctx, j) for ctx, j in jobs], "authored tasks")
    for (ctx, _), rep in zip(jobs, replies, strict=True):
        out.consider()
        why = failure(rep) or (None if rep.parsed else "teacher_failed: no structured reply")
        if why:
            out.quarantine(why, file=ctx.file, offset=ctx.offset)
            continue
        if run.limit_reached(out.kept):
            out.drop("over_limit")
            continue
        problem, spec = check_task(rep.parsed, ctx)
        if problem:
            out.drop(problem)
            continue
        prompt = build_prompt(ctx, rep.parsed["question"], spec, "en")
        meta = {"context_id": ctx.cid, "dataset": ctx.dataset, "program": rep.parsed["program"], "dsl": "finqa",
                "stated_answer": rep.parsed["answer"], "origin": "authored"}
        leaf = "growth" if spec.get("unit") == "percent" else "calculation"
        out.keep(rl_record(prompt, spec, run.leaf(leaf), "en", source(run, GENERATOR, rep), meta))
        run.progress(1)
