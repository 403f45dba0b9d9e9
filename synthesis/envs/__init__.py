"""Agentic environments: read-only SQL over financial tables, a safe calculator, document search.

    from synthesis.envs import ToolEnv
    env = ToolEnv.from_record(rl_record)          # config from the record's `env` column
    messages = env.reset(rl_record)               # prompt messages
    tool_msg = env.step({"id": "c1", "name": "sql_query", "arguments": '{"sql": "SELECT ..."}'})
    env.reward(trajectory)                        # tool_env reward, replayed → synthesis.rewards.Result

``score_tool_env`` is the ``tool_env`` scorer of ``synthesis.rewards``' registry (registered there with the other
built-in scorers, not by importing this package). Tool outputs are messages with role ``tool``: mask them in
training.
"""

from .base import TOOL_NAMES, ToolArgumentError, ToolEnv
from .calculator import CalcError, evaluate
from .reward import score_tool_env, terms, tool_env_spec
from .search import BM25Index, passages
from .sql import SqlRefused, build_database, check_sql, run_query

__all__ = ["TOOL_NAMES", "BM25Index", "CalcError", "SqlRefused", "ToolArgumentError", "ToolEnv",
           "build_database", "check_sql", "evaluate", "passages", "run_query", "score_tool_env",
           "terms", "tool_env_spec"]
