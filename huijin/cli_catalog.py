"""`huijin catalog …`: versions, lineage, SQL, integrity, snapshots and runs."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from .common import (
    JsonOpt,
    StoreOpt,
    console,
    err_console,
    fail,
    one_line_errors,
    open_store,
    print_json,
    print_table,
)

# the defaults of catalogs.sql.run_query (literals here: importing duckdb at CLI start costs 0.2 s)
DEFAULT_TIMEOUT_S, DEFAULT_MAX_ROWS, DEFAULT_MEMORY_LIMIT = 60.0, 10_000, "2GB"

app = typer.Typer(help="The dataset catalog: versions, lineage, SQL, snapshots, runs.", no_args_is_help=True)
snapshot_app = typer.Typer(help="Immutable pins of versions and weights per training stage.", no_args_is_help=True)
app.add_typer(snapshot_app, name="snapshot")


def progress_bar(desc: str, iterable=None, unit: str = " rec"):
    """The one progress line of a long command: a tqdm bar on stderr, none for a run shorter than a second,
    gone when it ends (the summary table follows). Iterate it, or call ``.update(n)``."""
    from tqdm import tqdm

    return tqdm(iterable, desc=desc, unit=unit, mininterval=0.5, leave=False, delay=1.0)


@app.command()
@one_line_errors
def init(store: str = StoreOpt) -> None:
    """Create an empty store (folder + catalog.duckdb)."""
    s = open_store(store)
    console.print(f"store ready at [bold]{s.root}[/]")


@app.command("import")
@one_line_errors
def import_(
    files: list[Path] = typer.Argument(..., help="JSONL (.jsonl, .jsonl.gz) or Parquet files"),
    kind: str = typer.Option(..., "--kind", help="doc | sft | rl | pref"),
    name: str = typer.Option(..., "--name", help="dataset name; the version number is assigned"),
    text_field: str = typer.Option(None, "--text-field", help="input field holding the text (doc)"),
    map_: list[str] = typer.Option([], "--map", help="rename a field: src=dst (repeatable)"),
    on_error: str = typer.Option("raise", "--on-error", help="raise | quarantine"),
    store: str = StoreOpt,
) -> None:
    """Register JSONL or Parquet files as a new version."""
    from catalogs import SCHEMAS
    from catalogs.importer import import_files

    if kind not in SCHEMAS:
        fail(f"--kind {kind!r}: expected one of {', '.join(sorted(SCHEMAS))}", code=2)
    if on_error not in ("raise", "quarantine"):
        fail(f"--on-error {on_error!r}: expected raise or quarantine", code=2)
    if text_field is not None and not text_field.strip():
        fail("--text-field: empty field name", code=2)
    mapping = {}
    for m in map_:
        src, sep, dst = m.partition("=")
        if not sep or not src or not dst:
            fail(f"--map {m!r}: expected src=dst", code=2)
        mapping[src] = dst
    s = open_store(store)
    with progress_bar(f"import {name}") as bar:
        man = import_files(s, name, kind, files, text_field=text_field, mapping=mapping, on_error=on_error,
                           progress=bar.update)
    print_table([{"version": man.ref, "kind": man.kind, "rows": man.rows, "quarantined": man.n_quarantined,
                  "inputs": man.inputs, "hash": man.hash}], title="imported")
    if man.n_quarantined:
        console.print(f"[yellow]{man.n_quarantined} records quarantined:[/] {man.quarantined}")


@app.command()
@one_line_errors
def ls(name: str = typer.Argument(None), kind: str = typer.Option(None, "--kind", help="only versions of this kind (doc, sft, rl, tokens, artifact, …)"),
       json_: bool = JsonOpt,
       store: str = StoreOpt) -> None:
    """List versions (all, or of one dataset)."""
    from .cli_fast import LS_COLUMNS, LS_TITLE, ls_key, take_handed_over

    # the entry point's fast path (cli_fast) may have read the rows already, or met the error worded here
    rows = take_handed_over(ls_key(name, kind, store))
    if rows is None:
        rows = open_store(store).ls(name, kind)
    if json_:
        print_json(rows)
    else:
        print_table(rows, LS_COLUMNS, title=LS_TITLE)


@app.command()
@one_line_errors
def show(ref: str, json_: bool = JsonOpt, store: str = StoreOpt) -> None:
    """Show a version's manifest."""
    s = open_store(store)
    m = s.resolve(ref)
    folder = s.path_of(m)
    quarantine = sorted(str(p) for p in (folder / "quarantine").glob("*")) if (folder / "quarantine").is_dir() else []
    if json_:
        print_json({**m.to_dict(), "folder": str(folder), "quarantine_shards": quarantine})
        return
    console.print(f"folder: {folder}")
    if quarantine:
        console.print(f"quarantine shard(s), each record with its reason: {', '.join(quarantine)}")
    console.print(f"[bold]{m.ref}[/]  kind={m.kind}  rows={m.rows}  hash={m.hash}  code={m.code_version}")
    console.print(f"parents: {', '.join(p['name'] + '@' + str(p['version']) for p in m.parents) or '—'}")
    console.print(f"recipe ({m.recipe_hash}): {json.dumps(m.recipe, ensure_ascii=False)[:400]}")
    if m.inputs is not None:
        console.print(f"inputs={m.inputs} = kept {m.rows} + dropped {m.dropped} + quarantined {m.n_quarantined}")
    for title, counts in [("dropped", m.drops), ("quarantined", m.quarantined), *m.stats.items()]:
        if counts:
            print_table(sorted(counts.items(), key=lambda kv: -kv[1]), ["key", "count"], title=title)
    print_table([s.__dict__ for s in m.shards], ["path", "rows", "bytes", "tokens", "sha256"], title="shards")


