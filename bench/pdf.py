"""PDF tables: cells and their neighbours found by ``curation.pdf.read_pdf`` vs pdfplumber used plainly.

Data: ``../shared/data/pdf_tables/icdar2013_eu`` (ICDAR 2013 table competition, EU half) with the cell
structure ground truth (``-str.xml``: every cell's start row/column and content). Scored as the competition
did, on content: a cell's *adjacency relations* are (its content, the next non-empty cell's content to the
right / below, direction); precision and recall of our relations against the truth's. Also: cell recall (a
true cell is a cell of one of our markdown tables, same content), cell text present (the cell's text occurs
anywhere in the output), and rows in one line (all of a true row's cells on one output line, in order).
Contents are compared with whitespace removed and case folded. The plain baseline is
``page.extract_text()`` per page (text only: it has no cells, so only the last two apply). Pages/s for both
on the same files, same run. Prints JSON.

    python bench/pdf.py [--files eu-001,eu-002] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "pdf_tables" / "icdar2013_eu"
SPACE = re.compile(r"\s+")
SPLIT = re.compile(r"(?<!\\) \| ")


def norm(text: str) -> str:
    return SPACE.sub("", unicodedata.normalize("NFKC", text)).lower().replace("\\|", "|")


def truth(xml: Path) -> list[dict[tuple[int, int], str]]:
    """Each ground-truth table as {(row, col): content} (regions of one table merged)."""
    tables = []
    for t in ET.parse(xml).getroot().iter("table"):
        cells = {}
        for c in t.iter("cell"):
            content = (c.findtext("content") or "").strip()
            if content:
                cells[(int(c.get("start-row")), int(c.get("start-col")))] = content
        if cells:
            tables.append(cells)
    return tables


def markdown_tables(text: str) -> list[dict[tuple[int, int], str]]:
    """The markdown tables of an output text as {(row, col): content} (the header-separator line skipped)."""
    tables, cur = [], []
    for line in text.splitlines() + [""]:
        s = line.strip()
        if s.startswith("|") and s.endswith("|"):
            if not re.fullmatch(r"\|(-+\|)+", s):
                cur.append([c.strip() for c in SPLIT.split(s[1:-1].strip() + " ")])
            continue
        if cur:
            tables.append({(i, j): c for i, r in enumerate(cur) for j, c in enumerate(r) if c.strip()})
            cur = []
    return tables


def relations(cells: dict[tuple[int, int], str]) -> Counter:
    """Adjacency relations: each cell with its next non-empty neighbour to the right and below."""
    rel: Counter = Counter()
    for (r, c), v in cells.items():
        right = min((cc for (rr, cc) in cells if rr == r and cc > c), default=None)
        down = min((rr for (rr, cc) in cells if cc == c and rr > r), default=None)
        if right is not None:
            rel[(norm(v), norm(cells[(r, right)]), "h")] += 1
        if down is not None:
            rel[(norm(v), norm(cells[(down, c)]), "v")] += 1
    return rel


def rows_in_one_line(gt: list[dict[tuple[int, int], str]], text: str) -> tuple[int, int]:
    lines = [norm(x) for x in text.splitlines()]
    hit = total = 0
    for t in gt:
        for r in sorted({r for r, _ in t}):
            row = [norm(t[(r, c)]) for c in sorted(c for rr, c in t if rr == r)]
            if len(row) < 2:
                continue
            total += 1
            pat = re.compile(".*?".join(map(re.escape, row)))
            hit += any(pat.search(x) for x in lines)
    return hit, total


def plain_text(pdf_path: Path) -> tuple[str, int]:
    import pdfplumber

    with pdfplumber.open(pdf_path) as pdf:
        return "\n".join(p.extract_text() or "" for p in pdf.pages), len(pdf.pages)


def score_file(pdf_path: Path) -> dict:
    from curation.pdf import read_pdf

    gt = truth(pdf_path.with_name(pdf_path.stem + "-str.xml"))
    t0 = time.perf_counter()
    ours = read_pdf(str(pdf_path))
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    plain, pages = plain_text(pdf_path)
    t_plain = time.perf_counter() - t0
    true_rel = sum((relations(t) for t in gt), Counter())
    our_tables = markdown_tables(ours.text)
    our_rel = sum((relations(t) for t in our_tables), Counter())
    true_cells = Counter(norm(v) for t in gt for v in t.values())
    our_cells = Counter(norm(v) for t in our_tables for v in t.values())
    flat_ours, flat_plain = norm(ours.text), norm(plain)
    return {"file": pdf_path.name, "pages": pages, "tables_true": len(gt), "tables_found": ours.tables,
            "rel_true": sum(true_rel.values()), "rel_found": sum(our_rel.values()),
            "rel_match": sum((true_rel & our_rel).values()),
            "cells_true": sum(true_cells.values()), "cells_matched": sum((true_cells & our_cells).values()),
            "present_ours": sum(n for c, n in true_cells.items() if c in flat_ours),
            "present_plain": sum(n for c, n in true_cells.items() if c in flat_plain),
            "rows_ours": rows_in_one_line(gt, ours.text), "rows_plain": rows_in_one_line(gt, plain),
            "s_ours": t_ours, "s_plain": t_plain}


def summarize(per_file: list[dict]) -> dict:
    s = {k: sum(f[k] for f in per_file) for k in ("pages", "tables_true", "tables_found", "rel_true", "rel_found",
                                                 "rel_match", "cells_true", "cells_matched", "present_ours",
                                                 "present_plain", "s_ours", "s_plain")}
    p = s["rel_match"] / s["rel_found"] if s["rel_found"] else 0.0
    r = s["rel_match"] / s["rel_true"] if s["rel_true"] else 0.0
    rows_o = [sum(f["rows_ours"][i] for f in per_file) for i in (0, 1)]
    rows_p = [sum(f["rows_plain"][i] for f in per_file) for i in (0, 1)]
    return {
        "files": len(per_file), "pages": s["pages"], "tables_true": s["tables_true"], "tables_found": s["tables_found"],
        "huijin": {"adjacency_precision": round(p, 4), "adjacency_recall": round(r, 4),
                   "adjacency_f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
                   "cell_recall": round(s["cells_matched"] / s["cells_true"], 4),
                   "cell_text_present": round(s["present_ours"] / s["cells_true"], 4),
                   "rows_in_one_line": round(rows_o[0] / rows_o[1], 4) if rows_o[1] else None,
                   "pages_per_s": round(s["pages"] / s["s_ours"], 2)},
        "pdfplumber_plain": {"cell_text_present": round(s["present_plain"] / s["cells_true"], 4),
                             "rows_in_one_line": round(rows_p[0] / rows_p[1], 4) if rows_p[1] else None,
                             "pages_per_s": round(s["pages"] / s["s_plain"], 2),
                             "note": "plain text has no cells: adjacency and cell recall do not apply"},
        "speed_ratio_ours_vs_plain": round(s["s_plain"] / s["s_ours"], 3),
    }


def run(files: list[str] | None = None, limit: int | None = None) -> dict:
    pdfs = sorted(DATA.glob("*.pdf"))
    if files:
        pdfs = [p for p in pdfs if p.stem in files]
    per_file = [score_file(p) for p in pdfs[:limit]]
    out = {"bench": "pdf", "data": "ICDAR 2013 table competition (EU)", **summarize(per_file)}
    out["per_file"] = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in f.items()} for f in per_file]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", default=None, help="comma-separated stems, e.g. eu-001,eu-002")
    ap.add_argument("--limit", type=int, default=None)
    args = ap.parse_args()
    print(json.dumps(run(args.files.split(",") if args.files else None, args.limit), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
