"""The one LLM judge: rubrics (correctness, helpfulness, compliance, language match, faithfulness) with
thresholds, verdicts cached through the teacher client, deterministic compliance and language checks, scores
normalised to [0, 1]. Used for filtering, for the ``judge`` reward spec (``score_judge_spec``) and for general RL
(``training.rl.rewards.JudgeReward`` over ``score_judge_specs``).

    from synthesis.judge import Judge, get_rubrics
    verdicts = Judge(client, get_rubrics(["correctness", "compliance"])).run(conversations)

The ``judge_filter`` synthesis recipe applies it to any ``sft`` version (scores kept in ``quality``).
"""

from .compliance import check_dialogue, guarantee_violations
from .judge import Judge, Verdict, judge_scorer, score_judge_spec, score_judge_specs, spec_rubrics, transcript
from .rubrics import RUBRICS, Rubric, get_rubrics

__all__ = ["RUBRICS", "Judge", "Rubric", "Verdict", "check_dialogue", "get_rubrics", "guarantee_violations",
           "judge_scorer", "score_judge_spec", "score_judge_specs", "spec_rubrics", "transcript"]