@app.command()
@one_line_errors
def drops(ref: str, reason: str = typer.Option(None, "--reason", help="a step:reason key, a step or a reason"),
          limit: int = typer.Option(None, "--limit", help="examples per step:reason (default: all kept, N=20)"),
          json_: bool = JsonOpt, store: str = StoreOpt) -> None:
    """Examples of the documents a curation run dropped, per step:reason (text cut, with file and offset)."""
    from curation.tracer import drops as read_drops

    s = open_store(store)
    rows = read_drops(s, ref, reason, limit)
    if json_:
        print_json(rows)
        return
    m = s.resolve(ref)
    if not rows:
        console.print(f"{m.ref}: no dropped examples kept" + (f" for {reason}" if reason else ""))
        return
    for key in dict.fromkeys(r["key"] for r in rows):
        ex = [r for r in rows if r["key"] == key]
        console.print(f"[bold]{key}[/]  dropped {m.drops.get(key, '?')}, {len(ex)} example(s)")
        for r in ex:
            text = " ".join(r["text"].split())
            console.print(f"  {r['file']}:{r['offset']}  ({r['chars']} chars)  {text[:160]}", highlight=False,
                          markup=False)


@app.command()
@one_line_errors
def lineage(ref: str, json_: bool = JsonOpt, store: str = StoreOpt) -> None:
    """Ancestors of a version (what it was made from), nearest first."""
    from catalogs.raw_inputs import lineage_with_raw

    rows = lineage_with_raw(open_store(store), ref)  # catalog ancestors, then the raw files each one read
    if json_:
        print_json(rows)
    else:
        print_table(rows, ["depth", "name", "version", "kind", "rows", "child"], title=f"lineage of {ref}")


