"""Benchmark-format readers: each turns a file into ``EvalItem``s (prompt messages + a reward spec + taxonomy).

Formats: ``finqa`` (FinQA's official JSON), ``convfinqa`` (the Program-of-Thoughts layout), ``tatqa`` (raw
TAT-QA), ``mc_csv`` (Fin-Eva / C-Eval style ``id,question,A,B,C,D,answer`` CSV files, one per subject) and
``mc_jsonl`` (``{"id", "question", "options": {"A": ..}, "answer"}``). Gold answers go through the same
verifier library as RL rewards; a gold that cannot be read is kept and scored ``None`` (reported, not 0).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    return "\n".join(" | ".join(str(c).strip() for c in row) for row in table or [])


def _num_spec(answer: Any, rel_tol: float, **extra: Any) -> dict[str, Any]:
    return {"spec_version": 1, "type": "numeric", "answer": answer, "rel_tol": rel_tol, "abs_tol": 1e-9,
            **{k: v for k, v in extra.items() if v is not None}}


def _yes_no(v: Any) -> bool:
    return isinstance(v, str) and v.strip().lower() in ("yes", "no")


def _percent_unit(gold: Any, shown: str) -> str | None:
    """The unit of FinQA's ``exe_ans`` when the displayed answer is a percent: whichever reading is closer."""
    shown = shown.strip()
    if not shown.endswith("%"):
        return None
    try:
        p, g = float(shown.rstrip("%").replace(",", "").strip()), float(gold)
    except (TypeError, ValueError):
        return "ratio"
    return "percent" if abs(g - p) <= abs(g - p / 100) else "ratio"


def load_finqa(path: Path, task: str, opts: dict[str, Any]) -> Iterator[EvalItem]:
    rel = float(opts.get("rel_tol", 0.005))
    leaf = opts.get("taxonomy", "numerical_reasoning/table_text_qa/single_turn_numeric")
    for i, r in enumerate(_json(path)):
        qa = r.get("qa") or {}
        if "question" not in qa:
            raise LoadError(f"{path}: record {i} ({r.get('id')}) has no qa.question")
        gold, shown = qa.get("exe_ans"), str(qa.get("answer") or "")
        if _yes_no(gold):
            spec = {"spec_version": 1, "type": "exact", "answer": gold.strip().lower(), "labels": ["yes", "no"]}
        else:  # a percent answer's exe_ans is a ratio (0.242 for "24.2%") or the percent number (3.8 for "3.8%")
            spec = _num_spec(gold, rel, unit=_percent_unit(gold, shown),
                             allow_percent_ratio=True if shown.strip().endswith("%") else None)
        ctx = "\n".join([" ".join(r.get("pre_text") or []), table_text(r.get("table")), " ".join(r.get("post_text") or [])])
        prog = {"spec_version": 1, "type": "program", "answer": gold, "table": r.get("table"),
                "rel_tol": rel, "abs_tol": 1e-9}
        yield EvalItem(str(r.get("id", i)), task, ctx, qa["question"], spec, leaf, "en", program_spec=prog)


def load_convfinqa(path: Path, task: str, opts: dict[str, Any]) -> Iterator[EvalItem]:
    """The last turn is asked; earlier turns are given with the answers their programs compute."""
    rel = float(opts.get("rel_tol", 0.005))
    leaf = opts.get("taxonomy", "numerical_reasoning/conversational_qa/multi_turn_numeric")
    for i, r in enumerate(_json(path)):
        qs, progs = r.get("questions") or [], r.get("programs") or []
        if not qs or len(qs) != len(progs):
            raise LoadError(f"{path}: record {i} ({r.get('id')}) needs one program per question")
        hist = []
        for q, p in zip(qs[:-1], progs[:-1], strict=True):
            try:
                v = run_program(p)
                hist.append((q, f"{v:.6g}" if isinstance(v, float) else str(v)))
            except Exception:  # noqa: BLE001 - an unreadable earlier program leaves that turn unanswered
                hist.append((q, "(unknown)"))
        gold = r.get("answer")
        spec = ({"spec_version": 1, "type": "exact", "answer": gold.lower(), "labels": ["yes", "no"]}
                if _yes_no(gold) else _num_spec(gold, rel))
        prog = {"spec_version": 1, "type": "program", "answer": gold, "rel_tol": rel, "abs_tol": 1e-9}
        yield EvalItem(str(r.get("id", i)), task, f"{r.get('text', '')}\n{r.get('table', '')}", qs[-1], spec, leaf,
                       "en", history=hist, program_spec=prog)


