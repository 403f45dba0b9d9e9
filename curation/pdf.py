"""PDF → text in reading order with tables as markdown (annual reports, prospectuses, announcements).

Library: ``pdfplumber`` (MIT, on pdfminer.six, MIT). Compared with ``pypdf`` (BSD; text only, no table
finder, no character positions worth clustering) and ``pypdfium2`` (Apache-2.0/BSD; fast text, no tables):
pdfplumber is the one that finds ruled tables and returns their cells, and gives every character its
position, which the reading order and the header/footer rule need. PyMuPDF was not considered (AGPL).

What is written by hand (no library does it): tables are found per page with pdfplumber's ``lines``
strategy, cleaned (the empty columns and rows that merged cells and stray rules leave are removed; a
"table" of one column is not a table) and rendered as markdown rows ``| a | b |``. Tables without ruling
lines stay text lines (cells in order on one line); a fallback to columns from text alignment was measured
and lost more than it won on the ICDAR set (``bench/pdf.py``); the text outside tables comes line by line
(``extract_text_lines``) and is merged with the tables by vertical position, so a table sits where it is on
the page; lines in the top/bottom margin that repeat on at least half of the pages (digits folded, so
"Page 3 of 9" repeats) and bare page numbers are removed.

Failures are values, never exceptions: ``read_pdf`` raises ``PdfProblem`` with a quarantine reason for an
encrypted PDF (``encrypted_pdf``), one no parser opens (``malformed_pdf``) and one without any text layer
(``scanned_pdf``); pages of a text PDF that have images but no text come back in ``scanned_pages``.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PAGE_NUMBER = re.compile(r"^\s*(?:[-–—]\s*)?(?:page|p\.|第)?\s*\d{1,4}\s*(?:(?:of|/|页|頁)\s*\d{1,4})?\s*(?:[-–—]\s*)?"
                         r"(?:页|頁)?\s*$", re.I)
DIGITS = re.compile(r"\d+")
MARGIN = 0.08  # share of the page height at the top and bottom where running headers/footers live
TABLE_SETTINGS = {"vertical_strategy": "lines", "horizontal_strategy": "lines"}
# a space between two characters when the gap exceeds 15% of the character's size (pdfplumber's fixed 3 pt
# glues words of tightly set reports: "ForestLaboratories,Inc." in the shared financial disclosure)
TEXT_SETTINGS = {"x_tolerance_ratio": 0.15}


class PdfProblem(Exception):
    """A PDF that cannot become a document; ``reason`` is the quarantine reason."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class PdfText:
    text: str
    pages: int
    tables: int = 0
    scanned_pages: list[int] = field(default_factory=list)  # 1-based pages with images but no text layer
    removed_lines: list[str] = field(default_factory=list)  # running headers/footers and page numbers


def clean_table(rows: list[list[str | None]]) -> list[list[str]]:
    """pdfplumber's cells → a grid without the all-empty columns and rows merged cells and stray rules leave."""
    grid = [[" ".join((c or "").split()) for c in r] for r in rows]
    if not grid:
        return []
    width = max(len(r) for r in grid)
    grid = [r + [""] * (width - len(r)) for r in grid]
    keep = [j for j in range(width) if any(r[j] for r in grid)]
    return [[r[j] for j in keep] for r in grid if any(r[j] for j in keep)]


