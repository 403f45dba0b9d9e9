"""Curation recipes: YAML files (``recipes/curation/*.yaml``) that list the steps of a pipeline.

Format::

    name: fin-web                 # default dataset name of the version it writes
    kind: doc                     # record kind written (doc)
    description: free text
    reader:                       # options of curation.readers.CurationReader
      text_key: text              # field holding the text in JSONL/Parquet/CSV inputs
      id_key: id
      url_key: url
      max_bytes: 52428800         # larger documents are quarantined (too_large)
    steps:                        # run in order; each item is one of
      - extract                   #   a registered short name without parameters
      - langid: {languages: [en, zh], threshold: 0.3}     # a short name with keyword parameters
      - step: curation.classify.step:ClassifierScoreFilter  # a dotted import path `package.module:Class`
        params: {model: fin-clf@1, thresholds: {en: 0.5}}     #   with keyword parameters
        label: finance_clf                                 #   optional: the name drops are counted under
      - dedup: {threshold: 0.8, exact: true, near: true, against: [fin-web@1]}

Which steps may run (checked when the recipe is loaded, before any file is written or step built): a registered
short name (``REGISTRY``; Python code extends it with ``register_step``, which may name any datatrove-style
callable), or a dotted ``package.module:Class`` that is a datatrove ``PipelineStep`` subclass in an allowed
package (``STEP_PACKAGES``: datatrove, curation; add one with ``register_step_package`` or
``HUIJIN_STEP_PACKAGES=pkg1,pkg2``). Anything else (``os:system``, a function, a module outside the list) is
refused with a ``CurationRecipeError`` naming the step; a module outside the list is not even imported.

Any datatrove ``PipelineStep`` works as a step: filters count drops by reason
through their ``dropped_<reason>`` stats, and whatever else a step removes is counted as ``<label>:other``,
so ``inputs = kept + dropped + quarantined`` always holds. A step that scores documents writes
``doc.metadata["scores"][name] = probability``: the ``scores`` column of the version gets it (``lang`` holds
the language-ID score); other metadata lands in ``meta``. ``dedup`` is
not a step but a barrier: steps before it run in the first stage, MinHash buckets and clustering run
between, and steps after it run in the last stage. Short names are registered with ``register_step``.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recipes import recipes_dir

REGISTRY: dict[str, str] = {
    "extract": "curation.extract:Extract",
    "langid": "curation.langid:LanguageID",
    "min_length": "curation.filters:MinLength",
    "gopher_quality": "curation.filters:FinGopherQuality",
    "gopher_repetition": "curation.filters:FinGopherRepetition",
    "c4_quality": "curation.filters:FinC4Quality",
    "fineweb_quality": "curation.filters:FinFineWebQuality",
    "pii": "curation.pii:PIIRedact",
    # datatrove's own steps under short names (the plain FineWeb-style baseline uses them)
    "dt_gopher_quality": "datatrove.pipeline.filters:GopherQualityFilter",
    "dt_gopher_repetition": "datatrove.pipeline.filters:GopherRepetitionFilter",
    "dt_c4_quality": "datatrove.pipeline.filters:C4QualityFilter",
    "dt_fineweb_quality": "datatrove.pipeline.filters:FineWebQualityFilter",
    "dt_pii": "datatrove.pipeline.formatters:PIIFormatter",
}
BARRIERS = {"dedup"}
# A dotted ``package.module:Class`` in a recipe must live under one of these packages (more: register_step_package
# or $HUIJIN_STEP_PACKAGES) and be a datatrove ``PipelineStep`` subclass; registered short names are trusted.
STEP_PACKAGES: set[str] = {"datatrove", "curation"}
STEP_PACKAGES_ENV = "HUIJIN_STEP_PACKAGES"
RECIPES_DIR = recipes_dir("curation")


class CurationRecipeError(ValueError):
    """A recipe that cannot be built; the message names the step."""


def register_step(name: str, target: str | type) -> None:
    """Make ``name`` usable in recipes (``target``: a class or ``package.module:Class``)."""
    REGISTRY[name] = target if isinstance(target, str) else f"{target.__module__}:{target.__qualname__}"


@dataclass
class StepSpec:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def is_barrier(self) -> bool:
        return self.name in BARRIERS

    def resolve(self) -> Any:
        """The step's class, checked without instantiating or running anything (see ``STEP_PACKAGES``)."""
        if self.name in REGISTRY:
            target, trusted = REGISTRY[self.name], True
        else:
            target, trusted = self.name, False
        if not isinstance(target, str) or ":" not in target:
            raise CurationRecipeError(f"step '{self.name}': not a registered step {sorted(REGISTRY)} nor 'package.module:Class'")
        mod_name, _, cls_name = target.partition(":")
        if not trusted and not _allowed_module(mod_name):
            raise CurationRecipeError(
                f"step '{self.name}': module {mod_name!r} is not an allowed step package {sorted(step_packages())} "
                f"(add one with register_step_package() or ${STEP_PACKAGES_ENV}=pkg1,pkg2)")
        if not cls_name.isidentifier():
            raise CurationRecipeError(f"step '{self.name}': {cls_name!r} is not a class name")
        try:
            cls = getattr(importlib.import_module(mod_name), cls_name)
        except (ImportError, AttributeError) as e:
            raise CurationRecipeError(f"step '{self.name}': cannot import {target} ({e})") from None
        if not trusted and not (isinstance(cls, type) and issubclass(cls, _pipeline_step())):
            raise CurationRecipeError(f"step '{self.name}': {target} is not a datatrove PipelineStep subclass "
                                      f"(only PipelineStep classes or registered steps may run)")
        return cls

    def build(self) -> Any:
        cls = self.resolve()
        try:
            return cls(**self.params)
        except TypeError as e:
            raise CurationRecipeError(f"step '{self.name}': bad parameters {sorted(self.params)} ({e})") from None


