"""The RL prompt plan: a snapshot stage's ``rl`` versions × weights → a deterministic order of prompts.

Same construction as the CPT/SFT sample plan (training/plan.py), on prompts instead of tokens: per source a
seeded permutation with the first ``val_fraction`` held out, weighted up/down-sampling to
``epochs × Σ prompts``, then one seeded shuffle. A resumed run skips exactly the prompts it consumed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from catalogs import Store

from ..plan import PlanSpec


@dataclass
class PromptPlan:
    train: list[tuple[int, int]]  # (source index, row index) in training order
    val: list[tuple[int, int]]
    records: list[list[dict[str, Any]]]  # per source, its rows

    def record(self, ref: tuple[int, int]) -> dict[str, Any]:
        return self.records[ref[0]][ref[1]]


def load_sources(store: Store, spec: PlanSpec) -> list[list[dict[str, Any]]]:
    out = []
    for s in spec.sources:
        if s.get("kind") not in (None, "rl"):
            raise ValueError(f"stage {spec.stage}: {s['dataset']}@{s['version']} is a '{s['kind']}' version, "
                             "RL stages read 'rl' versions")
        out.append(list(store.iter_records(f"{s['dataset']}@{s['version']}")))
    return out


def build_prompt_plan(spec: PlanSpec, records: list[list[dict[str, Any]]]) -> PromptPlan:
    rng = np.random.default_rng(spec.seed)
    train_pool, val = [], []
    for si, rows in enumerate(records):
        perm = rng.permutation(len(rows))
        n_val = int(round(len(rows) * spec.val_fraction)) if len(rows) > 1 else 0
        val += [(si, int(i)) for i in perm[:n_val]]
        train_pool.append([int(i) for i in perm[n_val:]])
    total_w = sum(float(s["weight"]) for s, pool in zip(spec.sources, train_pool, strict=True) if pool) or 1.0
    n_all = sum(len(p) for p in train_pool)
    picks: list[tuple[int, int]] = []
    for si, (s, pool) in enumerate(zip(spec.sources, train_pool, strict=True)):
        if not pool:
            continue
        want = int(round(spec.epochs * n_all * float(s["weight"]) / total_w))
        got: list[int] = []
        while len(got) < want:
            got += [pool[i] for i in rng.permutation(len(pool))]
        picks += [(si, i) for i in got[:want]]
    order = rng.permutation(len(picks))
    return PromptPlan([picks[i] for i in order], val, records)
