"""Writing versions: validated records → bounded zstd Parquet shards in a staging folder.

A ``ShardWriter`` writes one task's shards (several ranks may share one staging folder, each with its
own prefix); ``VersionWriter`` is the one-process form used as a context manager. Nothing is visible in
the store until ``Store.commit`` renames the staging folder into ``versions/<name>/<n>-<hash8>/``.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from .manifest import Manifest, Shard, sha256_file, write_json_atomic
from .schemas import FILE_KINDS, SCHEMAS, SchemaError, conform_table, normalize_record

if TYPE_CHECKING:
    from .store import Store

PARTS_DIR = "_parts"
QUARANTINE_SCHEMA = pa.schema(
    [("file", pa.string()), ("offset", pa.int64()), ("reason", pa.string()), ("record", pa.string())]
)
STAT_COLUMNS = ("lang", "taxonomy")


class ShardWriter:
    """Writes validated records of one kind as Parquet shards of bounded size, counting drops.

    Shards close when they reach ``shard_rows`` rows or about ``shard_bytes`` bytes of Arrow data.
    """

    def __init__(
        self,
        staging: str | Path,
        kind: str,
        prefix: str = "part",
        shard_rows: int = 500_000,
        shard_bytes: int = 256 << 20,
        row_group_rows: int = 20_000,
    ) -> None:
        if kind not in SCHEMAS and kind not in FILE_KINDS:
            raise SchemaError(f"unknown record kind {kind!r}")
        self.dir = Path(staging)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.kind, self.prefix = kind, prefix
        self.shard_rows, self.shard_bytes, self.row_group_rows = shard_rows, shard_bytes, row_group_rows
        self.shards: list[Shard] = []
        self.drops: Counter[str] = Counter()
        self.quarantined: Counter[str] = Counter()
        self.stats: dict[str, Counter[str]] = {c: Counter() for c in STAT_COLUMNS}
        self.inputs: int | None = None
        self._buffer: list[dict] = []
        self._buffer_bytes = 0
        self._pq: pq.ParquetWriter | None = None
        self._cur_path: Path | None = None
        self._cur_rows = 0
        self._cur_bytes = 0
        self._quarantine: list[dict] = []
        self._closed = False

    # -- records -------------------------------------------------------------------------------
    def write(self, batch: Any, where: str = "record", validated: bool = False) -> int:
        """Validate and buffer records: a dict, a list of dicts, an Arrow table or a polars DataFrame.

        ``validated=True`` skips the checks for rows that already went through ``normalize_record``."""
        if self.kind not in SCHEMAS:
            raise SchemaError(f"kind '{self.kind}' holds files, not records: use add_file()")
        if isinstance(batch, Mapping):
            batch = [batch]
        if hasattr(batch, "to_arrow") and not isinstance(batch, pa.Table):  # polars DataFrame
            batch = batch.to_arrow()
        if isinstance(batch, pa.Table):
            rows = conform_table(self.kind, batch, where).to_pylist()
        elif validated:
            rows = list(batch)
        else:
            rows = [normalize_record(self.kind, r, f"{where} {i}") for i, r in enumerate(batch)]
        for r in rows:
            self._buffer.append(r)
            self._buffer_bytes += _approx_bytes(r)
            for c in STAT_COLUMNS:
                if c in r:
                    self.stats[c][r[c] if r[c] is not None else "unknown"] += 1
            if len(self._buffer) >= self.row_group_rows or self._buffer_bytes >= (32 << 20):
                self._flush()
        return len(rows)

    def count_drop(self, reason: str, n: int = 1) -> None:
        if n:
            self.drops[reason] += n

    def quarantine(self, reason: str, file: str = "", offset: int | None = None, record: Any = None) -> None:
        """Keep a bad input record aside with its reason and where it came from (counted in the manifest)."""
        raw = record if isinstance(record, str) or record is None else json.dumps(record, default=str)
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "replace")
        self._quarantine.append(
            {"file": str(file), "offset": offset, "reason": reason, "record": None if raw is None else raw[:20_000]}
        )
        # count by the reason's class ("invalid JSON (…)" → "invalid JSON") so the manifest stays readable
        self.quarantined[reason.split(" (")[0].split(":")[0]] += 1

    def add_inputs(self, n: int) -> None:
        self.inputs = (self.inputs or 0) + n

    def add_file(self, src: str | Path, name: str | None = None, rows: int = 0, tokens: int | None = None) -> Shard:
        """Add a file-backed shard (token files, models); it is moved into the staging folder."""
        src = Path(src)
        dst = self.dir / (name or src.name)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.resolve() != dst.resolve():
            # files already in the staging folder are moved; outside files are copied, never taken
            if src.resolve().is_relative_to(self.dir.resolve()):
                shutil.move(src, dst)
            else:
                shutil.copy2(src, dst)
        shard = Shard(str(dst.relative_to(self.dir)), rows, dst.stat().st_size, sha256_file(dst), tokens)
        self.shards.append(shard)
        return shard

    # -- shards --------------------------------------------------------------------------------
    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=SCHEMAS[self.kind])
        self._buffer, self._buffer_bytes = [], 0
        start = 0
        while start < table.num_rows:
            if self._pq is None:
                self._open_shard()
            take = min(table.num_rows - start, self.shard_rows - self._cur_rows)
            part = table.slice(start, take)
            self._pq.write_table(part)
            self._cur_rows += take
            self._cur_bytes += part.nbytes
            start += take
            if self._cur_rows >= self.shard_rows or self._cur_bytes >= self.shard_bytes:
                self._close_shard()

    def _open_shard(self) -> None:
        self._cur_path = self.dir / f"{self.prefix}-{len(self.shards):05d}.parquet"
        self._pq = pq.ParquetWriter(self._cur_path, SCHEMAS[self.kind], compression="zstd")
        self._cur_rows = self._cur_bytes = 0

    def _close_shard(self) -> None:
        assert self._pq is not None and self._cur_path is not None
        self._pq.close()
        p = self._cur_path
        self.shards.append(Shard(p.name, self._cur_rows, p.stat().st_size, sha256_file(p)))
        self._pq, self._cur_path = None, None

    def close(self) -> dict[str, Any]:
        """Finish the last shard and write this writer's part summary; returns it."""
        if self._closed:
            return self.summary()
        self._flush()
        if self._pq is not None:
            self._close_shard()
        if self._quarantine:
            qdir = self.dir / "quarantine"
            qdir.mkdir(exist_ok=True)
            qpath = qdir / f"{self.prefix}.parquet"
            pq.write_table(pa.Table.from_pylist(self._quarantine, schema=QUARANTINE_SCHEMA), qpath, compression="zstd")
        self._closed = True
        summary = self.summary()
        parts = self.dir / PARTS_DIR
        parts.mkdir(exist_ok=True)
        write_json_atomic(parts / f"{self.prefix}.json", summary)
        return summary

    def abort(self) -> None:
        if self._pq is not None:
            self._pq.close()
            self._pq = None
        self._closed = True

    def summary(self) -> dict[str, Any]:
        return {
            "shards": [s.__dict__ for s in self.shards],
            "drops": dict(self.drops),
            "quarantined": dict(self.quarantined),
            "stats": {k: dict(v) for k, v in self.stats.items() if v},
            "inputs": self.inputs,
        }

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.shards) + self._cur_rows + len(self._buffer)