@app.command()
@one_line_errors
def query(
    sql: str,
    json_: bool = JsonOpt,
    csv: bool = typer.Option(False, "--csv", help="print CSV (nested values as JSON, NULL empty)"),
    timeout: float = typer.Option(DEFAULT_TIMEOUT_S, "--timeout", help="time limit in seconds"),
    max_rows: int = typer.Option(DEFAULT_MAX_ROWS, "--max-rows", help="print at most this many rows"),
    memory_limit: str = typer.Option(DEFAULT_MEMORY_LIMIT, "--memory-limit", help="DuckDB memory limit (e.g. 8GB)"),
    store: str = StoreOpt,
) -> None:
    """Read-only SQL over the catalog tables; rows('name@N') reads a version's rows.

    Runs on a snapshot of the catalog (imports go on meanwhile) within a time, row and memory limit."""
    from catalogs.sql import QueryError, check_limits, run_query

    try:
        check_limits(timeout, max_rows, memory_limit)
    except QueryError as e:
        fail(str(e), code=2)
    res = run_query(open_store(store), sql, timeout_s=timeout, max_rows=max_rows, memory_limit=memory_limit)
    cols, rows = res.columns, res.rows
    if res.truncated:
        err_console.print(f"[yellow]stopped at the row limit:[/] showing the first {max_rows} rows; raise it with "
                          "--max-rows N or add LIMIT / an aggregate", highlight=False)
    if json_:
        print_json([dict(zip(cols, r, strict=True)) for r in rows])
    elif csv:
        import csv as csvmod
        import sys

        w = csvmod.writer(sys.stdout)
        w.writerow(cols)
        w.writerows([[_csv_cell(v) for v in r] for r in rows])
    else:
        print_table(rows, cols)


def _csv_cell(v):
    """Maps, lists and structs as JSON (not Python's repr), NULL as an empty cell."""
    if v is None:
        return ""
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, ensure_ascii=False, default=_json_scalar)
    return v


def _json_scalar(v):
    from decimal import Decimal

    return float(v) if isinstance(v, Decimal) else str(v)  # DuckDB's 0.99 literal is a DECIMAL


@app.command()
@one_line_errors
def verify(ref: str = typer.Argument(None), store: str = StoreOpt) -> None:
    """Re-hash shards and name every corrupted or missing file (exit 1 if any)."""
    s = open_store(store)
    problems = s.verify(ref)
    if ref:
        m = s.resolve(ref)
        checked = [{"shards": len(m.shards), "bytes": m.bytes}]
    else:
        checked = s.ls()
    print_table([{"versions": len(checked), "shards": sum(v["shards"] or 0 for v in checked),
                  "bytes": sum(v["bytes"] or 0 for v in checked), "problems": len(problems)}], title="verified")
    if problems:
        print_table(problems, ["version", "file", "problem"], title="integrity problems")
        raise typer.Exit(1)
    console.print("[green]all shards match their sha256[/]")


@app.command()
@one_line_errors
def rebuild(json_: bool = JsonOpt, store: str = StoreOpt) -> None:
    """Recreate catalog.duckdb from the manifests, snapshot and run files."""
    s = open_store(store)
    counts = s.rebuild()
    if json_:
        print_json({"catalog": str(s.index.path), **counts})
    else:
        print_table([{"table": k, "rows": v} for k, v in counts.items()], ["table", "rows"],
                    title="catalog rebuilt from the files")


@app.command()
@one_line_errors
def gc(
    idle: float = typer.Option(3600.0, "--idle", help="seconds without writes before a dead job's staging goes"),
    foreign_idle: float = typer.Option(86400.0, "--foreign-idle",
                                       help="the same for staging without an owner or written from another host"),
    dry_run: bool = typer.Option(False, "--dry-run", help="list what would be removed"),
    json_: bool = JsonOpt,
    store: str = StoreOpt,
) -> None:
    """Remove staging folders of dead jobs (killed runs); running jobs' staging is kept."""
    import math

    for opt, v in (("--idle", idle), ("--foreign-idle", foreign_idle)):
        if not (math.isfinite(v) and v >= 0):
            fail(f"{opt} must be a number of seconds >= 0, got {v}", code=2)
    stale = open_store(store).gc_staging(idle, foreign_idle, dry_run=dry_run)
    if json_:
        print_json({"removed": [] if dry_run else stale, "would_remove": stale if dry_run else []})
        return
    mb = sum(s["bytes"] for s in stale) / 1e6
    verb = "would remove" if dry_run else "removed"
    console.print(f"{verb} {len(stale)} stale staging folder(s), {mb:.1f} MB")
    if stale:
        print_table(stale, ["path", "bytes", "idle_s", "why"])


