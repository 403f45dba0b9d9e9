"""Shared CLI plumbing of the typer app: the store option, ``--set`` parsing, errors; tables, JSON and the
consoles come from ``huijin.output`` (shared with the typer-free fast path) and are re-exported here."""

from __future__ import annotations

import functools
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


# The CLI's exit codes (README: "a bad ref or option is one line on stderr and exit 2"), one rule for all commands:
#   2  bad input: the command line names something that is not there, or gives a value out of range — a ref that
#      names no version, a store, file, run or snapshot that does not exist, a bad option (click's usage errors
#      and ``fail(..., code=BAD_INPUT)``). The fix is a different command line.
#   1  the command ran and failed: bad contents of a file or recipe it read, a SQL error or limit, an immutable
#      snapshot, a damaged index, a lock held too long, integrity problems found (`catalog verify`).
BAD_INPUT, FAILED = 2, 1
# the library errors a command words as one line, by (module, class name); the first class of an error's MRO
# found here decides (a RefError is a ValueError: 2). Matching names, not classes, keeps pyarrow and the curation
# stack out of commands that never load them (an error of a module not loaded cannot have been raised).
KNOWN_ERRORS: dict[tuple[str, str], int] = {
    ("catalogs.refs", "RefError"): BAD_INPUT,  # a malformed ref, or one that names no version
    ("builtins", "FileNotFoundError"): BAD_INPUT,  # no store, no such file
    ("builtins", "KeyError"): BAD_INPUT,  # no run or snapshot by that name
    ("yaml.error", "YAMLError"): BAD_INPUT,  # a recipe, suite or config file that is not YAML
    ("catalogs.index", "CatalogDamaged"): FAILED,  # the message says to run `huijin catalog rebuild`
    ("builtins", "TimeoutError"): FAILED,  # another process held the store's lock
    ("catalogs.sql", "QueryError"): FAILED,  # SQL that failed, was refused or hit a limit
    ("catalogs.schemas", "SchemaError"): FAILED,  # rows that do not fit their kind
    ("catalogs.snapshots", "SnapshotError"): FAILED,
    ("catalogs.importer", "ImportFailed"): FAILED,  # a bad record in a file being imported
    ("curation.classify.records", "InputError"): FAILED,  # a bad record in an input file
    ("finance.benchmarks", "BenchmarkMissing"): BAD_INPUT,  # a benchmark file that is not there
    ("finance.benchmarks", "BenchmarkFormatError"): FAILED,
    ("curation.mixture.recipe", "MixtureRecipeError"): FAILED,
    ("builtins", "ValueError"): FAILED,  # any other value the library rejected, in its own words
}


def exit_code_of(e: BaseException) -> int | None:
    """The exit code of a known error (``KNOWN_ERRORS``), or None for one that should show its traceback."""
    for cls in type(e).__mro__:
        code = KNOWN_ERRORS.get((cls.__module__, cls.__name__))
        if code is not None:
            return code
    return None


def one_line_errors(fn):
    """A command's known library errors as one line on stderr with their exit code (``KNOWN_ERRORS``), instead
    of a traceback; anything else goes on to the app's handler."""

    @functools.wraps(fn)
    def wrapper(*a, **k):
        try:
            return fn(*a, **k)
        except Exception as e:
            code = exit_code_of(e)
            if code is None:
                raise
            from . import quiet

            quiet.log_exception(e)  # one line on the console, the traceback in --log-file (as the app's handler)
            msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)  # not KeyError's repr quotes
            fail(" ".join(msg.split()), code=code)

    return wrapper
