"""Reasoning traces by rejection sampling, with each task's difficulty measured as the teacher's pass rate.

For every task of an ``rl`` version whose ``reward_spec`` can be checked without a judge, ``k`` solutions are
sampled (distinct ``sample`` indices, so each is its own cached request) and scored by
``synthesis.rewards.score``. Correct solutions become reasoning SFT examples (at most ``keep_per_task``,
distinct texts); every task is re-emitted as an ``rl`` record with ``meta.teacher_pass@k`` = pass rate and
``difficulty`` = 1 − pass rate (higher = harder), so the RL stage can drop tasks the teacher always or never
solves. Tasks whose spec cannot be scored (``score`` returns None) are dropped, not scored 0.
"""

from __future__ import annotations

import json

from synthesis.rewards import score

from .context import RunContext
from .records import assistant, rl_record, sft_record
from .teach import ask, failure, source

GENERATOR = "rejection_sampling"
VERIFIABLE = {"numeric", "choice", "exact", "set", "program"}


def generate(run: RunContext) -> None:
    from synthesis.teachers import Request

    cfg = run.recipe
    m = run.input_manifest("tasks", "rl")
    k = int(cfg.get("k", 4))
    keep_per_task = int(cfg.get("keep_per_task", 1))
    params = {"temperature": float(cfg.get("temperature", 0.8)), **(cfg.get("params") or {})}
    sft = run.outputs.open("sft", run.output_name("sft"), "sft")
    rl = run.outputs.open("rl", run.output_name("rl"), "rl", parents=[m.ref])
    tasks = []
    for rec in run.store.iter_records(m):
        if run.limit is not None and len(tasks) >= run.limit:
            break
        rl.consider()
        spec = json.loads(rec["reward_spec"])
        if spec.get("type") not in VERIFIABLE:
            rl.drop(f"not_verifiable:{spec.get('type')}")
            continue
        if rec.get("tools"):
            rl.drop("needs_tools")  # agentic tasks are solved through their environment (agentic_sft)
            continue
        tasks.append(rec)
    requests = [Request(r["prompt"], id=f"{r['id']}:{i}", params=params, sample=i) for r in tasks for i in range(k)]
    replies = ask(run, requests, f"rejection sampling k={k}")
    rates = []
    for t, rec in enumerate(tasks):
        group = replies[t * k:(t + 1) * k]
        usable = [rep for rep in group if failure(rep) is None]
        sft.consider(len(group))
        if len(usable) < len(group):
            sft.drop("sample_failed", len(group) - len(usable))  # failed or truncated replies
        if not usable:
            rl.quarantine("teacher_failed: no usable sample", file=m.ref, record={"id": rec["id"]})
            continue
        results = [score(rec["reward_spec"], rep.content) for rep in usable]
        if any(r.score is None for r in results):
            rl.drop("ungradable_spec")
            sft.drop("ungradable_spec", len(usable))
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
            sft.keep(sft_record(rec["prompt"] + [assistant(text)], rec.get("taxonomy"), rec.get("lang") or "en",
                                source(run, GENERATOR, rep), smeta))
    if rates:
        run.stats["mean_teacher_pass_rate"] = round(sum(rates) / len(rates), 4)
        run.stats["pass_rate_histogram"] = {f"{b / 4:.2f}": sum(1 for x in rates if round(x * 4) == b)
                                            for b in range(5)}
