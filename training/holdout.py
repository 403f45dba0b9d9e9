"""Held-out splits as catalog versions: ``demo-rl@1`` → ``demo-rl-train@1`` + ``demo-rl-heldout@1``.

Evaluation must score items no stage trained on. Splitting *before* the snapshot makes that structural: the
snapshot pins only ``*-train`` versions, the evaluation reads only ``*-heldout`` versions, and both are versions
with lineage, so "which items were held out of this run" is a catalog query. An item goes to the held-out side
when a seeded hash of its ``id`` falls below ``fraction`` — stable under reordering, reruns and appended data
(an item never changes side), unlike a permutation of row numbers.

The split key can group items: ``key="meta.context_id|id"`` keeps every question about one table on one side
(so a held-out table is never seen in training through a sibling question), and an ``sft`` version split by
``meta.rl_id`` follows the ``rl`` version it was derived from.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any

from catalogs import Manifest, Store

SPLITTABLE = ("doc", "sft", "rl", "pref")


class HoldoutError(ValueError):
    pass


def held_out(item_id: str, fraction: float, seed: int = 0) -> bool:
    h = hashlib.blake2b(f"{seed}:{item_id}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64 < fraction


def split_holdout(store: Store, ref: str, fraction: float, seed: int = 0, train_name: str | None = None,
                  eval_name: str | None = None, max_eval: int | None = None,
                  key: str = "id") -> tuple[Manifest, Manifest]:
    """Write the training and the held-out part of ``ref`` as two versions (reruns reuse them).

    ``max_eval`` caps the held-out side (the rest of the would-be held-out items go back to training), so a
    large source gives an evaluation set of bounded cost."""
    if not 0 < fraction < 1:
        raise HoldoutError(f"{ref}: held-out fraction must be in (0, 1), got {fraction}")
    src = store.resolve(ref)
    if src.kind not in SPLITTABLE:
        raise HoldoutError(f"{src.ref} is a '{src.kind}' version: held-out splits take {', '.join(SPLITTABLE)}")
    rows = list(store.iter_records(src.ref))
    ids = [split_key(r, key, f"{src.ref} row {i}") for i, r in enumerate(rows)]
    if key == "id" and len(set(ids)) != len(ids):
        raise HoldoutError(f"{src.ref}: ids are not unique, so a split by id would leak duplicates across sides")
    side = [held_out(i, fraction, seed) for i in ids]
    if max_eval is not None and sum(side) > max_eval:
        sizes = Counter(ids)
        groups = sorted({ids[i] for i, s in enumerate(side) if s})  # whole groups, in a stable order
        chosen: set[str] = set()
        n = 0
        for g in groups:
            size = sizes[g]
            if n + size > max_eval and chosen:
                break
            chosen.add(g)
            n += size
        side = [i in chosen for i in ids]
    recipe: dict[str, Any] = {"op": "holdout", "source": src.ref, "source_hash": src.hash, "fraction": fraction,
                              "seed": seed, "max_eval": max_eval, "key": key}
    out = []
    for name, want in ((train_name or f"{src.name}-train", False), (eval_name or f"{src.name}-heldout", True)):
        with store.writer(name, src.kind, parents=[src.ref], recipe={**recipe, "side": "heldout" if want else "train"}) as w:
            w.add_inputs(len(rows))
            w.write([r for r, s in zip(rows, side, strict=True) if s == want], where=src.ref)
            w.count_drop("held_out" if not want else "training_split", sum(1 for s in side if s != want))
        out.append(w.manifest)
    return out[0], out[1]


def split_key(record: dict[str, Any], key: str, where: str) -> str:
    """The value a record is split by: ``a|b`` tries ``a`` then ``b``; ``meta.x`` reads the JSON ``meta``."""
    for k in key.split("|"):
        obj: Any = record
        for part in k.split("."):
            if isinstance(obj, str) and part != k:
                try:
                    obj = json.loads(obj)
                except json.JSONDecodeError:
                    obj = None
            obj = obj.get(part) if isinstance(obj, dict) else None
        if obj not in (None, ""):
            return str(obj)
    raise HoldoutError(f"{where}: no value for split key {key!r}")
