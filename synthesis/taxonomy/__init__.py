"""The financial task taxonomy (scenario → capability → task type) and tools around it.

    from synthesis.taxonomy import load_taxonomy
    tax = load_taxonomy()                       # synthesis/taxonomy/taxonomy.yaml
    tax.leaf("numerical_reasoning/table_text_qa/single_turn_numeric").reward_type   # 'numeric'

``coverage(store, ref)`` counts a version's rows per leaf (a read-only SQL query); ``label_version`` assigns
leaves to any version's records with a teacher and writes a new version.
"""

from typing import Any

from .coverage import coverage, coverage_sql
from .model import Leaf, Taxonomy, TaxonomyError, load_taxonomy

_LABELLER = {"label_request", "label_schema", "label_version"}


def __getattr__(name: str) -> Any:
    # the labeller pulls in the teacher client (openai); load it only when asked for
    if name in _LABELLER:
        from . import labeller

        return getattr(labeller, name)
    raise AttributeError(name)

__all__ = ["Leaf", "Taxonomy", "TaxonomyError", "coverage", "coverage_sql", "label_request", "label_schema",
           "label_version", "load_taxonomy"]
