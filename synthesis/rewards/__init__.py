"""The verifier library: one code path for filtering synthesized data and computing RL rewards.

    from synthesis.rewards import score
    score({"spec_version": 1, "type": "numeric", "answer": "12.5", "unit": "percent"}, "... \\boxed{12.5\\%}")
    # Result(score=1.0, pred=12.5, gold='12.5', reason='match (percent→percent) [boxed]')

Types: numeric (unit-aware), choice, exact, set (F1), program (FinQA DSL / PoT arithmetic, safe interpreter),
tool_env (the replayed agent environment) and judge (``None`` until a configured judge is registered with
``register_scorer``). The registry is explicit (``register_builtin_scorers``, run on the first ``score()``);
importing a module registers nothing. The safe arithmetic evaluator is ``finance.arith``.
"""

from finance.arith import ProgramError, run_finqa, run_program, run_python_arith
from finance.numbers import Quantity, find_quantities, parse_quantity

from .export import export_rl, trl_reward, verl_compute_score
from .extract import extract_answer, last_boxed
from .numeric import GoldError, compare_numeric
from .score import (
    TYPES,
    Result,
    SpecError,
    load_spec,
    register_builtin_scorers,
    register_scorer,
    registered_scorers,
    score,
    score_batch,
    unregister_scorer,
    use_scorer,
    validate_spec,
)
from .verify import verify_convfinqa, verify_finqa

__all__ = [
    "TYPES", "GoldError", "ProgramError", "Quantity", "Result", "SpecError", "compare_numeric", "export_rl",
    "extract_answer", "find_quantities", "last_boxed", "load_spec", "parse_quantity", "register_builtin_scorers",
    "register_scorer", "registered_scorers", "run_finqa", "run_program", "run_python_arith", "score", "score_batch",
    "trl_reward", "unregister_scorer", "use_scorer", "validate_spec", "verify_convfinqa", "verify_finqa",
    "verl_compute_score",
]
