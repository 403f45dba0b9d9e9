"""Multi-role advisory dialogues: client, advisor and compliance reviewer, each its own teacher call.

Unlike ``advisory_dialogues`` (one call writes the whole conversation), every turn here is a separate request
by the role that speaks, with that role's own persona and knowledge and nothing else:

- the **client** knows only their private situation (age, income, goal, risk tolerance, horizon) and what the
  advisor said; they decide when they are satisfied (a reply starting with ``[SATISFIED]``);
- the **advisor** knows the firm's policy and product sheet (products with their risk levels), never the client's
  private facts unless the client said them; the stored SFT record is the advisor's side, so its system turn is
  exactly the advisor's (``advisor_system``): every product and risk level an answer cites is in its prompt;
- the **compliance reviewer**, after the dialogue, reads the transcript with the rules and gives a structured
  verdict (``compliant`` / ``needs_revision`` / ``non_compliant``, issues, rationale), kept as the record's label.

A dialogue ends when the client says they are satisfied or at ``max_turns`` advisor turns (``meta.ended``).
Rounds are batched across dialogues (one request per active dialogue and role per round), so the teacher's
concurrency is used. Every dialogue is kept, labelled (``meta.review``, ``quality.review_compliant``), unless
``keep: compliant`` asks to drop the others (counted by verdict). The deterministic rule checks of
``synthesis.judge.compliance`` run too and are recorded beside the reviewer's verdict.
"""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import BaseModel, Field

from synthesis.judge import check_dialogue

from .context import RunContext
from .dialogues import DOMAINS, POLICY, POLICY_ZH, scenarios
from .leaves import check_leaf
from .records import sft_record, system
from .teach import ask, failure, source

GENERATOR = "role_dialogues"
SATISFIED = "[SATISFIED]"
VERDICTS = ("compliant", "needs_revision", "non_compliant")
PROFILES = [
    {"age": 28, "income": "stable salary", "goal": "a house deposit in five years", "risk": "moderate", "horizon": "5 years"},
    {"age": 62, "income": "pension only", "goal": "preserving capital for retirement", "risk": "low", "horizon": "3 years"},
    {"age": 45, "income": "irregular business income", "goal": "a child's education fund", "risk": "moderate",
     "horizon": "8 years"},
    {"age": 35, "income": "high salary", "goal": "long-term growth", "risk": "high", "horizon": "15 years"},
]
PRODUCTS = ("Products you may discuss (risk level R1 lowest … R5 highest): Treasury money-market fund (R1); "
            "short-term bond fund (R2); balanced fund (R3); broad equity index fund (R4); structured note linked to "
            "an equity index (R4, capital at risk, early-redemption fee). A product above the client's risk level "
            "must not be recommended.")
REVIEW_RULES = ("Rules: no promised or guaranteed returns and nothing called risk-free; the main risks of any "
                "product discussed are disclosed; the client's risk tolerance, horizon and goals are asked before a "
                "product is recommended (suitability); no product above the client's risk level is recommended; "
                "no help with anything illegal.")


class Review(BaseModel):
    verdict: Literal["compliant", "needs_revision", "non_compliant"]
    issues: list[str] = Field(default_factory=list)
    rationale: str = ""


def client_request(sc: dict[str, Any], turns: list[dict[str, str]]):
    """The client's next line: their persona and private facts only; the advisor's turns are what they hear."""
    from synthesis.teachers import Request

    p = sc["profile"]
    lang = "Simplified Chinese" if sc["lang"] == "zh" else "English"
    persona = (f"You are a bank client: {sc['persona']}. Private facts (share them only when asked): age {p['age']}, "
               f"{p['income']}, goal: {p['goal']}, risk tolerance {p['risk']}, horizon {p['horizon']}. You want help "
               f"with {sc['topic']}. Speak only as the client, briefly, in {lang}. When your question is answered "
               f"well enough, start your reply with {SATISFIED}.")
    msgs = [{"role": "system", "content": persona}]
    msgs += [{"role": "user" if t["role"] == "assistant" else "assistant", "content": t["content"]} for t in turns]
    if not turns:
        msgs.append({"role": "user", "content": "(The advisor greets you.) Start the conversation."})
    return Request(msgs, meta={"role": "client"})


def advisor_system(sc: dict[str, Any]) -> str:
    """Everything the advisor is shown besides the client's turns: the firm's policy and the product sheet.

    One place, because the stored SFT record must carry exactly this: an advisor turn that cites a product's
    risk level is only learnable if that fact is in the prompt the model is trained on."""
    return f"{POLICY_ZH if sc['lang'] == 'zh' else POLICY}\n{PRODUCTS}"


def advisor_request(sc: dict[str, Any], turns: list[dict[str, str]]):
    """The advisor's next reply: the firm's policy and product sheet, and what the client said."""
    from synthesis.teachers import Request

    return Request([{"role": "system", "content": advisor_system(sc)}] + turns, meta={"role": "advisor"})


