"""Agentic tool-use tasks over financial tables (no teacher): RL tasks with a ``tool_env`` spec and reference
trajectories that solve them through the environment (agentic SFT).

Each task carries its environment in the record's ``env`` column: a ``facts`` table (the report's numeric
cells in long form, plus the cells of a few other reports so the agent has to filter), a ``reports`` table,
optionally the 10-K ``filings`` table, and the report texts as search passages. Task kinds:

* ``lookup``: one figure of a report (gold tools: sql_query);
* ``compute``: a program question (growth, margin, CAGR, …) — fetch with SQL, compute with the calculator;
* ``filings``: an aggregate over the 10-K filings table, gold computed by a reference query;
* ``text``: a TAT-QA question answered from the report text (gold tools: search_docs).

The reference trajectory is executed in the environment and kept only if it earns the full reward.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from finance.arith import ProgramError, parse_finqa, run_finqa, str_to_num
from synthesis.envs import TOOL_NAMES, ToolEnv, tool_env_spec
from synthesis.envs.search import passages

from .context import RunContext, SynthRecipeError, resolve_path
from .programmatic import candidate_spec
from .programs import TEMPLATES, Candidate
from .records import assistant, provenance, rl_record, sft_record, system, user
from .specs import answer_instruction, boxed_answer, exact_spec, numeric_spec
from .tables import ContextError, Grid, TableContext, iter_contexts, numeric_grid, read_json_records

GENERATOR = "agentic_tasks"
SYSTEM = ("You are a financial analyst agent. Use the tools to look up data (read-only SQL over the financial "
          "database, document search) and to compute (calculator). Call only the tools you need. When you are "
          "done, reply with the final answer in \\boxed{}.")
# what each task kind's reference solution calls: a run restricted to some kinds offers only these tools
KIND_TOOLS = {"lookup": ["sql_query"], "compute": ["sql_query", "calculator"], "filings": ["sql_query"],
              "text": ["search_docs"]}
TOOL_PURPOSE = {"sql_query": "look up data with read-only SQL over the financial database",
                "search_docs": "search the documents", "calculator": "compute with the calculator"}
FACT_COLUMNS = [["report_id", "VARCHAR"], ["row_label", "VARCHAR"], ["column_label", "VARCHAR"],
                ["value", "DOUBLE"], ["is_percent", "BOOLEAN"]]
REPORT_COLUMNS = [["report_id", "VARCHAR"], ["dataset", "VARCHAR"], ["scale", "VARCHAR"], ["summary", "VARCHAR"]]
FILING_FIELDS = ["cik", "company", "filing_date", "period_of_report", "sic", "state_of_inc", "state_location",
                 "fiscal_year_end"]


def facts_rows(ctx: TableContext) -> tuple[list[list[Any]], list[Any]]:
    grid = numeric_grid(ctx.table, ctx.text)
    rows = [[ctx.cid, r.label, grid.columns.get(j) or f"column {j}", c.value, c.percent]
            for r in grid.rows for j, c in sorted(r.cells.items())]
    summary = ctx.text.strip().split(". ")[0][:200]
    return rows, [ctx.cid, ctx.dataset, grid.scale or "", summary]


def load_filings(path: str) -> list[list[Any]]:
    out = []
    for rec in read_json_records(resolve_path(path)):
        if isinstance(rec, dict):
            out.append([str(rec.get(f) or "") for f in FILING_FIELDS])
    return out


def env_config(ctx: TableContext, others: list[TableContext], filings: list[list[Any]] | None,
               max_calls: int, docs: str | None = None, tools: list[str] | None = None) -> dict[str, Any]:
    tools = list(tools or TOOL_NAMES)
    facts, reports, texts = [], [], []
    for c in [ctx, *others]:
        f, r = facts_rows(c)
        facts += f
        reports.append(r)
        texts += passages(c.cid, c.text, 600)
    tables = {"facts": {"columns": FACT_COLUMNS, "rows": facts}, "reports": {"columns": REPORT_COLUMNS,
                                                                             "rows": reports}}
    if filings:
        tables["filings"] = {"columns": [[f, "VARCHAR"] for f in FILING_FIELDS], "rows": filings}
    out: dict[str, Any] = {"tools": tools, "max_calls": max_calls}
    if "sql_query" in tools:
        out["sql"] = {"tables": tables, "max_rows": 50, "timeout_s": 2.0}
    if "search_docs" in tools:
        search: dict[str, Any] = {"passages": texts}
        if docs:  # a doc version searched next to the report texts (replay needs the store: ToolEnv(cfg, store))
            search["doc_version"] = docs
        out["search"] = search
    return out


def system_prompt(tools: list[str]) -> str:
    """The agent's instructions; a run offering fewer tools names only those (the prompt is then shorter too)."""
    if set(tools) == set(TOOL_NAMES):
        return SYSTEM
    uses = "; ".join(TOOL_PURPOSE[t] for t in TOOL_NAMES if t in tools)
    return (f"You are a financial analyst agent. Use the tools to {uses}. Call only the tools you need. "
            "When you are done, reply with the final answer in \\boxed{}.")


