"""Preference pairs from judge comparisons: ``k`` teacher answers per prompt, scored by the one judge.

Prompts come from an ``rl`` version (its ``prompt``) or an ``sft`` version (the conversation up to its last
assistant turn). Each prompt gets ``k`` sampled answers (distinct ``sample`` indices: each its own cached
request); the judge (``synthesis.judge``) scores every answer on the recipe's rubrics; the best-scored answer is
chosen over the worst when their judge scores differ by at least ``min_margin`` (on the judge's [0, 1] scale),
else the prompt is dropped as ``judge_tie``. ``scores`` holds both judge scores, ``margin`` their difference and
``meta`` each side's per-rubric scores, so pairs can later be selected by margin (``huijin catalog select``).
Traces (``reasoning_content``) ride along on both sides unless ``keep_reasoning: false``.
"""

from __future__ import annotations

from typing import Any

from .context import RunContext, SynthRecipeError
from .records import pref_record
from .teach import ask, failure, judge_for, source

GENERATOR = "judge_pairs"


def prompt_of(kind: str, rec: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The messages to answer: an rl record's prompt, or an sft conversation before its last assistant turn."""
    if kind == "rl":
        return rec["prompt"]
    msgs = rec["messages"]
    last = max((i for i, m in enumerate(msgs) if m["role"] == "assistant"), default=None)
    return msgs[:last] if last else None


def _clean(m: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in m.items() if v is not None}


def generate(run: RunContext) -> None:
    from synthesis.teachers import Request

    cfg = run.recipe
    m = run.input_manifest("prompts", ("rl", "sft"))
    k = int(cfg.get("k", 2))
    if k < 2:
        raise SynthRecipeError(f"recipe {run.recipe_name!r}: k must be at least 2 (two answers make a pair)")
    min_margin = float(cfg.get("min_margin", 0.1))
    keep_reasoning = bool(cfg.get("keep_reasoning", True))
    params = {"temperature": float(cfg.get("temperature", 0.9)), **(cfg.get("params") or {})}
    out = run.outputs.open("pref", run.output_name("pref"), "pref", parents=[m.ref])
    items = []
    for rec in run.store.iter_records(m):
        if run.limit is not None and len(items) >= run.limit:
            break
        out.consider()
        prompt = prompt_of(m.kind, rec)
        if not prompt:
            out.drop("no_prompt")
            continue
        if rec.get("tools"):
            out.drop("needs_tools")
            continue
        items.append((rec, [_clean(x) for x in prompt]))
    replies = ask(run, [Request(p, id=f"{r['id']}:{i}", params=params, sample=i) for r, p in items for i in range(k)],
                  f"judge pairs: k={k} answers")
    groups, convs = [], []
    for t, (rec, prompt) in enumerate(items):
        usable = [rep for rep in replies[t * k:(t + 1) * k] if failure(rep) is None and rep.content]
        answers = list({(rep.content or "").strip(): rep for rep in usable}.values())  # distinct answers only
        if len(answers) < 2:
            out.drop("fewer_than_two_distinct_answers")
            continue
        groups.append((rec, prompt, answers))
        convs += [prompt + [{"role": "assistant", "content": rep.content}] for rep in answers]
    judge = judge_for(run, list(cfg.get("rubrics") or ["correctness", "helpfulness", "compliance"]))
    verdicts = judge.run(convs, progress=run.show_progress) if convs else []
    pos, margins = 0, []
    for rec, prompt, answers in groups:
        vs = verdicts[pos:pos + len(answers)]
        pos += len(answers)
        scored = [(v.score, rep, v) for rep, v in zip(answers, vs, strict=True) if not v.error]
        if len(scored) < 2:
            out.quarantine("judge_failed: " + next((v.error for v in vs if v.error), "no verdict"),
                           file=m.ref, record={"id": rec["id"]})
            continue
        scored.sort(key=lambda x: -x[0])
        (best, good, vg), (worst, bad, vb) = scored[0], scored[-1]
        if best - worst < min_margin:
            out.drop("judge_tie")
            continue
        meta = {"from": rec["id"], "chosen_judge": vg.scores, "rejected_judge": vb.scores,
                "rubrics": sorted(vg.scores), "k": k, "rationale": vg.rationale}
        out.keep(pref_record(prompt, [good.message(reasoning=keep_reasoning)], [bad.message(reasoning=keep_reasoning)],
                             {"chosen": round(best, 6), "rejected": round(worst, 6)}, rec.get("taxonomy"),
                             rec.get("lang") or "en", source(run, GENERATOR, good), meta))
        run.progress(1)
        margins.append(best - worst)
    run.stats["judge_margin_mean"] = round(sum(margins) / len(margins), 4) if margins else None
