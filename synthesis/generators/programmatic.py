"""Programmatic RL tasks and worked-solution SFT from table+text records. No teacher; deterministic for a seed.

For every context of the input files (FinQA, TAT-QA, ConvFinQA layouts, or any FinQA-format file such as the
demo's ``tables_train.json``): (a) import the source's own questions with reward specs, (b) generate new
questions by program from the table's rows and columns, the answer computed by the safe interpreter, and
(c) render a step-by-step solution from each program, kept only if the verifier scores it 1 on its own spec.
``solution_templates`` limits (c) to some question templates, or to a share of each template's tasks: the other
tasks stay RL-only, to be learned from the verifier's reward rather than from a worked solution.
"""

from __future__ import annotations

import math
import random
from typing import Any

from finance.arith import TABLE_OPS, ProgramError, cell_number, parse_finqa, run_finqa, str_to_num
from synthesis.rewards import score

from .context import RunContext, SynthRecipeError
from .imports import ImportedTask, ImportRejected, import_question
from .programs import TEMPLATES, Candidate
from .records import assistant, provenance, rl_record, sft_record, system, user
from .solutions import solution_for
from .specs import answer_instruction, boxed_answer, numeric_spec, percent_spec
from .tables import ContextError, TableContext, iter_contexts, numeric_grid, table_markdown

GENERATOR = "programmatic_tables"
SYSTEM_EN = ("You are a financial analyst. Answer the question from the report excerpt and its table. "
             "Reason step by step, then give the final answer in \\boxed{}.")
SYSTEM_ZH = "你是一名金融分析师。请根据报告节选和表格回答问题，逐步推理，并把最终答案写在 \\boxed{} 中。"
MAX_TEXT_CHARS = 2500
MAX_ABS_ANSWER = 1e13


def context_block(ctx: TableContext) -> str:
    text = ctx.text.strip()
    if len(text) > MAX_TEXT_CHARS:
        text = text[:MAX_TEXT_CHARS].rsplit(" ", 1)[0] + " …"
    table = f"\n\nTable:\n{table_markdown(ctx.table)}" if ctx.table else ""
    return f"Report excerpt:\n{text}{table}"


def build_prompt(ctx: TableContext, question: str, spec: dict[str, Any], lang: str,
                 history: list[tuple[str, str]] | None = None) -> list[dict[str, Any]]:
    """System + user messages; ConvFinQA's earlier turns become user/assistant pairs before the question."""
    msgs = [system(SYSTEM_ZH if lang == "zh" else SYSTEM_EN)]
    block = context_block(ctx)
    turns = list(history or [])
    if turns:
        q0, a0 = turns[0]
        msgs.append(user(f"{block}\n\nQuestion: {q0}"))
        msgs.append(assistant(str(a0)))
        for q, a in turns[1:]:
            msgs += [user(q), assistant(str(a))]
        msgs.append(user(f"{question}\n{answer_instruction(spec, lang)}"))
    else:
        label = "问题" if lang == "zh" else "Question"
        msgs.append(user(f"{block}\n\n{label}: {question}\n{answer_instruction(spec, lang)}"))
    return msgs


def candidate_spec(c: Candidate, value: float, scale: str | None) -> dict[str, Any]:
    if c.unit == "percent":
        return percent_spec(value)
    if c.unit == "points":
        return numeric_spec(value, "percent")
    return numeric_spec(value, None, scale)


