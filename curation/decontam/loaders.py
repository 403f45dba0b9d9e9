"""Benchmark test items for decontamination, from the formats the benchmarks ship in.

Each item is a list of segments ``(part, text)``: the question (with its options for multiple choice)
and, where the benchmark has one, the context it is asked about (report passages, table). Formats:
FinQA JSON (``qa.question``, ``pre_text``/``post_text``, ``table``), ConvFinQA (original ``annotation``
layout or the Program-of-Thoughts one with ``questions``/``text``/``table``), TAT-QA raw JSON
(``table``/``paragraphs``/``questions``), multiple-choice CSV/JSONL (``question`` + ``A``-``D`` or an
``options``/``choices`` list; a folder of such files), and generic JSONL with a ``text`` field. The files
are read by ``finance.benchmarks`` (the one reader per format); this module only cuts records into segments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from finance.answers import answer_key
from finance.benchmarks import (
    FORMATS,
    BenchmarkFormatError,
    BenchmarkRecord,
    mc_text,
    read_benchmark,
    table_text,
)

PARTS = ("question", "context")
__all__ = ["FORMATS", "PARTS", "BenchItem", "BenchmarkFormatError", "load_benchmark"]


@dataclass
class BenchItem:
    benchmark: str
    item_id: str
    segments: list[tuple[str, str]] = field(default_factory=list)
    answer_keys: list[str] = field(default_factory=list)  # the gold answers' keys (finance.answers.Answer.key)


def _context(rec: BenchmarkRecord) -> list[tuple[str, str]]:
    return [("context", f"{rec.text_before} {rec.text_after}".strip()), ("context", table_text(rec.table))]


def _items(name: str, rec: BenchmarkRecord, prefix: bool) -> list[BenchItem]:
    rid = rec.id if rec.id is not None else str(rec.offset)
    if rec.dataset == "finqa":
        if not rec.questions:
            raise BenchmarkFormatError(f"{rec.file} record {rec.offset}: FinQA record without qa.question")
        q = rec.questions[0]
        key = answer_key(rec, q)
        return [BenchItem(name, rid, [("question", q.question), *_context(rec)], [key] if key else [])]
    if rec.dataset == "convfinqa":
        qs = [q.question for q in rec.questions]
        # the whole conversation is one segment (a planted dialogue), each turn another (a quoted turn)
        segs = [("question", "\n".join(qs))] + [("question", q) for q in qs]
        ctx = [("context", rec.text), ("context", rec.table_raw if rec.table_raw is not None else table_text(rec.table))]
        return [BenchItem(name, rid, segs + ctx)]
    if rec.dataset == "tatqa":
        out = [BenchItem(name, f"context:{rid}", [("context", rec.text), ("context", table_text(rec.table))])]
        for q in rec.questions:
            key = answer_key(rec, q)
            out.append(BenchItem(name, q.qid, [("question", q.question)], [key] if key else []))
        return out
    if rec.dataset == "mc":
        stem = rec.meta.get("file_stem", "")
        # multiple-choice files count rows from 1 (the data row after the header)
        own = rec.id if rec.id is not None else str(rec.offset + 1)
        return [BenchItem(name, f"{stem}/{own}" if prefix else own, [("question", mc_text(rec.questions[0]))])]
    return [BenchItem(name, rid, [("question", rec.questions[0].question if rec.questions else "")])]


def load_benchmark(name: str, path: str | Path, fmt: str = "auto") -> list[BenchItem]:
    """All test items of one benchmark file or folder (read by ``finance.benchmarks.read_benchmark``)."""
    path = Path(path)
    if fmt not in FORMATS:
        raise BenchmarkFormatError(f"benchmark {name}: format {fmt!r} is not one of {FORMATS}")
    try:
        records = read_benchmark(path, fmt)
    except BenchmarkFormatError as e:
        raise type(e)(f"benchmark {name}: {e}") from None  # a missing file stays a missing file (exit 2)
    return [it for rec in records for it in _items(name, rec, prefix=path.is_dir())]
