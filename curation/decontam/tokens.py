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

from finance.text import CJK

_THOUSANDS = re.compile(r"(?<=\d)[,，](?=\d{3}(?!\d))")
_TOKEN = re.compile(rf"[a-z0-9]+(?:\.[0-9]+)?|[{CJK}]")


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

