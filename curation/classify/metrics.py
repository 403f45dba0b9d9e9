"""Binary-classification metrics for the evaluation report (scikit-learn is not a dependency, and these
are a few lines of numpy): precision, recall, F1, ROC-AUC, confusion matrix, best-F1 threshold."""

from __future__ import annotations

from typing import Any

import numpy as np


def roc_auc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Mann-Whitney form of ROC-AUC with average ranks for ties; None when a class is absent."""
    y = np.asarray(y, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(p, kind="mergesort")
    ranks = np.empty(len(p))
    sp = np.asarray(p)[order]
    i = 0
    while i < len(sp):  # average ranks over ties
        j = i
        while j + 1 < len(sp) and sp[j + 1] == sp[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_report(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    y = np.asarray(y, dtype=bool)
    pred = np.asarray(p) >= threshold
    tp = int((pred & y).sum())
    fp = int((pred & ~y).sum())
    fn = int((~pred & y).sum())
    tn = int((~pred & ~y).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "n": int(len(y)), "positives": int(y.sum()), "threshold": threshold,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "accuracy": round((tp + tn) / len(y), 4) if len(y) else 0.0,
        "roc_auc": None if (a := roc_auc(y, p)) is None else round(a, 4),
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
    }


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold (on a 0.05 grid) with the highest F1; 0.5 when there is nothing to choose from."""
    y = np.asarray(y, dtype=bool)
    if y.all() or not y.any():
        return 0.5
    grid = np.round(np.arange(0.05, 0.96, 0.05), 2)
    f1s = [binary_report(y, p, float(t))["f1"] for t in grid]
    best = max(f1s)
    # among ties prefer the threshold nearest 0.5 (most stable)
    return float(min((t for t, f in zip(grid, f1s, strict=True) if f == best), key=lambda t: abs(t - 0.5)))
