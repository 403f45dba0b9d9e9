"""Business-scenario prompts for general RL (no teacher needed): investment advice, compliance review, report
writing, customer service and risk explanation, in English and Chinese, built from financial tables. A teacher
may rewrite the requests in client personas' voices and write the answers (``teacher_rewrite``/``teacher_answers``).

Each prompt is an ``rl`` record with a ``judge`` spec: the rubrics and criteria an LLM judge scores, and the
``checks`` the offline rubric scorer verifies (``synthesis.judge.rubric_checks``: language, figures consistent with
the context, a cited figure, a required risk disclosure, no promise of returns, a compliance verdict). Each has a
reference answer written from the same figures, kept in the spec (shown to a judge) and as an ``sft`` record.

``reference_styles`` weighs the kinds of reference answer: ``complete`` (figures, disclosure, the question's
language) by default. A recipe may mix in ``brief`` (no risk disclosure) and ``promotional`` (promises a return)
answers to imitate the uneven teacher data that general RL has to correct; the style is recorded in ``meta``.

    generator: business_scenarios
    inputs: [tables.json]          # FinQA-format tables (the programmatic_tables input)
    per_table: 3                   # scenarios per table (kinds and languages drawn in turn)
    languages: [en, zh]
    kinds: [advice, compliance, report, service, risk]
    reference_styles: {complete: 1.0}
    teacher_rewrite: false         # a teacher rewrites each request in a client persona's voice (figures checked)
    teacher_answers: false         # a teacher writes the sft answers, kept when they pass the checks
    min_answer_score: 1.0
    outputs: {rl: fin-scenarios-rl, sft: fin-scenarios-sft}
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .context import RunContext
from .records import assistant, provenance, rl_record, sft_record, system, user
from .tables import ContextError, Grid, TableContext, iter_contexts, numeric_grid

GENERATOR = "business_scenarios"
KINDS = {  # kind → default taxonomy leaf (a recipe's `taxonomy` block may remap a kind)
    "advice": "wealth_advisory/planning/portfolio_allocation",
    "compliance": "compliance_safety/regulation/regulation_qa",
    "report": "statements_disclosures/filing_understanding/filing_summary",
    "service": "customer_service_marketing/service/service_dialogue",
    "risk": "credit_risk_fraud/credit/loan_analysis",
}
STYLES = ("complete", "brief", "promotional")
SYSTEM = {"en": "You are a financial services assistant. Answer the client from the figures given, in the client's "
                "language, accurately and within the rules for financial advice.",
          "zh": "你是一名金融服务助理。请根据给出的数据，用客户的语言准确回答，并遵守金融服务的合规要求。"}
LABELS_ZH = {"total revenue": "营业收入", "revenue": "营业收入", "net revenue": "营业收入", "cost of revenue": "营业成本",
             "operating expenses": "营业费用", "operating income": "营业利润", "net income": "净利润",
             "total assets": "总资产"}
RUBRICS = {"advice": ["correctness", "compliance", "language_match"],
           "compliance": ["correctness", "compliance", "language_match"],
           "report": ["correctness", "language_match"],
           "service": ["correctness", "compliance", "language_match"],
           "risk": ["correctness", "compliance", "language_match"]}
CRITERIA = {
    "advice": ["Uses the figures given for the company", "States that investing carries risk",
               "Promises no return", "Answers in the client's language"],
    "compliance": ["Finds that the sentence promises a return and is not compliant", "Says why",
                   "Answers in the question's language"],
    "report": ["Summarises the results with the figures given, correctly", "Answers in the question's language"],
    "service": ["Explains the change with the figures given", "Promises no return",
                "Answers in the client's language"],
    "risk": ["Names the risk the figures show, with the figures", "States that investing carries risk",
             "Promises no return", "Answers in the question's language"],
}
CLAIMS = {"en": ["The {c} Growth Fund guarantees an 8% return every year.",
                 "With {c} bonds you cannot lose money: a risk-free return of 6%.",
                 "Invest with {c} today: guaranteed profit, 100% safe."],
          "zh": ["{c}成长基金保证收益，每年8%。", "购买{c}理财产品稳赚不赔，零风险。", "{c}债券保本保收益，年化6%。"]}
VERDICT = {"en": ["not compliant", "non-compliant"], "zh": ["不合规"]}


@dataclass
class Figures:
    company: str
    row: str
    y0: int
    y1: int
    v0: float
    v1: float
    row2: str | None = None  # a second line (costs, income) for risk and service scenarios
    w0: float | None = None
    w1: float | None = None
    scale: str | None = None  # thousand | million | billion (the table's)
    currency: bool = False

    def translatable(self) -> bool:
        return all(r is None or r.lower() in LABELS_ZH for r in (self.row, self.row2))

    def label(self, name: str, lang: str) -> str:
        return LABELS_ZH.get(name.lower(), name) if lang == "zh" else name.lower()


def figures_of(ctx: TableContext, grid: Grid, rng: random.Random) -> Figures | None:
    """Two years of one or two table lines, and the company named in the text (or the report id)."""
    years = grid.years()
    if len(years) < 2 or not grid.rows:
        return None
    (j1, y1), (j0, y0) = sorted(years.items(), key=lambda kv: -kv[1])[:2]
    rows = [r for r in grid.rows if j0 in r.cells and j1 in r.cells and not r.cells[j0].percent]
    if not rows:
        return None
    r = rows[0] if rng.random() < 0.5 else rng.choice(rows)
    others = [x for x in rows if x is not r]
    r2 = rng.choice(others) if others else None
    return Figures(company_of(ctx), r.label, y0, y1, r.cells[j0].value, r.cells[j1].value,
                   r2.label if r2 else None, r2.cells[j0].value if r2 else None, r2.cells[j1].value if r2 else None,
                   grid.scale, grid.currency)


def company_of(ctx: TableContext) -> str:
    """The company the text names ("Harbor Bancorp reported …"), else a FinQA id's ticker (``C/2009/page_141``)."""
    words = ctx.text.strip().split(" reported")[0].strip() if " reported" in ctx.text else ""
    if 0 < len(words) <= 60 and not any(ch.isdigit() for ch in words):
        return words
    ticker = ctx.cid.split("/")[0]
    return ticker if "/" in ctx.cid and ticker.isalpha() else "the company"


