"""Raw inputs: the files and folders (not catalog versions) a version was made from, as its recipe names them.

Versions record their catalog parents in ``lineage``; files they read (pages, a WARC, a benchmark JSON) are only
in the recipe (``inputs``, ``files`` or ``input``). ``lineage_with_raw`` puts both in one list, so ``catalog
lineage`` reaches the raw input the demo's tree shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .manifest import Manifest

if TYPE_CHECKING:
    from .store import Store


def raw_inputs(m: Manifest) -> list[str]:
    """Files and folders in the recipe's ``inputs`` / ``files`` / ``input`` (catalog refs are parents, not raw)."""
    out: list[str] = []
    for key in ("inputs", "files", "input"):
        v = (m.recipe or {}).get(key)
        for item in v if isinstance(v, list) else [v] if v else []:
            s = str(item)
            if s.startswith("catalog:") or ("/" not in s and ("@" in s or "." not in Path(s).name)):
                continue  # a version (name@N, a bare name): already a parent
            if s not in out:
                out.append(s)
    return out


def lineage_with_raw(store: Store, ref: str) -> list[dict[str, Any]]:
    """``store.lineage(ref)`` plus one ``kind: raw`` row per raw input of the version and of each ancestor
    (``depth`` one below the version that read it)."""
    rows = store.lineage(ref)
    m = store.resolve(ref)
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for depth, node in [(0, m), *((r["depth"], store.resolve(f"{r['name']}@{r['version']}")) for r in rows)]:
        for f in raw_inputs(node):
            if f not in seen:
                seen.add(f)
                out.append({"depth": depth + 1, "name": f, "version": None, "child": node.ref, "kind": "raw",
                            "rows": None, "hash": None})
    return sorted(rows + out, key=lambda r: (r["depth"], r["kind"] == "raw", str(r["name"])))
