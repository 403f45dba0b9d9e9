"""huijin.catalogs: immutable dataset versions, the DuckDB catalog, snapshots, runs and artifacts.

Names load on first use (PEP 562): ``from catalogs import Store`` imports the store and the DuckDB index, not
pyarrow and the record schemas, so `huijin catalog ls` starts in well under a second.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_WHERE = {
    "CatalogDamaged": "index", "Manifest": "manifest", "Shard": "manifest", "Ref": "refs", "RefError": "refs",
    "parse_ref": "refs", "KINDS": "schemas", "SCHEMAS": "schemas", "SchemaError": "schemas",
    "content_hash": "schemas", "normalize_record": "schemas", "SnapshotError": "snapshots",
    "parse_stage_arg": "snapshots", "QueryError": "sql", "query": "sql", "Store": "store",
    "ShardWriter": "writer", "VersionWriter": "writer",
}

__all__ = [
    "KINDS", "SCHEMAS", "CatalogDamaged", "Manifest", "QueryError", "Ref", "RefError", "SchemaError", "Shard",
    "ShardWriter", "SnapshotError", "Store", "VersionWriter", "content_hash", "normalize_record", "parse_ref",
    "parse_stage_arg", "query",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'catalogs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE])


if TYPE_CHECKING:
    from .index import CatalogDamaged
    from .manifest import Manifest, Shard
    from .refs import Ref, RefError, parse_ref
    from .schemas import KINDS, SCHEMAS, SchemaError, content_hash, normalize_record
    from .snapshots import SnapshotError, parse_stage_arg
    from .sql import QueryError, query
    from .store import Store
    from .writer import ShardWriter, VersionWriter