def _names(cfg: dict[str, Any], key: str, allowed: list[str] | tuple[str, ...], default: list[str],
           recipe: str) -> list[str]:
    value = cfg.get(key, default)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v in allowed for v in value):
        raise SynthRecipeError(f"recipe {recipe!r}: {key} must be a non-empty list among {list(allowed)}; "
                               f"got {value!r}")
    return value


def _count(cfg: dict[str, Any], key: str, default: int, recipe: str) -> int:
    value = cfg.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SynthRecipeError(f"recipe {recipe!r}: {key} must be an integer ≥ 0; got {value!r}")
    return value


def task_options(cfg: dict[str, Any], recipe: str) -> tuple[list[str], list[str]]:
    """``(kinds, tools)`` from the recipe: which task kinds to make, and which tools the environment offers
    (default: the tools those kinds need). A kind whose reference solution needs a tool not offered is refused,
    and so is ``filings`` without a ``filings`` file."""
    kinds = _names(cfg, "kinds", list(KIND_TOOLS), list(KIND_TOOLS), recipe)
    if "kinds" in cfg and "filings" in kinds and not cfg.get("filings"):
        raise SynthRecipeError(f"recipe {recipe!r}: kinds names filings but the recipe has no filings file")
    needed = [t for t in TOOL_NAMES if any(t in KIND_TOOLS[k] for k in kinds)]
    tools = _names(cfg, "tools", TOOL_NAMES, needed, recipe)
    missing = [t for t in needed if t not in tools]
    if missing:
        raise SynthRecipeError(f"recipe {recipe!r}: tools {tools} lack {missing}, which kinds {kinds} need")
    return list(kinds), [t for t in TOOL_NAMES if t in tools]


def sql_literal(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def program_expression(program: str) -> str:
    """A FinQA program as one calculator expression (``subtract(a, b), divide(#0, b)`` → ``((a) - (b)) / (b)``)."""
    exprs: list[str] = []
    ops = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "exp": "**"}
    for op, args in parse_finqa(program):
        if op not in ops:
            raise ProgramError(f"{op} has no calculator form")
        parts = []
        for a in args:
            if a.startswith("#"):
                parts.append(f"({exprs[int(a[1:])]})")
            else:
                v = str_to_num(a)
                if v is None:
                    raise ProgramError(f"argument {a!r}")
                parts.append(f"{v:.10g}" if v >= 0 else f"({v:.10g})")
        exprs.append(f"{parts[0]} {ops[op]} {parts[1]}")
    return exprs[-1]


class _Calls:
    def __init__(self) -> None:
        self.n = 0

    def call(self, name: str, **args: Any) -> dict[str, Any]:
        self.n += 1
        return {"id": f"call_{self.n}", "name": name, "arguments": json.dumps(args, ensure_ascii=False)}


def reference_trajectory(env: ToolEnv, prompt: list[dict], calls: list[dict[str, Any]], answer: str,
                         note: str) -> list[dict[str, Any]]:
    """Prompt + one assistant turn per call + tool messages from the environment + the final answer."""
    messages = env.reset({"prompt": prompt})
    for c in calls:
        messages.append(assistant(None, [c]))
        messages.append(env.step(c))
    messages.append(assistant(f"{note}\nThe answer is {answer}."))
    return messages


def report_filter(ctx: TableContext, alone: bool) -> str:
    """The reference query's report condition; with ``distractors: 0`` the facts table holds this report alone,
    the query needs none, and a small policy is spared copying the report id's digits."""
    return "" if alone else f"report_id = {sql_literal(ctx.cid)} AND "


