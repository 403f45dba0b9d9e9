"""Benchmark records: one record type and the one reader per format the repo reads.

``read_benchmark(path, fmt="auto")`` turns a file (or a folder of multiple-choice files) into
``BenchmarkRecord``s: a context (passages before/after a table, the table as rows of strings) and the questions
asked about it, each with its gold as the benchmark ships it. Formats:

* ``finqa``: FinQA's official JSON (``pre_text``/``post_text``, ``table_ori``/``table``, ``qa.question``,
  ``qa.program``, ``qa.exe_ans``, ``qa.answer`` — the human-written answer ``"3.8%"``);
* ``tatqa``: raw TAT-QA (``table.table``/``table.uid``, ``paragraphs``, ``questions`` with ``answer``,
  ``answer_type``, ``scale``, ``derivation``, ``answer_from``);
* ``convfinqa``: the Program-of-Thoughts layout (``questions``, ``programs``, ``answer``, ``text``, ``table``
  as a ``|``-separated string) or the original one (``annotation.dialogue_break``/``turn_program``/
  ``exe_ans_list`` over FinQA's ``pre_text``/``table``/``post_text``);
* ``mc``: multiple choice, en or zh, as CSV (``id,question,A,B,C,D,answer``, Fin-Eva / C-Eval style, one file
  per subject; a folder of them) or JSONL (``question``/``query``/``stem`` with ``options``/``choices`` as a
  dict or list, or ``A``-``H`` fields, and ``answer``);
* ``text``: generic JSONL with a ``text`` field.

Reading only: no program is run here and no reward spec is built (``finance.answers`` builds specs; callers
run programs). Hand-written: no library reads these benchmark layouts.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .numbers import find_quantities

FORMATS = ("auto", "finqa", "convfinqa", "tatqa", "mc", "text")


class BenchmarkFormatError(ValueError):
    """A benchmark file or record is not in a format we read; the message names the file and record."""


class BenchmarkMissing(BenchmarkFormatError, FileNotFoundError):
    """A benchmark path that is not there: bad input (exit 2, like any missing file), and still a
    ``BenchmarkFormatError`` for the callers that catch that."""


@dataclass
class BenchQuestion:
    """One question of a benchmark record, with its gold as shipped."""

    qid: str
    question: str
    answer: Any  # FinQA exe_ans, TAT-QA answer (number, span, list of spans), ConvFinQA answer, MC letter(s)
    answer_type: str  # arithmetic | span | multi-span | count | yes-no | choice | text
    program: str | None = None
    dsl: str | None = None  # finqa | python
    scale: str | None = None  # TAT-QA's scale field: "" | thousand | million | billion | percent
    answer_text: str | None = None  # FinQA's human-written answer ("3.8%")
    answer_from: str | None = None  # TAT-QA: table | text | table-text
    options: dict[str, str] | None = None  # multiple choice: letter → option text


@dataclass
class BenchmarkRecord:
    """A context and the questions asked about it (a multiple-choice row is a record with one question)."""

    id: str | None  # the benchmark's own id (None when the record has none: callers fall back on ``offset``)
    dataset: str  # finqa | tatqa | convfinqa | mc | text
    questions: list[BenchQuestion] = field(default_factory=list)
    text_before: str = ""  # passages before the table (TAT-QA, ConvFinQA PoT: all passages)
    text_after: str = ""
    table: list[list[str]] = field(default_factory=list)  # the table as shown (FinQA: table_ori)
    program_table: list[list[str]] | None = None  # FinQA: the normalised table its programs refer to
    table_raw: str | None = None  # ConvFinQA PoT: the table string as shipped
    file: str = ""
    offset: int = 0  # index of the record (row) in its file, 0-based
    meta: dict[str, Any] = field(default_factory=dict)  # mc: subject, lang, taxonomy, context

    @property
    def text(self) -> str:
        return f"{self.text_before}\n{self.text_after}".strip()

    @property
    def scale(self) -> str | None:
        """The scale the table's amounts are written in (``in millions``), from its header and the passages."""
        return table_scale(self.table, self.text)


