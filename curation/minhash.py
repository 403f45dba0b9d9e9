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

This module signs; the text folding and word/shingle hashes are ``curation.text_hashing``, the parameters and the
verdict on a pair ``curation.dedup_params``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .dedup_params import DedupParams
from .text_hashing import (
    DIGITS,
    MIX1,
    MIX2,
    TOKEN,
    normalize,
    shingle_hashes,
    span_hashes,
    text_word_hashes,
    word_spans,
)


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
            h *= MIX2
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
                out[j] = out[src] + dist * MIX1
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
        starts, ends = word_spans(b8) if len(b8) else (np.zeros(0, np.intp), np.zeros(0, np.intp))
        wst = np.searchsorted(starts, dstart)  # words of text d: wst[d]:wst[d + 1]
        if len(starts) != len(ends) or (np.searchsorted(ends, dstart) != wst).any():
            return self._shingles_each(texts)  # malformed byte runs somewhere: text by text (regex fallback)
        words = span_hashes(b8, starts, ends)
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
                    s = s * MIX1 + words[t: t + k]
                wdoc = np.repeat(np.arange(docs), m)
                sh[np.repeat(long, cnt)] = s[wdoc[:k] == wdoc[n - 1:]]
            short = np.flatnonzero((m > 0) & ~long)
            if len(short):  # fewer than n words: one shingle of all of them (shingle_hashes' n = len(words))
                ms, base = m[short], wst[short]
                s = np.zeros(len(short), dtype=np.uint64)
                for t in range(n - 1):
                    s = np.where(t < ms, s * MIX1 + words[np.minimum(base + t, len(words) - 1)], s)
                sh[soff[short]] = s
            sh ^= sh >> np.uint64(29)
            sh *= MIX2
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
                moved = np.take_along_axis(sub, nxt % k, axis=1) + (nxt - col).astype(np.uint64) * MIX1
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
