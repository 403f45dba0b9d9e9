"""Multi-turn advisory dialogues (wealth management, customer service) under compliance constraints.

Scenarios combine a domain, a client persona, a topic and a language. The teacher writes the whole dialogue
(structured: alternating user/assistant turns) under an advisor policy: no guaranteed or risk-free returns,
risks disclosed, the client's risk profile asked before any product is recommended (suitability). Each
dialogue is checked by the rules of ``synthesis.judge.compliance`` and, with ``judge: true``, by the LLM judge
on the compliance / helpfulness / language-match rubrics; scores are kept in ``quality``.
"""

from __future__ import annotations

import itertools
import random
from typing import Any, Literal

from pydantic import BaseModel, Field

from finance.text import script_of
from synthesis.judge import check_dialogue

from .context import RunContext
from .leaves import check_leaf
from .records import sft_record, system
from .teach import ask, failure, judge_for, source

GENERATOR = "advisory_dialogues"
POLICY = ("You are a licensed financial advisor and customer-service agent. Rules: never promise or guarantee "
          "returns, never call an investment risk-free; disclose the main risks of any product you discuss; "
          "before recommending a product, ask about the client's risk tolerance, horizon and goals (suitability); "
          "refuse to help with anything illegal; answer in the client's language.")
POLICY_ZH = ("你是一名持牌理财顾问兼客服。规则：不得承诺或保证收益，不得称投资无风险；介绍产品时须提示主要风险；"
             "推荐产品前须先了解客户的风险承受能力、投资期限和目标（适当性）；拒绝协助任何违法行为；用客户的语言回答。")
DOMAINS = {
    "wealth": ("wealth_advisory/product_advice/product_comparison",
               ["choosing between a bank deposit and a bond fund", "rebalancing a portfolio after a market fall",
                "saving for a child's education", "buying a structured note", "moving savings into an equity fund"]),
    "service": ("customer_service_marketing/service/service_dialogue",
                ["a disputed card transaction", "an early redemption fee on a wealth product",
                 "raising a credit card limit", "a delayed international transfer", "closing a brokerage account"]),
}
PERSONAS = ["a 28-year-old software engineer with little investing experience",
            "a 62-year-old retiree who relies on pension income", "a small-business owner with irregular income",
            "a cautious first-time investor who saw an advert promising high returns"]


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: str = Field(min_length=1)


class Dialogue(BaseModel):
    turns: list[Turn] = Field(min_length=4)


def scenarios(rng: random.Random, n: int, zh_fraction: float) -> list[dict[str, str]]:
    combos = [(d, t, p) for d, (_, topics) in DOMAINS.items() for t, p in itertools.product(topics, PERSONAS)]
    rng.shuffle(combos)
    out = []
    for i in range(n):
        d, t, p = combos[i % len(combos)]
        out.append({"domain": d, "topic": t, "persona": p, "lang": "zh" if rng.random() < zh_fraction else "en",
                    "variant": str(i // len(combos))})
    return out


def dialogue_request(sc: dict[str, str], turns: int):
    from synthesis.teachers import Request

    lang = "Simplified Chinese" if sc["lang"] == "zh" else "English"
    msg = (f"Write a realistic {turns}-turn conversation between a client ({sc['persona']}) and the assistant "
           f"about {sc['topic']}. The assistant follows this policy:\n{POLICY}\nWrite every turn in {lang}. "
           "Alternate user and assistant, starting with the user and ending with the assistant. "
           f"Variant {sc['variant']}.")
    return Request([{"role": "user", "content": msg}], schema=Dialogue)


def structure_problem(turns: list[dict[str, Any]], lang: str) -> str | None:
    roles = [t["role"] for t in turns]
    if roles[0] != "user" or roles[-1] != "assistant":
        return "dialogue_bad_order"
    if any(a == b for a, b in itertools.pairwise(roles)):
        return "dialogue_not_alternating"
    if any(script_of(t["content"]) not in (lang, None) for t in turns):
        return "dialogue_wrong_language"
    return None


def generate(run: RunContext) -> None:
    cfg = run.recipe
    rng = random.Random(int(cfg.get("seed", run.seed)))
    dialogues = cfg.get("dialogues", 40)  # read even when --limit wins, so it is not reported as an unused key
    n = int(run.limit or dialogues)
    scs = scenarios(rng, n, float(cfg.get("zh_fraction", 0.3)))
    out = run.outputs.open("sft", run.output_name("sft"), "sft")
    replies = ask(run, [dialogue_request(sc, int(cfg.get("turns", 6))) for sc in scs], "dialogues")
    candidates = []
    for sc, rep in zip(scs, replies, strict=True):
        out.consider()
        why = failure(rep) or (None if rep.parsed else "teacher_failed: no structured reply")
        if why:
            out.quarantine(why, file="dialogues", record=sc)
            continue
        turns = rep.parsed["turns"]
        problem = structure_problem(turns, sc["lang"])
        if problem:
            out.drop(problem)
            continue
        messages = [system(POLICY_ZH if sc["lang"] == "zh" else POLICY)] + [
            {"role": t["role"], "content": t["content"]} for t in turns]
        rules = check_dialogue(messages)
        if rules:
            out.drop("compliance_rule:" + ("guarantee" if "promises" in rules[0] else "suitability"))
            continue
        candidates.append((sc, rep, messages))
    verdicts = [None] * len(candidates)
    if cfg.get("judge", True) and candidates:
        judge = judge_for(run, list(cfg.get("rubrics") or ["compliance", "helpfulness", "language_match"]),
                          cfg.get("thresholds"))
        verdicts = judge.run([m for _, _, m in candidates], progress=run.show_progress)
    for (sc, rep, messages), v in zip(candidates, verdicts, strict=True):
        if v is not None and v.error:
            out.quarantine(f"judge_failed: {v.error}", file="dialogues", record=sc)
            continue
        if v is not None and not v.passed:
            out.drop(f"judge_below:{v.failed[0]}")
            continue
        leaf = check_leaf(DOMAINS[sc["domain"]][0])
        meta = {**sc, "judge": None if v is None else {"scores": v.scores, "rationale": v.rationale}}
        out.keep(sft_record(messages, leaf, sc["lang"], source(run, GENERATOR, rep), meta,
                            quality=None if v is None else v.quality()))
        run.progress(1)
