"""MinHash signatures fast enough to dedup on CPU, in datatrove's file format.

datatrove's ``MinhashDedupSignature`` spends most of its time in spaCy word tokenisation and one xxhash
call per shingle. Here a regex tokenizer (CJK characters one by one) and numpy do the rest: every word is
hashed at once with a polynomial hash over the UTF-8 bytes (prefix sums, wrapping uint64 arithmetic),
shingles combine word hashes, and the permutations are multiply-shift hashes. The signature files are
datatrove's (``bucket_XXX/RRRRR.minhash.sig``, sorted), so its ``MinhashDedupBuckets``, ``...Cluster``,
``MinhashBuildIndex`` and index-based dedup work on them unchanged. Numbers are kept (quarterly filings that
differ only in figures are not duplicates) unless ``normalize_numbers`` is set. Written by hand because no
library here vectorises tokenisation + shingling + hashing (measured in ``bench/minhash.py``).

MinHash LSH only proposes candidates; the threshold is applied to the exact sets (issue 14). Stage 1 also
keeps each document's set of shingle hashes (``shingles/RRRRR.bin`` + ``RRRRR.off.npy``), and the cluster
stage (``dedup.LabelledCluster``) unites a candidate pair only when its true Jaccard is >= ``jaccard`` or its
containment (shared shingles / shingles of the smaller document) is >= ``containment`` (a truncated copy, a
copy wrapped in boilerplate). The bands are then chosen for recall at a lower similarity
(``for_threshold``: about 0.45 below the threshold, 43x2 for 0.8), which is what makes short documents work:
with one-permutation hashing a 50-word passage fills only ~40 of the bins and the densified estimate is
noisy, but a noisy estimate only costs extra candidates, never a wrong decision (``bench/dedup_quality.py``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datatrove.data import DocumentsPipeline
from datatrove.pipeline.base import PipelineStep
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.hashing import HashConfig

from finance.text import CJK

TOKEN = re.compile(rf"[{CJK}]|[^\W_{CJK}]+", re.U)
DIGITS = re.compile(r"\d")
SPACES = re.compile(r"\s+")
_P = np.uint64(0x100000001B3)  # FNV prime (odd, so invertible modulo 2**64)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


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
        """(verdict, Jaccard, containment) of two documents' shingle hashes (sets are taken here: only
        candidates pay for the sort)."""
        if a is None or b is None or not len(a) or not len(b):
            return False, 0.0, 0.0
        a, b = np.unique(a), np.unique(b)
        if len(a) > len(b):
            a, b = b, a
        at = np.searchsorted(b, a)  # each shingle of the smaller set looked up in the larger one
        at[at == len(b)] = 0
        inter = int(np.count_nonzero(b[at] == a))
        jac = inter / (len(a) + len(b) - inter)
        small = min(len(a), len(b))
        cont = inter / small
        dup = (self.jaccard is not None and jac >= self.jaccard) or (
            self.containment is not None and small >= self.min_shingles and cont >= self.containment)
        return bool(dup), jac, cont


def normalize(text: str, normalize_numbers: bool = False) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return DIGITS.sub("0", text) if normalize_numbers else text


def exact_key(text: str) -> int:
    """64-bit hash of the normalised text (case, width and whitespace folded): exact-duplicate key."""
    import xxhash

    return xxhash.xxh64_intdigest(SPACES.sub(" ", unicodedata.normalize("NFKC", text).lower()).strip())


_POW: dict[str, np.ndarray] = {}


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    if "p" not in _POW or len(_POW["p"]) < n + 1:
        size = max(n + 1, 1 << 16, 2 * len(_POW.get("p", ())))
        inv = np.uint64(pow(int(_P), -1, 1 << 64))
        with np.errstate(over="ignore"):
            _POW["p"] = np.concatenate([[np.uint64(1)], np.cumprod(np.full(size - 1, _P, dtype=np.uint64))])
            _POW["inv"] = np.concatenate([[np.uint64(1)], np.cumprod(np.full(size - 1, inv, dtype=np.uint64))])
    return _POW["p"], _POW["inv"]


def word_hashes(tokens: list[str]) -> np.ndarray:
    """A stable 64-bit hash per token, computed for all tokens at once."""
    if not tokens:
        return np.zeros(0, dtype=np.uint64)
    joined = "\x00".join(tokens).encode("utf-8")
    b = np.frombuffer(joined, dtype=np.uint8).astype(np.uint64) + np.uint64(1)
    pw, inv = _powers(len(b))
    with np.errstate(over="ignore"):
        prefix = np.concatenate([[np.uint64(0)], np.cumsum(b * pw[: len(b)])])
        ends = np.flatnonzero(b == np.uint64(1))  # separators (byte 0 + 1)
        starts = np.concatenate([[0], ends + 1])
        ends = np.concatenate([ends, [len(b)]])
        h = (prefix[ends] - prefix[starts]) * inv[starts]  # Σ b_j P^(j-start): position-independent
        h ^= h >> np.uint64(31)
        h *= _MIX1
        h ^= (ends - starts).astype(np.uint64) * _MIX2
    return h


def text_word_hashes(text: str) -> np.ndarray:
    """Tokenise and hash in one vectorised pass over the UTF-8 bytes of (normalised) text: words are runs
    of ASCII letters/digits and non-ASCII bytes; a CJK character (3-byte UTF-8 led by 0xE3-0xED) is a word
    of its own. Same tokens as ``TOKEN`` on letters, digits and CJK."""
    b8 = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    n = len(b8)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    word = _WORD_BYTE[b8]
    if text.isascii():  # no multi-byte characters: a word is a run of letters and digits
        edges = np.flatnonzero(np.diff(word.view(np.int8), prepend=0, append=0))
        return _span_hashes(b8, edges[0::2], edges[1::2])
    # general punctuation (U+2000-206F: dashes, quotes, …) and CJK punctuation (U+3000-303F: 、。「」) separate
    nxt = np.concatenate([b8[1:], [0]])
    punct = np.flatnonzero(((b8 == 0xE2) & ((nxt == 0x80) | (nxt == 0x81))) | ((b8 == 0xE3) & (nxt == 0x80)))
    punct = punct[punct + 2 < n]
    for k in range(3):
        word[punct + k] = False
    lead = (b8 >= 0xE3) & (b8 <= 0xED) & word
    cjk_end = np.zeros(n, dtype=bool)
    li = np.flatnonzero(lead)
    cjk_end[li[li + 2 < n] + 2] = True
    prev_word = np.concatenate([[False], word[:-1]])
    prev_break = np.concatenate([[True], cjk_end[:-1]])
    starts = np.flatnonzero(word & (~prev_word | lead | prev_break))
    next_word = np.concatenate([word[1:], [False]])
    next_lead = np.concatenate([lead[1:], [False]])
    ends = np.flatnonzero(word & (~next_word | cjk_end | next_lead)) + 1
    if len(starts) != len(ends) or not len(starts):  # malformed byte runs: fall back to the regex
        return word_hashes(TOKEN.findall(text))
    return _span_hashes(b8, starts, ends)


def _span_hashes(b8: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Polynomial hash of each byte span ``[starts[i], ends[i])``, independent of its position."""
    n = len(b8)
    b = b8.astype(np.uint64) + np.uint64(1)
    pw, inv = _powers(n)
    with np.errstate(over="ignore"):
        prefix = np.concatenate([[np.uint64(0)], np.cumsum(b * pw[:n])])
        h = (prefix[ends] - prefix[starts]) * inv[starts]
        h ^= h >> np.uint64(31)
        h *= _MIX1
        h ^= (ends - starts).astype(np.uint64) * _MIX2
    return h


