"""Heuristic quality filters from datatrove (Gopher, C4, FineWeb) with finance-safe, per-language settings.

Their web-prose defaults destroy tables (Gopher: <80% of words with a letter; C4: lines under 3 words;
FineWeb: too little end-of-line punctuation). Here each markdown table block is swapped for a one-line
placeholder before the datatrove rule runs and put back after, numbers are not counted against the
alphabetic-word ratio, and Chinese is tokenised per character (no spaces), with rules that only make
sense for space-separated words (word length, stop words) switched off or replaced for ``zh``.
"""

from __future__ import annotations

import re
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters import (
    C4QualityFilter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
)
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.utils.word_tokenizers import WordTokenizer

from finance.text import CJK

WORD = re.compile(rf"[{CJK}]|[^\W_{CJK}]+(?:[.,'’][^\W_{CJK}]+)*", re.U)
SENT_END = re.compile(r"(?<=[.!?。！？；])\s*")
NUMBER = re.compile(r"^[\d.,%()$€£¥+\-]+$")
TABLE_BLOCK = re.compile(r"(?:^[ \t]*\|.*\|[ \t]*$\n?)+", re.M)
PLACEHOLDER = "Table {i} of financial figures is kept here."
ZH_STOP = ["的", "了", "是", "在", "和", "有", "为", "与", "对", "将", "等", "中", "以", "及", "年"]


class FinWordTokenizer(WordTokenizer):
    """Regex tokenizer: CJK characters one by one, words with inner ``.,'`` kept whole (1,234.5), numbers
    as one token. Plain regex instead of spaCy: the same answers on this text at a fraction of the cost."""

    def __init__(self, language: str = "en") -> None:
        super().__init__(language)

    def word_tokenize(self, text: str) -> list[str]:
        return WORD.findall(text)

    def sent_tokenize(self, text: str) -> list[str]:
        return [s for s in SENT_END.split(text) if s.strip()]

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in WORD.finditer(text)]


HEADING = re.compile(r"^#{1,6} ", re.M)  # markdown heading markers from extraction are not Gopher's "#" spam
# table-of-contents dot leaders and ASCII rules; each only runs when its trigger substring is present
LEADERS = [((". . .", "...."), re.compile(r"(?:\. ?){4,}")), (("……",), re.compile(r"…{2,}")),
           (("------", "- - -"), re.compile(r"(?:- ?){6,}")), (("______", "_ _ _"), re.compile(r"(?:_ ?){6,}")),
           (("======", "= = ="), re.compile(r"(?:= ?){6,}"))]
TRAILING = re.compile(r"[^\S\n]+$", re.M)
_VIEW: list = [None, None]  # one-entry cache: the four heuristic filters see the same text in a row


def protect_tables(text: str) -> tuple[str, list[str]]:
    """The text the rules see: tables as placeholders, table-of-contents dot leaders and ASCII rules
    collapsed, trailing spaces removed (FineWeb checks the last character of each line)."""
    if _VIEW[0] is text:
        return _VIEW[1][0], list(_VIEW[1][1])
    original = text
    tables: list[str] = []
    for triggers, pattern in LEADERS:
        if any(t in text for t in triggers):
            text = pattern.sub(" ", text)
    if "#" in text:
        text = HEADING.sub("", text)
    text = TRAILING.sub("", text)

    def swap(m: re.Match) -> str:
        tables.append(m.group(0))
        return PLACEHOLDER.format(i=len(tables)) + "\n"

    if "|" in text:
        text = TABLE_BLOCK.sub(swap, text)
    _VIEW[0], _VIEW[1] = original, (text, tables)
    return text, list(tables)


def restore_tables(text: str, tables: list[str]) -> str:
    for i, t in enumerate(tables, 1):
        text = text.replace(PLACEHOLDER.format(i=i) + "\n", t).replace(PLACEHOLDER.format(i=i), t.rstrip("\n"))
    return text


class _NumbersAsWords(WordTokenizer):
    """Gopher's alpha-word ratio counts numbers against a document; financial prose is full of them."""

    def __init__(self, inner: WordTokenizer) -> None:
        super().__init__(inner.language)
        self.inner = inner

    def word_tokenize(self, text: str) -> list[str]:
        return ["num" if NUMBER.match(w) and any(c.isdigit() for c in w) else w for w in self.inner.word_tokenize(text)]

    def sent_tokenize(self, text: str) -> list[str]:
        return self.inner.sent_tokenize(text)

    def span_tokenize(self, text: str) -> list[tuple[int, int]]:
        return self.inner.span_tokenize(text)


