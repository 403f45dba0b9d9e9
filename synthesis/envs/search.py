"""Document search for agents: BM25 over passages of a ``doc`` version (or passages embedded in the task).

Documents are cut into passages of about ``passage_chars`` characters on sentence boundaries; English is
tokenised into lower-cased words, Chinese into character bigrams. Hand-written (about 60 lines) because
DuckDB's full-text extension cannot be installed offline and the sandboxed agent database must not load
extensions; the index is small (one task's corpus).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from finance.text import HAN

if TYPE_CHECKING:
    from catalogs import Store

_WORD = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")
_CJK = re.compile(f"[{HAN}]+")
_SENT = re.compile(r"(?<=[.!?。！？])\s+")
STOP = frozenset("the a an of and or to in on for by with at from is was are were be as that this it its".split())


def tokens(text: str) -> list[str]:
    t = text.lower()
    out = [w for w in _WORD.findall(t) if w not in STOP]
    for run in _CJK.findall(t):
        out += [run[i:i + 2] for i in range(max(1, len(run) - 1))]
    return out


def passages(doc_id: str, text: str, passage_chars: int = 800) -> list[dict[str, str]]:
    out, cur = [], ""
    for sent in _SENT.split(text):
        if cur and len(cur) + len(sent) > passage_chars:
            out.append(cur)
            cur = ""
        cur = f"{cur} {sent}".strip() if cur else sent.strip()
        while len(cur) > 2 * passage_chars:  # one enormous "sentence" (tables, lists): cut it
            out.append(cur[:passage_chars])
            cur = cur[passage_chars:]
    if cur:
        out.append(cur)
    return [{"id": f"{doc_id}#p{i}", "text": p} for i, p in enumerate(out) if p.strip()]


@dataclass
class Hit:
    id: str
    score: float
    text: str


class BM25Index:
    def __init__(self, items: Iterable[dict[str, str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.items = list(items)
        self.k1, self.b = k1, b
        self.tf = [Counter(tokens(p["text"])) for p in self.items]
        self.len = [sum(c.values()) for c in self.tf]
        self.avg = (sum(self.len) / len(self.len)) if self.len else 0.0
        df: Counter[str] = Counter()
        for c in self.tf:
            df.update(c.keys())
        n = len(self.items)
        self.idf = {t: math.log(1 + (n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def search(self, query: str, k: int = 3) -> list[Hit]:
        q = [t for t in tokens(query) if t in self.idf]
        scored = []
        for i, tf in enumerate(self.tf):
            s = 0.0
            for t in q:
                f = tf.get(t, 0)
                if f:
                    s += self.idf[t] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * self.len[i] / self.avg))
            if s > 0:
                scored.append((s, i))
        scored.sort(key=lambda x: (-x[0], x[1]))
        return [Hit(self.items[i]["id"], round(s, 4), self.items[i]["text"]) for s, i in scored[:k]]


def passages_from_version(store: Store, ref: str, max_docs: int = 2000, passage_chars: int = 800) -> list[dict]:
    """Passages of the first ``max_docs`` documents of a ``doc`` version (ids ``<doc id>#p<n>``)."""
    out: list[dict[str, Any]] = []
    for i, rec in enumerate(store.iter_records(ref, columns=["id", "text"])):
        if i >= max_docs:
            break
        out += passages(str(rec["id"]), rec["text"], passage_chars)
    return out
