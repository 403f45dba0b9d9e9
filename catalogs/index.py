"""The DuckDB index over manifests (``catalog.duckdb`` at the store root).

Manifests, snapshot files and run files are the truth; this index makes them queryable and is rebuilt
from them by ``rebuild``. DuckDB allows one writing process at a time, so every write takes the store's
inter-process write lock for a short transaction, and reads take the shared lock (readers never see a
half-open writer, writers never fail on a reader). DuckDB comes through ``catalogs.duck`` (its engine module,
without the package's Python layer: a faster start for `huijin catalog ls`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import fasteners

from . import duck
from .manifest import Manifest

if TYPE_CHECKING:
    import duckdb

DB_FILE = "catalog.duckdb"
LOCK_FILE = ".catalog.lock"

DDL = """
CREATE TABLE IF NOT EXISTS datasets(name VARCHAR PRIMARY KEY, kind VARCHAR, created_at VARCHAR);
CREATE TABLE IF NOT EXISTS versions(
  name VARCHAR, version INTEGER, kind VARCHAR, hash VARCHAR, path VARCHAR, rows BIGINT, bytes BIGINT,
  tokens BIGINT, n_shards INTEGER, inputs BIGINT, dropped BIGINT, quarantined BIGINT, recipe_hash VARCHAR,
  code_version VARCHAR, created_at VARCHAR, recipe JSON, extra JSON, PRIMARY KEY(name, version));
CREATE TABLE IF NOT EXISTS shards(
  name VARCHAR, version INTEGER, idx INTEGER, path VARCHAR, rows BIGINT, bytes BIGINT, sha256 VARCHAR, tokens BIGINT);
CREATE TABLE IF NOT EXISTS lineage(
  name VARCHAR, version INTEGER, parent_name VARCHAR, parent_version INTEGER, parent_hash VARCHAR);
CREATE TABLE IF NOT EXISTS stats(name VARCHAR, version INTEGER, stat VARCHAR, key VARCHAR, value BIGINT);
CREATE TABLE IF NOT EXISTS artifacts(
  name VARCHAR, version INTEGER, artifact_kind VARCHAR, path VARCHAR, sha256 VARCHAR, bytes BIGINT,
  metrics JSON, created_at VARCHAR, PRIMARY KEY(name, version));
CREATE TABLE IF NOT EXISTS snapshots(
  name VARCHAR PRIMARY KEY, hash VARCHAR, tokenizer VARCHAR, tokenizer_sha256 VARCHAR, created_at VARCHAR, spec JSON);
CREATE TABLE IF NOT EXISTS snapshot_entries(
  snapshot VARCHAR, stage VARCHAR, dataset VARCHAR, version INTEGER, hash VARCHAR, weight DOUBLE);
CREATE TABLE IF NOT EXISTS runs(
  run_id VARCHAR PRIMARY KEY, snapshot VARCHAR, stage VARCHAR, status VARCHAR, input_model VARCHAR,
  output_model VARCHAR, config_hash VARCHAR, config JSON, metrics JSON, checkpoints JSON,
  started_at VARCHAR, ended_at VARCHAR);
CREATE OR REPLACE VIEW run_inputs AS
  SELECT r.run_id, r.stage, r.output_model, e.snapshot, e.dataset, e.version, e.hash, e.weight
  FROM runs r JOIN snapshot_entries e ON e.snapshot = r.snapshot AND e.stage = r.stage;
"""
TABLES = ["datasets", "versions", "shards", "lineage", "stats", "artifacts", "snapshots", "snapshot_entries", "runs"]


class CatalogDamaged(RuntimeError):
    """catalog.duckdb is unreadable, or missing while the store holds versions (the files on disk are intact)."""


def _damage() -> tuple[type[Exception], ...]:
    """DuckDB's errors that mean the database file itself is bad, not the SQL or a lock."""
    e = duck.engine()
    return e.IOException, e.SerializationException, e.CatalogException


