"""The stage-config keys ``train run`` accepts, and the check that refuses any other with the nearest valid name.

A key is known when a stage recipe (``recipes/stages/*.yaml``, ``tiny.yaml``'s ``common`` and per-stage dicts)
sets it, when it is a field of ``RLConfig``, when a stage class lists it in ``config_keys``, or when it is in
``CODE_KEYS`` (read by the code with a default, so no recipe spells it out). Before this check
``--set sft.lrr=1e-5 --set max_stepz=3`` trained with the recipe's values without a word.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

# read with a default somewhere in training/ (or set by the demo), never spelled in a stage recipe
CODE_KEYS = frozenset({
    "eval_limit", "judge_cache", "judge_max_tokens", "stage_metrics", "teachers_yaml", "threads", "tiny_model",
    "tokenize_workers", "val_reward", "allow_no_signal", "model", "deepspeed_config", "metrics_every",
})


class UnknownConfigKey(ValueError):
    """A config key no stage reads; the message names it and the nearest valid key."""


def _recipe_keys(folder: Path, stage_names: Iterable[str]) -> set[str]:
    keys: set[str] = set()
    nested = set(stage_names) | {"common"}
    for p in sorted(folder.glob("*.yaml")):
        data = yaml.safe_load(p.read_text()) or {}
        for k, v in data.items():
            if k in nested and isinstance(v, dict):
                keys |= set(v)
            else:
                keys.add(k)
    return keys


def known_keys() -> set[str]:
    """Every key some stage reads (see the module docstring for the sources)."""
    from .rl.step import RLConfig
    from .stages import RECIPES, STAGES

    keys = _recipe_keys(RECIPES, STAGES) | set(RLConfig.__dataclass_fields__) | CODE_KEYS
    for cls in STAGES.values():
        keys |= set(getattr(cls, "config_keys", ()) or ())
    return keys - set(STAGES) - {"common"}


def nearest(key: str, valid: Iterable[str]) -> str | None:
    """The closest valid name to a misspelled ``key`` (difflib), or None."""
    near = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
    return near[0] if near else None


def _suggest(key: str, valid: Iterable[str]) -> str:
    near = nearest(key, valid)
    return f"; did you mean {near!r}?" if near else ""


def check_keys(overrides: dict[str, Any], origin: str = "--set", nodes: Iterable[str] = ()) -> None:
    """Raise ``UnknownConfigKey`` for the first key no stage reads (top level or inside a ``STAGE:`` dict).
    ``nodes``: the stage-graph node names of the snapshot a branch trains (``long_cot_sft``), accepted as
    sections too (``--set long_cot_sft.lr=…`` overrides that node only)."""
    from .stages import STAGES

    valid = known_keys()
    sections = sorted(set(STAGES) | set(nodes))
    for k, v in overrides.items():
        if isinstance(v, dict) and k not in valid:
            if k not in sections:  # a dict under a name that is no stage: a misspelled stage, most likely
                what = "stage or graph node" if nodes else "stage"
                raise UnknownConfigKey(f"{origin}: unknown {what} {k!r}{_suggest(k, sections)} "
                                       f"({what}s: {', '.join(sections)})")
            for sub in v:
                if sub not in valid:
                    raise UnknownConfigKey(f"{origin}: unknown key '{k}.{sub}'{_suggest(sub, valid)}")
        elif k not in valid:
            hint = _suggest(k, valid) or _suggest(k, STAGES)
            raise UnknownConfigKey(f"{origin}: unknown key {k!r}{hint}")
