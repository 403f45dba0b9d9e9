"""Training data for the finance-domain classifier from ``../shared/data`` as doc JSONL files.

Positives: SEC 10-K items (en, one doc per item, grouped by company so a company's filings stay on one
side of the split) and Chinese financial news (Fin-Eva summarisation articles). Negatives: en/zh Wikipedia
paragraphs (grouped by article title). The tokenised spacing of the QED paragraphs is handled by the
classifier's normaliser, not here, so training and scoring see the same transformation.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .records import write_jsonl

MIN_ITEM_CHARS = 300  # "ITEM 1B. UNRESOLVED STAFF COMMENTS Not applicable." is not a financial text sample


def sec_10k_docs(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            filing = json.loads(line)
            for key, text in filing.items():
                if key.startswith("item_") and isinstance(text, str) and len(text) >= MIN_ITEM_CHARS:
                    yield {"id": f"{filing['filename']}:{key}", "text": text, "lang": "en", "source": "sec-10k",
                           "url": filing.get("htm_filing_link"),
                           "meta": {"group": f"cik-{filing['cik']}", "company": filing.get("company"), "item": key}}


def zh_news_docs(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8-sig", newline="") as f:
        for row in csv.DictReader(f):
            if row.get("question", "").strip():
                yield {"id": f"fineva-news-{row['id']}", "text": row["question"], "lang": "zh",
                       "source": "fineva-news", "meta": {"group": f"news-{row['id']}"}}


def wiki_docs(path: Path) -> Iterator[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            yield {"id": r["id"], "text": r["text"], "lang": r["lang"], "source": r["source"], "url": r.get("url"),
                   "meta": {"group": f"{r['source']}:{r.get('title')}", "title": r.get("title")}}


def write_finance_training_files(shared: str | Path, out_dir: str | Path) -> dict[str, list[Path]]:
    """Write ``fin_en.jsonl``, ``fin_zh.jsonl`` (positives) and ``general.jsonl`` (negatives)."""
    shared, out_dir = Path(shared), Path(out_dir)
    files = {
        "fin_en.jsonl": sec_10k_docs(shared / "fin_text" / "sec_10k_items.jsonl"),
        "fin_zh.jsonl": zh_news_docs(shared / "fin_text" / "zh_fineva_ant_text_summarization.csv"),
        "general.jsonl": wiki_docs(shared / "general_text" / "wiki_paragraphs.jsonl"),
    }
    for name, docs in files.items():
        write_jsonl(out_dir / name, docs)
    return {"positive": [out_dir / "fin_en.jsonl", out_dir / "fin_zh.jsonl"], "negative": [out_dir / "general.jsonl"]}