def generate(run: RunContext) -> None:
    cfg = run.recipe
    rng = random.Random(int(cfg.get("seed", run.seed)))
    gen_cfg = cfg.get("generate") or {}
    per_table = int(gen_cfg.get("per_table", 4))
    templates = list(gen_cfg.get("templates") or TEMPLATES)
    zh_fraction = float(gen_cfg.get("zh_fraction", 0.0))
    do_import = bool(cfg.get("import_questions", True))
    do_solutions = bool(cfg.get("solutions", True))
    program_fraction = float(cfg.get("program_fraction", 0.0))
    # program variants name table cells (ROW@COLUMN) instead of copying their digits; programs_only: the
    # variants replace the tasks they were made from (a small model's curriculum: choose, don't copy)
    cells, programs_only = bool(cfg.get("program_cells", False)), bool(cfg.get("programs_only", False))
    # worked solutions for these question templates only, or for a share of their tasks ("imported" names the
    # source's own questions); the rest are RL-only, as when a teacher solved few questions of some kind and the
    # verifier has to teach it
    solved = _solution_templates(cfg.get("solution_templates"), run.recipe_name, templates, do_import, do_solutions)
    rl = run.outputs.open("rl", run.output_name("rl"), "rl")
    sft = run.outputs.open("sft", run.output_name("sft"), "sft") if do_solutions else None
    origins: dict[str, int] = {}
    for path in run.input_paths():
        for i, rec, ctx in iter_contexts(path):
            if run.limit_reached(rl.kept):
                break
            if isinstance(ctx, ContextError):
                rl.consider()
                rl.quarantine(str(ctx), file=str(path), offset=i, record=rec)
                continue
            tasks = list(_imported(ctx, rl, run)) if do_import else []
            tasks += list(_generated(ctx, rl, rng, per_table, templates, zh_fraction, run))
            variants = _program_variants(ctx, tasks, rl, rng, program_fraction, run, cells)
            if programs_only:
                rl.drop("replaced_by_program_variant", len(tasks))
                tasks = variants
            else:
                tasks += variants
            for task in tasks:
                if run.limit_reached(rl.kept):
                    rl.drop("over_limit")  # already counted as an input: it must end somewhere
                    continue
                if not rl.keep(task["rl"]):
                    continue
                origins[task["origin"]] = origins.get(task["origin"], 0) + 1
                run.progress(1)
                if sft is not None and _gets_solution(task, solved):
                    _solution(task, sft, run)
                elif sft is not None:
                    sft.consider()
                    sft.drop("rl_only_template")
    run.outputs.set_extra(origins=origins)


def _solution_templates(value: Any, recipe: str, templates: list[str], do_import: bool,
                        do_solutions: bool) -> dict[str, float] | None:
    """``{template: share of its tasks that get a worked solution}``; a list means 1.0 for each, and a template
    not named gets none."""
    if value is None:
        return None
    shares = {str(t): 1.0 for t in value} if isinstance(value, list) else value
    why = _why_not_shares(shares, templates, do_import, do_solutions)
    if why:
        raise SynthRecipeError(f"recipe {recipe!r}: solution_templates: {why}; got {value!r}")
    return {str(k): float(v) for k, v in shares.items()}


def _why_not_shares(shares: Any, templates: list[str], do_import: bool, do_solutions: bool) -> str | None:
    if not do_solutions:
        return "solutions: false writes no solutions"
    if not isinstance(shares, dict) or not shares:
        return "a non-empty list of template names, or a mapping name → share"
    made = set(templates) | ({"imported"} if do_import else set())
    unknown = sorted(set(map(str, shares)) - made)
    if unknown:
        return f"{unknown} not made by this run (it makes {sorted(made)}: generate.templates, and imported questions)"
    bad = [k for k, v in shares.items() if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1]
    return f"share in [0, 1] expected for {bad}" if bad else None


def _gets_solution(task: dict[str, Any], shares: dict[str, float] | None) -> bool:
    if shares is None:
        return True
    # which tasks of a template get one is fixed by the task's id (content-derived), so reruns agree
    return int(task["rl"]["id"][:8], 16) / 16 ** 8 < shares.get(_template(task), 0.0)


def _template(task: dict[str, Any]) -> str:
    return task["meta"].get("template") or "imported"


