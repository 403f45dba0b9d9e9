"""huijin.catalogs: immutable dataset versions, the DuckDB catalog, snapshots, runs and artifacts."""

from .index import CatalogDamaged
from .manifest import Manifest, Shard
from .refs import Ref, RefError, parse_ref
from .schemas import KINDS, SCHEMAS, SchemaError, content_hash, normalize_record
from .snapshots import SnapshotError, parse_stage_arg
from .sql import QueryError, query
from .store import Store
from .writer import ShardWriter, VersionWriter

__all__ = [
    "KINDS", "CatalogDamaged", "SCHEMAS", "Manifest", "QueryError", "Ref", "RefError", "SchemaError", "Shard", "ShardWriter",
    "SnapshotError", "Store", "VersionWriter", "content_hash", "normalize_record", "parse_ref",
    "parse_stage_arg", "query",
]
