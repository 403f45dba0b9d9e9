"""The calculator tool: the agent-facing wrapper around the finance core's one safe arithmetic evaluator.

The evaluation itself (whitelisted ``ast`` walk, percent rule, limits) lives in :mod:`finance.arith`, shared with
the FinQA DSL and Program-of-Thoughts programs of the reward library; this module only names it as a tool.
"""

from __future__ import annotations

from finance.arith import CalcError, evaluate, format_result


def calculate(expression: str) -> str:
    """The tool's reply text for one expression; raises CalcError with the reason for anything not allowed."""
    return format_result(evaluate(expression))


__all__ = ["CalcError", "calculate", "evaluate", "format_result"]
