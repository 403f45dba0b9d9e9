"""A labelled version for the quality classifier: documents kept vs dropped by datatrove's heuristics.

Recipe (documented in the version's manifest): a mixed English corpus from ``../shared/data`` (10-K item
chunks, Wikipedia paragraphs, financial-news tweets, BANKING77 customer queries) is run through
datatrove's GopherRepetitionFilter and GopherQualityFilter with one finance-friendly change,
``max_non_alpha_words_ratio=0.5`` instead of 0.8 (the default drops every filing table), and each document
gets ``meta.label = keep | drop`` plus the filter's reason. The classifier trained on that version is a
one-pass surrogate of the heuristics (fastText scores a document faster than the filters run) that also
generalises them to text they never saw; teacher-annotated labels plug into the same trainer through
``REF#meta.label=...`` source specs.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .finance_data import sec_10k_docs
from .train import chunk_text

HEURISTICS = {"GopherRepetitionFilter": {}, "GopherQualityFilter": {"max_non_alpha_words_ratio": 0.5}}


def quality_corpus(shared: str | Path, max_per_source: int = 1500) -> Iterator[dict[str, Any]]:
    shared = Path(shared)
    n = 0
    for d in sec_10k_docs(shared / "fin_text" / "sec_10k_items.jsonl"):
        for i, c in enumerate(chunk_text(d["text"], 1500, 20)):
            if n >= max_per_source:
                break
            n += 1
            yield {"id": f"{d['id']}#{i}", "text": c, "lang": "en", "source": "sec-10k", "meta": d["meta"]}
    with open(shared / "general_text" / "wiki_paragraphs.jsonl", encoding="utf-8") as f:
        wiki = [json.loads(line) for line in f]
    for r in [r for r in wiki if r["lang"] == "en"][:max_per_source]:
        yield {"id": r["id"], "text": r["text"], "lang": "en", "source": r["source"],
               "meta": {"group": f"{r['source']}:{r.get('title')}"}}
    for name, path in (("tweets", shared / "fin_sentiment_tweets" / "sent_valid.csv"),
                       ("banking77", shared / "banking77" / "test.csv")):
        with open(path, encoding="utf-8", newline="") as f:
            for i, row in enumerate(csv.DictReader(f)):
                if i >= max_per_source:
                    break
                yield {"id": f"{name}-{i}", "text": row["text"], "lang": "en", "source": name,
                       "meta": {"group": f"{name}-{i}"}}


def label_with_heuristics(docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], Counter]:
    """``meta.label`` = keep when every heuristic keeps the document, else drop (with ``meta.reason``)."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import GopherQualityFilter, GopherRepetitionFilter

    filters = [GopherRepetitionFilter(**HEURISTICS["GopherRepetitionFilter"]),
               GopherQualityFilter(**HEURISTICS["GopherQualityFilter"])]
    counts: Counter = Counter()
    out = []
    for d in docs:
        doc = Document(text=d["text"], id=d["id"])
        reason = None
        for f in filters:
            res = f.filter(doc)
            ok, why = (res, None) if isinstance(res, bool) else res
            if not ok:
                reason = why or type(f).__name__
                break
        meta = {**(d.get("meta") or {}), "label": "drop" if reason else "keep"}
        if reason:
            meta["reason"] = reason
        counts[f"{d['source']}:{meta['label']}"] += 1
        out.append({**d, "meta": meta})
    return out, counts


def write_quality_labelled(store, shared: str | Path, name: str = "quality-labelled", max_per_source: int = 1500):
    """Build, label and register the labelled version; returns (manifest, label counts)."""
    docs, counts = label_with_heuristics(list(quality_corpus(shared, max_per_source)))
    recipe = {"op": "label-with-heuristics", "heuristics": HEURISTICS, "max_per_source": max_per_source,
              "sources": ["fin_text/sec_10k_items.jsonl", "general_text/wiki_paragraphs.jsonl (en)",
                          "fin_sentiment_tweets/sent_valid.csv", "banking77/test.csv"]}
    with store.writer(name, kind="doc", recipe=recipe, extra={"label_counts": dict(counts)}) as w:
        w.write(docs)
    return w.manifest, counts
