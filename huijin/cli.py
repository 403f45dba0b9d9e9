"""The `huijin` command's entry point (``huijin.cli:main``) — kept free of typer and rich, so a command that
``cli_fast`` answers (`huijin catalog ls`) starts without them; every other command line runs the typer app
in ``huijin.cli_app``. ``from huijin.cli import app`` (tests, notebooks) loads that app on first use."""

from __future__ import annotations

import sys
from typing import Any


def main() -> None:
    from . import cli_fast

    if cli_fast.run(sys.argv[1:]):
        return
    from .cli_app import main as app_main

    app_main()


def __getattr__(name: str) -> Any:  # app, OneLineErrors, … live in cli_app
    if name.startswith("__"):
        raise AttributeError(name)
    from . import cli_app

    return getattr(cli_app, name)


if __name__ == "__main__":
    main()
