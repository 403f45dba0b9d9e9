"""Table+text contexts from FinQA, TAT-QA and ConvFinQA files, in one shape the generators share.

``iter_contexts(path)`` reads records with the benchmark readers of ``finance.benchmarks`` and views each as a
``TableContext``: the table as rows of strings, the surrounding text and the source's own questions with their
gold answers. ``numeric_grid(ctx)`` reads the table into labelled numeric rows and columns for the program
generator (cells, header rows and the scale hint are the finance core's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finance.benchmarks import (
    SCALE_HINT,
    BenchmarkFormatError,
    BenchmarkRecord,
    BenchQuestion,
    Cell,
    all_years,
    detect_layout,
    header_rows,
    parse_cell,
    read_record,
    read_records,
    table_scale,
)

ContextError = BenchmarkFormatError  # a record that cannot be read as a table+text context (names file:record)
SourceQuestion = BenchQuestion  # a question shipped with the source data (finance.benchmarks)
read_json_records = read_records
LAYOUTS = ("finqa", "tatqa", "convfinqa")


@dataclass
class TableContext:
    """A benchmark record seen as a table+text context for the generators (``record``: what it was read from)."""

    cid: str
    dataset: str  # finqa | tatqa | convfinqa
    table: list[list[str]]
    text: str
    questions: list[BenchQuestion] = field(default_factory=list)
    file: str = ""
    offset: int = 0
    program_table: list[list[str]] | None = None  # FinQA: the normalised table its programs refer to
    record: BenchmarkRecord | None = None

    @property
    def title(self) -> str:
        return self.cid

    def benchmark_record(self) -> BenchmarkRecord:
        """The record the reward specs are built from (``finance.answers.question_spec``)."""
        return self.record or BenchmarkRecord(self.cid, self.dataset, self.questions, self.text, "", self.table,
                                              self.program_table, None, self.file, self.offset)


# -- reading (finance.benchmarks) -------------------------------------------------------------------
def context_of(rec: BenchmarkRecord) -> TableContext:
    """A FinQA / TAT-QA / ConvFinQA record as a context (ContextError for other kinds or a record without a table)."""
    where = f"{rec.file}:{rec.offset}"
    if rec.dataset not in LAYOUTS:
        raise ContextError(f"{where}: not a FinQA, TAT-QA or ConvFinQA record")
    if not rec.table:
        raise ContextError(f"{where}: malformed {rec.dataset} record (TypeError: table is not a list of rows)")
    own = rec.id or (f"{Path(rec.file).name}#{rec.offset}" if rec.dataset == "finqa" else str(rec.offset))
    cid = own if rec.dataset == "finqa" else f"{rec.dataset}:{own}"
    return TableContext(cid, rec.dataset, rec.table, rec.text, rec.questions, rec.file, rec.offset,
                        rec.program_table, rec)


def context_from_record(rec: Any, file: str = "", offset: int = 0) -> TableContext:
    """One source record → a context; raises ContextError (with file:offset) when it does not fit."""
    layout = detect_layout(rec)
    if layout not in LAYOUTS:
        raise ContextError(f"{file}:{offset}: not a FinQA, TAT-QA or ConvFinQA record")
    return context_of(read_record(rec, layout, file, offset))


def iter_contexts(path: str | Path):
    """Yield ``(index, raw record, TableContext | ContextError)`` for every record of a file (errors yielded)."""
    for i, rec in enumerate(read_records(path)):
        try:
            yield i, rec, context_from_record(rec, str(path), i)
        except ContextError as e:
            yield i, rec, e


# -- numeric reading of a table -------------------------------------------------------------------
_YEAR = re.compile(r"(?<!\d)(19|20)\d{2}(?!\d)")


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


def numeric_grid(table: list[list[str]], text: str = "") -> Grid:
    """Read the numeric rows of a table. Header rows are the leading rows without a number (or only years);
    a table whose row labels are years (years down, measures across) is transposed."""
    parsed = [[parse_cell(c) for c in r] for r in table]
    first_data = header_rows(table)
    width = max((len(r) for r in table), default=0)
    columns: dict[int, str] = {}
    for j in range(1, width):
        parts = [table[i][j].strip() for i in range(first_data) if j < len(table[i]) and table[i][j].strip()]
        columns[j] = " ".join(SCALE_HINT.sub("", " ".join(parts)).replace("()", "").split())
    rows = []
    for i in range(first_data, len(table)):
        label = table[i][0].strip() if table[i] else ""
        cells = {j: c for j, c in enumerate(parsed[i]) if j > 0 and c is not None}
        if label and cells and not all_years(table[i][1:]):
            rows.append(NumericRow(_clean_label(label), cells))
    header_text = " ".join(" ".join(table[i]) for i in range(min(first_data + 1, len(table))))
    scale = table_scale(table, text)
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
