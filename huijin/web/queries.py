"""What the catalog viewer shows, as plain data: every SQL goes through ``catalogs.sql.run_query`` (a read-only
copy of the catalog, the DuckDB sandbox confined to the store, a row and a time limit); manifests, snapshot and
run files are read through the ``Store`` API, which never writes when opened with ``create=False``.

The pages (``app.py``) only format what these functions return, so the numbers a page shows are the catalog's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from catalogs.manifest import Manifest

# every query the viewer runs is bounded: catalog queries are small, the user's search box gets its own limits
META_TIMEOUT_S, META_MAX_ROWS = 10.0, 5_000
SEARCH_TIMEOUT_S, SEARCH_MAX_ROWS = 10.0, 200
PAGE_SIZE = 10
SORTS = {"time": "created_at DESC, name, version DESC", "rows": "rows DESC NULLS LAST, name, version",
         "name": "name, version"}


class Catalog:
    """One store, opened read-only (a missing store is an error, never created)."""

    def __init__(self, root: str | Path) -> None:
        from catalogs import Store

        self.store = Store.open(root, create=False)
        self.root = self.store.root

    # -- plumbing ---------------------------------------------------------------------------------
    def sql(self, sql: str, params: list[Any] | None = None, *, max_rows: int = META_MAX_ROWS,
            timeout_s: float = META_TIMEOUT_S) -> list[dict[str, Any]]:
        from catalogs.sql import run_query

        r = run_query(self.store, sql, params, timeout_s=timeout_s, max_rows=max_rows)
        return [dict(zip(r.columns, row, strict=True)) for row in r.rows]

    def search(self, sql: str) -> dict[str, Any]:
        """The search box: the user's read-only SQL (``rows('name@N')`` allowed) within the search limits."""
        from catalogs.sql import run_query

        r = run_query(self.store, sql, timeout_s=SEARCH_TIMEOUT_S, max_rows=SEARCH_MAX_ROWS)
        return {"columns": r.columns, "rows": [[_cell(v) for v in row] for row in r.rows], "truncated": r.truncated,
                "seconds": round(r.seconds, 3), "max_rows": SEARCH_MAX_ROWS}

    # -- versions ---------------------------------------------------------------------------------
    def versions(self, kind: str | None = None, name: str | None = None, parent: str | None = None,
                 sort: str = "time") -> list[dict[str, Any]]:
        """Versions filtered by kind, a name substring and a direct parent (``name`` or ``name@N``)."""
        where, params = ["1=1"], []
        if kind:
            where.append("v.kind = ?")
            params.append(kind)
        if name:
            where.append("v.name ILIKE ?")
            params.append(f"%{name}%")
        if parent:
            pname, _, pver = parent.partition("@")
            where.append("EXISTS (SELECT 1 FROM lineage l WHERE l.name = v.name AND l.version = v.version "
                         "AND l.parent_name = ? AND (? IS NULL OR l.parent_version = ?))")
            pv = int(pver) if pver.isdigit() else None
            params += [pname, pv, pv]
        order = SORTS.get(sort, SORTS["time"])
        rows = self.sql(
            "SELECT v.name, v.version, v.kind, v.hash, v.rows, v.tokens, v.inputs, v.dropped, v.quarantined, "
            "v.n_shards AS shards, v.bytes, v.created_at, "
            "(SELECT string_agg(l.parent_name || '@' || l.parent_version, ', ' ORDER BY l.parent_name) "
            " FROM lineage l WHERE l.name = v.name AND l.version = v.version) AS parents "
            f"FROM versions v WHERE {' AND '.join(where)} ORDER BY {order}", params)
        return rows

    def kinds(self) -> list[str]:
        return [r["kind"] for r in self.sql("SELECT DISTINCT kind FROM versions ORDER BY kind")]

    def version(self, ref: str) -> dict[str, Any]:
        """A version's manifest, its drop funnel, distributions, parents and children."""
        m = self.store.resolve(ref)
        children = self.sql("SELECT name, version FROM lineage WHERE parent_name = ? AND parent_version = ? "
                            "ORDER BY name, version", [m.name, m.version])
        snapshots = self.sql("SELECT DISTINCT snapshot, stage, weight FROM snapshot_entries WHERE dataset = ? AND "
                             "version = ? ORDER BY snapshot, stage", [m.name, m.version])
        return {"m": m, "funnel": funnel(m), "children": children, "snapshots": snapshots,
                "path": str(self.store.path_of(m).relative_to(self.root)),
                "distributions": {k: sorted(v.items(), key=lambda kv: (-kv[1], kv[0])) for k, v in m.stats.items()
                                  if k in ("lang", "taxonomy") and v},
                "other_stats": {k: sorted(v.items(), key=lambda kv: (-kv[1], kv[0])) for k, v in m.stats.items()
                                if k not in ("lang", "taxonomy") and v}}

    def _manifest(self, ref: str | Manifest) -> Manifest:
        # the version page resolves its ref once and hands the manifest to each section
        return ref if isinstance(ref, Manifest) else self.store.resolve(ref)

    def samples(self, ref: str | Manifest, page: int = 1, contains: str | None = None) -> dict[str, Any]:
        """One page of a version's rows (full text), optionally only rows whose text contains a string."""
        m = self._manifest(ref)
        from catalogs import SCHEMAS

        if m.kind not in SCHEMAS or not m.shards:
            return {"rows": [], "page": 1, "pages": 0, "total": 0, "kind": m.kind}
        page = max(1, page)
        where, params = "", []
        if contains:
            cols = [f.name for f in SCHEMAS[m.kind] if f.name in TEXT_COLUMNS]
            where = "WHERE " + " OR ".join(f"CAST({c} AS VARCHAR) ILIKE ?" for c in cols)
            params = [f"%{contains}%"] * len(cols)
        src = f"rows('{m.ref}')"
        total = self.sql(f"SELECT count(*) AS n FROM {src} {where}", params)[0]["n"]
        rows = self.sql(f"SELECT * FROM {src} {where} LIMIT {PAGE_SIZE} OFFSET {(page - 1) * PAGE_SIZE}", params,
                        max_rows=PAGE_SIZE)
        return {"rows": [record_view(r) for r in rows], "page": page, "pages": -(-total // PAGE_SIZE),
                "total": total, "kind": m.kind}

    def dropped(self, ref: str | Manifest, per_reason: int = 3) -> list[dict[str, Any]]:
        """Dropped documents a curation run kept as examples (``excluded/*.parquet``: key = step:reason, file,
        offset, chars, text cut to 4 KB), a few per key, beside the manifest's count of that key."""
        m = self._manifest(ref)
        edir = self.store.path_of(m) / "excluded"
        files = sorted(edir.glob("*.parquet")) if edir.is_dir() else []
        if not files:
            return []
        lst = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
        rows = self.sql(f"SELECT * FROM (SELECT *, row_number() OVER (PARTITION BY key ORDER BY file, \"offset\") AS i "
                        f"FROM read_parquet([{lst}], union_by_name = true)) WHERE i <= {int(per_reason)} "
                        "ORDER BY key, i", max_rows=per_reason * 500)
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            r.pop("i", None)
            groups.setdefault(str(r.get("key")), []).append({k: _cell(v) for k, v in r.items()})
        return [{"key": k, "count": m.drops.get(k), "samples": v} for k, v in groups.items()]

    def quarantine(self, ref: str | Manifest, per_reason: int = 3) -> list[dict[str, Any]]:
        """Quarantined records of a version grouped by reason (a few samples of each)."""
        m = self._manifest(ref)
        qdir = self.store.path_of(m) / "quarantine"
        files = sorted(qdir.glob("*.parquet")) if qdir.is_dir() else []
        if not files:
            return []
        lst = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
        # the first few records of every reason class (the writer's manifest count: "invalid JSON (…)" → "invalid
        # JSON"), so one class with many records hides none of the others; columns: catalogs.writer's QUARANTINE_SCHEMA
        key = "split_part(split_part(coalesce(nullif(reason, ''), '?'), ' (', 1), ':', 1)"
        rows = self.sql(f"SELECT * FROM (SELECT *, {key} AS _class, row_number() OVER (PARTITION BY {key} "
                        f"ORDER BY file, \"offset\") AS _i FROM read_parquet([{lst}], union_by_name = true)) "
                        f"WHERE _i <= {int(per_reason)} ORDER BY _class, _i", max_rows=per_reason * 500)
        groups: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            cls = str(r.pop("_class"))
            r.pop("_i")
            groups.setdefault(cls, []).append({k: _cell(v) for k, v in r.items()})
        return [{"reason": k, "samples": v} for k, v in groups.items()]

    # -- lineage ----------------------------------------------------------------------------------
    def graph(self) -> dict[str, Any]:
        """The whole chain as a DAG: versions (raw imports first) → snapshots → runs → checkpoints."""
        versions = self.sql("SELECT name, version, kind, rows FROM versions ORDER BY name, version")
        edges = [(f"v:{r['parent_name']}@{r['parent_version']}", f"v:{r['name']}@{r['version']}")
                 for r in self.sql("SELECT * FROM lineage ORDER BY name, version, parent_name")]
        nodes = {f"v:{v['name']}@{v['version']}": {"kind": v["kind"], "label": f"{v['name']}@{v['version']}",
                                                    "sub": f"{v['kind']} · {v['rows']} rows",
                                                    "href": f"/v/{v['name']}@{v['version']}"} for v in versions}
        for s in self.sql("SELECT snapshot, dataset, version FROM snapshot_entries ORDER BY snapshot"):
            sid = f"s:{s['snapshot']}"
            nodes.setdefault(sid, {"kind": "snapshot", "label": s["snapshot"], "sub": "snapshot",
                                   "href": f"/snapshots/{s['snapshot']}"})
            edges.append((f"v:{s['dataset']}@{s['version']}", sid))
        for r in self.sql("SELECT run_id, snapshot, stage, status, input_model, output_model FROM runs "
                          "ORDER BY started_at, run_id"):
            rid = f"r:{r['run_id']}"
            nodes[rid] = {"kind": "run", "label": r["stage"] or r["run_id"], "sub": f"run · {r['status']}",
                          "href": f"/runs/{r['run_id']}"}
            if r["snapshot"]:
                edges.append((f"s:{r['snapshot']}", rid))
            if r["input_model"]:
                src = f"m:{r['input_model']}"
                nodes.setdefault(src, {"kind": "model", "label": model_label(r["input_model"]), "sub": "model",
                                       "href": None})
                edges.append((src, rid))
            if r["output_model"]:
                dst = f"m:{r['output_model']}"
                nodes[dst] = {"kind": "checkpoint", "label": model_label(r["output_model"]),
                              "sub": f"checkpoint of {r['stage']}", "href": f"/runs/{r['run_id']}"}
                edges.append((rid, dst))
        edges = [(a, b) for a, b in dict.fromkeys(edges) if a in nodes and b in nodes]
        return {"nodes": nodes, "edges": edges}

    # -- snapshots and runs -----------------------------------------------------------------------
    def snapshots(self) -> list[dict[str, Any]]:
        return self.sql("SELECT s.name, s.hash, s.created_at, s.tokenizer, count(e.dataset) AS entries, "
                        "string_agg(DISTINCT e.stage, ', ') AS stages FROM snapshots s LEFT JOIN snapshot_entries e "
                        "ON e.snapshot = s.name GROUP BY ALL ORDER BY s.created_at DESC")

    def snapshot(self, name: str) -> dict[str, Any]:
        spec = self.store.snapshots.show(name)
        runs = self.sql("SELECT run_id, stage, status, started_at FROM runs WHERE snapshot = ? "
                        "ORDER BY started_at", [name])
        return {"spec": spec, "runs": runs}

    def runs(self) -> list[dict[str, Any]]:
        rows = self.sql("SELECT run_id, snapshot, stage, status, input_model, output_model, started_at, ended_at, "
                        "metrics FROM runs ORDER BY started_at, run_id")
        for r in rows:
            met = json.loads(r.pop("metrics") or "{}")
            r.update(steps=met.get("steps"), final_loss=met.get("final_loss"), reward_mean=met.get("reward_mean"),
                     evals=", ".join(sorted(met.get("eval") or {})))
        return rows

    def run(self, run_id: str) -> dict[str, Any]:
        """A run record, its per-step history (the metrics.jsonl beside its output model) and the stage
        ablation of its snapshot (scores and stage metrics with confidence intervals)."""
        rec = self.store.runs.get(run_id)
        history = run_history(rec)
        series = curves(history)
        out: dict[str, Any] = {"rec": rec, "series": series, "steps_logged": len(history),
                               "ablation": None, "stage_table": None}
        snap = rec.get("snapshot")
        if snap:
            out.update(snapshot_ablation(self, snap))
        return out

    # -- taxonomy ---------------------------------------------------------------------------------
    def taxonomy(self) -> dict[str, Any]:
        """Coverage heat map data: taxonomy leaves × versions (rows per leaf, from the manifests' stats)."""
        rows = self.sql("SELECT name || '@' || version AS ref, key AS leaf, value FROM stats WHERE stat = 'taxonomy' "
                        "ORDER BY name, version, key")
        versions = list(dict.fromkeys(r["ref"] for r in rows))
        seen = {r["leaf"] for r in rows}
        known = taxonomy_leaves()
        cells = {(r["leaf"], r["ref"]): int(r["value"]) for r in rows}
        top = max(cells.values(), default=0)
        return {"versions": versions, "leaves": sorted(set(known) | seen), "cells": cells, "max": top,
                "unknown": sorted(seen - set(known)), "covered": len(seen & set(known)), "known": len(known),
                "totals": {v: sum(n for (_, ref), n in cells.items() if ref == v) for v in versions}}


TEXT_COLUMNS = ("text", "messages", "prompt", "chosen", "rejected", "reward_spec", "meta", "id", "source", "taxonomy")


def taxonomy_leaves() -> list[str]:
    """Every leaf of the financial task taxonomy (synthesis/taxonomy/taxonomy.yaml): the heat map's rows, so
    uncovered leaves show as gaps; none when it cannot be read."""
    try:
        from synthesis.taxonomy.model import load_taxonomy

        return list(load_taxonomy().leaves)
    except Exception:  # the viewer still works without the taxonomy file
        return []


def funnel(m: Any) -> list[dict[str, Any]]:
    """inputs → each drop reason → quarantined → kept, in the manifest's own numbers."""
    steps = []
    if m.inputs is not None:
        steps.append({"stage": "inputs", "n": m.inputs, "kind": "in"})
    for reason, n in sorted(m.drops.items(), key=lambda kv: -kv[1]):
        steps.append({"stage": f"dropped: {reason}", "n": n, "kind": "drop", "reason": reason})
    for reason, n in sorted(m.quarantined.items(), key=lambda kv: -kv[1]):
        steps.append({"stage": f"quarantined: {reason}", "n": n, "kind": "quarantine", "reason": reason})
    steps.append({"stage": "kept", "n": m.rows, "kind": "kept"})
    return steps


def model_label(path: str) -> str:
    """…/<stage>/model → <stage>; …/base → base."""
    p = Path(path)
    return p.parent.name if p.name == "model" else p.name


def run_history(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The per-step lines the trainer wrote beside the output model (absent when the run never got there)."""
    out = rec.get("output_model")
    if not out:
        return []
    path = Path(out).parent / "metrics.jsonl"
    if not path.is_file():
        return []
    from training.launch import read_history

    return read_history(path)


CURVE_KEYS = ("loss", "reward_mean", "lr", "reward_std", "gnorm", "kl")


def curves(history: list[dict[str, Any]]) -> dict[str, Any]:
    """x = step, one series per metric the history has (loss, reward, lr, …) for uPlot."""
    if not history:
        return {}
    xs = [h.get("step", i) for i, h in enumerate(history)]
    series = {k: [_num(h.get(k)) for h in history] for k in CURVE_KEYS if any(_num(h.get(k)) is not None
                                                                              for h in history)}
    return {"step": xs, **series}


def snapshot_ablation(cat: Catalog, snapshot: str) -> dict[str, Any]:
    """The ablation table (eval scores per stage) and the stage metrics with CIs, from training's one
    implementation (``training.evaluation.record``), for the completed runs of a snapshot."""
    from training.evaluation.record import ablation, stage_rows, stage_table

    done = [r["run_id"] for r in cat.sql("SELECT run_id FROM runs WHERE snapshot = ? AND status = 'completed' "
                                         "ORDER BY started_at", [snapshot])]
    out: dict[str, Any] = {"ablation": None, "stage_table": None, "stage_rows": None}
    if not done:
        return out
    try:
        out["ablation"] = ablation(cat.store, done)
    except ValueError:
        pass  # no eval scores recorded: the page says so
    try:
        st = stage_table(cat.store, snapshot)
        out["stage_table"], out["stage_rows"] = st, stage_rows(st)
    except ValueError:
        pass
    return out


def record_view(r: dict[str, Any]) -> dict[str, Any]:
    """A record with its JSON-bearing columns parsed (messages, reward spec, meta) for rendering."""
    out = {}
    for k, v in r.items():
        if isinstance(v, str) and k in ("reward_spec", "meta", "source", "env") and v[:1] in "{[":
            try:
                v = json.loads(v)
            except ValueError:
                pass
        out[k] = v
    return out


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def _cell(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return json.dumps(v, ensure_ascii=False, default=str)
