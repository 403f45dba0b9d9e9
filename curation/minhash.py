"""MinHash signatures fast enough to dedup on CPU, in datatrove's file format.

datatrove's ``MinhashDedupSignature`` spends most of its time in spaCy word tokenisation and one xxhash
call per shingle. Here a regex tokenizer (CJK characters one by one) and numpy do the rest: every word is
hashed at once with a polynomial hash over the UTF-8 bytes (prefix sums, wrapping uint64 arithmetic),
shingles combine word hashes, and the permutations are multiply-shift hashes. The signature files are
datatrove's (``bucket_XXX/RRRRR.minhash.sig``, sorted), so its ``MinhashDedupBuckets``, ``...Cluster``,
``MinhashBuildIndex`` and index-based dedup work on them unchanged. Numbers are kept (quarterly filings that
differ only in figures are not duplicates) unless ``normalize_numbers`` is set. Written by hand because no
library here vectorises tokenisation + shingling + hashing (measured in ``bench/minhash.py``). The pipeline
step (``curation.minhash_step``) signs a batch of documents in one pass (``FastMinHash.sign_batch``: texts joined, offsets find each
one's words), since on 50-150-word passages the per-call cost of numpy, not the hashing, is what a
document costs; ``sign`` (one document) stays as the plain version and the batch equals it bit for bit.

MinHash LSH only proposes candidates; the threshold is applied to the exact sets (issue 14). Stage 1 also
keeps each document's set of shingle hashes, sorted (``shingles/RRRRR.bin`` + ``RRRRR.off.npy``), and the
cluster stage (``dedup.LabelledCluster``) unites a candidate pair only when its true Jaccard is >= ``jaccard``
or its containment (shared shingles / shingles of the smaller document) is >= ``containment`` (a truncated
copy, a copy wrapped in boilerplate). The bands are then chosen for recall at a lower similarity
(``for_threshold``: about 0.45 below the threshold, 43x2 for 0.8), which is what makes short documents work:
with one-permutation hashing a 50-word passage fills only ~40 of the bins and the densified estimate is
noisy, but a noisy estimate only costs extra candidates, never a wrong decision (``bench/dedup_quality.py``).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

import numpy as np
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


def normalize(text: str, normalize_numbers: bool = False) -> str:
    """NFKC, lower case (and digits to 0 with ``normalize_numbers``): the text that is tokenised."""
    text = nfkc(text).lower()
    return DIGITS.sub("0", text) if normalize_numbers else text


def nfkc(text: str) -> str:
    """``unicodedata.normalize("NFKC", text)``, exactly, ~7x faster on Chinese text.

    Chinese text is rarely NFKC already (full-width punctuation ，：（）), and CPython's normalize re-composes
    every character. Here each compatibility character present (full-width forms, ideographic space, ™, ①,
    ㎡, …: a table built from ``unicodedata`` itself) is first replaced by its own NFKC form. That leaves the
    NFKC of the whole text unchanged (a character and its NFKC form decompose to canonically equivalent
    sequences, and canonical equivalence survives concatenation), so when the result passes
    ``is_normalized`` (~10x cheaper than normalizing) it is the answer; otherwise it is normalized as before."""
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    table, pattern = _compat_table()
    for ch in set(pattern.findall(text)):
        text = text.replace(ch, table[ch])
    return text if unicodedata.is_normalized("NFKC", text) else unicodedata.normalize("NFKC", text)


@cache
def _compat_table() -> tuple[dict[str, str], re.Pattern]:
    """Starters of Latin-1, general punctuation to CJK compatibility (U+2000-33FF) and the compatibility and
    half/full-width forms (U+FE30-FFEF) that NFKC changes, each with its NFKC form."""
    table = {}
    for c in (*range(0xA0, 0x100), *range(0x2000, 0x3400), *range(0xFE30, 0xFFF0)):
        ch = chr(c)
        if not unicodedata.combining(ch) and (norm := unicodedata.normalize("NFKC", ch)) != ch:
            table[ch] = norm
    return table, re.compile("[" + "".join(map(re.escape, table)) + "]")


def exact_key(text: str, folded: bool = False) -> int:
    """64-bit hash of the normalised text (case, width and whitespace folded): exact-duplicate key.
    ``folded``: ``text`` is already ``normalize(text)`` (numbers kept), so NFKC is not paid twice."""
    import xxhash

    return xxhash.xxh64_intdigest(SPACES.sub(" ", text if folded else normalize(text)).strip())


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
    if text.isascii():  # no multi-byte characters: a word is a run of letters and digits
        word = _WORD_BYTE[b8]
        edges = np.flatnonzero(np.diff(word.view(np.int8), prepend=0, append=0))
        return _span_hashes(b8, edges[0::2], edges[1::2])
    starts, ends = _word_spans(b8)
    if len(starts) != len(ends) or not len(starts):  # malformed byte runs: fall back to the regex
        return word_hashes(TOKEN.findall(text))
    return _span_hashes(b8, starts, ends)


def _word_spans(b8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word byte spans ``[starts, ends)`` in UTF-8 bytes (``text_word_hashes``'s rule, any text). Words never
    cross an ASCII separator, so the spans of several texts joined by ``\\n`` are each text's spans, shifted.

    Written as boundaries: between bytes j-1 and j a word starts (ends) where the byte on the right (left) is
    a word byte and either the other side is not, or a CJK character begins at j or ended at j-1."""
    n = len(b8)
    word = _WORD_BYTE[b8]
    # general punctuation (U+2000-206F: dashes, quotes, …) and CJK punctuation (U+3000-303F: 、。「」) separate
    cand = np.flatnonzero((b8[: max(n - 2, 0)] & 0xFE) == 0xE2)  # E2/E3 lead bytes (rare) with two bytes after
    lb, nb = b8[cand], b8[cand + 1]
    punct = cand[((lb == 0xE2) & ((nb & 0xFE) == 0x80)) | ((lb == 0xE3) & (nb == 0x80))]
    for k in range(3):
        word[punct + k] = False
    lead = (b8 - np.uint8(0xE3) <= 0xED - 0xE3) & word  # a CJK character (3-byte UTF-8 led by 0xE3-0xED)
    wp = np.zeros(n + 2, dtype=bool)
    wp[1:-1] = word
    left, right = wp[:-1], wp[1:]  # word byte before / after each of the n + 1 boundaries
    brk = np.zeros(n + 1, dtype=bool)
    brk[:n] = lead
    brk[3:] |= lead[: max(n - 2, 0)]  # its last byte (lead + 2) precedes boundary lead + 3
    edge = (left ^ right) | brk
    return np.flatnonzero(right & edge), np.flatnonzero(left & edge)


