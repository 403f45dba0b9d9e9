"""MinHash dedup stage 1 as a datatrove step, and the files it leaves beside datatrove's signatures.

``FastMinhashSignature`` signs documents with ``curation.minhash.FastMinHash`` (the maths lives there) and writes
datatrove's signature files (``bucket_XXX/RRRRR.minhash.sig``), the exact-duplicate keys (``exact/RRRRR.npy``) and
each document's sorted shingle set (``shingles/RRRRR.bin`` + ``RRRRR.off.npy``), which ``ShingleSets`` reads back
for the cluster stage's verification (``dedup.LabelledCluster``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep

from .dedup_params import DedupParams
from .minhash import FastMinHash
from .text_hashing import exact_key, normalize


class FastMinhashSignature(PipelineStep):
    """datatrove stage 1 (pass-through): writes MinHash signatures in datatrove's format and, per rank,
    the exact-duplicate keys (``exact/RRRRR.npy``, one per document in order) used to label clusters.
    Documents are signed ``batch_docs`` at a time (``FastMinHash.sign_batch``), then passed on in order."""

    name = "🎯 huijin MinHash signatures"
    type = "🫂 - DEDUP"

    def __init__(self, output_folder: str, params: DedupParams | None = None, minhash: bool = True,
                 batch_docs: int = 1000) -> None:
        super().__init__()
        self.output_folder = str(output_folder)
        self.params = params or DedupParams()
        self.minhash = minhash  # False: exact keys only (exact-only dedup)
        self.batch_docs = batch_docs

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        mh = FastMinHash(self.params)
        sigs, idx, exact = [], [], []
        keep_sets = self.minhash and self.params.verify
        sets = ShingleSetWriter(self.output_folder, rank) if keep_sets else None
        done = 0
        try:
            for batch in _batches(data, self.batch_docs):
                with self.track_time("batch"):
                    folded = [normalize(doc.text) for doc in batch]  # NFKC + lower once, for both keys
                    exact += [exact_key(t, folded=True) for t in folded]
                    if self.minhash:
                        signed = mh.sign_batch(folded, sets=keep_sets, folded=True)
                        if sets is not None:
                            sets.add_batch(signed.sets, signed.offsets)
                        sigs.append(signed.sigs[signed.has])
                        idx.append(np.flatnonzero(signed.has) + done)
                        if missing := int(len(batch) - signed.has.sum()):
                            self.stat_update("no_shingles", value=missing)
                done += len(batch)
                yield from batch
        finally:
            if sets is not None:
                sets.close()
        sigs = np.concatenate(sigs) if sigs else np.zeros((0, self.params.num_perm), np.uint64)
        idx = np.concatenate(idx).astype(np.uint32) if idx else np.zeros(0, np.uint32)
        self.write(rank, sigs, idx, np.array(exact, dtype=np.uint64))

    def write(self, rank: int, sigs: np.ndarray, idx: np.ndarray, exact: np.ndarray) -> None:
        out = Path(self.output_folder)
        out.mkdir(parents=True, exist_ok=True)
        (out / "exact").mkdir(exist_ok=True)
        np.save(out / "exact" / f"{rank:05d}.npy", exact)
        if not self.minhash:
            return
        r = self.params.hashes_per_bucket
        dtype = np.dtype([(f"f{i}", "<u8") for i in range(r)] + [("doc", "<u4")])
        for bi in range(self.params.num_buckets):
            rec = np.zeros(len(idx), dtype=dtype)
            for i in range(r):
                rec[f"f{i}"] = sigs[:, bi * r + i]
            rec["doc"] = idx
            rec.sort(order=dtype.names)  # datatrove's buckets stage merges sorted files
            (out / f"bucket_{bi:03d}").mkdir(parents=True, exist_ok=True)
            (out / f"bucket_{bi:03d}" / f"{rank:05d}.minhash.sig").write_bytes(rec.tobytes())


def _batches(data: DocumentsPipeline, size: int):
    batch = []
    for doc in data:
        batch.append(doc)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class ShingleSetWriter:
    """One rank's shingle sets, in document order: ``shingles/RRRRR.bin`` (uint64, each document's sorted
    distinct hashes, concatenated) and ``shingles/RRRRR.off.npy`` (offsets, one more than documents)."""

    def __init__(self, folder: str, rank: int) -> None:
        self.dir = Path(folder) / "shingles"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.fh = open(self.dir / f"{rank:05d}.bin", "wb")
        self.offsets = [0]

    def add_batch(self, flat: np.ndarray, offsets: np.ndarray) -> None:
        """Documents' shingle hashes at once: document i's are ``flat[offsets[i]:offsets[i + 1]]``."""
        self.fh.write(np.ascontiguousarray(flat[offsets[0]: offsets[-1]], dtype="<u8").tobytes())
        self.offsets += (offsets[1:] - offsets[0] + self.offsets[-1]).tolist()

    def close(self) -> None:
        self.fh.close()
        np.save(self.dir / f"{self.rank:05d}.off.npy", np.array(self.offsets, dtype=np.int64))


class ShingleSets:
    """Read side of ``ShingleSetWriter``: ``get(rank, doc)`` -> the document's shingle set (memory-mapped)."""

    def __init__(self, folder: str) -> None:
        self.dir = Path(folder) / "shingles"
        self._files: dict[int, tuple[np.ndarray, np.ndarray] | None] = {}

    def _load(self, rank: int) -> tuple[np.ndarray, np.ndarray] | None:
        if rank not in self._files:
            off, data = self.dir / f"{rank:05d}.off.npy", self.dir / f"{rank:05d}.bin"
            if not off.exists():
                self._files[rank] = None
            else:
                size = data.stat().st_size if data.exists() else 0
                arr = np.memmap(data, dtype="<u8", mode="r") if size else np.zeros(0, dtype=np.uint64)
                self._files[rank] = (np.load(off), arr)
        return self._files[rank]

    def available(self) -> bool:
        return self.dir.is_dir()

    def get(self, rank: int, doc: int) -> np.ndarray | None:
        f = self._load(rank)
        if f is None or doc + 1 >= len(f[0]):
            return None
        off, arr = f
        return np.asarray(arr[off[doc]: off[doc + 1]])