@app.command()
@one_line_errors
def runs(snapshot: str = typer.Option(None, "--snapshot", help="only runs of this snapshot"), json_: bool = JsonOpt, store: str = StoreOpt) -> None:
    """Training runs recorded in the catalog."""
    rows = open_store(store).runs.ls(snapshot)
    if json_:
        print_json(rows)
    else:
        print_table(rows, ["run_id", "snapshot", "stage", "status", "input_model", "output_model", "started_at"],
                    title="runs")


@app.command()
@one_line_errors
def artifacts(json_: bool = JsonOpt, store: str = StoreOpt) -> None:
    """Artifacts (classifier models, tokenizers, indexes, checkpoints) with their checksums."""
    rows = open_store(store).artifacts.ls()
    print_json(rows) if json_ else print_table(rows, ["name", "version", "artifact_kind", "bytes", "sha256", "path"])


@snapshot_app.command("create")
@one_line_errors
def snapshot_create(
    name: str,
    stage: list[str] = typer.Option(..., "--stage", help="STAGE=REF:WEIGHT[,REF:WEIGHT…], repeatable"),
    tokenizer: str = typer.Option(None, "--tokenizer", help="tokenizer file or folder to pin (sha256)"),
    graph: Path = typer.Option(None, "--graph", help="YAML stage graph to pin (nodes: {NODE: {stage, after, "
                               "config}}, branches); --stage then names its nodes (training/branches.py)"),
    store: str = StoreOpt,
) -> None:
    """Pin versions and weights per stage; same content again is a no-op, different content an error."""
    from catalogs import SnapshotError, parse_stage_arg
    from training.stages import STAGES

    try:
        parsed = [parse_stage_arg(s) for s in stage]
    except SnapshotError as e:
        fail(str(e), code=2)
    options: dict = {}
    if graph is not None:
        import yaml

        if not graph.is_file():
            fail(f"--graph {graph} does not exist", code=2)
        options["graph"] = yaml.safe_load(graph.read_text(encoding="utf-8"))
    nodes = set(((options.get("graph") or {}).get("nodes") or {}) if isinstance(options.get("graph"), dict) else ())
    for st, _ in parsed:
        if st not in STAGES and st not in nodes:
            fail(f"--stage {st!r}: unknown stage; known: {', '.join(sorted(STAGES))}"
                 + (f"; graph nodes: {', '.join(sorted(nodes))}" if nodes else ""), code=2)
    stages: dict = {}
    for st, entries in parsed:  # a stage given twice adds its entries
        stages.setdefault(st, []).extend(entries)
    if graph is not None:  # the graph is checked against the data before anything is pinned
        from training.branches import check_graph
        from training.plan import PlanError

        try:
            check_graph(options["graph"], {"name": name, "stages": stages})
        except PlanError as e:
            fail(str(e), code=2)
    spec = open_store(store).snapshots.create(name, stages, tokenizer=tokenizer, options=options or None)
    console.print(f"snapshot [bold]{spec['name']}[/] hash={spec['hash']}")


@snapshot_app.command("show")
@one_line_errors
def snapshot_show(name: str, json_: bool = JsonOpt, store: str = StoreOpt) -> None:
    """Each stage with versions, weights, rows, tokens and shard checksums."""
    spec = open_store(store).snapshots.show(name)
    if json_:
        print_json(spec)
        return
    console.print(f"[bold]{spec['name']}[/] hash={spec['hash']} created={spec['created_at']} "
                  f"tokenizer={(spec.get('tokenizer') or {}).get('path', '—')}")
    rows = [{"stage": st, "version": f"{e['dataset']}@{e['version']}", "weight": e["weight"], "rows": e["rows"],
             "tokens": e["tokens"], "shards": len(e["shards"]),
             "sha256": ", ".join(s["sha256"][:12] for s in e["shards"][:3]) + (" …" if len(e["shards"]) > 3 else "")}
            for st, entries in spec["stages"].items() for e in entries]
    print_table(rows, ["stage", "version", "weight", "rows", "tokens", "shards", "sha256"])


@snapshot_app.command("ls")
@one_line_errors
def snapshot_ls(json_: bool = JsonOpt, store: str = StoreOpt) -> None:
    rows = open_store(store).snapshots.ls()
    print_json(rows) if json_ else print_table(rows, ["name", "hash", "stages", "entries", "created_at"])
