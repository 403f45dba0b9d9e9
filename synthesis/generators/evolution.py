"""Seeded evolution with leaf balancing (Evol-Instruct / Self-Instruct style), then answers by the teacher.

From the seed tasks of each taxonomy leaf (``seeds.yaml``), rounds of evolution grow new tasks with one
operation each — deepen, add a constraint, change the scenario, change the sector, switch language (en↔zh) —
each child becoming a possible parent. A leaf stops growing when it reaches its share of ``total`` under the
``distribution`` (default uniform over the seed leaves), so output is balanced by construction; the achieved
coverage per leaf is reported in the manifest. Evolutions are eliminated (Evol-Instruct's rules) when they are
empty, copy or barely change their parent or another kept task, come back in the wrong language, or leak
the rewriting instructions; answers when they are empty, truncated, refuse, or are in the wrong language.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field

from finance.text import is_han, script_of

from .context import RunContext, resolve_path
from .leaves import check_leaf
from .records import assistant, sft_record, user
from .teach import ask, failure, source

GENERATOR = "evolution"
SEEDS = Path(__file__).with_name("seeds.yaml")
OPERATIONS = {
    "deepen": "Make the task require deeper reasoning: more steps, an extra consideration or a follow-up.",
    "add_constraint": "Add one realistic constraint or requirement (a format, a limit, a regulation, a number).",
    "change_scenario": "Move the task to a different realistic situation with different figures.",
    "change_sector": "Move the task to another financial sector (banking, securities, funds, insurance, "
                     "payments, trust, futures) and adapt its details.",
    "switch_language": "Rewrite the task in the other language (English ↔ Simplified Chinese), adapting names, "
                       "currencies and regulations to that market.",
}
REFUSAL = re.compile(r"^\s*(?:i'?m sorry|sorry,|i cannot|i can't|as an ai|抱歉|对不起|我无法|作为一个?AI)", re.IGNORECASE)
LEAK = re.compile(r"#\s*(?:given|rewritten|created) prompt#|rewritten prompt|original task:|operation:",
                  re.IGNORECASE)


class Evolved(BaseModel):
    instruction: str = Field(min_length=10)
    language: Literal["en", "zh"]


def load_seeds(path: str | Path | None = None) -> dict[str, list[dict[str, str]]]:
    data = yaml.safe_load(Path(resolve_path(str(path)) if path else SEEDS).read_text(encoding="utf-8"))
    seeds = data.get("seeds") or {}
    for leaf in seeds:
        check_leaf(leaf)
    return seeds


def _tokens(text: str) -> set[str]:
    t = text.lower()
    return set(re.findall(r"[a-z0-9]+", t)) | {t[i:i + 2] for i in range(len(t) - 1) if is_han(t[i])}


def similar(a: str, b: str) -> float:
    ta, tb = _tokens(a), _tokens(b)
    return len(ta & tb) / len(ta | tb) if ta and tb else 0.0


def targets(leaves: list[str], total: int, distribution: dict[str, float] | None) -> dict[str, int]:
    w = {leaf: float((distribution or {}).get(leaf, 0.0 if distribution else 1.0)) for leaf in leaves}
    s = sum(w.values()) or 1.0
    raw = {leaf: total * v / s for leaf, v in w.items()}
    out = {leaf: int(r) for leaf, r in raw.items()}
    for leaf in sorted(raw, key=lambda x: -(raw[x] - int(raw[x])))[: total - sum(out.values())]:
        out[leaf] += 1  # largest remainders, so the targets add up to `total`
    return out


def evolve_request(parent: dict[str, str], op: str, sample: int):
    from synthesis.teachers import Request

    want = ("zh" if parent["lang"] == "en" else "en") if op == "switch_language" else parent["lang"]
    msg = (f"Rewrite the following financial task into a new, harder or different task.\n"
           f"Operation: {OPERATIONS[op]}\nThe new task must be self-contained, answerable, and written in "
           f"{'Simplified Chinese' if want == 'zh' else 'English'} (language code {want}). Do not answer it.\n\n"
           f"Task:\n<<<\n{parent['instruction']}\n>>>")
    return Request([{"role": "user", "content": msg}], schema=Evolved, sample=sample,
                   meta={"op": op, "want": want}), want


def answer_request(instruction: str):
    from synthesis.teachers import Request

    return Request([{"role": "user", "content": instruction}])


def generate(run: RunContext) -> None:
    cfg = run.recipe
    rng = random.Random(int(cfg.get("seed", run.seed)))
    seeds = load_seeds(cfg.get("seeds"))
    leaves = sorted(cfg.get("leaves") or seeds)
    for leaf in leaves:
        if leaf not in seeds:
            raise ValueError(f"leaf {leaf!r} has no seed tasks in the seeds file")
    recipe_total = cfg.get("total", 60)  # read even when --limit wins, so it is not reported as an unused key
    total = int(run.limit or recipe_total)
    goal = targets(leaves, total, cfg.get("distribution"))
    ops = list(cfg.get("operations") or OPERATIONS)
    max_rounds = int(cfg.get("max_rounds", 4))
    sim_max = float(cfg.get("max_similarity", 0.7))
    pool = {leaf: [dict(s, id=f"seed:{leaf}:{i}") for i, s in enumerate(seeds[leaf])] for leaf in leaves}
    kept = {leaf: 0 for leaf in leaves}
    out = run.outputs.open("sft", run.output_name("sft"), "sft")
    counter = 0
    for rnd in range(max_rounds):
        jobs = []
        for leaf in leaves:
            for _ in range(goal[leaf] - kept[leaf]):
                parent = rng.choice(pool[leaf])
                counter += 1
                req, want = evolve_request(parent, rng.choice(ops), counter)
                jobs.append((leaf, parent, req, want))
        if not jobs:
            break
        evolved = ask(run, [j[2] for j in jobs], f"evolve round {rnd + 1}")
        accepted = []
        for (leaf, parent, req, want), rep in zip(jobs, evolved, strict=True):
            out.consider()
            why = failure(rep) or (None if rep.parsed else "teacher_failed: no structured reply")
            if why:
                out.quarantine(why, file="evolution", record={"leaf": leaf, "parent": parent["id"]})
                continue
            problem = _evolution_problem(rep.parsed["instruction"], want, parent, pool[leaf], sim_max)
            if problem:
                out.drop(problem)
                continue
            accepted.append((leaf, parent, req, rep))
        answers = ask(run, [answer_request(r.parsed["instruction"]) for _, _, _, r in accepted], "answer")
        for (leaf, parent, req, rep), ans in zip(accepted, answers, strict=True):
            text = rep.parsed["instruction"].strip()
            lang = rep.parsed["language"]
            problem = failure(ans) or _answer_problem(ans.content or "", lang, leaf)
            if problem:
                out.drop(problem.split(":")[0])
                continue
            meta = {"operation": req.meta["op"], "parent": parent["id"], "round": rnd + 1,
                    "evolve_request": rep.request_hash}
            rec = sft_record([user(text), assistant(ans.content.strip())], leaf, lang,
                             source(run, GENERATOR, ans), meta)
            if out.keep(rec):
                kept[leaf] += 1
                pool[leaf].append({"instruction": text, "lang": lang, "id": rec["id"]})
                run.progress(1)
    run.stats["coverage"] = {leaf: {"target": goal[leaf], "achieved": kept[leaf]} for leaf in leaves}
    run.stats["coverage_ratio"] = round(sum(min(kept[x], goal[x]) for x in leaves) / max(1, total), 4)


def _evolution_problem(text: str, want: str, parent: dict[str, Any], pool: list[dict[str, Any]],
                       sim_max: float) -> str | None:
    t = text.strip()
    if len(t) < 15:
        return "evolution_too_short"
    if LEAK.search(t):
        return "evolution_leaks_instructions"
    if script_of(t) not in (want, None):
        return "evolution_wrong_language"
    if similar(t, parent["instruction"]) > sim_max:
        return "evolution_too_similar_to_parent"
    if any(similar(t, p["instruction"]) > sim_max for p in pool):
        return "evolution_near_duplicate"
    return None


def _answer_problem(text: str, lang: str, leaf: str) -> str | None:
    if len(text.strip()) < 20:
        return "answer_too_short"
    if REFUSAL.search(text) and not leaf.endswith("harmful_request_refusal"):
        return "answer_refuses"
    if script_of(text) not in (lang, None):
        return "answer_wrong_language"
    return None