_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789":
    _WORD_BYTE[_c] = True
_WORD_BYTE[0x80:] = True


def shingle_hashes(words: np.ndarray, n: int) -> np.ndarray:
    if len(words) == 0:
        return words
    n = min(n, len(words))
    k = len(words) - n + 1
    with np.errstate(over="ignore"):
        s = np.zeros(k, dtype=np.uint64)
        for t in range(n):
            s = s * _MIX1 + words[t: t + k]
        s ^= s >> np.uint64(29)
        s *= _MIX2
        s ^= s >> np.uint64(32)
    return s


class FastMinHash:
    """Signatures for ``DedupParams``: ``signature(text) -> uint64[num_perm]`` (None when no token).

    ``scheme="oph"`` is one-permutation MinHash (Li, Owen & Zhang 2012): each shingle is hashed once and
    falls in one of ``num_perm`` bins, a bin keeps its minimum, and empty bins borrow from the next
    non-empty one (rotation densification, Shrivastava & Li 2014). Same Jaccard estimate as ``num_perm``
    independent permutations at 1/num_perm of the hashing work; ``scheme="classic"`` computes those.
    """

    def __init__(self, params: DedupParams) -> None:
        if params.scheme not in ("oph", "classic"):
            raise ValueError(f"unknown MinHash scheme {params.scheme!r} (oph or classic)")
        self.params = params
        rng = np.random.RandomState(params.seed)
        self.a = (rng.randint(1, 1 << 62, size=params.num_perm, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)
        self.b = rng.randint(0, 1 << 62, size=params.num_perm, dtype=np.uint64)
        self.seed = np.uint64(int(rng.randint(1, 1 << 62)))
        self._buf = np.empty((0, params.num_perm), dtype=np.uint64)

    def _classic(self, sh: np.ndarray) -> np.ndarray:
        if len(self._buf) < len(sh):
            self._buf = np.empty((len(sh), self.params.num_perm), dtype=np.uint64)
        buf = self._buf[: len(sh)]
        with np.errstate(over="ignore"):
            np.multiply(sh[:, None], self.a, out=buf)
            np.add(buf, self.b, out=buf)
        return buf.min(axis=0) >> np.uint64(1)

    def _oph(self, sh: np.ndarray) -> np.ndarray:
        k = self.params.num_perm
        with np.errstate(over="ignore"):
            h = sh * self.a[0] + self.seed
            h ^= h >> np.uint64(33)
            h *= _MIX2
            h ^= h >> np.uint64(29)
        bins = (((h >> np.uint64(32)) * np.uint64(k)) >> np.uint64(32)).astype(np.intp)
        out = np.full(k, np.iinfo(np.uint64).max, dtype=np.uint64)
        np.minimum.at(out, bins, h)
        empty = out == np.iinfo(np.uint64).max
        if empty.any():  # densify: an empty bin takes the next non-empty bin's value, shifted by the distance
            full = np.flatnonzero(~empty)
            j = np.flatnonzero(empty)
            pos = np.searchsorted(full, j) % len(full)
            src = full[pos]
            dist = ((src - j) % k).astype(np.uint64)
            with np.errstate(over="ignore"):
                out[j] = out[src] + dist * _MIX1
        return out >> np.uint64(1)

    def tokens(self, text: str) -> list[str]:
        return TOKEN.findall(normalize(text, self.params.normalize_numbers))

    def shingles(self, text: str) -> np.ndarray:
        """The document's shingle hashes (with repeats, in text order)."""
        if not text.isascii() and not unicodedata.is_normalized("NFKC", text):  # the check is ~10x cheaper
            text = unicodedata.normalize("NFKC", text)
        text = text.lower()
        if self.params.normalize_numbers:
            text = DIGITS.sub("0", text)
        return shingle_hashes(text_word_hashes(text), self.params.n_grams)

    def _sign(self, sh: np.ndarray) -> np.ndarray | None:
        if sh.size == 0:
            return None
        return self._oph(sh) if self.params.scheme == "oph" else self._classic(sh)

    def signature(self, text: str) -> np.ndarray | None:
        return self._sign(self.shingles(text))

    def sign(self, text: str) -> tuple[np.ndarray | None, np.ndarray]:
        """Signature and the shingle hashes (what verification compares, as sets)."""
        sh = self.shingles(text)
        return self._sign(sh), sh


class FastMinhashSignature(PipelineStep):
    """datatrove stage 1 (pass-through): writes MinHash signatures in datatrove's format and, per rank,
    the exact-duplicate keys (``exact/RRRRR.npy``, one per document in order) used to label clusters."""

    name = "🎯 huijin MinHash signatures"
    type = "🫂 - DEDUP"

    def __init__(self, output_folder: str, params: DedupParams | None = None, minhash: bool = True) -> None:
        super().__init__()
        self.output_folder = str(output_folder)
        self.params = params or DedupParams()
        self.minhash = minhash  # False: exact keys only (exact-only dedup)

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        mh = FastMinHash(self.params)
        sigs, idx, exact = [], [], []
        keep_sets = self.minhash and self.params.verify
        sets = ShingleSetWriter(self.output_folder, rank) if keep_sets else None
        try:
            for i, doc in enumerate(data):
                with self.track_time():
                    if self.minhash:
                        sig, sh = mh.sign(doc.text) if keep_sets else (mh.signature(doc.text), None)
                    else:
                        sig, sh = None, None
                    if sets is not None:
                        sets.add(sh)
                    exact.append(exact_key(doc.text))
                    if sig is not None:
                        sigs.append(sig)
                        idx.append(i)
                    else:
                        self.stat_update("no_shingles")
                yield doc
        finally:
            if sets is not None:
                sets.close()
        self.write(rank, np.array(sigs, dtype=np.uint64).reshape(-1, self.params.num_perm),
                   np.array(idx, dtype=np.uint32), np.array(exact, dtype=np.uint64))

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


class ShingleSetWriter:
    """One rank's shingle hashes, in document order: ``shingles/RRRRR.bin`` (uint64, concatenated) and
    ``shingles/RRRRR.off.npy`` (offsets, one more than documents). Appended as documents pass."""

    def __init__(self, folder: str, rank: int) -> None:
        self.dir = Path(folder) / "shingles"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rank = rank
        self.fh = open(self.dir / f"{rank:05d}.bin", "wb")
        self.offsets = [0]

    def add(self, sh: np.ndarray | None) -> None:
        if sh is not None and len(sh):
            self.fh.write(np.ascontiguousarray(sh, dtype="<u8").tobytes())
            self.offsets.append(self.offsets[-1] + len(sh))
        else:
            self.offsets.append(self.offsets[-1])

    def close(self) -> None:
        self.fh.close()
        np.save(self.dir / f"{self.rank:05d}.off.npy", np.array(self.offsets, dtype=np.int64))


class ShingleSets:
    """Read side of ``ShingleSetWriter``: ``get(rank, doc)`` -> the document's shingle hashes (memory-mapped)."""

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