def _imported(ctx: TableContext, rl, run: RunContext):
    for turn, q in enumerate(ctx.questions):
        rl.consider()
        try:
            t: ImportedTask = import_question(ctx, q, turn)
        except ImportRejected as e:
            if e.quarantine:
                rl.quarantine(f"{e.reason}: {e}", file=ctx.file, offset=ctx.offset, record={"qid": q.qid})
            else:
                rl.drop(e.reason)
            continue
        if score(t.spec, boxed_answer(t.spec)).score != 1.0:
            # e.g. a multi-span item holding "," or "and", which the set scorer splits: the gold cannot score
            rl.drop("gold_fails_own_spec")
            continue
        prompt = build_prompt(ctx, t.question, t.spec, "en", t.history)
        meta = {"dataset": ctx.dataset, "context_id": ctx.cid, "qid": t.qid, "origin": "imported",
                "answer_type": t.answer_type, "program": t.program, "dsl": t.dsl, "file": ctx.file}
        src = provenance(GENERATOR, run.recipe_name, request_hash=None)
        rec = rl_record(prompt, t.spec, run.leaf("conversational" if t.history else t.leaf_key), "en", src, meta)
        yield {"rl": rec, "prompt": prompt, "spec": t.spec, "program": t.program, "dsl": t.dsl, "facts": [],
               "table": ctx.program_table or ctx.table, "lang": "en", "origin": f"imported:{ctx.dataset}",
               "leaf": rec["taxonomy"], "meta": meta}


def _generated(ctx: TableContext, rl, rng: random.Random, per_table: int, templates: list[str],
               zh_fraction: float, run: RunContext):
    grid = numeric_grid(ctx.table, ctx.text)
    if not grid.rows:
        return
    seen: set[str] = set()
    made = attempts = 0
    while made < per_table and attempts < per_table * 6:
        attempts += 1
        lang = "zh" if rng.random() < zh_fraction else "en"
        c = TEMPLATES[rng.choice(templates)](rng, grid, lang)
        if c is None:
            continue  # the template does not apply to this table (no years, no revenue row, …): not an input
        rl.consider()
        if c.key in seen:
            rl.drop("duplicate_question")
            continue
        seen.add(c.key)
        try:
            value = run_finqa(c.program)
        except ProgramError:
            rl.drop("program_error")
            continue
        if isinstance(value, str) or not math.isfinite(value) or abs(value) > MAX_ABS_ANSWER:
            rl.drop("answer_out_of_range")
            continue
        spec = candidate_spec(c, value, grid.scale)
        prompt = build_prompt(ctx, c.question, spec, lang)
        meta = {"dataset": ctx.dataset, "context_id": ctx.cid, "origin": "generated", "template": c.template,
                "program": c.program, "dsl": "finqa", "file": ctx.file, "facts": c.facts}
        src = provenance(GENERATOR, run.recipe_name, request_hash=None)
        rec = rl_record(prompt, spec, run.leaf(c.leaf_key), lang, src, meta)
        made += 1
        yield {"rl": rec, "prompt": prompt, "spec": spec, "program": c.program, "dsl": "finqa", "facts": c.facts,
               "table": None, "lang": lang, "origin": f"generated:{c.template}", "leaf": rec["taxonomy"],
               "meta": meta}


PROGRAM_INSTRUCTION = ("Do not compute the answer: write the program that computes it, in FinQA's DSL (add, subtract, "
                       "multiply, divide, exp, greater, table_max/min/sum/average, #N refers to step N, const_N "
                       "for constants), inside <answer></answer>, e.g. <answer>subtract(7109, 5989), divide(#0, "
                       "5989)</answer>.")
PROGRAM_INSTRUCTION_CELLS = ("Do not compute the answer: write the program that computes it, in FinQA's DSL, naming "
                             "table cells as ROW@COLUMN, inside <answer></answer>, e.g. <answer>subtract(revenue@2019, "
                             "revenue@2018), divide(#0, revenue@2018)</answer>.")
PROGRAM_INSTRUCTION_PY = ("Do not compute the answer: write the arithmetic program that computes it, one assignment "
                          "per step ending with `ans = ...`, inside <answer></answer>, e.g. <answer>x0 = 7109 - 5989; "
                          "ans = x0 / 5989</answer>.")