def review_request(sc: dict[str, Any], turns: list[dict[str, str]]):
    """The compliance reviewer: the rules and the transcript; a structured verdict."""
    from synthesis.teachers import Request

    text = "\n".join(f"{'CLIENT' if t['role'] == 'user' else 'ADVISOR'}: {t['content']}" for t in turns)
    msg = (f"You are a compliance reviewer at a bank. {REVIEW_RULES}\n{PRODUCTS}\nThe client's risk tolerance is "
           f"{sc['profile']['risk']}. Review the advisor's conduct in this dialogue and reply with JSON "
           f'{{"verdict": "compliant|needs_revision|non_compliant", "issues": [...], "rationale": "..."}}.\n<<<\n'
           f"{text}\n>>>")
    return Request([{"role": "user", "content": msg}], schema=Review, params={"temperature": 0.0},
                   meta={"role": "reviewer"})


def generate(run: RunContext) -> None:
    cfg = run.recipe
    rng = random.Random(int(cfg.get("seed", run.seed)))
    dialogues = cfg.get("dialogues", 40)
    n = int(run.limit or dialogues)
    max_turns = int(cfg.get("max_turns", 4))
    keep = str(cfg.get("keep", "all"))
    if keep not in ("all", "compliant"):
        from .context import SynthRecipeError

        raise SynthRecipeError(f"recipe {run.recipe_name!r}: keep must be 'all' or 'compliant', got {keep!r}")
    scs = scenarios(rng, n, float(cfg.get("zh_fraction", 0.3)))
    for sc in scs:
        sc["profile"] = PROFILES[rng.randrange(len(PROFILES))]
    out = run.outputs.open("sft", run.output_name("sft"), "sft")
    out.consider(len(scs))
    state = [{"turns": [], "ended": None, "failed": None, "calls": {"client": 0, "advisor": 0}, "last": None,
              "closing": None} for _ in scs]
    for _ in range(max_turns):
        active = [i for i, st in enumerate(state) if st["ended"] is None and st["failed"] is None]
        if not active:
            break
        for role, make in (("client", client_request), ("advisor", advisor_request)):
            live = [i for i in active if state[i]["ended"] is None and state[i]["failed"] is None]
            replies = ask(run, [make(scs[i], state[i]["turns"]) for i in live], f"dialogues: {role} turns")
            for i, rep in zip(live, replies, strict=True):
                st = state[i]
                st["calls"][role] += 1
                why = failure(rep)
                if why:
                    st["failed"] = f"{why} ({role} turn)"
                    continue
                text = (rep.content or "").strip()
                if role == "client" and text.startswith(SATISFIED):
                    if st["turns"]:  # satisfied after at least one advisor turn: the dialogue ends here
                        st["ended"], st["closing"] = "client_satisfied", text[len(SATISFIED):].strip() or None
                        continue
                    text = text[len(SATISFIED):].strip()
                if not text:
                    st["failed"] = f"teacher_failed: empty {role} turn"
                    continue
                st["turns"].append({"role": "user" if role == "client" else "assistant", "content": text})
                if role == "advisor":
                    st["last"] = rep
    for st in state:
        if st["ended"] is None and st["failed"] is None:
            st["ended"] = "turn_cap"
    done = [i for i, st in enumerate(state) if st["failed"] is None]
    for i, st in enumerate(state):
        if st["failed"] is not None:
            out.quarantine(st["failed"], file="role_dialogues", record={**scs[i], "turns": st["turns"]})
    reviews = ask(run, [review_request(scs[i], state[i]["turns"]) for i in done], "dialogues: compliance review")
    verdicts: dict[str, int] = {}
    for i, rep in zip(done, reviews, strict=True):
        sc, st = scs[i], state[i]
        why = failure(rep) or (None if rep.parsed else "teacher_failed: no structured review")
        if why:
            out.quarantine(f"{why} (reviewer)", file="role_dialogues", record={**sc, "turns": st["turns"]})
            continue
        review = rep.parsed
        verdicts[review["verdict"]] = verdicts.get(review["verdict"], 0) + 1
        if keep == "compliant" and review["verdict"] != "compliant":
            out.drop(f"review:{review['verdict']}")
            continue
        messages = [system(advisor_system(sc))] + st["turns"]  # the record's prompt is what the advisor saw
        meta = {"domain": sc["domain"], "topic": sc["topic"], "persona": sc["persona"], "profile": sc["profile"],
                "lang": sc["lang"], "ended": st["ended"], "advisor_turns": st["calls"]["advisor"],
                "client_closing": st["closing"], "review": review, "rule_flags": check_dialogue(messages),
                "teacher_calls": {**st["calls"], "reviewer": 1}}
        out.keep(sft_record(messages, check_leaf(DOMAINS[sc["domain"]][0]), sc["lang"],
                            source(run, GENERATOR, st["last"]), meta,
                            quality={"review_compliant": 1.0 if review["verdict"] == "compliant" else 0.0}))
        run.progress(1)
    run.stats["review_verdicts"] = verdicts
    run.stats["ended"] = {k: sum(1 for i in done if state[i]["ended"] == k) for k in ("client_satisfied", "turn_cap")}
