"""Dedup stages 3 and 4 on top of datatrove's MinHash files, with exact duplicates labelled apart.

Stage 1 is ``minhash.FastMinhashSignature`` (signatures + exact keys + shingle sets), stage 2 datatrove's
``MinhashDedupBuckets`` (optionally against index files of versions already in the catalog). Stage 3 here
verifies each bucket match on the exact shingle sets (true Jaccard >= ``params.jaccard`` or containment >=
``params.containment``; a match against a catalog index cannot be verified: the index holds signatures
only, so it is taken as LSH says), then unions the verified matches *and* the exact-key groups (so exact duplicates are found even without
shingles), keeps one document per cluster and labels every removed one: ``exact_duplicate`` (same
normalised text as a member seen before it), ``near_duplicate``, or ``duplicate_of_catalog`` (its cluster
holds a document of an indexed version). Stage 4 drops (or, for the single verb, annotates) by label.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import SENTINEL
from datatrove.utils.binaryio import read_tuples_from_file

from .dedup_params import DedupParams

LABELS = {0: "near_duplicate", 1: "exact_duplicate", 2: "duplicate_of_catalog"}
INDEX_NODE = (SENTINEL, SENTINEL)


class BucketGroup(PipelineStep):
    """Runs a per-bucket datatrove step (``MinhashDedupBuckets``, ``MinhashBuildIndex``: one task per bucket)
    for several buckets in one task: task ``rank`` of ``world_size`` takes buckets ``rank, rank + world_size, ...``.
    With verified dedup the bands are many and short (43x2 for 0.8), and a datatrove task costs ~0.1 s of
    set-up on its own; the stage then has as many tasks as the run has (``--tasks``), not one per bucket."""

    name = "🪣 huijin bucket group"
    type = "🫂 - DEDUP"

    def __init__(self, step: PipelineStep, num_buckets: int) -> None:
        super().__init__()
        self.step, self.num_buckets = step, num_buckets

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        for bucket in range(rank, self.num_buckets, world_size):
            out = self.step.run(None, bucket, self.num_buckets)
            for _ in out or ():
                pass
        return iter(())


class LabelledCluster(PipelineStep):
    """Stage 3 (one task): clusters → per-rank ``RRRRRR.labels`` files of (doc, label, cluster id)."""

    name = "🎯 huijin dedup clusters"
    type = "🫂 - DEDUP"

    def __init__(self, dups_folder: str, sig_folder: str, output_folder: str, exact: bool = True,
                 params: DedupParams | None = None) -> None:
        super().__init__()
        self.dups_folder, self.sig_folder, self.output_folder = str(dups_folder), str(sig_folder), str(output_folder)
        self.exact = exact
        self.params = params

    def run(self, data: DocumentsPipeline = None, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        if world_size != 1:
            raise ValueError("the dedup cluster stage runs as one task")
        parent: dict[tuple[int, int], tuple[int, int]] = {}

        def find(x: tuple[int, int]) -> tuple[int, int]:
            root = x
            while parent.get(root, root) != root:
                root = parent[root]
            while parent.get(x, x) != root:  # path compression
                parent[x], x = root, parent[x]
            return root

        def union(a: tuple[int, int], b: tuple[int, int]) -> None:
            ra, rb = find(a), find(b)
            if ra == rb:
                return
            if rb == INDEX_NODE or (ra != INDEX_NODE and rb < ra):  # the index, else the earliest doc, is root
                ra, rb = rb, ra
            parent.setdefault(ra, ra)
            parent[rb] = ra

        with self.track_time():
            keys = self._exact_keys()
            check = self._verifier()
            seen: set[tuple[int, int, int, int]] = set()  # a pair matches in several bands: verify it once
            for f in sorted(Path(self.dups_folder).glob("*.dups")) if Path(self.dups_folder).exists() else []:
                with open(f, "rb") as fh:
                    for f1, d1, f2, d2 in read_tuples_from_file(fh, "4I", lines_to_buffer=1000):
                        pair = (f1, d1, f2, d2)
                        if pair in seen:
                            continue
                        seen.add(pair)
                        if find((f1, d1)) == find((f2, d2)):
                            continue  # already one cluster: verifying the pair could not change it
                        if check is None or check((f1, d1), (f2, d2)):
                            union((f1, d1), (f2, d2))
            if self.exact:
                for members in _groups(keys):
                    for m in members[1:]:
                        union(members[0], m)
            self._write(parent, find, keys)

    def _verifier(self):
        """``check(a, b) -> bool`` on the exact shingle sets, or None when there is nothing to verify with."""
        from .minhash_step import ShingleSets

        if self.params is None or not self.params.verify:
            return None
        sets = ShingleSets(self.sig_folder)
        if not sets.available():
            return None

        def check(a: tuple[int, int], b: tuple[int, int]) -> bool:
            self.stat_update("candidates")
            if INDEX_NODE in (a, b):  # a catalog index holds signatures only
                self.stat_update("candidates_index_unverified")
                return True
            sa, sb = sets.get(*a), sets.get(*b)
            if sa is None or sb is None:
                self.stat_update("candidates_unverifiable")
                return True
            ok = self.params.is_duplicate(sa, sb)[0]
            self.stat_update("verified" if ok else "rejected")
            return ok

        return check

    def _exact_keys(self) -> dict[int, np.ndarray]:
        d = Path(self.sig_folder) / "exact"
        return {int(p.stem): np.load(p) for p in sorted(d.glob("*.npy"))} if d.exists() else {}

    def _write(self, parent: dict, find, keys: dict[int, np.ndarray]) -> None:
        clusters: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for node in list(parent):
            clusters.setdefault(find(node), []).append(node)
        out: dict[int, list[tuple[int, int, int]]] = {}
        for cid, (root, members) in enumerate(sorted(clusters.items())):
            members.sort()
            from_index = root == INDEX_NODE
            seen = set() if from_index else {_key(keys, root)}
            for m in members:
                if m == INDEX_NODE:
                    continue
                if m == root:
                    out.setdefault(m[0], []).append((m[1], 255, cid))  # kept: only the cluster id is recorded
                    continue
                k = _key(keys, m)
                label = 2 if from_index else (1 if k is not None and k in seen else 0)
                seen.add(k)
                out.setdefault(m[0], []).append((m[1], label, cid))
                self.stat_update(f"removed_{LABELS[label]}")
        Path(self.output_folder).mkdir(parents=True, exist_ok=True)
        for file_id, rows in out.items():
            rows.sort()
            with open(Path(self.output_folder) / f"{file_id:06d}.labels", "wb") as f:
                for doc, label, cid in rows:
                    f.write(struct.pack("<IBI", doc, label, cid))


def _key(keys: dict[int, np.ndarray], node: tuple[int, int]) -> int | None:
    arr = keys.get(node[0])
    return int(arr[node[1]]) if arr is not None and node[1] < len(arr) else None


def _groups(keys: dict[int, np.ndarray]) -> list[list[tuple[int, int]]]:
    """Nodes sharing an exact key (groups of two or more), across ranks."""
    if not keys:
        return []
    files = np.concatenate([np.full(len(v), k, dtype=np.int64) for k, v in keys.items()])
    docs = np.concatenate([np.arange(len(v), dtype=np.int64) for v in keys.values()])
    allk = np.concatenate(list(keys.values()))
    order = np.argsort(allk, kind="stable")
    sk = allk[order]
    starts = np.flatnonzero(np.concatenate([[True], sk[1:] != sk[:-1]]))
    ends = np.concatenate([starts[1:], [len(sk)]])
    out = []
    for s, e in zip(starts, ends, strict=True):
        if e - s > 1:
            idx = order[s:e]
            out.append(sorted(zip(files[idx].tolist(), docs[idx].tolist(), strict=True)))
    return out


def read_labels(folder: str, rank: int) -> dict[int, tuple[int, int]]:
    p = Path(folder) / f"{rank:06d}.labels"
    if not p.exists():
        return {}
    raw = p.read_bytes()
    size = struct.calcsize("<IBI")
    return {d: (lab, cid) for d, lab, cid in (struct.unpack_from("<IBI", raw, o) for o in range(0, len(raw), size))}


class DedupFilter(PipelineStep):
    """Stage 4: drop removed documents with their label as reason (``annotate=True``: keep all and set
    ``metadata['duplicate']`` (label or None) and ``metadata['cluster']`` (id or None))."""

    name = "🎯 huijin dedup filter"
    type = "🫂 - DEDUP"

    def __init__(self, labels_folder: str, annotate: bool = False) -> None:
        super().__init__()
        self.labels_folder = str(labels_folder)
        self.annotate = annotate

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        labels = read_labels(self.labels_folder, rank)
        for idx, doc in enumerate(data):
            self.stat_update("total")
            label, cid = labels.get(idx, (255, None))
            reason = LABELS.get(label)
            if self.annotate:
                doc.metadata["duplicate"], doc.metadata["cluster"] = reason, cid
                yield doc
            elif reason:
                self.stat_update("dropped", f"dropped_{reason}")
                doc.metadata["filter_reason"], doc.metadata["dedup_cluster"] = reason, cid  # for the tracer
            else:
                if cid is not None:
                    doc.metadata["dedup_cluster"] = cid
                yield doc
