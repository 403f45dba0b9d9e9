"""`huijin demo`: run the whole chain on embedded defaults (local store, DuckDB file, local executor, CPU)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from .common import StoreOpt, console, open_store


def demo(
    store: str = StoreOpt,
    workdir: Path = typer.Option(Path("demo-work"), "--workdir", help="raw input, work files and trained models"),
    quick: bool = typer.Option(False, "--quick", help="smaller corpus and fewer training steps (CI)"),
    seed: int = typer.Option(0, "--seed", help="model initialisation and training order (the data stays the same)"),
) -> None:
    """Raw pages → curated, classified, decontaminated docs → mixture → SFT/RL data → snapshot → tiny model
    trained through CPT, SFT and the RL stages on CPU → evaluation. Re-running reuses what exists."""
    from .demo.chain import run_chain
    from .demo.report import print_report

    t0 = time.time()
    s = open_store(store)
    console.rule("[bold]huijin demo")
    state = run_chain(s, workdir, quick=quick, console=console, seed=seed)
    print_report(state, console)
    console.print(f"[bold green]done[/] in {time.time() - t0:.0f}s — store {s.root} · try "
                  "`huijin catalog ls`, `huijin catalog lineage demo-cpt-mix`, `huijin eval compare RUN…`")