# -- files ----------------------------------------------------------------------------------------
def read_records(path: str | Path) -> list[Any]:
    """A JSON array or JSON Lines file, as raw records; a clear error naming the file when it is neither."""
    p = Path(path)
    if not p.is_file():
        raise BenchmarkFormatError(f"{p}: no such file")
    text = p.read_text(encoding="utf-8-sig")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        out = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise BenchmarkFormatError(f"{p}:{n}: neither a JSON array nor JSON Lines ({e.msg})") from None
        return out
    if isinstance(data, dict) and p.suffix == ".jsonl":
        return [data]
    if not isinstance(data, list):
        raise BenchmarkFormatError(f"{p}: expected a JSON array of records, got {type(data).__name__}")
    return data


def detect_layout(rec: Any) -> str | None:
    """finqa | tatqa | convfinqa | mc | text for one raw record; None when it is none of them."""
    if not isinstance(rec, dict):
        return None
    if "annotation" in rec or ("questions" in rec and "programs" in rec):
        return "convfinqa"
    if isinstance(rec.get("qa"), dict) or ("pre_text" in rec and "table" in rec):
        return "finqa"
    if isinstance(rec.get("table"), dict) and "paragraphs" in rec:
        return "tatqa"
    if "questions" in rec and "text" in rec:
        return "convfinqa"
    if isinstance(rec.get("question") or rec.get("query") or rec.get("stem"), str):
        return "mc"
    if "text" in rec:
        return "text"
    return None


def read_record(rec: Any, layout: str | None = None, file: str = "", offset: int = 0) -> BenchmarkRecord:
    """One raw record → a ``BenchmarkRecord``; BenchmarkFormatError (naming file:offset) when it does not fit."""
    layout = layout or detect_layout(rec)
    where = f"{file}:{offset}"
    reader = _READERS.get(layout or "")
    if reader is None:
        raise BenchmarkFormatError(f"{where}: not a FinQA, TAT-QA, ConvFinQA, multiple-choice or text record")
    if not isinstance(rec, dict):
        raise BenchmarkFormatError(f"{where}: a {layout} record must be a JSON object")
    try:
        return reader(rec, file, offset)
    except BenchmarkFormatError:
        raise
    except (KeyError, TypeError, AttributeError, IndexError, ValueError, SyntaxError) as e:
        raise BenchmarkFormatError(f"{where}: malformed {layout} record ({type(e).__name__}: {e})") from None


def iter_records(path: str | Path, fmt: str = "auto") -> Iterator[tuple[int, Any, BenchmarkRecord | BenchmarkFormatError]]:
    """``(index, raw, record | error)`` for every record of a JSON/JSONL file (bad records yielded, not raised)."""
    for i, rec in enumerate(read_records(path)):
        try:
            yield i, rec, read_record(rec, None if fmt == "auto" else fmt, str(path), i)
        except BenchmarkFormatError as e:
            yield i, rec, e


def read_benchmark(path: str | Path, fmt: str = "auto") -> list[BenchmarkRecord]:
    """Every record of a benchmark file, or of a folder of multiple-choice ``.csv``/``.jsonl`` files."""
    path = Path(path)
    if fmt not in FORMATS:
        raise BenchmarkFormatError(f"{path}: format {fmt!r} is not one of {FORMATS}")
    if not path.exists():
        raise BenchmarkMissing(f"{path} does not exist")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".csv", ".jsonl"))
        if not files:
            raise BenchmarkFormatError(f"folder {path} has no .csv or .jsonl files")
        return [r for f in files for r in read_mc(f)]
    if path.suffix == ".csv":
        return read_mc(path)
    recs = read_records(path)
    kind = fmt
    if fmt == "auto":
        kind = detect_layout(recs[0]) if recs else "text"
        if kind is None:
            raise BenchmarkFormatError(f"cannot tell the format of {path} (first record keys: "
                                       f"{sorted(recs[0])[:12] if isinstance(recs[0], dict) else []}); "
                                       f"pass one of {FORMATS[1:]}")
    return [read_record(r, kind, str(path), i) for i, r in enumerate(recs)]