def _compute_task(ctx: TableContext, c: Candidate, scale: str | None, lang: str, alone: bool = False,
                  ) -> dict[str, Any] | None:
    try:
        value = run_finqa(c.program)
    except ProgramError:
        return None
    if isinstance(value, str) or not math.isfinite(value):
        return None
    spec = candidate_spec(c, value, scale)
    k = _Calls()
    rows = sorted({r for r, _, _ in c.facts})
    where = " OR ".join(f"row_label = {sql_literal(r)}" for r in rows)
    calls = [k.call("sql_query", sql=f"SELECT row_label, column_label, value FROM facts WHERE "
                                     f"{report_filter(ctx, alone)}({where}) ORDER BY row_label, column_label")]
    expr = program_expression(c.program)
    if spec.get("unit") == "percent" and c.unit == "percent":
        expr = f"({expr}) * 100"
    calls.append(k.call("calculator", expression=expr))
    return {"kind": "compute", "question": c.question, "spec": spec, "calls": calls, "gold_tools": ["calculator",
            "sql_query"], "leaf": "multi_tool", "lang": lang, "template": c.template, "note":
            "I fetched the figures with SQL and computed the result with the calculator."}


def _lookup_task(ctx: TableContext, grid: Grid, rng: random.Random, taken: set[tuple[str, str]],
                 alone: bool) -> dict[str, Any] | None:
    if not grid.rows:
        return None

    def col_of(j: int) -> str:
        return grid.columns.get(j) or f"column {j}"

    r = rng.choice(grid.rows)
    j = rng.choice(sorted(r.cells))
    if (r.label, col_of(j)) in taken:  # a second lookup of one report asks another question (row and column)
        cells = [(x, k) for x in grid.rows for k in sorted(x.cells) if (x.label, col_of(k)) not in taken]
        if not cells:
            return None
        r, j = rng.choice(cells)
    col = col_of(j)
    taken.add((r.label, col))
    cell = r.cells[j]
    spec = numeric_spec(cell.value, "percent" if cell.percent else None, None if cell.percent else grid.scale)
    k = _Calls()
    calls = [k.call("sql_query", sql=f"SELECT value FROM facts WHERE {report_filter(ctx, alone)}"
                                     f"row_label = {sql_literal(r.label)} AND column_label = {sql_literal(col)}")]
    return {"kind": "lookup", "question": f"What was {r.label} ({col})?", "spec": spec, "calls": calls,
            "gold_tools": ["sql_query"], "leaf": "sql", "lang": "en", "template": "lookup",
            "note": "I looked the figure up in the facts table."}


FILING_QUESTIONS = [
    ("How many 10-K filings in the database were filed by companies incorporated in {v}?", "state_of_inc",
     "SELECT count(*) FROM filings WHERE state_of_inc = {lit}"),
    ("How many distinct companies located in {v} have 10-K filings in the database?", "state_location",
     "SELECT count(DISTINCT company) FROM filings WHERE state_location = {lit}"),
]


def _filings_task(filings: list[list[Any]], rng: random.Random, env: ToolEnv) -> dict[str, Any] | None:
    q, field, sql = rng.choice(FILING_QUESTIONS)
    values = sorted({r[FILING_FIELDS.index(field)] for r in filings if r[FILING_FIELDS.index(field)]})
    if not values:
        return None
    v = rng.choice(values)
    ref_sql = sql.format(lit=sql_literal(v))
    out = env.step({"id": "gold", "name": "sql_query", "arguments": json.dumps({"sql": ref_sql})})
    env.reset()
    gold = json.loads(out["content"])["result"]["rows"][0][0]
    k = _Calls()
    return {"kind": "filings", "question": q.format(v=v), "spec": numeric_spec(float(gold), "count"),
            "calls": [k.call("sql_query", sql=ref_sql)], "gold_tools": ["sql_query"], "leaf": "sql", "lang": "en",
            "template": f"filings:{field}", "note": "I counted the matching rows of the filings table."}


def _text_tasks(ctx: TableContext) -> list[dict[str, Any]]:
    out = []
    for q in ctx.questions:
        if q.answer_from != "text" or q.answer_type != "span":
            continue
        ans = q.answer[0] if isinstance(q.answer, list) and len(q.answer) == 1 else q.answer
        if not isinstance(ans, str) or not ans.strip() or len(ans) > 120:
            continue
        k = _Calls()
        out.append({"kind": "text", "question": q.question, "spec": exact_spec(ans.strip()),
                    "calls": [k.call("search_docs", query=q.question, k=3)], "gold_tools": ["search_docs"],
                    "leaf": "multi_tool", "lang": "en", "template": "text_span", "answer_text": ans.strip(),
                    "note": "I found the answer in the report text."})
    return out