class VersionWriter(ShardWriter):
    """``with store.writer("fin-web", kind="doc", parents=[...], recipe={...}) as w: w.write(batch)``.

    On a clean exit the version is committed atomically (``w.manifest`` holds it); on an exception the
    staging folder is removed and nothing becomes visible.
    """

    def __init__(
        self,
        store: Store,
        name: str,
        kind: str,
        parents: Iterable[str] = (),
        recipe: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        **shard_opts: Any,
    ) -> None:
        self.store, self.name = store, name
        self.parents = list(parents)
        self.recipe = recipe or {}
        self.extra = dict(extra or {})
        self.manifest: Manifest | None = None
        super().__init__(store.new_staging(name), kind, **shard_opts)

    def __enter__(self) -> VersionWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()
            shutil.rmtree(self.dir, ignore_errors=True)
            return
        self.close()
        self.manifest = self.store.commit(
            self.dir, self.name, self.kind, parents=self.parents, recipe=self.recipe, extra=self.extra
        )


def _approx_bytes(row: dict) -> int:
    n = 0
    for v in row.values():
        if isinstance(v, str):
            n += len(v)
        elif isinstance(v, list):
            n += 64 * len(v) + sum(len(m.get("content") or "") for m in v if isinstance(m, dict))
        else:
            n += 8
    return n
