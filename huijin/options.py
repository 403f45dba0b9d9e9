"""One option vocabulary for every verb, old spellings kept as hidden aliases for one release, and help that
names values (PATH, N, TEXT) instead of Python types.

The vocabulary (checked for every subcommand by ``tests/test_newcomer_options.py``):

- ``-i/--input``: what a verb reads (files, folders, catalog refs), repeatable;
- ``-o/--output``: the file or folder it writes;
- ``--name``: the name of the version it writes;
- ``--text-field``: the field of an input record that holds the text.

click has no per-spelling ``hidden`` (argparse's ``SUPPRESS``), so an old spelling is rewritten to the new one
before parsing (``rewrite_old_spellings``, called by the top-level group) and never shown in ``--help``; using
it prints a one-line note. typer 0.29 writes Python types as metavars (``<list[Path]>``, ``<int range>``);
``plain_metavars`` replaces them by the usual upper-case names. Both are written by hand: neither library
offers them.
"""

from __future__ import annotations

from typing import Any

# old spelling → new, for every verb ("*") or for one command path; removed in the release after next
RENAMED: dict[str, dict[str, str]] = {
    "*": {"--text-key": "--text-field", "--out": "--output"},
    "curate classify": {"--version": "--name"},
    "curate decontaminate": {"--version": "--name"},
}
# in classify, --name used to be the score name: with the old --version also given, it still is
OLD_MEANING = {"curate classify": ("--version", {"--name": "--score-name"})}


def _path(args: list[str]) -> str:
    words = []
    for a in args:
        if a.startswith("-"):
            break
        words.append(a)
    return " ".join(words[:3])


def rewrite_old_spellings(args: list[str], note: Any = None) -> list[str]:
    """``args`` with each old option spelling replaced by the current one (``--out=x`` too); ``note(msg)`` is
    told once per spelling."""
    path = _path(args)
    table = dict(RENAMED["*"])
    for cmd, names in RENAMED.items():
        if cmd != "*" and (path == cmd or path.startswith(cmd + " ")):
            table.update(names)
    for cmd, (trigger, names) in OLD_MEANING.items():
        if (path == cmd or path.startswith(cmd + " ")) and any(a.partition("=")[0] == trigger for a in args):
            args = [names.get(h, h) + eq + rest for h, eq, rest in (a.partition("=") for a in args)]
    out, told = [], set()
    for a in args:
        head, eq, rest = a.partition("=")
        if head in table:
            if note is not None and head not in told:
                note(f"note: {head} is now {table[head]} (the old spelling goes in a later release)")
                told.add(head)
            a = table[head] + eq + rest
        out.append(a)
    return out


_NAMES = {"Path": "PATH", "int": "N", "float": "NUMBER", "str": "TEXT", "bool": "BOOL"}


def _metavar(p: Any) -> str:
    import types
    import typing

    desc = getattr(p, "type_descriptor", None)
    if desc is None:  # a plain click parameter
        t = getattr(p, "type", None)
        return str(getattr(t, "name", "value")).upper()
    if desc.is_choice and desc.choices:
        return "|".join(str(getattr(c, "value", c)) for c in desc.choices)
    ann = desc.annotation
    while typing.get_origin(ann) in (list, tuple, typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None) and a is not Ellipsis]
        ann = args[0] if args else str
    return _NAMES.get(getattr(ann, "__name__", ""), "VALUE")


def _is_flag(p: Any) -> bool:
    if getattr(p, "is_flag", False) or getattr(p, "count", False) or p.secondary_opts:
        return True
    desc = getattr(p, "type_descriptor", None)
    return desc is not None and desc.annotation is bool


def plain_metavars(cmd: Any) -> None:
    """Walk a click command tree and give every option and argument an upper-case metavar (flags none)."""
    for sub in getattr(cmd, "commands", {}).values():
        plain_metavars(sub)
    orig = cmd.get_help_option

    def help_option(ctx: Any, _orig=orig) -> Any:  # click makes --help on demand: no <bool> beside it
        opt = _orig(ctx)
        if opt is not None:
            opt.metavar = ""
        return opt

    cmd.get_help_option = help_option
    plain_params(cmd)


def plain_params(cmd: Any) -> None:
    """The metavars of one command's own parameters (typer adds the completion options to the top group after
    it is built: the group calls this again before parsing)."""
    for p in getattr(cmd, "params", []):
        if p.param_type_name == "option":
            if _is_flag(p):
                p.metavar = ""
            elif p.metavar is None:
                p.metavar = _metavar(p)
        elif p.param_type_name == "argument":
            mv = _metavar(p)  # typer ignores an argument's metavar in the type column: answer for it
            p.display_type = p.display_type_rich = lambda ctx=None, _mv=mv: _mv
