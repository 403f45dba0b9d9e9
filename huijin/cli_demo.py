"""`huijin demo`: run the chain on embedded defaults (local store, DuckDB file, local executor, CPU)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from .common import StoreOpt, console, open_store, print_table


def demo(
    store: str = StoreOpt,
    workdir: Path = typer.Option(Path("demo-work"), "--workdir", help="where raw demo input is generated"),
) -> None:
    """Generate a small corpus, register it as versions, pin a snapshot and print what happened."""
    from catalogs.importer import import_files

    from .demo_corpus import write_docs_jsonl

    t0 = time.time()
    s = open_store(store or "./huijin-store")
    console.rule("[bold]huijin demo")
    paths = write_docs_jsonl(workdir / "raw")
    fin = import_files(s, "demo-fin-raw", "doc", [paths["fin"]])
    gen = import_files(s, "demo-general-raw", "doc", [paths["general"]])
    snap = s.snapshots.create("demo", {"cpt": [(fin.ref, 0.6), (gen.ref, 0.4)]})
    print_table(s.ls(), ["name", "version", "kind", "rows", "hash", "created_at"], title="versions")
    print_table([{"stage": st, "version": f"{e['dataset']}@{e['version']}", "weight": e["weight"]}
                 for st, es in snap["stages"].items() for e in es], title=f"snapshot {snap['name']} ({snap['hash']})")
    console.print(f"store: {s.root}  ({time.time() - t0:.1f}s)")
