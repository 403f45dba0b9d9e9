"""Shared CLI plumbing: the store option, tables and JSON output."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

# a pipe or CI log is not a terminal: give tables room instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

StoreOpt = typer.Option(None, "--store", envvar="HUIJIN_STORE", help="store root (default ./huijin-store)")
JsonOpt = typer.Option(False, "--json", help="print JSON instead of a table")


def open_store(store: str | None, create: bool = True):
    from catalogs import Store

    return Store.open(store or os.environ.get("HUIJIN_STORE") or "./huijin-store", create=create)


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=1, default=str) + "\n")


def print_table(rows: Sequence[dict[str, Any]] | Iterable[Sequence[Any]], columns: Sequence[str] | None = None,
                title: str | None = None) -> None:
    rows = list(rows)
    if columns is None:
        columns = list(rows[0].keys()) if rows and isinstance(rows[0], dict) else []
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(str(c), overflow="fold")
    for r in rows:
        vals = [r.get(c) for c in columns] if isinstance(r, dict) else list(r)
        t.add_row(*["" if v is None else _fmt(v) for v in vals])
    console.print(t)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def fail(msg: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {msg}")
    raise typer.Exit(code)