def load_tatqa(path: Path, task: str, opts: dict[str, Any]) -> Iterator[EvalItem]:
    rel = float(opts.get("rel_tol", 0.005))
    leaves = {"arithmetic": "numerical_reasoning/table_text_qa/single_turn_numeric",
              "count": "numerical_reasoning/table_text_qa/single_turn_numeric",
              "span": "numerical_reasoning/table_text_qa/span_extraction",
              "multi-span": "numerical_reasoning/table_text_qa/span_extraction"}
    for i, ctx in enumerate(_json(path)):
        text = "\n".join(p.get("text", "") for p in sorted(ctx.get("paragraphs") or [], key=lambda p: p.get("order", 0)))
        context = f"{table_text((ctx.get('table') or {}).get('table'))}\n{text}"
        for q in ctx.get("questions") or []:
            kind, ans, scale = q.get("answer_type"), q.get("answer"), q.get("scale") or None
            if kind in ("arithmetic", "count"):
                unit = "percent" if scale == "percent" else None
                spec = _num_spec(ans, rel, unit=unit, scale=None if scale == "percent" else scale)
            elif kind == "multi-span":
                spec = {"spec_version": 1, "type": "set", "answer": list(ans)}
            else:
                gold = ans[0] if isinstance(ans, list) and ans else ans
                spec = {"spec_version": 1, "type": "exact", "answer": str(gold)}
            yield EvalItem(str(q.get("uid", f"{i}-{q.get('order')}")), task, context, q.get("question", ""), spec,
                           leaves.get(kind, leaves["span"]), "en")


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
        with open(f, encoding="utf-8-sig", newline="") as fh:
            for j, row in enumerate(csv.DictReader(fh)):
                opts_ = {k: row[k] for k in "ABCDEFGH" if row.get(k) not in (None, "")}
                gold = (row.get("answer") or "").strip().upper()
                if not row.get("question") or gold not in opts_:
                    raise LoadError(f"{f}: row {j + 2} has no question or an answer {gold!r} not among its options")
                spec = {"spec_version": 1, "type": "choice", "answer": gold, "options": sorted(opts_)}
                yield EvalItem(f"{stem}-{row.get('id', j)}", task, "", row["question"], spec, leaf,
                               opts.get("lang", "zh"), options=opts_)


def load_mc_jsonl(path: Path, task: str, opts: dict[str, Any]) -> Iterator[EvalItem]:
    leaf = opts.get("taxonomy", "knowledge_exams/academic/economics_mc")
    with open(path, encoding="utf-8") as fh:
        for j, line in enumerate(fh):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                options = r["options"]
                gold = str(r["answer"]).strip().upper()
            except (json.JSONDecodeError, KeyError) as e:
                raise LoadError(f"{path}: line {j + 1}: {e}") from None
            spec = {"spec_version": 1, "type": "choice", "answer": gold, "options": sorted(options)}
            yield EvalItem(str(r.get("id", j)), task, r.get("context", ""), r["question"], spec,
                           r.get("taxonomy", leaf), r.get("lang", opts.get("lang", "en")), options=options)


def _json(path: Path) -> list[dict[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise LoadError(f"{path}: cannot read benchmark file ({e})") from None
    if not isinstance(data, list):
        raise LoadError(f"{path}: expected a JSON array of records")
    return data


LOADERS: dict[str, Callable[[Path, str, dict[str, Any]], Iterator[EvalItem]]] = {
    "finqa": load_finqa, "convfinqa": load_convfinqa, "tatqa": load_tatqa, "mc_csv": load_mc_csv,
    "mc_jsonl": load_mc_jsonl}
