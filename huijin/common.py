"""Shared CLI plumbing of the typer app: the store option, ``--set`` parsing, errors; tables, JSON and the
consoles come from ``huijin.output`` (shared with the typer-free fast path) and are re-exported here."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from typing import Any

import typer

from .output import console, err_console, print_json, print_table  # noqa: F401  (the commands' imports)

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


def fail(msg: str, code: int = 1) -> None:
    err_console.print(f"[bold red]error:[/] {msg}", soft_wrap=True)  # one line, however long
    raise typer.Exit(code)
