"""What a generator gets from the runner: the recipe, the store, its outputs, limits, taxonomy leaves, the
teacher (only when the recipe needs one) and a progress display."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .leaves import resolve_leaf
from .records import Outputs

if TYPE_CHECKING:
    from catalogs import Manifest, Store

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    return Path(os.environ.get("HUIJIN_SHARED_DATA") or REPO.parent / "shared" / "data")


class SynthRecipeError(ValueError):
    """A recipe is malformed or names something that does not exist; the message says which key."""


class RunContext:
    def __init__(self, store: Store, recipe: dict[str, Any], recipe_name: str, outputs: Outputs,
                 name: str | None = None, limit: int | None = None, seed: int = 0,
                 teacher_factory: Any = None, progress: Any = None, show_progress: bool = False) -> None:
        self.store, self.recipe, self.recipe_name = store, recipe, recipe_name
        self.outputs, self.name, self.limit, self.seed = outputs, name, limit, seed
        self._teacher_factory = teacher_factory
        self._teacher = None
        self._progress = progress
        self.show_progress = show_progress  # live teacher progress (rows, req/s, tokens/s, $, ETA)
        self.stats: dict[str, Any] = {}
        self.primary: str | None = primary_output(recipe)

    # -- outputs ------------------------------------------------------------------------------------
    def output_name(self, key: str) -> str:
        """The version name of an output: ``--name`` for the primary output (``NAME-key`` for the others),
        else the recipe's ``outputs`` entry, else ``<recipe>-<key>``."""
        outs = self.recipe.get("outputs") or {}
        if self.primary is None:
            self.primary = key  # no outputs listed: the first output the generator opens is the primary one
        if self.name:
            return self.name if key == self.primary else f"{self.name}-{key}"
        return str(outs.get(key) or f"{self.recipe_name}-{key}")

    def limit_reached(self, kept: int) -> bool:
        return self.limit is not None and kept >= self.limit

    def progress(self, n: int = 1) -> None:
        if self._progress is not None:
            self._progress(n)

    # -- inputs -------------------------------------------------------------------------------------
    def input_paths(self) -> list[Path]:
        raw = self.recipe.get("inputs") or []
        if isinstance(raw, str):
            raw = [raw]
        if not raw:
            raise SynthRecipeError(f"recipe {self.recipe_name!r}: 'inputs' lists no files")
        out = []
        for item in raw:
            p = resolve_path(str(item))
            if not p.is_file():
                raise SynthRecipeError(f"recipe {self.recipe_name!r}: input file {item!r} not found (looked at {p})")
            out.append(p)
        return out

    def input_version(self, key: str = "input") -> str:
        ref = self.recipe.get(key)
        if not ref:
            raise SynthRecipeError(f"recipe {self.recipe_name!r} needs '{key}: NAME@N' (a catalog version)")
        return self.store.resolve(str(ref)).ref

    def input_manifest(self, key: str, kind: str | tuple[str, ...]) -> Manifest:
        """The recipe's input version under ``key``, resolved once, which must hold records of ``kind`` (one
        kind, or a tuple of the kinds the generator can read)."""
        kinds = (kind,) if isinstance(kind, str) else tuple(kind)
        what = " or ".join(kinds)
        ref = self.recipe.get(key)
        if not ref:
            raise SynthRecipeError(f"recipe {self.recipe_name!r} needs '{key}: NAME@N' (a catalog {what} version)")
        m = self.store.resolve(str(ref))
        if m.kind not in kinds:
            raise SynthRecipeError(f"recipe {self.recipe_name!r} reads a {what} version as '{key}', {m.ref} is '{m.kind}'")
        return m

    def leaf(self, key: str) -> str:
        return resolve_leaf(key, self.recipe.get("taxonomy") or {})

    # -- teacher ------------------------------------------------------------------------------------
    @property
    def teacher(self):
        if self._teacher is None:
            if self._teacher_factory is None:
                raise SynthRecipeError(f"recipe {self.recipe_name!r} needs a teacher endpoint: pass --endpoint NAME "
                                  "(endpoints are listed in recipes/teachers.yaml)")
            self._teacher = self._teacher_factory()
        return self._teacher


def primary_output(recipe: dict[str, Any]) -> str | None:
    outs = recipe.get("outputs") or {}
    p = recipe.get("primary") or (next(iter(outs)) if outs else None)
    return None if p is None else str(p)


def resolve_path(item: str) -> Path:
    """``{shared}`` is the shared data folder; relative paths are tried from the cwd, then the repository."""
    p = Path(item.replace("{shared}", str(shared_data_dir())).replace("{repo}", str(REPO))).expanduser()
    if p.is_absolute() or p.exists():
        return p
    alt = REPO / p
    return alt if alt.exists() else p
