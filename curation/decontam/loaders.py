"""Benchmark test items for decontamination, from the formats the benchmarks ship in.

Each item is a list of segments ``(part, text)``: the question (with its options for multiple choice)
and, where the benchmark has one, the context it is asked about (report passages, table). Formats:
FinQA JSON (``qa.question``, ``pre_text``/``post_text``, ``table``), ConvFinQA (original ``annotation``
layout or the Program-of-Thoughts one with ``questions``/``text``/``table``), TAT-QA raw JSON
(``table``/``paragraphs``/``questions``), multiple-choice CSV/JSONL (``question`` + ``A``-``D`` or an
``options``/``choices`` list; a folder of such files), and generic JSONL with a ``text`` field.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMATS = ("auto", "finqa", "convfinqa", "tatqa", "mc", "text")
PARTS = ("question", "context")


class BenchmarkFormatError(ValueError):
    """A benchmark file is not in a format we know; the message names the file and record."""


@dataclass
class BenchItem:
    benchmark: str
    item_id: str
    segments: list[tuple[str, str]] = field(default_factory=list)


def _table_text(table: Any) -> str:
    if isinstance(table, str):
        return table
    if isinstance(table, dict):
        table = table.get("table", [])
    return "\n".join(" | ".join(str(c) for c in row) for row in table or [] if isinstance(row, list))


def _finqa(bench: str, recs: list[dict], where: str) -> list[BenchItem]:
    out = []
    for i, r in enumerate(recs):
        qa = r.get("qa") or {}
        q = qa.get("question")
        if not isinstance(q, str):
            raise BenchmarkFormatError(f"{where} record {i}: FinQA record without qa.question")
        ctx = " ".join(r.get("pre_text", []) + r.get("post_text", []))
        out.append(BenchItem(bench, str(r.get("id", i)), [("question", q), ("context", ctx),
                                                          ("context", _table_text(r.get("table_ori") or r.get("table")))]))
    return out


def _convfinqa(bench: str, recs: list[dict], where: str) -> list[BenchItem]:
    out = []
    for i, r in enumerate(recs):
        if "annotation" in r:  # original ConvFinQA layout
            ann = r["annotation"]
            questions = ann.get("dialogue_break") or []
            ctx = " ".join(r.get("pre_text", []) + r.get("post_text", []))
            table = _table_text(r.get("table_ori") or r.get("table"))
        else:  # Program-of-Thoughts re-formatting
            questions, ctx, table = r.get("questions") or [], r.get("text", ""), _table_text(r.get("table"))
        if not questions:
            raise BenchmarkFormatError(f"{where} record {i}: ConvFinQA record without questions")
        qs = [q for q in questions if isinstance(q, str)]
        # the whole conversation is one segment (a planted dialogue), each turn another (a quoted turn)
        segs = [("question", "\n".join(qs))] + [("question", q) for q in qs]
        out.append(BenchItem(bench, str(r.get("id", i)), segs + [("context", ctx), ("context", table)]))
    return out


def _tatqa(bench: str, recs: list[dict], where: str) -> list[BenchItem]:
    out = []
    for i, r in enumerate(recs):
        if "questions" not in r or "paragraphs" not in r:
            raise BenchmarkFormatError(f"{where} record {i}: TAT-QA record needs 'questions' and 'paragraphs'")
        ctx_id = str((r.get("table") or {}).get("uid", i))
        ctx = "\n".join(p.get("text", "") for p in r["paragraphs"])
        out.append(BenchItem(bench, f"context:{ctx_id}", [("context", ctx), ("context", _table_text(r.get("table")))]))
        for q in r["questions"]:
            out.append(BenchItem(bench, str(q.get("uid")), [("question", q.get("question", ""))]))
    return out


def _mc_text(r: dict[str, Any]) -> str | None:
    q = r.get("question") or r.get("query") or r.get("stem")
    if not isinstance(q, str):
        return None
    opts = r.get("options") or r.get("choices")
    if isinstance(opts, dict):
        opts = [f"{k}. {v}" for k, v in opts.items()]
    elif not isinstance(opts, list):
        opts = [f"{k}. {r[k]}" for k in "ABCDEFGH" if r.get(k) not in (None, "")]
    return "\n".join([q, *map(str, opts)])


def _mc_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    return _jsonl(path)


def _mc(bench: str, files: list[Path], prefix: bool) -> list[BenchItem]:
    out = []
    for path in files:
        for i, r in enumerate(_mc_rows(path), 1):
            text = _mc_text(r)
            if text is None:
                raise BenchmarkFormatError(f"{path}:{i}: multiple-choice row without a 'question' field")
            rid = str(r.get("id", i))
            out.append(BenchItem(bench, f"{path.stem}/{rid}" if prefix else rid, [("question", text)]))
    return out


def _jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise BenchmarkFormatError(f"{path}:{lineno}: invalid JSON ({e.msg})") from None
    return rows


def _sniff_json(recs: list[dict]) -> str:
    r = recs[0] if recs else {}
    if "qa" in r:
        return "finqa"
    if "paragraphs" in r and "questions" in r:
        return "tatqa"
    if "annotation" in r or ("questions" in r and ("programs" in r or "text" in r)):
        return "convfinqa"
    if _mc_text(r) is not None:
        return "mc"
    if "text" in r:
        return "text"
    return "unknown"


def load_benchmark(name: str, path: str | Path, fmt: str = "auto") -> list[BenchItem]:
    """All test items of one benchmark file or folder."""
    path = Path(path)
    if fmt not in FORMATS:
        raise BenchmarkFormatError(f"benchmark {name}: format {fmt!r} is not one of {FORMATS}")
    if not path.exists():
        raise BenchmarkFormatError(f"benchmark {name}: {path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".jsonl"))
        if not files:
            raise BenchmarkFormatError(f"benchmark {name}: folder {path} has no .csv or .jsonl files")
        return _mc(name, files, prefix=True)
    if path.suffix == ".csv":
        return _mc(name, [path], prefix=False)
    recs = _jsonl(path) if path.suffix == ".jsonl" else json.loads(path.read_text(encoding="utf-8"))
    recs = recs if isinstance(recs, list) else [recs]
    kind = _sniff_json(recs) if fmt == "auto" else fmt
    if kind == "finqa":
        return _finqa(name, recs, str(path))
    if kind == "tatqa":
        return _tatqa(name, recs, str(path))
    if kind == "convfinqa":
        return _convfinqa(name, recs, str(path))
    if kind == "mc":
        return _mc(name, [path], prefix=False) if path.suffix == ".jsonl" else [
            BenchItem(name, str(r.get("id", i)), [("question", _mc_text(r) or "")]) for i, r in enumerate(recs)]
    if kind == "text":
        return [BenchItem(name, str(r.get("id", i)), [("question", r.get("text", ""))]) for i, r in enumerate(recs)]
    raise BenchmarkFormatError(f"benchmark {name}: cannot tell the format of {path} (first record keys: "
                               f"{sorted(recs[0])[:12] if recs else []}); pass one of {FORMATS[1:]}")
