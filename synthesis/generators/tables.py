"""Table+text contexts from FinQA, TAT-QA and ConvFinQA files, in one shape the generators share.

``load_contexts(path)`` reads any of the three layouts (detected per record) into ``TableContext`` objects:
the table as rows of strings, the surrounding text, a scale hint ("in millions") and the source's own
questions with their gold answers. ``numeric_grid(ctx)`` reads the table into labelled numeric rows and
columns for the program generator. Hand-written: no library reads these three benchmark layouts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finance.numbers import find_quantities


class ContextError(ValueError):
    """A record cannot be read as a table+text context; the message names the file and record."""


@dataclass
class SourceQuestion:
    """A question shipped with the source data, with what is needed to build its reward spec."""

    qid: str
    question: str
    answer: Any  # number, "yes"/"no", string span or list of spans
    answer_type: str  # arithmetic | span | multi-span | count | yes-no
    program: str | None = None
    dsl: str | None = None  # finqa | python
    scale: str | None = None  # TAT-QA's scale field: "" | thousand | million | billion | percent
    answer_text: str | None = None  # FinQA's rounded, human answer ("34.7%")
    history: list[tuple[str, Any]] = field(default_factory=list)  # ConvFinQA earlier turns (question, answer)
    answer_from: str | None = None  # TAT-QA: table | text | table-text


@dataclass
class TableContext:
    cid: str
    dataset: str  # finqa | tatqa | convfinqa
    table: list[list[str]]
    text: str
    questions: list[SourceQuestion] = field(default_factory=list)
    file: str = ""
    offset: int = 0
    program_table: list[list[str]] | None = None  # FinQA: the normalised table its programs refer to

    @property
    def title(self) -> str:
        return self.cid


# -- reading ------------------------------------------------------------------------------------
def read_json_records(path: str | Path) -> list[Any]:
    """A JSON array or JSON Lines file; a clear error naming the file when it is neither."""
    p = Path(path)
    if not p.is_file():
        raise ContextError(f"{p}: no such file")
    text = p.read_text(encoding="utf-8")
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
                raise ContextError(f"{p}:{n}: neither a JSON array nor JSON Lines ({e.msg})") from None
        return out
    if not isinstance(data, list):
        raise ContextError(f"{p}: expected a JSON array of records, got {type(data).__name__}")
    return data


def detect_layout(rec: Any) -> str | None:
    if not isinstance(rec, dict):
        return None
    if isinstance(rec.get("qa"), dict) or ("pre_text" in rec and "table" in rec):
        return "finqa"
    if isinstance(rec.get("table"), dict) and "paragraphs" in rec:
        return "tatqa"
    if "programs" in rec and "questions" in rec:
        return "convfinqa"
    return None


def context_from_record(rec: Any, file: str = "", offset: int = 0) -> TableContext:
    """One source record → a context; raises ContextError (with file:offset) when it does not fit."""
    where = f"{file}:{offset}"
    layout = detect_layout(rec)
    try:
        if layout == "finqa":
            return _finqa(rec, file, offset)
        if layout == "tatqa":
            return _tatqa(rec, file, offset)
        if layout == "convfinqa":
            return _convfinqa(rec, file, offset)
    except (KeyError, TypeError, AttributeError, IndexError) as e:
        raise ContextError(f"{where}: malformed {layout} record ({type(e).__name__}: {e})") from None
    raise ContextError(f"{where}: not a FinQA, TAT-QA or ConvFinQA record")


def iter_contexts(path: str | Path):
    """Yield ``(index, TableContext | ContextError)`` for every record of a file (errors are yielded, not raised)."""
    for i, rec in enumerate(read_json_records(path)):
        try:
            yield i, rec, context_from_record(rec, str(path), i)
        except ContextError as e:
            yield i, rec, e


def _table_rows(table: Any) -> list[list[str]]:
    if not isinstance(table, list) or not table or not all(isinstance(r, list) for r in table):
        raise TypeError("table is not a list of rows")
    return [[str(c) for c in r] for r in table]


def _finqa(rec: dict, file: str, offset: int) -> TableContext:
    table = _table_rows(rec.get("table_ori") or rec["table"])
    text = " ".join(rec.get("pre_text") or []) + "\n" + " ".join(rec.get("post_text") or [])
    qa = rec.get("qa") or {}
    cid = str(rec.get("id") or f"{Path(file).name}#{offset}")
    questions = []
    if qa.get("question"):
        ans = qa.get("exe_ans")
        atype = "yes-no" if isinstance(ans, str) and ans.lower() in ("yes", "no") else "arithmetic"
        questions.append(SourceQuestion(cid, qa["question"], ans, atype, qa.get("program"), "finqa",
                                        answer_text=str(qa.get("answer")) if qa.get("answer") is not None else None))
    program_table = _table_rows(rec["table"]) if isinstance(rec.get("table"), list) and rec["table"] else None
    return TableContext(cid, "finqa", table, text.strip(), questions, file, offset, program_table)


def _tatqa(rec: dict, file: str, offset: int) -> TableContext:
    table = _table_rows(rec["table"]["table"])
    paras = sorted(rec.get("paragraphs") or [], key=lambda p: p.get("order", 0))
    text = "\n".join(p["text"] for p in paras)
    cid = "tatqa:" + str(rec["table"].get("uid") or offset)
    qs = []
    for q in rec.get("questions") or []:
        qs.append(SourceQuestion(str(q.get("uid")), q["question"], q.get("answer"), q.get("answer_type", "span"),
                                 program=q.get("derivation") or None, dsl="python" if q.get("derivation") else None,
                                 scale=q.get("scale") or "", answer_from=q.get("answer_from")))
    return TableContext(cid, "tatqa", table, text, qs, file, offset)


def _convfinqa(rec: dict, file: str, offset: int) -> TableContext:
    table = [[c.strip() for c in line.split("|")] for line in str(rec["table"]).splitlines() if line.strip()]
    _table_rows(table)
    cid = "convfinqa:" + str(rec.get("id") or offset)
    questions, programs = rec["questions"], rec["programs"]
    if len(questions) != len(programs):
        raise TypeError(f"{len(questions)} questions but {len(programs)} programs")
    qs = [SourceQuestion(f"{cid}#t{i}", q, None, "arithmetic", p, "python") for i, (q, p) in enumerate(
        zip(questions, programs, strict=True))]
    return TableContext(cid, "convfinqa", table, str(rec.get("text") or ""), qs, file, offset)


# -- numeric reading of a table -------------------------------------------------------------------
_NUMERIC_CELL = re.compile(r"^[\s$€£¥(+\-\u2212]*\d[\d,]*(?:\.\d+)?\s*%?\s*\)?\s*(?:\(\s*[\d.,]+\s*%?\s*\)\s*)?$")
_MISSING = {"", "-", "—", "–", "n/a", "na", "nm", "*", "--"}
_YEAR = re.compile(r"(?<!\d)(19|20)\d{2}(?!\d)")
_SCALE_HINT = re.compile(r"in\s+(thousands|millions|billions)|\(\s*(thousands|millions|billions)\s*\)"
                         r"|(?:thousands|millions|billions)\s+of", re.IGNORECASE)


@dataclass
class Cell:
    value: float
    raw: str
    percent: bool
    currency: bool


@dataclass
class NumericRow:
    label: str
    cells: dict[int, Cell]  # column index → cell


@dataclass
class Grid:
    """The numeric part of a table: column labels (joined header rows) and rows with ≥ 2 numeric cells."""

    columns: dict[int, str]
    rows: list[NumericRow]
    scale: str | None  # thousand | million | billion | None
    currency: bool

    def years(self) -> dict[int, int]:
        """Column index → year for columns labelled by one year (for growth and CAGR questions)."""
        out = {}
        for j, lab in self.columns.items():
            ys = _YEAR.findall(lab)
            m = _YEAR.search(lab)
            if m and len(ys) == 1:
                out[j] = int(m.group(0))
        return out


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


def scale_hint(*texts: str) -> str | None:
    for t in texts:
        m = _SCALE_HINT.search(t or "")
        if m:
            word = next(g for g in m.groups() if g) if any(m.groups()) else m.group(0).split()[0]
            return {"thousands": "thousand", "millions": "million", "billions": "billion"}[word.lower()]
    return None


def numeric_grid(table: list[list[str]], text: str = "") -> Grid:
    """Read the numeric rows of a table. Header rows are the leading rows without a number (or only years);
    a table whose row labels are years (years down, measures across) is transposed."""
    parsed = [[parse_cell(c) for c in r] for r in table]
    first_data = next((i for i, r in enumerate(parsed) if any(c is not None for c in r[1:])
                       and not _all_years(table[i][1:])), len(table))
    width = max((len(r) for r in table), default=0)
    columns: dict[int, str] = {}
    for j in range(1, width):
        parts = [table[i][j].strip() for i in range(first_data) if j < len(table[i]) and table[i][j].strip()]
        columns[j] = " ".join(_SCALE_HINT.sub("", " ".join(parts)).replace("()", "").split())
    rows = []
    for i in range(first_data, len(table)):
        label = table[i][0].strip() if table[i] else ""
        cells = {j: c for j, c in enumerate(parsed[i]) if j > 0 and c is not None}
        if label and cells and not _all_years(table[i][1:]):
            rows.append(NumericRow(_clean_label(label), cells))
    header_text = " ".join(" ".join(table[i]) for i in range(min(first_data + 1, len(table))))
    scale = scale_hint(header_text, text[:2000])
    currency = any(c.currency for r in rows for c in r.cells.values()) or bool(
        re.search(r"\$|\bUSD\b|dollars", header_text, re.IGNORECASE))
    grid = Grid(columns, rows, scale, currency)
    year_rows = [r for r in rows if re.fullmatch(r"(?:fiscal\s+)?(19|20)\d{2}", r.label, re.IGNORECASE)]
    if len(year_rows) >= 2 and len(year_rows) == len(rows) and len(grid.years()) < 2:
        grid = _transpose(grid)
    return grid


def _transpose(g: Grid) -> Grid:
    cols = {i + 1: r.label for i, r in enumerate(g.rows)}
    rows = []
    for j, lab in g.columns.items():
        cells = {i + 1: r.cells[j] for i, r in enumerate(g.rows) if j in r.cells}
        if lab and cells:
            rows.append(NumericRow(_clean_label(lab), cells))
    return Grid(cols, rows, g.scale, g.currency)


def _all_years(cells: list[str]) -> bool:
    vals = [c.strip() for c in cells if c.strip()]
    return bool(vals) and all(re.fullmatch(r"(19|20)\d{2}", v) for v in vals)


def _clean_label(label: str) -> str:
    label = re.sub(r"\s*\(\s*\d+\s*\)\s*$", "", label)  # footnote markers "(1)"
    return " ".join(label.rstrip(":").split())


def table_markdown(table: list[list[str]], max_rows: int = 60) -> str:
    """A Markdown rendering of the table for prompts (pipes in cells escaped)."""
    rows = [[c.replace("|", "/").strip() for c in r] for r in table[:max_rows]]
    width = max((len(r) for r in rows), default=0)
    rows = [r + [""] * (width - len(r)) for r in rows]
    if not rows:
        return ""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)
