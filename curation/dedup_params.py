"""Dedup parameters and the verdict on a candidate pair: everything a MinHash signature depends on (n-grams, bands,
seed, scheme, number folding) and the exact-set thresholds (Jaccard, containment) that decide a duplicate."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.hashing import HashConfig


@dataclass(frozen=True)
class DedupParams:
    """Everything a signature depends on: indexes built with other params cannot be compared."""

    n_grams: int = 5
    num_buckets: int = 43
    hashes_per_bucket: int = 2
    seed: int = 1
    normalize_numbers: bool = False
    scheme: str = "oph"  # "oph": one-permutation hashing + densification; "classic": one hash per permutation
    jaccard: float | None = 0.8  # verified: a candidate pair is a duplicate at this true Jaccard (None: LSH only)
    containment: float | None = 0.9  # ... or at this containment (truncated / boilerplate-wrapped copies)
    min_shingles: int = 10  # containment is only trusted when the smaller document has this many shingles

    @property
    def num_perm(self) -> int:
        return self.num_buckets * self.hashes_per_bucket

    @property
    def verify(self) -> bool:
        return self.jaccard is not None or self.containment is not None

    @property
    def threshold(self) -> float:
        """Jaccard similarity at which a pair becomes a candidate with probability ~0.5: (1/b)^(1/r)."""
        return (1 / self.num_buckets) ** (1 / self.hashes_per_bucket)

    def datatrove_config(self) -> MinhashConfig:
        return MinhashConfig(n_grams=self.n_grams, num_buckets=self.num_buckets,
                             hashes_per_bucket=self.hashes_per_bucket, seed=self.seed,
                             hash_config=HashConfig(precision=64, hash_fc="xxhash"))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def for_threshold(cls, threshold: float, num_perm: int = 112, containment: float | None = 0.9,
                      verify: bool = True, **kw: Any) -> DedupParams:
        """Bands/rows for ``threshold`` (datasketch's rule, ``_optimal_param``). Verified (default): the bands
        aim at recall for pairs ~0.45 below the threshold (truncated copies at 70% have Jaccard ~0.7, a
        50-character Chinese passage wrapped in two boilerplate lines ~0.4), and each candidate is checked on
        its exact sets.
        ``verify=False``: LSH only, bands balanced around the threshold (the estimate decides)."""
        from datasketch.lsh import _optimal_param

        if not 0 < threshold < 1:
            raise ValueError(f"dedup threshold {threshold}: a Jaccard similarity strictly between 0 and 1")
        if containment is not None and not 0 < containment <= 1:
            raise ValueError(f"dedup containment {containment}: a share strictly above 0 and at most 1")
        if not verify:
            b, r = _optimal_param(threshold, num_perm, 0.5, 0.5)
            return cls(num_buckets=b, hashes_per_bucket=r, jaccard=None, containment=None, **kw)
        b, r = _optimal_param(max(0.25, threshold - 0.45), num_perm, 0.01, 0.99)
        return cls(num_buckets=b, hashes_per_bucket=r, jaccard=threshold, containment=containment, **kw)

    def is_duplicate(self, a: np.ndarray, b: np.ndarray) -> tuple[bool, float, float]:
        """(verdict, Jaccard, containment) of two documents' shingle hashes (sets are taken here, unless they
        are sets already: ``sign_batch`` and ``ShingleSets`` give sorted ones)."""
        if a is None or b is None or not len(a) or not len(b):
            return False, 0.0, 0.0
        return self.verdict(as_set(a), as_set(b))

    def verdict(self, a: np.ndarray, b: np.ndarray) -> tuple[bool, float, float]:
        """``is_duplicate`` of two sorted sets of shingle hashes."""
        if not len(a) or not len(b):
            return False, 0.0, 0.0
        if len(a) > len(b):
            a, b = b, a
        at = b.searchsorted(a)  # each shingle of the smaller set looked up in the larger one
        np.minimum(at, len(b) - 1, out=at)  # past the end: b[-1] < a there, so no match either way
        inter = int(np.count_nonzero(b[at] == a))
        jac = inter / (len(a) + len(b) - inter)
        small = len(a)
        cont = inter / small
        dup = (self.jaccard is not None and jac >= self.jaccard) or (
            self.containment is not None and small >= self.min_shingles and cont >= self.containment)
        return bool(dup), jac, cont


def as_set(a: np.ndarray) -> np.ndarray:
    """``a``'s distinct values, sorted (``a`` itself when it is already so: one comparison, no sort).
    ``np.unique`` hashes before it sorts, several times slower on these sizes."""
    a = np.asarray(a, dtype=np.uint64)
    if len(a) < 2 or (a[1:] > a[:-1]).all():
        return a
    a = np.sort(a)
    return a[np.concatenate([[True], a[1:] != a[:-1]])]

