"""Scoring with a trained classifier: a datatrove filter step and a plain-records function.

``ClassifierScoreFilter`` adds ``metadata["scores"][name]`` (probability of the positive class) and keeps
a document when that score is at least the threshold of its language (``metadata["language"]``, else
``metadata["lang"]`` or ``metadata["in_lang"]``). The model is loaded lazily, once per worker process (like datatrove's
FastTextClassifierFilter), and documents are predicted in batches (one C++ call per batch).

Recipe use (dotted path): ``curation.classify.step:ClassifierScoreFilter`` with
``{model: path/to/model.ftz, thresholds: {en: 0.5, zh: 0.5}, default_threshold: 0.5}``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from .model import FastTextModel
from .records import record_lang, record_text


def doc_language(metadata: dict[str, Any]) -> str | None:
    """datatrove's ``language``, a ``lang`` field, or ``in_lang`` (a catalog record's lang as the curation
    reader passes it on)."""
    return metadata.get("language") or metadata.get("lang") or metadata.get("in_lang")


def threshold_for(lang: str | None, thresholds: dict[str, float] | None, default: float | None) -> float | None:
    if thresholds and lang in thresholds:
        return float(thresholds[lang])
    return default


class ClassifierScoreFilter(BaseFilter):
    """Score documents with a fastText classifier and filter them by per-language thresholds.

    Args:
        model: ``model.ftz`` path (or its folder, with ``classifier.json``).
        name: score name; default the classifier's own name.
        thresholds: ``{language: min score}``; a language not listed uses ``default_threshold``.
        default_threshold: ``None`` keeps every document whose language has no threshold (annotate only).
        keep_below: invert the rule (keep documents scoring *below* the threshold).
        batch_size: documents per predict call.
        store: store root used when ``model`` is an artifact ref (default ``$HUIJIN_STORE``); the stored
            file is resolved once, here, so workers only need its path.
    """

    name = "🤖 huijin classifier score"
    _requires_dependencies = [("fasttext", "fasttext-numpy2-wheel")]

    def __init__(self, model: str, name: str | None = None, thresholds: dict[str, float] | None = None,
                 default_threshold: float | None = None, keep_below: bool = False, batch_size: int = 256,
                 store: str | None = None, exclusion_writer: DiskWriter | None = None) -> None:
        super().__init__(exclusion_writer, batch_size=batch_size)
        from .model import resolve_model_path

        self.classifier = FastTextModel(resolve_model_path(model, _store_for(model, store)), name)
        self.score_name = self.classifier.name
        self.thresholds = dict(thresholds or {})
        self.default_threshold = default_threshold
        self.keep_below = keep_below

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        probs = self.classifier.predict_proba([d.text for d in batch])
        out: list[bool | tuple[bool, str]] = []
        for doc, p in zip(batch, probs, strict=True):
            scores = doc.metadata.get("scores")
            if not isinstance(scores, dict):
                scores = dict(scores or {})
                doc.metadata["scores"] = scores
            scores[self.score_name] = float(p)
            lang = doc_language(doc.metadata)
            if lang is None and (self.thresholds or self.default_threshold is not None):
                self.stat_update("no_language")
            t = threshold_for(lang, self.thresholds, self.default_threshold)
            if t is None or ((p < t) if self.keep_below else (p >= t)):
                out.append(True)
            else:
                out.append((False, f"{self.score_name}_{'above' if self.keep_below else 'below'}_threshold"))
        return out


def _store_for(model: str, store: str | None):
    """A store only when ``model`` is not a file or folder (i.e. an artifact ref such as ``fin-domain@1``)."""
    from pathlib import Path

    if Path(model).exists():
        return None
    import os

    from catalogs import Store

    return Store.open(store or os.environ.get("HUIJIN_STORE") or "./huijin-store", create=False)


def score_records(records: Iterable[tuple[str, dict[str, Any]]], model: FastTextModel, batch_size: int = 512,
                  thresholds: dict[str, float] | None = None, default_threshold: float | None = None,
                  counts: Counter | None = None) -> Iterator[dict[str, Any]]:
    """Yield every record with ``scores[<name>]`` added; with thresholds, those below are counted and
    skipped (``counts["dropped_below_threshold"]``), so input = kept + dropped."""
    counts = counts if counts is not None else Counter()
    batch: list[tuple[str, dict[str, Any]]] = []

    def flush() -> Iterator[dict[str, Any]]:
        probs = model.predict_proba([record_text(r, w) for w, r in batch])
        for (_, rec), p in zip(batch, probs, strict=True):
            counts["input"] += 1
            scores = rec.get("scores")
            scores = dict(scores) if scores else {}  # Arrow maps arrive as [(key, value)] lists
            scores[model.name] = round(float(p), 6)
            rec["scores"] = scores
            if thresholds or default_threshold is not None:
                t = threshold_for(record_lang(rec), thresholds, default_threshold)
                if t is not None and p < t:
                    counts["dropped_below_threshold"] += 1
                    continue
            counts["kept"] += 1
            yield rec

    for item in records:
        batch.append(item)
        if len(batch) >= batch_size:
            yield from flush()
            batch = []
    if batch:
        yield from flush()
