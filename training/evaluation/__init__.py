"""The finance evaluation harness: suites of benchmark files (FinQA / ConvFinQA / TAT-QA style, multiple choice
en/zh) scored by the verifier library, per-taxonomy-leaf breakdown, scores stored in run metrics, and the
stage-by-stage ablation table.

    from training.evaluation import evaluate_model
    report = evaluate_model("out/sft/model", "fin_dev", limit=50)
    report.summary()["overall"]
"""

from .harness import EvalReport, HFGenerator, ItemResult, evaluate_model, run_suite, score_item, scripted
from .loaders import LOADERS, EvalItem, LoadError
from .record import STAGE_ORDER, ablation, after_stage, evaluate_runs, store_scores
from .suites import Suite, SuiteError, load_suite

__all__ = ["LOADERS", "STAGE_ORDER", "EvalItem", "EvalReport", "HFGenerator", "ItemResult", "LoadError", "Suite",
           "SuiteError", "ablation", "after_stage", "evaluate_model", "evaluate_runs", "load_suite", "run_suite",
           "score_item", "scripted", "store_scores"]