def generate(run: RunContext) -> None:
    cfg = run.recipe
    rng = random.Random(int(cfg.get("seed", run.seed)))
    kinds, tools = task_options(cfg, run.recipe_name)
    per_report = _count(cfg, "per_report", 3, run.recipe_name)  # compute tasks per report
    n_lookups = _count(cfg, "lookups", 1, run.recipe_name)  # lookup tasks per report, each about another cell
    n_distractors = _count(cfg, "distractors", 3, run.recipe_name)
    alone = n_distractors == 0  # the facts table holds one report: queries need no report filter
    max_calls = _count(cfg, "max_calls", 8, run.recipe_name)
    templates = list(cfg.get("templates") or TEMPLATES)
    # filings rows only where filings tasks are made (they would lengthen every SQL tool schema for nothing)
    filings = load_filings(cfg["filings"]) if cfg.get("filings") and "filings" in kinds else None
    docs = run.store.resolve(str(cfg["docs"])).ref if cfg.get("docs") else None
    rl = run.outputs.open("rl", run.output_name("rl"), "rl")
    sft = run.outputs.open("sft", run.output_name("sft"), "sft") if cfg.get("trajectories", True) else None
    contexts: list[TableContext] = []
    for path in run.input_paths():
        for i, rec, ctx in iter_contexts(path):
            if isinstance(ctx, ContextError):
                rl.consider()
                rl.quarantine(str(ctx), file=str(path), offset=i, record=rec)
            else:
                contexts.append(ctx)
    for idx, ctx in enumerate(contexts):
        if run.limit_reached(rl.kept):
            break
        others = rng.sample(contexts[:idx] + contexts[idx + 1:], min(n_distractors, len(contexts) - 1))
        env_cfg = env_config(ctx, others, filings, max_calls, docs, tools)
        with ToolEnv(env_cfg, run.store) as env:
            grid = numeric_grid(ctx.table, ctx.text)
            taken: set[tuple[str, str]] = set()
            looks = [_lookup_task(ctx, grid, rng, taken, alone) for _ in range(n_lookups)] if "lookup" in kinds else []
            tasks = [t for t in looks if t]
            n_lookup = len(tasks)
            for _ in range(per_report * 3 if "compute" in kinds else 0):
                if len(tasks) >= per_report + n_lookup or not grid.rows:
                    break
                c = TEMPLATES[rng.choice(templates)](rng, grid, "en")
                t = _compute_task(ctx, c, grid.scale, "en", alone) if c else None
                if t and all(t["question"] != x["question"] for x in tasks):
                    tasks.append(t)
            tasks += _text_tasks(ctx)[:1] if "text" in kinds else []
            if filings and "filings" in kinds and rng.random() < float(cfg.get("filings_fraction", 0.3)):
                t = _filings_task(filings, rng, env)
                if t:
                    tasks.append(t)
            for t in tasks:
                if run.limit_reached(rl.kept):
                    break
                _emit(run, rl, sft, ctx, env, env_cfg, t, max_calls)


def _emit(run: RunContext, rl, sft, ctx: TableContext, env: ToolEnv, env_cfg: dict, t: dict, max_calls: int) -> None:
    rl.consider()
    spec = tool_env_spec(t["spec"], t["gold_tools"], max_calls)
    report = "" if t["kind"] == "filings" else f"Report: {ctx.cid}\n"
    prompt = [system(system_prompt(env_cfg["tools"])), user(f"{report}{t['question']}\n{answer_instruction(t['spec'], t['lang'])}")]
    meta = {"kind": t["kind"], "template": t["template"], "context_id": ctx.cid, "dataset": ctx.dataset,
            "reference_calls": t["calls"]}
    src = provenance(GENERATOR, run.recipe_name)
    rec = rl_record(prompt, spec, run.leaf(t["leaf"]), t["lang"], src, meta, tools=env.tools, env=env_cfg)
    if not rl.keep(rec):
        return
    run.progress(1)
    if sft is None:
        return
    sft.consider()
    answer = boxed_answer(t["spec"])
    messages = reference_trajectory(env, prompt, t["calls"], answer, t["note"])
    result = env.reward(messages[len(prompt):], spec)
    if result.score is None or result.score < 0.999:
        sft.drop("reference_not_full_reward")
        return
    if t.get("answer_text") and not any(t["answer_text"].lower() in (m.get("content") or "").lower()
                                        for m in messages if m["role"] == "tool"):
        sft.drop("search_misses_answer")  # the answer must come from what the tool returned
        return
    meta_s = dict(meta, rl_id=rec["id"], reward=result.score)
    sft.keep(sft_record(messages, rec["taxonomy"], t["lang"], src, meta_s, tools=env.tools))
