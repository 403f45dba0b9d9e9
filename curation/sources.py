"""Input paths and catalog refs: what a curation reader gets, and the text of any record kind."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from finance.messages import messages_text

WARC_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz", ".warc.zst")
HTML_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz", ".xhtml")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson", ".jsonl.zst")
PARQUET_SUFFIXES = (".parquet",)
CSV_SUFFIXES = (".csv", ".csv.gz", ".tsv")
TEXT_SUFFIXES = (".txt", ".txt.gz", ".md")
PDF_SUFFIXES = (".pdf",)
REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(@(\d+|latest))?$")


def file_format(path: str) -> str | None:
    p = path.lower()
    for fmt, sfx in (("warc", WARC_SUFFIXES), ("html", HTML_SUFFIXES), ("jsonl", JSONL_SUFFIXES),
                     ("parquet", PARQUET_SUFFIXES), ("csv", CSV_SUFFIXES), ("text", TEXT_SUFFIXES),
                     ("pdf", PDF_SUFFIXES)):
        if p.endswith(sfx):
            return fmt
    if p.endswith(".json"):
        return "json"  # a JSON array (or object) of records; JSON Lines under a .json name also work
    return None


def expand_inputs(inputs: Iterable[str], store_root: str | None = None, text_in_folders: bool = False,
                  skipped: list[str] | None = None) -> list[tuple[str, str]]:
    """``(format, path-or-ref)`` for every input: files, folders (recursively, known formats only) and
    catalog refs (``name@N``, ``catalog:name@N``; need a store). Sorted, so every rank sees the same list.

    In a folder, ``.txt``/``.md`` files are notes beside the data (a ``SOURCE.md``, a ``README.txt``), not
    documents: they are skipped, and listed in ``skipped``, unless ``text_in_folders``; named one by one they
    are read."""
    out: list[tuple[str, str]] = []
    for item in inputs:
        item = str(item)
        if item.startswith("catalog:"):
            out.append(("catalog", item.removeprefix("catalog:")))
            continue
        p = Path(item)
        if p.is_dir():
            for f in sorted(str(f) for f in p.rglob("*") if f.is_file()):
                fmt = file_format(f)
                if fmt == "text" and not text_in_folders:
                    if skipped is not None:
                        skipped.append(f)
                elif fmt:
                    out.append((fmt, f))
        elif p.is_file():
            fmt = file_format(item)
            if fmt is None:
                raise ValueError(f"input {item}: unknown file type (expected WARC/ARC, HTML, JSONL, Parquet, CSV, PDF "
                                 "or text)")
            out.append((fmt, str(p)))
        elif REF.match(item) and store_root:
            out.append(("catalog", item))
        else:
            raise FileNotFoundError(f"input {item}: no such file or folder" + ("" if store_root else " (and no store for a ref)"))
    return out


def text_of(record: dict[str, Any], kind: str | None = None, text_key: str | list[str] = "text") -> str:
    """Text of a ``doc`` (its text), an ``sft`` record (its messages) or an ``rl`` record (its prompt).

    ``text_key`` may name several fields (a list, or a glob such as ``item_*`` for item-segmented filings):
    their non-empty values are joined by blank lines, in record order; ``a|b`` takes the first one present."""
    if isinstance(text_key, str) and "|" in text_key:  # alternatives: the first field present wins
        for k in text_key.split("|"):
            t = text_of(record, kind, k)
            if t:
                return t
        return ""
    if isinstance(text_key, list) or "*" in text_key or "?" in text_key:
        keys = text_key if isinstance(text_key, list) else [k for k in record if fnmatch.fnmatchcase(k, text_key)]
        parts = [record[k] for k in keys if isinstance(record.get(k), str) and record[k].strip()]
        if parts or kind == "doc":
            return "\n\n".join(parts)
    elif kind in (None, "doc") and isinstance(record.get(text_key), str):
        return record[text_key]
    if kind in (None, "sft") and isinstance(record.get("messages"), list):
        return messages_text(record["messages"])
    if kind in (None, "rl") and isinstance(record.get("prompt"), list):
        return messages_text(record["prompt"])
    if isinstance(record.get("prompt"), str):
        return record["prompt"]
    return ""