def table_markdown(grid: list[list[str]]) -> str:
    """A grid as a markdown table (first row as header; pipes in cells escaped)."""
    if not grid:
        return ""
    cells = [[c.replace("|", "\\|") for c in r] for r in grid]
    lines = ["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
    lines += ["| " + " | ".join(r) + " |" for r in cells[1:]]
    return "\n".join(lines)


def _open(path: str) -> Any:
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    try:
        pdf = pdfplumber.open(path)
        _ = pdf.pages  # parses the page tree: malformed files fail here
        return pdf
    except (PDFPasswordIncorrect, PDFEncryptionError) as e:
        raise PdfProblem("encrypted_pdf", f"{type(e).__name__}: needs a password or an unsupported cipher") from None
    except (PdfProblem, OSError):
        raise
    except Exception as e:  # pdfminer raises PSEOF, PDFSyntaxError, KeyError, ValueError, ... for broken files
        if "password" in str(e).lower() or "encrypt" in type(e).__name__.lower():
            raise PdfProblem("encrypted_pdf", f"{type(e).__name__}: {e}"[:200]) from None
        raise PdfProblem("malformed_pdf", f"{type(e).__name__}: {str(e).strip()[:160]}") from None


def _tables(page: Any, settings: dict[str, Any], min_rows: int = 2) -> list[tuple[Any, list[list[str]]]]:
    """Tables pdfplumber finds with ``settings`` that hold a real grid (2+ columns, ``min_rows``+ rows)."""
    out = []
    for t in page.find_tables(settings):
        grid = clean_table(t.extract(**TEXT_SETTINGS)) if t.cells else []
        if len(grid) >= min_rows and len(grid[0]) >= 2:
            out.append((t, grid))
    return out


def _page_items(page: Any) -> tuple[list[tuple[float, str, bool]], int]:
    """(top, text, in_margin) items of one page in reading order, tables as markdown; and the table count."""
    tables = _tables(page, TABLE_SETTINGS)
    boxes = [t.bbox for t, _ in tables]
    items: list[tuple[float, str, bool]] = []
    for t, grid in tables:
        items.append((t.bbox[1], table_markdown(grid), False))
    ntab = len(tables)

    def outside(obj: dict) -> bool:
        cx, cy = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= cx <= x1 and y0 <= cy <= y1 for x0, y0, x1, y1 in boxes)

    rest = page.filter(lambda o: o.get("object_type") != "char" or outside(o)) if boxes else page
    h = float(page.height) or 1.0
    for ln in rest.extract_text_lines(return_chars=False, strip=True, **TEXT_SETTINGS):
        if ln["text"].strip():
            margin = ln["top"] < MARGIN * h or ln["bottom"] > (1 - MARGIN) * h
            items.append((ln["top"], ln["text"].strip(), margin))
    items.sort(key=lambda x: x[0])
    return items, ntab


def read_pdf(path: str, max_pages: int = 2000) -> PdfText:
    """Text of a PDF (see the module docstring); raises ``PdfProblem`` with the quarantine reason."""
    pdf = _open(path)
    try:
        pages, scanned, ntab = [], [], 0
        try:
            for i, page in enumerate(pdf.pages[:max_pages], 1):
                if not page.chars:
                    if page.images:
                        scanned.append(i)
                    pages.append([])
                    continue
                items, n = _page_items(page)
                ntab += n
                pages.append(items)
        except PdfProblem:
            raise
        except Exception as e:  # a page pdfminer cannot interpret
            raise PdfProblem("malformed_pdf", f"page {len(pages) + 1}: {type(e).__name__}: {str(e)[:160]}") from None
        n_pages = len(pdf.pages)
    finally:
        pdf.close()
    if not any(pages):
        if scanned:
            raise PdfProblem("scanned_pdf", f"{len(scanned)} of {n_pages} pages have images and no text layer (OCR needed)")
        raise PdfProblem("empty_pdf", f"{n_pages} pages without text")
    # running headers/footers: margin lines (digits folded) on at least half of the text pages, 2 pages at least
    with_text = [p for p in pages if p]
    seen = Counter(k for p in with_text for k in {DIGITS.sub("#", t) for _, t, m in p if m})
    running = {k for k, c in seen.items() if c >= max(2, len(with_text) / 2)}
    out, removed = [], []
    for items in with_text:
        kept = []
        for _, text, margin in items:
            if margin and (DIGITS.sub("#", text) in running or PAGE_NUMBER.match(text)):
                removed.append(text)
                continue
            kept.append(text)
        out.append(_join(kept))
    return PdfText("\n\n".join(t for t in out if t), n_pages, ntab, scanned, removed)


def _join(items: list[str]) -> str:
    """Lines of one page; a blank line around each table so it stays a markdown block."""
    parts: list[str] = []
    for t in items:
        if t.startswith("| ") and parts:
            parts.append("")
        elif parts and parts[-1].startswith("|") and not t.startswith("| "):
            parts.append("")
        parts.append(t)
    return "\n".join(parts)
