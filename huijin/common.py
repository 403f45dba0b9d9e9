"""Shared CLI plumbing: the store option, tables and JSON output."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

# a pipe or CI log is not a terminal: give tables room instead of rich's 80-column default
console = Console(width=None if sys.stdout.isatty() else 150)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 150)

DEFAULT_STORE = "./huijin-store"
StoreOpt = typer.Option(None, "--store", envvar="HUIJIN_STORE", help=f"store root (default {DEFAULT_STORE})")
JsonOpt = typer.Option(False, "--json", help="print JSON instead of a table")


def store_root(store: str | None) -> str:
    """The one default-store rule: --store, else $HUIJIN_STORE, else ./huijin-store (the root only, nothing opened)."""
    return str(store or os.environ.get("HUIJIN_STORE") or DEFAULT_STORE)


def open_store(store: str | None, create: bool = True):
    from catalogs import Store

    return Store.open(store_root(store), create=create)


_SCI_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def parse_sets(items: Sequence[str], nest: bool = True) -> dict[str, Any]:
    """``--set KEY=VALUE`` overrides, values read as YAML scalars (``1e-5`` is a number, not YAML 1.1's string).
    With ``nest``, ``STAGE.KEY=VALUE`` becomes ``{STAGE: {KEY: VALUE}}``; without, the dotted key stays one key."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, val = item.partition("=")
        key = key.strip()
        if not sep or not key:
            fail(f"--set {item!r}: expected KEY=VALUE" + (" or STAGE.KEY=VALUE" if nest else ""))
        target = out
        *parents, leaf = key.split(".") if nest else [key]
        for p in parents:
            target = target.setdefault(p, {})
        parsed = yaml.safe_load(val)
        if isinstance(parsed, str) and _SCI_FLOAT.fullmatch(parsed):
            parsed = float(parsed)
        target[leaf] = parsed
    return out


def nearest(key: str, valid: Iterable[str]) -> str | None:
    """The closest valid name to a misspelled ``key`` (one rule: ``training.config_keys.nearest``)."""
    # imported here: the CLI starts without the training package
    from training.config_keys import nearest as _nearest

    return _nearest(key, valid)


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
    err_console.print(f"[bold red]error:[/] {msg}", soft_wrap=True)  # one line, however long
    raise typer.Exit(code)
