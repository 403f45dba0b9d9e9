"""Read-only SQL over the catalog and over the rows of versions.

``rows('fin-web@2')`` in a query is replaced by a ``read_parquet`` of that version's shards, so
``select lang, count(*) from rows('fin-web@2') group by 1`` works next to the catalog tables. Queries run
on a read-only connection, only SELECT / EXPLAIN statements are accepted, and file access is confined to
the store root (DuckDB's ``allowed_directories`` with external access disabled, configuration locked).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from .store import Store

ROWS_CALL = re.compile(r"\brows\s*\(\s*'([^']+)'\s*\)", re.IGNORECASE)
ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}


class QueryError(ValueError):
    pass


def sandbox(con: duckdb.DuckDBPyConnection, allowed_dirs: Iterable[str | Path] = ()) -> duckdb.DuckDBPyConnection:
    """Confine a connection: files only under ``allowed_dirs``, no extensions, settings locked."""
    dirs = ", ".join("'" + str(Path(d).resolve()).replace("'", "''") + "/'" for d in allowed_dirs)
    con.execute(f"SET allowed_directories = [{dirs}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("SET autoload_known_extensions = false")
    con.execute("SET lock_configuration = true")
    return con


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but SELECT / EXPLAIN (no COPY, ATTACH, INSTALL, SET, PRAGMA, DDL or DML)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as e:
        raise QueryError(f"SQL does not parse: {e}") from None
    if not statements:
        raise QueryError("empty SQL")
    for st in statements:
        kind = str(st.type).rsplit(".", 1)[-1]
        if kind not in ALLOWED_STATEMENTS:
            raise QueryError(f"only read-only queries are allowed (SELECT/EXPLAIN), got {kind}")


def expand_rows(store: Store, sql: str) -> str:
    def repl(m: re.Match) -> str:
        man = store.resolve(m.group(1))
        files = ", ".join("'" + str(p).replace("'", "''") + "'" for p in store.shard_paths(man))
        if not files:
            raise QueryError(f"{man.ref} has no row shards")
        return f"read_parquet([{files}])"

    return ROWS_CALL.sub(repl, sql)


def query(store: Store, sql: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple]]:
    """Run read-only SQL; returns (column names, rows)."""
    expanded = expand_rows(store, sql)
    with store.index.read() as con:
        sandbox(con, [store.root])
        check_read_only(con, expanded)
        statements = con.extract_statements(expanded)
        for st in statements[:-1]:
            con.execute(st)
        try:
            cur = con.execute(statements[-1], params or [])
        except duckdb.Error as e:
            raise QueryError(str(e).splitlines()[0]) from None
        return [c[0] for c in cur.description], cur.fetchall()
