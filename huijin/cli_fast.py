"""`huijin catalog ls` without typer and rich: the one command people run to look around, answered in about
half the start-up of the typer app (whose imports alone — typer, rich, DuckDB's Python layer — take longer
than the 300 ms goal of issue 16).

Contract: ``run(argv)`` prints exactly what the typer app would print for the same command line, or prints
nothing and returns False so that the typer app (``huijin.cli_app``) runs instead. It takes a command line
only when it is the plain form ``[--verbose] catalog ls [NAME] [--kind K] [--json] [--store S]`` (options in
any order, ``--opt=value`` too); help, completion, ``--log-file``, an unknown or malformed option all go to
typer, which parses them and words the errors. The rows come from the library's own ``Store.ls``; an error
while reading them is handed to the typer command (``handed_over``) so it is worded the same way there
without reading the catalog a second time.

What is left out, and why it is safe:

- typer and click: the grammar above is all `catalog ls` accepts; anything else is typer's.
- DuckDB's Python layer: ``Store.ls`` reads through ``catalogs.duck``, which connects with DuckDB's engine module
  and leaves the package's Python layer (~0.15 s of imports) unloaded; nothing here is special to the fast path.
- rich: ``plain_table`` writes the table ``huijin.output.print_table`` would (rich's heavy-head box, the
  title centred, bold header and italic title on a terminal) when the layout needs none of rich's judgement:
  every cell printable ASCII without markup or emoji codes, the table as wide as its content and no wider than
  the console, a UTF-8 stream, no environment variable that changes rich's terminal detection. Otherwise it
  returns None and the typer command prints the rows through rich. tests/test_cli_fast.py compares both
  paths' bytes, and this renderer with rich's on generated tables.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from . import output

# `huijin catalog ls`: its table's columns and title (the typer command prints the same)
LS_COLUMNS = ["name", "version", "kind", "rows", "tokens", "shards", "dropped", "quarantined", "hash", "created_at"]
LS_TITLE = "versions"
LS_OPTIONS = {"--kind": "kind", "--store": "store"}  # options that take a value
LS_FLAGS = {"--json": "json"}

# rich decides by these whether (and how wide) it writes to a terminal: with any of them set, rich prints
RICH_ENV = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "NO_COLOR", "JUPYTER_COLUMNS", "JUPYTER_LINES")
_EMOJI_CODE = re.compile(r"(:(\S*?)(?:(?:\-)(emoji|text))?:)")  # rich's (rich/_emoji_replace.py)
_PLAIN = re.compile(r"[\x20-\x5a\x5c-\x7e]*")  # printable ASCII without '[' (rich markup starts with it)

# results the fast path computed and hands to the typer command: {(command, *arguments): rows or exception}
handed_over: dict[tuple, Any] = {}


def run(argv: list[str]) -> bool:
    """Answer ``argv`` here (True) or leave it to the typer app (False, nothing printed)."""
    if os.name != "posix" or any(k.endswith("_COMPLETE") for k in os.environ):
        return False
    args = parse_ls(argv)
    if args is None:
        return False
    from . import quiet

    quiet.configure(args["verbose"] or quiet.verbose_requested(argv))  # what the app's callback does
    store = args["store"] if args["store"] is not None else os.environ.get("HUIJIN_STORE") or None  # as click does
    key = ls_key(args["name"], args["kind"], store)
    try:
        from catalogs.store import Store

        rows = Store.open(store).ls(args["name"], args["kind"])
    except Exception as e:  # worded by the typer command (one line, exit code), not here
        handed_over[key] = e
        return False
    if args["json"]:
        output.print_json(rows)
        return True
    text = plain_table(rows, LS_COLUMNS, LS_TITLE, *console_layout())
    if text is None:
        handed_over[key] = rows
        return False
    sys.stdout.write(text)
    return True


def ls_key(name: str | None, kind: str | None, store: str | None) -> tuple:
    return ("ls", name, kind, store)


def take_handed_over(key: tuple) -> Any:
    """The rows the fast path read for this command (raising the error it met), or None."""
    if key not in handed_over:
        return None
    got = handed_over.pop(key)
    if isinstance(got, BaseException):
        raise got
    return got


def parse_ls(argv: list[str]) -> dict[str, Any] | None:
    """``[--verbose] catalog ls [NAME] [--kind K] [--json] [--store S]``, or None for any other command line."""
    out: dict[str, Any] = {"verbose": False, "name": None, "kind": None, "json": False, "store": None}
    words = list(argv)
    while words and words[0] == "--verbose":
        out["verbose"] = True
        words.pop(0)
    if words[:2] != ["catalog", "ls"]:
        return None
    words, positional, only_args = words[2:], [], False
    while words:
        w = words.pop(0)
        if only_args or not w.startswith("-") or w == "-":
            positional.append(w)
        elif w == "--":
            only_args = True
        elif w in LS_FLAGS:
            out[LS_FLAGS[w]] = True
        elif w.partition("=")[0] in LS_OPTIONS:
            opt, eq, value = w.partition("=")
            if not eq:
                if not words:
                    return None
                value = words.pop(0)
            out[LS_OPTIONS[opt]] = value
        else:  # --help, a misspelling, a short option: typer's
            return None
    if len(positional) > 1:
        return None
    out["name"] = positional[0] if positional else None
    return out


def console_layout() -> tuple[int, bool] | tuple[None, None]:
    """(width, styled) of huijin's rich console on stdout, or (None, None) where rich's own detection is needed."""
    if any(k in os.environ for k in RICH_ENV) or not (sys.stdout.encoding or "").lower().startswith("utf"):
        return None, None
    try:
        tty = sys.stdout.isatty()
    except ValueError:
        return None, None
    if not tty:
        return output.PIPE_WIDTH, False
    if os.environ.get("TERM", "").lower() in ("dumb", "unknown"):
        return None, None
    width = None
    for fd in (0, 1, 2):  # rich's order
        try:
            width = os.get_terminal_size(fd).columns
            break
        except (AttributeError, ValueError, OSError):
            pass
    columns = os.environ.get("COLUMNS")
    if columns is not None and columns.isdigit():
        width = int(columns)
    return width or 80, True


def plain_table(rows: list[dict[str, Any]], columns: list[str], title: str | None, width: int | None,
                styled: bool | None) -> str | None:
    """The text ``huijin.output.print_table(rows, columns, title)`` prints on a console ``width`` wide
    (``styled``: a terminal, bold header and italic title), or None where that takes rich's layout."""
    if width is None:
        return None
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    if any(c is None for row in cells for c in row) or not all(_plain(c) for c in columns):
        return None
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    total = sum(widths) + 3 * len(widths) + 1
    if total > width or (title is not None and (not _plain(title) or len(title) > total)):
        return None
    bold, italic, reset = ("\x1b[1m", "\x1b[3m", "\x1b[0m") if styled else ("", "", "")
    out = []
    if title is not None:
        left = (total - len(title)) // 2
        out.append(f"{italic}{' ' * left}{title}{' ' * (total - len(title) - left)}{reset}")
    out.append("┏" + "┳".join("━" * (w + 2) for w in widths) + "┓")
    pad = f"{bold} {reset}"
    out.append("┃" + "┃".join(f"{pad}{bold}{c.ljust(w)}{reset}{pad}" for c, w in zip(columns, widths, strict=True))
               + "┃")
    out.append("┡" + "╇".join("━" * (w + 2) for w in widths) + "┩")
    out += ["│" + "│".join(f" {c.ljust(w)} " for c, w in zip(row, widths, strict=True)) + "│" for row in cells]
    out.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    return "\n".join(out) + "\n"


def _cell(v: Any) -> str | None:
    """A value as ``huijin.output.cell`` writes it, or None when rich would treat the text specially."""
    if isinstance(v, bool) or not isinstance(v, (str, int, type(None))):  # floats, JSON values: rich's
        return None
    s = output.cell(v)
    return s if _plain(s) else None


def _plain(s: str) -> bool:
    """Printable ASCII that rich prints as it is: no markup tag, no emoji code (``:49:`` in a time is no emoji),
    no leading or trailing space, no run of spaces (rich's wrapping owns those)."""
    if not _PLAIN.fullmatch(s) or s != s.strip() or "  " in s:
        return False
    return all(m.group(2).isdigit() and len(m.group(2)) <= 2 and not m.group(3) for m in _EMOJI_CODE.finditer(s))
