"""SQL → a new version: ``select(store, "fin-rl@3", "fin-rl-mid", where="difficulty between 0.2 and 0.8")``.

The rows of a version that match a ``WHERE`` condition (or a full ``SELECT`` over ``rows('REF')``) are written
as a new version of the same kind, with the input version as its parent, the query in its recipe and the rows
left out counted as dropped (``not_selected``) — the way to filter synthesized data by difficulty, taxonomy
leaf, language or score. The query runs through the catalog's read-only sandbox (``catalogs.sql``: SELECT /
EXPLAIN only, file access confined to the store, time and memory limits), and its result is validated against
the kind's schema like any write. Running the same query on the same version again returns the version it
wrote (``Store.commit``: same content, recipe and parents → the same version).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .refs import RefError
from .sql import (
    DEFAULT_MEMORY_LIMIT,
    DEFAULT_TIMEOUT_S,
    ROWS_CALL,
    QueryError,
    QueryLimitError,
    check_read_only,
    sandbox,
)

if TYPE_CHECKING:
    from .manifest import Manifest
    from .store import Store

DROP_REASON = "not_selected"


def build_sql(store: Store, ref: str, where: str | None = None, sql: str | None = None) -> str:
    """The query: ``SELECT * FROM rows('REF') WHERE (…)``, or the caller's full SQL (it must read ``rows('REF')``)."""
    if (where is None) == (sql is None):
        raise QueryError("give either a WHERE condition or a full SQL query, not both")
    if where is not None:
        if not where.strip():
            raise QueryError("empty WHERE condition")
        return f"SELECT * FROM rows('{ref}') WHERE ({where})"
    read = set()
    for r in ROWS_CALL.findall(str(sql)):
        try:
            read.add(store.resolve(r).ref)
        except RefError:
            pass  # expand_rows names it
    if ref not in read:
        raise QueryError(f"the SQL must read the version it selects from: rows('{ref}')")
    return str(sql)


def select(store: Store, ref: str, name: str, where: str | None = None, sql: str | None = None,
           timeout_s: float | None = DEFAULT_TIMEOUT_S, memory_limit: str | None = DEFAULT_MEMORY_LIMIT) -> Manifest:
    """Write the selected rows of ``ref`` as the next version of ``name`` (or return the identical one)."""
    import duckdb

    from .schemas import SCHEMAS
    from .sql import check_limits, expand_rows, snapshot_catalog

    check_limits(timeout_s, None, memory_limit)
    src = store.resolve(ref)
    if src.kind not in SCHEMAS:
        raise QueryError(f"{src.ref} is a '{src.kind}' version: it holds files, not rows to select from")
    query = build_sql(store, src.ref, where, sql)
    expanded = expand_rows(store, query)
    recipe = {"select": {"from": src.ref, "from_hash": src.hash, "where": where, "sql": sql if sql else None,
                         "query": query}}
    with tempfile.TemporaryDirectory(prefix="huijin-select-") as tmp:
        con = duckdb.connect(str(snapshot_catalog(store, Path(tmp))))
        try:
            if memory_limit is not None:
                con.execute(f"SET memory_limit = '{memory_limit}'")
                con.execute("SET temp_directory = ''")
            con.execute("SET preserve_insertion_order = true")  # the same rows in the same order: the same version
            sandbox(con, [store.root])
            check_read_only(con, expanded)
            with store.writer(name, kind=src.kind, parents=[src.ref], recipe=recipe) as w:
                w.add_inputs(src.rows)
                kept = 0
                for batch in _batches(con, expanded, timeout_s, memory_limit):
                    kept += w.write(batch, where=f"select from {src.ref}")
                if kept > src.rows:
                    raise QueryError(f"the query returned {kept} rows, more than the {src.rows} of {src.ref} "
                                     "(a join or union?): a selection keeps a subset of the rows")
                w.count_drop(DROP_REASON, src.rows - kept)
                w.extra["select"] = {"from": src.ref, "kept": kept, "dropped": src.rows - kept}
        finally:
            con.close()
    return w.manifest


def _batches(con, sql: str, timeout_s: float | None, memory_limit: str | None):
    """Arrow record batches of the query's result (streamed), with the catalog's time limit and errors."""
    import threading

    import duckdb
    import pyarrow as pa

    timer = threading.Timer(timeout_s, con.interrupt) if timeout_s is not None else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        reader = con.sql(sql).to_arrow_reader(10_000)
        for b in reader:
            yield pa.Table.from_batches([b])
    except duckdb.InterruptException:
        raise QueryLimitError(f"selection stopped at the time limit ({timeout_s:g}s): raise it with --timeout") from None
    except duckdb.OutOfMemoryException:
        raise QueryLimitError(f"selection stopped at the memory limit ({memory_limit}): raise it with "
                              "--memory-limit") from None
    except duckdb.Error as e:
        raise QueryError(str(e).splitlines()[0]) from None
    finally:
        if timer is not None:
            timer.cancel()
