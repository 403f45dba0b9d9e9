"""Judge filtering of an ``sft`` version: score every conversation on rubrics, keep those that pass.

Recipe keys: ``input`` (an sft version), ``rubrics`` (names, see synthesis.judge.RUBRICS), ``thresholds``
(rubric → minimum 1–5 score). Scores go to each kept record's ``quality`` map (``judge_<rubric>``) and the
rationale to ``meta.judge``; failures are dropped as ``judge_below:<rubric>``; judge errors are quarantined.
Verdicts are cached by request, so re-running the filter (or raising a threshold) costs no new calls.
"""

from __future__ import annotations

import json

from .context import RunContext
from .teach import judge_for

GENERATOR = "judge_filter"


def generate(run: RunContext) -> None:
    m = run.input_manifest("input", "sft")
    judge = judge_for(run, list(run.recipe.get("rubrics") or ["correctness", "helpfulness", "compliance",
                                                                "language_match"]),
                      run.recipe.get("thresholds"))
    out = run.outputs.open("sft", run.output_name("sft"), "sft")
    records = list(run.store.iter_records(m))
    if run.limit is not None:
        records = records[: run.limit]
    out.consider(len(records))
    verdicts = judge.run([r["messages"] for r in records], progress=run.show_progress)
    failed: dict[str, int] = {}
    for rec, v in zip(records, verdicts, strict=True):
        if v.error:
            out.quarantine(f"judge_failed: {v.error}", file=m.ref, record={"id": rec["id"]})
            continue
        if not v.passed:
            failed[v.failed[0]] = failed.get(v.failed[0], 0) + 1
            out.drop(f"judge_below:{v.failed[0]}")
            continue
        meta = json.loads(rec.get("meta") or "{}")
        meta["judge"] = {"scores": v.scores, "rationale": v.rationale, "rule_flags": v.rule_flags,
                         "request_hash": v.request_hash, "teacher": v.teacher}
        quality = dict(rec.get("quality") or {})
        quality.update(v.quality())
        out.keep({**rec, "quality": quality, "meta": json.dumps(meta, ensure_ascii=False, sort_keys=True)})
    run.stats["judge_failed_by_rubric"] = failed
