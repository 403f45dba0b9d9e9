"""Coverage of a version by taxonomy leaf: a read-only SQL query over the version's rows.

``doc`` versions carry their label in ``meta.taxonomy`` (the doc kind has no taxonomy column); ``sft``/``rl``
versions in the ``taxonomy`` column. Leaves with no row are listed with 0 so gaps are visible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import Taxonomy, load_taxonomy

if TYPE_CHECKING:
    from catalogs import Store

UNLABELLED = "(unlabelled)"


def coverage_sql(ref: str, kind: str) -> str:
    col = "json_extract_string(meta, '$.taxonomy')" if kind == "doc" else "taxonomy"
    return f"SELECT coalesce({col}, '{UNLABELLED}') AS leaf, count(*) AS n FROM rows('{ref}') GROUP BY 1 ORDER BY 1"


def coverage(store: Store, ref: str, taxonomy: Taxonomy | None = None, depth: int = 3) -> list[dict[str, Any]]:
    """Rows per taxonomy node at ``depth`` (1 scenario, 2 capability, 3 leaf), zeros included."""
    from catalogs import query

    taxonomy = taxonomy or load_taxonomy()
    m = store.resolve(ref)
    if m.kind not in ("doc", "sft", "rl"):
        raise ValueError(f"{m.ref} is a '{m.kind}' version: it has no records to count")
    _, rows = query(store, coverage_sql(m.ref, m.kind))
    counts: dict[str, int] = {}
    unknown = 0
    for leaf, n in rows:
        if leaf == UNLABELLED:
            counts[UNLABELLED] = counts.get(UNLABELLED, 0) + n
        elif leaf in taxonomy.leaves:
            key = taxonomy.level(leaf, depth)
            counts[key] = counts.get(key, 0) + n
        else:
            unknown += n
    nodes = sorted({taxonomy.level(p, depth) for p in taxonomy.leaves})
    total = max(1, m.rows)
    out = [{"node": k, "rows": counts.get(k, 0), "share": round(counts.get(k, 0) / total, 4)} for k in nodes]
    if counts.get(UNLABELLED):
        out.append({"node": UNLABELLED, "rows": counts[UNLABELLED], "share": round(counts[UNLABELLED] / total, 4)})
    if unknown:
        out.append({"node": "(not in taxonomy)", "rows": unknown, "share": round(unknown / total, 4)})
    return out
