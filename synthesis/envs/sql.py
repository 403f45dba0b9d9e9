"""Read-only SQL over financial tables held in an in-memory DuckDB database.

The tables are loaded from the environment's config (rows embedded in the task, so every task is self-contained
and replayable), then the connection is confined with ``catalogs.sql.sandbox`` (no file access, no extension
loading, settings locked) and every statement must pass ``catalogs.sql.check_read_only`` (SELECT / EXPLAIN
only: no INSERT/UPDATE/DELETE/DDL, ATTACH, COPY, INSTALL/LOAD, PRAGMA, SET, CALL, EXPORT). File-reading table
functions are refused by name before DuckDB sees them (defence in depth behind the sandbox). A query is
interrupted after ``timeout_s`` and at most ``max_rows`` rows come back.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import duckdb
import pyarrow as pa

from catalogs.sql import QueryError, check_read_only, sandbox

MAX_SQL_CHARS = 4000
MAX_CELL_CHARS = 200
FILE_FUNCTIONS = (
    "read_csv", "read_csv_auto", "read_parquet", "parquet_scan", "parquet_metadata", "parquet_schema",
    "parquet_file_metadata", "parquet_kv_metadata", "read_json", "read_json_auto", "read_json_objects",
    "read_ndjson", "read_ndjson_auto", "read_ndjson_objects", "read_text", "read_blob", "glob", "sniff_csv",
    "read_xlsx", "iceberg_scan", "delta_scan", "sqlite_scan", "sqlite_attach", "postgres_scan", "mysql_scan",
    "query", "load_aws_credentials", "http_get",
)
_FILE_FN = re.compile(r"\b(" + "|".join(FILE_FUNCTIONS) + r")\s*\(", re.IGNORECASE)
_STRING = re.compile(r"'(?:[^']|'')*'")
_QUOTED_TABLE = re.compile(r"\b(from|join)\s+'", re.IGNORECASE)
TYPES = {"VARCHAR": pa.string(), "DOUBLE": pa.float64(), "BIGINT": pa.int64(), "BOOLEAN": pa.bool_(),
         "DATE": pa.string()}


class SqlRefused(ValueError):
    """The statement is not allowed (writes, file access, settings); the message says why."""


def build_database(tables: dict[str, dict[str, Any]], memory_limit: str = "256MB") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with ``tables`` = {name: {"columns": [[name, TYPE], ...], "rows": [[...], ...]}},
    confined and read-only from then on."""
    con = duckdb.connect(":memory:")
    con.execute("SET threads = 1")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    for name, spec in tables.items():
        if not re.fullmatch(r"[a-z_][a-z0-9_]{0,63}", name):
            raise ValueError(f"bad table name {name!r}")
        cols = spec["columns"]
        rows = spec.get("rows") or []
        schema = pa.schema([(c, TYPES.get(t.upper(), pa.string())) for c, t in cols])
        data = {c: [r[i] for r in rows] for i, (c, _) in enumerate(cols)}
        con.register("_load", pa.Table.from_pydict(data, schema=schema))
        con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _load')
        con.unregister("_load")
    sandbox(con, [])
    return con


def check_sql(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything that is not one read-only statement over the loaded tables."""
    if not isinstance(sql, str) or not sql.strip():
        raise SqlRefused("empty SQL")
    if len(sql) > MAX_SQL_CHARS:
        raise SqlRefused(f"SQL longer than {MAX_SQL_CHARS} characters")
    bare = _STRING.sub("''", sql)
    m = _FILE_FN.search(bare)
    if m:
        raise SqlRefused(f"function {m.group(1)}() is not allowed: only the loaded tables can be queried")
    if _QUOTED_TABLE.search(bare):
        raise SqlRefused("reading a file by name is not allowed: only the loaded tables can be queried")
    try:
        check_read_only(con, sql)
    except QueryError as e:
        raise SqlRefused(str(e)) from None
    if len(con.extract_statements(sql)) != 1:
        raise SqlRefused("one statement per call")


def run_query(con: duckdb.DuckDBPyConnection, sql: str, max_rows: int = 50,
              timeout_s: float = 2.0) -> dict[str, Any]:
    """``{"columns", "rows", "truncated"}``; raises SqlRefused for a refused statement and QueryError for a
    query that fails or runs out of time."""
    check_sql(con, sql)
    timer = threading.Timer(timeout_s, con.interrupt)
    timer.start()
    try:
        cur = con.execute(sql)
        rows = cur.fetchmany(max_rows + 1)
        cols = [d[0] for d in cur.description or []]
    except duckdb.InterruptException:
        raise QueryError(f"query interrupted after {timeout_s:g}s (time limit)") from None
    except duckdb.Error as e:
        msg = str(e).splitlines()[0]
        if "interrupt" in msg.lower():
            msg = f"query interrupted after {timeout_s:g}s (time limit)"
        raise QueryError(msg[:300]) from None
    finally:
        timer.cancel()
    truncated = len(rows) > max_rows
    return {"columns": cols, "rows": [[_cell(v) for v in r] for r in rows[:max_rows]], "truncated": truncated}


def _cell(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, float)):
        return v
    s = str(v)
    return s if len(s) <= MAX_CELL_CHARS else s[:MAX_CELL_CHARS] + "…"


def schema_text(con: duckdb.DuckDBPyConnection) -> str:
    """``table(col TYPE, ...)`` lines, for the tool description and the task prompt."""
    rows = con.execute("SELECT table_name, column_name, data_type FROM information_schema.columns "
                       "ORDER BY table_name, ordinal_position").fetchall()
    tables: dict[str, list[str]] = {}
    for t, c, ty in rows:
        tables.setdefault(t, []).append(f"{c} {ty}")
    return "\n".join(f"{t}({', '.join(cs)})" for t, cs in tables.items())
