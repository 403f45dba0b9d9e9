"""Synthesis generators: recipes in ``recipes/synthesis/`` → ``sft`` / ``rl`` / ``pref`` catalog versions.

    from synthesis.generators import run_recipe, run
    m = run_recipe("programmatic_tables", store, name="demo-rl")            # FinQA-format tables, no teacher
    report = run("grounded_sft", store, endpoint="vllm-local", limit=100)   # counts, coverage, accounting

Generators (``GENERATORS``): programmatic table tasks and worked solutions, agentic tool-use tasks,
business scenarios for general RL (judge specs with offline rubric checks), document-grounded SFT, seeded evolution with leaf balancing, advisory dialogues, rejection-sampled reasoning
traces, LLM-authored RL tasks, agentic SFT trajectories, judge filtering and teacher annotation of documents;
multi-role dialogues (client, advisor and compliance reviewer as separate calls) and preference pairs from
rejection sampling (verified vs failed), judge comparisons and on-policy samples of a checkpoint.
"""

from .context import RunContext, SynthRecipeError
from .runner import GENERATORS, RunReport, load_recipe, run, run_recipe

__all__ = ["GENERATORS", "RunContext", "RunReport", "SynthRecipeError", "load_recipe", "run", "run_recipe"]