class PerLanguageFilter(BaseFilter):
    """Runs one datatrove filter instance per document language (``metadata['language']``), on the
    document with its tables swapped for placeholders; text changes made by the filter (C4 removes
    lines) are kept and the tables restored."""

    name = "🧹 huijin heuristic"
    base_cls: type[BaseFilter] = BaseFilter
    settings: dict[str, dict[str, Any]] = {}

    def __init__(self, overrides: dict[str, dict[str, Any]] | None = None, default_language: str = "en",
                 exclusion_writer: Any = None, **common: Any) -> None:
        super().__init__(exclusion_writer)
        self.overrides = overrides or {}
        self.common = common
        self.default_language = default_language
        self._filters: dict[str, BaseFilter] = {}

    def for_language(self, lang: str) -> BaseFilter:
        key = lang if lang in self.settings or lang in self.overrides else "default"
        if key not in self._filters:
            params = {**self.settings.get(key, self.settings.get("default", {})), **self.common,
                      **self.overrides.get(key, {})}
            tok = FinWordTokenizer(lang)
            f = self.base_cls(language=_NumbersAsWords(tok) if params.pop("numbers_as_words", False) else tok, **params)
            f.stats = self.stats  # line-level stats of the inner filter land in this step's stats
            self._filters[key] = f
        return self._filters[key]

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        lang = doc.metadata.get("language") or self.default_language
        text, tables = protect_tables(doc.text)
        original = doc.text
        doc.text = text
        try:
            result = self.for_language(lang).filter(doc)
        finally:
            doc.text = restore_tables(doc.text, tables) if doc.text != text else original
        return result


class FinGopherQuality(PerLanguageFilter):
    name = "🥇 huijin Gopher quality"
    base_cls = GopherQualityFilter
    settings = {
        "default": {"numbers_as_words": True, "max_non_alpha_words_ratio": 0.8, "min_doc_words": 50,
                    "max_avg_word_length": 12, "max_doc_words": 200_000},
        # per-character tokens: word-length and English stop-word rules do not apply
        "zh": {"min_doc_words": 80, "max_doc_words": 400_000, "min_avg_word_length": None,
               "max_avg_word_length": None, "max_non_alpha_words_ratio": None, "stop_words": ZH_STOP,
               "min_stop_words": 2},
    }


class FinGopherRepetition(PerLanguageFilter):
    name = "👯 huijin Gopher repetition"
    base_cls = GopherRepetitionFilter
    settings = {
        # filings repeat legal boilerplate and table captions: twice the web-prose fractions
        "default": {"dup_line_frac": 0.5, "dup_para_frac": 0.5, "dup_line_char_frac": 0.4, "dup_para_char_frac": 0.4,
                    "top_n_grams": ((2, 0.3), (3, 0.25), (4, 0.2)),
                    "dup_n_grams": ((5, 0.5), (6, 0.48), (7, 0.46), (8, 0.44), (9, 0.42), (10, 0.4))},
        # character n-grams of Chinese repeat far more than word n-grams: fractions scaled up
        "zh": {"dup_line_frac": 0.5, "dup_para_frac": 0.5, "dup_line_char_frac": 0.4, "dup_para_char_frac": 0.4,
               "top_n_grams": ((2, 0.5), (3, 0.4), (4, 0.35)),
               "dup_n_grams": ((5, 0.5), (6, 0.48), (7, 0.46), (8, 0.44), (9, 0.42), (10, 0.4))},
    }


class FinC4Quality(PerLanguageFilter):
    """C4 line rules for prose only: tables are protected, short lines (headings, labels) are kept."""

    name = "⛰ huijin C4 quality"
    base_cls = C4QualityFilter
    settings = {
        "default": {"filter_no_terminal_punct": False, "min_words_per_line": -1, "min_num_sentences": 3,
                    "remove_citations": False, "filter_curly_bracket": False},
        "zh": {"filter_no_terminal_punct": False, "min_words_per_line": -1, "min_num_sentences": 2,
               "remove_citations": False, "filter_curly_bracket": False},
    }


class FinFineWebQuality(PerLanguageFilter):
    name = "🍷 huijin FineWeb quality"
    base_cls = FineWebQualityFilter
    settings = {
        "default": {"line_punct_thr": 0.03, "line_punct_exclude_zero": False, "short_line_thr": 0.9,
                    "char_duplicates_ratio": 0.25, "new_line_ratio": 0.5},
        # news paragraphs often come as one line without a final full stop: the punctuation rule is off
        "zh": {"line_punct_thr": 0.0, "stop_chars": (".", "!", "?", "。", "！", "？", "”", "…", "；"),
               "short_line_thr": 0.8, "char_duplicates_ratio": 0.1, "new_line_ratio": 1.0},
    }


class MinLength(BaseFilter):
    """Drop documents under ``min_chars`` non-space characters (boilerplate-only pages); Chinese and
    Japanese carry several times more per character, so they get ``min_chars_cjk``."""

    name = "📏 huijin min length"

    def __init__(self, min_chars: int = 200, min_chars_cjk: int = 60, exclusion_writer: Any = None) -> None:
        super().__init__(exclusion_writer)
        self.min_chars, self.min_chars_cjk = min_chars, min_chars_cjk

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        n = len(doc.text) - doc.text.count(" ") - doc.text.count("\n")
        limit = self.min_chars_cjk if doc.metadata.get("language") in ("zh", "ja", "ko") else self.min_chars
        return True if n >= limit else (False, "too_short")
