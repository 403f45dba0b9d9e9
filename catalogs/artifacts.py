"""Artifacts: files the chain produces and depends on (classifier models, tokenizers, dedup indexes,
exported checkpoints). Each is stored as a version of kind ``artifact`` so it gets the same immutability,
checksums and lineage as data; the ``artifacts`` table of the catalog lists them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .manifest import Manifest
from .writer import ShardWriter

if TYPE_CHECKING:
    from .store import Store


class Artifacts:
    def __init__(self, store: Store) -> None:
        self.store = store

    def register(self, name: str, artifact_kind: str, path: str | Path, parents: Iterable[str] = (),
                 metrics: dict[str, Any] | None = None, recipe: dict[str, Any] | None = None) -> Manifest:
        """Copy a file or a folder into the store as the next version of artifact ``name``."""
        src = Path(path)
        if not src.exists():
            raise FileNotFoundError(f"artifact {name}: {src} does not exist")
        staging = self.store.new_staging(name)
        w = ShardWriter(staging, "artifact")
        files = [src] if src.is_file() else sorted(f for f in src.rglob("*") if f.is_file())
        for f in files:
            w.add_file(f, name=f.name if src.is_file() else str(f.relative_to(src)))
        w.close()
        extra = {"artifact_kind": artifact_kind, "metrics": metrics or {}, "source_path": str(src.resolve())}
        return self.store.commit(staging, name, "artifact", parents=parents, recipe=recipe, extra=extra)

    def path(self, ref: str) -> Path:
        """The stored file (single-file artifacts) or folder of an artifact version."""
        m = self.store.resolve(ref)
        if m.kind != "artifact":
            raise ValueError(f"{m.ref} is a '{m.kind}' version, not an artifact")
        base = self.store.path_of(m)
        return base / m.shards[0].path if len(m.shards) == 1 and "/" not in m.shards[0].path else base

    def ls(self) -> list[dict[str, Any]]:
        with self.store.index.read() as con:
            cur = con.execute("SELECT name, version, artifact_kind, path, sha256, bytes, metrics, created_at "
                              "FROM artifacts ORDER BY name, version")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