# -- FinQA ----------------------------------------------------------------------------------------
def table_rows(table: Any) -> list[list[str]]:
    """A table as rows of strings (a list of lists), or TypeError."""
    if not isinstance(table, list) or not table or not all(isinstance(r, list) for r in table):
        raise TypeError("table is not a list of rows")
    return [[str(c) for c in r] for r in table]


def table_text(table: Any) -> str:
    """A table as ``a | b | c`` lines (a string table is returned as is)."""
    if isinstance(table, str):
        return table
    if isinstance(table, dict):
        table = table.get("table", [])
    return "\n".join(" | ".join(str(c).strip() for c in row) for row in table or [] if isinstance(row, list))


def _paragraphs(x: Any) -> str:
    return " ".join(str(s) for s in x) if isinstance(x, list) else str(x or "")


def _finqa(rec: dict, file: str, offset: int) -> BenchmarkRecord:
    raw_table = rec.get("table_ori") or rec.get("table")
    table = table_rows(raw_table) if raw_table else []
    qa = rec.get("qa")
    if qa is not None and not isinstance(qa, dict):
        raise TypeError("qa is not an object")
    qa = qa or {}
    rid = str(rec["id"]) if rec.get("id") is not None else None
    questions = []
    if isinstance(qa.get("question"), str):
        ans = qa.get("exe_ans")
        atype = "yes-no" if isinstance(ans, str) and ans.strip().lower() in ("yes", "no") else "arithmetic"
        shown = qa.get("answer")
        questions.append(BenchQuestion(rid or f"{Path(file).name}#{offset}", qa["question"], ans, atype,
                                       qa.get("program"), "finqa",
                                       answer_text=str(shown) if shown is not None else None))
    program_table = table_rows(rec["table"]) if isinstance(rec.get("table"), list) and rec["table"] else None
    return BenchmarkRecord(rid, "finqa", questions, _paragraphs(rec.get("pre_text")),
                           _paragraphs(rec.get("post_text")), table, program_table, None, file, offset)


# -- TAT-QA ---------------------------------------------------------------------------------------
def _tatqa(rec: dict, file: str, offset: int) -> BenchmarkRecord:
    if "questions" not in rec or "paragraphs" not in rec:
        raise BenchmarkFormatError(f"{file}:{offset}: TAT-QA record needs 'questions' and 'paragraphs'")
    table = table_rows(rec["table"]["table"])
    paras = sorted(rec.get("paragraphs") or [], key=lambda p: p.get("order", 0))
    text = "\n".join(p["text"] for p in paras)
    uid = rec["table"].get("uid")
    qs = [BenchQuestion(str(q.get("uid")), q["question"], q.get("answer"), q.get("answer_type") or "span",
                        program=q.get("derivation") or None, dsl="python" if q.get("derivation") else None,
                        scale=q.get("scale") or "", answer_from=q.get("answer_from"))
          for q in rec.get("questions") or []]
    return BenchmarkRecord(str(uid) if uid is not None else None, "tatqa", qs, text, "", table,
                           file=file, offset=offset)


# -- ConvFinQA ------------------------------------------------------------------------------------
def _listish(x: Any) -> list:
    """PoT files store lists as Python literals in strings (``"['a', 'b']"``)."""
    if isinstance(x, str):
        x = ast.literal_eval(x) if x.strip().startswith("[") else [x]
    if not isinstance(x, list):
        raise TypeError(f"expected a list, got {type(x).__name__}")
    return x


