"""Register JSONL or Parquet files as a version (``huijin catalog import``).

Bad records stop the import with an error naming the file and line, or, with ``on_error="quarantine"``,
go to the version's quarantine shard with the reason; either way the manifest counts them.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from .manifest import Manifest
from .schemas import SCHEMAS, SchemaError, canonical_json, normalize_record


class ImportFailed(ValueError):
    """A record could not be imported; the message names file and line."""


def _records(path: Path) -> Iterator[tuple[int, Any, str | None]]:
    """Yield (line or row number, parsed record or None, error) for a JSONL(.gz) or Parquet file."""
    if path.suffix == ".parquet":
        row = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=4096):
            for rec in batch.to_pylist():
                row += 1
                yield row, rec, None
        return
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                yield lineno, raw.decode("utf-8", "replace"), f"invalid utf-8 at byte {e.start}"
                continue
            try:
                yield lineno, json.loads(line), None
            except json.JSONDecodeError as e:
                yield lineno, line, f"invalid JSON ({e.msg} at column {e.colno})"


def adapt(rec: dict[str, Any], kind: str, mapping: dict[str, str], source: str) -> dict[str, Any]:
    """Rename mapped fields; fields the kind does not have are kept in ``meta`` (nothing is lost)."""
    out: dict[str, Any] = {}
    extras: dict[str, Any] = {}
    names = set(SCHEMAS[kind].names)
    for k, v in rec.items():
        k = mapping.get(k, k)
        (out if k in names else extras)[k] = v
    if extras:
        meta = out.get("meta")
        meta = json.loads(meta) if isinstance(meta, str) and meta else (meta or {})
        out["meta"] = canonical_json({**extras, **meta})
    if kind == "doc" and not out.get("source"):
        out["source"] = source
    return out


def import_files(store, name: str, kind: str, files: Iterable[str | Path], text_field: str | None = None,
                 mapping: dict[str, str] | None = None, on_error: str = "raise",
                 recipe: dict[str, Any] | None = None, progress=None) -> Manifest:
    if kind not in SCHEMAS:
        raise SchemaError(f"--kind must be one of {sorted(SCHEMAS)}")
    if on_error not in ("raise", "quarantine"):
        raise ValueError("on_error must be 'raise' or 'quarantine'")
    mapping = dict(mapping or {})
    if text_field:
        mapping[text_field] = "text"
    files = [Path(f) for f in files]
    for f in files:
        if not f.exists():
            raise FileNotFoundError(f"{f}: no such file")
    recipe = recipe or {"op": "import", "files": [str(f) for f in files], "kind": kind, "map": mapping, "on_error": on_error}
    with store.writer(name, kind=kind, recipe=recipe) as w:
        for f in files:
            n = 0
            batch: list[dict] = []
            for lineno, rec, err in _records(f):
                n += 1
                where = f"{f}:{lineno}"
                if err is None and not isinstance(rec, dict):
                    err = f"expected a JSON object, got {type(rec).__name__}"
                if err is None and text_field and text_field not in rec:
                    err = f"no text field {text_field!r} (--text-field); fields: {', '.join(sorted(map(str, rec)))[:200]}"
                if err is None:
                    try:
                        batch.append(normalize_record(kind, adapt(rec, kind, mapping, f.name), where))
                    except SchemaError as e:
                        err = str(e).removeprefix(where + ": ")
                if err is not None:
                    if on_error == "raise":
                        raise ImportFailed(f"{where}: {err}")
                    w.quarantine(err, file=str(f), offset=lineno, record=rec)
                if len(batch) >= 5000:
                    w.write(batch, where=str(f), validated=True)
                    batch = []
                if progress:
                    progress(1)
            if batch:
                w.write(batch, where=str(f), validated=True)
            w.add_inputs(n)
    assert w.manifest is not None
    return w.manifest
