"""Document-grounded SFT: question–answer pairs written by the teacher from passages of a ``doc`` version.

The teacher sees one passage and the task types that suit it (extraction, summary, interpretation,
calculation), and returns pairs with the *evidence* (verbatim quotes) each answer rests on. A pair is kept
only if it is supported by the passage: every quote occurs in it, and every figure of the answer occurs in it
(calculation answers instead carry a program whose result, from the safe interpreter, must match the answer).
Records: system + user (passage + question) + assistant (answer), labelled with a taxonomy leaf.
"""

from __future__ import annotations

import random
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from finance.arith import ProgramError, run_program
from finance.numbers import find_quantities, parse_quantity
from synthesis.envs.search import passages

from .context import RunContext
from .leaves import check_leaf
from .records import assistant, sft_record, system, user
from .teach import ask, failure, judge_for, source

GENERATOR = "grounded_sft"
TASK_LEAVES = {
    "extraction": "statements_disclosures/statement_analysis/metric_lookup",
    "summary": "statements_disclosures/filing_understanding/filing_summary",
    "interpretation": "knowledge_exams/academic/concept_explanation",
    "calculation": "numerical_reasoning/table_text_qa/single_turn_numeric",
}
SYSTEM = "Answer the question using only the passage. Quote figures exactly as the passage gives them."


class QA(BaseModel):
    task_type: Literal["extraction", "summary", "interpretation", "calculation"]
    question: str = Field(min_length=8)
    answer: str = Field(min_length=1)
    evidence: list[str] = Field(default_factory=list, description="verbatim quotes from the passage")
    program: str | None = Field(None, description="for calculation: FinQA DSL or `ans = ...` arithmetic")


class QAList(BaseModel):
    items: list[QA]


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def _numbers(text: str) -> list[float]:
    return [q.value for q in find_quantities(text) if not re.fullmatch(r"(19|20)\d{2}", f"{q.value:g}")]


def support_problem(qa: dict[str, Any], passage: str) -> str | None:
    """Why an answer is not supported by the passage (a drop reason), or None."""
    p = _norm(passage)
    quotes = [q for q in qa.get("evidence") or [] if q.strip()]
    if not quotes:
        return "no_evidence"
    if any(_norm(q) not in p for q in quotes):
        return "evidence_not_in_passage"
    if qa["task_type"] == "calculation":
        if not qa.get("program"):
            return "calculation_without_program"
        try:
            value = run_program(qa["program"])
        except ProgramError:
            return "invalid_program"
        stated = parse_quantity(qa["answer"]) or next(iter(find_quantities(qa["answer"])), None)
        if isinstance(value, str) or stated is None:
            return "calculation_unverifiable"
        candidates = [stated.value, stated.base, stated.value / 100 if stated.unit == "percent" else None]
        if not any(c is not None and abs(c - value) <= 5e-3 * max(1.0, abs(value)) for c in candidates):
            return "calculation_mismatch"
        return None
    passage_numbers = set(_numbers(passage))
    if any(n not in passage_numbers for n in _numbers(qa["answer"])):
        return "figure_not_in_passage"
    return None


def prompt_for(passage: str, k: int, leaves: dict[str, str], lang: str) -> list[dict[str, Any]]:
    types = ", ".join(f"{t} ({leaf})" for t, leaf in leaves.items())
    lang_note = "Write the questions and answers in Chinese." if lang == "zh" else "Write in English."
    return [{"role": "system", "content": "You write training data for a financial assistant. Reply with JSON."},
            {"role": "user", "content": f"Passage:\n<<<\n{passage}\n>>>\n\nWrite up to {k} question–answer pairs "
             f"that this passage can answer, each of one task type among: {types}. Use only task types the passage "
             "suits. For each pair give `evidence`: the exact sentences or phrases of the passage the answer rests "
             "on, copied verbatim. For a calculation, also give `program` (FinQA DSL such as "
             "`subtract(7109, 5989), divide(#0, 5989)` or `ans = (7109 - 5989) / 5989`) that computes the answer. "
             f"{lang_note}"}]


def sample_passages(run: RunContext, ref: str, n: int, rng: random.Random) -> list[tuple[str, str, str]]:
    cfg = run.recipe
    chars = int(cfg.get("passage_chars", 1500))
    min_chars = int(cfg.get("min_passage_chars", 300))
    pool: list[tuple[str, str, str]] = []
    for rec in run.store.iter_records(ref, columns=["id", "text", "lang"]):
        for p in passages(str(rec["id"]), rec["text"], chars):
            if len(p["text"]) >= min_chars:
                pool.append((p["id"], p["text"], rec.get("lang") or "en"))
    rng.shuffle(pool)
    return pool[:n]


def generate(run: RunContext) -> None:
    from synthesis.teachers import Request

    cfg = run.recipe
    rng = random.Random(int(cfg.get("seed", run.seed)))
    ref = run.input_version("input")
    leaves = {t: check_leaf(leaf) for t, leaf in {**TASK_LEAVES, **(cfg.get("leaves") or {})}.items()}
    k = int(cfg.get("pairs_per_passage", 3))
    n = int(cfg.get("passages", 50)) if run.limit is None else min(int(cfg.get("passages", 50)), run.limit)
    picked = sample_passages(run, ref, n, rng)
    out = run.outputs.open("sft", run.output_name("sft"), "sft")
    reqs = [Request(prompt_for(text, k, leaves, lang), id=pid, schema=QAList, params=cfg.get("params") or {})
            for pid, text, lang in picked]
    replies = ask(run, reqs, "grounded QA")
    candidates = []
    for (pid, text, lang), reply in zip(picked, replies, strict=True):
        why = failure(reply)
        if why or reply.parsed is None:
            out.consider()
            out.quarantine(why or "teacher_failed: no structured reply", file=ref, record={"passage": pid})
            continue
        for qa in reply.parsed["items"]:
            out.consider()
            problem = support_problem(qa, text)
            if problem:
                out.drop(problem)
                continue
            messages = [system(SYSTEM), user(f"Passage:\n{text}\n\nQuestion: {qa['question']}"),
                        assistant(qa["answer"])]
            candidates.append((pid, lang, reply, qa, messages))
    verdicts: list = [None] * len(candidates)
    if cfg.get("judge") and candidates:  # an LLM pass on top of the checks: faithful to the passage, correct
        judge = judge_for(run, list(cfg.get("rubrics") or ["faithfulness", "correctness"]), cfg.get("thresholds"))
        verdicts = judge.run([c[4] for c in candidates], progress=run.show_progress)
    for (pid, lang, reply, qa, messages), v in zip(candidates, verdicts, strict=True):
        if run.limit_reached(out.kept):
            out.drop("over_limit")
            continue
        if v is not None and (v.error or not v.passed):
            out.drop("judge_failed" if v.error else f"judge_below:{v.failed[0]}")
            continue
        meta = {"passage_id": pid, "task_type": qa["task_type"], "evidence": qa["evidence"],
                "program": qa.get("program"), "input": ref,
                "judge": None if v is None else {"scores": v.scores, "rationale": v.rationale}}
        out.keep(sft_record(messages, leaves[qa["task_type"]], lang, source(run, GENERATOR, reply), meta,
                            quality=None if v is None else v.quality()))
        run.progress(1)
    run.stats["passages"] = len(picked)
