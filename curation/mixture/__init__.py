"""The CPT mixture builder: target token shares per source with epoch caps, seeded and shuffled, written
as a doc version whose parents are every source version."""

from .build import build_mixture, plan_mixture
from .recipe import MixRecipe, MixSource, MixtureRecipeError, load_recipe, recipe_from_dict
from .tokens import TokenCounter, estimate_tokens

__all__ = ["MixRecipe", "MixSource", "MixtureRecipeError", "TokenCounter", "build_mixture", "estimate_tokens",
           "load_recipe", "plan_mixture", "recipe_from_dict"]
