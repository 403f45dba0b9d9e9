"""Scoring a file or a version with a classifier: scored (and optionally thresholded) rows, and the version
written from them. ``huijin curate classify`` and the mixture chain both call these."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from .model import FastTextModel, resolve_model_path
from .records import iter_source, parse_source, write_version
from .step import score_records


def classify_source(model: str, source: str, store=None, thresholds: dict[str, float] | None = None,
                    default_threshold: float | None = None, score_name: str | None = None,
                    wrap: Callable[[Iterable], Iterable] | None = None) -> tuple[FastTextModel, list[dict], Counter]:
    """Score every record of ``source`` (a JSONL/Parquet file or a catalog ref): ``(classifier, kept rows,
    counts)``; below-threshold records are dropped and counted. ``wrap`` wraps the record stream (progress)."""
    clf = FastTextModel(resolve_model_path(model, store), score_name)
    records = iter_source(source, store)
    counts: Counter = Counter()
    rows = list(score_records(wrap(records) if wrap else records, clf, thresholds=thresholds,
                              default_threshold=default_threshold, counts=counts))
    return clf, rows, counts


def write_scored_version(store, name: str, source: str, model: str, clf: FastTextModel, rows: list[dict],
                         counts: Counter, thresholds: Any = None, default_threshold: float | None = None,
                         recipe: dict[str, Any] | None = None):
    """The scored rows as a version of the input's kind (a file input: ``doc``, named in the recipe; a
    version input: its parent; sft/rl scores go into ``meta``)."""
    if parse_source(source).is_file:
        kind, parents = "doc", []
    else:
        src = store.resolve(source)
        kind, parents = src.kind, [src.ref]
    rec = {"op": "classify", "model": model, "score": clf.name, "thresholds": thresholds or {},
           "default_threshold": default_threshold, **(recipe or {})}
    return write_version(store, name, kind, rows, parents, rec,
                         {f"{clf.name}_below_threshold": counts["dropped_below_threshold"]}, counts["input"])


def classify_version(store, model: str, ref: str, name: str, thresholds: dict[str, float] | None = None,
                     default_threshold: float | None = None, score_name: str | None = None) -> tuple[Any, Counter]:
    """Score every record of ``ref``; below-threshold records are dropped and counted. Parent: ``ref``."""
    ref = store.resolve(ref).ref
    clf, rows, counts = classify_source(model, ref, store, thresholds, default_threshold, score_name)
    return write_scored_version(store, name, ref, model, clf, rows, counts, thresholds, default_threshold), counts