SCALES = {"thousand": (1e3, "thousand", "千"), "million": (1e6, "million", "百万"), "billion": (1e9, "billion", "十亿")}


def unit_of(f: Figures, lang: str) -> str:
    """How the table's amounts are written: "million US dollars" / "百万美元", "million", or nothing."""
    _, en, zh = SCALES.get(f.scale or "", (None, "", ""))
    if lang == "zh":
        return zh + ("美元" if f.currency else "")
    return " ".join(w for w in (en, "US dollars" if f.currency else "") if w)


def fmt(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def change_word(f: Figures, lang: str) -> str:
    up = f.v1 >= f.v0
    return ("rose" if up else "fell") if lang == "en" else ("增长" if up else "下降")


def context_line(f: Figures, lang: str, unit: str) -> str:
    if lang == "zh":
        s = f"{'该公司' if f.company == 'the company' else f.company}在{f.y1}财年{f.label(f.row, 'zh')}为{fmt(f.v1)}{unit}，{f.y0}财年为{fmt(f.v0)}{unit}。"
        if f.row2:
            s += f"{f.label(f.row2, 'zh')}由{fmt(f.w0)}{unit}变为{fmt(f.w1)}{unit}。"
        return s
    u = f" {unit}" if unit else ""
    s = f"{f.company[0].upper() + f.company[1:]} reported {f.label(f.row, 'en')} of {fmt(f.v1)}{u} in fiscal {f.y1}, against {fmt(f.v0)}{u} in {f.y0}."
    if f.row2:
        s += f" Its {f.label(f.row2, 'en')} went from {fmt(f.w0)} to {fmt(f.w1)}{u}."
    return s


def question(kind: str, f: Figures, lang: str, rng: random.Random) -> str:
    if kind == "compliance":
        claim = rng.choice(CLAIMS[lang]).format(c=f.company)
        return (f"请审查这句宣传语是否合规，并简要说明理由：“{claim}”" if lang == "zh" else
                f"Review this sentence from a sales brochure and say whether it is compliant, briefly explaining why: \"{claim}\"")
    ctx = context_line(f, lang, unit_of(f, lang))
    if lang == "zh":
        ask = {"advice": "我想把一部分积蓄买入该公司股票，您有什么建议？",
               "report": "请为年报写一段两句话的业绩摘要，使用上面的数据。",
               "service": f"我是该公司的客户，能用通俗的话解释一下{f.label(f.row, 'zh')}发生了什么变化吗？",
               "risk": "请说明投资者从这些数据中应注意的主要风险。"}[kind]
    else:
        ask = {"advice": "I am thinking of putting some of my savings into its shares. What do you advise?",
               "report": "Write a two-sentence summary of these results for the annual report, using the figures above.",
               "service": f"I am a client. Can you explain in simple words what happened to its {f.label(f.row, 'en')}?",
               "risk": "What are the main risks an investor should note from these figures?"}[kind]
    return f"{ctx}\n{ask}"


def checks(kind: str, f: Figures, lang: str) -> dict[str, Any]:
    from synthesis.judge.rubric_checks import stated_figures

    figs = [f.v0, f.v1] + ([f.w0, f.w1] if f.row2 else [])
    figs += [round(abs(f.v1 - f.v0), 2)] + ([round(abs(f.w1 - f.w0), 2)] if f.row2 else [])
    figs += stated_figures(f"{f.row} {f.row2 or ''}")  # "S&P 500 Index": a label's own numbers are no invention
    base: dict[str, Any] = {"language": lang, "min_chars": 20 if lang == "zh" else 40}
    if kind == "compliance":
        return {**base, "verdict": VERDICT[lang]}
    base.update(figures=figs, cite=[f.v1, f.v0])
    if f.scale in SCALES:
        base["unit_scale"] = SCALES[f.scale][0]
    if kind in ("advice", "risk"):
        base["risk_disclosure"] = True
    if kind != "report":
        base["no_guarantee"] = True
    return base


def reference(kind: str, f: Figures, lang: str, style: str) -> str:
    """A reference answer from the same figures; ``brief`` leaves out the risk statement, ``promotional`` adds a
    promise of returns (both for imitating uneven teacher data)."""
    zh = lang == "zh"
    unit = unit_of(f, lang) if zh else SCALES.get(f.scale or "", (0, "", ""))[1]
    u = unit if zh or not unit else " " + unit
    who = ("该公司" if f.company == "the company" else f.company + "的") if zh else \
        ("The company's" if f.company == "the company" else f"{f.company}'s")
    move = change_word(f, lang)
    if kind == "compliance":
        ans = ("该宣传语不合规：它承诺了收益或保本，金融产品的宣传不得保证收益，须提示投资风险。" if zh else
               "The sentence is not compliant: it promises a return, and marketing for an investment must not "
               "guarantee returns; it has to say that the value of investments may fall.")
        return ans if style != "promotional" else ans.split("：")[0] + "。" if zh else ans.split(":")[0] + "."
    fact = (f"{who}{f.label(f.row, 'zh')}由{fmt(f.v0)}{u}{move}至{fmt(f.v1)}{u}。" if zh else
            f"{who} {f.label(f.row, 'en')} {move} from {fmt(f.v0)} to {fmt(f.v1)}{u} in fiscal {f.y1}.")
    extra = ""
    if f.row2 and kind in ("risk", "service", "report"):
        extra = (f"{f.label(f.row2, 'zh')}由{fmt(f.w0)}{u}变为{fmt(f.w1)}{u}。" if zh else
                 f" Its {f.label(f.row2, 'en')} went from {fmt(f.w0)} to {fmt(f.w1)}{u}.")
    risk = "投资有风险，股价可能下跌，过往业绩不代表未来表现。" if zh else \
        " Investing carries risk: the value of shares may fall, and past results do not guarantee future returns."
    promise = "这是一项稳赚不赔的投资。" if zh else " This is a sure-fire investment with guaranteed returns."
    lead = {"advice": "在决定之前，请结合自身的风险承受能力。" if zh else " Consider your own risk tolerance before deciding.",
            "report": "", "service": "", "risk": "成本与收入的变化会影响利润率。" if zh else
            " Changes in costs against revenue affect the margin."}[kind]
    text = fact + extra + lead
    if style == "complete" and kind != "report":
        text += risk
    if style == "promotional" and kind != "report":
        text += promise
    return text.strip()


def _styles(cfg: dict[str, Any]) -> tuple[list[str], list[float]]:
    w = cfg.get("reference_styles") or {"complete": 1.0}
    bad = sorted(set(w) - set(STYLES))
    if bad:
        from .context import SynthRecipeError

        raise SynthRecipeError(f"reference_styles: unknown style(s) {bad}; one of {list(STYLES)}")
    return list(w), [float(v) for v in w.values()]


@dataclass
class Scenario:
    ctx: TableContext
    f: Figures
    kind: str
    lang: str
    style: str
    question: str
    answer: str | None = None  # the teacher's, when it writes the answers
    source: dict[str, Any] | None = None


def generate(run: RunContext) -> None:
    cfg = run.recipe
    rng = random.Random(int(cfg.get("seed", run.seed)))
    per_table = int(cfg.get("per_table", 3))
    langs = list(cfg.get("languages") or ["en", "zh"])
    kinds = list(cfg.get("kinds") or KINDS)
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        from .context import SynthRecipeError

        raise SynthRecipeError(f"kinds: unknown kind(s) {unknown}; one of {list(KINDS)}")
    styles, weights = _styles(cfg)
    rl = run.outputs.open("rl", run.output_name("rl"), "rl")
    sft = run.outputs.open("sft", run.output_name("sft"), "sft")
    todo: list[Scenario] = []
    turn = 0
    for path in run.input_paths():
        for i, rec, ctx in iter_contexts(path):
            if run.limit_reached(len(todo)):
                break
            if isinstance(ctx, ContextError):
                rl.consider()
                rl.quarantine(str(ctx), file=str(path), offset=i, record=rec)
                continue
            f = figures_of(ctx, numeric_grid(ctx.table, ctx.text), rng)
            if f is None:
                rl.consider()
                rl.drop("no_two_year_figures")
                continue
            for _ in range(per_table):
                kind, lang = kinds[turn % len(kinds)], langs[(turn // len(kinds)) % len(langs)]
                turn += 1
                if lang == "zh" and kind != "compliance" and not f.translatable():
                    lang = "en"  # a Chinese answer quoting long English line labels is not Chinese by script
                todo.append(Scenario(ctx, f, kind, lang, rng.choices(styles, weights)[0], question(kind, f, lang, rng)))
    if cfg.get("teacher_rewrite"):
        todo = _rewrite(run, rl, todo)
    if cfg.get("teacher_answers"):
        _answer(run, todo)
    for sc in todo:
        _emit(run, rl, sft, sc, float(cfg.get("min_answer_score", 1.0)))


REWRITE = {"en": "Rewrite this client request in the natural voice of a {persona}, in English. Keep every figure, "
                 "year and name exactly as written; add no new figures. Reply with the request only.\n\n{q}",
           "zh": "请用{persona}的自然口吻改写下面这段客户请求，使用中文。所有数字、年份和名称必须原样保留，不得添加新的数字。"
                 "只回复改写后的请求。\n\n{q}"}
PERSONAS = {"en": ["retail investor", "retired client", "small-business owner", "compliance officer"],
            "zh": ["散户投资者", "退休客户", "小企业主", "合规专员"]}


def _rewrite(run: RunContext, rl, todo: list[Scenario]) -> list[Scenario]:
    """The teacher rewrites each client request in a persona's voice; a rewrite that loses or invents a figure
    (checked with the same figure reader as the rubric) is dropped and counted."""
    from synthesis.judge.rubric_checks import stated_figures
    from synthesis.teachers import Request

    from .teach import ask, failure, source

    reqs = [Request([user(REWRITE[sc.lang].format(persona=PERSONAS[sc.lang][i % 4], q=sc.question))],
                    id=f"rewrite-{i}") for i, sc in enumerate(todo)]
    kept = []
    for sc, reply in zip(todo, ask(run, reqs, "rewrite scenarios"), strict=True):
        why = failure(reply)
        new = (reply.content or "").strip() if why is None else ""
        if why is None and sorted(stated_figures(new)) != sorted(stated_figures(sc.question)):
            why = "rewrite_changed_figures"
        if why:
            rl.consider()
            rl.drop(why.split(":")[0])
            continue
        sc.question, sc.source = new, source(run, GENERATOR, reply)
        kept.append(sc)
    return kept


def _answer(run: RunContext, todo: list[Scenario]) -> None:
    """The teacher answers each scenario (the sft answer; the rubric checks decide whether it is kept)."""
    from synthesis.teachers import Request

    from .teach import ask, failure

    reqs = [Request([system(SYSTEM[sc.lang]), user(sc.question)], id=f"answer-{i}") for i, sc in enumerate(todo)]
    for sc, reply in zip(todo, ask(run, reqs, "answer scenarios"), strict=True):
        sc.answer = (reply.content or "").strip() if failure(reply) is None else None
        sc.style = "teacher"


def _emit(run: RunContext, rl, sft, sc: Scenario, min_score: float) -> None:
    rl.consider()
    kind, f, lang = sc.kind, sc.f, sc.lang
    prompt = [system(SYSTEM[lang]), user(sc.question)]
    ref = reference(kind, f, lang, "complete")
    spec = {"spec_version": 1, "type": "judge", "rubrics": RUBRICS[kind], "criteria": CRITERIA[kind],
            "reference": ref, "checks": checks(kind, f, lang)}
    meta = {"kind": kind, "context_id": sc.ctx.cid, "dataset": sc.ctx.dataset, "reference_style": sc.style}
    src = sc.source or provenance(GENERATOR, run.recipe_name)
    rec = rl_record(prompt, spec, run.leaf(KINDS[kind]), lang, src, meta)
    if not rl.keep(rec):
        return
    run.progress(1)
    sft.consider()
    if sc.style == "teacher":
        if not sc.answer:
            sft.drop("teacher_failed")
            return
        from synthesis.judge.rubric_checks import score_checks

        value, failed = score_checks(spec["checks"], sc.answer)
        if value < min_score:
            sft.drop("answer_failed_" + "_".join(failed[:1]))
            return
        answer = sc.answer
    else:
        answer = ref if sc.style == "complete" else reference(kind, f, lang, sc.style)
    sft.keep(sft_record(prompt + [assistant(answer)], rec["taxonomy"], lang, src, dict(meta, rl_id=rec["id"])))
