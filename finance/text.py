"""Script ranges and language detection: the one definition of "Chinese" every pillar uses.

Ranges are regex character-class bodies (``rf"[{CJK}]"``), so a performance-tuned tokenizer can build its own
pattern from them. ``CJK`` is what tokenizers split one character at a time (Han, kana, Hangul); ``HAN`` is
what counts as Chinese writing (the CJK ideographs: extension A, the unified block, compatibility ideographs).

``detect_language`` is py3langid (chosen by measurement, see ``bench/filters.py``) with Chinese varieties
mapped to ``zh``: py3langid and fastText report standard written Chinese as "wuu", "yue", … now and then
(Wikipedia zh comes back as "wuu" about 1% of the time), and all of them are Chinese to a language filter, a
per-language threshold or a decontamination rule. ``script_of`` is the cheap en/zh decision by script that
needs no model (a judge's language-match cap, a generator's check that it answered in the asked language).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
KANA = "\u3040-\u30ff"
HANGUL = "\uac00-\ud7af"
CJK = HAN + KANA + HANGUL
HAN_RE = re.compile(f"[{HAN}]")
CJK_RE = re.compile(f"[{CJK}]")
_LATIN = re.compile(r"[A-Za-z]")

# Chinese varieties and tags language identifiers report for standard written Chinese: one code, "zh"
ALIASES = {"wuu": "zh", "yue": "zh", "gan": "zh", "hak": "zh", "cmn": "zh", "lzh": "zh", "zh-tw": "zh", "zh-cn": "zh"}
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)
MAX_CHARS = 8000  # the head of a long document decides its language: cost stays flat


def is_han(c: str) -> bool:
    """One character: a Chinese (Han) ideograph."""
    return bool(HAN_RE.match(c))


def han_share(text: str) -> float:
    """Share of Han characters among the non-space characters (0 for blank text)."""
    n = sum(1 for c in text if not c.isspace())
    return len(HAN_RE.findall(text)) / n if n else 0.0


def normalize_lang(code: str) -> str:
    """A language code as huijin writes it: Chinese varieties and region tags → ``zh``."""
    c = code.strip().lower().replace("_", "-")
    return ALIASES.get(c, "zh" if c.startswith("zh-") else c)


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect_language(text: str) -> tuple[str, float]:
    """``(language code, probability)``; numbers and table rows are left out (they carry no language)."""
    sample = TABLE_ROW.sub(" ", text[: MAX_CHARS * 2])[:MAX_CHARS]
    if not sample.strip():
        sample = text[:MAX_CHARS]
    lang, p = _identifier().classify(sample.replace("\n", " "))
    return normalize_lang(lang), float(p)


def script_of(text: str) -> str | None:
    """'zh' or 'en' by the share of Han characters among letters; None for text without letters."""
    han, latin = len(HAN_RE.findall(text or "")), len(_LATIN.findall(text or ""))
    if han + latin < 4:
        return None
    return "zh" if han / (han + latin / 4) > 0.5 else "en"
