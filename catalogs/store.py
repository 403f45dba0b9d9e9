"""The version store: immutable dataset versions under one root, indexed by a DuckDB catalog.

Layout::

    <root>/catalog.duckdb              the index (rebuildable)
    <root>/versions/<name>/<n>-<hash8>/manifest.json + shards
    <root>/snapshots/<name>.json       pinned training inputs
    <root>/runs/<run_id>.json          training runs
    <root>/staging/                    versions being written (invisible until renamed)
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .index import DB_FILE, TABLES, CatalogDamaged, CatalogIndex
from .manifest import (
    MANIFEST,
    Manifest,
    Shard,
    code_version,
    now_iso,
    recipe_hash,
    scrub_secrets,
    sha256_file,
    write_json_atomic,
)
from .refs import Ref, RefError, check_name, parse_ref

if TYPE_CHECKING:  # pyarrow, the record schemas and the writer load on first use: `huijin catalog ls` needs none
    import pyarrow as pa
    import pyarrow.dataset as pads

    from .writer import VersionWriter

DEFAULT_ROOT = "./huijin-store"
VERSION_DIR = re.compile(r"^(\d+)-([0-9a-f]{8})$")
OWNER_FILE = "_owner.json"  # in a staging folder: which process (host, pid) is writing it
log = logging.getLogger("huijin.catalog")


class _StderrHandler(logging.Handler):
    """One line on the current sys.stderr (whatever a CLI runner or test swapped in)."""

    def emit(self, record: logging.LogRecord) -> None:
        import sys

        sys.stderr.write(self.format(record) + "\n")


if not log.handlers:
    log.addHandler(_StderrHandler())
    log.propagate = False


class Store:
    """A local folder of versions with its catalog. Open with ``Store.open(root)``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.index = CatalogIndex(root)
        self.index_problem: str | None = None  # set when a version was committed but the index could not record it
        from .runs import Runs
        from .snapshots import Snapshots

        self.snapshots = Snapshots(self)
        self.runs = Runs(self)
        self._artifacts = None

    @property
    def artifacts(self):
        """Artifacts, loaded on first use (their module imports the Parquet writer)."""
        if self._artifacts is None:
            from .artifacts import Artifacts

            self._artifacts = Artifacts(self)
        return self._artifacts

    @classmethod
    def open(cls, root: str | os.PathLike | None = None, create: bool = True) -> Store:
        """Open (and by default create) the store at ``root``, ``$HUIJIN_STORE`` or ``./huijin-store``."""
        root_s = str(root or os.environ.get("HUIJIN_STORE") or DEFAULT_ROOT)
        if "://" in root_s and not root_s.startswith("file://"):
            raise NotImplementedError(f"store {root_s}: only local folders are supported so far (fsspec URLs later)")
        path = Path(root_s.removeprefix("file://")).expanduser().resolve()
        if not (path / DB_FILE).exists() and not CatalogIndex(path).has_content():
            if not create:
                raise FileNotFoundError(f"no huijin store at {path} (run `huijin catalog init`)")
            for sub in ("versions", "snapshots", "runs", "staging"):
                (path / sub).mkdir(parents=True, exist_ok=True)
            store = cls(path)
            store.index.init()
            return store
        return cls(path)

    # -- writing -------------------------------------------------------------------------------
    def writer(self, name: str, kind: str, parents: Iterable[str] = (), recipe: dict[str, Any] | None = None,
               **opts: Any) -> VersionWriter:
        from .writer import VersionWriter

        check_name(name)
        return VersionWriter(self, name, kind, parents=parents, recipe=recipe, **opts)

    def new_staging(self, name: str) -> Path:
        """A fresh staging folder on the store's file system (so the final rename is atomic)."""
        path = self.root / "staging" / f"{check_name(name)}-{uuid.uuid4().hex[:12]}"
        path.mkdir(parents=True)
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "started_at": now_iso()}
        (path / OWNER_FILE).write_text(json.dumps(owner), encoding="utf-8")
        return path

    def commit(self, staging: str | Path, name: str, kind: str, parents: Iterable[str] = (),
               recipe: dict[str, Any] | None = None, extra: dict[str, Any] | None = None) -> Manifest:
        """Turn a staging folder (one or more closed ShardWriters) into the next version of ``name``.

        If the latest version has the same content, recipe and parents, it is returned instead and the
        staging folder is discarded: re-running a job does not create duplicate versions.
        """
        from .schemas import SCHEMAS, content_hash
        from .writer import PARTS_DIR

        staging = Path(staging)
        parts = sorted((staging / PARTS_DIR).glob("*.json")) if (staging / PARTS_DIR).exists() else []
        if not parts:
            raise ValueError(f"staging folder {staging} has no closed writer parts")
        shards: list[Shard] = []
        drops: dict[str, int] = {}
        quarantined: dict[str, int] = {}
        stats: dict[str, dict[str, int]] = {}
        inputs: int | None = None
        for p in parts:
            s = _load_json(p)
            shards += [Shard(**x) for x in s["shards"]]
            _add_counts(drops, s["drops"])
            _add_counts(quarantined, s["quarantined"])
            for k, v in s["stats"].items():
                _add_counts(stats.setdefault(k, {}), v)
            if s.get("inputs") is not None:
                inputs = (inputs or 0) + s["inputs"]
        shutil.rmtree(staging / PARTS_DIR)
        (staging / OWNER_FILE).unlink(missing_ok=True)
        shards.sort(key=lambda sh: sh.path)
        parent_refs = [self.resolve(p) for p in parents]
        recipe = scrub_secrets(recipe or {})
        extra = scrub_secrets(extra or {})
        chash = content_hash([kind, [(s.path, s.sha256) for s in shards]], 16)
        tokens = sum(s.tokens for s in shards if s.tokens) if any(s.tokens for s in shards) else extra.get("tokens")
        m = Manifest(
            name=name, version=0, kind=kind, hash=chash, shards=shards,
            schema=[{"name": f.name, "type": str(f.type)} for f in SCHEMAS[kind]] if kind in SCHEMAS else [],
            parents=[{"name": p.name, "version": p.version, "hash": p.hash} for p in parent_refs],
            recipe=recipe, recipe_hash=recipe_hash(recipe), code_version=code_version(),
            rows=sum(s.rows for s in shards), bytes=sum(s.bytes for s in shards), tokens=tokens,
            inputs=inputs, drops=drops, quarantined=quarantined, stats=stats, extra=extra, created_at=now_iso(),
        )
        with self.index.write_lock():
            on_disk = self._versions_on_disk(name)
            if on_disk:
                latest = Manifest.load(on_disk[max(on_disk)] / MANIFEST)
                if (latest.hash, latest.recipe_hash, latest.parents, latest.kind) == (m.hash, m.recipe_hash, m.parents, m.kind):
                    shutil.rmtree(staging, ignore_errors=True)
                    self._sync_index_after_commit(latest, on_disk)
                    return latest
            m.version = max(on_disk, default=0) + 1
            write_json_atomic(staging / MANIFEST, m.to_dict())
            final = self.root / "versions" / name / f"{m.version}-{m.hash[:8]}"
            final.parent.mkdir(parents=True, exist_ok=True)
            os.rename(staging, final)  # the commit point: before it nothing is visible, after it all is
            on_disk[m.version] = final
            self._sync_index_after_commit(m, on_disk)
        return m

    def _sync_index_after_commit(self, m: Manifest, on_disk: dict[int, Path]) -> None:
        """The version is committed (its folder is the truth): a damaged index is reported, not raised."""
        self.index_problem = None
        try:
            self._sync_index(m.name, on_disk)
        except CatalogDamaged as e:
            self.index_problem = (f"{m.ref} is committed at {self.path_of(m)}, but the catalog index could not record "
                                  f"it: {e}")
            log.warning("warning: %s", self.index_problem)

    def _versions_on_disk(self, name: str) -> dict[int, Path]:
        d = self.root / "versions" / name
        if not d.is_dir():
            return {}
        out = {}
        for p in d.iterdir():
            mt = VERSION_DIR.match(p.name)
            if mt and (p / MANIFEST).exists():
                out[int(mt.group(1))] = p
        return out

    def _sync_index(self, name: str, on_disk: dict[int, Path]) -> None:
        """Register every on-disk version of ``name`` the index lacks (heals a crash after rename)."""
        with self.index.transaction() as con:
            known = self.index.known_versions(name, con)
            missing = [(Manifest.load(p / MANIFEST), self._rel(p)) for v, p in sorted(on_disk.items()) if v not in known]
            self.index.register_versions(missing, con)

    def _rel(self, p: Path) -> str:
        return str(p.relative_to(self.root))

    # -- reading -------------------------------------------------------------------------------
    def resolve(self, ref: str | Ref) -> Manifest:
        """The manifest of ``name@N``, ``name@latest`` or ``name``."""
        r = parse_ref(ref) if isinstance(ref, str) else ref
        with self.index.read() as con:
            if r.version is None:
                row = con.execute("SELECT path FROM versions WHERE name = ? ORDER BY version DESC LIMIT 1", [r.name]).fetchone()
            else:
                row = con.execute("SELECT path FROM versions WHERE name = ? AND version = ?", [r.name, r.version]).fetchone()
        if row is None:
            on_disk = self._versions_on_disk(r.name)
            v = max(on_disk, default=None) if r.version is None else r.version
            if v in on_disk:  # on disk but not indexed yet (crash between rename and registration)
                return Manifest.load(on_disk[v] / MANIFEST)
            raise RefError(f"no version {r} in store {self.root}" + ("" if on_disk else f" (no dataset '{r.name}')"))
        return Manifest.load(self.root / row[0] / MANIFEST)

    def path_of(self, m: Manifest) -> Path:
        return self.root / "versions" / m.name / f"{m.version}-{m.hash[:8]}"

    def shard_paths(self, ref: str | Manifest) -> list[Path]:
        m = self.resolve(ref) if isinstance(ref, str) else ref
        base = self.path_of(m)
        return [base / s.path for s in m.shards]

    def dataset(self, ref: str | Manifest) -> pads.Dataset:
        import pyarrow.dataset as pads

        from .schemas import SCHEMAS

        m = self.resolve(ref) if isinstance(ref, str) else ref
        if m.kind not in SCHEMAS:
            raise ValueError(f"{m.ref} is a '{m.kind}' version: it holds files, not rows")
        return pads.dataset([str(p) for p in self.shard_paths(m)], format="parquet", schema=SCHEMAS[m.kind])

    def read_table(self, ref: str | Manifest, columns: list[str] | None = None) -> pa.Table:
        return self.dataset(ref).to_table(columns=columns)

    def iter_records(self, ref: str | Manifest, columns: list[str] | None = None, batch_size: int = 4096) -> Iterator[dict]:
        for batch in self.dataset(ref).to_batches(columns=columns, batch_size=batch_size):
            yield from batch.to_pylist()

    def read_quarantine(self, ref: str | Manifest) -> pa.Table | None:
        m = self.resolve(ref) if isinstance(ref, str) else ref
        q = self.path_of(m) / "quarantine"
        files = sorted(q.glob("*.parquet")) if q.exists() else []
        if not files:
            return None
        import pyarrow.dataset as pads

        return pads.dataset([str(f) for f in files], format="parquet").to_table()

    def ls(self, name: str | None = None, kind: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT name, version, kind, rows, hash, tokens, n_shards AS shards, bytes, dropped, quarantined, created_at "
               "FROM versions WHERE (? IS NULL OR name = ?) AND (? IS NULL OR kind = ?) ORDER BY name, version")
        with self.index.read() as con:
            cur = con.execute(sql, [name, name, kind, kind])
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def lineage(self, ref: str) -> list[dict[str, Any]]:
        """Every ancestor of a version (depth 1 = direct parents), nearest first."""
        m = self.resolve(ref)
        sql = """
        WITH RECURSIVE anc(name, version, depth, child) AS (
          SELECT parent_name, parent_version, 1, name || '@' || version FROM lineage WHERE name = ? AND version = ?
          UNION
          SELECT l.parent_name, l.parent_version, a.depth + 1, l.name || '@' || l.version
          FROM lineage l JOIN anc a ON l.name = a.name AND l.version = a.version)
        -- lineage is a DAG (a parent exists before its child), so the recursion ends; keep each ancestor once
        SELECT min(a.depth) AS depth, a.name, a.version, min(a.child) AS child, any_value(v.kind) AS kind,
               any_value(v.rows) AS rows, any_value(v.hash) AS hash
        FROM anc a LEFT JOIN versions v ON v.name = a.name AND v.version = a.version
        GROUP BY a.name, a.version ORDER BY depth, a.name, a.version"""
        with self.index.read() as con:
            cur = con.execute(sql, [m.name, m.version])
            cols = [c[0] for c in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def descendants(self, ref: str) -> list[dict[str, Any]]:
        m = self.resolve(ref)
        sql = """
        WITH RECURSIVE d(name, version, depth) AS (
          SELECT name, version, 1 FROM lineage WHERE parent_name = ? AND parent_version = ?
          UNION
          SELECT l.name, l.version, d.depth + 1 FROM lineage l JOIN d ON l.parent_name = d.name AND l.parent_version = d.version)
        SELECT min(depth) AS depth, name, version FROM d GROUP BY name, version ORDER BY depth, name, version"""
        with self.index.read() as con:
            return [dict(zip(["depth", "name", "version"], r, strict=True)) for r in con.execute(sql, [m.name, m.version]).fetchall()]

    # -- integrity -----------------------------------------------------------------------------
    def verify(self, ref: str | None = None) -> list[dict[str, str]]:
        """Re-hash shards; returns one problem per corrupted or missing file (empty list = all good)."""
        manifests = [self.resolve(ref)] if ref else [Manifest.load(p / MANIFEST) for p in self._all_version_dirs()]
        problems = []
        for m in manifests:
            base = self.path_of(m)
            for s in m.shards:
                p = base / s.path
                if not p.exists():
                    problems.append({"version": m.ref, "file": str(p), "problem": "missing"})
                elif p.stat().st_size != s.bytes:
                    problems.append({"version": m.ref, "file": str(p), "problem": f"size {p.stat().st_size} != {s.bytes}"})
                elif sha256_file(p) != s.sha256:
                    problems.append({"version": m.ref, "file": str(p), "problem": "sha256 mismatch"})
        return problems

    def _all_version_dirs(self) -> list[Path]:
        base = self.root / "versions"
        return sorted(p for d in base.iterdir() if d.is_dir() for p in d.iterdir()
                      if VERSION_DIR.match(p.name) and (p / MANIFEST).exists()) if base.exists() else []

    def rebuild(self) -> dict[str, int]:
        """Recreate catalog.duckdb from the manifests, snapshot files and run files."""
        from . import duck
        from .index import DDL

        with self.index.write_lock():
            tmp = self.root / f".{DB_FILE}.rebuild"
            tmp.unlink(missing_ok=True)
            con = duck.connect(str(tmp))
            try:
                con.execute(DDL)
                ms = [(Manifest.load(p / MANIFEST), self._rel(p)) for p in self._all_version_dirs()]
                self.index.register_versions(ms, con)
                snaps = [_load_json(p) for p in sorted((self.root / "snapshots").glob("*.json"))]
                for s in snaps:
                    self.index.register_snapshot(s, con)
                runs = [_load_json(p) for p in sorted((self.root / "runs").glob("*.json"))]
                for r in runs:
                    self.index.register_run(r, con)
                con.execute("CHECKPOINT")
            finally:
                con.close()
            os.replace(tmp, self.index.path)
            wal = Path(str(self.index.path) + ".wal")
            wal.unlink(missing_ok=True)
        return {"versions": len(ms), "snapshots": len(snaps), "runs": len(runs)}

    def stale_staging(self, idle_s: float = 3600.0, foreign_idle_s: float = 86400.0) -> list[dict[str, Any]]:
        """Staging folders of dead jobs: the writing process (same host) is gone and nothing was written for
        ``idle_s``; a folder without an owner, or written from another host (Slurm), after ``foreign_idle_s``."""
        base = self.root / "staging"
        out = []
        now = time.time()
        host = socket.gethostname()
        for p in sorted(base.iterdir()) if base.is_dir() else []:
            owner = _owner(p)
            idle = now - _newest_mtime(p)
            if owner and owner.get("host") == host:
                if pid_alive(owner.get("pid")) or idle < idle_s:
                    continue
                why = f"process {owner.get('pid')} is gone"
            else:
                if idle < max(idle_s, foreign_idle_s):
                    continue
                why = "no owner" if not owner else f"written from {owner.get('host')}"
            out.append({"path": str(p), "bytes": _tree_bytes(p), "idle_s": round(idle), "why": why})
        return out

    def gc_staging(self, idle_s: float = 3600.0, foreign_idle_s: float = 86400.0, dry_run: bool = False) -> list[dict[str, Any]]:
        """Remove ``stale_staging`` folders (under the write lock, so no commit renames one meanwhile)."""
        stale = self.stale_staging(idle_s, foreign_idle_s)
        if not dry_run:
            with self.index.write_lock():
                for s in stale:
                    shutil.rmtree(s["path"], ignore_errors=True)
        return stale

    def clean_staging(self) -> int:
        """Remove staging folders left by crashed writers (call when no writer is running)."""
        n = 0
        for p in (self.root / "staging").iterdir():
            shutil.rmtree(p, ignore_errors=True)
            n += 1
        return n

    def table_dump(self) -> dict[str, list[tuple]]:
        """Every index table, sorted: used to check that rebuild gives the same answers."""
        from .schemas import canonical_json

        with self.index.read() as con:
            out = {}
            for t in TABLES:
                rows = con.execute(f"SELECT * FROM {t}").fetchall()
                out[t] = sorted(rows, key=lambda r: canonical_json([str(x) for x in r]))
            return out


def _load_json(p: Path) -> Any:
    import json

    with open(p, encoding="utf-8") as f:
        return json.load(f)


def _owner(p: Path) -> dict[str, Any] | None:
    try:
        return json.loads((p / OWNER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def pid_alive(pid: Any) -> bool:
    """Whether a process with this pid exists (a lock or staging owner that is still running)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _newest_mtime(p: Path) -> float:
    newest = p.stat().st_mtime
    for f in p.rglob("*"):
        try:
            newest = max(newest, f.stat().st_mtime)
        except OSError:
            pass
    return newest


def _tree_bytes(p: Path) -> int:
    total = 0
    for f in p.rglob("*"):
        try:
            total += f.stat().st_size if f.is_file() else 0
        except OSError:
            pass
    return total


def _add_counts(dst: dict[str, int], src: dict[str, int]) -> None:
    for k, v in src.items():
        dst[k] = dst.get(k, 0) + int(v)
