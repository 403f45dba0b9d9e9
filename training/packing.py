"""Best-fit-decreasing packing of documents into fixed-length sequences, and the packed batch tensors.

A packed sequence is a list of segments ``(source, doc, start, length)``. Every segment restarts its
``position_ids`` at 0, its first token is not a target (nothing before it in the same document), and
attention is confined to it: a block-diagonal causal 4D mask where FlashAttention is absent (CPU), or
``position_ids`` alone for FlashAttention's varlen kernels (transformers derives ``cu_seqlens`` from them).

BFD is hand-written because neither DeepSpeed nor transformers packs: TRL's ``pack_dataset(strategy="bfd")``
does the same with a segment tree; ours also returns the layout so that a run can resume by sequence index.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SEG_FIELDS = 4  # source, doc, start, length


class _FreeSpace:
    """Bins by remaining capacity; finds the fullest bin that still fits a length in O(log capacity)."""

    def __init__(self, capacity: int) -> None:
        self.size = 1 << int(np.ceil(np.log2(capacity + 1)))
        self.count = [0] * (2 * self.size)
        self.bins: dict[int, list[int]] = {}

    def _add(self, r: int, delta: int) -> None:
        i = r + self.size
        while i:
            self.count[i] += delta
            i //= 2

    def push(self, r: int, bin_id: int) -> None:
        self.bins.setdefault(r, []).append(bin_id)
        self._add(r, 1)

    def pop_fitting(self, length: int) -> tuple[int, int] | None:
        """Remove and return (remaining, bin id) of a bin with the least remaining space >= length."""
        c, i = self.count, length + self.size
        if i >= 2 * self.size:
            return None
        if c[i] == 0:
            while i > 1:
                if i % 2 == 0 and c[i + 1] > 0:
                    i += 1
                    break
                i //= 2
            else:
                return None
            while i < self.size:
                i = 2 * i if c[2 * i] > 0 else 2 * i + 1
        r = i - self.size
        b = self.bins[r].pop()
        self._add(r, -1)
        return r, b


def bfd_pack(lengths: np.ndarray, capacity: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into bins of total <= capacity (best-fit decreasing, deterministic)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    free = _FreeSpace(capacity)
    bins: list[list[int]] = []
    for j in order.tolist():
        n = int(lengths[j])
        if n > capacity:
            raise ValueError(f"segment of {n} tokens does not fit capacity {capacity}: split it first")
        hit = free.pop_fitting(n)
        if hit is None:
            bins.append([j])
            r = capacity - n
            bid = len(bins) - 1
        else:
            r0, bid = hit
            bins[bid].append(j)
            r = r0 - n
        if r > 0:
            free.push(r, bid)
    return bins


@dataclass
class PackStats:
    sequences: int = 0
    real_tokens: int = 0
    pad_tokens: int = 0
    cropped_tokens: int = 0
    doc_tokens: int = 0  # tokens of the documents before any cropping

    @property
    def padding_ratio(self) -> float:
        total = self.real_tokens + self.pad_tokens
        return self.pad_tokens / total if total else 0.0

    @property
    def cropped_ratio(self) -> float:
        return self.cropped_tokens / self.doc_tokens if self.doc_tokens else 0.0

    def as_dict(self) -> dict[str, float]:
        return {"sequences": self.sequences, "real_tokens": self.real_tokens, "pad_tokens": self.pad_tokens,
                "cropped_tokens": self.cropped_tokens, "padding_ratio": round(self.padding_ratio, 6),
                "cropped_ratio": round(self.cropped_ratio, 6)}


def split_segments(docs: np.ndarray, lengths: np.ndarray, capacity: int, long_docs: str,
                   stats: PackStats) -> np.ndarray:
    """(source, doc) pairs → segments (source, doc, start, length) that each fit ``capacity``.

    ``long_docs="split"`` cuts a long document into capacity-sized pieces (CPT); ``"truncate"`` keeps its
    head and counts the rest as cropped (SFT: a conversation's tail is not useful without its head)."""
    stats.doc_tokens += int(lengths.sum())
    if long_docs not in ("split", "truncate"):
        raise ValueError(f"long_docs must be 'split' or 'truncate', not {long_docs!r}")
    if long_docs == "truncate" or (lengths <= capacity).all():
        keep = np.minimum(lengths, capacity)
        stats.cropped_tokens += int((lengths - keep).sum())
        return np.column_stack([docs[:, 0], docs[:, 1], np.zeros(len(docs), np.int64), keep]).astype(np.int64)
    pieces = np.maximum(1, -(-lengths // capacity))
    rep = np.repeat(np.arange(len(docs)), pieces)
    k = np.arange(len(rep)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    start = k * capacity
    seg_len = np.minimum(capacity, lengths[rep] - start)
    return np.column_stack([docs[rep, 0], docs[rep, 1], start, seg_len]).astype(np.int64)


def pack_segments(segs: np.ndarray, capacity: int, rng: np.random.Generator | None,
                  stats: PackStats) -> list[np.ndarray]:
    """BFD-pack segments into sequences; sequences are shuffled with ``rng`` (BFD sorts by length)."""
    segs = segs[segs[:, 3] > 0]
    bins = bfd_pack(segs[:, 3], capacity)
    if rng is not None:
        bins = [bins[i] for i in rng.permutation(len(bins))]
    out = [segs[np.asarray(b)] for b in bins]
    used = int(segs[:, 3].sum())
    stats.sequences += len(out)
    stats.real_tokens += used
    stats.pad_tokens += len(out) * capacity - used
    return out


def collate(pieces: list[list[tuple[np.ndarray, np.ndarray]]], seq_len: int, pad_id: int,
            mask_mode: str = "4d") -> dict:
    """Build the batch tensors for packed sequences.

    ``pieces[b]`` lists (input ids, labels) of each segment of sequence b, labels already -100 where no loss
    applies. Returns input_ids, labels, position_ids and, for ``mask_mode="4d"``, a bool attention mask
    [B, 1, T, T] that is causal and block-diagonal per segment (padding forms its own block)."""
    import torch

    b = len(pieces)
    ids = np.full((b, seq_len), pad_id, dtype=np.int64)
    labels = np.full((b, seq_len), -100, dtype=np.int64)
    pos = np.zeros((b, seq_len), dtype=np.int64)
    blocks: list[list[tuple[int, int]]] = []  # (offset, length) of each segment, padding included
    for i, segs in enumerate(pieces):
        t, bl = 0, []
        for x, y in segs:
            n = len(x)
            ids[i, t:t + n] = x
            labels[i, t:t + n] = y
            labels[i, t] = -100  # the first token of a document is never a target
            pos[i, t:t + n] = np.arange(n)
            bl.append((t, n))
            t += n
        if t < seq_len:
            pos[i, t:] = np.arange(seq_len - t)
            bl.append((t, seq_len - t))
        blocks.append(bl)
    batch = {"input_ids": torch.from_numpy(ids), "labels": torch.from_numpy(labels),
             "position_ids": torch.from_numpy(pos)}
    if mask_mode in ("4d", "4d_float"):
        # block-diagonal causal mask, written block by block (3x faster than comparing segment ids pairwise)
        causal = torch.ones(seq_len, seq_len, dtype=torch.bool).tril()
        if mask_mode == "4d":
            mask = torch.zeros(b, 1, seq_len, seq_len, dtype=torch.bool)
        else:  # eager attention adds the mask to the scores
            lo = torch.finfo(torch.float32).min
            causal = torch.zeros(seq_len, seq_len).masked_fill_(~causal, lo)
            mask = torch.full((b, 1, seq_len, seq_len), lo)
        for i, bl in enumerate(blocks):
            for t, n in bl:
                mask[i, 0, t:t + n, t:t + n] = causal[:n, :n]
        batch["attention_mask"] = mask
    elif mask_mode != "position_ids":
        raise ValueError(f"mask_mode must be '4d', '4d_float' or 'position_ids', not {mask_mode!r}")
    return batch


def mask_mode_for(model) -> str:
    """FlashAttention gets varlen through position_ids; sdpa/eager get the explicit block-diagonal mask."""
    impl = getattr(model.config, "_attn_implementation", "") or ""
    return "position_ids" if "flash" in impl else "4d_float" if impl == "eager" else "4d"