def _span_hashes(b8: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Polynomial hash of each byte span ``[starts[i], ends[i])``, independent of its position."""
    n = len(b8)
    pw, inv = _powers(n)
    c = b8.astype(np.uint64)
    with np.errstate(over="ignore"):
        c += np.uint64(1)
        c *= pw[:n]
        np.cumsum(c, out=c)  # c[i] = sum of bytes 0..i: the prefix sum before byte i is c[i - 1]
        h = c[ends - 1] - np.where(starts > 0, c[starts - 1], np.uint64(0))
        h *= inv[starts]
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

    def _hash_and_bin(self, sh: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One-permutation hashing: each shingle's mixed hash and the bin (of ``num_perm``) it falls in."""
        with np.errstate(over="ignore"):
            h = sh * self.a[0] + self.seed
            h ^= h >> np.uint64(33)
            h *= _MIX2
            h ^= h >> np.uint64(29)
        return h, (((h >> np.uint64(32)) * np.uint64(self.params.num_perm)) >> np.uint64(32)).astype(np.intp)

    def _oph(self, sh: np.ndarray) -> np.ndarray:
        k = self.params.num_perm
        h, bins = self._hash_and_bin(sh)
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
        words = text_word_hashes(normalize(text, self.params.normalize_numbers))
        return shingle_hashes(words, self.params.n_grams)

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

    def sign_batch(self, texts: list[str], sets: bool = True, folded: bool = False) -> SignedBatch:
        """``sign`` for many documents at once, bit for bit: the same signatures, and each document's shingle
        hashes as a sorted set (``sets``). ``folded``: the texts are already ``normalize(text)`` (numbers kept).

        Per document, ``sign`` pays ~30 numpy calls of a few microseconds each; on a 50-word passage that
        overhead is most of the cost (3.6x datasketch on short documents vs 8.6x on 1,000-word ones). Here
        the documents of a chunk are joined by ``\\n`` (never part of a word) and tokenised, hashed,
        shingled and binned in one pass, each document's share found by offsets. datasketch and datatrove
        sign one document at a time, so this is written here."""
        if folded:
            prep = [DIGITS.sub("0", t) for t in texts] if self.params.normalize_numbers else texts
        else:
            prep = [normalize(t, self.params.normalize_numbers) for t in texts]
        parts, chunk, size = [], [], 0
        for t in prep:
            chunk.append(t)
            size += len(t)
            if size >= CHUNK_CHARS:
                parts.append(self._sign_chunk(chunk, sets))
                chunk, size = [], 0
        if chunk or not parts:
            parts.append(self._sign_chunk(chunk, sets))
        if len(parts) == 1:
            return parts[0]
        offsets = None
        if sets:
            shift = np.cumsum([0] + [p.offsets[-1] for p in parts[:-1]])
            offsets = np.concatenate([[0]] + [p.offsets[1:] + d for p, d in zip(parts, shift, strict=True)])
        return SignedBatch(np.concatenate([p.sigs for p in parts]), np.concatenate([p.has for p in parts]),
                           np.concatenate([p.sets for p in parts]) if sets else None, offsets)

    def _sign_chunk(self, texts: list[str], sets: bool) -> SignedBatch:
        sh, soff = self._shingles_chunk(texts)
        cnt = np.diff(soff)
        has = cnt > 0
        if self.params.scheme == "oph":
            sigs = self._oph_batch(sh, cnt)
        else:
            sigs = np.zeros((len(texts), self.params.num_perm), dtype=np.uint64)
            for d in np.flatnonzero(has).tolist():
                sigs[d] = self._classic(sh[soff[d]: soff[d + 1]])
        if not sets:
            return SignedBatch(sigs, has, None, None)
        # each document's shingles sorted in place (one small sort each: a batched segment sort costs more),
        # then repeats dropped: verification compares sets, and stage 3 runs as one task, so stage 1 pays
        ss = sh.copy()
        for a, b in zip(soff[:-1].tolist(), soff[1:].tolist(), strict=True):
            if b - a > 1:
                ss[a:b].sort()
        keep = np.ones(len(ss), dtype=bool)
        if len(ss):
            keep[1:] = ss[1:] != ss[:-1]
            keep[soff[:-1][has]] = True
        ck = np.zeros(len(ss) + 1, dtype=np.int64)
        np.cumsum(keep, out=ck[1:])
        return SignedBatch(sigs, has, ss[keep], ck[soff])

    def _shingles_chunk(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Shingle hashes of normalised texts, concatenated in text order, and offsets (one more than texts)."""
        n, docs = self.params.n_grams, len(texts)
        enc = [t.encode("utf-8") for t in texts]
        b8 = np.frombuffer(b"\n".join(enc), dtype=np.uint8)
        dstart = np.zeros(docs + 1, dtype=np.int64)
        np.cumsum(np.fromiter(map(len, enc), dtype=np.int64, count=docs) + 1, out=dstart[1:])
        starts, ends = _word_spans(b8) if len(b8) else (np.zeros(0, np.intp), np.zeros(0, np.intp))
        wst = np.searchsorted(starts, dstart)  # words of text d: wst[d]:wst[d + 1]
        if len(starts) != len(ends) or (np.searchsorted(ends, dstart) != wst).any():
            return self._shingles_each(texts)  # malformed byte runs somewhere: text by text (regex fallback)
        words = _span_hashes(b8, starts, ends)
        m = np.diff(wst)
        odd = {d: text_word_hashes(texts[d]) for d in np.flatnonzero(m == 0).tolist() if not texts[d].isascii()}
        if any(len(v) for v in odd.values()):  # no word by bytes, but text_word_hashes' regex fallback finds some
            parts = [odd[d] if d in odd else words[wst[d]: wst[d + 1]] for d in range(docs)]
            words = np.concatenate(parts)
            wst = np.zeros(docs + 1, dtype=np.int64)
            np.cumsum([len(x) for x in parts], out=wst[1:])
            m = np.diff(wst)
        cnt = np.where(m >= n, m - n + 1, (m > 0).astype(np.int64))
        soff = np.zeros(docs + 1, dtype=np.int64)
        np.cumsum(cnt, out=soff[1:])
        sh = np.empty(int(soff[-1]), dtype=np.uint64)
        long = m >= n
        with np.errstate(over="ignore"):
            if long.any():  # every window of n words, kept where it lies inside one text
                k = len(words) - n + 1
                s = np.zeros(k, dtype=np.uint64)
                for t in range(n):
                    s = s * _MIX1 + words[t: t + k]
                wdoc = np.repeat(np.arange(docs), m)
                sh[np.repeat(long, cnt)] = s[wdoc[:k] == wdoc[n - 1:]]
            short = np.flatnonzero((m > 0) & ~long)
            if len(short):  # fewer than n words: one shingle of all of them (shingle_hashes' n = len(words))
                ms, base = m[short], wst[short]
                s = np.zeros(len(short), dtype=np.uint64)
                for t in range(n - 1):
                    s = np.where(t < ms, s * _MIX1 + words[np.minimum(base + t, len(words) - 1)], s)
                sh[soff[short]] = s
            sh ^= sh >> np.uint64(29)
            sh *= _MIX2
            sh ^= sh >> np.uint64(32)
        return sh, soff

    def _shingles_each(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        parts = [shingle_hashes(text_word_hashes(t), self.params.n_grams) for t in texts]
        soff = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum([len(p) for p in parts], out=soff[1:])
        return (np.concatenate(parts) if parts else np.zeros(0, np.uint64)), soff

    def _oph_batch(self, sh: np.ndarray, cnt: np.ndarray) -> np.ndarray:
        """``_oph`` of every text at once: one ``minimum.at`` into a (texts, bins) table, densified row-wise."""
        k, docs = self.params.num_perm, len(cnt)
        top = np.iinfo(np.uint64).max
        h, bins = self._hash_and_bin(sh)
        out = np.full(docs * k, top, dtype=np.uint64)
        bins += np.repeat(np.arange(docs, dtype=np.intp) * k, cnt)
        np.minimum.at(out, bins, h)
        out = out.reshape(docs, k)
        empty = out == top
        rows = np.flatnonzero((cnt > 0) & empty.any(axis=1))
        if len(rows):  # densify as _oph: an empty bin takes the next non-empty bin's value (cyclically) + shift
            sub, emp = out[rows], empty[rows]
            col = np.arange(k)
            pos = np.concatenate([np.where(emp, 2 * k, col), np.where(emp, 2 * k, col + k)], axis=1)
            nxt = np.minimum.accumulate(pos[:, ::-1], axis=1)[:, ::-1][:, :k]  # first non-empty bin >= j
            with np.errstate(over="ignore"):
                moved = np.take_along_axis(sub, nxt % k, axis=1) + (nxt - col).astype(np.uint64) * _MIX1
            out[rows] = np.where(emp, moved, sub)
        return out >> np.uint64(1)


CHUNK_CHARS = 1 << 17  # texts joined per numpy pass: large enough to amortise the calls, small enough for cache


@dataclass
class SignedBatch:
    """``FastMinHash.sign_batch``'s result for n texts: ``sigs`` (n, num_perm) (a row is meaningless where
    ``has`` is False: no shingle), and with sets, text i's sorted shingle set ``sets[offsets[i]:offsets[i + 1]]``
    (``set(i)``)."""

    sigs: np.ndarray
    has: np.ndarray
    sets: np.ndarray | None
    offsets: np.ndarray | None

    def signature(self, i: int) -> np.ndarray | None:
        return self.sigs[i] if self.has[i] else None

    def set(self, i: int) -> np.ndarray:
        return self.sets[self.offsets[i]: self.offsets[i + 1]]
