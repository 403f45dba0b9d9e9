"""Matching tokens for decontamination: English words and numbers, and one token per CJK character.

Reformatting must not hide a benchmark item, so before tokenising: NFKC (full-width digits and
punctuation), lower case, thousands separators dropped ("1,234,567" = "1234567"), "%" read as "percent",
decimal zeros trimmed ("12.50" = "12.5", "3.0" = "3"), and all whitespace/punctuation ignored.
Hand-written (regexes only): datatrove's n-gram decontamination tokenises words with spaCy and has no
number canonicalisation and no character n-grams for Chinese.
"""

from __future__ import annotations

import re
import unicodedata

_THOUSANDS = re.compile(r"(?<=\d)[,，](?=\d{3}(?!\d))")
_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3040-\u30ff\uac00-\ud7af]")
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def _canon_number(tok: str) -> str:
    if "." in tok and tok[0].isdigit():
        whole, _, frac = tok.partition(".")
        frac = frac.rstrip("0")
        return f"{whole}.{frac}" if frac else whole
    return tok


def match_tokens(text: str) -> list[str]:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = _THOUSANDS.sub("", text.lower()).replace("%", " percent ")
    return [_canon_number(t) if "." in t else t for t in _TOKEN.findall(text)]


def cjk_share(text: str) -> float:
    """Share of CJK characters among non-space characters (decides word vs character n-grams)."""
    n = sum(1 for c in text if not c.isspace())
    return len(_CJK.findall(text)) / n if n else 0.0
