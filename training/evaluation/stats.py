"""Confidence intervals for evaluation scores: a percentile bootstrap over items.

``scipy.stats.bootstrap`` does the resampling (vectorised); this module only fixes the conventions every
stage metric shares: 95% by default, a fixed seed so a table is reproducible, a weighted mean as the statistic
(bits per byte = Σ bits / Σ bytes is a byte-weighted mean of per-document bpb), and the degenerate cases scipy
refuses (one item, or every item the same: the interval is the point itself).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Estimate:
    value: float | None
    ci: tuple[float, float] | None
    n: int

    def to_dict(self, ndigits: int = 4) -> dict[str, object]:
        def r(x):
            return (None if x is None else round(float(x), ndigits))
        return {"value": r(self.value), "ci": None if self.ci is None else [r(self.ci[0]), r(self.ci[1])],
                "n": self.n}


def estimate_text(v: dict | None, missing: str = "—") -> str:
    """A stored estimate (``{"value", "ci", …}``) as ``0.641 [0.574, 0.703]``: the stage table's cells and the
    training step line's curve points."""
    if not v or v.get("value") is None:
        return missing
    ci = v.get("ci")
    return f"{v['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def weighted_mean(values: Sequence[float], weights: Sequence[float] | None = None) -> float:
    v = np.asarray(values, dtype=float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
    return float((v * w).sum() / w.sum())


def bootstrap_ci(values: Sequence[float], weights: Sequence[float] | None = None, level: float = 0.95,
                 n_resamples: int = 2000, seed: int = 0) -> Estimate:
    """Point estimate (weighted mean) and its percentile-bootstrap interval, resampling items with replacement.

    ``None`` values (unscorable items) are left out and not counted in ``n``."""
    pairs = [(float(v), 1.0 if weights is None else float(w))
             for v, w in zip(values, weights if weights is not None else [1.0] * len(values), strict=True)
             if v is not None and math.isfinite(float(v))]
    if not pairs:
        return Estimate(None, None, 0)
    v = np.array([p[0] for p in pairs])
    w = np.array([p[1] for p in pairs])
    point = weighted_mean(v, w)
    if len(v) < 2 or np.all(v == v[0]):
        return Estimate(point, (point, point), len(v))
    from scipy.stats import bootstrap

    def stat(vals: np.ndarray, wts: np.ndarray, axis: int = -1) -> np.ndarray:
        return (vals * wts).sum(axis=axis) / wts.sum(axis=axis)

    res = bootstrap((v, w), stat, paired=True, vectorized=True, n_resamples=n_resamples, confidence_level=level,
                    method="percentile", rng=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Estimate(point, (min(lo, point), max(hi, point)), len(v))


def disjoint(a: Estimate, b: Estimate) -> bool:
    """True when the two intervals do not overlap (the acceptance test for 'a stage lifted a metric')."""
    if a.ci is None or b.ci is None:
        return False
    return a.ci[1] < b.ci[0] or b.ci[1] < a.ci[0]
