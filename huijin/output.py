"""How huijin prints results: JSON on stdout, tables through rich, and the two rich consoles (``console`` for
stdout, ``err_console`` for stderr). One place for the typer app (through ``huijin.common``) and for the fast
path of `huijin catalog ls` (``huijin.cli_fast``, which must start without typer and rich): this module imports
neither typer nor, until a console or a table is used, rich.

The rules the fast path relies on to print the same bytes: ``print_json``'s format, ``cell``'s text of a value
and ``PIPE_WIDTH``, the consoles' width when their stream is not a terminal.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, redirect_stdout
from typing import Any

# a pipe or CI log is not a terminal: give tables room instead of rich's 80-column default
PIPE_WIDTH = 150
CONSOLES = {"console": False, "err_console": True}  # name: on stderr


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=1, default=str) + "\n")


def cell(v: Any) -> str:
    """A value as a table cell: None empty, a float to 4 significant digits, a dict or list as JSON."""
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False, default=str)
    return str(v)


def print_table(rows: Sequence[dict[str, Any]] | Iterable[Sequence[Any]], columns: Sequence[str] | None = None,
                title: str | None = None) -> None:
    from rich.table import Table

    rows = list(rows)
    if columns is None:
        columns = list(rows[0].keys()) if rows and isinstance(rows[0], dict) else []
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(str(c), overflow="fold")
    for r in rows:
        vals = [r.get(c) for c in columns] if isinstance(r, dict) else list(r)
        t.add_row(*[cell(v) for v in vals])
    (globals().get("console") or __getattr__("console")).print(t)


def __getattr__(name: str) -> Any:
    """``console`` and ``err_console``, made on first use (rich is imported then) and kept."""
    if name not in CONSOLES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from rich.console import Console

    stderr = CONSOLES[name]
    tty = (sys.stderr if stderr else sys.stdout).isatty()
    globals()[name] = Console(stderr=stderr, width=None if tty else PIPE_WIDTH)
    return globals()[name]


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Inside, what is printed to stdout goes to stderr, so that stdout carries only the JSON printed after it
    (``--json``): training progress (ours, DeepSpeed's, launcher ranks') follows at the file-descriptor level, so
    subprocesses do too."""
    base = sys.stdout
    while hasattr(base, "_stream"):  # huijin.quiet's stdout filters
        base = base._stream
    real = base is sys.__stdout__
    saved = None
    sys.stdout.flush()
    if real:
        saved = os.dup(1)
        os.dup2(2, 1)
    try:
        with redirect_stdout(sys.stderr):
            yield
    finally:
        if saved is not None:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