def _convfinqa(rec: dict, file: str, offset: int) -> BenchmarkRecord:
    rid = str(rec["id"]) if rec.get("id") is not None else None
    cid = rid or f"{Path(file).name}#{offset}"
    if "annotation" in rec:  # original ConvFinQA layout: FinQA context + a dialogue of FinQA-DSL turns
        ann = rec["annotation"]
        qs_text = [q for q in ann.get("dialogue_break") or [] if isinstance(q, str)]
        progs = ann.get("turn_program") or [None] * len(qs_text)
        answers = ann.get("exe_ans_list") or [None] * len(qs_text)
        if not qs_text:
            raise BenchmarkFormatError(f"{file}:{offset}: ConvFinQA record without questions")
        qs = [BenchQuestion(f"convfinqa:{cid}#t{i}", q, a, "arithmetic", p, "finqa")
              for i, (q, p, a) in enumerate(zip(qs_text, progs, answers, strict=False))]
        raw_table = rec.get("table_ori") or rec.get("table")
        program_table = table_rows(rec["table"]) if isinstance(rec.get("table"), list) and rec["table"] else None
        return BenchmarkRecord(rid, "convfinqa", qs, _paragraphs(rec.get("pre_text")),
                               _paragraphs(rec.get("post_text")), table_rows(raw_table) if raw_table else [],
                               program_table, None, file, offset)
    questions = _listish(rec.get("questions") or [])
    if not questions:
        raise BenchmarkFormatError(f"{file}:{offset}: ConvFinQA record without questions")
    programs = _listish(rec["programs"]) if "programs" in rec else [None] * len(questions)
    if len(questions) != len(programs):
        raise TypeError(f"{len(questions)} questions but {len(programs)} programs")
    raw = rec.get("table")
    table = ([[c.strip() for c in line.split("|")] for line in raw.splitlines() if line.strip()]
             if isinstance(raw, str) else table_rows(raw) if raw else [])
    last = len(questions) - 1
    qs = [BenchQuestion(f"convfinqa:{cid}#t{i}", str(q), rec.get("answer") if i == last else None, "arithmetic", p,
                        "python" if p is not None else None)
          for i, (q, p) in enumerate(zip(questions, programs, strict=True))]
    return BenchmarkRecord(rid, "convfinqa", qs, str(rec.get("text") or ""), "", table, None,
                           raw if isinstance(raw, str) else table_text(raw), file, offset)


# -- multiple choice and text ---------------------------------------------------------------------
_LETTERED = re.compile(r"^\s*([A-H])\s*[.、:：)）]\s*(.*)$", re.DOTALL)


def mc_options(r: dict[str, Any]) -> dict[str, str]:
    """The options of a multiple-choice row as letter → text (``options``/``choices`` dict or list, or A-H)."""
    opts = r.get("options") or r.get("choices")
    if isinstance(opts, dict):
        return {str(k).strip().upper(): str(v) for k, v in opts.items()}
    if isinstance(opts, list):
        out = {}
        for i, o in enumerate(opts):
            m = _LETTERED.match(str(o))
            letter, text = (m.group(1), m.group(2)) if m else ("ABCDEFGH"[i] if i < 8 else str(i), str(o))
            out[letter] = text
        return out
    return {k: str(r[k]) for k in "ABCDEFGH" if r.get(k) not in (None, "")}


def mc_text(q: BenchQuestion) -> str:
    """A multiple-choice question with its options, one per line (``A. …``)."""
    return "\n".join([q.question, *(f"{k}. {v}" for k, v in (q.options or {}).items())])


def _mc(rec: dict, file: str, offset: int) -> BenchmarkRecord:
    q = rec.get("question") or rec.get("query") or rec.get("stem")
    if not isinstance(q, str):
        raise BenchmarkFormatError(f"{file}:{offset + 1}: multiple-choice row without a 'question' field")
    ans = rec.get("answer")
    gold = str(ans).strip().upper() if ans is not None else None
    rid = str(rec["id"]) if rec.get("id") not in (None, "") else None
    meta = {k: rec[k] for k in ("lang", "taxonomy", "context", "subject") if rec.get(k) not in (None, "")}
    meta["file_stem"] = Path(file).stem
    return BenchmarkRecord(rid, "mc", [BenchQuestion(rid or str(offset), q, gold, "choice", options=mc_options(rec))],
                           file=file, offset=offset, meta=meta)


