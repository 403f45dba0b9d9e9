"""huijin's recipes as package data: the YAML/JSON files beside this one ship in the wheel.

Code finds them through the installed package (``importlib.resources``), never by walking up from its own
source file, so ``pip install huijin`` gives a tool with its recipes:

    from recipes import recipes_dir
    recipes_dir("stages") / "sft.yaml"
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def recipes_dir(*parts: str) -> Path:
    """The installed recipes folder (or a subfolder of it): ``recipes_dir("synthesis")``."""
    return Path(str(files(__name__))).joinpath(*parts)