def _pipeline_step() -> type:
    from datatrove.pipeline.base import PipelineStep

    return PipelineStep


def step_packages() -> set[str]:
    """Top-level packages whose ``PipelineStep`` classes a recipe may name by dotted path."""
    extra = {p.strip() for p in os.environ.get(STEP_PACKAGES_ENV, "").split(",") if p.strip()}
    return STEP_PACKAGES | extra


def register_step_package(package: str) -> None:
    """Allow recipes to name ``PipelineStep`` classes of ``package`` (and its submodules) by dotted path."""
    STEP_PACKAGES.add(package)


def _allowed_module(mod_name: str) -> bool:
    if not all(part.isidentifier() for part in mod_name.split(".")):
        return False
    return any(mod_name == p or mod_name.startswith(p + ".") for p in step_packages())


@dataclass
class Recipe:
    name: str
    steps: list[StepSpec]
    kind: str = "doc"
    reader: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def dedup(self) -> StepSpec | None:
        return next((s for s in self.steps if s.is_barrier), None)

    def split(self) -> tuple[list[StepSpec], StepSpec | None, list[StepSpec]]:
        """Steps before the dedup barrier, the barrier, steps after it."""
        for i, s in enumerate(self.steps):
            if s.is_barrier:
                return self.steps[:i], s, self.steps[i + 1:]
        return self.steps, None, []

    def check(self) -> Recipe:
        """Resolve every step (allowed classes only), without building or running any; raises CurationRecipeError."""
        for s in self.steps:
            if not s.is_barrier:
                s.resolve()
        return self


def _step(item: Any, i: int) -> StepSpec:
    if isinstance(item, str):
        return StepSpec(item, {}, item)
    if isinstance(item, dict) and "step" in item:
        unknown = set(item) - {"step", "params", "label"}
        if unknown:
            raise CurationRecipeError(f"step {i}: unknown keys {sorted(unknown)} (expected step, params, label)")
        params = item.get("params") or {}
        name = str(item["step"])
        return StepSpec(name, dict(params), item.get("label") or name.rpartition(":")[2])
    if isinstance(item, dict) and len(item) == 1:
        name, params = next(iter(item.items()))
        if params is not None and not isinstance(params, dict):
            raise CurationRecipeError(f"step {i} ({name}): parameters must be a mapping, got {type(params).__name__}")
        return StepSpec(str(name), dict(params or {}), str(name).rpartition(":")[2])
    raise CurationRecipeError(f"step {i}: expected a name, {{name: params}} or {{step:, params:}}, got {item!r}")


def load_recipe(recipe: str | Path | dict[str, Any]) -> Recipe:
    """A recipe from a dict, a YAML path, or the name of a file in ``recipes/curation/``."""
    source = ""
    if not isinstance(recipe, dict):
        path = Path(recipe)
        if not path.exists() and (RECIPES_DIR / f"{recipe}.yaml").exists():
            path = RECIPES_DIR / f"{recipe}.yaml"
        if not path.exists():
            raise CurationRecipeError(f"recipe {recipe}: no such file (nor {RECIPES_DIR}/{recipe}.yaml)")
        source = str(path)
        recipe = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(recipe, dict):
            raise CurationRecipeError(f"recipe {source}: top level must be a mapping")
    unknown = set(recipe) - {"name", "kind", "reader", "steps", "description"}
    if unknown:
        raise CurationRecipeError(f"recipe {source or '<dict>'}: unknown keys {sorted(unknown)}")
    steps = [_step(s, i) for i, s in enumerate(recipe.get("steps") or [])]
    barriers = [s for s in steps if s.is_barrier]
    if len(barriers) > 1:
        raise CurationRecipeError("a recipe may hold one dedup step")
    labels = [s.label for s in steps]
    for s in steps:  # labels must be unique: they key the drop counts
        if labels.count(s.label) > 1:
            s.label = f"{s.label}#{steps.index(s)}"
    return Recipe(name=str(recipe.get("name") or "curated"), steps=steps, kind=str(recipe.get("kind") or "doc"),
                  reader=dict(recipe.get("reader") or {}), description=str(recipe.get("description") or ""),
                  source=source, raw=dict(recipe)).check()
