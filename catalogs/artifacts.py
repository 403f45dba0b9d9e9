"""Artifacts: files the chain produces and depends on (classifier models, tokenizers, dedup indexes,
exported checkpoints). Each is stored as a version of kind ``artifact`` so it gets the same immutability,
checksums and lineage as data; the ``artifacts`` table of the catalog lists them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .manifest import Manifest
from .schemas import content_hash
from .writer import ShardWriter

if TYPE_CHECKING:
    from .store import Store


def artifact_sha256(m: Manifest) -> str | None:
    """The content hash of an artifact version: the file's sha256 for a single-file artifact; for a folder
    (an exported model: weights, config, tokenizer, chat template) the hash of every file's relative name and
    sha256, the same value ``catalogs.snapshots.tree_sha256`` gives the source folder. Before, the first shard's
    hash stood for the whole folder (``chat_template.jinja``: one hash for five different models)."""
    if not m.shards:
        return None
    if len(m.shards) == 1 and "/" not in m.shards[0].path and not m.extra.get("folder"):
        return m.shards[0].sha256
    return content_hash(sorted([s.path, s.sha256] for s in m.shards), 64)


def artifact_path(m: Manifest, path: str) -> str:
    """Where an artifact lies, relative to the store root: the file, or the version folder for a folder."""
    single = len(m.shards) == 1 and "/" not in m.shards[0].path and not m.extra.get("folder")
    return f"{path}/{m.shards[0].path}" if single else path


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
        extra = {"artifact_kind": artifact_kind, "metrics": metrics or {}, "source_path": str(src.resolve()),
                 "folder": src.is_dir()}
        return self.store.commit(staging, name, "artifact", parents=parents, recipe=recipe, extra=extra)

    def path(self, ref: str) -> Path:
        """The stored file (single-file artifacts) or folder of an artifact version."""
        m = self.store.resolve(ref)
        if m.kind != "artifact":
            raise ValueError(f"{m.ref} is a '{m.kind}' version, not an artifact")
        return self.store.root / artifact_path(m, str(self.store.path_of(m).relative_to(self.store.root)))

    def ls(self) -> list[dict[str, Any]]:
        with self.store.index.read() as con:
            cur = con.execute("SELECT name, version, artifact_kind, path, sha256, bytes, metrics, created_at "
                              "FROM artifacts ORDER BY name, version")
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
