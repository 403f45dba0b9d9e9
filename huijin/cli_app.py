"""The `huijin` typer app: argument parsing and wiring only (work lives in catalogs/curation/synthesis/training).
The console entry point is ``huijin.cli:main``, which answers `catalog ls` without this module (``cli_fast``)."""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer
from typer.core import TyperGroup

from . import apps, cli_catalog, cli_demo, typer_fast

_verbose = False  # set by the top-level --verbose
typer_fast.install()  # plain str options without importing pydantic (0.2-0.3 s of every start)


class OneLineErrors(TyperGroup):
    """An error no command handled is one line on stderr with the exit code of the one rule
    (``common.KNOWN_ERRORS``: 2 for bad input such as a malformed recipe file), and exit 1 for one the rule does
    not know (a failure while working, as Python's own exit for an uncaught error: exit 2 stays the promise that
    the *input* was bad); the traceback only with --verbose (``huijin --verbose …``, a command's own --verbose, or
    HUIJIN_VERBOSE=1)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from .options import plain_metavars

        plain_metavars(self)  # PATH / N / TEXT in --help, not typer's <list[Path]>

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        from .options import plain_params, rewrite_old_spellings

        plain_params(self)  # typer's completion options arrive after __init__

        def note(msg: str) -> None:
            print(msg, file=sys.stderr)

        return super().parse_args(ctx, rewrite_old_spellings(args, note))  # --text-key → --text-field, …

    def make_context(self, info_name, args, parent=None, **extra):  # the top level's own options (huijin --bogus)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except Exception as e:
            if not _usage_error(e):
                raise
            _one_line(f"{e.format_message()} (see `huijin --help`)")
            raise typer.Exit(e.exit_code) from None

    def invoke(self, ctx: typer.Context):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):  # typer's click; the separate `click` package is not imported (0.1 s)
            raise
        except Exception as e:
            from . import quiet

            if type(e).__name__ == "NoArgsIsHelpError":  # `huijin catalog` alone: the group's help was shown
                raise
            if _usage_error(e):  # typer's own (vendored) click errors: bad option, value or command
                _one_line(f"{e.format_message()}{_help_hint(e)}")
                raise typer.Exit(e.exit_code) from None
            quiet.log_exception(e)  # the full traceback goes to --log-file, if one is open
            if _verbose or quiet.verbose_requested():
                raise
            from rich.markup import escape

            from .common import err_console, exit_code_of

            text = escape(" ".join(str(e).split()) or repr(e))
            err_console.print(f"[bold red]error:[/] {type(e).__name__}: {text[:500]}  (--verbose for the traceback)",
                              soft_wrap=True, markup=True, highlight=False)
            raise typer.Exit(exit_code_of(e) or 1) from None


def _usage_error(e: Exception) -> bool:
    """A click usage error (typer vendors click, so ``click.ClickException`` does not catch its errors)."""
    return (callable(getattr(e, "format_message", None)) and isinstance(getattr(e, "exit_code", None), int)
            and e.exit_code != 0 and type(e).__name__ != "NoArgsIsHelpError")


def _help_hint(e: Exception) -> str:
    ctx, names = getattr(e, "ctx", None), []
    while ctx is not None and ctx.parent is not None:  # the root's name may be `python -m huijin.cli`
        names.append(ctx.info_name)
        ctx = ctx.parent
    return f" (see `huijin {' '.join(reversed(names))} --help`)".replace("  ", " ") if ctx is not None else ""


def _one_line(msg: str) -> None:
    from rich.markup import escape

    from .common import err_console

    err_console.print(f"[bold red]error:[/] {escape(' '.join(msg.split()))}", soft_wrap=True, markup=True,
                      highlight=False)


app = typer.Typer(
    help="huijin: curate a financial CPT mixture, synthesize SFT/RL data, train stage by stage from a versioned catalog.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=OneLineErrors,
)


@app.callback()
def _options(
    ctx: typer.Context,
    verbose: bool = typer.Option(False, "--verbose", help="show library warnings, third-party progress bars and "
                                 "the traceback of an unexpected error (also HUIJIN_VERBOSE=1)"),
    log_file: str = typer.Option(None, "--log-file", help="append the full log (every library's records and "
                                 "warnings, all output, tracebacks) to this file"),
) -> None:
    from . import quiet  # here, not at the top: `huijin --help` never needs it

    global _verbose
    _verbose = verbose
    quiet.configure(verbose or quiet.verbose_requested(), log_file)
    ctx.call_on_close(quiet.close)
    if verbose and "HUIJIN_VERBOSE" not in os.environ:  # launched subprocesses (ranks, post steps) are verbose too
        os.environ["HUIJIN_VERBOSE"] = "1"
        ctx.call_on_close(lambda: os.environ.pop("HUIJIN_VERBOSE", None))  # not the next command in this process

app.add_typer(cli_catalog.app, name="catalog")
app.command("demo")(cli_demo.demo)

# Every huijin/cli_<group>*.py module registers its verbs on a group of apps.py when imported.
for mod in pkgutil.iter_modules(importlib.import_module("huijin").__path__):
    if mod.name.startswith("cli_") and mod.name not in ("cli_app", "cli_fast", "cli_catalog", "cli_demo"):
        importlib.import_module(f"huijin.{mod.name}")

for name, group in [("curate", apps.curate), ("synth", apps.synth), ("taxonomy", apps.taxonomy),
                    ("verify", apps.verify), ("train", apps.train), ("eval", apps.evaluate)]:
    if group.registered_commands or group.registered_groups or group.registered_callback:
        app.add_typer(group, name=name)


def main() -> None:
    argv = sys.argv[1:]
    if not argv or "--help" in argv:
        typer_fast.light_help()  # typer's help formatter without its Markdown and traceback imports
    _for_argv(argv)()


def _for_argv(argv: list[str]) -> typer.Typer:
    """The app to run for this command line: typer builds the click command of every verb (a signature
    inspection each, ~0.1 s for all of them) before it parses anything, so a command line that names one group
    gets a root holding only that group, and bare `huijin`/`huijin --help` gets each group as a help-only stub.
    Shell completion and anything unexpected use the full ``app`` (tests call ``app`` directly)."""
    if any(k.endswith("_COMPLETE") for k in os.environ) or "--install-completion" in argv or \
            "--show-completion" in argv:
        return app
    words = iter(argv)
    first = second = None
    for w in words:
        if w == "--log-file":
            next(words, None)
        elif not w.startswith("-"):
            first = w
            break
    second = next(words, None)
    root = typer.Typer(help=app.info.help, no_args_is_help=True, pretty_exceptions_enable=False, cls=OneLineErrors)
    root.registered_callback = app.registered_callback
    groups = {g.name: g for g in app.registered_groups}
    commands = {c.name: c for c in app.registered_commands}
    if first is None:  # top-level help: every group, by name and help text only
        root.registered_commands = list(app.registered_commands)
        for name, g in groups.items():
            root.add_typer(typer.Typer(), name=name, help=_help_of(g))
        return root
    if first in groups:
        root.registered_groups = [_only_verb(groups[first], second)]
    elif first in commands:
        root.registered_commands = [commands[first]]
    else:
        return app  # an unknown command: the full app names it and lists the others
    return root


def _only_verb(info, verb: str | None):
    """A group reduced to the one verb named on the command line (the group itself otherwise: its help, a
    subgroup, an option first, an unknown verb, which the group's full list then names)."""
    import copy

    group = info.typer_instance
    if not verb or verb.startswith("-") or group is None:
        return info
    commands = [c for c in group.registered_commands
                if (c.name or c.callback.__name__.lower().replace("_", "-")) == verb]
    subgroups = [g for g in group.registered_groups if g.name == verb]
    if len(commands) + len(subgroups) != 1:
        return info
    slim = copy.copy(group)
    slim.registered_commands, slim.registered_groups = commands, subgroups
    out = copy.copy(info)
    out.typer_instance = slim
    return out


def _help_of(info) -> str | None:
    """A group's help text as typer would show it (the add_typer help, else the group's own)."""
    for h in (info.help, info.typer_instance.info.help if info.typer_instance else None):
        h = getattr(h, "value", h)  # typer's DefaultPlaceholder
        if isinstance(h, str) and h:
            return h
    return None


if __name__ == "__main__":
    main()
