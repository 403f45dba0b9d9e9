"""Text → hashes for dedup: folding (NFKC, case, optional digits), the exact-duplicate key, and word and shingle
hashes computed in numpy — a regex tokenizer (CJK characters one by one) and a polynomial hash over each word's UTF-8
bytes (prefix sums, wrapping uint64 arithmetic). Written by hand because no library here vectorises tokenisation +
hashing (measured in ``bench/minhash.py``)."""

from __future__ import annotations

import re
import unicodedata
from functools import cache

import numpy as np

from finance.text import CJK

TOKEN = re.compile(rf"[{CJK}]|[^\W_{CJK}]+", re.U)
DIGITS = re.compile(r"\d")
SPACES = re.compile(r"\s+")
_P = np.uint64(0x100000001B3)  # FNV prime (odd, so invertible modulo 2**64)
MIX1, MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


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
        h *= MIX1
        h ^= (ends - starts).astype(np.uint64) * MIX2
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
        return span_hashes(b8, edges[0::2], edges[1::2])
    starts, ends = word_spans(b8)
    if len(starts) != len(ends) or not len(starts):  # malformed byte runs: fall back to the regex
        return word_hashes(TOKEN.findall(text))
    return span_hashes(b8, starts, ends)


def word_spans(b8: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def span_hashes(b8: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
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
        h *= MIX1
        h ^= (ends - starts).astype(np.uint64) * MIX2
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
            s = s * MIX1 + words[t: t + k]
        s ^= s >> np.uint64(29)
        s *= MIX2
        s ^= s >> np.uint64(32)
    return s