def read_mc(path: str | Path) -> list[BenchmarkRecord]:
    """One multiple-choice CSV or JSONL file (offsets are 0-based data rows)."""
    path = Path(path)
    if path.suffix == ".csv":
        try:
            with open(path, encoding="utf-8-sig", newline="") as f:
                rows = list(csv.DictReader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            raise BenchmarkFormatError(f"{path}: cannot read CSV ({e})") from None
    else:
        rows = read_records(path)
    return [read_record(r, "mc", str(path), i) for i, r in enumerate(rows)]


def _text(rec: dict, file: str, offset: int) -> BenchmarkRecord:
    rid = str(rec["id"]) if rec.get("id") is not None else None
    return BenchmarkRecord(rid, "text", [BenchQuestion(rid or str(offset), str(rec.get("text", "")), None, "text")],
                           file=file, offset=offset)


_READERS = {"finqa": _finqa, "tatqa": _tatqa, "convfinqa": _convfinqa, "mc": _mc, "text": _text}


# -- the scale a table's amounts are written in ---------------------------------------------------
_NUMERIC_CELL = re.compile(r"^[\s$€£¥(+\-\u2212]*\d[\d,]*(?:\.\d+)?\s*%?\s*\)?\s*(?:\(\s*[\d.,]+\s*%?\s*\)\s*)?$")
_MISSING = {"", "-", "—", "–", "n/a", "na", "nm", "*", "--"}
SCALE_HINT = re.compile(r"in\s+(thousands|millions|billions)|\(\s*(thousands|millions|billions)\s*\)"
                         r"|(?:thousands|millions|billions)\s+of", re.IGNORECASE)


@dataclass
class Cell:
    value: float
    raw: str
    percent: bool
    currency: bool


def parse_cell(cell: str) -> Cell | None:
    """A table cell as a number: ``$ 1,234``, ``(1,234)`` (negative), ``27% ( 27 % )``; None otherwise."""
    t = cell.strip()
    if t.lower() in _MISSING or not _NUMERIC_CELL.match(t):
        return None
    qs = find_quantities(t)
    if not qs:
        return None
    q = qs[0]
    # FinQA's normalised tables repeat a percentage in parentheses: "27% ( 27 % )" — the first one counts
    return Cell(q.value, t, q.unit == "percent" or "%" in t.split("(")[0], "$" in t or q.unit == "currency")


def all_years(cells: list[str]) -> bool:
    vals = [c.strip() for c in cells if c.strip()]
    return bool(vals) and all(re.fullmatch(r"(19|20)\d{2}", v) for v in vals)


def header_rows(table: list[list[str]]) -> int:
    """How many leading rows are header: rows without a number past the label column (or only years)."""
    return next((i for i, r in enumerate(table) if any(parse_cell(c) is not None for c in r[1:])
                 and not all_years(r[1:])), len(table))


def scale_hint(*texts: str) -> str | None:
    """``in millions`` / ``(thousands)`` / ``billions of`` → million / thousand / billion (first text that has one)."""
    for t in texts:
        m = SCALE_HINT.search(t or "")
        if m:
            word = next(g for g in m.groups() if g) if any(m.groups()) else m.group(0).split()[0]
            return {"thousands": "thousand", "millions": "million", "billions": "billion"}[word.lower()]
    return None


def table_scale(table: list[list[str]], text: str = "") -> str | None:
    """The scale of a table's amounts: a hint in its header rows (and the first data row), else in the text."""
    first_data = header_rows(table)
    header_text = " ".join(" ".join(table[i]) for i in range(min(first_data + 1, len(table))))
    return scale_hint(header_text, text[:2000])
