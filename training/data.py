"""Document sources a stage trains on: token shards (CPT) and rendered conversations (SFT).

A source exposes ``lengths`` (tokens per document) and ``fetch(doc, start, length)`` → (ids, labels), with
labels -100 wherever no loss applies. The sample plan only needs the lengths; the loader fetches.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from catalogs import Manifest, Store

from .sft import RenderError, check_thinking_template, render
from .tokenize import TokenShards


class TokenSource:
    """A ``tokens`` version: every token is a target (CPT)."""

    def __init__(self, store: Store, m: Manifest) -> None:
        self.manifest = m
        self.shards = TokenShards(store, m)
        self.lengths = self.shards.lengths.astype(np.int64)
        self.drops: Counter[str] = Counter()

    def fetch(self, doc: int, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        x = self.shards.get(doc, start, length)
        return x, x


class ChatSource:
    """An ``sft`` version rendered with the chat template; only assistant tokens are targets.

    Conversations are rendered once, in memory (SFT sets are small next to CPT; a pre-rendered token
    version would be the next step for millions of conversations). Unrenderable records are counted."""

    def __init__(self, store: Store, m: Manifest, tok, seq_len: int | None = None, reasoning: bool = False) -> None:
        self.manifest = m
        if not getattr(tok, "chat_template", None):
            raise ValueError(f"{m.ref}: the tokenizer has no chat template, so sft conversations cannot be rendered "
                             "(use a chat model's tokenizer or pin one with a template in the snapshot)")
        if reasoning:
            check_thinking_template(tok, m.ref)
        self.ids: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.drops: Counter[str] = Counter()
        self.errors: list[str] = []
        for rec in store.iter_records(m, columns=["id", "messages", "tools"]):
            try:
                x, mask = render(tok, rec, reasoning=reasoning)
            except RenderError as e:
                self.drops["unrenderable"] += 1
                self.errors.append(str(e))
                continue
            if seq_len and not mask[:seq_len].any():  # truncation would leave nothing to learn
                self.drops["no_target_within_seq_len"] += 1
                continue
            self.ids.append(x)
            self.labels.append(np.where(mask > 0, x, -100))
        self.lengths = np.asarray([len(x) for x in self.ids], dtype=np.int64)

    def fetch(self, doc: int, start: int, length: int) -> tuple[np.ndarray, np.ndarray]:
        return self.ids[doc][start:start + length], self.labels[doc][start:start + length]


def open_source(store: Store, m: Manifest, tok=None, seq_len: int | None = None,
                reasoning: bool = False) -> TokenSource | ChatSource:
    if m.kind == "tokens":
        return TokenSource(store, m)
    if m.kind == "sft":
        if tok is None:
            raise ValueError(f"{m.ref}: rendering sft conversations needs a tokenizer")
        return ChatSource(store, m, tok, seq_len, reasoning=reasoning)
    raise ValueError(f"{m.ref}: a '{m.kind}' version cannot feed a CPT/SFT stage (expected tokens or sft)")
