"""Reasoning traces by rejection sampling, with each task's difficulty measured as the teacher's pass rate.

For every task of an ``rl`` version whose ``reward_spec`` can be checked without a judge, ``k`` solutions are
sampled (distinct ``sample`` indices, so each is its own cached request) and scored by
``synthesis.rewards.score``. Correct solutions become reasoning SFT examples (at most ``keep_per_task``,
distinct texts); every task is re-emitted as an ``rl`` record with ``meta.teacher_pass@k`` = pass rate and
``difficulty`` = 1 − pass rate (higher = harder), so the RL stage can drop tasks the teacher always or never
solves. Tasks whose spec cannot be scored (``score`` returns None) are dropped, not scored 0.

Reasoning traces: a teacher's separate thinking (``reasoning_content`` or a ``<think>`` block, see
``synthesis.teachers.reasoning``) is never scored — the verifier reads the answer only — and is kept on the
SFT record's assistant turn unless ``keep_reasoning: false``.

Preference pairs (``pairs: true``, or an ``outputs.pref`` entry): each task with both verified and failed samples
gives up to ``pairs_per_task`` ``pref`` records — a verified completion chosen over a failed one of the same
prompt (scores ``{chosen: 1, rejected: 0}``, margin 1) — instead of throwing the failures away.
"""

from __future__ import annotations

import json

from synthesis.rewards import score

from .context import RunContext
from .records import pref_record, rl_record, sft_record
from .specs import verifiable_tasks
from .teach import ask, failure, source

GENERATOR = "rejection_sampling"


def generate(run: RunContext) -> None:
    from synthesis.teachers import Request

    cfg = run.recipe
    m = run.input_manifest("tasks", "rl")
    k = int(cfg.get("k", 4))
    keep_per_task = int(cfg.get("keep_per_task", 1))
    params = {"temperature": float(cfg.get("temperature", 0.8)), **(cfg.get("params") or {})}
    keep_reasoning = bool(cfg.get("keep_reasoning", True))
    want_pairs = bool(cfg.get("pairs", "pref" in (cfg.get("outputs") or {})))
    pairs_per_task = int(cfg.get("pairs_per_task", 1))
    sft = run.outputs.open("sft", run.output_name("sft"), "sft")
    rl = run.outputs.open("rl", run.output_name("rl"), "rl", parents=[m.ref])
    pref = run.outputs.open("pref", run.output_name("pref"), "pref") if want_pairs else None
    tasks = verifiable_tasks(run.store.iter_records(m), rl, run.limit)
    requests = [Request(r["prompt"], id=f"{r['id']}:{i}", params=params, sample=i) for r in tasks for i in range(k)]
    replies = ask(run, requests, f"rejection sampling k={k}")
    rates = []
    for t, rec in enumerate(tasks):
        group = replies[t * k:(t + 1) * k]
        usable = [rep for rep in group if failure(rep) is None]
        sft.consider(len(group))
        if pref is not None:
            pref.consider()  # one input per task: it gives pairs, or is dropped with the reason
        if len(usable) < len(group):
            sft.drop("sample_failed", len(group) - len(usable))  # failed or truncated replies
        if not usable:
            rl.quarantine("teacher_failed: no usable sample", file=m.ref, record={"id": rec["id"]})
            if pref is not None:
                pref.drop("no_usable_sample")
            continue
        results = [score(rec["reward_spec"], rep.content) for rep in usable]
        if any(r.score is None for r in results):
            rl.drop("ungradable_spec")
            sft.drop("ungradable_spec", len(usable))
            if pref is not None:
                pref.drop("ungradable_spec")
            continue
        correct = [(rep, r) for rep, r in zip(usable, results, strict=True) if r.score == 1.0]
        rate = len(correct) / len(usable)
        rates.append(rate)
        meta = json.loads(rec.get("meta") or "{}")
        meta.update({"teacher_pass@k": round(rate, 4), "k": len(usable), "from": rec["id"],
                     "teacher": usable[0].teacher})
        rl.keep({**rl_record(rec["prompt"], json.loads(rec["reward_spec"]), rec.get("taxonomy"),
                             rec.get("lang") or "en", source(run, GENERATOR, usable[0]), meta,
                             difficulty=round(1.0 - rate, 4)), "id": rec["id"]})
        run.progress(1)
        seen: set[str] = set()
        n_wrong = len(usable) - len(correct)
        if n_wrong:
            sft.drop("wrong_answer", n_wrong)
        for rep, r in correct:
            text = rep.content.strip()
            if text in seen or len(seen) >= keep_per_task:
                sft.drop("surplus_correct_sample")
                continue
            seen.add(text)
            smeta = {"task_id": rec["id"], "teacher_pass@k": round(rate, 4), "verifier": r.reason,
                     "sample": group.index(rep)}
            sft.keep(sft_record(rec["prompt"] + [_answer(rep, keep_reasoning)], rec.get("taxonomy"),
                                rec.get("lang") or "en", source(run, GENERATOR, rep), smeta))
        if pref is not None:
            wrong = [(rep, r) for rep, r in zip(usable, results, strict=True) if r.score != 1.0]
            _pairs(run, pref, rec, group, correct, wrong, rate, pairs_per_task, keep_reasoning)
    if rates:
        run.stats["mean_teacher_pass_rate"] = round(sum(rates) / len(rates), 4)
        run.stats["pass_rate_histogram"] = {f"{b / 4:.2f}": sum(1 for x in rates if round(x * 4) == b)
                                            for b in range(5)}


def _answer(rep, keep_reasoning: bool) -> dict:
    msg = rep.message(reasoning=keep_reasoning)
    msg["content"] = (msg["content"] or "").strip()
    return msg


def _pairs(run: RunContext, pref, rec: dict, group: list, correct: list, wrong: list, rate: float, per_task: int,
           keep_reasoning: bool) -> None:
    """Verified-vs-failed pairs of one task (distinct answers on both sides, at most ``per_task``)."""
    if not correct or not wrong:
        pref.drop("all_samples_correct" if correct else "no_verified_sample")
        return
    chosen = list({(c[0].content or "").strip(): c for c in correct}.values())
    rejected = list({(w[0].content or "").strip(): w for w in wrong}.values())
    n = min(per_task, len(chosen), len(rejected))
    for (good, rg), (bad, rb) in zip(chosen[:n], rejected[:n], strict=True):
        meta = {"task_id": rec["id"], "teacher_pass@k": round(rate, 4), "chosen_sample": group.index(good),
                "rejected_sample": group.index(bad), "chosen_verifier": rg.reason, "rejected_verifier": rb.reason}
        pref.keep(pref_record(rec["prompt"], [_answer(good, keep_reasoning)], [_answer(bad, keep_reasoning)],
                              {"chosen": float(rg.score), "rejected": float(rb.score)}, rec.get("taxonomy"),
                              rec.get("lang") or "en", source(run, GENERATOR, good), meta))
