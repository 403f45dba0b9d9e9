"""Build a CPT mixture version from catalog doc versions.

Per source: target tokens = share x budget; whole epochs are taken first, then a seeded random subset of
documents up to the remaining target, never more than ``max_epochs`` (the upsampling cap). The selected
(source, row, epoch) entries are shuffled with the recipe's seed, so the same recipe over the same
versions gives the same version (byte for byte, hence the same content hash). Repeated documents keep
their id (stable content hash); ``meta.mix`` records source and epoch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .recipe import MixRecipe, MixtureRecipeError
from .tokens import TokenCounter


@dataclass
class SourceData:
    name: str
    ref: str
    rows: list[dict[str, Any]]
    tokens: np.ndarray

    @property
    def available(self) -> int:
        return int(self.tokens.sum())


def _seed(*parts: Any) -> int:
    import hashlib

    return int(hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:8], 16)


def load_sources(store, recipe: MixRecipe, counter: TokenCounter,
                 progress: Callable[[str], None] = lambda s: None) -> list[SourceData]:
    out = []
    for s in recipe.sources:
        m = store.resolve(s.ref)
        if m.kind != "doc":
            raise MixtureRecipeError(f"source {s.name}: {m.ref} is a '{m.kind}' version; a CPT mixture takes doc versions")
        rows = store.read_table(m).to_pylist()
        if not rows:
            raise MixtureRecipeError(f"source {s.name}: {m.ref} has no documents")
        progress(f"counting tokens of {m.ref} ({len(rows)} docs, {counter.method})")
        counts = []
        for i in range(0, len(rows), 2048):
            counts += counter.count([r["text"] for r in rows[i:i + 2048]])
        out.append(SourceData(s.name, m.ref, rows, np.asarray(counts, dtype=np.int64)))
    return out


def plan_mixture(recipe: MixRecipe, data: list[SourceData]) -> tuple[list[tuple[int, int, int]], list[dict[str, Any]], int]:
    """Selected (source index, row, epoch) entries in final order, the per-source report, the budget."""
    budget = recipe.total_tokens
    if budget is None:  # the largest budget every source fills within its epoch cap
        budget = int(min(s.max_epochs * d.available / s.share for s, d in zip(recipe.sources, data, strict=True)))
    entries: list[tuple[int, int, int]] = []
    report = []
    for si, (s, d) in enumerate(zip(recipe.sources, data, strict=True)):
        target = s.share * budget
        reachable = min(target, s.max_epochs * d.available)
        full = int(reachable // d.available)
        rest = reachable - full * d.available
        rng = np.random.default_rng(_seed(recipe.seed, s.name))
        chosen = 0
        for e in range(full):
            entries += [(si, r, e) for r in range(len(d.rows))]
            chosen += d.available
        if rest > 0:
            order = rng.permutation(len(d.rows))
            cum = np.cumsum(d.tokens[order])
            k = int(np.searchsorted(cum, rest))  # order[:k] stays under the target, order[:k + 1] reaches it
            if k < len(order) and cum[k] - rest < rest - (cum[k - 1] if k else 0):
                k += 1  # whichever ends nearer the target
            entries += [(si, int(r), full) for r in order[:k]]
            chosen += int(cum[k - 1]) if k else 0
        report.append({"source": s.name, "ref": d.ref, "docs": len(d.rows), "available_tokens": d.available,
                       "target_share": s.share, "target_tokens": int(round(target)), "achieved_tokens": chosen,
                       "epochs": round(chosen / d.available, 4), "max_epochs": s.max_epochs,
                       "capped": target > s.max_epochs * d.available + 0.5})
    total = sum(r["achieved_tokens"] for r in report) or 1
    for r in report:
        r["achieved_share"] = round(r["achieved_tokens"] / total, 4)
    perm = np.random.default_rng(_seed(recipe.seed, "shuffle")).permutation(len(entries))
    return [entries[i] for i in perm], report, budget


def build_mixture(store, recipe: MixRecipe, name: str, progress: Callable[[str], None] = lambda s: None,
                  recipe_path: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Write the mixture as a doc version with every source as a parent; returns (manifest, report)."""
    counter = TokenCounter(recipe.tokenizer)
    data = load_sources(store, recipe, counter, progress)
    entries, per_source, budget = plan_mixture(recipe, data)
    achieved = sum(r["achieved_tokens"] for r in per_source)
    used: list[set[int]] = [set() for _ in data]
    for si, ri, _ in entries:
        used[si].add(ri)
    for si, r in enumerate(per_source):  # rows beyond each document's first copy (upsampling)
        r["upsampled_copies"] = sum(1 for e in entries if e[0] == si) - len(used[si])
    report = {"name": name, "budget_tokens": budget, "achieved_tokens": achieved, "documents": len(entries),
              "token_count": counter.method, "seed": recipe.seed, "sources": per_source}
    extra = {"tokens": achieved, "token_count": counter.method, "mixture": report}
    rec = {"op": "mix", "recipe": recipe.to_dict(), "recipe_file": recipe_path}
    progress(f"writing {len(entries)} documents")
    with store.writer(name, kind="doc", parents=[d.ref for d in data], recipe=rec, extra=extra) as w:
        batch = []
        for si, ri, epoch in entries:
            row = dict(data[si].rows[ri])
            meta = json.loads(row["meta"]) if row.get("meta") else {}
            meta["mix"] = {"source": data[si].ref, "epoch": epoch}
            row["meta"] = meta
            if row.get("scores") is not None:
                row["scores"] = dict(row["scores"])
            batch.append(row)
            if len(batch) >= 5000:
                w.write(batch, where=name)
                batch = []
        if batch:
            w.write(batch, where=name)
        # inputs = source documents + upsampled copies = rows (copies included) + documents not sampled
        w.add_inputs(sum(len(d.rows) for d in data) + sum(r["upsampled_copies"] for r in per_source))
        for d, r, u in zip(data, per_source, used, strict=True):
            w.count_drop(f"not_sampled:{r['source']}", len(d.rows) - len(u))
    return w.manifest, report


def budget_hint(recipe: MixRecipe) -> str:
    return "natural (largest within epoch caps)" if recipe.total_tokens is None else f"{recipe.total_tokens:,}"

