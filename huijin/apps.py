"""The command groups. Each ``cli_*`` module registers its commands on one of these, so several
modules can add verbs to the same group (e.g. ``curate``) without editing a shared file."""

from __future__ import annotations

import typer

curate = typer.Typer(help="Curation: extract, language ID, filters, PII, dedup, classifiers, decontamination, mixtures.",
                     no_args_is_help=True)
synth = typer.Typer(help="Synthesis: run generation recipes against teacher endpoints.", no_args_is_help=True)
taxonomy = typer.Typer(help="The financial task taxonomy.", no_args_is_help=True)
verify = typer.Typer(help="Check benchmark programs with the safe interpreter.", no_args_is_help=True)
train = typer.Typer(help="Training: tokenize versions and run stages from a snapshot.", no_args_is_help=True)
evaluate = typer.Typer(help="Evaluate a model on a suite; compare stages.", no_args_is_help=True,
                       invoke_without_command=True)
