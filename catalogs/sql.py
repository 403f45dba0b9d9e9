"""Read-only SQL over the catalog and over the rows of versions.

``rows('fin-web@2')`` in a query is replaced by a ``read_parquet`` of that version's shards, so
``select lang, count(*) from rows('fin-web@2') group by 1`` works next to the catalog tables. Queries run
on a read-only connection, only SELECT / EXPLAIN statements are accepted, and file access is confined to
the store root (DuckDB's ``allowed_directories`` with external access disabled, configuration locked).
Every query is bounded: a time limit (the connection is interrupted), a row limit (results stream, so
``select * from range(10^8)`` stops after the first rows) and a DuckDB memory limit (no spilling to disk).
It runs on a private copy of ``catalog.duckdb`` taken under the read lock, so a long query never holds the
catalog lock: imports and commits go on while it runs.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

if TYPE_CHECKING:
    from .store import Store

ROWS_CALL = re.compile(r"\brows\s*\(\s*'([^']+)'\s*\)", re.IGNORECASE)
ALLOWED_STATEMENTS = {"SELECT", "EXPLAIN"}


DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_ROWS = 10_000
DEFAULT_MEMORY_LIMIT = "2GB"
MEMORY_LIMIT = re.compile(r"^\s*\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE)


class QueryError(ValueError):
    pass


class QueryLimitError(QueryError):
    """The query hit its time or memory limit (the message names the option that raises it)."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple]
    truncated: bool  # more rows than max_rows: only the first max_rows are here
    seconds: float


def check_limits(timeout_s: float | None, max_rows: int | None, memory_limit: str | None) -> None:
    import math

    if timeout_s is not None and not (isinstance(timeout_s, (int, float)) and math.isfinite(timeout_s) and timeout_s > 0):
        raise QueryError(f"time limit must be a positive number of seconds, got {timeout_s!r}")
    if max_rows is not None and not (isinstance(max_rows, int) and max_rows > 0):
        raise QueryError(f"row limit must be a positive integer, got {max_rows!r}")
    if memory_limit is not None and not MEMORY_LIMIT.match(str(memory_limit)):
        raise QueryError(f"memory limit must look like 512MB or 2GB, got {memory_limit!r}")


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


def query(store: Store, sql: str, params: list[Any] | None = None, *, timeout_s: float | None = None,
          max_rows: int | None = None, memory_limit: str | None = DEFAULT_MEMORY_LIMIT) -> tuple[list[str], list[tuple]]:
    """Run read-only SQL; returns (column names, rows). Limits as in ``run_query`` (none on time or rows here)."""
    r = run_query(store, sql, params, timeout_s=timeout_s, max_rows=max_rows, memory_limit=memory_limit)
    return r.columns, r.rows


def run_query(store: Store, sql: str, params: list[Any] | None = None, *, timeout_s: float | None = DEFAULT_TIMEOUT_S,
              max_rows: int | None = DEFAULT_MAX_ROWS, memory_limit: str | None = DEFAULT_MEMORY_LIMIT) -> QueryResult:
    """Run read-only SQL on a snapshot of the catalog within a time, row and memory limit.

    More rows than ``max_rows`` → the first ``max_rows`` and ``truncated=True``; the time or memory limit →
    ``QueryLimitError``. ``None`` turns a limit off."""
    check_limits(timeout_s, max_rows, memory_limit)
    expanded = expand_rows(store, sql)
    with tempfile.TemporaryDirectory(prefix="huijin-query-") as tmp:
        try:
            con = duckdb.connect(str(snapshot_catalog(store, Path(tmp))))
        except duckdb.Error as e:
            raise store.index.damaged(str(e).splitlines()[0]) from None
        try:
            try:  # the bar would write into --json / --csv output; in Jupyter DuckDB refuses to change it
                con.execute("SET enable_progress_bar = false")
            except duckdb.InvalidInputException:
                pass
            if memory_limit is not None:
                con.execute(f"SET memory_limit = '{memory_limit}'")
                con.execute("SET temp_directory = ''")  # no spilling: over the limit is an error, not a full disk
            sandbox(con, [store.root])
            check_read_only(con, expanded)
            return _execute(con, expanded, params, timeout_s, max_rows, memory_limit)
        finally:
            con.close()


def snapshot_catalog(store: Store, dest: Path) -> Path:
    """Copy catalog.duckdb (and its WAL) under the read lock, held only for the copy."""
    target = dest / "catalog.duckdb"
    if not store.index.path.exists():
        store.index.check_present()  # missing beside versions: damaged, not empty
        store.index.init()
    with store.index.read_lock():
        shutil.copyfile(store.index.path, target)
        wal = Path(str(store.index.path) + ".wal")
        if wal.exists():
            shutil.copyfile(wal, Path(str(target) + ".wal"))
    return target


def _execute(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None, timeout_s: float | None,
             max_rows: int | None, memory_limit: str | None) -> QueryResult:
    t0 = time.monotonic()
    timer = threading.Timer(timeout_s, con.interrupt) if timeout_s is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        statements = con.extract_statements(sql)
        for st in statements[:-1]:
            con.execute(st)
        cur = con.execute(statements[-1], params or [])
        cols = [c[0] for c in cur.description or []]
        rows = cur.fetchall() if max_rows is None else cur.fetchmany(max_rows + 1)
    except duckdb.InterruptException:
        raise QueryLimitError(f"query stopped at the time limit ({timeout_s:g}s): raise it with --timeout SECONDS "
                              "or narrow the query") from None
    except duckdb.OutOfMemoryException:
        raise QueryLimitError(f"query stopped at the memory limit ({memory_limit}): raise it with --memory-limit "
                              "(e.g. 8GB) or narrow the query") from None
    except duckdb.Error as e:
        msg = str(e).splitlines()[0]
        if "interrupt" in msg.lower():
            raise QueryLimitError(f"query stopped at the time limit ({timeout_s:g}s): raise it with --timeout SECONDS "
                                  "or narrow the query") from None
        raise QueryError(msg) from None
    finally:
        if timer is not None:
            timer.cancel()
    truncated = max_rows is not None and len(rows) > max_rows
    return QueryResult(cols, rows[:max_rows] if truncated else rows, truncated, time.monotonic() - t0)