def _program_variants(ctx: TableContext, tasks: list[dict], rl, rng: random.Random, fraction: float,
                      run: RunContext, cells: bool = False) -> list[dict]:
    """Program-writing variants of some tasks (``program`` reward type): the policy writes the program,
    which the verifier runs and compares with the gold program's value. With ``cells``, numbers read from the
    table are written as cell references (``revenue@2019``), resolved against the table the prompt shows."""
    out = []
    for t in tasks:
        if not t["program"] or t["lang"] != "en" or t["meta"].get("dataset") == "tatqa" or rng.random() >= fraction:
            continue  # TAT-QA's derivations are ours (×100 for percents), not the FinQA/PoT convention
        rl.consider()
        history = t["meta"].get("history_turns")
        question = t["prompt"][-1]["content"].rsplit("\n", 1)[0]  # the question without its answer instruction
        program = t["program"]
        spec = {"spec_version": 1, "type": "program", "program": program, "dsl": t["dsl"]}
        if "table_" in program:
            spec["table"] = t["table"]
        if cells:
            program = cell_program(program, ctx.table) if t["dsl"] == "finqa" and not history else None
            if program is None:
                rl.drop("no_cell_program")
                continue
            spec = {**spec, "program": program, "table": ctx.table}
        answer = f"<answer>{program}</answer>"
        if score(spec, answer).score != 1.0:
            rl.drop("program_variant_not_gradable")
            continue
        how = (PROGRAM_INSTRUCTION_CELLS if cells else
               PROGRAM_INSTRUCTION_PY if t["dsl"] == "python" else PROGRAM_INSTRUCTION)
        prompt = t["prompt"][:-1] + [user(f"{question}\n{how}")]
        conversational = len(t["prompt"]) > 2 or bool(history)
        leaf = "conversational_program" if conversational else "program"
        meta = dict(t["meta"], origin=t["meta"]["origin"] + ":program")
        rec = rl_record(prompt, spec, run.leaf(leaf), "en", provenance(GENERATOR, run.recipe_name), meta)
        out.append({**t, "rl": rec, "prompt": prompt, "spec": spec, "origin": t["origin"] + ":program",
                    "leaf": rec["taxonomy"], "meta": meta, "solution": answer})
    return out


def cell_program(program: str, table: list[list[str]] | None) -> str | None:
    """``program`` with every argument that is a table cell's value written as ``ROW@COLUMN`` (the value must
    sit in exactly one cell, under a header the reference can name); None when some argument cannot be."""
    if not table or len(table) < 2:
        return None
    header = [str(c).strip() for c in table[0]]
    where: dict[float, list[str]] = {}
    for row in table[1:]:
        for j, cell in enumerate(row[1:], start=1):
            v = cell_number(str(cell))
            name, col = str(row[0]).strip(), header[j] if j < len(header) else ""
            if v is not None and name and col and not any(ch in name + col for ch in ",()@#"):
                where.setdefault(v, []).append(f"{name}@{col}")
    try:
        steps = parse_finqa(program)
    except ProgramError:
        return None
    out = []
    for op, args in steps:
        refs = []
        for a in args:
            v = None if a.startswith(("#", "const_")) or op in TABLE_OPS else str_to_num(a)
            if v is None:
                refs.append(a)
            elif len(where.get(v, [])) == 1:
                refs.append(where[v][0])
            else:
                return None  # a number not in the table, or in several cells: the program would have to copy it
        out.append(f"{op}({', '.join(refs)})")
    return ", ".join(out)


def _solution(task: dict[str, Any], sft, run: RunContext) -> None:
    sft.consider()
    if task.get("solution"):  # program variants: the target is the program itself
        meta = dict(task["meta"], rl_id=task["rl"]["id"])
        sft.keep(sft_record(task["prompt"] + [assistant(task["solution"])], task["leaf"], task["lang"],
                            provenance(GENERATOR, run.recipe_name), meta))
        return
    text = solution_for(task["program"], task["dsl"], task["spec"], task["facts"], task["table"], task["lang"])
    if text is None:
        sft.drop("no_program")
        return
    res = score(task["spec"], text)
    if res.score != 1.0:
        sft.drop("solution_fails_verifier")
        return
    meta = dict(task["meta"], rl_id=task["rl"]["id"], verifier=res.reason)
    src = provenance(GENERATOR, run.recipe_name)
    sft.keep(sft_record(task["prompt"] + [assistant(text)], task["leaf"], task["lang"], src, meta))
