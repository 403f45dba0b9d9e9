"""The sample plan: a snapshot stage (versions × weights) → a deterministic list of packed sequences.

The plan's identity is a hash over canonical JSON of everything that decides which tokens land in which
sequence: each source's shards and sha256, weights, sequence length, seed, epochs, packing strategy and
held-out fraction. A checkpoint stores that hash and resume refuses a different one. Shard checksums are
verified against the manifests before a stage starts.

Order of construction (all seeded, independent of the number of ranks):
1. per source, a seeded permutation of its documents; the first ``val_fraction`` are held out;
2. source s gets ``round(epochs × Σ train docs × w_s / Σ w)`` documents, by repeated seeded permutations
   of its training documents (up-/down-sampling as the weights ask);
3. all picks are shuffled together, then packed window by window with best-fit decreasing.

Steps 1–2 (``split_and_pick``) are shared with the RL prompt plan (``training/rl/prompts.py``): one rule
decides what every stage holds out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from catalogs import Manifest, Store, content_hash

from .packing import PackStats, collate, pack_segments, split_segments

PLAN_FORMAT = 1


class PlanError(ValueError):
    pass


@dataclass
class PlanSpec:
    stage: str
    sources: list[dict[str, Any]]  # {dataset, version, hash, kind, weight, shards: [{path, sha256}]}
    seq_len: int
    seed: int = 0
    epochs: float = 1.0
    packing: dict[str, Any] = field(default_factory=lambda: {"strategy": "bfd", "window": 8192,
                                                              "long_docs": "split"})
    val_fraction: float = 0.02
    tokenizer_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"format": PLAN_FORMAT, "stage": self.stage, "sources": self.sources, "seq_len": self.seq_len,
                "seed": self.seed, "epochs": self.epochs, "packing": self.packing,
                "val_fraction": self.val_fraction, "tokenizer_sha256": self.tokenizer_sha256}

    @property
    def hash(self) -> str:
        return content_hash(self.to_dict(), 16)


def make_spec(store: Store, stage: str, entries: list[tuple[Manifest, float]], seq_len: int, seed: int = 0,
              epochs: float = 1.0, packing: dict[str, Any] | None = None, val_fraction: float = 0.02,
              tokenizer_sha256: str | None = None) -> PlanSpec:
    if seq_len < 2:
        raise PlanError(f"stage {stage}: seq_len must be >= 2")
    if not entries:
        raise PlanError(f"stage {stage}: no dataset versions")
    sources = [{"dataset": m.name, "version": m.version, "hash": m.hash, "kind": m.kind, "weight": float(w),
                "shards": [{"path": s.path, "sha256": s.sha256} for s in m.shards]} for m, w in entries]
    pk = {"strategy": "bfd", "window": 8192, "long_docs": "split" if stage == "cpt" else "truncate"}
    pk.update(packing or {})
    return PlanSpec(stage, sources, int(seq_len), int(seed), float(epochs), pk, float(val_fraction), tokenizer_sha256)


def verify_sources(store: Store, spec: PlanSpec) -> None:
    """Re-hash every shard the plan reads; refuse to train on a file that differs from its manifest."""
    problems = []
    for s in spec.sources:
        ref = f"{s['dataset']}@{s['version']}"
        m = store.resolve(ref)
        if m.hash != s["hash"]:
            problems.append(f"{ref}: version hash {m.hash} != planned {s['hash']}")
        problems += [f"{p['file']}: {p['problem']}" for p in store.verify(ref)]
    if problems:
        raise PlanError("shard checksum verification failed, refusing to train:\n  " + "\n  ".join(problems))


@dataclass
class Packed:
    """Materialised sequences: ``seqs[i]`` is an int64 array of segments (source, doc, start, length)."""

    train: list[np.ndarray]
    val: list[np.ndarray]
    stats: PackStats
    val_stats: PackStats
    picks: dict[str, int]


def split_and_pick(spec: PlanSpec, counts: list[int]) -> tuple[np.ndarray, list[np.ndarray], dict[str, int]]:
    """Steps 1–2 of the module docstring and the shuffle, for any item (document, prompt): the ONE rule that
    decides what is held out and what is trained on, shared by the LM sample plan and the RL prompt plan.

    ``counts[s]``: items in source s. Returns the picks ``[N, 2]`` (source, item) in training order, the held-out
    items of each source (sorted), and the quota of each source by ``dataset@version``. Held out: the first
    ``round(val_fraction × n)`` items of a seeded permutation, at least one when ``val_fraction > 0`` and at
    most ``n - 1`` (a source of one item is all training)."""
    if len(counts) != len(spec.sources):
        raise PlanError("one item count per source is required")
    train_docs, val_docs = [], []
    for si, n in enumerate(counts):
        perm = np.random.default_rng([spec.seed, si]).permutation(n)
        n_val = int(round(spec.val_fraction * n)) if spec.val_fraction > 0 else 0
        if spec.val_fraction > 0 and n > 1:
            n_val = max(1, n_val)
        n_val = min(n_val, n - 1) if n > 1 else 0
        val_docs.append(np.sort(perm[:n_val]))
        train_docs.append(perm[n_val:])
    total = spec.epochs * sum(len(t) for t in train_docs)
    wsum = sum(s["weight"] for s in spec.sources)
    picks, names = [], {}
    for si, (src, docs) in enumerate(zip(spec.sources, train_docs, strict=True)):
        quota = int(round(total * src["weight"] / wsum))
        if quota and not len(docs):
            raise PlanError(f"{src['dataset']}@{src['version']}: no documents to train on")
        reps, e = [], 0
        while sum(len(r) for r in reps) < quota:
            reps.append(np.random.default_rng([spec.seed, si, e]).permutation(docs))
            e += 1
        chosen = np.concatenate(reps)[:quota] if reps else np.zeros(0, np.int64)
        picks.append(np.column_stack([np.full(len(chosen), si), chosen]).astype(np.int64))
        names[f"{src['dataset']}@{src['version']}"] = int(quota)
    allp = np.concatenate(picks) if picks else np.zeros((0, 2), np.int64)
    allp = allp[np.random.default_rng([spec.seed, 1 << 20]).permutation(len(allp))]
    return allp, val_docs, names


def build(spec: PlanSpec, lengths: list[np.ndarray]) -> Packed:
    """Deterministically pick, shuffle and pack documents (see the module docstring)."""
    if len(lengths) != len(spec.sources):
        raise PlanError("one length array per source is required")
    allp, val_docs, names = split_and_pick(spec, [len(n) for n in lengths])
    stats = PackStats()
    train = _pack(allp, lengths, spec, stats, salt=2)
    vals = [np.column_stack([np.full(len(v), si), v]).astype(np.int64) for si, v in enumerate(val_docs)]
    val_stats = PackStats()
    val = _pack(np.concatenate(vals) if vals else np.zeros((0, 2), np.int64), lengths, spec, val_stats, salt=3)
    return Packed(train, val, stats, val_stats, names)


def _pack(docs: np.ndarray, lengths: list[np.ndarray], spec: PlanSpec, stats: PackStats, salt: int) -> list:
    if spec.packing.get("strategy") != "bfd":
        raise PlanError(f"unknown packing strategy {spec.packing.get('strategy')!r} (supported: bfd)")
    window = int(spec.packing.get("window", 8192))
    out: list[np.ndarray] = []
    for w0 in range(0, len(docs), window):
        part = docs[w0:w0 + window]
        lens = np.zeros(len(part), dtype=np.int64)
        for si in np.unique(part[:, 0]).tolist():
            sel = part[:, 0] == si
            lens[sel] = lengths[si][part[sel, 1]]
        segs = split_segments(part, lens, spec.seq_len, spec.packing.get("long_docs", "split"), stats)
        out += pack_segments(segs, spec.seq_len, np.random.default_rng([spec.seed, salt, w0]), stats)
    return out


class PackedLoader:
    """Micro-batches of a packed plan for one rank: step t, micro-step k, rank r reads sequences
    ``t·G + (k·W + r)·B … + B`` (G = B·accum·W), so the samples of a step do not depend on how they are
    split between ranks and micro-steps, and resuming at step t needs no other state."""

    def __init__(self, sources: list, seqs: list[np.ndarray], seq_len: int, pad_id: int, micro_batch: int,
                 grad_accum: int = 1, world: int = 1, rank: int = 0, mask_mode: str = "4d") -> None:
        self.sources, self.seqs, self.seq_len, self.pad_id = sources, seqs, seq_len, pad_id
        self.micro, self.accum, self.world, self.rank, self.mask_mode = micro_batch, grad_accum, world, rank, mask_mode
        self.global_batch = micro_batch * grad_accum * world

    @property
    def steps(self) -> int:
        return len(self.seqs) // self.global_batch

    def indices(self, step: int, k: int, rank: int | None = None) -> list[int]:
        r = self.rank if rank is None else rank
        start = step * self.global_batch + (k * self.world + r) * self.micro
        return list(range(start, start + self.micro))

    def batch(self, idx: list[int]) -> dict:
        pieces = [[self.sources[s].fetch(d, a, n) for s, d, a, n in self.seqs[i].tolist()] for i in idx]
        return collate(pieces, self.seq_len, self.pad_id, self.mask_mode)

    def micro_batch(self, step: int, k: int) -> dict:
        return self.batch(self.indices(step, k))

    def eval_batches(self) -> list[list[int]]:
        """Validation sequences split across ranks, micro-batch-sized."""
        mine = list(range(self.rank, len(self.seqs), self.world))
        return [mine[i:i + self.micro] for i in range(0, len(mine), self.micro)]
