"""The mixture recipe (YAML): sources with target token shares, a token budget, epoch caps, a seed.

```yaml
name: cpt-default
total_tokens: 2000000      # null: the largest budget every source can fill within its epoch cap
seed: 1234
tokenizer: null            # tokenizer.json / HF tokenizer folder; null: estimate (see tokens.py)
sources:
  - {name: finance, ref: fin-web, share: 0.6, max_epochs: 4}
  - {name: general, ref: general-web, share: 0.4, max_epochs: 2}
```
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from recipes import recipes_dir

RECIPES_DIR = recipes_dir("mixture")


class MixtureRecipeError(ValueError):
    """The mixture recipe is malformed; the message names the file and the field."""


@dataclass
class MixSource:
    name: str
    ref: str
    share: float
    max_epochs: float = 1.0


@dataclass
class MixRecipe:
    sources: list[MixSource]
    total_tokens: int | None = None
    seed: int = 0
    tokenizer: str | None = None
    name: str | None = None
    notes: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def validate(self, where: str = "recipe") -> MixRecipe:
        if not self.sources:
            raise MixtureRecipeError(f"{where}: 'sources' is empty")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise MixtureRecipeError(f"{where}: source names must be unique, got {names}")
        for s in self.sources:
            if not (0 < s.share <= 1):
                raise MixtureRecipeError(f"{where}: source {s.name}: share must be in (0, 1], got {s.share}")
            if s.max_epochs <= 0:
                raise MixtureRecipeError(f"{where}: source {s.name}: max_epochs must be > 0, got {s.max_epochs}")
        total = sum(s.share for s in self.sources)
        if abs(total - 1.0) > 1e-6:
            raise MixtureRecipeError(f"{where}: shares must sum to 1, got {total:.6g} "
                              f"({', '.join(f'{s.name}={s.share}' for s in self.sources)})")
        if self.total_tokens is not None and self.total_tokens <= 0:
            raise MixtureRecipeError(f"{where}: total_tokens must be positive or null, got {self.total_tokens}")
        return self


def recipe_from_dict(d: dict[str, Any], where: str = "recipe") -> MixRecipe:
    if not isinstance(d, dict) or "sources" not in d:
        raise MixtureRecipeError(f"{where}: a mixture recipe is a mapping with a 'sources' list")
    known = {"sources", "total_tokens", "seed", "tokenizer", "name", "notes"}
    sources = []
    for i, s in enumerate(d["sources"] or []):
        if not isinstance(s, dict) or not {"ref", "share"} <= set(s):
            raise MixtureRecipeError(f"{where}: sources[{i}] needs 'ref' and 'share' (and optionally name, max_epochs)")
        unknown = set(s) - {"name", "ref", "share", "max_epochs"}
        if unknown:
            raise MixtureRecipeError(f"{where}: sources[{i}] has unknown keys {sorted(unknown)}")
        sources.append(MixSource(name=str(s.get("name") or s["ref"]), ref=str(s["ref"]), share=float(s["share"]),
                                 max_epochs=float(s.get("max_epochs", 1.0))))
    total = d.get("total_tokens")
    r = MixRecipe(sources=sources, total_tokens=None if total is None else int(float(total)),
                  seed=int(d.get("seed", 0)), tokenizer=d.get("tokenizer"), name=d.get("name"), notes=d.get("notes"),
                  extra={k: v for k, v in d.items() if k not in known})
    return r.validate(where)


def load_recipe(path: str | Path, sources: dict[str, str] | None = None, shares: dict[str, float] | None = None,
                **overrides: Any) -> MixRecipe:
    """Read a YAML recipe; ``sources``/``shares`` override a named source's ref/share, ``overrides`` top-level keys."""
    path = Path(path)
    if not path.exists() and (RECIPES_DIR / f"{path.name}.yaml").exists() and path.name == str(path):
        path = RECIPES_DIR / f"{path.name}.yaml"  # a bare name: a recipe shipped in recipes/mixture/
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such recipe file (nor {RECIPES_DIR / (path.stem + '.yaml')})")
    try:
        d = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise MixtureRecipeError(f"{path}: invalid YAML ({e})") from None
    by_name = {str(s.get("name") or s.get("ref")): s for s in (d or {}).get("sources") or [] if isinstance(s, dict)}
    for key, values in (("ref", sources or {}), ("share", shares or {})):
        for name, v in values.items():
            if name not in by_name:
                raise MixtureRecipeError(f"{path}: no source named {name!r} (sources: {sorted(by_name)})")
            by_name[name][key] = v
    d.update({k: v for k, v in overrides.items() if v is not None})
    return recipe_from_dict(d, str(path))