class CatalogIndex:
    def __init__(self, root: Path, lock_timeout: float = 120.0) -> None:
        self.root = Path(root)
        self.path = self.root / DB_FILE
        self.lock = fasteners.InterProcessReaderWriterLock(str(self.root / LOCK_FILE))
        self.lock_timeout = lock_timeout

    # -- connections ---------------------------------------------------------------------------
    def damaged(self, why: str) -> CatalogDamaged:
        if "not a valid DuckDB database file" in why:
            why = "not a valid DuckDB database file"
        return CatalogDamaged(f"catalog index {self.path} is damaged ({why}); the versions on disk are intact: "
                              f"run `huijin catalog rebuild --store {self.root}`")

    def has_content(self) -> bool:
        """Versions, snapshots or runs on disk (an index missing beside them must be rebuilt, not recreated empty)."""
        return any(any((self.root / sub).glob(pat)) for sub, pat in [("versions", "*/*"), ("snapshots", "*.json"),
                                                                     ("runs", "*.json")])

    def check_present(self) -> None:
        if not self.path.exists() and self.has_content():
            raise self.damaged(f"{DB_FILE} is missing")

    def connect(self, read_only: bool = False) -> duckdb.DuckDBPyConnection:
        self.check_present()
        try:
            return duck.connect(str(self.path), read_only=read_only)
        except duck.engine().Error as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            if "lock" in msg.lower():  # another process has it open for writing: not damage
                raise
            raise self.damaged(msg) from None

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short write transaction under the inter-process write lock (waits up to the timeout)."""
        with self.write_lock(), self.transaction() as con:
            yield con

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A write transaction for callers that already hold the write lock."""
        con = self.connect()
        try:
            con.execute("BEGIN")
            yield con
            con.execute("COMMIT")
        except _damage() as e:
            _rollback(con)
            raise self.damaged(str(e).splitlines()[0]) from None
        except BaseException:
            _rollback(con)
            raise
        finally:
            con.close()

    @contextmanager
    def write_lock(self) -> Iterator[None]:
        if not self.lock.acquire_write_lock(blocking=True, timeout=self.lock_timeout):
            raise TimeoutError(f"catalog {self.root} is locked by another writer (waited {self.lock_timeout}s)")
        try:
            yield
        finally:
            self.lock.release_write_lock()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if not self.path.exists():
            self.check_present()
            self.init()
        with self.read_lock():
            con = self.connect(read_only=True)
            try:
                yield con
            except _damage() as e:
                raise self.damaged(str(e).splitlines()[0]) from None
            finally:
                con.close()

    @contextmanager
    def read_lock(self) -> Iterator[None]:
        """The shared lock: writers wait while it is held, so hold it briefly (a copy, a short read)."""
        if not self.lock.acquire_read_lock(blocking=True, timeout=self.lock_timeout):
            raise TimeoutError(f"catalog {self.root} is locked by a writer (waited {self.lock_timeout}s)")
        try:
            yield
        finally:
            self.lock.release_read_lock()

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with self.write() as con:
            con.execute(DDL)

    # -- registration --------------------------------------------------------------------------
    def register_versions(self, items: Iterable[tuple[Manifest, str]], con: duckdb.DuckDBPyConnection) -> None:
        """Insert versions (manifest, path relative to the store root) inside an open write transaction."""
        from .artifacts import artifact_path, artifact_sha256  # here, once: artifacts import the writer stack

        vrows, srows, lrows, strows, arows, drows = [], [], [], [], [], []
        for m, path in items:
            drows.append((m.name, m.kind, m.created_at))
            vrows.append(
                (m.name, m.version, m.kind, m.hash, path, m.rows, m.bytes, m.tokens, len(m.shards), m.inputs,
                 m.dropped, m.n_quarantined, m.recipe_hash, m.code_version, m.created_at,
                 json.dumps(m.recipe, default=str, sort_keys=True), json.dumps(m.extra, default=str, sort_keys=True))
            )
            srows += [(m.name, m.version, i, s.path, s.rows, s.bytes, s.sha256, s.tokens) for i, s in enumerate(m.shards)]
            lrows += [(m.name, m.version, p["name"], p["version"], p.get("hash")) for p in m.parents]
            for stat, counts in [*m.stats.items(), ("drop", m.drops), ("quarantine", m.quarantined)]:
                strows += [(m.name, m.version, stat, str(k), int(v)) for k, v in counts.items()]
            if m.kind == "artifact":  # a folder artifact: its folder and the hash of all its files
                arows.append(
                    (m.name, m.version, m.extra.get("artifact_kind"), artifact_path(m, path), artifact_sha256(m),
                     m.bytes, json.dumps(m.extra.get("metrics", {}), sort_keys=True), m.created_at)
                )
        # executemany of python tuples is slow in DuckDB for 100k rows; go through Arrow instead
        _insert(con, "datasets", ["name", "kind", "created_at"], drows, on_conflict="DO NOTHING")
        _insert(con, "versions", None, vrows)
        _insert(con, "shards", None, srows)
        _insert(con, "lineage", None, lrows)
        _insert(con, "stats", None, strows)
        _insert(con, "artifacts", None, arows)

    def register_snapshot(self, spec: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
            [spec["name"], spec["hash"], (spec.get("tokenizer") or {}).get("path"),
             (spec.get("tokenizer") or {}).get("sha256"), spec["created_at"], json.dumps(spec, sort_keys=True)],
        )
        con.execute("DELETE FROM snapshot_entries WHERE snapshot = ?", [spec["name"]])
        rows = [
            (spec["name"], stage, e["dataset"], e["version"], e["hash"], e["weight"])
            for stage, entries in spec["stages"].items()
            for e in entries
        ]
        _insert(con, "snapshot_entries", None, rows)

    def register_run(self, rec: dict[str, Any], con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "INSERT OR REPLACE INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [rec["run_id"], rec.get("snapshot"), rec.get("stage"), rec.get("status"), rec.get("input_model"),
             rec.get("output_model"), rec.get("config_hash"), json.dumps(rec.get("config", {}), default=str, sort_keys=True),
             json.dumps(rec.get("metrics", {}), default=str, sort_keys=True), json.dumps(rec.get("checkpoints", []), default=str, sort_keys=True),
             rec.get("started_at"), rec.get("ended_at")],
        )

    def known_versions(self, name: str, con: duckdb.DuckDBPyConnection) -> set[int]:
        return {r[0] for r in con.execute("SELECT version FROM versions WHERE name = ?", [name]).fetchall()}


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    try:
        con.execute("ROLLBACK")
    except duck.engine().Error:
        pass  # the transaction already failed (or never began): nothing to undo


def _insert(con: duckdb.DuckDBPyConnection, table: str, cols: list[str] | None, rows: list[tuple], on_conflict: str = "") -> None:
    if not rows:
        return
    if len(rows) < 50:
        n = len(rows[0])
        collist = f"({', '.join(cols)})" if cols else ""
        conflict = f" ON CONFLICT {on_conflict}" if on_conflict else ""
        con.executemany(f"INSERT INTO {table}{collist} VALUES ({', '.join('?' * n)}){conflict}", rows)
        return
    import pyarrow as pa

    duck.arrow_scans()
    names = cols or [c[0] for c in con.execute(f"SELECT * FROM {table} LIMIT 0").description]
    arrow = pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows])
    con.register("_incoming", arrow)
    try:
        collist = ", ".join(names)
        if on_conflict:
            con.execute(f"INSERT INTO {table} ({collist}) SELECT DISTINCT {collist} FROM _incoming ON CONFLICT {on_conflict}")
        else:
            con.execute(f"INSERT INTO {table} ({collist}) SELECT {collist} FROM _incoming")
    finally:
        con.unregister("_incoming")
