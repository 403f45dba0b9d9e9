"""An in-memory n-gram index over benchmark segments, and the per-document match.

Segments that are mostly Chinese are indexed by ``n_zh``-character n-grams, others by ``n_en``-word
n-grams; a segment shorter than its n (but at least ``min_tokens`` long) is indexed as one n-gram of its
full length. A document matches a question segment when it contains at least
``min(ceil(ratio * total), max_needed)`` of its distinct n-grams (a reformatted question matches fully), and
a context segment (report passage, table) when it contains ``context_ratio`` of it: measured on 10-K
filings, a fixed cap of 10 shared 8-grams flags 7% of clean filings through accounting boilerplate. (datatrove's NGramsDecontFilter flags on a
single 12-gram hit, which is too lax for short questions and blind to Chinese and to number formats.)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from finance.text import han_share

from .loaders import BenchItem
from .tokens import match_tokens


@dataclass
class DecontConfig:
    n_en: int = 8
    n_zh: int = 12
    min_tokens_en: int = 6
    min_tokens_zh: int = 10
    ratio: float = 0.5  # questions: share of a segment's n-grams a document must contain ...
    max_needed: int = 10  # ... capped, so a long question quoted with small edits still matches
    context_ratio: float = 0.5  # contexts (report passages, tables): half of it, uncapped, because
    context_max_needed: int | None = None  # filings share 8-gram boilerplate with benchmark pages
    context_min_ngrams: int = 20  # a 3-row table or a heading is not a contamination signal
    parts: tuple[str, ...] = ("question", "context")


@dataclass
class Segment:
    benchmark: str
    item_id: str
    part: str
    total: int  # distinct n-grams
    needed: int


@dataclass
class Match:
    benchmark: str
    item_id: str
    part: str
    matched: int
    total: int

    def to_dict(self) -> dict[str, Any]:
        return {"benchmark": self.benchmark, "item": self.item_id, "part": self.part,
                "ngrams": self.matched, "of": self.total}


def _ngrams(ids: list[int], n: int) -> set[int]:
    return {hash(tuple(ids[i:i + n])) for i in range(len(ids) - n + 1)}


@dataclass
class NgramIndex:
    config: DecontConfig = field(default_factory=DecontConfig)
    segments: list[Segment] = field(default_factory=list)
    table: dict[int, list[int]] = field(default_factory=dict)
    sizes: set[int] = field(default_factory=set)
    stats: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))

    def add_items(self, items: Iterable[BenchItem]) -> NgramIndex:
        cfg = self.config
        seen: set[tuple[str, str, str, tuple[int, ...]]] = set()
        for item in items:
            st = self.stats[item.benchmark]
            st["items"] += 1
            indexed = False
            for part, text in item.segments:
                if part not in cfg.parts or not text or not text.strip():
                    continue
                got = self.segment_grams(part, text)
                if got is None:
                    st["segments_too_short"] += 1
                    continue
                n, grams = got
                key = (item.benchmark, item.item_id, part, tuple(sorted(grams))[:4])
                if key in seen:
                    continue
                seen.add(key)
                seg_id = len(self.segments)
                ratio, cap = (cfg.context_ratio, cfg.context_max_needed) if part == "context" else \
                    (cfg.ratio, cfg.max_needed)
                needed = max(1, min(math.ceil(ratio * len(grams)), cap or len(grams)))
                self.segments.append(Segment(item.benchmark, item.item_id, part, len(grams), needed))
                self.sizes.add(n)
                for g in grams:
                    self.table.setdefault(g, []).append(seg_id)
                st["segments"] += 1
                indexed = True
            if not indexed:
                st["items_not_indexed"] += 1
        return self

    def segment_grams(self, part: str, text: str) -> tuple[int, set[int]] | None:
        """(n, distinct n-gram hashes) of a segment, or None when it is too short to be a reliable signal."""
        cfg = self.config
        toks = match_tokens(text)
        zh = han_share(text) > 0.3
        n, min_tokens = (cfg.n_zh, cfg.min_tokens_zh) if zh else (cfg.n_en, cfg.min_tokens_en)
        if len(toks) < min_tokens:
            return None
        n = min(n, len(toks))
        grams = _ngrams([hash(t) for t in toks], n)
        if part == "context" and len(grams) < cfg.context_min_ngrams:
            return None
        return n, grams

    def match(self, text: str) -> list[Match]:
        """Every segment the text contains enough n-grams of."""
        toks = match_tokens(text)
        if not toks:
            return []
        ids = [hash(t) for t in toks]
        hits: Counter[int] = Counter()
        table = self.table
        for n in self.sizes:
            for g in _ngrams(ids, n):
                segs = table.get(g)
                if segs:
                    hits.update(segs)
        out = []
        for seg_id, k in hits.items():
            s = self.segments[seg_id]
            if k >= s.needed:
                out.append(Match(s.benchmark, s.item_id, s.part, k, s.total))
        out.sort(key=lambda m: (m.benchmark, m.item_id, m.part))
        return out

    def summary(self) -> dict[str, dict[str, int]]:
        return {b: dict(c) for b, c in sorted(self.stats.items())}


def build_index(benchmarks: dict[str, str], config: DecontConfig | None = None,
                formats: dict[str, str] | None = None) -> NgramIndex:
    """``{name: path}`` → index (formats auto-detected unless given per name)."""
    from .loaders import load_benchmark

    index = NgramIndex(config or DecontConfig())
    for name, path in benchmarks.items():
        index.add_items(load_benchmark(name, path, (formats or {}).get(name, "auto")))
    return index
