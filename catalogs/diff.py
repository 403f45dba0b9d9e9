"""What changed between two versions (``huijin catalog diff A B``): schema, rows/tokens/bytes, statistics
(language, taxonomy, …), drops and quarantine by reason, the recipe (key by key) and the parents.

Everything comes from the two manifests: no rows are read, so a diff of two large versions is instant.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import Store


def diff_versions(store: Store, a: str, b: str) -> dict[str, Any]:
    """The differences between versions ``a`` and ``b`` (any refs: ``name@N``, ``name``)."""
    ma, mb = store.resolve(a), store.resolve(b)
    sa = {c["name"]: c["type"] for c in ma.schema}
    sb = {c["name"]: c["type"] for c in mb.schema}
    schema = ([{"column": c, "change": "added", "a": None, "b": sb[c]} for c in sb if c not in sa]
              + [{"column": c, "change": "removed", "a": sa[c], "b": None} for c in sa if c not in sb]
              + [{"column": c, "change": "type", "a": sa[c], "b": sb[c]} for c in sa if c in sb and sa[c] != sb[c]])
    sizes = [{"field": f, "a": getattr(ma, f), "b": getattr(mb, f), "delta": _delta(getattr(ma, f), getattr(mb, f))}
             for f in ("rows", "tokens", "bytes", "inputs", "dropped", "n_quarantined")]
    sizes.append({"field": "shards", "a": len(ma.shards), "b": len(mb.shards), "delta": len(mb.shards) - len(ma.shards)})
    stats = {name: _counts(ma.stats.get(name, {}), mb.stats.get(name, {}))
             for name in sorted(set(ma.stats) | set(mb.stats))}
    return {
        "a": ma.ref, "b": mb.ref, "kind": {"a": ma.kind, "b": mb.kind}, "same_content": ma.hash == mb.hash,
        "hash": {"a": ma.hash, "b": mb.hash}, "schema": schema, "sizes": sizes,
        "drops": _counts(ma.drops, mb.drops), "quarantined": _counts(ma.quarantined, mb.quarantined),
        "stats": {k: v for k, v in stats.items() if v},
        "recipe": recipe_changes(ma.recipe, mb.recipe),
        "recipe_hash": {"a": ma.recipe_hash, "b": mb.recipe_hash},
        "parents": {"a": [f"{p['name']}@{p['version']}" for p in ma.parents],
                    "b": [f"{p['name']}@{p['version']}" for p in mb.parents]},
        "code_version": {"a": ma.code_version, "b": mb.code_version},
    }


def recipe_changes(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Key paths (``generate.per_table``) whose value differs, was added or was removed."""
    fa, fb = _flatten(a), _flatten(b)
    out = []
    for k in sorted(set(fa) | set(fb)):
        if k not in fa:
            out.append({"key": k, "change": "added", "a": None, "b": fb[k]})
        elif k not in fb:
            out.append({"key": k, "change": "removed", "a": fa[k], "b": None})
        elif fa[k] != fb[k]:
            out.append({"key": k, "change": "changed", "a": fa[k], "b": fb[k]})
    return out


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict) and d:
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix or "(recipe)": json.dumps(d, sort_keys=True, default=str) if isinstance(d, (list, dict)) else d}


def _counts(a: dict[str, int], b: dict[str, int]) -> list[dict[str, Any]]:
    """Keys whose count differs: a, b and b - a (a key absent on one side counts 0 there)."""
    return [{"key": k, "a": a.get(k, 0), "b": b.get(k, 0), "delta": b.get(k, 0) - a.get(k, 0)}
            for k in sorted(set(a) | set(b)) if a.get(k, 0) != b.get(k, 0)]


def _delta(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else b - a
