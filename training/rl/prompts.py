"""The RL prompt plan: a snapshot stage's ``rl`` versions × weights → a deterministic order of prompts.

The held-out split and the weighted picking are the sample plan's own (``training.plan.split_and_pick``: one
rule for every stage), on prompts instead of documents. Then, optionally, a difficulty band: training prompts
whose ``difficulty`` (or ``1 - meta["teacher_pass@k"]``) lies outside ``[difficulty_min, difficulty_max]`` are
left out (counted); prompts without either stay. The held-out prompts are never filtered. A resumed run skips
exactly the prompts it consumed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from catalogs import Store

from ..plan import PlanSpec, split_and_pick


@dataclass
class PromptPlan:
    train: list[tuple[int, int]]  # (source index, row index) in training order
    val: list[tuple[int, int]]
    records: list[list[dict[str, Any]]]  # per source, its rows
    dropped: dict[str, int] = field(default_factory=dict)  # training picks left out, by reason

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


def difficulty(rec: dict[str, Any]) -> float | None:
    """The record's difficulty in [0, 1]: its ``difficulty`` column, else ``1 - teacher_pass@k`` from its meta."""
    if rec.get("difficulty") is not None:
        return float(rec["difficulty"])
    meta = rec.get("meta")
    try:
        meta = json.loads(meta) if isinstance(meta, str) and meta else (meta or {})
    except json.JSONDecodeError:
        return None
    p = meta.get("teacher_pass@k") if isinstance(meta, dict) else None
    return None if p is None else 1.0 - float(p)


def build_prompt_plan(spec: PlanSpec, records: list[list[dict[str, Any]]]) -> PromptPlan:
    picks, val, _ = split_and_pick(spec, [len(rows) for rows in records])
    train = [(int(s), int(i)) for s, i in picks.tolist()]
    lo, hi = spec.packing.get("difficulty_min"), spec.packing.get("difficulty_max")
    dropped: dict[str, int] = {}
    if lo is not None or hi is not None:
        kept = []
        for ref in train:
            d = difficulty(records[ref[0]][ref[1]])
            if d is not None and lo is not None and d < float(lo):
                dropped["too_easy"] = dropped.get("too_easy", 0) + 1
            elif d is not None and hi is not None and d > float(hi):
                dropped["too_hard"] = dropped.get("too_hard", 0) + 1
            else:
                kept.append(ref)
        train = kept
    val_refs = [(si, int(i)) for si, v in enumerate(val) for i in v.tolist()]
    return PromptPlan(train, val_refs, records, dropped)
