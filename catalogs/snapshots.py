"""Snapshots: immutable, named pins of which versions (and weights) feed each training stage."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .manifest import now_iso, sha256_file
from .refs import check_name

if TYPE_CHECKING:
    from .store import Store


class SnapshotError(ValueError):
    pass


def parse_stage_arg(arg: str) -> tuple[str, list[tuple[str, float]]]:
    """``cpt=fin-web@2:0.7,general@1:0.3`` → ("cpt", [("fin-web@2", 0.7), ("general@1", 0.3)])."""
    stage, sep, rest = arg.partition("=")
    if not sep or not stage.strip() or not rest.strip():
        raise SnapshotError(f"--stage {arg!r}: expected STAGE=REF:WEIGHT[,REF:WEIGHT...]")
    entries = []
    for item in rest.split(","):
        ref, _, w = item.strip().rpartition(":")
        if not ref:
            ref, w = w, "1.0"
        try:
            weight = float(w)
        except ValueError:
            raise SnapshotError(f"--stage {arg!r}: weight {w!r} of {ref!r} is not a number") from None
        if not (math.isfinite(weight) and weight > 0):
            raise SnapshotError(f"--stage {arg!r}: weight of {ref!r} must be a finite number > 0, got {w!r}")
        entries.append((ref, weight))
    return stage.strip(), entries


def tree_sha256(path: str | Path) -> str:
    """sha256 of a file, or of a folder's files (relative names + contents) for a tokenizer folder."""
    p = Path(path)
    if p.is_file():
        return sha256_file(p)
    files = sorted(f for f in p.rglob("*") if f.is_file())
    from .schemas import content_hash

    return content_hash([[str(f.relative_to(p)), sha256_file(f)] for f in files], 64)


class Snapshots:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.dir = store.root / "snapshots"

    def create(self, name: str, stages: dict[str, list[tuple[str, float]]], tokenizer: str | None = None,
               options: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resolve refs to exact versions and pin them. Same name + same content is a no-op; different is an error."""
        check_name(name)
        if not stages:
            raise SnapshotError("a snapshot needs at least one --stage")
        resolved: dict[str, list[dict[str, Any]]] = {}
        for stage, entries in stages.items():
            if not entries:
                raise SnapshotError(f"stage {stage!r} has no versions")
            for ref, weight in entries:
                if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight <= 0:
                    raise SnapshotError(f"stage {stage!r}: weight of {ref!r} must be a finite number > 0, got {weight!r}")
        for stage, entries in stages.items():
            resolved[stage] = []
            for ref, weight in entries:
                m = self.store.resolve(ref)
                resolved[stage].append({"dataset": m.name, "version": m.version, "hash": m.hash, "weight": float(weight)})
        tok = None
        if tokenizer:
            if not Path(tokenizer).exists():
                raise SnapshotError(f"tokenizer {tokenizer} does not exist")
            tok = {"path": str(Path(tokenizer).resolve()), "sha256": tree_sha256(tokenizer)}
        body = {"stages": resolved, "tokenizer": tok, "options": options or {}}
        from .schemas import content_hash  # lazily: schemas imports pyarrow

        spec = {"name": name, **body, "hash": content_hash(body, 16), "created_at": now_iso()}
        path = self.dir / f"{name}.json"
        with self.store.index.write_lock():
            if path.exists():
                old = self.get(name)
                if old["hash"] != spec["hash"]:
                    raise SnapshotError(
                        f"snapshot '{name}' already exists with different content (hash {old['hash']} != {spec['hash']}); "
                        "snapshots are immutable: choose a new name"
                    )
                return old
            tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(spec, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, path)
            with self.store.index.transaction() as con:
                self.store.index.register_snapshot(spec, con)
        return spec

    def get(self, name: str) -> dict[str, Any]:
        path = self.dir / f"{check_name(name)}.json"
        if not path.exists():
            raise SnapshotError(f"no snapshot '{name}' in store {self.store.root}")
        return json.loads(path.read_text(encoding="utf-8"))

    def show(self, name: str) -> dict[str, Any]:
        """The snapshot with, per stage entry, the version's rows, tokens and shard checksums."""
        spec = self.get(name)
        with self.store.index.read() as con:
            for entries in spec["stages"].values():
                for e in entries:
                    rows, tokens = con.execute(
                        "SELECT rows, tokens FROM versions WHERE name = ? AND version = ?", [e["dataset"], e["version"]]
                    ).fetchone() or (None, None)
                    e["rows"], e["tokens"] = rows, tokens
                    e["shards"] = [
                        {"path": p, "sha256": h}
                        for p, h in con.execute(
                            "SELECT path, sha256 FROM shards WHERE name = ? AND version = ? ORDER BY idx",
                            [e["dataset"], e["version"]],
                        ).fetchall()
                    ]
        return spec

    def ls(self) -> list[dict[str, Any]]:
        with self.store.index.read() as con:
            cur = con.execute(
                "SELECT s.name, s.hash, s.created_at, string_agg(DISTINCT e.stage, ',' ORDER BY e.stage) AS stages, "
                "count(*) AS entries FROM snapshots s LEFT JOIN snapshot_entries e ON e.snapshot = s.name "
                "GROUP BY ALL ORDER BY s.name"
            )
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
