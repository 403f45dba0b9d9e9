"""The `huijin` command: argument parsing and wiring only (work lives in catalogs/curation/synthesis/training)."""

from __future__ import annotations

import importlib
import pkgutil

import typer

from . import apps, cli_catalog, cli_demo

app = typer.Typer(
    help="huijin: curate a financial CPT mixture, synthesize SFT/RL data, train stage by stage from a versioned catalog.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(cli_catalog.app, name="catalog")
app.command("demo")(cli_demo.demo)

# Every huijin/cli_<group>*.py module registers its verbs on a group of apps.py when imported.
for mod in pkgutil.iter_modules(importlib.import_module("huijin").__path__):
    if mod.name.startswith("cli_") and mod.name not in ("cli_catalog", "cli_demo"):
        importlib.import_module(f"huijin.{mod.name}")

for name, group in [("curate", apps.curate), ("synth", apps.synth), ("taxonomy", apps.taxonomy),
                    ("verify", apps.verify), ("train", apps.train), ("eval", apps.evaluate)]:
    if group.registered_commands or group.registered_groups or group.registered_callback:
        app.add_typer(group, name=name)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
