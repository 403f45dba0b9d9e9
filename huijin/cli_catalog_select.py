"""`huijin catalog select REF --where "…" --name NAME` (or `--sql`): rows of a version → a new version.

Wiring only: the work is ``catalogs.select`` (read-only SQL through the catalog's sandbox)."""

from __future__ import annotations

import typer

from .cli_catalog import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT_S, app
from .common import JsonOpt, StoreOpt, fail, one_line_errors, open_store, print_json, print_table


@app.command("select")
@one_line_errors
def select(
    ref: str = typer.Argument(..., help="the version to select from (name@N)"),
    name: str = typer.Option(..., "--name", help="dataset name of the new version"),
    where: str | None = typer.Option(None, "--where", help="SQL condition on its rows, e.g. \"difficulty between "
                                     "0.2 and 0.8\" or \"lang = 'zh' and taxonomy like 'wealth_advisory/%'\""),
    sql: str | None = typer.Option(None, "--sql", help="a full SELECT over rows('REF') instead of --where"),
    timeout: float = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", help="time limit in seconds"),
    memory_limit: str = typer.Option(DEFAULT_MEMORY_LIMIT, "--memory-limit", help="DuckDB memory limit (e.g. 8GB)"),
    store: str = StoreOpt,
    json_: bool = JsonOpt,
) -> None:
    """Write the rows of REF matching --where (or returned by --sql) as a new version: REF is its parent, the
    query is in its recipe, the rows left out are counted. The same query again returns the same version."""
    from catalogs.select import DROP_REASON
    from catalogs.select import select as run_select

    if (where is None) == (sql is None):
        fail("give --where CONDITION or --sql QUERY (one of them)", code=2)
    s = open_store(store, create=False)
    before = {(v["name"], v["version"]) for v in s.ls(name)}
    m = run_select(s, ref, name, where=where, sql=sql, timeout_s=timeout, memory_limit=memory_limit)
    row = {"version": m.ref, "parent": ref if "@" in ref else s.resolve(ref).ref, "kind": m.kind, "rows": m.rows,
           "dropped": m.drops.get(DROP_REASON, 0), "reused": (m.name, m.version) in before, "hash": m.hash}
    print_json(row) if json_ else print_table([row], title="selected")
