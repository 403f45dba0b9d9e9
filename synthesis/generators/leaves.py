"""Which taxonomy leaf a generated example belongs to.

Generators name the *kind* of example they made (``growth``, ``extraction``, ``sql``…); a recipe's ``taxonomy``
block may map a kind to another leaf. Every leaf is checked against ``synthesis/taxonomy/taxonomy.yaml``, so a
typo in a recipe fails the run at once instead of writing unlabelled data.
"""

from __future__ import annotations

from functools import lru_cache

DEFAULT_LEAVES = {
    # programmatic table tasks
    "calculation": "numerical_reasoning/table_text_qa/single_turn_numeric",
    "growth": "numerical_reasoning/financial_math/ratio_growth",
    "ratio": "numerical_reasoning/financial_math/ratio_growth",
    "compare": "numerical_reasoning/table_text_qa/yes_no_comparison",
    "extraction": "numerical_reasoning/table_text_qa/span_extraction",
    "conversational": "numerical_reasoning/conversational_qa/multi_turn_numeric",
    "program": "numerical_reasoning/table_text_qa/program_generation",
    "conversational_program": "numerical_reasoning/conversational_qa/multi_turn_program",
    # agentic environments
    "sql": "agentic_tool_use/data_tools/sql_over_statements",
    "calculator": "agentic_tool_use/computation_tools/calculator_use",
    "multi_tool": "agentic_tool_use/workflows/multi_tool_planning",
    # dialogues
    "advisory": "wealth_advisory/product_advice/product_comparison",
    "service": "customer_service_marketing/service/service_dialogue",
}


class LeafError(ValueError):
    pass


@lru_cache(maxsize=1)
def _taxonomy():
    from synthesis.taxonomy.model import load_taxonomy  # not the package: it imports the teacher client

    return load_taxonomy()


def known_leaves() -> list[str]:
    return _taxonomy().leaf_ids()


def check_leaf(path: str) -> str:
    if path not in _taxonomy().leaves:
        raise LeafError(f"taxonomy leaf {path!r} is not in synthesis/taxonomy/taxonomy.yaml")
    return path


def resolve_leaf(key: str, overrides: dict[str, str] | None = None) -> str:
    """A kind (``growth``) or a full leaf path → a checked leaf path."""
    path = (overrides or {}).get(key) or DEFAULT_LEAVES.get(key) or key
    return check_leaf(path)
