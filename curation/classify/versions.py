"""Catalog-to-catalog scoring: a doc version in, a scored (and optionally thresholded) doc version out."""

from __future__ import annotations

from collections import Counter
from typing import Any

from .model import FastTextModel, resolve_model_path
from .records import iter_source, write_version
from .step import score_records


def classify_version(store, model: str, ref: str, name: str, thresholds: dict[str, float] | None = None,
                     default_threshold: float | None = None, score_name: str | None = None) -> tuple[Any, Counter]:
    """Score every record of ``ref``; below-threshold records are dropped and counted. Parent: ``ref``."""
    clf = FastTextModel(resolve_model_path(model, store), score_name)
    src = store.resolve(ref)
    counts: Counter = Counter()
    rows = list(score_records(iter_source(src.ref, store), clf, thresholds=thresholds,
                              default_threshold=default_threshold, counts=counts))
    recipe = {"op": "classify", "model": model, "score": clf.name, "thresholds": thresholds or {},
              "default_threshold": default_threshold}
    m = write_version(store, name, "doc", rows, [src.ref], recipe,
                      {f"{clf.name}_below_threshold": counts["dropped_below_threshold"]}, counts["input"])
    return m, counts
