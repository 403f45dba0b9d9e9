"""Benchmark-format readers: each turns a file into ``EvalItem``s (prompt messages + a reward spec + taxonomy).

Formats: ``finqa`` (FinQA's official JSON), ``convfinqa`` (the Program-of-Thoughts layout), ``tatqa`` (raw
TAT-QA), ``mc_csv`` (Fin-Eva / C-Eval style ``id,question,A,B,C,D,answer`` CSV files, one per subject) and
``mc_jsonl`` (``{"id", "question", "options": {"A": ..}, "answer"}``). The files are read by the readers of
``finance.benchmarks`` and every reward spec is ``finance.answers.question_spec`` — the one the RL import uses,
so an eval item and an RL task of the same question carry identical specs (``rel_tol`` in a suite only sets the
tolerance of program answers). A gold that cannot be read is kept and scored ``None`` (reported, not 0).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finance.answers import AnswerError, question_spec
from finance.benchmarks import (
    BenchmarkFormatError,
    BenchmarkMissing,
    BenchmarkRecord,
    BenchQuestion,
    read_benchmark,
    read_mc,
)
from finance.benchmarks import table_text as _table_text
from synthesis.rewards import run_program


@dataclass
class EvalItem:
    id: str
    task: str
    context: str  # table/passage text ('' when none)
    question: str
    spec: dict[str, Any]  # reward spec of the final answer
    taxonomy: str
    lang: str = "en"
    history: list[tuple[str, str]] = field(default_factory=list)  # earlier (question, answer) turns
    program_spec: dict[str, Any] | None = None  # when the model writes a program instead of a number
    options: dict[str, str] | None = None


class LoadError(ValueError):
    pass


def table_text(table: list[list[Any]]) -> str:
    return _table_text(table or [])


def _records(path: Path, fmt: str) -> list[BenchmarkRecord]:
    try:
        return read_benchmark(path, fmt)
    except BenchmarkMissing:
        raise
    except BenchmarkFormatError as e:
        raise LoadError(f"{path}: cannot read benchmark file ({e})") from None


def _spec(rec: BenchmarkRecord, q: BenchQuestion, value: Any = None) -> dict[str, Any]:
    """The reward spec the RL import builds for the same question (``finance.answers.question_spec``)."""
    try:
        return question_spec(rec, q, value)
    except AnswerError as e:
        raise LoadError(f"{rec.file}: record {rec.offset} ({rec.id}): {e}") from None


def load_finqa(path: Path, task: str, opts: dict[str, Any]) -> Iterator[EvalItem]:
    rel = float(opts.get("rel_tol", 0.005))
    leaf = opts.get("taxonomy", "numerical_reasoning/table_text_qa/single_turn_numeric")
    for rec in _records(path, "finqa"):
        if not rec.questions:
            raise LoadError(f"{path}: record {rec.offset} ({rec.id}) has no qa.question")
        q = rec.questions[0]
        ctx = "\n".join([rec.text_before, table_text(rec.program_table), rec.text_after])
        prog = {"spec_version": 1, "type": "program", "answer": q.answer, "table": rec.program_table,
                "rel_tol": rel, "abs_tol": 1e-9}
        yield EvalItem(rec.id or str(rec.offset), task, ctx, q.question, _spec(rec, q), leaf, "en",
                       program_spec=prog)


def load_convfinqa(path: Path, task: str, opts: dict[str, Any]) -> Iterator[EvalItem]:
    """The last turn is asked; earlier turns are given with the answers their programs compute."""
    rel = float(opts.get("rel_tol", 0.005))
    leaf = opts.get("taxonomy", "numerical_reasoning/conversational_qa/multi_turn_numeric")
    for rec in _records(path, "convfinqa"):
        qs = rec.questions
        if not qs or any(q.program is None for q in qs):
            raise LoadError(f"{path}: record {rec.offset} ({rec.id}) needs one program per question")
        hist = []
        for q in qs[:-1]:
            try:
                v = run_program(q.program, rec.program_table, q.dsl or "auto")
                hist.append((q.question, f"{v:.6g}" if isinstance(v, float) else str(v)))
            except Exception:  # noqa: BLE001 - an unreadable earlier program leaves that turn unanswered
                hist.append((q.question, "(unknown)"))
        last = qs[-1]
        value = None
        if last.answer in (None, ""):  # no shipped answer: the last program's value, as the RL import does
            try:
                value = run_program(last.program, rec.program_table, last.dsl or "auto")
            except Exception:  # noqa: BLE001 - no gold at all: the spec builder says so
                value = None
        prog = {"spec_version": 1, "type": "program", "answer": last.answer if value is None else value,
                "rel_tol": rel, "abs_tol": 1e-9}
        table = rec.table_raw if rec.table_raw is not None else table_text(rec.table)
        yield EvalItem(rec.id or str(rec.offset), task, f"{rec.text}\n{table}", last.question,
                       _spec(rec, last, value), leaf, "en", history=hist, program_spec=prog)


def load_tatqa(path: Path, task: str, opts: dict[str, Any]) -> Iterator[EvalItem]:
    leaves = {"arithmetic": "numerical_reasoning/table_text_qa/single_turn_numeric",
              "count": "numerical_reasoning/table_text_qa/single_turn_numeric",
              "span": "numerical_reasoning/table_text_qa/span_extraction",
              "multi-span": "numerical_reasoning/table_text_qa/span_extraction"}
    for rec in _records(path, "tatqa"):
        context = f"{table_text(rec.table)}\n{rec.text}"
        for q in rec.questions:
            yield EvalItem(q.qid, task, context, q.question, _spec(rec, q), leaves.get(q.answer_type, leaves["span"]),
                           "en")


def load_mc_csv(path: Path, task: str, opts: dict[str, Any]) -> Iterator[EvalItem]:
    """A folder of per-subject CSV files (or one file); the subject decides the taxonomy leaf."""
    files = sorted(path.glob("*.csv")) if path.is_dir() else [path]
    if not files:
        raise LoadError(f"{path}: no CSV files")
    by_subject = opts.get("taxonomy_by_subject") or {}
    subject_map = {}
    if opts.get("subject_map"):
        subject_map = json.loads(Path(opts["subject_map"]).read_text(encoding="utf-8"))
    default_leaf = opts.get("taxonomy", "knowledge_exams/academic/economics_mc")
    for f in files:
        stem = f.stem.removesuffix("_dev").removesuffix("_val").removesuffix("_test")
        domain = (subject_map.get(stem) or {}).get("subject", stem)
        leaf = by_subject.get(stem) or by_subject.get(domain) or default_leaf
        for rec in _mc_records(f):
            yield _mc_item(rec, f"{stem}-{rec.id if rec.id is not None else rec.offset}", task, leaf,
                           opts.get("lang", "zh"), row=rec.offset + 2)


def load_mc_jsonl(path: Path, task: str, opts: dict[str, Any]) -> Iterator[EvalItem]:
    leaf = opts.get("taxonomy", "knowledge_exams/academic/economics_mc")
    for rec in _mc_records(path):
        item = _mc_item(rec, rec.id if rec.id is not None else str(rec.offset), task,
                        rec.meta.get("taxonomy", leaf), rec.meta.get("lang", opts.get("lang", "en")),
                        row=rec.offset + 1)
        item.context = str(rec.meta.get("context", ""))
        yield item


def _mc_records(path: Path) -> list[BenchmarkRecord]:
    try:
        return read_mc(path)
    except BenchmarkFormatError as e:
        raise LoadError(str(e)) from None


def _mc_item(rec: BenchmarkRecord, item_id: str, task: str, leaf: str, lang: str, row: int) -> EvalItem:
    q = rec.questions[0]
    try:
        spec = question_spec(rec, q)
    except AnswerError:
        raise LoadError(f"{rec.file}: row {row} has no question or an answer {q.answer!r} not among its options"
                        ) from None
    return EvalItem(item_id, task, "", q.question, spec, leaf, lang, options=q.options)


LOADERS: dict[str, Callable[[Path, str, dict[str, Any]], Iterator[EvalItem]]] = {
    "finqa": load_finqa, "convfinqa": load_convfinqa, "tatqa": load_tatqa, "mc_csv": load_mc_csv,
    "mc_jsonl": load_mc_jsonl}
